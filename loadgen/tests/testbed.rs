//! Tests of `loadgen testbed`: echod and agents in network namespaces the command
//! makes itself (real sockets on a bridge, addresses from 198.18.0.0/15), bounded;
//! where this machine cannot make namespaces the run tests print `skipped: <why>`.
//! echod must be beside the loadgen under test (`cargo build --workspace`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common;

/// How long one small testbed run may take (it takes about 10 s).
const LIMIT: Duration = Duration::from_secs(120);

/// A fresh folder for one test's results.
fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loadgen-testbed-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Asserts echod sits beside the loadgen under test.
fn echod_is_built() {
    let echod = Path::new(env!("CARGO_BIN_EXE_loadgen")).with_file_name("echod");
    assert!(echod.exists(), "{} is missing: run `cargo build --workspace`", echod.display());
}

/// Runs `loadgen testbed` with `args` into `out`.
fn testbed(args: &[&str], out: &Path) -> std::process::Output {
    let out = out.to_str().expect("a UTF-8 temp folder");
    let mut all = vec!["testbed"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", out]);
    common::loadgen(&all, LIMIT)
}

/// Bad input exits 2 with one line naming the flag, before anything is built.
#[test]
fn bad_input_is_one_line_exit_2() {
    let out = out_dir("bad");
    for (args, flag) in [
        (&["--agents", "0"][..], "--agents"),
        (&["--agents", "51"][..], "--agents"),
        (&["--agents", "3", "--conns", "2"][..], "--conns"),
        (&["--size", "8"][..], "--size"),
    ] {
        let o = testbed(args, &out);
        let err = common::stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
    }
    assert!(!out.exists(), "nothing is made on bad input");
}

/// `--inner` refuses to build anything outside a fresh private namespace.
#[test]
fn inner_refuses_the_host_namespace() {
    echod_is_built();
    let out = out_dir("inner");
    let o = testbed(&["--inner", "--host-netns", "net:[1]"], &out);
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    assert!(common::stderr(&o).contains("private network namespace"));
}

/// The reason to skip when the run could not make its namespaces, else None.
fn cannot_make_namespaces(o: &std::process::Output) -> Option<String> {
    let err = common::stderr(o);
    let refused = err.contains("cannot make a private network namespace")
        || err.contains("cannot build the testbed's network");
    (o.status.code() == Some(2) && refused).then(|| err.trim().to_string())
}

/// Two agents end in one merged result whose connections are the sum of theirs,
/// with no mismatch; the server's own view shows two peer addresses, the agents'.
#[test]
fn two_agents_merge_into_one_result() {
    echod_is_built();
    let out = out_dir("two");
    let o = testbed(
        &[
            "--agents",
            "2",
            "--conns",
            "200",
            "--warmup",
            "1s",
            "--duration",
            "2s",
            "--port",
            "12700",
        ],
        &out,
    );
    if let Some(reason) = cannot_make_namespaces(&o) {
        println!("skipped: {reason}");
        return;
    }
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{}", common::stderr(&o));
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.join(name)).expect(name)).expect(name)
    };
    let tb = read("testbed.json");
    let merged = read("merged.json");
    let agents = tb["agents"].as_array().expect("agents");
    assert_eq!(agents.len(), 2);
    let sum: u64 = agents.iter().map(|a| a["summary"]["established"].as_u64().expect("n")).sum();
    assert_eq!(sum, 200);
    assert_eq!(merged["connections"]["established"], 200, "{stdout}");
    assert_eq!(merged["connections"]["requested"], 200);
    assert_eq!(merged["errors"]["mismatch"], 0);
    assert_eq!(tb["merged_summary"]["established"], 200);
    let view = &tb["server_view"];
    let peers: Vec<&str> = view["peers"]
        .as_array()
        .expect("peers")
        .iter()
        .filter_map(|p| p["addr"].as_str())
        .collect();
    assert_eq!(peers, ["198.18.0.2", "198.18.0.3"], "{stdout}");
    assert_eq!(view["distinct_local_ports"], 1);
    assert!(tb["problems"].as_array().expect("problems").is_empty());
    assert!(stdout.contains("merged: 200 of 200 connections"), "{stdout}");
    let _ = std::fs::remove_dir_all(&out);
}

