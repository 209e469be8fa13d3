//! What a run produced. A process's [`Measurement`] (its merged [`Tally`], the
//! per-second intervals, how long it measured) is turned into the [`RunResult`] of
//! the JSON contract and a [`RunOutcome`]; a split run's child ships its
//! measurement whole to the parent, which merges them and builds one outcome the
//! same way.
//!
//! The exit code of the figures: 0 every connection came up, was served, and
//! every echo was right; 1 the run found something wrong or missing: wrong or
//! missing echoes (mismatch, reset, EOF, timeout), or missing connections, some or
//! all of them (not established, or never served). UDP adds: a corrupted datagram,
//! or loss above `--max-loss` when it is given; without it, loss (and late,
//! duplicated, reordered datagrams) is a measurement, not a failure. Exit 2 is
//! never a figure: it means loadgen could not do what was asked (bad input, an
//! output file not written).

use echod::cli::{EXIT_FAILED, EXIT_OK};
use serde::{Deserialize, Serialize};

use crate::result::{
    encode_histogram, Connections, Errors, Histograms, Percentiles, Proto, RunConfig, RunResult,
    Throughput, UdpConfig, SCHEMA_VERSION,
};

use super::config::Config;
use super::live::series_of;
use super::tally::{Interval, Tally};

/// What one process measured: everything its result is built from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Every thread's figures merged (nanosecond histograms, counters).
    pub tally: Tally,
    /// The merged per-second intervals of the measured phase (histograms included).
    pub intervals: Vec<Interval>,
    /// Seconds the measured phase actually lasted.
    pub measured_s: f64,
    /// True when stopped early (Ctrl-C, or every connection lost).
    pub interrupted: bool,
    /// CPU seconds the process used during the measured phase (the generator's own
    /// cost; `None` where /proc cannot be read).
    pub cpu_s: Option<f64>,
    /// RFC 3339 start time.
    pub started_at: String,
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    /// The result as `--json` writes it (`command` empty: the caller's argv goes
    /// there); the generator's own CPU time is its `client_cpu_s`.
    pub result: RunResult,
    /// Every thread's figures merged (nanosecond histograms, counters).
    pub tally: Tally,
    /// The merged per-second intervals of the measured phase (histograms included).
    pub intervals: Vec<Interval>,
    /// The exit code the figures call for (0, or 1: something wrong or missing).
    pub exit_code: u8,
}

impl RunOutcome {
    /// The outcome of `measured` under `config`: the result (with this machine's
    /// fingerprint) and the exit code of the figures.
    pub fn of(config: &Config, measured: Measurement) -> Result<Self, String> {
        let mut result = build(config, &measured)?;
        result.environment = crate::env::capture();
        let exit_code = exit_code(config, &measured.tally);
        Ok(Self { result, tally: measured.tally, intervals: measured.intervals, exit_code })
    }
}

