//! `loadgen compare` through the binary: exit codes 0 / 1 / 2, and the markdown and
//! JSON formats carry the verdicts.

use std::process::{Command, Output};

use super::fixtures::{result, write_pairs, TempDir};

fn loadgen(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("compare")
        .args(args)
        .output()
        .expect("run loadgen")
}

/// A BASE and NEW folder of 6 pairs, NEW with `new_tp` throughput (BASE has 100k).
fn sides(new_tp: f64) -> TempDir {
    pairs(new_tp, 6)
}

fn pairs(new_tp: f64, n: u32) -> TempDir {
    let dir = TempDir::new("cli");
    let base = result("conns=1000 size=64", 100_000.0, 200.0);
    write_pairs(&dir, &base, &result("conns=1000 size=64", new_tp, 200.0), n);
    dir
}

fn run(dir: &TempDir, extra: &[&str]) -> (i32, String, String) {
    let base = dir.path().join("base");
    let new = dir.path().join("new");
    let mut args = vec![base.as_os_str(), new.as_os_str()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    let out = loadgen(&args);
    let code = out.status.code().expect("exit code");
    (code, String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// Nothing regressed: exit 0, a text table ending in `result: ok`.
#[test]
fn exit_0_when_nothing_regressed() {
    let (code, stdout, stderr) = run(&sides(98_000.0), &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("== conns=1000 size=64 (BASE 6 runs, NEW 6 runs) =="), "{stdout}");
    assert!(stdout.contains("result: ok: nothing regressed"), "{stdout}");
    assert!(!stdout.contains("unknown: more pairs needed"), "{stdout}");
}

/// Unknown does not fail: 3 pairs at half the throughput exit 0, and the closing
/// line lists the scenario as needing more pairs.
#[test]
fn exit_0_when_unknown() {
    let (code, stdout, stderr) = run(&pairs(50_000.0, 3), &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("(too few pairs)"), "{stdout}");
    assert!(
        stdout.contains("1 scenario unknown: more pairs needed (suite --base tops them up)"),
        "{stdout}"
    );
}

/// A regression past the threshold: exit 1; a looser threshold lets it pass.
/// 8 pairs: each threshold given to another metric makes it one more gated figure,
/// and 2 figures need 7 pairs to hold at 97.5%.
#[test]
fn exit_1_on_regression_and_threshold_flags() {
    let dir = pairs(85_000.0, 8);
    let (code, stdout, _) = run(&dir, &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("REGRESSED"), "{stdout}");
    assert_eq!(run(&dir, &["--threshold", "20%"]).0, 0);
    assert_eq!(run(&dir, &["--threshold-for", "throughput=20%"]).0, 0);
    assert_eq!(run(&dir, &["--threshold-for", "p99=50%"]).0, 1);
}

/// Unreadable input: exit 2 with one line naming the file and the field.
#[test]
fn exit_2_on_unreadable_input() {
    let dir = sides(100_000.0);
    let bad = dir.write_text("new/corrupt.json", "{ not json");
    let (code, stdout, stderr) = run(&dir, &[]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("loadgen: "), "{stderr}");
    assert!(stderr.contains(&bad.display().to_string()), "{stderr}");

    let dir = sides(100_000.0);
    let mut old = result("conns=1000 size=64", 1.0, 1.0);
    old.schema_version = 2;
    dir.write("new/s.json", &old);
    let (code, _, stderr) = run(&dir, &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("field `schema_version`: found 2, expected 1"), "{stderr}");
}

/// Bad flags exit 2 too, naming the fix.
#[test]
fn exit_2_on_bad_flags() {
    let dir = sides(100_000.0);
    let (code, _, stderr) = run(&dir, &["--threshold-for", "mismatch=5%"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("not a metric with a threshold"), "{stderr}");
    assert_eq!(run(&dir, &["--threshold", "ten"]).0, 2);
    let (code, _, stderr) = run(&dir, &["--statistic", "mean"]);
    assert_eq!(code, 2);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--statistic") && stderr.contains("best"), "{stderr}");
}

/// Markdown: a heading with the outcome and a table row with the verdict in bold.
#[test]
fn markdown_carries_the_verdicts() {
    let dir = sides(85_000.0);
    let (code, stdout, _) = run(&dir, &["--format", "markdown"]);
    assert_eq!(code, 1);
    assert!(
        stdout.starts_with("### loadgen compare: **REGRESSED: 1 regressed metric**"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| metric | base | new | new/base | n | could show | verdict |"),
        "{stdout}"
    );
    let tp = stdout.lines().find(|l| l.starts_with("| throughput |")).expect("row");
    assert!(tp.contains("| 0.85× [0.8"), "{tp}");
    assert!(tp.ends_with("| **REGRESSED** |"), "{tp}");
    assert!(tp.contains("| 6 pairs |"), "{tp}");
    assert!(stdout.contains("| mismatched bytes | 0 | 0 |  |  |  | ok |"), "{stdout}");
}

/// JSON parses, and carries ratio, verdict and the outcome.
#[test]
fn json_carries_the_verdicts() {
    let dir = sides(85_000.0);
    let (code, stdout, _) = run(&dir, &["--format", "json", "--normalize"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    assert_eq!(v["passed"], false);
    assert_eq!(v["normalized"], true);
    assert_eq!(v["statistic"], "best");
    assert_eq!(v["regressions"], 1);
    let rows = v["scenarios"][0]["rows"].as_array().expect("rows");
    let tp = rows.iter().find(|r| r["metric"] == "throughput").expect("throughput row");
    assert_eq!(tp["verdict"], "regressed");
    assert!((tp["ratio"].as_f64().expect("ratio") - 0.85).abs() < 0.01);
    assert!(tp["interval"]["high"].as_f64().expect("high") < 1.0);
    assert_eq!((tp["n"].as_u64(), tp["paired"].as_bool()), (Some(6), Some(true)));
    assert!(tp["mde"].as_f64().expect("mde") > 0.0);
    assert_eq!(tp["unit"], "calibrated");
}

/// --help documents the metrics, the missing-scenario rule, exit codes and examples.
#[test]
fn help_documents_the_rules() {
    let out = loadgen(&[std::ffi::OsStr::new("--help")]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for needle in [
        "--threshold-for",
        "missing in NEW is a FAILURE",
        "Exit codes",
        "Examples:",
        "--normalize",
        "--statistic",
        "rt_per_cpu",
        "REGRESSED",
        "unknown",
        "could show",
        "Pairs:",
    ] {
        assert!(help.contains(needle), "help lacks {needle:?}:\n{help}");
    }
}

/// A closed stdout (`loadgen compare ... | head -0`) ends the command quietly with
/// its verdict's exit code: no panic, nothing on stderr. It panicked before
/// (`print!` on a broken pipe) or exited 2 naming stdout.
#[test]
fn closed_stdout_ends_quietly() {
    use std::process::Stdio;
    let dir = sides(50_000.0);
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("compare")
        .arg(dir.path().join("base"))
        .arg(dir.path().join("new"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take()); // the reader is gone before a byte is written
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1), "the regression's exit code");
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A result of `scenario` whose latency histogram holds `values` (ns).
fn with_latency(scenario: &str, values: &[u64]) -> engine::result::RunResult {
    let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("h");
    for v in values {
        h.record(*v).expect("record");
    }
    let mut r = result(scenario, 100_000.0, 200.0);
    r.histograms.latency = engine::result::encode_histogram(&h).expect("encode");
    r
}

/// `--plot FILE` draws BASE and NEW on one percentile axis (each side's runs added);
/// with several scenarios, one chart each beside FILE.
#[test]
fn plot_overlays_base_and_new() {
    let dir = TempDir::new("plot");
    dir.write("base/a.json", &with_latency("a", &[10_000, 20_000, 30_000]));
    dir.write("base/a2.json", &with_latency("a", &[11_000, 21_000]));
    dir.write("new/a.json", &with_latency("a", &[40_000, 50_000]));
    let svg = dir.path().join("out.svg");
    let (code, _, stderr) =
        run(&dir, &["--plot", svg.to_str().expect("utf-8"), "--threshold", "1000%"]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&svg).expect("the chart");
    // The two curves in the first two colours of the palette (axes are black/grey).
    assert!(text.contains("#1F77B4") && text.contains("#D62728"), "two curves: {text}");
    assert!(text.contains("BASE (2 runs, 5 round trips)"), "{text}");
    assert!(text.contains("NEW (1 run, 2 round trips)"), "{text}");

    dir.write("base/b.json", &with_latency("scaling b conns=10", &[10_000]));
    dir.write("new/b.json", &with_latency("scaling b conns=10", &[10_000]));
    let (code, _, stderr) =
        run(&dir, &["--plot", svg.to_str().expect("utf-8"), "--threshold", "1000%"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(dir.path().join("out-a.svg").exists(), "{stderr}");
    assert!(dir.path().join("out-scaling-b-conns10.svg").exists(), "{stderr}");
}
