//! Pairs on crafted result folders (base/repK/runs and new/repK/runs, as the
//! suite's `--base` mode writes them): the server's cost per round trip, disturbed
//! runs left out, the unpaired fallback, too few pairs, and what the text shows.

use engine::result::RunResult;
use harness::compare::{compare_paths, render, Comparison, Format, Options, Verdict};

use super::fixtures::{repeat_speed, result, scaled, with_cost, TempDir};
use super::verdicts::row;

const SCENARIO: &str = "scaling echod reuseport w=1 conns=100";

/// One repeat's pair with the server's round trips per CPU-second, NEW's disturbed
/// or not, written at `rep{k}/runs/01-s.json` under base/ and new/.
fn write_pair(dir: &TempDir, k: u32, (base, new): (&RunResult, &RunResult), rt: (f64, f64)) {
    let (speed, noise) = repeat_speed(k);
    let disturbed = false;
    let b = with_cost(&scaled(base, speed), Some(rt.0 * speed), disturbed);
    let n = with_cost(&scaled(new, speed * noise), Some(rt.1 * speed * noise), disturbed);
    dir.write_text(&format!("base/rep{k}/runs/01-s.json"), &b);
    dir.write_text(&format!("new/rep{k}/runs/01-s.json"), &n);
}

fn compare(dir: &TempDir) -> Comparison {
    compare_paths(&dir.path().join("base"), &dir.path().join("new"), &Options::default())
        .expect("compare")
}

/// rt_per_cpu gates: the same throughput at 10% more server CPU per round trip
/// regresses (exit 1); cpu_us_per_rt is shown, informational.
#[test]
fn rt_per_cpu_gates() {
    let dir = TempDir::new("rt-per-cpu");
    let r = result(SCENARIO, 100_000.0, 200.0);
    for k in 1..=8 {
        write_pair(&dir, k, (&r, &r), (500_000.0, 450_000.0));
    }
    let c = compare(&dir);
    assert_eq!(row(&c, "throughput").verdict, Verdict::Same);
    let rt = row(&c, "rt_per_cpu");
    assert_eq!((rt.verdict, rt.gating, rt.n, rt.paired), (Verdict::Regressed, true, 8, true));
    let cpu = row(&c, "cpu_us_per_rt");
    assert_eq!((cpu.verdict, cpu.gating), (Verdict::Regressed, false));
    assert_eq!((c.regressions, c.exit_code()), (1, 1));
    assert!(!c.scenarios[0].rows.iter().any(|r| r.metric == "cs_per_rt"), "absent: not compared");
}

/// Results without the server's cost (older files) have no rt_per_cpu row at all.
#[test]
fn absent_metrics_are_not_compared() {
    let dir = TempDir::new("no-cost");
    super::fixtures::write_pairs(
        &dir,
        &result(SCENARIO, 1e5, 200.0),
        &result(SCENARIO, 1e5, 200.0),
        6,
    );
    let c = compare(&dir);
    assert!(!c.scenarios[0].rows.iter().any(|r| r.metric == "rt_per_cpu"));
    assert_eq!(row(&c, "throughput").verdict, Verdict::Same);
    assert!(c.passed);
}

/// A disturbed run is left out with its pair, and a note names it: a NEW run at
/// half speed that would have made 7 pairs unknown leaves 6 clean ones, same.
#[test]
fn disturbed_runs_are_dropped_with_their_pair() {
    let dir = TempDir::new("disturbed");
    let r = result(SCENARIO, 100_000.0, 200.0);
    for k in 1..=6 {
        write_pair(&dir, k, (&r, &r), (500_000.0, 500_000.0));
    }
    let slow = with_cost(&scaled(&r, 0.5), Some(250_000.0), true);
    dir.write_text("base/rep7/runs/01-s.json", &with_cost(&r, Some(500_000.0), false));
    let bad = dir.write_text("new/rep7/runs/01-s.json", &slow);
    let c = compare(&dir);
    let tp = row(&c, "throughput");
    assert_eq!((tp.verdict, tp.n), (Verdict::Same, 6));
    let notes = &c.scenarios[0].notes;
    let note = notes.iter().find(|n| n.contains("disturbed")).expect("a note");
    assert!(note.contains("with their pairs") && note.contains(&bad.display().to_string()));
    assert!(c.passed);
}

