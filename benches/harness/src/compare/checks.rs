//! The rows that are not measured against a threshold: correctness checks that fail
//! outright (connections established, mismatched bytes, interrupted runs), the
//! calibration figure shown for context, and the notes on what differs between the
//! sides besides the code under test (settings, machine, BASE runs cut short).

use super::load::Loaded;
use super::row::{summarize, Row, Unit};
use super::stats::Summary;
use super::verdict::{ratio, Verdict};
use engine::result::RunResult;

/// Every NEW run established all it asked for, and no fewer than BASE's worst run.
pub(super) fn connections_row(base: &[Loaded], new: &[Loaded]) -> Row {
    let established = |r: &RunResult| r.connections.established as f64;
    let base_runs = summarize(base, established);
    let new_runs = summarize(new, established);
    let mut problems = short_of_connections(new);
    if new_runs.min < base_runs.min {
        problems.push(format!("fewer than BASE ({} < {})", new_runs.min, base_runs.min));
    }
    check(Row {
        metric: "connections",
        base: base_runs.min,
        new: new_runs.min,
        detail: (!problems.is_empty()).then(|| problems.join("; ")),
        requested: Some((most_requested(base), most_requested(new))),
        ..context_row(Unit::Count, base_runs, new_runs)
    })
}

/// Each run that established fewer connections than it asked for, named.
/// A connection the kernel completed but the server never answered (it sat in the
/// accept queue) is missing too, whatever `established` says.
fn short_of_connections(runs: &[Loaded]) -> Vec<String> {
    let mut problems = Vec::new();
    for l in runs {
        let c = &l.result.connections;
        if c.established < c.requested {
            let path = l.path.display();
            problems.push(format!("{path}: {} of {} requested", c.established, c.requested));
        }
        if let Some(unserved) = c.unserved.filter(|n| *n > 0) {
            let path = l.path.display();
            problems.push(format!("{path}: {unserved} established but never served"));
        }
    }
    problems
}

/// What is wrong with runs that have nothing to be compared with (a scenario only
/// NEW has): the checks that need no BASE still apply to every one of them.
pub(super) fn problems_of(runs: &[Loaded]) -> Vec<String> {
    let mut problems = short_of_connections(runs);
    problems.extend(counted(runs, |r| r.errors.mismatch, mismatch_why));
    problems.extend(counted(runs, |r| u64::from(r.interrupted), interrupted_why));
    problems.extend(super::samples::problems(runs));
    problems
}

/// Why a mismatch count fails.
pub(super) fn mismatch_why(n: u64) -> String {
    format!("{n} echoed bytes differ from what was sent")
}

/// Why an interrupted run fails.
pub(super) fn interrupted_why(_: u64) -> String {
    "the run was cut short (Ctrl-C or the server died)".to_string()
}

/// `file: why(count)` for each run whose `count` is not zero.
fn counted(
    runs: &[Loaded],
    count: impl Fn(&RunResult) -> u64,
    why: impl Fn(u64) -> String,
) -> Vec<String> {
    runs.iter()
        .filter(|l| count(&l.result) > 0)
        .map(|l| format!("{}: {}", l.path.display(), why(count(&l.result))))
        .collect()
}

fn most_requested(runs: &[Loaded]) -> u64 {
    runs.iter().map(|l| l.result.connections.requested).max().unwrap_or(0)
}

/// A count that must be zero in every NEW run (BASE's shown for context).
pub(super) fn check_row(
    metric: &'static str,
    base: &[Loaded],
    new: &[Loaded],
    count: impl Fn(&RunResult) -> u64,
    why: impl Fn(u64) -> String,
) -> Row {
    let base_runs = summarize(base, |r| count(r) as f64);
    let new_runs = summarize(new, |r| count(r) as f64);
    let problems = counted(new, &count, why);
    check(Row {
        metric,
        base: base_runs.max,
        new: new_runs.max,
        detail: (!problems.is_empty()).then(|| problems.join("; ")),
        ..context_row(Unit::Count, base_runs, new_runs)
    })
}

/// A check row: FAIL when it has a detail, ok otherwise.
fn check(row: Row) -> Row {
    let verdict = if row.detail.is_some() { Verdict::Fail } else { Verdict::Ok };
    Row { verdict, gating: true, ..row }
}

/// The machine's ping-pong before each run: how much the machine itself moved.
pub(super) fn calibration_row(base: &[Loaded], new: &[Loaded]) -> Row {
    let rt = |r: &RunResult| r.calibration.as_ref().map_or(0.0, |c| c.round_trips_per_sec);
    let row = context_row(Unit::PerSec, summarize(base, rt), summarize(new, rt));
    Row { metric: "calibration", ratio: ratio(row.base, row.new), ..row }
}

pub(super) fn context_row(unit: Unit, base_runs: Summary, new_runs: Summary) -> Row {
    Row {
        metric: "",
        unit,
        base: base_runs.median,
        new: new_runs.median,
        ratio: None,
        interval: None,
        family_interval: None,
        n: 0,
        paired: false,
        mde: None,
        raw_ratio: None,
        threshold: None,
        noise_band: None,
        verdict: Verdict::Info,
        gating: false,
        detail: None,
        requested: None,
        base_runs,
        new_runs,
    }
}

/// What differs between the sides besides the code under test.
pub(super) fn notes(base: &[Loaded], new: &[Loaded]) -> Vec<String> {
    let mut notes = Vec::new();
    let (b, n) = (&base[0].result, &new[0].result);
    let (bc, nc) = (&b.config, &n.config);
    let settings = [
        ("conns", bc.conns.to_string(), nc.conns.to_string()),
        ("size", bc.size.to_string(), nc.size.to_string()),
        ("pipeline", bc.pipeline.to_string(), nc.pipeline.to_string()),
        ("rate", format!("{:?}", bc.rate), format!("{:?}", nc.rate)),
        ("duration_s", bc.duration_s.to_string(), nc.duration_s.to_string()),
        ("threads", bc.threads.to_string(), nc.threads.to_string()),
    ];
    for (name, was, is) in settings {
        if was != is {
            notes.push(format!("config differs: {name} {was} -> {is}"));
        }
    }
    let (be, ne) = (&b.environment, &n.environment);
    if (&be.cpu_model, be.cores) != (&ne.cpu_model, ne.cores) {
        notes.push(format!(
            "machines differ: {} ({} cores) -> {} ({} cores)",
            be.cpu_model, be.cores, ne.cpu_model, ne.cores
        ));
    }
    let sysctls = [
        ("kernel", be.kernel.clone(), ne.kernel.clone()),
        ("somaxconn", be.somaxconn.clone(), ne.somaxconn.clone()),
        ("tcp_tw_reuse", be.tcp_tw_reuse.clone(), ne.tcp_tw_reuse.clone()),
        ("ip_local_port_range", be.ip_local_port_range.clone(), ne.ip_local_port_range.clone()),
        ("RLIMIT_NOFILE", be.rlimit_nofile_soft.to_string(), ne.rlimit_nofile_soft.to_string()),
    ];
    for (name, was, is) in sysctls {
        if was != is {
            notes.push(format!("environment differs: {name} {was} -> {is}"));
        }
    }
    let cut = base.iter().filter(|l| l.result.interrupted).count();
    if cut > 0 {
        notes.push(format!("{cut} BASE run(s) were interrupted: their figures are partial"));
    }
    notes
}
