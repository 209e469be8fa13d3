//! `--model threads` under pressure: past `--max-threads` connections are accepted,
//! closed and counted with one hint, the server stays up; SIGTERM stops it even while
//! its threads are blocked writing to peers that never read.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

use crate::common::process::{read_stats, spawn, temp_json, Echod, LOCAL};
use crate::common::{connect, echo, wait_for};

/// A threads-model echod with `extra` flags, writing its stats to the returned path.
fn threads_echod(name: &str, extra: &[&str]) -> (Echod, std::path::PathBuf) {
    let json = temp_json(name);
    let mut args = LOCAL.to_vec();
    args.extend(["--model", "threads", "--workers", "2", "--stats-json"]);
    args.push(json.to_str().expect("utf-8"));
    args.extend(extra);
    (spawn(&args), json)
}

/// Closed at once: EOF, or a reset if our byte raced the close.
fn refused(c: &TcpStream) -> bool {
    let _ = (&*c).write_all(b"?");
    let mut byte = [0u8; 1];
    matches!((&*c).read(&mut byte), Ok(0) | Err(_))
}

/// `--max-threads 8` and 50 clients: 8 are served, 42 accepted and closed, counted
/// in rejected_resources, one hint; a freed thread serves a new client; SIGTERM
/// stops it cleanly.
#[test]
fn max_threads_closes_the_excess() {
    let (mut echod, json) = threads_echod("max-threads", &["--max-threads", "8"]);
    let addr = echod.ready();
    let line = echod.stderr_line_with("connection threads");
    assert!(line.contains("at most 8 connection threads (--max-threads 8)"), "{line}");
    let mut served: Vec<_> = (0..8).map(|_| connect(addr)).collect();
    for c in &served {
        assert_eq!(echo(c, b"served"), b"served");
    }
    for i in 0..42 {
        assert!(refused(&connect(addr)), "client {} of 50 was served past the cap", 9 + i);
    }
    let hint = echod.stderr_line_with("--max-threads 8 reached");
    assert!(hint.contains("rejected_resources"), "{hint}");
    drop(served.pop()); // its thread ends and gives its place back
    let again = wait_for("a thread free again", || {
        let c = connect(addr);
        (!refused_after_echo(&c)).then_some(c)
    });
    assert_eq!(echo(&again, b"room again"), b"room again");
    echod.signal("-TERM");
    assert!(echod.wait().success());
    let rest = echod.stderr_lines();
    assert!(!rest.iter().any(|l| l.contains("reached")), "one hint: {rest:?}");
    let stats = read_stats(&json);
    let t = stats.total();
    assert_eq!(t.accepted, 9, "8, then 1 once a thread was free: {stats:?}");
    // 42, plus any retry that came before the freed thread had ended.
    assert!(t.rejected_resources >= 42, "{stats:?}");
}

/// Whether `c` is refused, tried with a real echo (for the retry after a thread ends).
fn refused_after_echo(c: &TcpStream) -> bool {
    let _ = (&*c).write_all(b"!");
    let mut byte = [0u8; 1];
    !matches!((&*c).read(&mut byte), Ok(1))
}

/// Without --max-threads the cap comes from this machine and the line names the
/// limit that set it.
#[test]
fn default_max_threads_is_printed() {
    let (mut echod, json) = threads_echod("default-threads", &[]);
    echod.ready();
    let line = echod.stderr_line_with("connection threads");
    assert!(line.contains("the default here, set by"), "{line}");
    echod.signal("-TERM");
    assert!(echod.wait().success());
    let _ = std::fs::remove_file(json);
}

/// Eight clients write and never read, until echod's threads block writing back
/// to them (a client's write stalls for a second); SIGTERM still stops echod, exit 0.
#[test]
fn sigterm_stops_threads_blocked_writing() {
    let (mut echod, json) = threads_echod("blocked", &["--max-threads", "8"]);
    let addr = echod.ready();
    let (tx, stalled) = mpsc::channel();
    let clients: Vec<TcpStream> = (0..8).map(|_| connect(addr)).collect();
    for c in &clients {
        let mut w = c.try_clone().expect("clone");
        w.set_write_timeout(Some(Duration::from_secs(1))).expect("timeout");
        let tx = tx.clone();
        std::thread::spawn(move || {
            let chunk = vec![7u8; 64 * 1024];
            // Bounded: 256 MiB at most; a stall of 1 s means echod stopped reading.
            for _ in 0..4096 {
                if let Err(e) = w.write_all(&chunk) {
                    let stalled = matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut);
                    let _ = tx.send(stalled);
                    return;
                }
            }
            let _ = tx.send(false);
        });
    }
    for _ in 0..8 {
        let stalled = stalled.recv_timeout(crate::common::WAIT).expect("a writer's end");
        assert!(stalled, "echod kept reading from a peer that never reads");
    }
    echod.signal("-TERM");
    assert!(echod.wait().success(), "{:?}", echod.stderr_lines());
    let stats = read_stats(&json);
    assert!(stats.total().bytes_in > stats.total().bytes_out, "{stats:?}");
    drop(clients);
}
