//! UDP flows (`--proto udp`) against small UDP servers of this module: every flow
//! its own four-tuple, every datagram verified, and each misbehaviour counted —
//! lost (without stalling the flow), duplicated, reordered, corrupted — with the
//! exit rule: corrupted is a failure, loss is a measurement unless `--max-loss`.
//! Real sockets on 127.0.0.1, bounded runs, no timing assertions.

mod report;
pub(super) mod servers;

use std::process::Command;
use std::time::Duration;

use common::cli::{EXIT_FAILED, EXIT_OK};
use engine::result::{Proto, RunResult};
use engine::run::Config;

use super::go;
use servers::{Behaviour, UdpServer};

/// UDP settings: `flows` flows to `server`, 64-byte datagrams, 100 ms warm-up
/// then 300 ms measured, 2 threads.
fn udp(server: &UdpServer, flows: u64) -> Config {
    Config::local_udp_test(server.addr, flows)
}

/// 1,000 flows against a plain UDP echo server: every flow open and served, from
/// its own port (the server saw 1,000 peers), every datagram answered, none lost,
/// duplicated, reordered or corrupted; exit 0.
#[test]
fn thousand_flows_all_echoed() {
    let server = UdpServer::echo();
    let out = go(&udp(&server, 1000));
    let r = &out.result;
    assert_eq!((r.config.proto, r.connections.established), (Proto::Udp, 1000));
    assert_eq!((r.connections.served, r.connections.unserved), (Some(1000), Some(0)));
    let e = &r.errors;
    assert_eq!((e.lost, e.late, e.duplicated, e.reordered), (Some(0), Some(0), Some(0), Some(0)));
    assert_eq!((e.corrupted, e.mismatch, e.reset), (Some(0), 0, 0));
    assert_eq!(e.loss_percent, Some(0.0));
    let d = &out.tally.datagrams;
    assert!(d.sent > 0 && d.answered > 0, "{d:?}");
    assert_eq!(d.sent, d.answered, "drained: every measured datagram answered");
    assert!(server.received() >= d.sent);
    assert_eq!(r.latency_us.count, d.answered, "one latency per measured answer");
    assert_eq!(r.throughput.bytes, r.throughput.messages * 64);
    assert_eq!(out.exit_code, EXIT_OK);
    let peers = server.peers();
    assert_eq!(peers.len(), 1000, "every flow its own four-tuple");
    assert!(peers.iter().all(|p| p.ip().is_loopback()));
}

/// Sizes from the header alone to the largest UDP datagram come back byte-exact.
#[test]
fn sizes_16_to_65507_byte_exact() {
    let server = UdpServer::echo();
    for size in [16usize, 17, 64, 1472, 9000, 65_507] {
        let mut c = udp(&server, 2);
        c.size = size;
        c.pipeline = 2;
        c.duration = Duration::from_millis(200);
        let out = go(&c);
        let r = &out.result;
        assert_eq!((r.errors.corrupted, r.errors.lost), (Some(0), Some(0)), "size {size}");
        assert!(r.throughput.messages > 0, "size {size}");
        assert_eq!(r.throughput.bytes, r.throughput.messages * size as u64, "size {size}");
        assert_eq!(out.exit_code, EXIT_OK, "size {size}");
    }
}

/// A server that drops every tenth datagram: about 10% loss, and no stall — each
/// flow sends on after a loss, so answers still come in the last second. Loss
/// alone is a measurement: exit 0.
#[test]
fn every_tenth_dropped_reads_as_ten_percent() {
    let server = UdpServer::start(Behaviour { drop_every: Some(10), ..Default::default() });
    let mut c = udp(&server, 50);
    c.warmup = Duration::from_millis(200);
    c.duration = Duration::from_millis(1500);
    let out = go(&c);
    let r = &out.result;
    let loss = r.errors.loss_percent.expect("a loss figure");
    assert!((5.0..=15.0).contains(&loss), "loss {loss}% ({:?})", out.tally.datagrams);
    assert!(out.tally.datagrams.lost > 0);
    assert_eq!(r.errors.corrupted, Some(0));
    let last = r.series.last().expect("a last second");
    assert!(last.msgs > 0 && r.series.len() >= 2, "answers still flow: {:?}", r.series);
    assert_eq!(r.connections.unserved, Some(0));
    assert_eq!(out.exit_code, EXIT_OK, "loss without --max-loss is not a failure");
    assert!(!r.interrupted);
}

