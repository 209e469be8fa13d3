//! Tests of one load-generator run: the library's `run` against small servers
//! written here (and echod in-process), and the binary for flags, exit codes and
//! output files. Real sockets on 127.0.0.1, bounded runs, no timing assertions
//! (only lower bounds that a delay makes certain, and counts).

mod agents;
mod binary;
mod churn;
mod faults;
mod lifecycle;
mod limits;
mod outputs;
mod report;
mod schedule;
mod servers;
mod udp;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::cli::{EXIT_FAILED, EXIT_OK};
use engine::run::{run, Config, RunOutcome};
use servers::{Behaviour, Server};

fn go(config: &Config) -> RunOutcome {
    run(config, Arc::new(AtomicBool::new(false))).expect("run")
}

/// A port with nothing listening (bound, then released).
fn dead_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// Closed loop: every connection comes up, echoes are counted, verified and timed.
#[test]
fn closed_loop_counts_and_verifies() {
    let server = Server::echo();
    let out = go(&Config::local_test(server.addr, 20));
    let r = &out.result;
    assert_eq!((r.connections.requested, r.connections.established), (20, 20));
    assert!(r.connections.failed_by_errno.is_empty());
    assert!(r.throughput.messages > 0);
    assert_eq!(r.throughput.bytes, r.throughput.messages * 64);
    assert!(r.latency_us.count > 0 && r.latency_us.min > 0.0);
    assert!(r.latency_us.min <= r.latency_us.p50 && r.latency_us.p50 <= r.latency_us.max);
    assert_eq!(r.errors, Default::default());
    assert_eq!(r.connect_latency_us.count, 20);
    assert!(r.latency_uncorrected_us.is_none());
    assert!(!r.interrupted);
    assert_eq!((out.exit_code, r.exit_code), (EXIT_OK, 0));
    // The series adds up to the latency histogram.
    let series_msgs: u64 = out.intervals.iter().map(|i| i.latency.len()).sum();
    assert_eq!(series_msgs, out.tally.latency.len());
    assert!(!r.series.is_empty());
}

/// Pipelined, large messages echoed in 7-byte fragments: partial reads and writes
/// are reassembled and every byte still checks.
#[test]
fn fragments_and_pipeline_verify() {
    let server = Server::start(Behaviour { fragment: Some(7), ..Default::default() });
    let mut c = Config::local_test(server.addr, 4);
    c.size = 1000;
    c.pipeline = 4;
    let out = go(&c);
    assert_eq!(out.result.errors, Default::default());
    assert!(out.result.throughput.messages > 0);
    assert_eq!(out.exit_code, EXIT_OK);
}

/// Large messages (256 KiB) go through partial writes on both sides.
#[test]
fn large_messages_verify() {
    let server = Server::echo();
    let mut c = Config::local_test(server.addr, 2);
    c.size = 256 << 10;
    c.pipeline = 2;
    let out = go(&c);
    assert_eq!(out.result.errors, Default::default());
    assert!(out.result.throughput.messages > 0);
    assert_eq!(out.result.throughput.bytes, out.result.throughput.messages * (256 << 10));
}

/// A server that holds every echo 20 ms: every reported percentile includes it.
#[test]
fn delayed_echo_shows_in_every_percentile() {
    let server =
        Server::start(Behaviour { delay: Duration::from_millis(20), ..Default::default() });
    let out = go(&Config::local_test(server.addr, 4));
    let l = &out.result.latency_us;
    assert!(l.count > 0);
    assert!(l.min >= 20_000.0 * 0.999, "min {} µs", l.min);
    assert!(l.p50 >= 20_000.0 * 0.999);
    assert_eq!(out.exit_code, EXIT_OK);
}

/// One flipped byte per connection: exactly one mismatched message per connection,
/// reported, exit 1.
#[test]
fn corrupted_byte_is_counted() {
    let server = Server::start(Behaviour { corrupt_at: Some(100), ..Default::default() });
    let out = go(&Config::local_test(server.addr, 3));
    assert_eq!(out.result.errors.mismatch, 3);
    assert_eq!(out.exit_code, EXIT_FAILED);
    assert_eq!(out.result.exit_code, 1);
    let first = out.tally.first_mismatch.expect("described");
    assert!(first.contains("message 1") && first.contains("offset 36"), "{first}");
}

