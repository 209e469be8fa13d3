//! Churn between a worker's counts and the result file: [`result_of`] turns the
//! merged [`ChurnCounts`] into the JSON's `churn` (the rate over the measured
//! phase, percentiles, histograms), [`counts_of`] reads it back exactly (how
//! `loadgen merge` and a split run's parent merge churn), [`settings_of`] records
//! the flags in `config.churn`, and [`lines`] says it in the summary.

use common::units::{fmt_count, fmt_micros};

use crate::result::{decode_histogram, encode_histogram, ChurnResult, ChurnSettings, Percentiles};

use super::churn::Churn;
use super::tally::ChurnCounts;

/// The settings as the result records them.
pub fn settings_of(c: &Churn) -> ChurnSettings {
    ChurnSettings {
        lifetime: c.lifetime.to_string(),
        jitter_percent: c.jitter * 100.0,
        close: c.close.to_string(),
    }
}

/// The result's `churn` of these counts over `measured_s` seconds.
pub fn result_of(t: &ChurnCounts, measured_s: f64) -> Result<ChurnResult, String> {
    Ok(ChurnResult {
        closed: t.closed,
        opened: t.opened,
        opened_per_sec: if measured_s > 0.0 { t.opened as f64 / measured_s } else { 0.0 },
        served: t.served,
        unserved: t.unserved,
        failed_by_errno: t.failed_by_errno.clone(),
        connect_us: Percentiles::from_nanos(&t.connect),
        first_echo_us: Percentiles::from_nanos(&t.first_echo),
        connect_histogram: encode_histogram(&t.connect)?,
        first_echo_histogram: encode_histogram(&t.first_echo)?,
    })
}

/// The counts `r` was built from (the inverse of [`result_of`]).
pub fn counts_of(r: &ChurnResult) -> Result<ChurnCounts, String> {
    let hist = |name: &str, text: &str| decode_histogram(text).map_err(|e| format!("{name}: {e}"));
    Ok(ChurnCounts {
        closed: r.closed,
        opened: r.opened,
        served: r.served,
        unserved: r.unserved,
        failed_by_errno: r.failed_by_errno.clone(),
        connect: hist("churn.connect_histogram", &r.connect_histogram)?,
        first_echo: hist("churn.first_echo_histogram", &r.first_echo_histogram)?,
    })
}

/// The summary's lines on churn: the rate sustained, the latencies, what failed
/// with the hint of each errno.
pub fn lines(s: &ChurnSettings, r: &ChurnResult) -> Vec<String> {
    let jitter =
        if s.jitter_percent > 0.0 { format!(" ±{:.0}%", s.jitter_percent) } else { String::new() };
    let mut out = vec![
        format!(
            "churn         lifetime {}{jitter}, close {}: {} new connections/s sustained \
             ({} opened, {} closed in the measured phase)",
            s.lifetime,
            s.close,
            fmt_count(r.opened_per_sec.round()),
            r.opened,
            r.closed
        ),
        format!(
            "              connect p50 {} p99 {} | first echo p50 {} p99 {} | {} served, {} unserved",
            fmt_micros(r.connect_us.p50),
            fmt_micros(r.connect_us.p99),
            fmt_micros(r.first_echo_us.p50),
            fmt_micros(r.first_echo_us.p99),
            r.served,
            r.unserved
        ),
    ];
    for (errno, n) in &r.failed_by_errno {
        out.push(format!(
            "              {n} replacement connect(s) failed: {errno}: {}",
            super::connect::hint(errno)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::histogram::record;
    use super::*;

    /// Counts go into a result and come back equal, histograms included; the rate
    /// is opened over the measured seconds.
    #[test]
    fn round_trip() {
        let mut t =
            ChurnCounts { closed: 90, opened: 100, served: 99, unserved: 1, ..Default::default() };
        t.connect_failed("EADDRNOTAVAIL");
        record(&mut t.connect, 40_000);
        record(&mut t.first_echo, 90_000);
        let r = result_of(&t, 2.0).expect("result");
        assert_eq!(r.opened_per_sec, 50.0);
        assert_eq!(r.failed(), 1);
        assert_eq!(counts_of(&r).expect("back"), t);
        let settings =
            ChurnSettings { lifetime: "1".into(), jitter_percent: 0.0, close: "fin".into() };
        let text = lines(&settings, &r).join("\n");
        assert!(text.contains("50 new connections/s sustained"), "{text}");
        assert!(text.contains("EADDRNOTAVAIL"), "{text}");
    }
}
