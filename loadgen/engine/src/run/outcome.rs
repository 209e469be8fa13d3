//! What a run produced. A process's [`Measurement`] (its merged [`Tally`], the
//! per-second intervals, how long it measured) is turned into the [`RunResult`] of
//! the JSON contract and a [`RunOutcome`]; [`Measurement::of_result`] reads a
//! result back into the measurement it was built from (histograms, per-second ones
//! included), which is how `loadgen merge` and a split run's parent merge results
//! exactly.
//!
//! The exit code of the figures: 0 every connection came up, was served, and
//! every echo was right; 1 the run found something wrong or missing: wrong or
//! missing echoes (mismatch, reset, EOF, timeout), or missing connections, some or
//! all of them (not established, or never served). An open loop adds: a message of
//! the measured phase never sent (the sender fell behind its schedule and did not
//! catch up by the end of the drain). UDP adds: a corrupted datagram, or loss
//! above `--max-loss` when it is given; without it, loss (and late, duplicated,
//! reordered datagrams) is a measurement, not a failure. With `--max-loss`, the
//! datagrams never sent count as lost and the loss rule decides for them. Exit 2 is
//! never a figure: it means loadgen could not do what was asked (bad input, an
//! output file not written).

use common::cli::{EXIT_FAILED, EXIT_OK};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::result::{
    decode_histogram, encode_histogram, ClockRecord, Connections, Errors, Histograms, MachineNoise,
    Percentiles, Proto, RunConfig, RunResult, ServerCost, Shard, Throughput, UdpConfig,
    SCHEMA_VERSION,
};

use super::config::Config;
use super::histogram::new_histogram;
use super::live::series_of;
use super::tally::{ChurnSecond, DatagramCounts, ErrorCounts, Interval, ScheduleCounts, Tally};

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
    /// The watched server's cost over the measured phase (`--watch-pid`), its
    /// per-round-trip figures worked out by [`build_from`].
    #[serde(default)]
    pub server: Option<ServerCost>,
    /// What else the machine did over the measured phase.
    #[serde(default)]
    pub machine: Option<MachineNoise>,
    /// RFC 3339 start time.
    pub started_at: String,
    /// When the warm-up and the measured phase began on the wall clock.
    #[serde(default)]
    pub clock: Option<ClockRecord>,
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
    exit_code_with(c.max_loss, t)
}

/// The exit code of these figures under `--max-loss` `max_loss`.
pub fn exit_code_with(max_loss: Option<f64>, t: &Tally) -> u8 {
    // Churn: a replacement that failed to connect or was never served is missing too.
    let churn_missing = t.churn.failed() > 0 || t.churn.unserved > 0;
    let missing = t.established < t.requested || t.unserved > 0 || churn_missing;
    let (loss_over, behind) = match (max_loss, t.loss_percent()) {
        (Some(max), Some(loss)) => (loss > max, false),
        (Some(_), None) => (false, false),
        (None, _) => (false, t.schedule.unsent > 0),
    };
    let wrong = t.errors.total() > 0 || t.datagrams.corrupted > 0;
    if wrong || missing || loss_over || behind {
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
        shard: c.shard.map(|s| Shard {
            index: s.part.index,
            count: s.part.count,
            conns: Some(s.conns),
        }),
        run_id: c.run_id.clone(),
        churn: c.churn.as_ref().map(super::churn_outcome::settings_of),
    }
}

/// Builds the result of `m` under `c`: everything but `command` (the caller's
/// argv) and `environment`.
pub fn build(c: &Config, m: &Measurement) -> Result<RunResult, String> {
    build_from(result_config(c), c.scenario.clone(), m)
}

/// Builds the result of `m` under the settings `rc` (as a result records them),
/// named `scenario`: everything but `command` and `environment`.
pub fn build_from(rc: RunConfig, scenario: String, m: &Measurement) -> Result<RunResult, String> {
    let t = &m.tally;
    let open = rc.rate.is_some();
    let proto = rc.proto;
    let max_loss = rc.udp.as_ref().and_then(|u| u.max_loss_percent);
    let churning = rc.churn.is_some();
    Ok(RunResult {
        schema_version: SCHEMA_VERSION,
        tool: format!("loadgen {}", env!("CARGO_PKG_VERSION")),
        command: Vec::new(),
        started_at: m.started_at.clone(),
        scenario,
        interrupted: m.interrupted,
        exit_code: exit_code_with(max_loss, t).into(),
        environment: Default::default(),
        host_bound: None,
        client_cpu_s: m.cpu_s,
        server: m.server.clone().map(|s| s.per_round_trip(t.messages)),
        machine: m.machine.clone(),
        calibration: None,
        config: rc,
        connections: connections(t),
        connect_latency_us: Percentiles::from_nanos(&t.connect),
        throughput: throughput(t, m.measured_s),
        latency_us: Percentiles::from_nanos(&t.latency),
        latency_uncorrected_us: open.then(|| Percentiles::from_nanos(&t.latency_uncorrected)),
        schedule_lag_us: open.then(|| Percentiles::from_nanos(&t.schedule_lag)),
        errors: errors(proto, open, t),
        histograms: Histograms {
            latency: encode_histogram(&t.latency)?,
            latency_uncorrected: if open {
                Some(encode_histogram(&t.latency_uncorrected)?)
            } else {
                None
            },
            connect: encode_histogram(&t.connect)?,
            schedule_lag: if open { Some(encode_histogram(&t.schedule_lag)?) } else { None },
        },
        kernel: None,
        churn: match churning {
            true => Some(super::churn_outcome::result_of(&t.churn, m.measured_s)?),
            false => None,
        },
        series: series_of(&m.intervals, proto, churning),
        clock: m.clock.clone(),
        agents: Vec::new(),
    })
}

