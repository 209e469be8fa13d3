//! `--idle-timeout` and `--max-held-bytes` in `--model uring`: an idle connection
//! is closed (counted in closed_idle) while a busy one stays; peers that do not
//! read make the process hold bytes up to the budget, then echod stops reading
//! everywhere (counted in held_pauses) until they are gone, and then serves again.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use echod::server::Model;

use crate::common::process::{read_stats, spawn, temp_json, Echod, LOCAL};
use crate::common::{connect, echo, runs_here, wait_for, WAIT};

/// A one-worker uring echod with `extra` flags, writing its stats to the returned
/// path.
fn uring_echod(name: &str, extra: &[&str]) -> (Echod, std::path::PathBuf) {
    let json = temp_json(name);
    let mut args = LOCAL.to_vec();
    args.extend(["--model", "uring", "--workers", "1"]);
    args.extend(["--stats-json", json.to_str().expect("utf-8")]);
    args.extend(extra);
    (spawn(&args), json)
}

/// Whether echod closed `stream` (a read sees EOF or a reset), without waiting.
fn closed_by_echod(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("nonblocking");
    let closed = match (&*stream).read(&mut [0u8; 16]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    };
    stream.set_nonblocking(false).expect("blocking");
    closed
}

/// Whether echod reset `stream` (a hog's, whose writes echod no longer reads).
fn reset_by_echod(stream: &TcpStream) -> bool {
    match (&*stream).write(b"h") {
        Ok(n) => n == 0, // a byte taken: still open
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    }
}

/// `--idle-timeout 1s`: a client that echoed once and then says nothing is
/// closed, and so is a peer that never reads (echod's send toward it stuck: the
/// send is cancelled); one that echoes every few milliseconds meanwhile keeps its
/// connection.
#[test]
fn idle_connection_is_closed_and_a_busy_one_kept() {
    if !runs_here(Model::Uring) {
        return;
    }
    let (mut echod, json) = uring_echod("uring-idle", &["--idle-timeout", "1s"]);
    let addr = echod.ready();
    let (idle, busy) = (connect(addr), connect(addr));
    assert_eq!(echo(&idle, b"once"), b"once");
    let stuck = hog(addr);
    let (mut echoes, mut idle_closed, mut stuck_closed) = (0, false, false);
    wait_for("echod to close the idle connections", || {
        assert_eq!(echo(&busy, b"busy"), b"busy", "echo {echoes}");
        echoes += 1;
        idle_closed = idle_closed || closed_by_echod(&idle);
        stuck_closed = stuck_closed || reset_by_echod(&stuck);
        (idle_closed && stuck_closed).then_some(())
    });
    assert_eq!(echo(&busy, b"still"), b"still");
    echod.signal("-TERM");
    assert!(echod.wait().success(), "{:?}", echod.stderr_lines());
    let stats = read_stats(&json).total();
    assert_eq!((stats.accepted, stats.closed_idle), (3, 2), "{stats:?}");
}

/// Sends up to 16 MiB in chunks, never reading (small receive buffer from the
/// start), until echod stops taking them for a while.
fn hog(addr: SocketAddr) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(2048).expect("SO_RCVBUF");
    socket.connect(&addr.into()).expect("connect");
    let stream: TcpStream = socket.into();
    stream.set_nonblocking(true).expect("nonblocking");
    let started = Instant::now();
    let (mut sent, mut refused) = (0usize, 0);
    while sent < 16 << 20 && refused < 50 && started.elapsed() < WAIT {
        match (&stream).write(&[b'H'; 64 * 1024]) {
            Ok(n) => (sent, refused) = (sent + n, 0),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                refused += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("hog write: {e}"),
        }
    }
    stream
}

/// `--max-held-bytes 32KiB`: two peers that send and never read make echod hold
/// more than that; it pauses reading (held_pauses), so a normal client's echo
/// waits; once the hogs are gone it comes back, and SIGTERM exits 0 with stats.
#[test]
fn held_bytes_budget_pauses_reading_until_peers_go() {
    if !runs_here(Model::Uring) {
        return;
    }
    let (mut echod, json) = uring_echod("uring-held", &["--max-held-bytes", "32KiB"]);
    let addr = echod.ready();
    let normal = connect(addr);
    assert_eq!(echo(&normal, b"before"), b"before");
    let hogs = [hog(addr), hog(addr)];
    (&normal).write_all(b"during").expect("write");
    drop(hogs); // unread data: a reset, and echod gives their bytes back
    let mut back = [0u8; 6];
    (&normal).read_exact(&mut back).expect("the echo once the hogs are gone");
    assert_eq!(&back, b"during");
    assert_eq!(echo(&normal, b"after"), b"after");
    echod.signal("-TERM");
    assert!(echod.wait().success(), "{:?}", echod.stderr_lines());
    let stats = read_stats(&json).total();
    assert!(stats.held_pauses >= 1, "{stats:?}");
    assert!(stats.held_peak >= 32 * 1024, "{stats:?}");
    assert_eq!(stats.accepted, 3, "{stats:?}");
}
