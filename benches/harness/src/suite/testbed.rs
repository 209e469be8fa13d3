//! The several-hosts step: `loadgen testbed` with three agents, each in a network
//! namespace of its own with its own address, sharding one run against echod in a
//! fourth and merged into one result. `--full` runs it; `--testbed` runs it in any
//! profile. Its printed report goes into `testbed/testbed.txt` beside the agents'
//! and the merged results, which the report shows.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The agents of the step.
pub const AGENTS: u64 = 3;

/// The folder under the suite's output the step writes to.
pub const DIR: &str = "testbed";

/// Runs `loadgen testbed` into `out/testbed/`: `conns` connections over
/// [`AGENTS`] agents, measured `duration` after `warmup`. Returns the folder
/// (relative to `out`) when it produced its report, or why it did not.
pub fn run(
    loadgen: &Path,
    out: &Path,
    conns: u64,
    duration: Duration,
    warmup: Duration,
) -> (Option<String>, Option<String>) {
    let dir = out.join(DIR);
    let mut cmd = Command::new(loadgen);
    cmd.arg("testbed")
        .args(["--agents", &AGENTS.to_string(), "--conns", &conns.to_string()])
        .args(["--duration", &humantime::format_duration(duration).to_string()])
        .args(["--warmup", &humantime::format_duration(warmup).to_string()])
        .arg("--out")
        .arg(&dir);
    common::sys::die_with_parent(&mut cmd, libc::SIGTERM);
    match cmd.output() {
        Ok(o) if dir.join("merged.json").exists() => {
            std::fs::write(dir.join("testbed.txt"), &o.stdout).ok();
            eprintln!("done (exit {})", o.status.code().unwrap_or(-1));
            (Some(DIR.into()), None)
        }
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let why = err.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("no output");
            eprintln!("skipped: {why}");
            (None, Some(why.to_string()))
        }
        Err(e) => {
            eprintln!("skipped: {e}");
            (None, Some(format!("cannot run loadgen testbed: {e}")))
        }
    }
}
