//! Servers that misbehave at the connection level, and what the run reports about
//! them: a server that closes every connection in the middle of a message (every
//! close is an eof, seen when it happens, and no socket of ours lingers in
//! CLOSE-WAIT), and a server that accepts only some connections while the kernel
//! completes the others' handshakes (established, but never served).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cli::EXIT_FAILED;
use common::procfs::net::CLOSE_WAIT;
use engine::result::RunResult;
use engine::run::{run, Config};

use super::go;
use super::servers::{Behaviour, Server};

/// Sockets in /proc/net/tcp in TCP `state` (e.g. CLOSE_WAIT) whose remote port
/// is `port`: the client side of connections to a server on it.
fn sockets_toward(port: u16, state: u8) -> usize {
    let table = common::procfs::net::net_tcp().expect("/proc/net/tcp");
    table.iter().filter(|e| e.remote.port() == port && e.state == state).count()
}

/// A server that echoes 1,000 bytes of each connection (15 messages and 40 bytes
/// of the 16th) and closes: all 50 closes are eofs, nothing is left to time out.
#[test]
fn close_after_a_partial_message_is_an_eof() {
    let server = Server::start(Behaviour { close_after: Some(1000), ..Default::default() });
    let mut c = Config::local_test(server.addr, 50);
    c.duration = Duration::from_secs(2);
    let out = go(&c);
    let e = &out.result.errors;
    assert_eq!((e.eof, e.timeout, e.reset, e.mismatch), (50, 0, 0, 0), "{e:?}");
    assert_eq!(out.result.connections.established, 50);
    assert_eq!(out.exit_code, EXIT_FAILED);
}

/// A server that closes each connection right after a whole message (640 bytes:
/// 10 messages), when nothing is outstanding for a moment: still an eof each.
#[test]
fn close_at_a_message_boundary_is_an_eof_too() {
    let server = Server::start(Behaviour { close_after: Some(640), ..Default::default() });
    let mut c = Config::local_test(server.addr, 50);
    c.duration = Duration::from_secs(2);
    let out = go(&c);
    let e = &out.result.errors;
    assert_eq!((e.eof, e.timeout, e.reset, e.mismatch), (50, 0, 0, 0), "{e:?}");
    assert_eq!(out.exit_code, EXIT_FAILED);
}

/// While the run goes on (a second, well-behaved server keeps it going), the
/// connections the truncating server closed are closed on our side too: no socket
/// toward it stays in CLOSE-WAIT, and each close was counted as an eof.
#[test]
fn no_close_wait_left_during_the_run() {
    let truncating = Server::start(Behaviour { close_after: Some(1000), ..Default::default() });
    let echo = Server::echo();
    let mut c = Config::local_test(truncating.addr, 100);
    c.targets = vec![truncating.addr, echo.addr];
    c.warmup = Duration::ZERO;
    c.duration = Duration::from_secs(60);
    let stop = Arc::new(AtomicBool::new(false));
    let handle = {
        let stop = stop.clone();
        std::thread::spawn(move || run(&c, stop).expect("run"))
    };
    // Bounded waits that give up: the server closes its 50, then our side follows.
    let deadline = Instant::now() + Duration::from_secs(10);
    while truncating.closed() < 50 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let port = truncating.addr.port();
    let deadline = Instant::now() + Duration::from_secs(5);
    while sockets_toward(port, CLOSE_WAIT) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let close_wait = sockets_toward(port, CLOSE_WAIT);
    let running = !handle.is_finished();
    stop.store(true, Ordering::Relaxed);
    let out = handle.join().expect("join");
    assert_eq!(truncating.closed(), 50);
    assert!(running, "the run ended before the check: it proves nothing");
    assert_eq!(close_wait, 0, "sockets toward the truncating server left in CLOSE-WAIT");
    assert_eq!(out.result.errors.eof, 50, "{:?}", out.result.errors);
    assert_eq!(out.result.connections.established, 100);
}

/// A fresh folder for one test's files.
fn folder(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("loadgen-faults-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test folder");
    dir
}

/// The hint said when the first connection is found unserved.
const UNSERVED_HINT: &str = "established but not served";

/// A server that accepts 5 connections and never more, while the kernel completes
/// the other 15 handshakes into its accept queue: 20 established, 5 served, 15
/// unserved (no answer to their first message within the connect timeout), and
/// none of their messages counted as a timeout.
#[test]
fn accepting_only_five_leaves_fifteen_unserved() {
    let server = Server::start(Behaviour { accept_only: Some(5), ..Default::default() });
    let mut c = Config::local_test(server.addr, 20);
    c.connect_timeout = Duration::from_millis(300);
    c.warmup = Duration::ZERO;
    c.duration = Duration::from_secs(1);
    let out = go(&c);
    let k = &out.result.connections;
    assert_eq!((k.requested, k.established), (20, 20));
    assert_eq!((k.served, k.unserved), (Some(5), Some(15)));
    assert_eq!(out.result.errors, Default::default());
    assert!(out.result.throughput.messages > 0, "the five served connections carried traffic");
    assert_eq!(out.exit_code, EXIT_FAILED, "unserved connections are missing connections");
    let last = out.result.series.last().expect("a second");
    assert_eq!((last.conns_up, last.conns_served, last.conns_unserved), (5, Some(5), Some(15)));
}