/// SIGTERM in the middle of a run stops everything it started and exits 143.
#[test]
fn sigterm_stops_everything() {
    echod_is_built();
    let out = out_dir("term");
    let out_text = out.to_str().expect("UTF-8").to_string();
    let args =
        ["testbed", "--agents", "2", "--conns", "20", "--duration", "30s", "--port", "12710"];
    let mut run =
        common::spawn(&[&args[..], &["--out", &out_text]].concat(), &std::env::temp_dir(), None);
    // Both agents have started once their logs exist.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !(out.join("agent-1.log").exists() || std::time::Instant::now() > deadline) {
        if !run.child.running() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if !out.join("agent-1.log").exists() {
        let (_, _, err) = run.finish(Duration::from_secs(5));
        println!("skipped: the agents did not start: {}", err.join(" / "));
        return;
    }
    std::thread::sleep(Duration::from_millis(500));
    run.signal("TERM");
    let (code, _, err) = run.finish(Duration::from_secs(60));
    assert_eq!(code, Some(143), "{err:?}");
    let left: Vec<String> = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&out_text))
        .collect();
    assert!(left.is_empty(), "still running: {left:?}");
    let _ = std::fs::remove_dir_all(&out);
}

/// Eight agents: every one's lateness against the start time is in testbed.json
/// (min, median, max over the eight) and in the text; the figures themselves are
/// measured in benchmarks, not asserted here.
#[test]
fn eight_agents_report_their_start_skew() {
    echod_is_built();
    let out = out_dir("eight");
    let args = ["--agents", "8", "--conns", "400", "--warmup", "500ms", "--duration", "1s"];
    let o = testbed(&[&args[..], &["--port", "12720"]].concat(), &out);
    if let Some(reason) = cannot_make_namespaces(&o) {
        println!("skipped: {reason}");
        return;
    }
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{}", common::stderr(&o));
    let tb: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("testbed.json")).expect("read"))
            .expect("JSON");
    let agents = tb["agents"].as_array().expect("agents");
    assert_eq!(agents.len(), 8);
    let late: Vec<f64> =
        agents.iter().map(|a| a["summary"]["late_ms"].as_f64().expect("late_ms")).collect();
    let skew = &tb["start_skew"];
    assert_eq!(skew["agents"], 8, "{tb}");
    let max = late.iter().copied().fold(f64::MIN, f64::max);
    assert_eq!(skew["max_ms"].as_f64(), Some(max));
    assert!(stdout.contains("start: 8 agents began their warm-up"), "{stdout}");
    println!("start skew of 8 agents: {skew}");
    let _ = std::fs::remove_dir_all(&out);
}

/// An agent killed mid-run (SIGKILL) is a missing shard: the others finish, the
/// merged result counts its connections requested and not established, the run
/// says which agent and exits 1; nothing waits on it.
#[test]
fn a_killed_agent_is_a_missing_shard() {
    echod_is_built();
    let out = out_dir("killed");
    let out_text = out.to_str().expect("UTF-8").to_string();
    let args = [
        "testbed",
        "--agents",
        "3",
        "--conns",
        "30",
        "--warmup",
        "500ms",
        "--duration",
        "4s",
        "--port",
        "12730",
    ];
    let mut run =
        common::spawn(&[&args[..], &["--out", &out_text]].concat(), &std::env::temp_dir(), None);
    // Agent 1's process: its command line names its result file in the out folder.
    let victim = format!("{out_text}/agent-1.json");
    let find = || {
        std::fs::read_dir("/proc").ok()?.filter_map(|e| e.ok()).find_map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            (cmd.contains(&victim) && cmd.contains("--shard")).then_some(pid)
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut pid = None;
    while pid.is_none() && std::time::Instant::now() < deadline && run.child.running() {
        pid = find();
        std::thread::sleep(Duration::from_millis(50));
    }
    let Some(pid) = pid else {
        let (_, _, err) = run.finish(Duration::from_secs(30));
        println!("skipped: agent 1 did not start: {}", err.join(" / "));
        return;
    };
    // Into its run: connected, and most likely measuring.
    std::thread::sleep(Duration::from_millis(2500));
    let killed = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    assert!(killed.is_ok_and(|s| s.success()), "kill {pid}");
    let (code, stdout, err) = run.finish(Duration::from_secs(90));
    assert_eq!(code, Some(1), "{stdout:?} {err:?}");
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.join(name)).expect(name)).expect(name)
    };
    let tb = read("testbed.json");
    let problems = tb["problems"].to_string();
    assert!(problems.contains("agent 1 was killed by signal 9"), "{problems}");
    let agents = tb["agents"].as_array().expect("agents");
    assert_eq!(agents[0]["exit_code"], 0, "{tb}");
    assert_eq!(agents[2]["exit_code"], 0, "{tb}");
    let merged = read("merged.json");
    assert_eq!(merged["connections"]["requested"], 30, "{merged}");
    assert_eq!(merged["connections"]["established"], 20, "the two others' shares");
    let _ = std::fs::remove_dir_all(&out);
}
