//! `loadgen suite --out DIR --force` never empties a folder a suite did not write.

use super::{loadgen, temp};
use crate::common::stderr;

/// The repro: a folder holding `new/` and the user's notes is not a
/// suite's (no marker): `--force` refuses in one line, exit 2, deleting nothing.
#[test]
fn force_leaves_a_folder_without_the_marker_alone() {
    let bench = temp("force-bench");
    std::fs::create_dir_all(bench.join("new")).expect("mkdir");
    std::fs::write(bench.join("notes.txt"), "mine\n").expect("write");
    let out = bench.display().to_string();
    let o = loadgen(&["suite", "--quick", "--out", &out, "--force"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--force") && err.contains(".loadgen-suite"), "{err}");
    assert_eq!(std::fs::read_to_string(bench.join("notes.txt")).expect("kept"), "mine\n");
    assert!(bench.join("new").is_dir(), "new/ kept");
    std::fs::remove_dir_all(&bench).expect("clean");
}

/// Peer code from outside the repository is never built silently: the suite says
/// what it builds, from which file, before building it (here the source does not
/// compile, so nothing is written, and an unknown `--only` then ends the run).
#[test]
fn the_suite_says_what_peer_code_it_builds() {
    let peers = temp("peers-said");
    std::fs::create_dir_all(peers.join("c_epoll_echo")).expect("mkdir");
    let source = peers.join("c_epoll_echo/epoll_echo.c");
    std::fs::write(&source, "this is not C\n").expect("write");
    let out = peers.join("out").display().to_string();
    let p = peers.display().to_string();
    let o = loadgen(&["suite", "--peers", &p, "--out", &out, "--only", "no such scenario"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let said =
        format!("suite: building epoll_echo.c from {} (outside this repository", source.display());
    assert!(err.contains(&said), "{err}");
    std::fs::remove_dir_all(&peers).expect("clean");
}

/// An interrupted suite exits 128 + the signal (143 for SIGTERM), not 1, and
/// still leaves its index and report.
#[test]
fn an_interrupted_suite_exits_143() {
    let out = temp("interrupted");
    let port = super::free_port();
    let dir = std::env::temp_dir();
    let args = [
        "suite",
        "--peers",
        "/nonexistent",
        "--no-ports",
        "--duration",
        "5s",
        "--port",
        &port,
        "--out",
        out.to_str().expect("utf-8"),
        "--only",
        super::SCENARIO,
    ];
    let mut run = crate::common::spawn(&args, &dir, None);
    assert!(run.wait_for_line("suite:", std::time::Duration::from_secs(60)), "{:?}", run.seen);
    std::thread::sleep(std::time::Duration::from_millis(500));
    run.child.terminate();
    let (code, _, err) = run.finish(std::time::Duration::from_secs(60));
    assert_eq!(code, Some(143), "{err:?}");
    assert!(super::index(&out).interrupted);
    std::fs::remove_dir_all(&out).expect("clean");
}
