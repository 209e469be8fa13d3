//! Peers that try to take more than their share: a client that writes and reads as
//! fast as it can, a connect flood, a peer that goes idle, peers that do not read.
//! Each beside a normal client that must keep every echo; every load loop is bounded
//! in count and time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use echod::server::Config;

use crate::common::process::{read_stats, spawn, temp_json, LOCAL};
use crate::common::{connect, echo, random_bytes, Running};

/// The longest a flood in these tests runs.
const FLOOD_FOR: Duration = Duration::from_secs(30);

/// A client on two threads: one writes 64 KiB chunks as fast as it can, one reads and
/// throws away, until `stop` (or [`FLOOD_FOR`]). Returns the bytes written.
fn flood(addr: SocketAddr, stop: Arc<AtomicBool>) -> [JoinHandle<u64>; 2] {
    let stream = connect(addr);
    let mut reader = stream.try_clone().expect("clone");
    let mut writer = stream;
    let (stop_r, stop_w) = (stop.clone(), stop);
    let chunk = vec![0x5au8; 64 * 1024];
    let deadline = Instant::now() + FLOOD_FOR;
    let w = std::thread::spawn(move || {
        let mut sent = 0u64;
        while !stop_w.load(Ordering::Relaxed) && Instant::now() < deadline {
            match writer.write(&chunk) {
                Ok(n) => sent += n as u64,
                Err(_) => break,
            }
        }
        let _ = writer.shutdown(std::net::Shutdown::Write);
        sent
    });
    let r = std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0u64;
        while !stop_r.load(Ordering::Relaxed) && Instant::now() < deadline {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n as u64,
            }
        }
        got
    });
    [w, r]
}

/// `rounds` small round trips on a fresh connection, each byte-exact.
fn normal_client(addr: SocketAddr, rounds: usize) {
    let s = connect(addr);
    for i in 0..rounds {
        let msg = format!("round {i} of a normal client\n");
        assert_eq!(echo(&s, msg.as_bytes()), msg.as_bytes(), "round {i}");
    }
}

/// A client flooding from two threads beside a normal one, one worker for both: the
/// normal client gets every echo, and SIGTERM stops echod (exit 0, stats printed and
/// written) while the flood goes on.
#[test]
fn flood_beside_a_normal_client() {
    let json = temp_json("flood");
    let path = json.to_str().expect("utf-8 path");
    let mut args = LOCAL.to_vec();
    args.extend(["--workers", "1", "--buffer", "16KiB", "--stats-json", path]);
    let mut echod = spawn(&args);
    let addr = echod.ready();
    let stop = Arc::new(AtomicBool::new(false));
    let flooders = [flood(addr, stop.clone()), flood(addr, stop.clone())];
    // Let the flood get going: the server has read a few MiB from it.
    std::thread::sleep(Duration::from_millis(200));
    normal_client(addr, 200);
    echod.signal("-TERM"); // during the flood
    let status = echod.wait();
    stop.store(true, Ordering::Relaxed);
    for [w, r] in flooders {
        let (sent, got) = (w.join().expect("writer"), r.join().expect("reader"));
        assert!(sent > 0 && got > 0, "the flood ran: sent {sent}, got {got}");
    }
    assert!(status.success(), "{status:?}");
    let lines = echod.stderr_lines();
    assert!(lines.iter().any(|l| l.starts_with("echod: worker 0 ")), "{lines:?}");
    let stats = read_stats(&json);
    assert_eq!(stats.total().accepted, 3, "two flooders and the normal client");
}

/// A connect flood (connect and close, as fast as one thread can, at most 3,000)
/// beside a normal client on the same single worker: the normal client gets every echo.
#[test]
fn connect_flood_beside_a_normal_client() {
    let srv = Running::start(Config::local_test(1));
    let addr = srv.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_f = stop.clone();
    let flood = std::thread::spawn(move || {
        let deadline = Instant::now() + FLOOD_FOR;
        let mut n = 0u64;
        while n < 3_000 && !stop_f.load(Ordering::Relaxed) && Instant::now() < deadline {
            if TcpStream::connect(addr).is_ok() {
                n += 1;
            }
        }
        n
    });
    normal_client(addr, 200);
    stop.store(true, Ordering::Relaxed);
    let flooded = flood.join().expect("flood");
    let stats = srv.stop();
    assert!(flooded > 0);
    assert!(stats.total().accepted >= 1, "{stats:?}");
}

/// Bytes past one turn's read budget (16 reads of a 1 KiB buffer) come back with no
/// further edge: the worker's ready list drives the connection again.
#[test]
fn bytes_past_the_read_budget_need_no_new_edge() {
    let srv = Running::start(Config { buffer: 1024, ..Config::local_test(1) });
    let s = connect(srv.addr);
    for n in [17 * 1024, 300_000, 2 << 20] {
        let p = random_bytes(n);
        assert!(echo(&s, &p) == p, "{n} bytes");
    }
}
