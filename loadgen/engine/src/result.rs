//! The result of one load-generator run, as written by `--json` and read back by
//! `loadgen compare` and the suite. This is the file format: every field is part of
//! the schema, [`SCHEMA_VERSION`] changes when a field changes meaning or is removed.
//!
//! Latencies are recorded in nanoseconds in HdrHistogram and reported here in
//! microseconds (f64). Full histograms travel as base64 of HdrHistogram's V2+DEFLATE
//! serialization, so they can be merged exactly (`Histogram::add`) later. Reading
//! one back is bounded (`bounds`): a file's size, a histogram's header, before
//! anything is allocated.

use std::collections::BTreeMap;

use base64::Engine as _;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

mod bounds;
mod churn;
mod cost;
mod kernel;

pub use bounds::{decode_histogram, max_payload, read_bounded, ReadError, MAX_RESULT_BYTES};
pub use churn::{ChurnResult, ChurnSettings};
pub use cost::{MachineNoise, ServerCost};
pub use kernel::{KernelCounts, COUNTERS as KERNEL_COUNTERS};

/// Bumped when a field changes meaning or disappears; compare refuses a mismatch.
pub const SCHEMA_VERSION: u32 = 1;

/// One run of the load generator against one server.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunResult {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// `loadgen <version>`.
    pub tool: String,
    /// The exact command line (argv) that produced this result.
    pub command: Vec<String>,
    /// When the run started, RFC 3339 (UTC).
    pub started_at: String,
    /// What compare matches runs by; defaults to a name derived from the config
    /// (e.g. `conns=1000 size=64 pipeline=1 closed`), the suite sets its own.
    pub scenario: String,
    /// True when Ctrl-C (or a dying server) ended the run early; the figures cover
    /// what was measured until then.
    pub interrupted: bool,
    /// The process exit code this run reported (0 ok, 1 wrong echoes or missing
    /// connections, 2 bad input or failure to start, 130/143 ended by
    /// SIGINT/SIGTERM).
    pub exit_code: i32,
    /// The machine the run was taken on.
    pub environment: Environment,
    /// CPU seconds (user + system) loadgen itself used in the measured window, all
    /// its processes together: what the client cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cpu_s: Option<f64>,
    /// The watched server's cost over the measured window (`--watch-pid`; a split
    /// run's parent reads it over the common window); none without it and in a
    /// result merged by `loadgen merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerCost>,
    /// What else the machine did over the measured window (a split run: all of
    /// loadgen's processes count as its own); none where nothing was measured and
    /// in a result merged by `loadgen merge` (several hosts' machines cannot be
    /// combined honestly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<MachineNoise>,
    /// Set by the suite when the scenario's figure is mostly the host's, not the
    /// code's (one connection across cores measures the wake-up between two CPUs):
    /// why. `loadgen compare` then does not gate on it when BASE and NEW come from
    /// different machines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_bound: Option<String>,
    /// A calibration figure taken right before the run (compare can normalize by it).
    pub calibration: Option<Calibration>,
    /// The settings the run used.
    pub config: RunConfig,
    /// How many connections were asked for and came up.
    pub connections: Connections,
    /// Time from connect() to established, per connection.
    pub connect_latency_us: Percentiles,
    /// Messages and bytes echoed in the measured phase.
    pub throughput: Throughput,
    /// Round-trip latency; in open loop, from each message's intended send time.
    pub latency_us: Percentiles,
    /// Open loop only: latency from the actual send time (what a naive tool reports).
    pub latency_uncorrected_us: Option<Percentiles>,
    /// Open loop only: how far behind its schedule the generator itself sent.
    pub schedule_lag_us: Option<Percentiles>,
    /// What went wrong, counted.
    pub errors: Errors,
    /// The full histograms, for exact merging and plotting.
    pub histograms: Histograms,
    /// Churn (`--lifetime`): the connections that came and went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn: Option<ChurnResult>,
    /// What the kernel counted over the run (accept-queue overflows, SYN cookies,
    /// memory pressure, TIME_WAIT): written by the binary's run, absent elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelCounts>,
    /// One sample per second of the measured phase.
    pub series: Vec<SecondSample>,
    /// This host's wall clock at the run's start (absent in results written before
    /// it was recorded): what `loadgen merge` aligns the seconds of several agents by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockRecord>,
    /// A merged result (`loadgen merge`): every agent's own figures, in the order
    /// merged; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<AgentRecord>,
}