/// `--max-loss` turns loss past it into exit 1; loss within it stays exit 0.
#[test]
fn max_loss_turns_loss_into_exit_1() {
    let server = UdpServer::start(Behaviour { drop_every: Some(10), ..Default::default() });
    let mut c = udp(&server, 20);
    c.max_loss = Some(1.0);
    let out = go(&c);
    assert!(out.result.errors.loss_percent.is_some_and(|l| l > 1.0), "{:?}", out.result.errors);
    assert_eq!((out.exit_code, out.result.exit_code), (EXIT_FAILED, 1));
    c.max_loss = Some(50.0);
    assert_eq!(go(&c).exit_code, EXIT_OK);
}

/// One byte of one datagram flipped: corrupted = 1 (a mismatch too), the first
/// one described, exit 1.
#[test]
fn one_corrupted_datagram_exits_1() {
    let server = UdpServer::start(Behaviour { corrupt: Some((50, 30)), ..Default::default() });
    let out = go(&udp(&server, 4));
    let r = &out.result;
    assert_eq!((r.errors.corrupted, r.errors.mismatch), (Some(1), 1));
    assert_eq!(r.errors.lost, Some(0), "the corrupted answer is not also lost");
    assert_eq!((out.exit_code, r.exit_code), (EXIT_FAILED, 1));
    let first = out.tally.first_mismatch.expect("described");
    assert!(first.contains("first wrong byte at offset 30"), "{first}");
}

/// A server that sends some datagrams twice: the second copies are counted as
/// duplicated, nothing else is wrong; exit 0.
#[test]
fn duplicates_are_counted() {
    let server = UdpServer::start(Behaviour { duplicate_every: Some(7), ..Default::default() });
    let out = go(&udp(&server, 10));
    let e = &out.result.errors;
    assert!(e.duplicated.is_some_and(|n| n > 0), "{e:?}");
    assert_eq!((e.lost, e.corrupted, e.reordered), (Some(0), Some(0), Some(0)), "{e:?}");
    assert_eq!(out.exit_code, EXIT_OK);
}

/// A server that holds a datagram back and sends it after the next one of its
/// flow (pipeline 4, so the next one comes): reordered counted; exit 0.
#[test]
fn reordering_is_counted() {
    let server = UdpServer::start(Behaviour { reorder_every: Some(5), ..Default::default() });
    let mut c = udp(&server, 10);
    c.pipeline = 4;
    let out = go(&c);
    let e = &out.result.errors;
    assert!(e.reordered.is_some_and(|n| n > 0), "{e:?}");
    assert_eq!((e.corrupted, e.duplicated), (Some(0), Some(0)), "{e:?}");
    assert_eq!(out.exit_code, EXIT_OK);
}

/// Open loop over UDP: latency from the intended send times, with the
/// uncorrected figure and the schedule lag beside it; nothing lost.
#[test]
fn open_loop_measures_from_intended_times() {
    let server = UdpServer::echo();
    let mut c = udp(&server, 10);
    c.rate = Some(2_000.0);
    let out = go(&c);
    let r = &out.result;
    assert!(r.latency_us.count > 0);
    assert!(r.latency_uncorrected_us.is_some() && r.schedule_lag_us.is_some());
    assert_eq!((r.errors.lost, r.errors.corrupted), (Some(0), Some(0)));
    assert_eq!(out.exit_code, EXIT_OK);
}

/// Nothing listens on the target's UDP port: the ICMP port unreachable ends
/// every flow before any answer, so none opened — 0 of 3 open, 3 failed with
/// ECONNREFUSED, as a refused TCP connect — not a reset, not an interrupted run
/// (it read "INTERRUPTED", 3 resets, 3 open, 0 served and 0 unserved); exit 1.
#[test]
fn nothing_listening_exits_1() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind").local_addr().expect("a");
    let mut c = Config::local_udp_test(port, 3);
    c.warmup = Duration::ZERO;
    c.sources = vec!["127.0.0.1".parse().expect("ip")];
    let out = go(&c);
    let (r, e) = (&out.result, &out.result.errors);
    assert_eq!((e.reset, e.refused, e.timeout), (0, Some(0), 0), "{e:?}");
    let k = &r.connections;
    assert_eq!((k.requested, k.established), (3, 0), "{k:?}");
    assert_eq!(k.failed_by_errno.get("ECONNREFUSED"), Some(&3), "{k:?}");
    assert_eq!((k.served, k.unserved), (Some(0), Some(0)));
    assert!(k.per_source.is_empty(), "none open from 127.0.0.1: {k:?}");
    assert!(!r.interrupted);
    assert_eq!(out.exit_code, EXIT_FAILED);
    let text = engine::run::render_summary(r, None);
    assert!(text.contains("0/3 open") && text.contains("3 x ECONNREFUSED"), "{text}");
    assert!(!text.contains("INTERRUPTED"), "{text}");
}