/// The exit code a run under `c` with these figures reports.
pub fn exit_code(c: &Config, t: &Tally) -> u8 {
    let missing = t.established < t.requested || t.unserved > 0;
    let loss_over = match (c.max_loss, t.datagrams.loss_percent()) {
        (Some(max), Some(loss)) => loss > max,
        _ => false,
    };
    if t.errors.total() > 0 || t.datagrams.corrupted > 0 || missing || loss_over {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// The settings part of the result.
pub fn result_config(c: &Config) -> RunConfig {
    RunConfig {
        targets: c.target_text.clone(),
        conns: c.conns,
        size: c.size as u64,
        pipeline: c.pipeline,
        rate: c.rate,
        duration_s: c.duration.as_secs_f64(),
        warmup_s: c.warmup.as_secs_f64(),
        threads: c.threads,
        cores: c.cores.clone(),
        connect_rate: c.connect_rate,
        connect_timeout_s: c.connect_timeout.as_secs_f64(),
        processes: match c.processes {
            crate::limits::budget::Processes::Fixed(p) => p as usize,
            crate::limits::budget::Processes::Auto => 1,
        },
        sources: c.sources.iter().map(ToString::to_string).collect(),
        proto: c.proto,
        udp: (c.proto == Proto::Udp).then(|| UdpConfig {
            timeout_s: c.udp_timeout.map(|t| t.as_secs_f64()),
            max_loss_percent: c.max_loss,
        }),
    }
}

/// Builds the result of `m` under `c`: everything but `command` (the caller's
/// argv) and `environment`.
pub fn build(c: &Config, m: &Measurement) -> Result<RunResult, String> {
    let t = &m.tally;
    let open = c.rate.is_some();
    Ok(RunResult {
        schema_version: SCHEMA_VERSION,
        tool: format!("loadgen {}", env!("CARGO_PKG_VERSION")),
        command: Vec::new(),
        started_at: m.started_at.clone(),
        scenario: c.scenario.clone(),
        interrupted: m.interrupted,
        exit_code: exit_code(c, t).into(),
        environment: Default::default(),
        host_bound: None,
        client_cpu_s: m.cpu_s,
        calibration: None,
        config: result_config(c),
        connections: connections(t),
        connect_latency_us: Percentiles::from_nanos(&t.connect),
        throughput: throughput(t, m.measured_s),
        latency_us: Percentiles::from_nanos(&t.latency),
        latency_uncorrected_us: open.then(|| Percentiles::from_nanos(&t.latency_uncorrected)),
        schedule_lag_us: open.then(|| Percentiles::from_nanos(&t.schedule_lag)),
        errors: errors(c, t),
        histograms: Histograms {
            latency: encode_histogram(&t.latency)?,
            latency_uncorrected: if open {
                Some(encode_histogram(&t.latency_uncorrected)?)
            } else {
                None
            },
            connect: encode_histogram(&t.connect)?,
        },
        series: series_of(&m.intervals, c.proto),
    })
}

/// The errors part of the result; for UDP with the datagrams' fate, and the
/// corrupted datagrams as mismatches too (every reader of `mismatch` sees them).
fn errors(c: &Config, t: &Tally) -> Errors {
    let d = &t.datagrams;
    let udp = |n: u64| (c.proto == Proto::Udp).then_some(n);
    Errors {
        mismatch: t.errors.mismatch + d.corrupted,
        // Other I/O errors on an established connection end it like a reset (UDP:
        // ECONNREFUSED, the ICMP port unreachable of a port nobody listens on).
        reset: t.errors.reset + t.errors.other,
        eof: t.errors.eof,
        timeout: t.errors.timeout,
        lost: udp(d.lost),
        loss_percent: udp(0).and(d.loss_percent()),
        late: udp(d.late),
        duplicated: udp(d.duplicated),
        reordered: udp(d.reordered),
        corrupted: udp(d.corrupted),
    }
}

/// The connections part of the result.
fn connections(t: &Tally) -> Connections {
    // Connections up per second while they came up: from the start of the connect
    // phase to the last one up (connects still timing out after it do not count).
    let connect_rate =
        if t.connect_up_s > 0.0 { t.established as f64 / t.connect_up_s } else { 0.0 };
    Connections {
        requested: t.requested,
        established: t.established,
        failed_by_errno: t.failed_by_errno.clone(),
        per_source: t.per_source.clone(),
        connect_rate_per_sec: connect_rate,
        served: Some(t.served),
        unserved: Some(t.unserved),
    }
}

/// The throughput part of the result, over `measured_s` seconds.
fn throughput(t: &Tally, measured_s: f64) -> Throughput {
    let per_s = |n: u64| if measured_s > 0.0 { n as f64 / measured_s } else { 0.0 };
    Throughput {
        msgs_per_sec: per_s(t.messages),
        bytes_per_sec: per_s(t.bytes),
        messages: t.messages,
        bytes: t.bytes,
        duration_s: measured_s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::local_test("127.0.0.1:9".parse().expect("addr"), 2)
    }

    /// Exit codes follow the figures.
    #[test]
    fn exit_codes() {
        let c = config();
        let mut t = Tally::new(2);
        assert_eq!(exit_code(&c, &t), EXIT_FAILED, "none up: missing connections, like some");
        t.established = 2;
        assert_eq!(exit_code(&c, &t), EXIT_OK);
        t.errors.mismatch = 1;
        assert_eq!(exit_code(&c, &t), EXIT_FAILED);
        t.errors.mismatch = 0;
        t.established = 1;
        assert_eq!(exit_code(&c, &t), EXIT_FAILED);
        t.established = 2;
        t.unserved = 1;
        assert_eq!(exit_code(&c, &t), EXIT_FAILED);
    }

    /// UDP: loss alone is a measurement; past --max-loss it fails; one corrupted
    /// datagram fails; the result carries the datagrams' fate, corrupted ones as
    /// mismatches too, and TCP results carry none of it.
    #[test]
    fn udp_exit_rule_and_errors() {
        let mut c = Config::local_udp_test("127.0.0.1:9".parse().expect("addr"), 2);
        let mut t = Tally::new(2);
        (t.established, t.served) = (2, 2);
        t.datagrams.answered = 90;
        t.datagrams.lost = 10;
        assert_eq!(exit_code(&c, &t), EXIT_OK, "10% loss, no --max-loss");
        c.max_loss = Some(10.0);
        assert_eq!(exit_code(&c, &t), EXIT_OK, "10% is not past 10%");
        c.max_loss = Some(9.9);
        assert_eq!(exit_code(&c, &t), EXIT_FAILED);
        c.max_loss = None;
        t.datagrams.corrupted = 1;
        assert_eq!(exit_code(&c, &t), EXIT_FAILED);
        let e = errors(&c, &t);
        assert_eq!(
            (e.mismatch, e.corrupted, e.lost, e.loss_percent),
            (1, Some(1), Some(10), Some(10.0))
        );
        assert_eq!(errors(&config(), &Tally::new(1)), Errors::default());
        let r = result_config(&c);
        assert_eq!((r.proto, r.udp.map(|u| u.max_loss_percent)), (Proto::Udp, Some(None)));
    }
}
