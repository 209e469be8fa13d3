//! `suite.json`, the index of one `loadgen suite` run: what ran (each step of each
//! repeat, on which build), where each result file is, what the server did (RSS,
//! CPU, connections per worker), and where the four-tuple experiment is. The suite
//! writes it; the report and `--render` read it. It sits below both, beside the
//! result schema ([`engine::result`]) it points into, and imports nothing above it.

use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// The suite's index file: what ran, where each result is, what the server did.
/// It has no `schema_version`, so `loadgen compare` skips it when reading a folder.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SuiteIndex {
    /// Always `loadgen-suite/1`.
    pub suite_format: String,
    pub profile: String,
    pub command: Vec<String>,
    pub started_at: String,
    pub finished_at: String,
    pub interrupted: bool,
    pub environment: engine::result::Environment,
    /// Steps of every repeat, `rep` = 1..N.
    pub steps: Vec<RepStep>,
    /// The four-tuple experiment's JSON, relative to the folder.
    pub ports_file: Option<String>,
    /// Why the experiment did not run, if it did not.
    pub ports_note: Option<String>,
    /// The several-hosts step's folder (`loadgen testbed`), relative to the folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub testbed_dir: Option<String>,
    /// Why that step did not run, if it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub testbed_note: Option<String>,
    /// Whether the reference C server took part.
    pub c_peer: bool,
    /// `--base`: the two builds measured side by side; None when one build ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builds: Option<BuildsInfo>,
}

/// The two builds of a `--base` run, for the report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BuildsInfo {
    /// The `--base` folder as given.
    pub base_dir: String,
    /// The base build's revision (its revision.txt), when known.
    pub base_revision: Option<String>,
    /// Whether the base build had a tokio-echo (its peer steps ran on both sides).
    pub base_has_tokio: bool,
}

/// One step of one repeat.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RepStep {
    pub rep: u32,
    /// A confirmation run (`--confirm`): a scenario re-run because it looked slower.
    #[serde(default)]
    pub confirm: bool,
    /// With `--base`: which build this run measured (its result is under that
    /// side's folder); None when one build ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side: Option<Side>,
    #[serde(flatten)]
    pub record: StepRecord,
}

/// Which build a run measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The other build (`--base DIR`).
    Base,
    /// The build beside loadgen: the code under test.
    New,
}

impl Side {
    /// The folder of the suite output this side's results go to.
    pub fn folder(self) -> &'static str {
        match self {
            Side::Base => "base",
            Side::New => "new",
        }
    }
}

/// Which section of the report a step feeds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// (The default only so a record can be built from its parts.)
    #[default]
    Scaling,
    OpenLoop,
    Workers,
    Models,
    Peers,
    /// What loadgen costs: round trips per client CPU-second beside other clients.
    Clients,
    /// One connection's round trip: loadgen beside sockperf, same core and across.
    Floor,
    /// Memory per idle connection, for each server.
    IdleMemory,
    /// 50,000 connections for a long time: memory, descriptors and throughput flat?
    Soak,
    /// UDP echo beside TCP: flows, loss against offered rate, the C UDP server.
    Udp,
    /// Connections that come and go (`--lifetime 1`): the accept path by model.
    Churn,
}

