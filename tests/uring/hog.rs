//! A peer that sends one-byte segments and never reads cannot take the worker's
//! provided buffers from its other clients: each receive completion pins a whole
//! buffer however few bytes it holds, so `--model uring` caps the buffers one
//! connection holds, not only its bytes.
//!
//! For the hog's segments to be held at all, echod's send toward it must be stuck
//! first: the hog never reads, with a small receive buffer, and sends chunks until
//! echod's send queue toward it stops growing (the kernel's own view,
//! /proc/net/tcp); only then do its one-byte segments stay in echod's buffers.

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use echod::server::Model;

use crate::common::process::{read_stats, spawn, temp_json, LOCAL};
use crate::common::{connect, echo, runs_here};

/// One-byte segments the hog sends at most (the pool has 2,048 buffers).
const HOG_SEGMENTS: usize = 5000;
/// The hog's chunks while it fills echod's send queue.
const CHUNK: usize = 16 * 1024;
/// The most the hog sends in chunks (a bound; echod's send queue fills far sooner).
const CHUNKS_AT_MOST: usize = 16 << 20;
/// The most time each phase of the hog takes (a bound, not a speed check).
const PHASE_AT_MOST: Duration = Duration::from_secs(15);

/// `(tx_queue, rx_queue)` of the loopback socket from `local` to `remote`, as
/// /proc/net/tcp shows them.
fn queues(local: SocketAddr, remote: SocketAddr) -> Option<(u64, u64)> {
    let table = common::procfs::net::net_tcp().ok()?;
    let entry = table.iter().find(|e| e.local == local && e.remote == remote)?;
    Some((entry.tx_queue, entry.rx_queue))
}

/// Waits (bounded) until echod has read everything the hog sent (its receive queue
/// is empty); returns its send queue then.
fn settled_send_queue(echod_side: (SocketAddr, SocketAddr)) -> Option<u64> {
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(5));
        match queues(echod_side.0, echod_side.1) {
            Some((tx, 0)) => return Some(tx),
            Some(_) => {}
            None => return None,
        }
    }
    None // echod no longer reads from the hog
}

/// Chunks until echod's send queue toward the hog stops growing (its send is stuck
/// and what it receives next stays in its buffers). Returns the bytes sent.
fn fill_echods_send_queue(stream: &TcpStream, echod_side: (SocketAddr, SocketAddr)) -> usize {
    let started = Instant::now();
    let (mut sent, mut last_tx) = (0, 0);
    while sent < CHUNKS_AT_MOST && started.elapsed() < PHASE_AT_MOST {
        match (&*stream).write(&[b'H'; CHUNK]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return sent,
            Err(e) => panic!("hog write: {e}"),
        }
        match settled_send_queue(echod_side) {
            Some(tx) if tx > 0 && tx == last_tx => return sent,
            Some(tx) => last_tx = tx,
            None => return sent,
        }
    }
    sent
}

/// The hog: fills echod's send queue toward it, then sends up to [`HOG_SEGMENTS`]
/// one-byte segments (TCP_NODELAY, a short pause between them so each arrives
/// alone and takes a buffer of its own), never reading; stops early once its own
/// socket is full (echod stopped reading from it). Returns the bytes it sent.
fn hog(stream: &TcpStream, echod_addr: SocketAddr) -> usize {
    stream.set_nodelay(true).expect("nodelay");
    stream.set_nonblocking(true).expect("nonblocking");
    let echod_side = (echod_addr, stream.local_addr().expect("local"));
    let mut sent = fill_echods_send_queue(stream, echod_side);
    let started = Instant::now();
    let (mut segments, mut refused) = (0, 0);
    while segments < HOG_SEGMENTS && started.elapsed() < PHASE_AT_MOST && refused < 200 {
        match (&*stream).write(b"h") {
            Ok(n) => (sent, segments) = (sent + n, segments + 1),
            Err(e) if e.kind() == ErrorKind::WouldBlock => refused += 1,
            Err(e) => panic!("hog write: {e}"),
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    sent
}

/// A client whose receive buffer is small from the start (set before connecting, so
/// the window it advertises is small too).
fn small_window(addr: SocketAddr) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(2048).expect("SO_RCVBUF");
    socket.connect(&addr.into()).expect("connect");
    socket.into()
}

/// With one worker (`--buffer 1MiB`: a receive's byte limit far above the pool's
/// 2,048 buffers), a hog sending one-byte segments and never reading sits beside a
/// normal client: the normal client gets every echo, during the hog's run and after
/// it; SIGTERM then stops echod (exit 0) with its stats.
#[test]
fn one_byte_hog_does_not_starve_the_others() {
    if !runs_here(Model::Uring) {
        return;
    }
    let json = temp_json("uring-hog");
    let mut args = LOCAL.to_vec();
    args.extend(["--model", "uring", "--workers", "1", "--buffer", "1MiB"]);
    args.extend(["--stats-json", json.to_str().expect("utf-8")]);
    let mut echod = spawn(&args);
    let addr = echod.ready();
    let normal = connect(addr);
    normal.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let hog_stream = small_window(addr);
    let hog_thread = std::thread::spawn(move || (hog(&hog_stream, addr), hog_stream));
    let mut echoes = 0u64;
    while !hog_thread.is_finished() {
        assert_eq!(echo(&normal, b"normal"), b"normal", "echo {echoes} during the hog");
        echoes += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    let (sent, _hog_stream) = hog_thread.join().expect("hog");
    for i in 0..100 {
        assert_eq!(echo(&normal, b"after"), b"after", "echo {i} after the hog sent {sent}");
    }
    echod.signal("-TERM");
    assert!(echod.wait().success(), "{:?}", echod.stderr_lines());
    let report = echod.stderr_lines();
    assert!(report.iter().any(|l| l.starts_with("echod: worker 0")), "{report:?}");
    let stats = read_stats(&json);
    assert_eq!(stats.total().accepted, 2, "{stats:?}");
    assert!(stats.total().bytes_in >= 6 * echoes + 5 * 100, "{stats:?}");
    eprintln!("hog sent {sent} bytes; {echoes} echoes beside it; {stats:?}");
}