/// When a run began on its host's wall clock, and how far that clock can be trusted.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ClockRecord {
    /// Unix seconds when the warm-up began.
    pub began_unix_s: f64,
    /// Unix seconds when the measured phase began (the series' second 0).
    pub measured_from_unix_s: f64,
    /// `--start-at` as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    /// `--start-at` in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at_unix_s: Option<f64>,
    /// How late the warm-up began against `--start-at`, seconds (a merged result:
    /// the latest agent's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_s: Option<f64>,
    /// The kernel's word (adjtimex): the clock is synchronized to a time source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synchronized: Option<bool>,
    /// The kernel's maximum error estimate of the clock, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_us: Option<i64>,
    /// The kernel's estimated error of the clock, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub est_error_us: Option<i64>,
}

/// One agent of a merged result, with its own figures.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct AgentRecord {
    /// The file it was read from, as given to `loadgen merge`.
    pub file: String,
    /// Its host.
    pub hostname: String,
    /// `I/N` when it ran with `--shard`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Its command line.
    pub command: Vec<String>,
    /// Its exit code.
    pub exit_code: i32,
    /// Its connections (flows) requested and established.
    pub requested: u64,
    pub established: u64,
    /// Its round trips per second and latency.
    pub msgs_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Its errors: mismatch, reset, eof and timeout together.
    pub errors: u64,
    /// Its own CPU seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cpu_s: Option<f64>,
    /// Its clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockRecord>,
    /// Seconds its measured phase began after the earliest agent's (by the hosts'
    /// clocks). A second or more means the merged window is the union of windows
    /// that differ (longer than each agent's; its edge seconds hold fewer agents):
    /// `loadgen merge` warns then; windows that do not overlap are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_after_first_s: Option<f64>,
}

/// The machine fingerprint carried by every result.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Environment {
    /// `uname -sr`.
    pub kernel: String,
    pub hostname: String,
    /// CPU model name from /proc/cpuinfo.
    pub cpu_model: String,
    /// Online CPUs.
    pub cores: usize,
    pub memory_total_bytes: u64,
    /// net.ipv4.ip_local_port_range, e.g. `32768 60999`.
    pub ip_local_port_range: String,
    pub rlimit_nofile_soft: u64,
    pub rlimit_nofile_hard: u64,
    /// net.core.somaxconn.
    pub somaxconn: String,
    /// net.ipv4.tcp_tw_reuse.
    pub tcp_tw_reuse: String,
    /// `git rev-parse --short HEAD` of the project, with `-dirty` if modified.
    pub git_revision: String,
}

/// One-connection loopback ping-pong figure measured right before the run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Calibration {
    /// What was measured, e.g. `pingpong-1conn-64B`.
    pub method: String,
    /// Round trips per second of that ping-pong.
    pub round_trips_per_sec: f64,
    /// Its p50 round trip.
    pub p50_us: f64,
}

/// The run's settings, as used (after defaults).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunConfig {
    /// Every `--target` as given (HOST:PORT).
    pub targets: Vec<String>,
    pub conns: u64,
    /// Bytes per message.
    pub size: u64,
    /// Messages in flight per connection.
    pub pipeline: u32,
    /// Open loop: messages per second in total; None = closed loop.
    pub rate: Option<f64>,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub threads: usize,
    /// The cores the threads were pinned to (empty: not pinned).
    pub cores: Vec<usize>,
    /// Connections per second; None = as fast as the machine allows.
    pub connect_rate: Option<f64>,
    pub connect_timeout_s: f64,
    /// Processes the run was split into (1 = this process alone).
    pub processes: usize,
    /// Source addresses connections were spread over (empty: kernel's choice).
    pub sources: Vec<String>,
    /// `tcp` (connections) or `udp` (flows: `conns` is their number); results
    /// written before UDP was measured are tcp.
    #[serde(default)]
    pub proto: Proto,
    /// UDP only: the settings of the loss rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<UdpConfig>,
    /// `--shard I/N`: this agent's part of a run over several hosts (`conns` and
    /// `rate` are its share).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// `--run-id` (or `start-<unix seconds>` of `--start-at`): agents of one run
    /// share it, and `loadgen merge` refuses results of different runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Churn (`--lifetime`): how connections came and went; absent without.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn: Option<ChurnSettings>,
}

