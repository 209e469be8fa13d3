//! The structured comparison of two sides: one table of rows per scenario, the
//! scenarios missing from NEW or new in it, and the overall outcome. Built from the
//! runs [`super::load`] read; rendered by [`super::render`]; returned to tests as is.
//!
//! Rows come in three kinds: performance metrics judged by the 95% interval of
//! NEW/BASE over the scenario's pairs of runs (`pairs`, `paired`) against a
//! threshold (throughput and rt_per_cpu gate, and a gating regression must hold at
//! the family-wise level too, see [`Family`]; p50, p99, p999, connect rate,
//! cpu_us_per_rt and cs_per_rt are informational unless given a threshold; a
//! latency figure of a run without samples is missing data, see `samples`; a
//! metric no run of a side has, such as the server's cost in older results, is
//! not compared), correctness checks that always fail (connections established,
//! mismatched bytes, interrupted runs), and context (the calibration figure).
//! With `normalize`, each run's throughput is divided by its own calibration round
//! trips/s and its latencies by its own calibration p50 before the figures are taken, so
//! those rows are in multiples of the machine's ping-pong, not msgs/s or µs.

use serde::Serialize;

use super::checks::{
    calibration_row, check_row, connections_row, context_row, interrupted_why, mismatch_why, notes,
    problems_of,
};
use super::load::{LoadError, Loaded, Side};

use super::paired::FAMILY_ALPHA;
use super::pairs;
use super::row::{Row, Unit};
use super::samples;
use super::stats::{Statistic, Summary};
use super::verdict::{judge, judge_gated, Metric, Thresholds, Verdict};

/// How to compare.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    /// The default threshold and the per-metric overrides.
    pub thresholds: Thresholds,
    /// Divide by each run's calibration figure before comparing.
    pub normalize: bool,
    /// The figure shown per side: the best run (default) or the median. The
    /// verdict does not depend on it.
    pub statistic: Statistic,
    /// `--relative-to`: the sides were divided by these peers (figures are ratios).
    pub relative_to: Vec<String>,
}

impl Options {
    /// The options `.ci/run` compares with: the default threshold (3%), throughput
    /// and rt_per_cpu gating, latency informational. The suite's confirmation and
    /// its base-vs-new table use them too, so all three agree on what is a suspect.
    pub fn ci() -> Options {
        let mut thresholds = Thresholds::default();
        thresholds.informational.extend([Metric::P50, Metric::P99, Metric::P999]);
        Options { thresholds, statistic: Statistic::Best, ..Options::default() }
    }
}

/// The gate's family: every gated figure of every scenario compared (host-bound
/// scenarios gate on none). A regression fails the comparison only where the
/// interval at `level` = 1 − 5%/`figures` shows it too (Bonferroni), so identical
/// builds fail at most about one comparison in twenty however many scenarios the
/// suite runs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Family {
    /// The gated figures: scenarios × gating metrics with data on both sides.
    pub figures: usize,
    /// The two-sided level a gating regression must hold at.
    pub level: f64,
}

impl Family {
    fn of(figures: usize) -> Family {
        Family { figures, level: 1.0 - FAMILY_ALPHA / figures.max(1) as f64 }
    }
}

/// Everything compare found: what the renderers print and what tests inspect.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// The thresholds the verdicts used.
    pub thresholds: Thresholds,
    /// Whether throughput and latency were divided by the calibration figures.
    pub normalized: bool,
    /// Which figure of each side's runs is shown (not what is judged).
    pub statistic: Statistic,
    /// The peers echod's figures were divided by (`--relative-to`), if any.
    pub relative_to: Vec<String>,
    /// Scenarios present on both sides, in name order.
    pub scenarios: Vec<ScenarioComparison>,
    /// Scenarios measured in BASE but not in NEW: each one is a failure.
    pub missing_in_new: Vec<String>,
    /// Scenarios only NEW has: reported, not compared, not a failure in itself.
    pub new_only: Vec<String>,
    /// What failed in those scenarios' runs (missing connections, mismatched bytes,
    /// an interrupted run): checks that need no BASE apply to every NEW run.
    pub new_only_failures: Vec<String>,
    /// The gated figures and the level a regression must hold at.
    pub family: Family,
    /// Gating performance rows whose interval shows a regression past the threshold.
    pub regressions: usize,
    /// Scenarios with a suspect gating row: regressed at 95%, not at the family's
    /// level (not a failure; topped up first).
    pub suspects: Vec<String>,
    /// Scenarios with a gating metric whose verdict is unknown ([`needs_more_pairs`]):
    /// not a failure, but more pairs are needed.
    pub unknown: Vec<String>,
    /// Failed correctness rows plus missing scenarios.
    pub failures: usize,
    /// True when nothing regressed and nothing failed (exit code 0).
    pub passed: bool,
}

