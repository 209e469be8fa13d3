//! The fixed workload: loadgen in a closed loop on loopback, 64-byte messages, one
//! thread and one process, no warm-up, over `--conns 1` and `--conns 50`; and one
//! run of it ([`drive`]): loadgen as a child (the same binary), its result read
//! back for the count of echoed messages.
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

/// The connection counts measured, each a workload of its own.
pub const CONNS: [u64; 2] = [1, 50];

/// How long a loadgen run may take beyond its duration (start, connects, result).
const SLACK: Duration = Duration::from_secs(30);

/// One run of the workload: `conns` connections to `target` for `duration`.
#[derive(Clone, Copy, Debug)]
pub struct Load<'a> {
    pub loadgen: &'a Path,
    pub target: &'a str,
    pub conns: u64,
    pub duration: Duration,
}

/// The workload's name in tables and exact.json.
pub fn name(conns: u64) -> String {
    format!("conns={conns} size={SIZE}B closed-loop")
}

/// Runs loadgen once (its result into `json`, removed after) and returns the
/// messages it echoed; a run with mismatched bytes or fewer connections than asked
/// is an error (its count would not be this workload's).
pub fn drive(load: Load<'_>, json: &Path) -> anyhow::Result<u64> {
    let duration = format!("{}ms", load.duration.as_millis());
    let spec = Spec::new(load.loadgen)
        .name("loadgen")
        .args(["--target", load.target, "--conns", &load.conns.to_string()])
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
    if result.errors.mismatch > 0 || result.connections.established < load.conns {
        bail!("loadgen's run was not clean: {} mismatches", result.errors.mismatch);
    }
    Ok(result.throughput.messages)
}
