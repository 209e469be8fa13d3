//! `loadgen suite` end to end, kept short with `--only` (one 2.5-second step):
//! `--only` runs just the named scenario; `--confirm BASE` tops up a scenario whose
//! verdict against BASE is open, a round at a time (`confirm1/`, ...), where
//! `loadgen compare` pools the runs, until it is decided or the rounds run out; bad `--only` and `--confirm` values exit 2 with
//! one line before anything runs. The suite takes echod from beside the loadgen
//! binary (tokio-echo too, but no step here needs it), so run these through
//! `cargo test --workspace`.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::common::stderr;

use harness::suite_index::SuiteIndex;

// Not the one-connection scenario: it is host-bound, and its figures never gate.
pub(crate) const SCENARIO: &str = "scaling echod reuseport w=1 conns=100";
const RESULT: &str = "runs/01-scaling-echod-reuseport-w1-conns100.json";

/// Runs `loadgen args` (echod must be beside it); kills it after 120 s.
pub(crate) fn loadgen(args: &[&str]) -> Output {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_loadgen"));
    let echod = bin.with_file_name("echod");
    assert!(echod.exists(), "{} is missing: run `cargo test --workspace`", echod.display());
    crate::common::loadgen(args, Duration::from_secs(120))
}

/// A fresh temp folder path (not created) unique to this process and name.
pub(crate) fn temp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("loadgen-suite-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// A first port for the suite: each step listens on it plus its index in the plan,
/// so the 32 ports from it were free a moment ago. Taken below the ephemeral range
/// (32768 up), where no client socket of another test can take one meanwhile.
pub(crate) fn free_port() -> String {
    for _ in 0..200 {
        let first = 20_000 + fastrand::u16(0..12_000);
        let all_free =
            (first..first + 32).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if all_free {
            return first.to_string();
        }
    }
    panic!("no 32 free ports in 20000..32032");
}

/// `loadgen suite --quick --only SCENARIO --no-ports` plus `extra`, into `out`.
fn suite_one(out: &Path, extra: &[&str]) -> Output {
    let port = free_port();
    let out = out.to_str().expect("utf-8 path");
    let mut args =
        vec!["suite", "--quick", "--only", SCENARIO, "--no-ports", "--out", out, "--port", &port];
    // No peer is built (the suite would say so on stderr): echod's step needs none.
    args.extend_from_slice(&["--peers", "/nonexistent"]);
    // Other tests run beside this one: their CPU is not what these tests are about.
    args.extend_from_slice(&["--disturbed-above", "64"]);
    args.extend_from_slice(extra);
    loadgen(&args)
}

pub(crate) fn index(out: &Path) -> SuiteIndex {
    let text = std::fs::read_to_string(out.join("suite.json")).expect("suite.json");
    serde_json::from_str(&text).expect("suite index")
}

/// A BASE folder holding six copies of `run` with its throughput (and its server's
/// round trips per CPU-second) multiplied by `factor`: enough runs for an unpaired 95% interval once NEW has three.
fn base_from(run: &Path, factor: f64, name: &str) -> PathBuf {
    let base = temp(name);
    std::fs::create_dir_all(&base).expect("mkdir");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run).expect("read")).expect("json");
    let t = &mut json["throughput"];
    let msgs = t["msgs_per_sec"].as_f64().expect("msgs_per_sec");
    t["msgs_per_sec"] = (msgs * factor).into();
    // The server's round trips per CPU-second gate too: BASE is as much faster there.
    if let Some(rt) = json["server"]["rt_per_cpu_s"].as_f64() {
        json["server"]["rt_per_cpu_s"] = (rt * factor).into();
    }
    for i in 1..=6 {
        std::fs::write(base.join(format!("base{i}.json")), json.to_string()).expect("write");
    }
    base
}

