//! Verdicts on fixture results, read back from files through the library: the
//! interval of NEW/BASE over pairs of runs decides REGRESSED / improved / same /
//! unknown; checks fail outright.

use engine::result::RunResult;
use harness::compare::{compare_paths, Comparison, Metric, Options, Row, Statistic, Verdict};

use super::fixtures::{result, write_pairs, TempDir};

const SCENARIO: &str = "conns=1000 size=64 pipeline=1 closed";

/// Writes each side's runs as BASE/repN/x.json and NEW/repN/x.json (run N of each
/// side is a pair) and compares.
fn compare_runs(base: &[RunResult], new: &[RunResult], options: &Options) -> Comparison {
    let dir = TempDir::new("verdicts");
    for (i, r) in base.iter().enumerate() {
        dir.write(&format!("base/rep{}/result.json", i + 1), r);
    }
    for (i, r) in new.iter().enumerate() {
        dir.write(&format!("new/rep{}/result.json", i + 1), r);
    }
    compare_paths(&dir.path().join("base"), &dir.path().join("new"), options).expect("compare")
}

/// `n` pairs of `base` and `new` on a machine whose speed moves ±10% between repeats.
fn compare_pairs(base: &RunResult, new: &RunResult, n: u32, options: &Options) -> Comparison {
    let dir = TempDir::new("pairs");
    write_pairs(&dir, base, new, n);
    compare_paths(&dir.path().join("base"), &dir.path().join("new"), options).expect("compare")
}

pub(super) fn row<'c>(c: &'c Comparison, metric: &str) -> &'c Row {
    let rows = &c.scenarios.first().expect("a compared scenario").rows;
    rows.iter().find(|r| r.metric == metric).expect("metric row")
}

/// 30% more throughput and 30% less latency over 8 pairs: improved, exit 0.
#[test]
fn improvement_passes() {
    let (base, new) = (result(SCENARIO, 100_000.0, 200.0), result(SCENARIO, 130_000.0, 140.0));
    let c = compare_pairs(&base, &new, 8, &Options::default());
    assert_eq!(row(&c, "throughput").verdict, Verdict::Improved);
    assert_eq!(row(&c, "p99").verdict, Verdict::Improved);
    assert_eq!(row(&c, "connections").verdict, Verdict::Ok);
    assert!((row(&c, "throughput").ratio.expect("ratio") - 1.3).abs() < 0.01);
    assert_eq!((row(&c, "throughput").n, row(&c, "throughput").paired), (8, true));
    assert!(c.passed);
    assert_eq!(c.exit_code(), 0);
}

/// 20% less throughput over 8 pairs: regressed, exit 1; latency 30% worse is
/// shown as regressed but informational by default.
#[test]
fn regression_fails() {
    let (base, new) = (result(SCENARIO, 100_000.0, 200.0), result(SCENARIO, 80_000.0, 260.0));
    let c = compare_pairs(&base, &new, 8, &Options::default());
    let tp = row(&c, "throughput");
    assert_eq!(tp.verdict, Verdict::Regressed);
    let interval = tp.interval.expect("8 pairs: an interval");
    assert!(interval.high < 1.0 && interval.low <= 0.8 && 0.8 <= interval.high, "{interval:?}");
    assert!(tp.mde.expect("mde") < 0.03, "8 pairs at 0.5% noise show less than 3%");
    assert_eq!(row(&c, "p99").verdict, Verdict::Regressed);
    assert!(!row(&c, "p99").gating, "latency is informational by default");
    assert!(!c.passed);
    assert_eq!(c.exit_code(), 1);
    assert_eq!(c.regressions, 1, "throughput only");
}

/// `--informational throughput`: a 20% drop is shown as regressed and does not
/// fail; a threshold of its own makes p99 gate.
#[test]
fn informational_metric_never_fails() {
    let mut options = Options::default();
    options.thresholds.informational.insert(Metric::Throughput);
    let (base, new) = (result(SCENARIO, 100_000.0, 200.0), result(SCENARIO, 80_000.0, 1_200.0));
    let c = compare_pairs(&base, &new, 8, &options);
    assert_eq!(row(&c, "throughput").verdict, Verdict::Regressed);
    assert!(!row(&c, "throughput").gating);
    assert!(c.passed, "nothing gating regressed");
    options.thresholds.overrides.insert(Metric::P99, 0.10);
    let c = compare_pairs(&base, &new, 8, &options);
    assert!(row(&c, "p99").gating);
    assert!(!c.passed, "p99 with a threshold gates");
    assert!(harness::compare::verdict::parse_metric("p42").is_err());
}

