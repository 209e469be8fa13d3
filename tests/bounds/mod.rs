//! What bounds a peer over TCP, in every epoll and thread model: the default bind
//! address (loopback), `--idle-timeout` (an idle connection is closed and counted),
//! `--max-held-bytes` (past it no connection is read until the bytes held toward
//! peers that do not read are under it again; counted), and their bad input.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use echod::server::{Config, Model};

use crate::common::process::spawn;
use crate::common::{connect, echo, Running, WAIT};

/// The models these bounds are built into here (`uring` is its own module's).
const MODELS: [Model; 3] = [Model::Reuseport, Model::Shared, Model::Threads];

/// echod with no `--bind` listens on loopback and says so in one start-up line.
#[test]
fn default_bind_is_loopback_and_said() {
    let mut echod = spawn(&["--port", "0", "--no-pin", "--workers", "1"]);
    let addr = echod.ready();
    assert!(addr.ip().is_loopback(), "{addr}");
    let line = echod.stderr_line_with("answering TCP on");
    assert!(line.contains(&format!("on {addr}: loopback only")), "{line}");
    echod.signal("-TERM");
    assert!(echod.wait().success());
}

/// A connection idle for `--idle-timeout` is closed (the client reads EOF) and
/// counted in `closed_idle`; one that echoed and closed itself is not counted.
#[test]
fn idle_connections_are_closed_and_counted() {
    for model in MODELS {
        let idle_timeout = Some(Duration::from_millis(300));
        let srv = Running::start(Config { model, idle_timeout, ..Config::local_test(1) });
        let quiet = connect(srv.addr);
        assert_eq!(echo(&quiet, b"once"), b"once");
        let mut rest = Vec::new();
        // Bounded by the read timeout (WAIT): EOF comes after about 300-375 ms.
        (&quiet).read_to_end(&mut rest).expect("EOF from the idle timeout");
        assert!(rest.is_empty(), "{model:?}: {rest:?}");
        let stats = srv.stop();
        assert_eq!(stats.total().closed_idle, 1, "{model:?}: {stats:?}");
    }
}

/// A peer that writes and never reads, its receive buffer small: it blocks once
/// the kernel's buffers are full, and echod then holds what it could not write.
fn hog(addr: std::net::SocketAddr) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket.connect(&addr.into()).expect("connect");
    let stream: TcpStream = socket.into();
    stream.set_write_timeout(Some(Duration::from_millis(200))).expect("timeout");
    stream
}

/// Writes to `hog` until the server stops taking bytes (a write times out), at most
/// 64 MiB.
fn fill(mut hog: &TcpStream) {
    let chunk = vec![3u8; 64 * 1024];
    for _ in 0..1024 {
        if hog.write(&chunk).is_err() {
            return;
        }
    }
}

/// `--max-held-bytes 1`: once a peer that does not read leaves echod holding bytes,
/// echod reads nothing from anyone (a normal client's message waits, the pause is
/// counted); when that peer goes, echod reads again and the normal client gets its
/// echo. What was held stays within the budget plus one read buffer.
#[test]
fn held_bytes_budget_pauses_reading_everywhere() {
    for model in MODELS {
        let config =
            Config { model, max_held_bytes: 1, buffer: 16 * 1024, ..Config::local_test(1) };
        let srv = Running::start(config);
        let normal = connect(srv.addr);
        assert_eq!(echo(&normal, b"before"), b"before");
        let hog = hog(srv.addr);
        let deadline = Instant::now() + WAIT;
        while srv.stats.snapshot().total().held_pauses == 0 && Instant::now() < deadline {
            fill(&hog);
        }
        let paused = srv.stats.snapshot().total();
        assert!(paused.held_pauses >= 1, "{model:?}: {paused:?}");
        (&normal).write_all(b"during").expect("write");
        drop(hog); // echod's write to it fails: what it held is given back
        let mut back = [0u8; 6];
        (&normal).read_exact(&mut back).expect("the echo once the budget is free");
        assert_eq!(&back, b"during");
        let stats = srv.stop().total();
        assert!(stats.held_peak >= 1 && stats.held_peak <= 1 + 16 * 1024, "{model:?}: {stats:?}");
    }
}

/// Bad input: `--idle-timeout 0`, `--max-held-bytes 0`, overflowing values, a UDP
/// rate that is not a number, a broadcast or multicast `--bind` exit 2 with one line
/// naming the flag.
#[test]
fn bad_bounds_exit_2_with_one_line() {
    let cases: [(&[&str], &str); 7] = [
        (&["--udp-rate-limit", "fast", "--proto", "udp", "--port", "0"], "--udp-rate-limit"),
        (&["--bind", "224.0.0.1", "--proto", "udp", "--port", "0"], "--bind"),
        (&["--bind", "255.255.255.255", "--proto", "udp", "--port", "0"], "--bind"),
        (&["--idle-timeout", "0s", "--port", "0"], "--idle-timeout"),
        (&["--idle-timeout", "1ns", "--port", "0"], "--idle-timeout"),
        (&["--max-held-bytes", "0", "--port", "0"], "--max-held-bytes"),
        (&["--max-held-bytes", "99999999999GiB", "--port", "0"], "--max-held-bytes"),
    ];
    for (args, flag) in cases {
        let mut echod = spawn(args);
        assert_eq!(echod.wait().code(), Some(2), "{args:?}");
        let err = echod.stderr_lines();
        assert_eq!(err.len(), 1, "{args:?}: {err:?}");
        assert!(err[0].starts_with("echod: ") && err[0].contains(flag), "{args:?}: {err:?}");
    }
}