/// `--only` runs one scenario; against a BASE 100x faster its verdict is open
/// (one NEW run against six: too few for an interval), so it runs one more round at
/// a time until compare can call it (three runs: REGRESSED), and no more;
/// `--max-rounds 0` or `--top-up-budget 0s` runs nothing more and says what stayed
/// open.
#[test]
fn only_and_confirm() {
    let first = temp("first");
    let o = suite_one(&first, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let idx = index(&first);
    assert_eq!(idx.steps.len(), 1);
    assert_eq!(idx.steps[0].record.scenario, SCENARIO);
    assert!(first.join(RESULT).exists());
    assert!(idx.ports_note.is_some(), "the four-tuple experiment did not run");

    let fast = base_from(&first.join(RESULT), 100.0, "fast-base");
    let second = temp("second");
    let o = suite_one(&second, &["--confirm", fast.to_str().expect("utf-8"), "--max-rounds", "5"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("top-up 1: 1 scenario(s) open than"), "{err}");
    assert!(err.contains(&format!("{SCENARIO} (0.")), "{err}");
    assert!(err.contains("top-up 2: 1 scenario(s) open than"), "{err}");
    assert!(err.contains("top-up: every scenario decided than"), "{err}");
    assert!(second.join("confirm2").join(RESULT).exists());
    assert!(!second.join("confirm3").exists(), "a decided scenario runs no more: {err}");
    let idx = index(&second);
    let flags: Vec<(u32, bool)> = idx.steps.iter().map(|s| (s.rep, s.confirm)).collect();
    assert_eq!(flags, vec![(1, false), (2, true), (3, true)]);
    let cmp = harness::compare::compare_paths(&fast, &second, &Default::default()).expect("cmp");
    assert_eq!((cmp.scenarios[0].new_runs, cmp.passed), (3, false));

    // No top-up rounds allowed, or no time for one: nothing more runs, and the open
    // scenario is named.
    let slow = base_from(&first.join(RESULT), 0.01, "slow-base");
    for (i, limit) in [["--max-rounds", "0"], ["--top-up-budget", "0s"]].iter().enumerate() {
        let third = temp(&format!("third-{i}"));
        let o =
            suite_one(&third, &["--confirm", slow.to_str().expect("utf-8"), limit[0], limit[1]]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{err}");
        assert!(err.contains("1 scenario(s) still open than"), "{err}");
        assert!(err.contains("after 0 round(s)"), "{err}");
        assert!(!third.join("confirm1").exists());
        assert_eq!(index(&third).steps.len(), 1);
        let _ = std::fs::remove_dir_all(third);
    }

    for p in [first, second, fast, slow] {
        let _ = std::fs::remove_dir_all(p);
    }
}

/// A scenario name that is not in the plan, and a BASE that cannot be read: exit 2,
/// one line naming the flag and the fix, before anything runs or is written.
#[test]
fn bad_only_and_confirm_exit_2_before_running() {
    let out = temp("bad");
    let o = suite_one(&out, &["--only", "scaling echod conns=7"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--only 'scaling echod conns=7': no such scenario"), "{err}");
    assert!(err.contains(SCENARIO), "the valid names are listed: {err}");

    let missing = temp("no-such-base");
    let o = suite_one(&out, &["--confirm", missing.to_str().expect("utf-8")]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("loadgen: --confirm: "), "{err}");
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(!out.exists(), "nothing was written");
}

mod base;
mod base_build;
mod force;
mod tools;

/// `--out` holding an earlier run is refused (exit 2, one line) before anything runs
/// and left as it was; `--force` deletes what its marker lists first; a folder
/// without a suite's marker is never emptied, even with `--force`.
#[test]
fn non_empty_out_is_refused_unless_forced() {
    let out = temp("stale");
    let stale = out.join("rep1/runs/old.json");
    std::fs::create_dir_all(stale.parent().expect("parent")).expect("mkdir");
    std::fs::write(&stale, "{}").expect("write");
    // An earlier suite run's marker, listing what it wrote.
    std::fs::write(out.join(".loadgen-suite"), "loadgen suite output\nrep1\n").expect("marker");
    let o = suite_one(&out, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("is not empty") && err.contains("--force"), "{err}");
    assert!(stale.exists(), "nothing was touched");

    let o = suite_one(&out, &["--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stale.exists(), "the stale run is gone");
    assert!(out.join("suite.json").exists());

    let other = temp("not-a-suite");
    std::fs::create_dir_all(&other).expect("mkdir");
    std::fs::write(other.join("notes.txt"), "mine").expect("write");
    let o = suite_one(&other, &["--force"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no .loadgen-suite marker"), "{err}");
    assert!(other.join("notes.txt").exists());
    for p in [out, other] {
        let _ = std::fs::remove_dir_all(p);
    }
}

/// Every process under `pid` (from /proc/PID/task/*/children).
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else { continue };
        for t in tasks.flatten() {
            let kids = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            for k in kids.split_whitespace().filter_map(|k| k.parse::<u32>().ok()) {
                out.push(k);
                todo.push(k);
            }
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// kill -9 of `loadgen suite` takes its server and its loadgen run along (they get
/// SIGTERM when the suite dies): nothing is left running, nothing listens on the
/// step's port. Before, the echod stayed listening for good.
#[test]
fn killed_suite_leaves_nothing_running() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let out = temp("killed");
    let port = free_port();
    let mut suite = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["suite", "--quick", "--only", SCENARIO, "--no-ports", "--port", &port])
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn suite");
    // Bounded wait until the server and the loadgen run are both up (gives up at 20 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut tree = Vec::new();
    while Instant::now() < deadline {
        tree = descendants(suite.id());
        let names: Vec<String> = tree
            .iter()
            .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).ok())
            .collect();
        if names.iter().any(|n| n.trim() == "echod") && names.iter().any(|n| n.trim() == "loadgen")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(tree.len() >= 2, "the suite started its server and a run: {tree:?}");
    suite.kill().expect("SIGKILL the suite");
    suite.wait().expect("reap");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tree.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left: Vec<u32> = tree.iter().copied().filter(|&p| alive(p)).collect();
    assert!(left.is_empty(), "left running after the suite died: {left:?}");
    let first: u16 = port.parse().expect("port");
    assert!(std::net::TcpStream::connect(("127.0.0.1", first)).is_err(), "still listening");
    let _ = std::fs::remove_dir_all(out);
}

/// The quick profile's churn step end to end: loadgen churns echod's connections
/// (one echo each), the result carries the churn and the server's cost, and the
/// report has its section with the new-connection rate.
#[test]
fn churn_step_and_its_section() {
    let out = temp("churn");
    let port = free_port();
    let o = loadgen(&[
        "suite",
        "--quick",
        "--only",
        "churn echod reuseport w=1 conns=100",
        "--no-ports",
        "--out",
        out.to_str().expect("utf-8"),
        "--port",
        &port,
        "--peers",
        "/nonexistent",
        "--disturbed-above",
        "64",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let idx = index(&out);
    let step = idx.steps.iter().find(|s| s.record.scenario.starts_with("churn ")).expect("step");
    let file = out.join(step.record.result_file.as_deref().expect("a result file"));
    let r: engine::result::RunResult =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("result")).expect("json");
    let churn = r.churn.as_ref().expect("churn");
    assert!(churn.opened > 0 && churn.failed() == 0, "{churn:?}");
    assert_eq!(r.config.churn.as_ref().map(|c| c.lifetime.as_str()), Some("1"));
    assert!(r.server.as_ref().is_some_and(|s| s.cpu_s > 0.0), "the server's cost is watched");
    let report = std::fs::read_to_string(out.join("report.md")).expect("report");
    assert!(report.contains("## Churn: connections that come and go"), "{report}");
    assert!(report.contains("churn echod reuseport w=1") || report.contains("echod reuseport w=1"));
    let _ = std::fs::remove_dir_all(&out);
}