/// The binary says it as soon as it happens: in a 60 s run, the hint comes within
/// a bounded wait while the run goes on; the JSON written after a SIGTERM already
/// counts the 15.
#[test]
fn unserved_is_said_while_the_run_goes_on() {
    let server = Server::start(Behaviour { accept_only: Some(5), ..Default::default() });
    let dir = folder("unserved-live");
    let target = server.addr.to_string();
    let args = ["--target", &target, "--conns", "20", "--duration", "60s", "--warmup", "0s"];
    let mut all = args.to_vec();
    all.extend(["--connect-timeout", "300ms", "-q", "--json", "r.json"]);
    let mut lg = crate::common::spawn(&all, &dir, None);
    let said = lg.wait_for_line(UNSERVED_HINT, Duration::from_secs(20));
    let running = lg.child.running();
    lg.signal("TERM");
    let (_, _, stderr) = lg.finish(Duration::from_secs(20));
    assert!(said && running, "no hint while the run went on: {stderr:?}");
    let r: RunResult =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).expect("json"))
            .expect("a result");
    assert_eq!((r.connections.served, r.connections.unserved), (Some(5), Some(15)));
    assert_eq!(r.errors.timeout, 0);
    std::fs::remove_dir_all(&dir).ok();
}

/// A run that ends by itself: the hint once, the live line and the summary show
/// established, served and unserved apart, the JSON has the fields, exit 1.
#[test]
fn unserved_exits_1_with_one_hint() {
    let server = Server::start(Behaviour { accept_only: Some(5), ..Default::default() });
    let dir = folder("unserved-end");
    let target = server.addr.to_string();
    let args = ["--target", &target, "--conns", "20", "--duration", "1500ms", "--warmup", "0s"];
    let mut all = args.to_vec();
    all.extend(["--connect-timeout", "300ms", "--threads", "2", "--json", "r.json"]);
    let (code, stdout, stderr) =
        crate::common::spawn(&all, &dir, None).finish(Duration::from_secs(30));
    let err = stderr.join("\n");
    assert_eq!(code, Some(1), "{err}\n{stdout}");
    assert_eq!(err.matches(UNSERVED_HINT).count(), 1, "the hint once: {err}");
    let live: Vec<&String> = stderr.iter().filter(|l| l.contains("s] conns ")).collect();
    assert!(live.last().is_some_and(|l| l.contains("5 served, 15 unserved")), "{err}");
    assert!(stdout.contains("20/20 established"), "{stdout}");
    assert!(stdout.contains("5 served, 15 unserved"), "{stdout}");
    let r: RunResult =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).expect("json"))
            .expect("a result");
    assert_eq!(r.connections.established, 20);
    assert_eq!((r.connections.served, r.connections.unserved), (Some(5), Some(15)));
    assert_eq!((r.errors.timeout, r.exit_code), (0, 1));
    std::fs::remove_dir_all(&dir).ok();
}

/// A server whose one-place accept queue is full drops the other SYNs: 1 of 10
/// connections comes up, the other 9 time out after 3 s. The connect rate is that
/// of the connection that came up (more than 1 per 3 s, the old figure, printed
/// as "0/s"), and the summary never prints 0/s for it; the kernel's counters in the
/// result and the summary name the full accept queue.
#[test]
fn few_connections_up_show_their_real_connect_rate() {
    let server =
        Server::start(Behaviour { accept_only: Some(0), backlog: Some(0), ..Default::default() });
    let dir = folder("connect-rate");
    let target = server.addr.to_string();
    let args = ["--target", &target, "--conns", "10", "--connect-timeout", "3s"];
    let mut all = args.to_vec();
    all.extend(["--duration", "300ms", "--warmup", "0s", "-q", "--json", "r.json"]);
    let (code, stdout, stderr) =
        crate::common::spawn(&all, &dir, None).finish(Duration::from_secs(60));
    let r: RunResult =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).expect("json"))
            .expect("a result");
    let k = &r.connections;
    assert!(k.established >= 1 && k.established < 10, "{k:?} {stderr:?}");
    assert_eq!(code, Some(1));
    let per_timeout = k.established as f64 / 3.0;
    assert!(k.connect_rate_per_sec > per_timeout, "{} per s: {k:?}", k.connect_rate_per_sec);
    let line = stdout.lines().find(|l| l.contains("established (")).expect("connections line");
    assert!(!line.contains("(0/s)"), "{line}");
    // The kernel says why: the SYNs met a full accept queue (other tests may add
    // their own counts, never take any away).
    let kernel = r.kernel.as_ref().expect("the kernel's counts");
    assert!(kernel.tcp_ext.get("ListenDrops").is_some_and(|n| *n >= 1), "{kernel:?}");
    assert!(stdout.contains("  kernel        Listen"), "{stdout}");
    std::fs::remove_dir_all(&dir).ok();
}
