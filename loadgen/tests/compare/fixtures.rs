//! Fixture results for the compare tests: one builder for a plausible RunResult,
//! pairs of runs measured "back to back" (BASE and NEW of each repeat on a machine
//! whose speed moves between repeats), and a temporary folder that removes itself.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use engine::result::{
    Calibration, Connections, Environment, Errors, Histograms, Percentiles, RunConfig, RunResult,
    Throughput, SCHEMA_VERSION,
};

/// A result of `scenario` with the given throughput (msgs/s) and p99 (µs); the other
/// percentiles follow p99, 1000 connections all established, no errors.
pub fn result(scenario: &str, msgs_per_sec: f64, p99_us: f64) -> RunResult {
    let latency = Percentiles {
        count: 1_000_000,
        min: p99_us / 10.0,
        p50: p99_us / 4.0,
        p90: p99_us / 2.0,
        p99: p99_us,
        p999: p99_us * 2.0,
        p9999: p99_us * 3.0,
        max: p99_us * 4.0,
        mean: p99_us / 3.0,
    };
    RunResult {
        schema_version: SCHEMA_VERSION,
        tool: "loadgen 0.1.0".to_string(),
        command: vec!["loadgen".to_string(), "--conns".to_string(), "1000".to_string()],
        started_at: "2025-01-01T00:00:00Z".to_string(),
        scenario: scenario.to_string(),
        interrupted: false,
        exit_code: 0,
        environment: Environment {
            cpu_model: "Test CPU".to_string(),
            cores: 2,
            ..Default::default()
        },
        host_bound: None,
        client_cpu_s: None,
        server: None,
        machine: None,
        calibration: Some(Calibration {
            method: "pingpong-1conn-64B".to_string(),
            round_trips_per_sec: 40_000.0,
            p50_us: 25.0,
        }),
        config: run_config(),
        connections: Connections {
            requested: 1000,
            established: 1000,
            connect_rate_per_sec: 20_000.0,
            ..Default::default()
        },
        connect_latency_us: latency.clone(),
        throughput: Throughput {
            msgs_per_sec,
            bytes_per_sec: msgs_per_sec * 64.0,
            messages: (msgs_per_sec * 10.0) as u64,
            bytes: (msgs_per_sec * 640.0) as u64,
            duration_s: 10.0,
        },
        latency_us: latency,
        latency_uncorrected_us: None,
        schedule_lag_us: None,
        errors: Errors::default(),
        histograms: Histograms::default(),
        kernel: None,
        churn: None,
        series: vec![],
        clock: None,
        agents: vec![],
    }
}

/// `r` on a machine `speed` times as fast: throughput times it, latency over it.
pub fn scaled(r: &RunResult, speed: f64) -> RunResult {
    let mut r = r.clone();
    r.throughput.msgs_per_sec *= speed;
    for p in [&mut r.latency_us.p50, &mut r.latency_us.p99, &mut r.latency_us.p999] {
        *p /= speed;
    }
    r
}

/// The speed of the machine in repeat `k` (±10%, the same for both builds of the
/// repeat) and the small noise of NEW's run in it (±0.5%): deterministic.
pub fn repeat_speed(k: u32) -> (f64, f64) {
    let k = f64::from(k);
    (1.0 + 0.1 * (k * 1.3).sin(), 1.0 + 0.005 * (k * 2.7).cos())
}

/// The JSON of `r` with the fields the result format is gaining added raw:
/// `server.rt_per_cpu_s` (when given) and `machine.disturbed`.
pub fn with_cost(r: &RunResult, rt_per_cpu: Option<f64>, disturbed: bool) -> String {
    let mut v = serde_json::to_value(r).expect("serialize");
    if let Some(rt) = rt_per_cpu {
        v["server"] = serde_json::json!({
            "pids": [1], "cpu_s": 1.0, "user_s": 0.05, "system_s": 0.95, "context_switches": 10,
            "rt_per_cpu_s": rt, "cpu_us_per_rt": 1e6 / rt, "context_switches_per_rt": null,
        });
    }
    v["machine"] = serde_json::json!({
        "window_s": 10.0, "cores": 2, "busy_cpu_s": 15.0, "other_cpu_s": 0.1, "steal_s": 0.0,
        "disturbed": disturbed,
    });
    serde_json::to_string_pretty(&v).expect("serialize")
}

/// Writes `n` pairs as `base/repK/runs/01-s.json` and `new/repK/runs/01-s.json`:
/// BASE and NEW scaled by repeat K's machine speed, NEW with its own small noise.
pub fn write_pairs(dir: &TempDir, base: &RunResult, new: &RunResult, n: u32) {
    for k in 1..=n {
        let (speed, noise) = repeat_speed(k);
        dir.write(&format!("base/rep{k}/runs/01-s.json"), &scaled(base, speed));
        dir.write(&format!("new/rep{k}/runs/01-s.json"), &scaled(new, speed * noise));
    }
}

/// The flags of every fixture: 1000 connections of 64 B for 10 s on two threads.
fn run_config() -> RunConfig {
    RunConfig {
        targets: vec!["127.0.0.1:7000".to_string()],
        conns: 1000,
        size: 64,
        pipeline: 1,
        rate: None,
        duration_s: 10.0,
        warmup_s: 2.0,
        threads: 2,
        cores: vec![],
        connect_rate: None,
        connect_timeout_s: 5.0,
        processes: 1,
        sources: vec![],
        proto: Default::default(),
        udp: None,
        shard: None,
        run_id: None,
        churn: None,
    }
}

/// A folder under the system temp dir, unique to this process and call, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("loadgen-compare-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `result` as pretty JSON at `relative` (folders created); returns its path.
    pub fn write(&self, relative: &str, result: &RunResult) -> PathBuf {
        let text = serde_json::to_string_pretty(result).expect("serialize");
        self.write_text(relative, &text)
    }

    /// Writes `text` at `relative` (folders created); returns its path.
    pub fn write_text(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.0.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create folder");
        }
        std::fs::write(&path, text).expect("write fixture");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
