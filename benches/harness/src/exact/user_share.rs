//! `--user-share` (informational, never gating): echod's user-space CPU per round
//! trip, natively, finer than the 250 Hz tick. `perf record -e cpu-clock -F 20000`
//! samples echod's threads over one loadgen run; the share of samples at user-space
//! addresses (below the kernel's half of the address space) times echod's CPU time
//! over the run (nanoseconds, /proc/PID/task/*/schedstat) over its round trips.
//! At 20 kHz a one-second run at conns=1 gives ~10,000 samples of which ~2.5% are in
//! user space: the figure moves by several percent between runs (counting noise),
//! so it is shown beside the exact figures, never gated.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _};
use common::child::{Child, Out, Spec};

use super::workload::{self, Load};

/// How long perf is given to attach before the load starts (it prints nothing when
/// it has; a sample lost at the start is one of thousands).
const ATTACH: Duration = Duration::from_millis(500);

/// The first kernel address on x86-64 and arm64 (the upper half).
const KERNEL_START: u64 = 0x8000_0000_0000_0000;

/// One run's figure: (user ns per round trip, user share of samples).
pub fn measure(perf: &Path, load: Load<'_>, pid: u32, dir: &Path) -> anyhow::Result<(f64, f64)> {
    let data = dir.join("perf.data");
    let pids: Vec<String> = common::procfs::tree(pid).iter().map(u32::to_string).collect();
    let spec = Spec::new(perf)
        .name("perf record")
        .args(["record", "-q", "-e", "cpu-clock", "-F", "20000", "-o"])
        .args([data.as_os_str()])
        .args(["-p", &pids.join(",")])
        .stdout(Out::Null);
    let mut recorder = Child::start(spec).context("cannot start perf record")?;
    std::thread::sleep(ATTACH);
    if !recorder.running() {
        bail!("perf record refused: {}", recorder.tail().join(" / "));
    }
    let before = cpu_ns(pid);
    let messages = workload::drive(load, &dir.join("share.json"))?;
    let cpu = cpu_ns(pid).saturating_sub(before);
    common::sys::signal(recorder.pid(), libc::SIGINT).context("cannot stop perf record")?;
    recorder.wait_bounded(Duration::from_secs(10), None)?.context("perf record did not stop")?;
    let script = Spec::new(perf)
        .name("perf script")
        .args(["script", "-F", "ip", "-i"])
        .args([data.as_os_str()])
        .stderr(Out::Null);
    let mut reader = Child::start(script).context("cannot start perf script")?;
    let lines: Vec<String> = reader
        .remaining_lines(Duration::from_secs(60))
        .into_iter()
        .map(|l| l.text().to_string())
        .collect();
    let _ = std::fs::remove_file(&data);
    let share = user_share(&lines).context("perf recorded no samples")?;
    Ok((share * cpu as f64 / messages.max(1) as f64, share))
}

/// The share of sample addresses (one hex address a line) below the kernel's.
pub fn user_share(lines: &[String]) -> Option<f64> {
    let addresses: Vec<u64> =
        lines.iter().filter_map(|l| u64::from_str_radix(l.trim(), 16).ok()).collect();
    let user = addresses.iter().filter(|&&a| a < KERNEL_START).count();
    (!addresses.is_empty()).then(|| user as f64 / addresses.len() as f64)
}

/// CPU nanoseconds of every thread of `pid`'s processes so far (schedstat's first field).
fn cpu_ns(pid: u32) -> u64 {
    let of = |p: u32| -> u64 {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else { return 0 };
        tasks
            .filter_map(Result::ok)
            .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    };
    common::procfs::tree(pid).into_iter().map(of).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Addresses in the kernel's half count as kernel; others as user; junk is skipped.
    #[test]
    fn user_share_of_addresses() {
        let lines: Vec<String> =
            ["ffffffff81234567", "55d4a1b2c3d4", " 7f00aa00bb00", "ffffffffc0001000", "junk"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        assert_eq!(user_share(&lines), Some(0.5));
        assert_eq!(user_share(&[]), None);
    }
}