fn runs(throughputs: &[f64]) -> Vec<RunResult> {
    throughputs.iter().map(|&t| result(SCENARIO, t, 200.0)).collect()
}

/// A change past the threshold inside the pairs' own scatter is unknown: not a
/// failure, and the scenario is named as needing more pairs.
#[test]
fn inside_the_noise_is_unknown() {
    let base = runs(&[80_000.0, 100_000.0, 120_000.0, 90_000.0, 110_000.0, 100_000.0]);
    let new = runs(&[95_000.0, 88_000.0, 90_000.0, 98_000.0, 85_000.0, 104_000.0]);
    let c = compare_runs(&base, &new, &Options::default());
    let tp = row(&c, "throughput");
    assert_eq!(tp.verdict, Verdict::Unknown);
    assert!(tp.interval.expect("6 pairs").holds_one());
    assert!(c.passed, "unknown does not fail");
    assert_eq!(c.unknown, [SCENARIO]);
    assert_eq!(harness::compare::comparison::needs_more_pairs(&c), [SCENARIO]);
}

/// The CI run that failed on noise: a slow spell in some repeats slows BASE and NEW
/// of those repeats alike, so the pairs cancel it: same. A real slowdown, slow in
/// every pair, regresses.
#[test]
fn pairs_cancel_a_slow_spell() {
    let spell = [1.0, 0.68, 0.64, 0.93, 1.0, 0.7, 1.0, 0.99];
    let base = runs(&spell.map(|s| 135_000.0 * s));
    let new = runs(&spell.map(|s| 134_000.0 * s));
    let c = compare_runs(&base, &new, &Options::default());
    assert_eq!(row(&c, "throughput").verdict, Verdict::Same);
    assert!(c.passed && c.unknown.is_empty());
    let slower = runs(&spell.map(|s| 100_000.0 * s));
    let c = compare_runs(&base, &slower, &Options::default());
    assert_eq!(row(&c, "throughput").verdict, Verdict::Regressed);
    assert!(!c.passed);
}

/// `--statistic` chooses the figure shown (best run or median), never the verdict.
#[test]
fn statistic_only_chooses_the_figure_shown() {
    let base: Vec<_> = [210.0, 220.0, 230.0].map(|p| result(SCENARIO, 100_000.0, p)).into();
    let new: Vec<_> = [200.0, 900.0, 950.0].map(|p| result(SCENARIO, 100_000.0, p)).into();
    let best = compare_runs(&base, &new, &Options::default());
    let p99 = row(&best, "p99");
    assert_eq!((p99.base, p99.new), (210.0, 200.0));
    let median = Options { statistic: Statistic::Median, ..Options::default() };
    let c = compare_runs(&base, &new, &median);
    assert_eq!((row(&c, "p99").base, row(&c, "p99").new), (220.0, 900.0));
    assert_eq!(row(&c, "p99").verdict, p99.verdict);
    assert_eq!(row(&c, "p99").interval, p99.interval);
}

/// `--threshold-for p99=25%` makes a 20% p99 rise "same" (its interval lies
/// within 25%) and gating; `p50=10%` makes p50 regress and fail.
#[test]
fn per_metric_threshold() {
    let mut options = Options::default();
    options.thresholds.overrides.insert(Metric::P99, 0.25);
    let (base, new) = (result(SCENARIO, 100_000.0, 200.0), result(SCENARIO, 100_000.0, 240.0));
    let c = compare_pairs(&base, &new, 8, &options);
    assert_eq!(row(&c, "p99").verdict, Verdict::Same);
    assert!(row(&c, "p99").gating && c.passed);
    options.thresholds.overrides.insert(Metric::P50, 0.10);
    let c = compare_pairs(&base, &new, 8, &options);
    assert_eq!(row(&c, "p50").verdict, Verdict::Regressed);
    assert!(!c.passed);
}

