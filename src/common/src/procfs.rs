//! What /proc says about a process: its CPU time (in the machine's real clock-tick
//! unit, not an assumed 100 per second), its resident memory, its open
//! descriptors, and the tree of its descendants (a server with `--processes`, a
//! split load generator). The one reader of these files in the project: the suite,
//! the load generator's own CPU line and the tests all go through it.
//!
//! [`net`] reads the kernel's socket tables (/proc/net/tcp), the one parser of them;
//! [`sched`] what the scheduler counts: each thread's run time and context switches
//! (/proc/PID/task/TID/schedstat and status) and the machine's CPU time (/proc/stat).
//!
//! Every reader returns `None` for a process that is gone (or a field that cannot
//! be read): a measurement taken while a process exits is missing, never guessed.

use crate::sys;

pub mod net;
pub mod sched;

/// utime + stime of `pid`, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    stat_cpu(&format!("/proc/{pid}/stat"))
}

/// utime + stime of this process, in seconds.
pub fn self_cpu_seconds() -> Option<f64> {
    stat_cpu("/proc/self/stat")
}

/// utime and stime of `pid` (every thread, the exited ones included), in seconds:
/// the kernel's tick-sampled split of its CPU time into user and system.
pub fn user_system_seconds(pid: u32) -> Option<(f64, f64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (utime, stime) = parse_stat_times(&text)?;
    let hz = sys::clock_ticks_per_second() as f64;
    Some((utime as f64 / hz, stime as f64 / hz))
}

fn stat_cpu(path: &str) -> Option<f64> {
    let (utime, stime) = parse_stat_times(&std::fs::read_to_string(path).ok()?)?;
    Some((utime + stime) as f64 / sys::clock_ticks_per_second() as f64)
}

/// utime and stime, in clock ticks, of a /proc/PID/stat text.
fn parse_stat_times(text: &str) -> Option<(u64, u64)> {
    // The fields after the command name, which is in parentheses and may hold
    // spaces: state is field 3, utime 14 and stime 15.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

/// The first number of the `name:` line of a /proc/PID/status text (VmRSS in kB,
/// voluntary_ctxt_switches, ...).
pub fn status_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.strip_prefix(name).is_some_and(|r| r.starts_with(':')))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resident memory of `pid` (VmRSS), in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(status_field(&text, "VmRSS")? * 1024)
}

/// Open descriptors of `pid`.
pub fn fd_count(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// Whether `pid` runs (exists and is not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|t| Some(t[t.rfind(')')? + 1..].split_whitespace().next()? != "Z"))
        .unwrap_or(false)
}

/// `pid` and all its descendants, parents first (from /proc/PID/task/*/children).
pub fn tree(pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", out[i])) {
            for task in tasks.flatten() {
                let kids =
                    std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
                out.extend(kids.split_whitespace().filter_map(|k| k.parse::<u32>().ok()));
            }
        }
        i += 1;
    }
    out
}

/// A reading summed over `pid`'s tree (processes that vanish meanwhile count 0).
pub fn tree_sum<T: std::iter::Sum<T>>(pid: u32, read: impl Fn(u32) -> Option<T>) -> T {
    tree(pid).into_iter().filter_map(read).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real child: its CPU time, memory and descriptors read, it is found in this
    /// process's tree, and once reaped it is neither alive nor read.
    #[test]
    fn reads_a_real_process() {
        let me = std::process::id();
        assert!(self_cpu_seconds().is_some());
        assert!(rss_bytes(me).is_some_and(|r| r > 0));
        assert!(fd_count(me).is_some_and(|n| n >= 3));
        let mut child = std::process::Command::new("sleep").arg("30").spawn().expect("spawn");
        let pid = child.id();
        assert!(alive(pid));
        assert!(tree(me).contains(&pid));
        assert!(cpu_seconds(pid).is_some_and(|c| c >= 0.0));
        assert!(tree_sum(me, rss_bytes) >= rss_bytes(me).unwrap_or(0));
        child.kill().expect("kill");
        child.wait().expect("reap");
        assert!(!alive(pid));
        assert_eq!(rss_bytes(pid), None);
        assert!(sys::clock_ticks_per_second() > 0);
    }

    /// utime and stime are fields 14 and 15, counted after a command name that
    /// holds spaces and parentheses; a status field is found by its exact name.
    #[test]
    fn parses_stat_and_status_text() {
        let stat = "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0";
        assert_eq!(parse_stat_times(stat), Some((250, 75)));
        assert_eq!(parse_stat_times("42 (x) S 1"), None);
        let status = "Name:\techod\nVmRSS:\t  1234 kB\nvoluntary_ctxt_switches:\t17\n\
                      nonvoluntary_ctxt_switches:\t3\n";
        assert_eq!(status_field(status, "VmRSS"), Some(1234));
        assert_eq!(status_field(status, "voluntary_ctxt_switches"), Some(17));
        assert_eq!(status_field(status, "nonvoluntary_ctxt_switches"), Some(3));
        assert_eq!(status_field(status, "ctxt_switches"), None);
    }
}