impl Measurement {
    /// The measurement `r` was built from, read back: the inverse of
    /// [`build_from`] (building it again gives `r`'s figures). Fails, naming what
    /// is missing, on a result written before its histograms were all recorded.
    pub fn of_result(r: &RunResult) -> Result<Measurement, String> {
        Ok(Measurement {
            tally: tally_of(r)?,
            intervals: intervals_of(r)?,
            measured_s: r.throughput.duration_s,
            interrupted: r.interrupted,
            cpu_s: r.client_cpu_s,
            server: r.server.clone(),
            machine: r.machine.clone(),
            started_at: r.started_at.clone(),
            clock: r.clock.clone(),
        })
    }
}

/// Histogram `name` decoded from its text; none recorded: an empty one.
fn hist(name: &str, text: Option<&String>) -> Result<Histogram<u64>, String> {
    match text {
        Some(t) => decode_histogram(t).map_err(|e| format!("{name}: {e}")),
        None => Ok(new_histogram()),
    }
}

/// The whole run's tally read back from result `r`.
fn tally_of(r: &RunResult) -> Result<Tally, String> {
    let h = &r.histograms;
    let (c, e) = (&r.connections, &r.errors);
    Ok(Tally {
        requested: c.requested,
        established: c.established,
        served: c.served.unwrap_or(c.established),
        unserved: c.unserved.unwrap_or(0),
        failed_by_errno: c.failed_by_errno.clone(),
        connect: hist("histograms.connect", Some(&h.connect))?,
        connect_s: c.connect_up_s.unwrap_or(0.0),
        connect_up_s: c.connect_up_s.unwrap_or(if c.connect_rate_per_sec > 0.0 {
            c.established as f64 / c.connect_rate_per_sec
        } else {
            0.0
        }),
        latency: hist("histograms.latency", Some(&h.latency))?,
        latency_uncorrected: hist(
            "histograms.latency_uncorrected",
            h.latency_uncorrected.as_ref(),
        )?,
        schedule_lag: hist("histograms.schedule_lag", h.schedule_lag.as_ref())?,
        messages: r.throughput.messages,
        bytes: r.throughput.bytes,
        errors: error_counts_of(e),
        schedule: schedule_of(e),
        datagrams: datagrams_of(e),
        first_mismatch: e.first_mismatch.clone(),
        conns_up_at_end: r.series.last().map_or(0, |s| s.conns_up),
        per_source: c.per_source.clone(),
        churn: match &r.churn {
            Some(churn) => super::churn_outcome::counts_of(churn)?,
            None => Default::default(),
        },
    })
}

/// The error counters read back from a result's errors. The result folds `other`
/// into `reset` and corrupted datagrams into `mismatch`: unfolded here, folded
/// again the same way by build_from.
fn error_counts_of(e: &Errors) -> ErrorCounts {
    let corrupted = e.corrupted.unwrap_or(0);
    ErrorCounts {
        mismatch: e.mismatch - corrupted.min(e.mismatch),
        reset: e.reset,
        eof: e.eof,
        timeout: e.timeout,
        other: 0,
        refused: e.refused.unwrap_or(0),
    }
}

/// The datagrams' fate read back from a result's errors (zero for TCP).
fn datagrams_of(e: &Errors) -> DatagramCounts {
    DatagramCounts {
        sent: e.sent.unwrap_or(0),
        answered: e.answered.unwrap_or(0),
        lost: e.lost.unwrap_or(0),
        late: e.late.unwrap_or(0),
        duplicated: e.duplicated.unwrap_or(0),
        reordered: e.reordered.unwrap_or(0),
        corrupted: e.corrupted.unwrap_or(0),
    }
}

