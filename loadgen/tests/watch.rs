//! `--watch-pid` end to end: the binary watching a real echod reports its CPU
//! time, round trips per server CPU-second and context switches; a spinning
//! process beside the run marks the machine disturbed; a pid that does not exist
//! is refused before any traffic.

use std::time::{Duration, Instant};

use common::child::{Child, Spec};
use common::procfs;
use engine::result::RunResult;

use crate::common::{echod_on_loopback, loadgen, stderr};
use crate::compare::fixtures::TempDir;

/// Runs loadgen for 1 s measured against `addr` in `processes` processes,
/// watching `pid`; its result.
fn watched_run(dir: &TempDir, addr: &str, pid: u32, processes: &str) -> RunResult {
    let json = dir.path().join("r.json");
    let json = json.to_str().expect("utf-8 path");
    let pid = pid.to_string();
    let args = ["--target", addr, "--conns", "4", "--duration", "1s", "--warmup", "200ms"];
    let watch = ["--quiet", "--watch-pid", &pid, "--json", json, "--processes", processes];
    let args: Vec<&str> = args.into_iter().chain(watch).collect();
    let out = loadgen(&args, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("server: ") && text.contains("round trips per CPU-second"), "{text}");
    serde_json::from_slice(&std::fs::read(json).expect("read the result")).expect("parse")
}

/// A watched echod: CPU time over its threads, round trips per CPU-second and
/// context switches are reported; the machine's window is the measured phase.
#[test]
fn a_watched_echod_has_a_cost() {
    let (server, addr) = echod_on_loopback();
    let dir = TempDir::new("watch-echod");
    let r = watched_run(&dir, &addr, server.pid(), "1");
    let s = r.server.expect("the server's cost");
    assert_eq!(s.pids, vec![server.pid()]);
    assert!(s.cpu_s > 0.0, "{s:?}");
    assert!(s.rt_per_cpu_s.is_some_and(|v| v > 0.0), "{s:?}");
    assert!(s.cpu_us_per_rt.is_some_and(|v| v > 0.0), "{s:?}");
    assert!(s.context_switches_per_rt.is_some(), "{s:?}");
    assert!(s.user_s + s.system_s >= 0.0);
    let m = r.machine.expect("the machine's noise");
    assert!(m.window_s > 0.5 && m.cores >= 1 && m.other_cpu_s >= 0.0, "{m:?}");
    assert_eq!(m.disturbed, m.reason.is_some(), "{m:?}");
}

/// A split run: the parent reads the server and the machine over the common
/// window, against the round trips of all its children.
#[test]
fn a_split_run_is_watched_by_its_parent() {
    let (server, addr) = echod_on_loopback();
    let dir = TempDir::new("watch-split");
    let r = watched_run(&dir, &addr, server.pid(), "2");
    assert_eq!(r.config.processes, 2);
    let s = r.server.expect("the server's cost");
    assert!(s.cpu_s > 0.0 && s.rt_per_cpu_s.is_some_and(|v| v > 0.0), "{s:?}");
    let m = r.machine.expect("the machine's noise");
    assert!(m.window_s > 0.5 && m.other_cpu_s >= 0.0, "{m:?}");
}

/// A spinning process beside the run: when it used half a core or more (by its
/// own /proc figures), the machine is marked disturbed, with the reason.
#[test]
fn a_busy_loop_beside_the_run_disturbs_it() {
    let (server, addr) = echod_on_loopback();
    let dir = TempDir::new("watch-busy");
    let spin = Spec::new("timeout").args(["30", "sh", "-c", "while :; do :; done"]);
    let spinner = Child::start(spin).expect("start the busy loop");
    let spin_cpu = || procfs::tree_sum(spinner.pid(), procfs::cpu_seconds);
    let (cpu_before, began) = (spin_cpu(), Instant::now());
    let r = watched_run(&dir, &addr, server.pid(), "1");
    let spun_cores = (spin_cpu() - cpu_before) / began.elapsed().as_secs_f64();
    let m = r.machine.expect("the machine's noise");
    println!("busy loop used {spun_cores:.2} cores; machine {m:?}");
    if spun_cores >= 0.5 {
        assert!(m.disturbed, "{m:?}");
        assert!(m.reason.is_some_and(|why| why.contains("cores busy outside loadgen")));
    }
}

/// A pid that runs nowhere: one line naming the flag and the fix, exit 2, and
/// no traffic (nothing listens at the target, and no connection is tried).
#[test]
fn a_missing_pid_is_refused() {
    let out = loadgen(
        &["--target", "127.0.0.1:9", "--duration", "1s", "--watch-pid", "999999999"],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stderr(&out);
    assert_eq!(text.trim().lines().count(), 1, "{text}");
    assert!(
        text.contains(
            "--watch-pid 999999999: no such process; give the server's process id (pgrep echod)"
        ),
        "{text}"
    );
    assert!(out.stdout.is_empty(), "no summary: nothing ran");
}