impl Comparison {
    /// 0 when nothing regressed or failed, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        if self.passed {
            common::cli::EXIT_OK
        } else {
            common::cli::EXIT_FAILED
        }
    }
}

/// The table of one scenario.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioComparison {
    /// The `scenario` field both sides share.
    pub scenario: String,
    /// How many BASE results the figures come from.
    pub base_runs: usize,
    /// How many NEW results the figures come from.
    pub new_runs: usize,
    /// One row per metric, in table order.
    pub rows: Vec<Row>,
    /// What a reader should know: configs or machines that differ, base runs cut short.
    pub notes: Vec<String>,
}

/// Compares two sides read by [`super::load::load_side`].
pub fn compare(base: &Side, new: &Side, options: &Options) -> Result<Comparison, LoadError> {
    let family = Family::of(gated_figures(base, new, options));
    let mut scenarios = Vec::new();
    let mut missing_in_new = Vec::new();
    for (name, base_runs) in base {
        match new.get(name) {
            Some(new_runs) => {
                scenarios.push(scenario(name, (base_runs, new_runs), options, Some(family))?)
            }
            None => missing_in_new.push(name.clone()),
        }
    }
    let new_only: Vec<String> = new.keys().filter(|k| !base.contains_key(*k)).cloned().collect();
    let new_only_failures: Vec<String> = new_only
        .iter()
        .flat_map(|name| problems_of(&new[name]).into_iter().map(move |p| format!("{name}: {p}")))
        .collect();
    let rows = || scenarios.iter().flat_map(|s| s.rows.iter());
    let regressions = rows().filter(|r| r.gating && r.verdict == Verdict::Regressed).count();
    let unknown = scenarios_with(&scenarios, Verdict::Unknown);
    let suspects = scenarios_with(&scenarios, Verdict::Suspect);
    let failures = rows().filter(|r| r.verdict == Verdict::Fail).count()
        + missing_in_new.len()
        + new_only_failures.len();
    Ok(Comparison {
        thresholds: options.thresholds.clone(),
        normalized: options.normalize,
        statistic: options.statistic,
        relative_to: options.relative_to.clone(),
        passed: regressions == 0 && failures == 0,
        family,
        suspects,
        scenarios,
        missing_in_new,
        new_only,
        new_only_failures,
        regressions,
        unknown,
        failures,
    })
}

/// The scenarios the suite should measure more pairs of (`suite --base` tops them
/// up): the suspects while there are any (a false alarm is cleared, or a
/// regression confirmed, before anything else), else those with an unknown gating
/// metric.
pub fn needs_more_pairs(c: &Comparison) -> Vec<String> {
    if c.suspects.is_empty() {
        c.unknown.clone()
    } else {
        c.suspects.clone()
    }
}

fn scenarios_with(scenarios: &[ScenarioComparison], verdict: Verdict) -> Vec<String> {
    scenarios
        .iter()
        .filter(|s| s.rows.iter().any(|r| r.gating && r.verdict == verdict))
        .map(|s| s.scenario.clone())
        .collect()
}

/// How many figures gate across the scenarios both sides have: each gating
/// metric some run of each side carries, in every scenario that is not host-bound.
fn gated_figures(base: &Side, new: &Side, options: &Options) -> usize {
    base.iter()
        .filter_map(|(name, b)| Some((b, new.get(name)?)))
        .filter(|(b, n)| host_bound(b, n).is_none())
        .map(|(b, n)| {
            let carried = |runs: &[Loaded], m| runs.iter().any(|l| raw_value(m, l).is_some());
            Metric::THRESHOLDED
                .into_iter()
                .filter(|&m| options.thresholds.gates(m) && carried(b, m) && carried(n, m))
                .count()
        })
        .sum()
}

