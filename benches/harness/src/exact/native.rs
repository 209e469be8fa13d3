//! System calls and context switches per round trip, counted natively (not under
//! valgrind): echod (`--workers 1`) started on its own, and for each workload one
//! loadgen run while the suite's counter (`perf stat -e raw_syscalls:sys_enter`,
//! `suite::syscalls::Counter`) is attached to its threads. Context switches are the
//! kernel's own per-thread counts (`voluntary_ctxt_switches` and
//! `nonvoluntary_ctxt_switches` in /proc/PID/task/TID/status, what perf's
//! `context-switches` event counts too), read before and after the run: exact and
//! free, so no second perf is needed.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use common::child::{Child, Spec, Stop};

use super::workload::{self, Load, Workload};
use crate::suite::syscalls::Counter;

/// How long each native run lasts.
pub const DURATION: Duration = Duration::from_millis(1000);

/// One workload's native figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Counts {
    pub syscalls_per_rt: f64,
    pub ctx_switches_per_rt: f64,
    pub messages: u64,
    /// `--user-share`: user-space CPU ns per round trip, from a run of its own.
    pub user_ns_per_rt: Option<f64>,
}

/// Starts `echod` natively, measures each workload (and the user-space share
/// when `share`), stops it.
pub fn measure(
    perf: &Path,
    loadgen: &Path,
    echod: &Path,
    dir: &Path,
    workloads: &[Workload],
    share: bool,
) -> anyhow::Result<Vec<Counts>> {
    let spec = Spec::new(echod).args(["--bind=127.0.0.1", "--port=0", "--workers=1", "--no-pin"]);
    let mut server = Child::start(spec).context("cannot start echod")?;
    let line = server.wait_for_line("listening on", Duration::from_secs(20))?;
    let target = line.split_whitespace().nth(2).context("echod's address")?.to_string();
    let mut counts = Vec::with_capacity(workloads.len());
    for &workload in workloads {
        let load = Load { loadgen, target: &target, workload, duration: DURATION };
        let mut figures = one(perf, load, server.pid(), dir)?;
        if share {
            let (ns, _) = super::user_share::measure(perf, load, server.pid(), dir)?;
            figures.user_ns_per_rt = Some(ns);
        }
        counts.push(figures);
    }
    let _ = server.stop(Stop::Term, Duration::from_secs(5));
    Ok(counts)
}

/// One run with the counter attached to the server `pid`.
fn one(perf: &Path, load: Load<'_>, pid: u32, dir: &Path) -> anyhow::Result<Counts> {
    let before = context_switches(pid);
    let counter = Counter::start(perf, &common::procfs::tree(pid), &dir.join("perf.csv"))
        .map_err(anyhow::Error::msg)?;
    let messages = workload::drive(load, &dir.join("native.json"))?;
    let (syscalls, _) = counter.finish().map_err(anyhow::Error::msg)?;
    let switches = context_switches(pid).saturating_sub(before);
    let per = |n: u64| n as f64 / messages.max(1) as f64;
    Ok(Counts {
        syscalls_per_rt: per(syscalls),
        ctx_switches_per_rt: per(switches),
        messages,
        user_ns_per_rt: None,
    })
}

/// Context switches of every thread of the processes of `pid`'s tree so far.
fn context_switches(pid: u32) -> u64 {
    common::procfs::tree(pid).iter().map(|&p| process_switches(p)).sum()
}

/// Context switches of every thread of process `pid`.
fn process_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .map(|status| switches_in(&status))
        .sum()
}

/// The voluntary and involuntary switches a /proc status text counts.
pub fn switches_in(status: &str) -> u64 {
    status
        .lines()
        .filter(|l| {
            l.starts_with("voluntary_ctxt_switches:")
                || l.starts_with("nonvoluntary_ctxt_switches:")
        })
        .filter_map(|l| l.split(':').nth(1)?.trim().parse::<u64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both kinds of switch are summed; other lines are ignored.
    #[test]
    fn reads_switches_from_status() {
        let status = "Name:\techod-w0\nThreads:\t2\nvoluntary_ctxt_switches:\t1200\n\
                      nonvoluntary_ctxt_switches:\t34\n";
        assert_eq!(switches_in(status), 1234);
        assert_eq!(switches_in("Name: x\n"), 0);
    }
}
