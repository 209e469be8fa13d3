//! `loadgen suite --base DIR`: two builds measured side by side in one run. The
//! base build here is a copy of the same echod (so nothing may regress), or a
//! wrapper that refuses one model as an older build would refuse a flag it lacks.

use std::path::{Path, PathBuf};

use harness::compare::{compare_paths, Options};
use harness::suite_index::Side;

use super::{free_port, index, loadgen, temp, SCENARIO};
use crate::common::stderr;

/// The echod beside the loadgen under test.
fn echod() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_loadgen")).with_file_name("echod")
}

/// A base folder holding a copy of echod and nothing else (no tokio-echo).
fn base_with_copy(name: &str) -> PathBuf {
    let dir = temp(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy(echod(), dir.join("echod")).expect("copy echod");
    dir
}

fn run_suite(out: &Path, base: &Path, extra: &[&str]) -> std::process::Output {
    let port = free_port();
    let (out, base) = (out.to_str().expect("utf-8"), base.to_str().expect("utf-8"));
    let mut args = vec!["suite", "--quick", "--no-ports", "--out", out, "--port", &port];
    // Other tests run beside this one: their CPU is not what these tests are about.
    args.extend_from_slice(&["--disturbed-above", "64"]);
    // One top-up round at most: enough to see one, short enough for a test.
    args.extend_from_slice(&["--max-rounds", "1"]);
    args.extend_from_slice(&["--base", base]);
    args.extend_from_slice(extra);
    loadgen(&args)
}

/// Two repeats run base, new, new, base on the same port into base/ and new/ under
/// one scenario name; the report has the base-vs-new table; compare of the two
/// sides passes (the same echod), and the suite folder compared with itself reads
/// the new build only.
#[test]
fn base_and_new_alternate_in_one_run() {
    let base = base_with_copy("base-copy");
    let out = temp("two-builds");
    let o = run_suite(&out, &base, &["--repeat", "2", "--only", SCENARIO]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("without tokio-echo"), "{err}");
    let idx = index(&out);
    let first: Vec<(u32, Option<Side>)> =
        idx.steps.iter().filter(|s| !s.confirm).map(|s| (s.rep, s.side)).collect();
    let (b, n) = (Some(Side::Base), Some(Side::New));
    assert_eq!(first, vec![(1, b), (1, n), (2, n), (2, b)]);
    for s in &idx.steps {
        let file = s.record.result_file.as_deref().expect("a result");
        let side = s.side.expect("a side").folder();
        // Repeats go to rep1/, rep2/; a top-up round (two pairs are too few for an
        // interval, so there is one) to confirm1/ (rep continues the count).
        let sub = if s.confirm { format!("confirm{}", s.rep - 2) } else { format!("rep{}", s.rep) };
        assert!(file.starts_with(&format!("{side}/{sub}/runs/")), "{file}");
        assert!(out.join(file).exists(), "{file}");
    }
    let info = idx.builds.as_ref().expect("builds recorded");
    assert!(!info.base_has_tokio);
    let report = std::fs::read_to_string(out.join("report.md")).expect("report");
    assert!(report.contains("## Base vs new"), "{report}");
    assert!(report.contains(&format!("| {SCENARIO} |")), "{report}");

    let sides =
        compare_paths(&out.join("base"), &out.join("new"), &Options::default()).expect("compare");
    assert_eq!(sides.scenarios.len(), 1);
    assert!(sides.scenarios[0].base_runs >= 2 && sides.scenarios[0].new_runs >= 2);
    assert!(sides.missing_in_new.is_empty() && sides.new_only.is_empty());
    let itself = compare_paths(&out, &out, &Options::default()).expect("compare");
    assert!(itself.passed);
    assert_eq!(itself.scenarios[0].new_runs, sides.scenarios[0].new_runs);
    for p in [base, out] {
        let _ = std::fs::remove_dir_all(p);
    }
}

/// A base build that cannot run a step (an older echod refusing a model it lacks):
/// the step is recorded as failed on the base side, the suite still exits 0 (the
/// new build ran everything), the scenario is one only NEW has, and the report says
/// what the base build could not run.
#[test]
fn a_scenario_only_the_new_build_can_run() {
    use std::os::unix::fs::PermissionsExt as _;
    let base = temp("base-old");
    std::fs::create_dir_all(&base).expect("mkdir");
    let script = format!(
        "#!/bin/sh\ncase \"$*\" in *--model=shared*) echo \"echod: no such model\" >&2; exit 2;; esac\n\
         exec '{}' \"$@\"\n",
        echod().display()
    );
    let wrapper = base.join("echod");
    std::fs::write(&wrapper, script).expect("write wrapper");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = temp("one-side");
    let shared = "models echod shared w=1 conns=100";
    let reuseport = "models echod reuseport w=1 conns=100";
    let o = run_suite(&out, &base, &["--only", reuseport, "--only", shared]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let idx = index(&out);
    let failed: Vec<&str> = idx
        .steps
        .iter()
        .filter(|s| s.record.error.is_some())
        .map(|s| (s.side, s.record.scenario.as_str()))
        .filter(|(side, _)| *side == Some(Side::Base))
        .map(|(_, name)| name)
        .collect();
    assert_eq!(failed, vec![shared]);
    let c =
        compare_paths(&out.join("base"), &out.join("new"), &Options::default()).expect("compare");
    // Not `passed`: one run a side on a shared machine may differ by more than 10%;
    // what matters here is that nothing is missing and nothing failed.
    assert_eq!((c.failures, c.missing_in_new.len()), (0, 0), "a NEW-only scenario is no failure");
    assert_eq!(c.new_only, vec![shared.to_string()]);
    let report = std::fs::read_to_string(out.join("report.md")).expect("report");
    assert!(report.contains("The base build could not run"), "{report}");
    for p in [base, out] {
        let _ = std::fs::remove_dir_all(p);
    }
}

/// `--base` that is not a folder, or a folder without echod: exit 2 with one line
/// naming --base and the fix, before anything runs or is written.
#[test]
fn bad_base_exits_2_before_running() {
    let out = temp("bad-base");
    let missing = temp("no-such-base");
    let o = run_suite(&out, &missing, &["--only", SCENARIO]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--base ") && err.contains("not a folder"), "{err}");
    let empty = temp("empty-base");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let o = run_suite(&out, &empty, &["--only", SCENARIO]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no executable echod") && err.contains("loadgen build-base"), "{err}");
    assert!(!out.exists(), "nothing was written");
    let _ = std::fs::remove_dir_all(empty);
}
