//! The connection limits at small scale, with real sockets: fan-out over source
//! addresses seen from the server's side, a run split over processes whose merged
//! figures add up exactly, and a preflight that refuses an impossible plan before
//! connecting anything.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use engine::result::{decode_histogram, RunResult};
use engine::run::{run, Config};

use super::servers::Server;

/// Three hundred connections over three source addresses: each source carries a
/// third, and the server sees those peers, all on its one listening port.
#[test]
fn fan_out_over_three_sources_seen_by_the_server() {
    let server = Server::echo();
    let mut config = Config::local_test(server.addr, 300);
    let sources: Vec<IpAddr> =
        ["127.0.0.2", "127.0.0.3", "127.0.0.4"].iter().map(|s| s.parse().unwrap()).collect();
    config.sources = sources.clone();
    let outcome = run(&config, Arc::new(AtomicBool::new(false))).expect("run");
    let r = &outcome.result;
    assert_eq!(r.connections.established, 300);
    assert_eq!(r.errors.mismatch, 0);
    let want: BTreeMap<String, u64> = sources.iter().map(|s| (s.to_string(), 100)).collect();
    assert_eq!(r.connections.per_source, want);
    assert_eq!(r.config.sources, ["127.0.0.2", "127.0.0.3", "127.0.0.4"]);

    let accepted = server.accepted();
    assert_eq!(accepted.len(), 300);
    let mut per_peer: BTreeMap<IpAddr, u64> = BTreeMap::new();
    for (_, peer) in &accepted {
        *per_peer.entry(peer.ip()).or_default() += 1;
    }
    let want_peers: BTreeMap<IpAddr, u64> = sources.iter().map(|s| (*s, 100)).collect();
    assert_eq!(per_peer, want_peers, "the server saw each source carry a third");
    let local_ports: HashSet<u16> = accepted.iter().map(|(l, _)| l.port()).collect();
    assert_eq!(local_ports, HashSet::from([server.addr.port()]), "one listening port for all");
    let tuples: HashSet<_> = accepted.iter().collect();
    assert_eq!(tuples.len(), 300, "four-tuples differ only by the peer");
}

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("loadgen-limits-{}-{name}", std::process::id()))
}

/// A run split over three processes: one result, every connection up, the merged
/// figures agree exactly (histogram count = messages = sum of the series), and the
/// parent prints one live line per second with all three processes' connections.
#[test]
fn split_run_merges_into_one_result() {
    let server = Server::echo();
    let json = temp("split.json");
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg(format!("--target={}", server.addr))
        .args(["--conns", "90", "--processes", "3", "--duration", "1500ms", "--warmup", "100ms"])
        .args(["--src", "127.0.0.2-127.0.0.4", "--json"])
        .arg(&json)
        .output()
        .expect("run loadgen");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("splits into 3 processes"), "{stderr}");
    let r: RunResult = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    std::fs::remove_file(&json).ok();
    assert_eq!((r.connections.requested, r.connections.established), (90, 90));
    assert_eq!(r.config.processes, 3);
    assert_eq!(r.connections.per_source.values().sum::<u64>(), 90);
    assert!(r.connections.per_source.values().all(|&n| n == 30), "{:?}", r.connections.per_source);
    assert!(r.throughput.messages > 0);
    let h = decode_histogram(&r.histograms.latency).unwrap();
    assert_eq!(h.len(), r.throughput.messages, "every measured message recorded once");
    assert_eq!(r.latency_us.count, r.throughput.messages);
    let connect = decode_histogram(&r.histograms.connect).unwrap();
    assert_eq!(connect.len(), 90, "one connect sample per connection, from all processes");
    assert_eq!(server.accepted().len(), 90);
    let live: Vec<&str> = stderr.lines().filter(|l| l.contains("s] conns ")).collect();
    assert_eq!(live.len(), r.series.len(), "one live line per second of the series: {stderr}");
    assert!(live.len() >= 2, "{stderr}");
    assert!(live.iter().all(|l| l.contains("conns 90/90")), "{stderr}");
    let series_msgs: u64 = r.series.iter().map(|s| s.msgs).sum();
    assert_eq!(series_msgs, r.throughput.messages);
}

/// Plans the machine cannot carry are refused before anything connects: one line
/// naming the flag and the fix, exit 2.
#[test]
fn impossible_plans_are_refused() {
    for (args, flag) in [
        (&["--conns", "60000", "--src", "127.0.0.5"][..], "--src"),
        (&["--conns", "30000", "--processes", "1"][..], "--processes"),
        (&["--conns", "10", "--src", "127.0.0.9-127.0.0.2"][..], "--src"),
        (&["--conns", "10", "--processes", "zero"][..], "--processes"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args(["--target", "127.0.0.1:1", "--duration", "100ms"])
            .args(args)
            .output()
            .expect("run loadgen");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
}

/// A source address that is not this machine's is refused before anything
/// connects: one line naming --src and why, the OS's reason once, exit 2 (it was
/// taken for running out of ephemeral ports).
#[test]
fn a_source_address_not_of_this_machine_is_refused() {
    let server = Server::echo();
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg(format!("--target={}", server.addr))
        .args(["--conns", "2", "--duration", "200ms", "--warmup", "0s", "--src", "10.0.0.1"])
        .output()
        .expect("run loadgen");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("loadgen: --src: 10.0.0.1 is not an address of this machine"),
        "{stderr}"
    );
    assert!(!stderr.contains("ephemeral"), "{stderr}");
    assert_eq!(stderr.matches("assign requested address").count(), 1, "{stderr}");
    assert_eq!(server.accepted().len(), 0);
}