fn scenario(
    name: &str,
    (base, new): (&[Loaded], &[Loaded]),
    options: &Options,
    family: Option<Family>,
) -> Result<ScenarioComparison, LoadError> {
    if options.normalize {
        check_calibrations(base, new)?;
    }
    let mut rows = Vec::new();
    // A figure that is mostly the host's says nothing about the code once the two
    // sides ran on different machines: shown with its verdict, never gating.
    let host_bound = host_bound(base, new);
    // A host-bound scenario is in no family: nothing of it gates.
    let family = family.filter(|_| host_bound.is_none());
    for metric in Metric::THRESHOLDED {
        let row = if samples::is_latency(metric) {
            samples::latency_row(base, new, |b, n| {
                performance_row(metric, (b, n), options, family).unwrap_or_else(|| Row {
                    metric: metric.name(),
                    ..context_row(Unit::Micros, Summary::default(), Summary::default())
                })
            })
        } else {
            let Some(row) = performance_row(metric, (base, new), options, family) else {
                continue;
            };
            row
        };
        rows.push(row);
    }
    rows.push(connections_row(base, new));
    rows.push(check_row("mismatch", base, new, |r| r.errors.mismatch, mismatch_why));
    rows.push(check_row("interrupted", base, new, |r| u64::from(r.interrupted), interrupted_why));
    if base.iter().chain(new).all(|l| l.result.calibration.is_some()) {
        rows.push(calibration_row(base, new));
    }
    let mut notes = notes(base, new);
    notes.extend(pairs::notes(base, new));
    notes.extend(samples::base_note(base));
    if let Some(why) = host_bound {
        notes.push(format!("informational {why}"));
    }
    Ok(ScenarioComparison {
        scenario: name.to_string(),
        base_runs: base.len(),
        new_runs: new.len(),
        rows,
        notes,
    })
}

/// Why a scenario's figures do not gate, when one of its runs says it is
/// host-bound (one connection across cores: the figure is the machine's wake-up
/// path, bimodal from run to run, and pairs cannot tame it; echod's own cost at one
/// connection is gated by `loadgen exact`'s instruction count instead), naming the
/// case where the sides were also measured on different machines; None otherwise.
fn host_bound(base: &[Loaded], new: &[Loaded]) -> Option<String> {
    let why = base.iter().chain(new).find_map(|l| l.result.host_bound.clone())?;
    let machine = |l: &Loaded| {
        let e = &l.result.environment;
        (e.hostname.clone(), e.kernel.clone(), e.cpu_model.clone(), e.cores)
    };
    let machines: std::collections::BTreeSet<_> = base.iter().chain(new).map(machine).collect();
    Some(if machines.len() > 1 {
        format!("across machines (host-bound: {why})")
    } else {
        format!("(host-bound: {why}; its exact figures gate instead)")
    })
}

