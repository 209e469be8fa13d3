//! `--model uring` as a program: the start-up line says what io_uring gives the
//! workers, SIGINT and SIGTERM stop it with per-worker stats, and `--processes`
//! runs it in several processes. (The echo, socket and limit tests run it in
//! process with every other model.) Skipped, with a printed line, where io_uring
//! is refused.

mod enter;
mod hog;
mod limits;
mod port;

use echod::server::Model;

use crate::common::process::{read_stats, spawn, temp_json, Echod, LOCAL};
use crate::common::{connect, echo, runs_here};

/// A uring echod with `extra` flags, writing its stats to the returned path.
fn uring_echod(name: &str, extra: &[&str]) -> (Echod, std::path::PathBuf) {
    let json = temp_json(name);
    let mut args = LOCAL.to_vec();
    args.extend(["--model", "uring", "--stats-json", json.to_str().expect("utf-8")]);
    args.extend(extra);
    (spawn(&args), json)
}

/// The start-up line names what is in use; clients echo; SIGTERM and SIGINT each
/// stop it, exit 0, with a stats line per worker and the stats file.
#[test]
fn uring_says_what_it_uses_serves_and_stops() {
    if !runs_here(Model::Uring) {
        return;
    }
    for signal in ["-TERM", "-INT"] {
        let (mut echod, json) = uring_echod(&format!("uring{signal}"), &["--workers", "2"]);
        let addr = echod.ready();
        let line = echod.stderr_line_with("--model uring:");
        assert!(line.starts_with("echod: --model uring: io_uring with "), "{line}");
        assert!(line.contains("provided buffers"), "{line}");
        let clients: Vec<_> = (0..20).map(|_| connect(addr)).collect();
        for c in &clients {
            assert_eq!(echo(c, b"ring"), b"ring");
        }
        echod.signal(signal);
        assert!(echod.wait().success(), "{signal}: {:?}", echod.stderr_lines());
        let report = echod.stderr_lines();
        let workers = report.iter().filter(|l| l.starts_with("echod: worker ")).count();
        assert_eq!(workers, 2, "{report:?}");
        let stats = read_stats(&json);
        assert_eq!(stats.workers.len(), 2);
        assert_eq!(stats.total().accepted, 20, "{stats:?}");
        assert_eq!((stats.total().bytes_in, stats.total().bytes_out), (80, 80), "{stats:?}");
    }
}

/// `--processes 2 --model uring`: two processes share the port and serve; SIGTERM
/// stops both and the parent merges their stats.
#[test]
fn uring_processes_serve_and_shut_down() {
    if !runs_here(Model::Uring) {
        return;
    }
    let (mut echod, json) = uring_echod("uring-processes", &["--workers", "2", "--processes", "2"]);
    let addr = echod.ready();
    let clients: Vec<_> = (0..40).map(|_| connect(addr)).collect();
    for c in &clients {
        assert_eq!(echo(c, b"two"), b"two");
    }
    echod.signal("-TERM");
    assert!(echod.wait().success(), "{:?}", echod.stderr_lines());
    let stats = read_stats(&json);
    assert_eq!(stats.workers.len(), 2);
    assert_ne!(stats.workers[0].pid, stats.workers[1].pid, "two processes");
    assert_eq!(stats.total().accepted, 40, "{stats:?}");
}
