//! Agents of one run (`--shard I/N`, one `--start-at`) and `loadgen merge`: two
//! agents against echod on loopback give one merged result whose connections are
//! the sum, with every byte verified; `loadgen compare` reads it like any result.
//! A start time already past, and results that do not belong together, are
//! refused in one line with exit 2. Bounded runs, no timing assertions.

use std::path::{Path, PathBuf};
use std::time::Duration;

use engine::result::RunResult;

use crate::common::{loadgen, stderr};

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("loadgen-agents-{}-{name}", std::process::id()))
}

fn read(path: &PathBuf) -> RunResult {
    serde_json::from_str(&std::fs::read_to_string(path).expect("written")).expect("a result")
}

/// Agent `i` of two: its shard of 21 connections against `target`, from `start`
/// (Unix seconds), a short bounded run, its result in `file`.
fn agent_args(target: &str, i: usize, start: &str, file: &Path) -> Vec<String> {
    let (shard, file) = (format!("{i}/2"), file.display().to_string());
    [
        "--target",
        target,
        "--conns",
        "21",
        "--shard",
        &shard,
        "--start-at",
        start,
        "--warmup",
        "200ms",
        "--duration",
        "1s",
        "--threads",
        "1",
        "--quiet",
        "--json",
        &file,
    ]
    .iter()
    .map(ToString::to_string)
    .collect()
}

/// Two agents, one start time, one merge: the sum of their connections, their
/// histograms added, zero mismatches; each agent listed with its shard.
#[test]
fn two_agents_merge_into_one_result() {
    let server = echod::server::Server::bind(echod::server::Config::local_test(1)).expect("bind");
    let target = server.local_addr().to_string();
    let shutdown = server.shutdown_handle();
    let handle = std::thread::spawn(move || server.run());
    let start = (engine::run::now_unix_s() + 3.0).ceil().to_string();
    let files: Vec<PathBuf> = (0..2).map(|i| temp(&format!("agent-{i}.json"))).collect();
    let agents: Vec<_> = files
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let args = agent_args(&target, i, &start, file);
            std::thread::spawn(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                loadgen(&args, Duration::from_secs(30))
            })
        })
        .collect();
    for a in agents {
        let o = a.join().expect("agent");
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let merged = temp("merged.json");
    let (f0, f1, m) = (
        files[0].display().to_string(),
        files[1].display().to_string(),
        merged.display().to_string(),
    );
    let o = loadgen(&["merge", &f0, &f1, "--out", &m], Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    shutdown.shutdown();
    let _ = handle.join();
    let (a, b, r) = (read(&files[0]), read(&files[1]), read(&merged));
    assert_eq!((a.config.conns, b.config.conns), (11, 10), "21 split as evenly as integers allow");
    assert_eq!(a.config.run_id, Some(format!("start-{start}")));
    assert_eq!(a.scenario, "conns=21 size=64 pipeline=1 closed");
    let late = a.clock.as_ref().and_then(|c| c.late_s).expect("the clock is recorded");
    assert!(late >= 0.0, "began before --start-at: {late}");
    assert_eq!((r.connections.requested, r.connections.established), (21, 21));
    assert_eq!(r.errors.mismatch, 0);
    assert_eq!(r.throughput.messages, a.throughput.messages + b.throughput.messages);
    assert_eq!(r.latency_us.count, a.latency_us.count + b.latency_us.count);
    let shards: Vec<_> = r.agents.iter().map(|x| x.shard.clone().unwrap_or_default()).collect();
    assert_eq!(shards, vec!["0/2", "1/2"]);
    assert_eq!(r.scenario, a.scenario);
    let o = loadgen(&["compare", &m, &m], Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(0), "compare reads a merged result: {}", stderr(&o));
    for f in files.iter().chain([&merged]) {
        let _ = std::fs::remove_file(f);
    }
}

/// A start time already past is refused before anything connects: one line, exit 2.
#[test]
fn start_at_in_the_past_is_refused() {
    let past = (engine::run::now_unix_s() - 5.0).floor().to_string();
    let o = loadgen(&["--start-at", &past, "--conns", "1"], Duration::from_secs(30));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--start-at") && err.contains("in the past"), "{err}");
}

/// `loadgen merge` of files that are not results, or of results of different
/// runs: one line naming the file or the field, exit 2, nothing written.
#[test]
fn merge_refuses_what_does_not_belong_together() {
    let junk = temp("junk.json");
    std::fs::write(&junk, "{\"not\": \"a result\"}").expect("write");
    let j = junk.display().to_string();
    let o = loadgen(&["merge", &j], Duration::from_secs(30));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("is not a loadgen result") && err.trim().lines().count() == 1, "{err}");
    let o = loadgen(&["merge"], Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Two runs of different sizes against a port nobody listens on (nothing is sent).
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("a");
    let files: Vec<PathBuf> =
        ["64", "128"].iter().map(|s| temp(&format!("size-{s}.json"))).collect();
    for (size, file) in ["64", "128"].iter().zip(&files) {
        let f = file.display().to_string();
        let t = dead.to_string();
        let args = ["--target", &t, "--conns", "1", "--size", size, "-q", "--json", &f];
        let o = loadgen(&args, Duration::from_secs(30));
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    }
    let out = temp("never.json");
    let (a, b, m) =
        (files[0].display().to_string(), files[1].display().to_string(), out.display().to_string());
    let o = loadgen(&["merge", &a, &b, "--out", &m], Duration::from_secs(30));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("config.size") && err.contains("has 64") && err.contains("has 128"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!out.exists(), "nothing written");
    for f in files.iter().chain([&junk]) {
        let _ = std::fs::remove_file(f);
    }
}
