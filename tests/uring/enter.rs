//! A failed `io_uring_enter` in `--model uring`, injected with
//! `ECHOD_TEST_ONLY_URING_ENTER_FAILS=ERRNO:COUNT` (each worker's first COUNT enters
//! fail with ERRNO): a transient failure (EAGAIN) is retried and echod serves on; a
//! real one (EINVAL) stops the server with every worker's stats and exit 1 (a run
//! that went wrong), not 2 (bad input).

use echod::server::Model;

use crate::common::process::{echod_spec, read_stats, spawn_with, temp_json, Echod, LOCAL};
use crate::common::{connect, echo, runs_here};

/// The test hook's variable.
const ENTER_FAILS: &str = "ECHOD_TEST_ONLY_URING_ENTER_FAILS";

/// A two-worker uring echod whose enters fail as `fails` says.
fn failing_echod(name: &str, fails: &str) -> (Echod, std::path::PathBuf) {
    let json = temp_json(name);
    let mut args = LOCAL.to_vec();
    args.extend(["--model", "uring", "--workers", "2"]);
    args.extend(["--stats-json", json.to_str().expect("utf-8")]);
    (spawn_with(echod_spec().env(ENTER_FAILS, fails), &args), json)
}

/// 50 EAGAINs at each worker's start are retried: clients then echo, SIGTERM
/// exits 0, and each worker's end says how many submits it retried.
#[test]
fn transient_enter_failures_are_retried() {
    if !runs_here(Model::Uring) {
        return;
    }
    let (mut echod, json) = failing_echod("uring-eagain", &format!("{}:50", libc::EAGAIN));
    let addr = echod.ready();
    let clients: Vec<_> = (0..10).map(|_| connect(addr)).collect();
    for c in &clients {
        assert_eq!(echo(c, b"again"), b"again");
    }
    echod.signal("-TERM");
    assert!(echod.wait().success(), "{:?}", echod.stderr_lines());
    let report = echod.stderr_lines();
    let retried = report.iter().filter(|l| l.contains("50 submits retried")).count();
    assert_eq!(retried, 2, "{report:?}");
    assert_eq!(read_stats(&json).total().bytes_out, 50, "{report:?}");
}

/// An EINVAL stops the worker and the server: exit 1, the failure named on the
/// last line, every worker's stats line and the stats file still written.
#[test]
fn a_real_enter_failure_stops_with_stats_and_exit_1() {
    if !runs_here(Model::Uring) {
        return;
    }
    let (mut echod, json) = failing_echod("uring-einval", &format!("{}:1", libc::EINVAL));
    echod.ready();
    let status = echod.wait();
    let report = echod.stderr_lines();
    assert_eq!(status.code(), Some(1), "{report:?}");
    let workers = report.iter().filter(|l| l.starts_with("echod: worker ")).count();
    assert!(workers >= 2, "every worker's stats line: {report:?}");
    let last = report.last().expect("a last line");
    assert!(last.contains("failed") && last.contains("io_uring_enter"), "{report:?}");
    assert_eq!(read_stats(&json).workers.len(), 2);
}
