//! The churn part of a result (`--lifetime`): the settings in `config.churn`, and
//! in `churn` what came and went during the measured phase: connections closed at
//! the end of their life, replacements opened (and per second), served and
//! unserved, failed connects by errno, the connect and first-echo latencies with
//! their histograms (base64 V2+DEFLATE, so agents' results merge exactly). The
//! run's opening figures (`connections`) keep meaning the `--conns` opened at the
//! start.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Percentiles;

/// How connections churned: `--lifetime`, `--lifetime-jitter`, `--close`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ChurnSettings {
    /// Messages (`100`) or a duration (`500ms`) each connection lives.
    pub lifetime: String,
    /// Each lifetime drawn within ± this percentage.
    pub jitter_percent: f64,
    /// `fin` (the client closes first: TIME_WAIT on the client) or `rst`.
    pub close: String,
}

/// What churned in the measured phase.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ChurnResult {
    /// Connections closed at the end of their life.
    pub closed: u64,
    /// Replacement connections established.
    pub opened: u64,
    /// `opened` per second of the measured phase: the new-connection rate sustained.
    pub opened_per_sec: f64,
    /// Replacements answered at least once.
    pub served: u64,
    /// Replacements whose first message had no answer within the connect timeout.
    pub unserved: u64,
    /// Replacement connects that failed, by errno name.
    pub failed_by_errno: BTreeMap<String, u64>,
    /// Time from connect() to established.
    pub connect_us: Percentiles,
    /// Time from connect() to the first byte of echo.
    pub first_echo_us: Percentiles,
    /// `connect_us`'s histogram (ns).
    pub connect_histogram: String,
    /// `first_echo_us`'s histogram (ns).
    pub first_echo_histogram: String,
}

impl ChurnResult {
    /// Failed replacement connects in total.
    pub fn failed(&self) -> u64 {
        self.failed_by_errno.values().sum()
    }
}