/// With no paths in common (two unrelated folders) the runs compare unpaired:
/// 8 runs a side with a 15% drop regress, the row says so, and a note explains.
#[test]
fn unpaired_fallback() {
    let dir = TempDir::new("unpaired");
    for k in 1..=8 {
        let (speed, _) = repeat_speed(k);
        dir.write(&format!("base/old-{k}.json"), &scaled(&result(SCENARIO, 1e5, 200.0), speed));
        dir.write(&format!("new/day2/{k}.json"), &scaled(&result(SCENARIO, 0.85e5, 200.0), speed));
    }
    let c = compare(&dir);
    let tp = row(&c, "throughput");
    assert_eq!((tp.verdict, tp.paired, tp.n), (Verdict::Regressed, false, 8));
    assert!(c.scenarios[0].notes.iter().any(|n| n.starts_with("unpaired")));
    let text = render::render(&c, Format::Text);
    assert!(text.contains("8 unpaired"), "{text}");
}

/// Five pairs are too few for a 95% interval: a 20% drop is unknown, the exit code
/// 0, and the closing line asks for more pairs.
#[test]
fn too_few_pairs_is_unknown() {
    let dir = TempDir::new("few");
    let new = result(SCENARIO, 80_000.0, 200.0);
    super::fixtures::write_pairs(&dir, &result(SCENARIO, 100_000.0, 200.0), &new, 5);
    let c = compare(&dir);
    let tp = row(&c, "throughput");
    assert_eq!((tp.verdict, tp.interval, tp.n), (Verdict::Unknown, None, 5));
    assert!((tp.ratio.expect("the estimate still") - 0.8).abs() < 0.01);
    assert_eq!((c.passed, c.exit_code()), (true, 0));
    assert_eq!(c.unknown, [SCENARIO]);
    let text = render::render(&c, Format::Text);
    assert!(text.contains("(too few pairs)"), "{text}");
    assert!(text.contains("1 scenario unknown: more pairs needed (suite --base tops them up)"));
}

/// The text shows the ratio with its interval, the pairs, what it could show, and
/// "no difference shown" when the interval holds 1; JSON carries the same.
#[test]
fn render_shows_the_interval() {
    let dir = TempDir::new("render");
    let noisy = [1.0, 0.9, 1.1, 1.05, 0.95, 1.0, 0.97, 1.02];
    for (k, n) in (1..).zip(noisy) {
        dir.write(&format!("base/rep{k}/runs/01-s.json"), &result(SCENARIO, 1e5, 200.0));
        dir.write(&format!("new/rep{k}/runs/01-s.json"), &result(SCENARIO, 1e5 * n, 200.0));
    }
    let c = compare(&dir);
    let text = render::render(&c, Format::Text);
    let line = text.lines().find(|l| l.starts_with("throughput")).expect("row");
    assert!(line.contains("1.00× [0.95, 1.05]"), "{line}");
    assert!(line.contains("8 pairs") && line.contains("±"), "{line}");
    assert!(line.contains("unknown, no difference shown"), "{line}");
    let json: serde_json::Value =
        serde_json::from_str(&render::render(&c, Format::Json)).expect("JSON");
    let tp = &json["scenarios"][0]["rows"][0];
    assert_eq!(
        (tp["metric"].as_str(), tp["verdict"].as_str()),
        (Some("throughput"), Some("unknown"))
    );
    assert_eq!((tp["n"].as_u64(), tp["paired"].as_bool()), (Some(8), Some(true)));
    assert!(tp["interval"]["low"].as_f64().expect("low") < 1.0 && tp["mde"].as_f64().is_some());
    assert_eq!(json["unknown"][0], SCENARIO);
}