/// Part `index` of `count` of a run over several agents.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
    /// The whole run's connections (flows), all parts together: what a merge that
    /// lacks a part counts as missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conns: Option<u64>,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The transport a run measures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP: `conns` connections, each a byte stream of messages.
    #[default]
    Tcp,
    /// UDP: `conns` flows, each a connected UDP socket from its own ephemeral port
    /// (its own four-tuple), one message per datagram.
    Udp,
}

impl Proto {
    /// `tcp` or `udp`, as `--proto` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }

    /// What one of `conns` is called: `connections` or `flows`.
    pub fn units(self) -> &'static str {
        match self {
            Self::Tcp => "connections",
            Self::Udp => "flows",
        }
    }
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The loss rules of a UDP run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct UdpConfig {
    /// `--udp-timeout` in seconds: a datagram with no answer within it is lost;
    /// `None`: adaptive (4 × the p99 so far, 100 ms to 5 s, 1 s before the first
    /// answer; each worker thread its own).
    pub timeout_s: Option<f64>,
    /// `--max-loss`: the run fails (exit 1) when `errors.loss_percent` is above it;
    /// `None`: loss is a measurement, never a failure.
    pub max_loss_percent: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Connections {
    pub requested: u64,
    pub established: u64,
    /// Failed connects by errno name (`ECONNREFUSED`, `EADDRNOTAVAIL`, ...).
    pub failed_by_errno: BTreeMap<String, u64>,
    /// Established connections per source address (empty when not fanned out).
    pub per_source: BTreeMap<String, u64>,
    /// Connections up per second: `established` over the time from the start of the
    /// connect phase to the last connection up (connects that time out later do not
    /// dilute it).
    pub connect_rate_per_sec: f64,
    /// Established connections that were answered at least once (absent in results
    /// written before it was recorded).
    #[serde(default)]
    pub served: Option<u64>,
    /// Established connections that never were: no answer to their first message
    /// within the connect timeout (the server may be at its descriptor limit, or its
    /// accept queue full). They count as missing connections; their messages are
    /// not counted as timeouts.
    #[serde(default)]
    pub unserved: Option<u64>,
    /// Seconds from the start of the connect phase to the last connection up (the
    /// window of `connect_rate_per_sec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_up_s: Option<f64>,
}

/// A latency distribution in microseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub p9999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    /// Summarizes a histogram recorded in nanoseconds.
    pub fn from_nanos(h: &Histogram<u64>) -> Self {
        let us = |ns: u64| ns as f64 / 1_000.0;
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            min: us(h.min()),
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            p9999: us(h.value_at_quantile(0.9999)),
            max: us(h.max()),
            mean: h.mean() / 1_000.0,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Throughput {
    /// Round trips (echoed messages) per second in the measured phase.
    pub msgs_per_sec: f64,
    /// Echoed bytes per second in the measured phase (one direction).
    pub bytes_per_sec: f64,
    /// Messages echoed in the measured phase.
    pub messages: u64,
    /// Bytes echoed in the measured phase.
    pub bytes: u64,
    /// Length of the measured phase in seconds.
    pub duration_s: f64,
}

/// What went wrong, counted. The UDP fields are absent in TCP runs (and in results
/// written before UDP was measured); they count the datagrams of the measured phase
/// (by send time; open loop: by intended send time), but `corrupted`, which counts
/// every corrupted datagram of the run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Errors {
    /// Echoed bytes that differ from what was sent (UDP: the corrupted datagrams,
    /// the same count as `corrupted`, so every reader of `mismatch` sees them).
    pub mismatch: u64,
    /// Connections reset by the peer.
    pub reset: u64,
    /// Connections the peer closed (FIN) while the run still used them.
    pub eof: u64,
    /// Messages not answered within the run.
    pub timeout: u64,
    /// UDP: flows ended by ECONNREFUSED after they were answered (the target's
    /// port closed while in use). A flow refused before any answer never opened:
    /// it is in `connections.failed_by_errno`, not here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<u64>,
    /// UDP: datagrams with no answer within the timeout (`--udp-timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
    /// UDP: lost (and, open loop, never sent: `unsent`) over those and the
    /// answered, in percent (`None` when nothing was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_percent: Option<f64>,
    /// UDP: answers that came after their datagram was counted lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late: Option<u64>,
    /// UDP: answers to a datagram that had already been answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicated: Option<u64>,
    /// UDP: answers that came after the answer to a later datagram of their flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reordered: Option<u64>,
    /// UDP: datagrams that came back different from what was sent (length,
    /// header or content), in any phase of the run; each fails the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrupted: Option<u64>,
    /// UDP: datagrams sent in the measured phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<u64>,
    /// UDP: of those, answered within the timeout (corrupted answers included):
    /// `loss_percent` is lost over lost and answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered: Option<u64>,
    /// The first mismatch seen, described (connection, offset, bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_mismatch: Option<String>,
    /// Open loop: messages (datagrams) intended in the measured phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled: Option<u64>,
    /// Open loop: of those, never sent by the end of the run (the sender fell
    /// behind its schedule, or their connection was lost). Any fails the run (UDP
    /// with `--max-loss`: they count as lost, and the loss rule decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsent: Option<u64>,
    /// Open loop: messages due and not yet sent when the measured phase ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behind_messages: Option<u64>,
    /// Open loop: how long before the end of the measured phase the oldest of
    /// those was intended, seconds: how far behind its schedule the sender ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behind_s: Option<f64>,
}

/// base64 of HdrHistogram V2+DEFLATE, values in nanoseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Histograms {
    pub latency: String,
    pub latency_uncorrected: Option<String>,
    pub connect: String,
    /// Open loop: how late the generator sent against its schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_lag: Option<String>,
}