/// The seconds read back from a result's series; each must carry its latency
/// histogram. The series counts the unserved so far: each second gets its own.
fn intervals_of(r: &RunResult) -> Result<Vec<Interval>, String> {
    let mut unserved_before = 0;
    r.series
        .iter()
        .enumerate()
        .map(|(index, s)| {
            let text = s.latency.as_ref().ok_or_else(|| {
                format!(
                    "series: second {index} has no latency histogram (written by an older \
                     loadgen): run it again with this one"
                )
            })?;
            let running = s.conns_unserved.unwrap_or(0);
            let iv = Interval {
                index: index as u64,
                end_s: s.t_s,
                conns_up: s.conns_up,
                served: s.conns_served.unwrap_or(s.conns_up),
                unserved: running.saturating_sub(unserved_before),
                latency: hist("series.latency", Some(text))?,
                msgs: s.msgs,
                errors: s.errors,
                datagrams: DatagramCounts { lost: s.lost.unwrap_or(0), ..Default::default() },
                churn: ChurnSecond {
                    opened: s.opened.unwrap_or(0),
                    closed: s.closed.unwrap_or(0),
                    failed: s.churn_failed.unwrap_or(0),
                    time_wait: s.time_wait.unwrap_or(0),
                },
            };
            unserved_before = running;
            Ok(iv)
        })
        .collect()
}

/// What became of an open loop's schedule, read back from a result's errors.
fn schedule_of(e: &Errors) -> ScheduleCounts {
    ScheduleCounts {
        scheduled: e.scheduled.unwrap_or(0),
        unsent: e.unsent.unwrap_or(0),
        behind_messages: e.behind_messages.unwrap_or(0),
        behind_ns: (e.behind_s.unwrap_or(0.0) * 1e9).round() as u64,
    }
}

/// The errors part of the result; for UDP with the datagrams' fate, and the
/// corrupted datagrams as mismatches too (every reader of `mismatch` sees them);
/// in `open` loop with what became of the schedule.
fn errors(proto: Proto, open: bool, t: &Tally) -> Errors {
    let (d, s) = (&t.datagrams, &t.schedule);
    let udp = |n: u64| (proto == Proto::Udp).then_some(n);
    let open_loop = |n: u64| open.then_some(n);
    Errors {
        mismatch: t.errors.mismatch + d.corrupted,
        // Other I/O errors on an established connection end it like a reset (UDP:
        // ECONNREFUSED, the ICMP port unreachable of a port nobody listens on).
        reset: t.errors.reset + t.errors.other,
        eof: t.errors.eof,
        timeout: t.errors.timeout,
        refused: udp(t.errors.refused),
        lost: udp(d.lost),
        loss_percent: udp(0).and(t.loss_percent()),
        late: udp(d.late),
        duplicated: udp(d.duplicated),
        reordered: udp(d.reordered),
        corrupted: udp(d.corrupted),
        sent: udp(d.sent),
        answered: udp(d.answered),
        first_mismatch: t.first_mismatch.clone(),
        scheduled: open_loop(s.scheduled),
        unsent: open_loop(s.unsent),
        behind_messages: open_loop(s.behind_messages),
        behind_s: open.then_some(s.behind_ns as f64 / 1e9),
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
        connect_up_s: Some(t.connect_up_s),
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

    /// Open loop: a message never sent fails the run; UDP with --max-loss counts
    /// the unsent as lost and the loss rule decides; the schedule's figures go
    /// into the result and come back from it whole.
    #[test]
    fn unsent_messages_fail_and_round_trip() {
        let mut c = config();
        c.rate = Some(1000.0);
        let mut t = Tally::new(2);
        (t.established, t.served) = (2, 2);
        assert_eq!(exit_code(&c, &t), EXIT_OK);
        t.schedule = ScheduleCounts {
            scheduled: 100,
            unsent: 1,
            behind_messages: 3,
            behind_ns: 123_456_789,
        };
        assert_eq!(exit_code(&c, &t), EXIT_FAILED);
        let mut u = Config::local_udp_test("127.0.0.1:9".parse().expect("addr"), 2);
        u.rate = Some(1000.0);
        t.datagrams.answered = 99;
        assert_eq!(exit_code(&u, &t), EXIT_FAILED, "no --max-loss: unsent fails");
        u.max_loss = Some(5.0);
        assert_eq!(exit_code(&u, &t), EXIT_OK, "1% lost (never sent) within --max-loss 5");
        u.max_loss = Some(0.5);
        assert_eq!(exit_code(&u, &t), EXIT_FAILED);
        let m = Measurement {
            tally: t.clone(),
            intervals: Vec::new(),
            measured_s: 1.0,
            interrupted: false,
            cpu_s: None,
            server: None,
            machine: None,
            started_at: String::new(),
            clock: None,
        };
        let r = build(&c, &m).expect("result");
        let e = &r.errors;
        assert_eq!((e.scheduled, e.unsent, e.behind_messages), (Some(100), Some(1), Some(3)));
        assert_eq!(Measurement::of_result(&r).expect("reads back").tally.schedule, t.schedule);
        assert_eq!(build(&config(), &m).expect("closed").errors.unsent, None, "closed loop");
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
        let e = errors(c.proto, false, &t);
        assert_eq!(
            (e.mismatch, e.corrupted, e.lost, e.loss_percent),
            (1, Some(1), Some(10), Some(10.0))
        );
        assert_eq!(errors(Proto::Tcp, false, &Tally::new(1)), Errors::default());
        let r = result_config(&c);
        assert_eq!((r.proto, r.udp.map(|u| u.max_loss_percent)), (Proto::Udp, Some(None)));
    }
}
