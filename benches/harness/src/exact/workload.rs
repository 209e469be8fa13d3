//! The fixed workloads: loadgen in a closed loop on loopback, 64-byte messages, one
//! thread and one process, no warm-up, over `--conns 1`, `--conns 50` and one
//! connection that comes and goes (`--lifetime 1`: the accept path); and one run of
//! one ([`drive`]): loadgen as a child (the same binary), its result read back for
//! the count of echoed messages.
//!
//! loadgen cannot stop after a fixed number of messages, only after a duration, so
//! the counts differ from run to run; every figure is divided by the messages that
//! run counted, and the instruction figure takes the difference of two runs (see
//! `callgrind`), so what each run costs once (connects, closes) cancels out.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _};
use common::child::{Child, Out, Spec};
use engine::result::RunResult;

/// Bytes per message.
pub const SIZE: usize = 64;

/// One workload: `conns` connections, each kept (`churn: false`) or living for
/// one echo, then closed by the client and replaced (`churn: true`, loadgen's
/// `--lifetime 1`): there a message is an accepted connection, its echo and its
/// close, so the figures are echod's accept path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    pub conns: u64,
    pub churn: bool,
}

/// The workloads measured: one connection, 50, and one that comes and goes (one
/// at a time: with 10 at once, accepts batch differently from round to round and
/// the count per message varied 24% between rounds, measured).
pub const WORKLOADS: [Workload; 3] = [
    Workload { conns: 1, churn: false },
    Workload { conns: 50, churn: false },
    Workload { conns: 1, churn: true },
];

/// The least tolerance a workload's instruction count gates at: the accept path's
/// count moves 1–2.3% between rounds of one build (measured: 4 A/A runs of 3
/// rounds, new/base 0.999–1.010), so a churn workload gates at 3%; the others at
/// the metric's own tolerance.
pub fn instructions_floor(workload: &str) -> f64 {
    let churn = WORKLOADS.iter().any(|w| w.churn && name(*w) == workload);
    if churn {
        0.03
    } else {
        0.0
    }
}

/// How long a loadgen run may take beyond its duration (start, connects, result).
const SLACK: Duration = Duration::from_secs(30);

/// One run of a workload against `target` for `duration`.
#[derive(Clone, Copy, Debug)]
pub struct Load<'a> {
    pub loadgen: &'a Path,
    pub target: &'a str,
    pub workload: Workload,
    pub duration: Duration,
}

/// The workload's name in tables and exact.json.
pub fn name(w: Workload) -> String {
    match w.churn {
        false => format!("conns={} size={SIZE}B closed-loop", w.conns),
        true => format!("conns={} size={SIZE}B churn lifetime=1", w.conns),
    }
}

/// Runs loadgen once (its result into `json`, removed after) and returns the
/// messages it echoed; a run with mismatched bytes or fewer connections than asked
/// is an error (its count would not be this workload's).
pub fn drive(load: Load<'_>, json: &Path) -> anyhow::Result<u64> {
    let duration = format!("{}ms", load.duration.as_millis());
    let conns = load.workload.conns;
    let churn: &[&str] = if load.workload.churn { &["--lifetime", "1"] } else { &[] };
    let spec = Spec::new(load.loadgen)
        .name("loadgen")
        .args(["--target", load.target, "--conns", &conns.to_string()])
        .args(churn)
        .args(["--size", &SIZE.to_string(), "--duration", &duration, "--warmup", "0s"])
        .args(["--threads", "1", "--processes", "1", "--quiet", "--json"])
        .args([json.as_os_str()])
        .stdout(Out::Null);
    let mut child = Child::start(spec).context("cannot start loadgen")?;
    let status = child
        .wait_bounded(load.duration + SLACK, None)
        .context("waiting for loadgen")?
        .with_context(|| format!("loadgen ran past {:?}", load.duration + SLACK))?;
    if !status.success() {
        bail!("loadgen failed ({status}): {}", child.tail().join(" / "));
    }
    let text = engine::result::read_bounded(json)?;
    let _ = std::fs::remove_file(json);
    let result: RunResult = serde_json::from_str(&text)
        .with_context(|| format!("loadgen's result {} does not parse", json.display()))?;
    if result.errors.mismatch > 0 || result.connections.established < conns {
        bail!("loadgen's run was not clean: {} mismatches", result.errors.mismatch);
    }
    if let Some(failed) = result.churn.as_ref().map(|c| c.failed()).filter(|f| *f > 0) {
        bail!("loadgen's run was not clean: {failed} replacement connects failed");
    }
    Ok(result.throughput.messages)
}
