//! What the kernel does with echod's sockets: every accepted socket has the
//! listener's port while the peers differ (the four-tuple tells them apart),
//! SO_REUSEPORT spreads connections over every worker, a reset closes only its own
//! connection, and a peer that never reads cannot grow echod. Each runs against
//! every model it concerns (`uring` skipped, with a printed line, where io_uring is
//! refused).

use std::collections::BTreeSet;
use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use echod::server::{Config, Model};

use crate::common::{connect, echo, models, read_to_eof, runs_here, wait_for, Running};

/// `(local, remote)` of every ESTABLISHED IPv4 socket in /proc/net/tcp.
fn established() -> Vec<(SocketAddr, SocketAddr)> {
    let table = common::procfs::net::net_tcp().expect("/proc/net/tcp");
    let established = table.into_iter().filter(|e| e.state == common::procfs::net::ESTABLISHED);
    established.map(|e| (e.local, e.remote)).collect()
}

/// The kernel's table shows every server-side socket on the listener's one port, each
/// with a different peer: exactly the clients' (address, port) pairs. Every model.
#[test]
fn accepted_sockets_share_the_port_peers_differ() {
    for model in models() {
        share_the_port(model);
    }
}

fn share_the_port(model: Model) {
    let srv = Running::start(Config { model, ..Config::local_test(2) });
    let clients: Vec<_> = (0..40).map(|_| connect(srv.addr)).collect();
    for c in &clients {
        assert_eq!(echo(c, b"ping"), b"ping"); // accepted, surely
        assert_eq!(c.peer_addr().expect("peer").port(), srv.addr.port());
    }
    let client_addrs: BTreeSet<SocketAddr> =
        clients.iter().map(|c| c.local_addr().expect("local")).collect();
    assert_eq!(client_addrs.len(), 40, "every client has its own source port");
    // /proc/net/tcp is read in pieces while other tests open and close connections, so
    // one read may repeat a line or skip one: a set, re-read until complete (bounded).
    let server_side = wait_for("every server-side socket in /proc/net/tcp", || {
        let mine: BTreeSet<(SocketAddr, SocketAddr)> = established()
            .into_iter()
            .filter(|(l, r)| l.port() == srv.addr.port() && client_addrs.contains(r))
            .collect();
        (mine.len() == 40).then_some(mine)
    });
    assert_eq!(server_side.len(), 40, "one server-side socket per client");
    let peers: BTreeSet<SocketAddr> = server_side.iter().map(|(_, r)| *r).collect();
    assert_eq!(peers, client_addrs, "the peers differ; the local port is the same");
    assert!(server_side.iter().all(|(l, _)| *l == srv.addr));
}

/// With SO_REUSEPORT the kernel spreads connections over every worker: the models
/// with a listener per worker (not `shared`, where whichever worker wakes first
/// takes the connection).
#[test]
fn connections_spread_over_all_workers() {
    for model in [Model::Reuseport, Model::Threads, Model::Uring] {
        if runs_here(model) {
            spread(model);
        }
    }
}

fn spread(model: Model) {
    let srv = Running::start(Config { model, ..Config::local_test(4) });
    let clients: Vec<_> = (0..200).map(|_| connect(srv.addr)).collect();
    for c in &clients {
        assert_eq!(echo(c, b"x"), b"x");
    }
    let stats = srv.wait_stats("200 accepted", |s| s.total().accepted == 200);
    for w in &stats.workers {
        assert!(w.counters.accepted > 0, "{model:?}: worker {} got nothing: {stats:?}", w.id);
    }
}

/// A peer that resets mid-stream is closed and counted; the server keeps serving.
/// Every model.
#[test]
fn reset_mid_stream() {
    for model in models() {
        resets(model);
    }
}

fn resets(model: Model) {
    let srv = Running::start(Config { model, ..Config::local_test(1) });
    for _ in 0..5 {
        let s = connect(srv.addr);
        assert_eq!(echo(&s, &[7u8; 5000]), vec![7u8; 5000]);
        // Unread echo bytes plus linger 0: close() sends RST instead of FIN.
        (&s).write_all(&[1u8; 100_000]).expect("write");
        socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO)).expect("linger 0");
        drop(s);
    }
    let stats = srv.wait_stats("resets closed", |s| s.total().active == 0);
    assert!(stats.total().closed_by_error >= 1, "{model:?}: {stats:?}");
    let s = connect(srv.addr);
    assert_eq!(echo(&s, b"still here"), b"still here");
}

/// A client that writes and never reads stalls once its socket buffers fill; echod
/// stops reading it and holds at most `--buffer` bytes for it. Then it reads
/// everything back, byte-exact. The event-loop models (`threads` blocks its
/// connection's thread instead, and counts no pending bytes).
#[test]
fn slow_reader_is_bounded() {
    for model in [Model::Reuseport, Model::Shared, Model::Uring] {
        if runs_here(model) {
            slow_reader(model);
        }
    }
}

fn slow_reader(model: Model) {
    let buffer = 16 * 1024;
    let srv = Running::start(Config { buffer, model, ..Config::local_test(1) });
    let s = connect(srv.addr);
    s.set_nonblocking(true).expect("nonblocking");
    let pattern = |i: usize| (i % 251) as u8;
    let chunk: Vec<u8> = (0..65_536).map(pattern).collect(); // 65536 % 251 != 0: shifts
    let limit = 64 << 20;
    let mut written = 0usize;
    let mut last_progress = Instant::now();
    // Bounded: 64 MiB at most, or until nothing was taken for 500 ms.
    while written < limit && last_progress.elapsed() < Duration::from_millis(500) {
        let off = written % 251;
        match (&s).write(&chunk[off..off + 65_536 - 251]) {
            Ok(n) => {
                written += n;
                last_progress = Instant::now();
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    assert!(written < limit, "{model:?} kept reading from a peer that does not read");
    let stats = srv.wait_stats("a pending write", |s| s.total().pending_peak > 0);
    assert!(stats.total().pending_peak <= buffer as u64, "{model:?}: {stats:?}");
    s.set_nonblocking(false).expect("blocking");
    s.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let back = read_to_eof(&s);
    assert_eq!(back.len(), written);
    assert!(back.iter().enumerate().all(|(i, &b)| b == pattern(i)), "{model:?}: not byte-exact");
    wait_for("closed", || (srv.stats.snapshot().total().active == 0).then_some(()));
}
