//! An open loop that falls behind its schedule is never a silent pass: every
//! message scheduled for the measured phase is counted — sent (late: its latency
//! from the intended time) or never sent (`errors.unsent`; UDP: counted as lost) —
//! the summary says how far behind the sender ran, the JSON records it, and the
//! run exits 1 (UDP with `--max-loss`: the loss rule, unsent datagrams included).
//! A second without latency samples says "no samples" on the live line, and
//! `loadgen compare` reads a run without samples as missing data, never 0 µs.

use std::time::Duration;

use common::cli::{EXIT_FAILED, EXIT_OK};
use engine::result::RunResult;
use engine::run::Config;

use super::go;
use super::servers::{Behaviour, Server};
use super::udp::servers::{Behaviour as UdpBehaviour, UdpServer};
use crate::common::{loadgen, stderr};
use crate::compare::fixtures::{result, TempDir};

/// A server that holds every echo 20 ms: a connection answers at most 50
/// messages per second, so 2 connections cannot keep 1,000 msgs/s.
fn slow_server() -> Server {
    Server::start(Behaviour { delay: Duration::from_millis(20), ..Default::default() })
}

/// A healthy open loop accounts for every message exactly: each one scheduled for
/// the measured phase was sent and answered (one latency sample each), none
/// unsent; exit 0.
#[test]
fn kept_schedule_counts_every_message() {
    let server = Server::echo();
    let mut c = Config::local_test(server.addr, 4);
    c.rate = Some(1_000.0);
    let out = go(&c);
    let e = &out.result.errors;
    let scheduled = e.scheduled.expect("open loop: scheduled");
    assert!((295..=305).contains(&scheduled), "1000/s over 300 ms: {scheduled}");
    assert_eq!(e.unsent, Some(0), "{e:?}");
    assert_eq!(out.result.latency_us.count, scheduled, "one sample per scheduled message");
    assert_eq!(out.exit_code, EXIT_OK);
}

/// TCP, 1,000 msgs/s on 2 connections that answer 50/s each: the sender falls
/// behind; the messages of the measured phase it never sent are counted as
/// unsent, how far behind it ran is recorded, and the run exits 1 (it passed
/// with "no samples" before).
#[test]
fn tcp_behind_its_schedule_exits_1() {
    let server = slow_server();
    let mut c = Config::local_test(server.addr, 2);
    c.rate = Some(1_000.0);
    c.duration = Duration::from_millis(500);
    let out = go(&c);
    let e = &out.result.errors;
    let (scheduled, unsent) = (e.scheduled.expect("scheduled"), e.unsent.expect("unsent"));
    assert!((495..=505).contains(&scheduled), "{scheduled}");
    assert!(unsent > 0 && unsent <= scheduled, "{e:?}");
    assert!(e.behind_messages.is_some_and(|n| n > 0), "{e:?}");
    assert!(e.behind_s.is_some_and(|s| s > 0.0), "{e:?}");
    assert_eq!((out.exit_code, out.result.exit_code), (EXIT_FAILED, 1));
}

/// UDP against a server that drops every second datagram (the case, made
/// shorter): each loss holds a flow for the loss timeout, so the sender falls far
/// behind; the datagrams never sent count as lost, so the loss is past
/// `--max-loss 1` (it read "lost 0", exit 0 before); without `--max-loss` the
/// unsent datagrams alone fail the run.
#[test]
fn udp_behind_its_schedule_counts_unsent_as_lost() {
    let server = UdpServer::start(UdpBehaviour { drop_every: Some(2), ..Default::default() });
    let mut c = Config::local_udp_test(server.addr, 10);
    c.rate = Some(2_000.0);
    c.warmup = Duration::from_millis(300);
    c.duration = Duration::from_secs(1);
    c.max_loss = Some(1.0);
    let out = go(&c);
    let e = &out.result.errors;
    let (scheduled, unsent) = (e.scheduled.expect("scheduled"), e.unsent.expect("unsent"));
    assert!((1_990..=2_010).contains(&scheduled), "{scheduled}");
    assert!(unsent > 0, "{e:?}");
    assert!(e.loss_percent.is_some_and(|l| l > 1.0), "{e:?}");
    assert_eq!(out.exit_code, EXIT_FAILED);
    c.max_loss = None;
    let out = go(&c);
    assert!(out.result.errors.unsent.is_some_and(|n| n > 0), "{:?}", out.result.errors);
    assert_eq!(out.exit_code, EXIT_FAILED, "unsent datagrams fail without --max-loss too");
}

/// Through the binary: the live line of a second without samples says so (never
/// "p50 0 ns"), the summary says how far behind the sender ran and what it never
/// sent, the JSON records it, exit 1.
#[test]
fn behind_says_so_on_every_output() {
    let server = slow_server();
    let dir = TempDir::new("behind");
    let json = dir.path().join("r.json");
    let target = server.addr.to_string();
    let out = loadgen(
        &["--target", &target, "--conns", "2", "--rate", "1000", "--duration", "1500ms"]
            .into_iter()
            .chain(["--warmup", "200ms", "--json", json.to_str().expect("utf-8")])
            .collect::<Vec<_>>(),
        Duration::from_secs(60),
    );
    let (err, text) = (stderr(&out), String::from_utf8_lossy(&out.stdout).into_owned());
    assert_eq!(out.status.code(), Some(1), "{text}\n{err}");
    let live: Vec<&str> = err.lines().filter(|l| l.contains("s] conns 2/2 up")).collect();
    assert!(!live.is_empty(), "{err}");
    assert!(live.iter().all(|l| !l.contains(" 0 ns")), "{err}");
    assert!(live.iter().any(|l| l.contains("| no samples |")), "{err}");
    let line = text.lines().find(|l| l.starts_with("  schedule      ")).expect("{text}");
    assert!(line.contains("never sent") && line.contains("behind when the measured"), "{line}");
    assert!(line.ends_with("the sender could not keep its schedule: exit 1"), "{line}");
    let r: RunResult =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("a result");
    assert!(r.errors.unsent.is_some_and(|n| n > 0) && r.exit_code == 1, "{:?}", r.errors);
}

/// `loadgen compare`: a NEW run without latency samples (all zeros, count 0) is
/// missing data: each latency row FAILs naming the file, exit 1 — never "latency
/// improved" (what the zeros read as before).
#[test]
fn compare_reads_no_samples_as_missing_data() {
    let dir = TempDir::new("no-samples");
    let base = dir.write("base/r.json", &result("s", 10_000.0, 100.0));
    let mut empty = result("s", 10_000.0, 100.0);
    empty.latency_us = Default::default();
    let new = dir.write("new/r.json", &empty);
    let args = ["compare", base.to_str().expect("utf-8"), new.to_str().expect("utf-8")];
    let out = loadgen(&args, Duration::from_secs(30));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(!text.contains("improved"), "{text}");
    for metric in ["p50", "p99", "p99.9"] {
        let fail = text.lines().find(|l| l.starts_with(&format!("FAIL latency {metric}:")));
        assert!(fail.is_some_and(|l| l.contains("no latency samples")), "{metric}: {text}");
        let row = text.lines().find(|l| l.starts_with(&format!("latency {metric} ")));
        assert!(row.is_some_and(|l| l.contains("no samples") && !l.contains(" 0 ns")), "{text}");
    }
    // The other way round: nothing to compare with is not a regression.
    let out = loadgen(&["compare", args[2], args[1]], Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}