/// Connect rate is informational unless given a threshold.
#[test]
fn connect_rate_is_informational() {
    let mut slow = result(SCENARIO, 100_000.0, 200.0);
    slow.connections.connect_rate_per_sec = 5_000.0;
    let base = result(SCENARIO, 100_000.0, 200.0);
    let c = compare_pairs(&base, &slow, 6, &Options::default());
    assert_eq!(row(&c, "connect_rate").verdict, Verdict::Regressed);
    assert!(!row(&c, "connect_rate").gating);
    assert!(c.passed);
    let mut options = Options::default();
    options.thresholds.overrides.insert(Metric::ConnectRate, 0.30);
    // A second gated figure: the regression must hold at 97.5%, which takes 7 pairs.
    assert!(!compare_pairs(&base, &slow, 6, &options).suspects.is_empty());
    assert!(!compare_pairs(&base, &slow, 8, &options).passed);
}

/// Any mismatched byte in NEW fails, however fast it was.
#[test]
fn mismatch_always_fails() {
    let mut bad = result(SCENARIO, 200_000.0, 100.0);
    bad.errors.mismatch = 3;
    let c = compare_runs(&[result(SCENARIO, 100_000.0, 200.0)], &[bad], &Options::default());
    let m = row(&c, "mismatch");
    assert_eq!(m.verdict, Verdict::Fail);
    assert!(m.detail.as_deref().expect("detail").contains("3 echoed bytes differ"));
    assert_eq!((c.regressions, c.failures), (0, 1));
    assert_eq!(c.exit_code(), 1);
}

/// Fewer connections than requested, or than BASE, fail.
#[test]
fn missing_connections_fail() {
    let mut short = result(SCENARIO, 100_000.0, 200.0);
    short.connections.established = 990;
    let c = compare_runs(&[result(SCENARIO, 100_000.0, 200.0)], &[short], &Options::default());
    let row_c = row(&c, "connections");
    assert_eq!(row_c.verdict, Verdict::Fail);
    assert!(row_c.detail.as_deref().expect("detail").contains("990 of 1000 requested"));

    let mut fewer = result(SCENARIO, 100_000.0, 200.0);
    (fewer.connections.requested, fewer.connections.established) = (500, 500);
    let c = compare_runs(&[result(SCENARIO, 100_000.0, 200.0)], &[fewer], &Options::default());
    assert!(row(&c, "connections").detail.as_deref().expect("detail").contains("fewer than BASE"));
    assert!(!c.passed);
}

/// An interrupted NEW run fails: its figures are partial.
#[test]
fn interrupted_run_fails() {
    let mut cut = result(SCENARIO, 100_000.0, 200.0);
    cut.interrupted = true;
    let c = compare_runs(&[result(SCENARIO, 100_000.0, 200.0)], &[cut], &Options::default());
    assert_eq!(row(&c, "interrupted").verdict, Verdict::Fail);
    assert!(!c.passed);
}

/// A scenario in BASE missing from NEW fails; one only in NEW is reported, not failed.
#[test]
fn missing_and_new_scenarios() {
    let base = [result("a", 100_000.0, 200.0), result("b", 100_000.0, 200.0)];
    let new = [result("a", 100_000.0, 200.0), result("c", 100_000.0, 200.0)];
    let c = compare_runs(&base, &new, &Options::default());
    assert_eq!(c.missing_in_new, ["b"]);
    assert_eq!(c.new_only, ["c"]);
    assert_eq!(c.scenarios.len(), 1);
    assert_eq!((c.failures, c.exit_code()), (1, 1));

    let c = compare_runs(&base[..1], &new, &Options::default());
    assert_eq!(c.new_only, ["c"]);
    assert!(c.passed, "a new scenario alone is not a failure");
    assert_eq!(c.unknown, ["a"], "one pair: unknown, which does not fail");
}

