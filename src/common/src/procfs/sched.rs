//! What the scheduler counts, read from /proc: each thread's run time
//! (/proc/PID/task/TID/schedstat, nanoseconds, exact: the scheduler adds every
//! slice, it does not sample ticks) and context switches (the thread's status),
//! and the machine's CPU time over all cores (/proc/stat's `cpu` line, clock
//! ticks). The one reader of these files; each parser is a function of the text,
//! tested on literal text.
//!
//! A thread that exits between the listing of /proc/PID/task and the reading of
//! its files is left out of the reading (it is gone; its counters went with it).

use std::collections::BTreeMap;

use super::status_field;
use crate::sys;

/// One thread's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskCounts {
    /// Nanoseconds it ran on a CPU (user and system together).
    pub run_ns: u64,
    /// Voluntary and involuntary context switches.
    pub context_switches: u64,
}

/// Every thread of `pid`, by TID; `None` when the process is gone.
pub fn task_counts(pid: u32) -> Option<BTreeMap<u32, TaskCounts>> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut out = BTreeMap::new();
    for entry in dir.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let path = entry.path();
        let sched = std::fs::read_to_string(path.join("schedstat")).ok();
        let status = std::fs::read_to_string(path.join("status")).ok();
        let run_ns = sched.as_deref().and_then(parse_schedstat);
        let switches = status.as_deref().and_then(context_switches);
        if let (Some(run_ns), Some(context_switches)) = (run_ns, switches) {
            out.insert(tid, TaskCounts { run_ns, context_switches });
        }
    }
    Some(out)
}

/// The run time, ns, of a schedstat text (`run_ns wait_ns slices`).
pub fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Voluntary + involuntary context switches of a /proc/PID/status text.
pub fn context_switches(status: &str) -> Option<u64> {
    let voluntary = status_field(status, "voluntary_ctxt_switches")?;
    voluntary.checked_add(status_field(status, "nonvoluntary_ctxt_switches")?)
}

/// The machine's CPU time since boot, all cores together, in clock ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MachineTicks {
    /// user + nice + system + irq + softirq + steal (not idle, not iowait; guest
    /// time is inside user already).
    pub busy: u64,
    /// Time a hypervisor ran something else while this machine wanted the CPU.
    pub steal: u64,
    /// The `cpuN` lines: the cores the kernel counts.
    pub cores: usize,
}

impl MachineTicks {
    /// Seconds in `ticks` at the kernel's clock-tick rate.
    pub fn seconds(ticks: u64) -> f64 {
        ticks as f64 / sys::clock_ticks_per_second() as f64
    }
}

/// The machine's CPU time now (/proc/stat).
pub fn machine_ticks() -> Option<MachineTicks> {
    parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// The `cpu` line and the count of `cpuN` lines of a /proc/stat text.
pub fn parse_proc_stat(text: &str) -> Option<MachineTicks> {
    let line = text.lines().find(|l| l.split_whitespace().next() == Some("cpu"))?;
    let f: Vec<u64> =
        line.split_whitespace().skip(1).map(|v| v.parse().ok()).collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]
    let at = |i: usize| f.get(i).copied();
    let busy = [0, 1, 2, 5, 6, 7].iter().try_fold(0u64, |sum, &i| sum.checked_add(at(i)?))?;
    let cores = text
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.strip_prefix("cpu"))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .count();
    Some(MachineTicks { busy, steal: at(7)?, cores })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// schedstat's first field is the run time; status gives both switch counts.
    #[test]
    fn parses_schedstat_and_switches() {
        assert_eq!(parse_schedstat("123456789 2000 17\n"), Some(123_456_789));
        assert_eq!(parse_schedstat(""), None);
        let status = "Name:\tw\nvoluntary_ctxt_switches:\t40\nnonvoluntary_ctxt_switches:\t2\n";
        assert_eq!(context_switches(status), Some(42));
        assert_eq!(context_switches("Name:\tw\nvoluntary_ctxt_switches:\t40\n"), None);
    }

    /// /proc/stat: busy is user+nice+system+irq+softirq+steal, the cores are the
    /// cpuN lines; a line cut short is refused.
    #[test]
    fn parses_proc_stat() {
        let text = "cpu  100 5 30 900 7 1 2 3 0 0\ncpu0 50 5 15 450 3 1 1 2 0 0\n\
                    cpu1 50 0 15 450 4 0 1 1 0 0\nintr 1 2\nctxt 99\n";
        let m = parse_proc_stat(text);
        assert_eq!(m, Some(MachineTicks { busy: 141, steal: 3, cores: 2 }));
        assert_eq!(parse_proc_stat("cpu  100 5 30 900\n"), None);
        assert_eq!(parse_proc_stat("intr 1\n"), None);
    }

    /// This process's own threads are read, and the machine has a core and ticks.
    #[test]
    fn reads_this_process_and_the_machine() {
        let tasks = task_counts(std::process::id()).unwrap_or_default();
        assert!(tasks.contains_key(&std::process::id()), "{tasks:?}");
        assert!(machine_ticks().is_some_and(|m| m.cores >= 1 && m.busy > 0));
        assert_eq!(task_counts(u32::MAX), None);
    }
}