/// Every run has a usable calibration, all of the same method.
fn check_calibrations(base: &[Loaded], new: &[Loaded]) -> Result<(), LoadError> {
    let field = |l: &Loaded, field: &str, message: String| LoadError::Field {
        path: l.path.clone(),
        field: field.to_string(),
        message,
    };
    let mut method: Option<(&Loaded, &str)> = None;
    for run in base.iter().chain(new) {
        let Some(cal) = &run.result.calibration else {
            return Err(field(
                run,
                "calibration",
                "missing: --normalize needs one in every result".into(),
            ));
        };
        if !(cal.round_trips_per_sec > 0.0 && cal.p50_us > 0.0) {
            let m = "round_trips_per_sec and p50_us must be > 0 to normalize by them";
            return Err(field(run, "calibration", m.into()));
        }
        match method {
            None => method = Some((run, &cal.method)),
            Some((first, m)) if m != cal.method => {
                let message = format!(
                    "is '{}' but {} used '{m}': normalizing across methods compares nothing",
                    cal.method,
                    first.path.display()
                );
                return Err(field(run, "calibration.method", message));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The figure of `metric` a run's result carries; None for the server's cost when
/// the result has none (older files).
fn raw_value(metric: Metric, run: &Loaded) -> Option<f64> {
    let r = &run.result;
    match metric {
        Metric::Throughput => Some(r.throughput.msgs_per_sec),
        Metric::P50 => Some(r.latency_us.p50),
        Metric::P99 => Some(r.latency_us.p99),
        Metric::P999 => Some(r.latency_us.p999),
        Metric::ConnectRate => Some(r.connections.connect_rate_per_sec),
        Metric::RtPerCpu => run.cost.rt_per_cpu,
        Metric::CpuUsPerRt => run.cost.cpu_us_per_rt,
        Metric::CsPerRt => run.cost.cs_per_rt,
    }
}

/// Whether `--normalize` divides `metric` by the calibration: throughput and the
/// latencies (connecting is kernel work the ping-pong does not measure; the
/// server's cost per round trip is its own yardstick already).
fn normalizable(metric: Metric) -> bool {
    matches!(metric, Metric::Throughput | Metric::P50 | Metric::P99 | Metric::P999)
}

/// The value compared, normalized by the run's own calibration when asked.
fn value(metric: Metric, run: &Loaded, normalize: bool) -> Option<f64> {
    let raw = raw_value(metric, run)?;
    Some(match (&run.result.calibration, normalize, metric) {
        (None, _, _) | (_, false, _) => raw,
        (Some(cal), true, Metric::Throughput) => raw / cal.round_trips_per_sec,
        (Some(cal), true, _) => raw / cal.p50_us,
    })
}

fn unit(metric: Metric, normalized: bool, relative: bool) -> Unit {
    match metric {
        Metric::RtPerCpu => Unit::PerCpuSec,
        Metric::CpuUsPerRt => Unit::Micros,
        Metric::CsPerRt => Unit::PerRt,
        _ if relative => Unit::Relative,
        _ if normalized => Unit::Calibrated,
        Metric::Throughput | Metric::ConnectRate => Unit::PerSec,
        _ => Unit::Micros,
    }
}

/// The row of one performance metric; None when a side has no run carrying it.
/// It gates when the scenario is in the `family` (None: host-bound) and the metric
/// gates.
fn performance_row(
    metric: Metric,
    (base, new): (&[Loaded], &[Loaded]),
    options: &Options,
    family: Option<Family>,
) -> Option<Row> {
    let normalized = options.normalize && normalizable(metric);
    let measured = pairs::measure(base, new, |l| value(metric, l, normalized))?;
    let raw = normalized.then(|| pairs::measure(base, new, |l| value(metric, l, false)));
    let estimate = |m: &pairs::Measured| match &m.interval {
        Ok(i) => Some(i.estimate),
        Err(few) => few.estimate,
    };
    let (n, paired) = match &measured.interval {
        Ok(i) => (i.n, i.paired),
        Err(few) => (few.n, few.paired),
    };
    let base_runs = Summary::of(&measured.base).unwrap_or_default();
    let new_runs = Summary::of(&measured.new).unwrap_or_default();
    let (stat, dir) = (options.statistic, metric.direction());
    let threshold = options.thresholds.of(metric);
    let interval = measured.interval.as_ref().ok().copied();
    let mde = interval.map(|i| i.mde());
    // Gating needs a family: a host-bound scenario's rows are judged at 95%, shown.
    let family = family.filter(|_| options.thresholds.gates(metric));
    let gating = family.is_some();
    let family_interval = family.map(|f| measured.at(f.level));
    let verdict = match &family_interval {
        Some(f) => judge_gated(dir, &measured.interval, f, threshold),
        None => judge(dir, &measured.interval, threshold),
    };
    Some(Row {
        metric: metric.name(),
        unit: unit(metric, normalized, !options.relative_to.is_empty()),
        base: base_runs.figure(stat, dir),
        new: new_runs.figure(stat, dir),
        ratio: estimate(&measured),
        interval,
        family_interval: family_interval.and_then(Result::ok),
        n,
        paired,
        mde,
        raw_ratio: raw.flatten().as_ref().and_then(estimate),
        threshold: Some(threshold),
        noise_band: mde,
        verdict,
        gating,
        detail: None,
        requested: None,
        base_runs,
        new_runs,
    })
}