/// A scenario only NEW has is still checked: a run of it with mismatched bytes, an
/// interrupted one, or one short of connections fails the comparison (it passed
/// with exit 0 before), and the failure names the scenario and the file.
#[test]
fn new_only_scenarios_are_checked_too() {
    let base = [result("a", 100_000.0, 200.0)];
    let mut bad_bytes = result("c", 100_000.0, 200.0);
    bad_bytes.errors.mismatch = 3;
    let mut cut = result("d", 100_000.0, 200.0);
    cut.interrupted = true;
    let mut short = result("e", 100_000.0, 200.0);
    short.connections.established = 990;
    let new = [result("a", 100_000.0, 200.0), bad_bytes, cut, short];
    let c = compare_runs(&base, &new, &Options::default());
    assert_eq!(c.new_only, ["c", "d", "e"]);
    assert_eq!(c.new_only_failures.len(), 3, "{:?}", c.new_only_failures);
    assert!(c.new_only_failures[0].starts_with("c: "), "{:?}", c.new_only_failures);
    assert!(c.new_only_failures[0].contains("3 echoed bytes differ"));
    assert!(c.new_only_failures[1].contains("cut short"));
    assert!(c.new_only_failures[2].contains("990 of 1000 requested"));
    assert_eq!((c.failures, c.exit_code()), (3, 1));
    let text = harness::compare::render::render(&c, harness::compare::Format::Text);
    assert!(text.contains("FAIL new in NEW: c: "), "{text}");
    assert!(text.contains("3 failed checks in NEW-only scenarios"), "{text}");
}

/// Connections established but never served (they sat in the server's accept
/// queue) fail the connections check, though `established` equals `requested`.
#[test]
fn unserved_connections_fail() {
    let mut new = result(SCENARIO, 100_000.0, 200.0);
    new.connections.served = Some(400);
    new.connections.unserved = Some(600);
    let c = compare_runs(&[result(SCENARIO, 100_000.0, 200.0)], &[new], &Options::default());
    let row = row(&c, "connections");
    assert_eq!(row.verdict, Verdict::Fail);
    assert!(row.detail.as_deref().unwrap_or("").contains("600 established but never served"));
    assert!(!c.passed);
}

/// A machine 20% slower moves raw figures 20%; normalized by calibration, nothing moved.
#[test]
fn normalize_by_calibration() {
    let base = result(SCENARIO, 100_000.0, 200.0);
    let mut new = result(SCENARIO, 80_000.0, 250.0);
    let cal = new.calibration.as_mut().expect("calibration");
    cal.round_trips_per_sec *= 0.8;
    cal.p50_us *= 1.25;
    let (base, new) = (vec![base; 6], vec![new; 6]);
    let raw = compare_runs(&base, &new, &Options::default());
    assert_eq!(row(&raw, "throughput").verdict, Verdict::Regressed);
    assert!((row(&raw, "calibration").ratio.expect("ratio") - 0.8).abs() < 1e-9);

    let options = Options { normalize: true, ..Options::default() };
    let c = compare_runs(&base, &new, &options);
    assert!(c.normalized);
    let tp = row(&c, "throughput");
    assert_eq!(tp.verdict, Verdict::Same);
    assert!((tp.ratio.expect("ratio") - 1.0).abs() < 1e-9);
    assert!((tp.raw_ratio.expect("raw ratio") - 0.8).abs() < 1e-9);
    assert_eq!(row(&c, "p99").verdict, Verdict::Same);
    assert!(c.passed);
}

/// Another CPU, kernel or sysctl on NEW is noted (a reader must know the sides were
/// not measured alike), and changes no verdict by itself.
#[test]
fn different_machine_is_noted() {
    let base = result(SCENARIO, 100_000.0, 200.0);
    let mut new = base.clone();
    new.environment.cpu_model = "Other CPU".into();
    new.environment.kernel = "6.1.0".into();
    new.environment.somaxconn = "128".into();
    let c = compare_runs(&[base], &[new], &Options::default());
    let notes = &c.scenarios[0].notes;
    assert!(notes
        .iter()
        .any(|n| n == "machines differ: Test CPU (2 cores) -> Other CPU (2 cores)"));
    assert!(notes.iter().any(|n| n.starts_with("environment differs: kernel ")), "{notes:?}");
    assert!(notes.iter().any(|n| n.ends_with("somaxconn  -> 128")), "{notes:?}");
    assert!(c.passed);
}