/// One second of the measured phase.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SecondSample {
    /// Seconds since the measured phase began (end of the interval).
    pub t_s: f64,
    pub conns_up: u64,
    /// Of those, connections answered at least once.
    #[serde(default)]
    pub conns_served: Option<u64>,
    /// Connections found unserved so far (see [`Connections::unserved`]).
    #[serde(default)]
    pub conns_unserved: Option<u64>,
    pub msgs: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub errors: u64,
    /// UDP: datagrams found lost in this second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
    /// Churn: replacement connections established in this second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened: Option<u64>,
    /// Churn: connections closed at the end of their life in this second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<u64>,
    /// Churn: replacement connects failed in this second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn_failed: Option<u64>,
    /// Churn: sockets in TIME_WAIT on the host at the end of this second
    /// (/proc/net/sockstat; both sides when the server is local).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_wait: Option<u64>,
    /// This second's latency histogram (base64 HdrHistogram V2+DEFLATE, ns), so
    /// seconds of several agents merge exactly (absent in older results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<String>,
}

/// Reads the result file `rel` under `dir` (the suite's index names files that way).
pub fn read(dir: &std::path::Path, rel: &str) -> anyhow::Result<RunResult> {
    use anyhow::Context as _;
    if !is_inside(rel) {
        anyhow::bail!("{rel}: not a path inside {}: not read", dir.display());
    }
    let path = dir.join(rel);
    let text = read_bounded(&path)?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a result", path.display()))
}

/// Whether `rel` names something inside the folder it is joined to: relative,
/// no `..` (an index from someone else's folder must not make us read elsewhere).
pub fn is_inside(rel: &str) -> bool {
    std::path::Path::new(rel)
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir))
}

/// Serializes a histogram as base64 of V2+DEFLATE.
pub fn encode_histogram(h: &Histogram<u64>) -> Result<String, String> {
    let mut buf = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut buf)
        .map_err(|e| format!("cannot serialize histogram: {e:?}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A histogram survives encode/decode exactly.
    #[test]
    fn histogram_round_trip() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
        for v in [1_000u64, 20_000, 20_000, 5_000_000] {
            h.record(v).expect("record");
        }
        let back = decode_histogram(&encode_histogram(&h).expect("encode")).expect("decode");
        assert_eq!(back, h);
        assert!(decode_histogram("not base64!").is_err());
    }

    /// A result file named by an index is read only inside its folder.
    #[test]
    fn results_are_read_inside_their_folder_only() {
        for ok in ["runs/0.json", "./a.json", "rep1/runs/x.json"] {
            assert!(is_inside(ok), "{ok}");
        }
        for bad in ["../x.json", "/etc/passwd", "runs/../../x.json"] {
            assert!(!is_inside(bad), "{bad}");
            let e = read(std::path::Path::new("/tmp"), bad).expect_err("refused").to_string();
            assert!(e.contains("not a path inside"), "{e}");
        }
    }
}
