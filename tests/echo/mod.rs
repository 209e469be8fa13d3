//! Byte-exact echo, run against every model (`Model::ALL`; `uring` is skipped, with
//! a printed line, where io_uring is refused): random payloads from 1 B to 4 MiB,
//! pipelined messages, half-close, and many concurrent clients.

use std::io::Write;
use std::net::Shutdown;

use echod::server::{Config, Model};

use crate::common::{connect, echo, models, random_bytes, read_to_eof, Running};

const SIZES: [usize; 9] = [1, 2, 100, 4095, 16 * 1024, 65_537, 300_000, 1 << 20, 4 << 20];

fn server(model: Model) -> Running {
    Running::start(Config { model, ..Config::local_test(2) })
}

/// Each payload comes back byte for byte, on one connection and on fresh ones.
fn payloads(model: Model) {
    let srv = server(model);
    let shared = connect(srv.addr);
    for n in SIZES {
        let p = random_bytes(n);
        assert!(echo(&shared, &p) == p, "{model:?}: {n} bytes on a reused connection");
        let fresh = connect(srv.addr);
        assert!(echo(&fresh, &p) == p, "{model:?}: {n} bytes on a fresh connection");
    }
    let stats = srv.stop();
    let total: u64 = SIZES.iter().map(|&n| 2 * n as u64).sum();
    assert_eq!(stats.total().bytes_in, total);
    assert_eq!(stats.total().bytes_out, total);
}

/// Many messages written back to back, without waiting, come back in order.
fn pipelined(model: Model) {
    let srv = server(model);
    let s = connect(srv.addr);
    let mut all = Vec::new();
    for i in 0..2000usize {
        all.extend_from_slice(format!("message {i} {}\n", "x".repeat(i % 97)).as_bytes());
    }
    assert!(echo(&s, &all) == all);
}

/// The peer shuts its write side: echod sends everything, then closes (EOF).
fn half_close(model: Model) {
    let srv = server(model);
    for n in [1usize, 70_000, 3 << 20] {
        let s = connect(srv.addr);
        let p = random_bytes(n);
        let mut w = s.try_clone().expect("clone");
        let out = p.clone();
        let writer = std::thread::spawn(move || {
            w.write_all(&out).and_then(|()| w.shutdown(Shutdown::Write))
        });
        let back = read_to_eof(&s);
        writer.join().expect("writer").expect("write + shutdown");
        assert!(back == p, "{model:?}: {n} bytes then EOF");
    }
}

/// 500 clients connected at once each get their own bytes back.
fn concurrent(model: Model) {
    let srv = server(model);
    let clients: Vec<_> = (0..500).map(|_| connect(srv.addr)).collect();
    for (i, mut c) in clients.iter().enumerate() {
        c.write_all(format!("client {i:04}").as_bytes()).expect("write");
    }
    for (i, c) in clients.iter().enumerate() {
        let mut back = [0u8; 11];
        std::io::Read::read_exact(&mut &*c, &mut back).expect("read");
        assert_eq!(&back, format!("client {i:04}").as_bytes());
    }
    let stats = srv.wait_stats("500 accepted", |s| s.total().accepted == 500);
    assert_eq!(stats.total().active_peak, 500);
}

/// Random payloads from 1 B to 4 MiB, byte-exact, counted exactly: every model.
#[test]
fn payloads_every_model() {
    for model in models() {
        payloads(model);
    }
}

/// Pipelined messages come back in order: every model.
#[test]
fn pipelined_every_model() {
    for model in models() {
        pipelined(model);
    }
}

/// Half-close: everything comes back, then EOF: every model.
#[test]
fn half_close_every_model() {
    for model in models() {
        half_close(model);
    }
}

/// 500 concurrent clients each get their own bytes back: every model.
#[test]
fn concurrent_clients_every_model() {
    for model in models() {
        concurrent(model);
    }
}