/// Open loop against a server that stalls 400 ms: the corrected latency shows the
/// stall for many messages, the uncorrected one only for those in flight when it began.
#[test]
fn open_loop_stall_shows_in_corrected_tail() {
    let stall = Duration::from_millis(400);
    let server = Server::start(Behaviour {
        stall: Some((Duration::from_millis(500), stall)),
        ..Default::default()
    });
    let mut c = Config::local_test(server.addr, 2);
    c.rate = Some(400.0);
    c.warmup = Duration::from_millis(100);
    c.duration = Duration::from_millis(1500);
    let out = go(&c);
    let r = &out.result;
    let e = &r.errors;
    // Every message scheduled was sent, however late the stall made it.
    assert!(e.scheduled.is_some_and(|n| (595..=605).contains(&n)), "{e:?}");
    let scheduled = engine::result::Errors {
        scheduled: e.scheduled,
        unsent: Some(0),
        behind_messages: e.behind_messages,
        behind_s: e.behind_s,
        ..Default::default()
    };
    assert_eq!(e, &scheduled);
    let half = stall.as_nanos() as u64 / 2;
    let corrected = out.tally.latency.count_between(half, u64::MAX);
    let uncorrected = out.tally.latency_uncorrected.count_between(half, u64::MAX);
    // About 400 msgs/s x 0.4 s were due during the stall; only 2 x 1 were in flight.
    assert!(corrected >= 50, "corrected samples above {half} ns: {corrected}");
    assert!(uncorrected <= 2, "uncorrected samples above {half} ns: {uncorrected}");
    let u = r.latency_uncorrected_us.as_ref().expect("open loop reports uncorrected");
    assert!(r.latency_us.p99 > u.p99);
    assert!(r.schedule_lag_us.is_some());
    assert!(out.result.histograms.latency_uncorrected.is_some());
}

/// Nothing listening: every connect fails with ECONNREFUSED within the timeout; all
/// connections missing is exit 1, as some are.
#[test]
fn nothing_listening_fails_fast() {
    let mut c = Config::local_test(dead_port(), 5);
    c.connect_timeout = Duration::from_secs(2);
    let out = go(&c);
    let k = &out.result.connections;
    assert_eq!(k.established, 0);
    assert_eq!(k.failed_by_errno.get("ECONNREFUSED"), Some(&5));
    assert_eq!(out.exit_code, EXIT_FAILED);
    assert_eq!(out.result.throughput.messages, 0);
}

/// A server killed mid-run: the run ends early with the losses counted.
#[test]
fn server_killed_mid_run_ends_the_run() {
    let server = Server::echo();
    let mut c = Config::local_test(server.addr, 6);
    c.duration = Duration::from_secs(20);
    let killer = {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || run(&c, s).expect("run"));
        std::thread::sleep(Duration::from_millis(400));
        server.kill();
        // Bounded: if the run did not notice, stop it after 10 s and fail below.
        let mut waited = 0;
        while !handle.is_finished() && waited < 100 {
            std::thread::sleep(Duration::from_millis(100));
            waited += 1;
        }
        stop.store(true, Ordering::Relaxed);
        (handle.join().expect("join"), waited)
    };
    let (out, waited) = killer;
    assert!(waited < 100, "the run did not end when the server died");
    let e = &out.result.errors;
    assert_eq!(e.eof + e.reset, 6, "{e:?} {:?}", out.result.connections);
    assert!(out.result.interrupted);
    assert_eq!(out.exit_code, EXIT_FAILED);
    assert!(out.result.throughput.messages > 0);
}

/// The stop flag (Ctrl-C) ends a long run early; what was measured is kept.
#[test]
fn stop_flag_interrupts_and_keeps_figures() {
    let server = Server::echo();
    let mut c = Config::local_test(server.addr, 4);
    c.duration = Duration::from_secs(30);
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let handle = std::thread::spawn(move || run(&c, s).expect("run"));
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let out = handle.join().expect("join");
    assert!(out.result.interrupted);
    assert!(out.result.throughput.messages > 0);
    assert!(out.result.throughput.duration_s < 30.0);
    assert_eq!(out.result.errors.mismatch, 0);
}

/// Two targets: connections alternate between them and all verify.
#[test]
fn connections_spread_over_targets() {
    let (a, b) = (Server::echo(), Server::echo());
    let mut c = Config::local_test(a.addr, 6);
    c.targets = vec![a.addr, b.addr];
    let out = go(&c);
    assert_eq!(out.result.connections.established, 6);
    assert_eq!(out.exit_code, EXIT_OK);
}

/// Against echod started in-process (2 workers): 50 connections, pipeline 2, every
/// byte verified; echod's own byte counters match what loadgen sent and checked.
#[test]
fn against_echod_in_process() {
    let server = echod::server::Server::bind(echod::server::Config::local_test(2)).expect("bind");
    let addr = server.local_addr();
    let shutdown = server.shutdown_handle();
    let handle = std::thread::spawn(move || server.run());
    let mut c = Config::local_test(addr, 50);
    c.pipeline = 2;
    c.size = 200;
    let out = go(&c);
    shutdown.shutdown();
    let stats = handle.join().expect("join").expect("echod ran");
    let r = &out.result;
    assert_eq!(r.connections.established, 50);
    assert_eq!(r.errors, Default::default());
    assert_eq!(out.exit_code, EXIT_OK);
    let total = stats.total();
    assert_eq!(total.accepted, 50);
    // Every message loadgen completed was echoed by echod; drained runs leave none.
    assert_eq!(total.bytes_in, total.bytes_out);
    assert!(total.bytes_out >= r.throughput.bytes);
    assert_eq!(total.bytes_out % 200, 0);
}
