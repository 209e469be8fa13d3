//! Every entry point that starts child processes, run where users run it: as a
//! container's first process (PID 1 of a PID namespace of its own, as
//! `unshare --pid --fork` makes it) and under a subreaper (a parent that set
//! PR_SET_CHILD_SUBREAPER, as init systems and container shims do). A child started
//! there must tell a live parent from a dead one by the parent it was forked from,
//! not by "is my parent pid 1". Where this machine cannot make a PID namespace the
//! tests print `skipped: <why>`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The loadgen under test.
fn loadgen() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_loadgen"))
}

/// How a command is wrapped: as PID 1 of a new PID namespace, or under a subreaper.
#[derive(Clone, Copy, Debug)]
enum Place {
    Pid1,
    Subreaper,
}

/// `argv` run in `place`, bounded by `limit` (killed past it); None with the reason
/// printed where the place cannot be made here.
fn run_in(place: Place, argv: &[&str], limit: Duration) -> Option<Output> {
    let mut cmd = match place {
        Place::Pid1 => {
            let probe =
                Command::new("unshare").args(["--pid", "--fork", "--mount-proc", "true"]).output();
            if !probe.as_ref().is_ok_and(|o| o.status.success()) {
                let why = probe.map_or_else(
                    |e| e.to_string(),
                    |o| String::from_utf8_lossy(&o.stderr).into_owned(),
                );
                println!("skipped: no PID namespace here: {}", why.trim());
                return None;
            }
            let mut c = Command::new("unshare");
            c.args(["--pid", "--fork", "--mount-proc", "--kill-child"]);
            c
        }
        Place::Subreaper => {
            // prctl(PR_SET_CHILD_SUBREAPER = 36, 1) survives the exec.
            let mut c = Command::new("python3");
            c.args([
                "-c",
                "import ctypes, os, sys\n\
                 assert ctypes.CDLL(None).prctl(36, 1, 0, 0, 0) == 0\n\
                 os.execvp(sys.argv[1], sys.argv[1:])",
            ]);
            c
        }
    };
    cmd.args(argv).stdin(std::process::Stdio::null());
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the wrapped command");
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(child.wait_with_output().expect("collect"))
}

/// The output's text, both streams.
fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A run split into 2 processes starts both children and serves every connection,
/// as PID 1 and under a subreaper.
#[test]
fn split_run_works_as_pid1_and_under_a_subreaper() {
    let (server, addr) = crate::common::echod_on_loopback();
    let lg = loadgen();
    let lg = lg.to_str().expect("UTF-8 path");
    for place in [Place::Pid1, Place::Subreaper] {
        let argv = [
            lg,
            "--target",
            &addr,
            "--conns",
            "30",
            "--processes",
            "2",
            "--duration",
            "1s",
            "--warmup",
            "200ms",
        ];
        let Some(o) = run_in(place, &argv, Duration::from_secs(60)) else { continue };
        let out = text(&o);
        assert_eq!(o.status.code(), Some(0), "{place:?}: {out}");
        assert!(out.contains("30/30 established"), "{place:?}: every connection up: {out}");
    }
    drop(server);
}

/// One suite step (echod started by the suite, loadgen run by it) as PID 1 and
/// under a subreaper: the step runs and the report is written.
#[test]
fn suite_works_as_pid1_and_under_a_subreaper() {
    let lg = loadgen();
    let lg = lg.to_str().expect("UTF-8 path");
    for place in [Place::Pid1, Place::Subreaper] {
        let out = std::env::temp_dir()
            .join(format!("loadgen-pid1-suite-{place:?}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let out_s = out.to_str().expect("UTF-8");
        let port = crate::suite::free_port();
        let argv = [
            lg,
            "suite",
            "--quick",
            "--only",
            crate::suite::SCENARIO,
            "--no-ports",
            "--out",
            out_s,
            "--port",
            &port,
        ];
        let Some(o) = run_in(place, &argv, Duration::from_secs(180)) else { continue };
        assert_eq!(o.status.code(), Some(0), "{place:?}: {}", text(&o));
        assert!(Path::new(&out).join("report.md").is_file(), "{place:?}: no report");
        let _ = std::fs::remove_dir_all(&out);
    }
}

/// The testbed (its own namespaces, echod and two agents) as PID 1 and under a
/// subreaper: one merged result of every connection.
#[test]
fn testbed_works_as_pid1_and_under_a_subreaper() {
    let lg = loadgen();
    let lg = lg.to_str().expect("UTF-8 path");
    for (place, port) in [(Place::Pid1, "12740"), (Place::Subreaper, "12741")] {
        let out = std::env::temp_dir()
            .join(format!("loadgen-pid1-testbed-{place:?}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let out_s = out.to_str().expect("UTF-8");
        let argv = [
            lg,
            "testbed",
            "--agents",
            "2",
            "--conns",
            "20",
            "--warmup",
            "200ms",
            "--duration",
            "1s",
            "--port",
            port,
            "--out",
            out_s,
        ];
        let Some(o) = run_in(place, &argv, Duration::from_secs(120)) else { continue };
        let all = text(&o);
        if o.status.code() == Some(2) && all.contains("namespace") {
            println!("skipped: {place:?}: the testbed cannot make its namespaces here: {all}");
            continue;
        }
        assert_eq!(o.status.code(), Some(0), "{place:?}: {all}");
        assert!(all.contains("merged: 20 of 20 connections"), "{place:?}: {all}");
        let _ = std::fs::remove_dir_all(&out);
    }
}