/// What one step produced (the suite index keeps one per step).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StepRecord {
    pub index: usize,
    pub section: Section,
    pub scenario: String,
    /// Server label, e.g. `echod reuseport w=1`.
    pub server: String,
    pub server_cores: Vec<usize>,
    pub client_cores: Vec<usize>,
    pub client_threads: usize,
    pub conns: u64,
    /// Open loop: the rate asked for.
    pub rate: Option<f64>,
    /// The RunResult file, relative to the suite folder.
    pub result_file: Option<String>,
    pub exit_code: Option<i32>,
    /// Server RSS once listening, and the most seen during the run (bytes).
    pub server_rss_idle: u64,
    pub server_rss_peak: u64,
    /// Server CPU seconds (user + system, all its processes) during loadgen's run.
    pub server_cpu_s: f64,
    /// The most descriptors the server's processes held at once (sampled every
    /// 100 ms): a connection is one, so this shows where the limit is.
    #[serde(default)]
    pub server_fds_peak: u64,
    /// Seconds from SIGTERM until the server had exited.
    #[serde(default)]
    pub server_stop_s: f64,
    /// The server's memory and descriptors once a second while the client ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_series: Vec<ServerSample>,
    /// Wall seconds loadgen ran (connect + warm-up + measured + drain).
    pub client_wall_s: f64,
    /// echod only: connections accepted by each worker.
    pub worker_accepted: Vec<u64>,
    /// A client other than loadgen (clients, floor): what it reported; loadgen's
    /// own steps there carry the same figures from its result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_figures: Option<ClientFigures>,
    /// The idle-memory step: what the server held per connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<IdleFigures>,
    /// The server's system calls per round trip, counted in a short sample run
    /// after the measurement (models, peers and UDP steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscalls: Option<SyscallSample>,
    /// Why the step did not run on this machine (io_uring refused, say): not a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Why the step produced no result, if it did not.
    pub error: Option<String>,
    /// Earlier attempts of this run the machine disturbed (other programs busy, or
    /// steal), set aside and run again: `runs/NN-x.json.disturbed1: REASON`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disturbed_attempts: Vec<String>,
}

/// The system calls a server made during a sample run of its own, after the step's
/// measurement (counting slows every system call on the machine, so it stays out of
/// the measured run): `perf stat -e raw_syscalls:sys_enter` on every thread of the
/// server's processes while loadgen runs the step's load again without warm-up. The
/// count includes accepting and closing the sample's connections.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SyscallSample {
    /// System calls the server's threads entered during the sample.
    pub syscalls: u64,
    /// Round trips loadgen completed in the sample.
    pub messages: u64,
    /// Seconds the sample ran.
    pub seconds: f64,
    /// Why nothing was counted (perf missing or refused), when nothing was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
}

impl SyscallSample {
    /// System calls per round trip; None without a count.
    pub fn per_message(&self) -> Option<f64> {
        (self.missing.is_none() && self.messages > 0)
            .then(|| self.syscalls as f64 / self.messages as f64)
    }
}

impl StepRecord {
    /// Whether the step ran to a clean end (exit 0, no error), or was skipped for
    /// a reason of this machine's (not a failure).
    pub fn clean(&self) -> bool {
        self.skipped.is_some() || (self.error.is_none() && self.exit_code == Some(0))
    }
}

/// The server's process tree at one moment of a step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerSample {
    /// Seconds since the client started.
    pub t_s: f64,
    /// Resident memory, bytes (all its processes).
    pub rss: u64,
    /// Open descriptors (all its processes).
    pub fds: u64,
}

/// What a client reported, in the units every client shares.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientFigures {
    /// `loadgen`, `echoload`, `tpc-client`, `sockperf`.
    pub tool: String,
    /// Round trips per second in its measured window.
    pub msgs_per_sec: f64,
    /// Round trips per second of the client's own CPU time (user + system) in that
    /// window: what the client costs.
    pub rt_per_cpu_s: Option<f64>,
    /// Round-trip latency percentiles, µs, when the tool gives them.
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    /// The tool's own summary line, as it printed it.
    pub line: String,
}

/// What a server held for its idle connections.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IdleFigures {
    /// Connections held (each echoed one byte first).
    pub conns: u64,
    /// The server's RSS (all its processes) before they were opened, and while held.
    pub rss_before: u64,
    pub rss_after: u64,
    /// (after - before) / conns.
    pub bytes_per_conn: f64,
}

/// Reads `dir/suite.json`.
pub fn read(dir: &Path) -> anyhow::Result<SuiteIndex> {
    let path = dir.join("suite.json");
    // Bounded: a suite folder may be someone else's (result::MAX_RESULT_BYTES).
    let text = engine::result::read_bounded(&path)
        .with_context(|| format!("{}: cannot read the suite index", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a suite index", path.display()))
}