/// The server goes away mid-run: flows already answered get ECONNREFUSED, each
/// counted once as refused (not as a reset), exit 1.
#[test]
fn server_gone_mid_run_is_refused() {
    let server = UdpServer::echo();
    let mut c = udp(&server, 4);
    c.warmup = Duration::ZERO;
    c.duration = Duration::from_millis(1500);
    let run = std::thread::spawn(move || go(&c));
    // Every flow has been answered by then (bounded wait; no timing is asserted).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.received() < 400 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(server);
    let out = run.join().expect("the run");
    let e = &out.result.errors;
    assert_eq!((e.refused, e.reset), (Some(4), 0), "{e:?}");
    assert_eq!(out.result.connections.established, 4);
    assert_eq!(out.exit_code, EXIT_FAILED);
}

/// A server that flips a byte of every datagram: each answer is corrupted —
/// counted as such, answered (not lost), but no latency sample and no
/// throughput (they were counted as both before); exit 1.
#[test]
fn corrupted_answers_are_no_samples() {
    let server = UdpServer::start(Behaviour { corrupt_all: Some(30), ..Default::default() });
    let mut c = udp(&server, 4);
    c.warmup = Duration::ZERO;
    let out = go(&c);
    let (r, d) = (&out.result, &out.tally.datagrams);
    assert!(d.corrupted > 0 && d.answered > 0, "{d:?}");
    assert_eq!((r.latency_us.count, r.throughput.messages, r.throughput.bytes), (0, 0, 0));
    assert_eq!(out.exit_code, EXIT_FAILED);
}

/// `--size 65508` with `--proto udp` is refused before anything runs: one line
/// naming --size and the largest size, exit 2.
#[test]
fn size_past_a_datagram_is_refused_in_one_line() {
    let out = crate::common::loadgen(
        &["--proto", "udp", "--size", "65508", "--target", "127.0.0.1:9"],
        Duration::from_secs(30),
    );
    let err = crate::common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("loadgen: --size: 65508 bytes") && err.contains("65507"), "{err}");
}

/// A UDP run split over two processes through the binary: the children get the
/// UDP flags through RunArgs::to_args, every flow comes up from its own port, the
/// figures merge into one JSON with the datagrams' fate, and the parent's live
/// line speaks of flows and losses.
#[test]
fn split_run_over_udp_merges() {
    let server = UdpServer::echo();
    let json = std::env::temp_dir().join(format!("loadgen-udp-split-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg(format!("--target={}", server.addr))
        .args(["--proto", "udp", "--conns", "40", "--processes", "2", "--max-loss", "5"])
        .args(["--duration", "1500ms", "--warmup", "100ms", "--json"])
        .arg(&json)
        .output()
        .expect("run loadgen");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let text = std::fs::read_to_string(&json).expect("the JSON");
    std::fs::remove_file(&json).ok();
    let r: RunResult = serde_json::from_str(&text).expect("a result");
    assert_eq!(
        (r.config.proto, r.config.processes, r.connections.established),
        (Proto::Udp, 2, 40)
    );
    assert_eq!(r.config.udp.as_ref().and_then(|u| u.max_loss_percent), Some(5.0));
    assert!(text.contains("\"proto\": \"udp\"") && text.contains("\"lost\": 0"), "{text}");
    assert_eq!((r.errors.corrupted, r.errors.lost), (Some(0), Some(0)));
    assert_eq!(server.peers().len(), 40);
    let live: Vec<&str> = stderr.lines().filter(|l| l.contains("s] flows 40/40 up")).collect();
    assert!(!live.is_empty() && live.iter().all(|l| l.contains("| lost 0")), "{stderr}");
    assert!(stderr.contains("preflight: 40 UDP flows"), "{stderr}");
}
