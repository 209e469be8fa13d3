//! Counting a server's system calls: `perf stat -e raw_syscalls:sys_enter` attached
//! to every thread of its processes ([`Counter`]), and the sample run it counts
//! ([`sample`]): after a step's measurement, loadgen runs the step's load again for
//! a moment without warm-up while the counter is attached, and the count is divided
//! by the round trips of that sample.
//!
//! Why a sample of its own: enabling the syscall tracepoint sends every system call
//! on the machine (the client's too) through the kernel's slow path; on this
//! project's 2-core machine that cost epoll 10-25% of its round trips. The measured
//! run stays untouched, and the sample's own rate is not reported.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::child::{Child, Line, Out, Spec, Stop};
use common::procfs;

use crate::suite_index::SyscallSample;

/// How long perf may take to attach, and to exit after SIGINT.
const PERF_WAIT: Duration = Duration::from_secs(5);

/// A running `perf stat` counting system calls of a fixed set of threads, started
/// through the child module like every other child. Whichever way it ends, its
/// output file is gone afterwards: read by [`Counter::finish`], or removed when
/// perf failed or the counter was dropped.
pub struct Counter {
    child: Child,
    out: PathBuf,
    started: Instant,
}

impl Counter {
    /// Attaches perf (found at `perf`) to every thread of the processes `pids`, its
    /// output into `out`; returns once perf holds a counter for each of those
    /// threads, or an error with perf's own words.
    pub fn start(perf: &Path, pids: &[u32], out: &Path) -> Result<Counter, String> {
        if pids.is_empty() {
            return Err("no server process to count".into());
        }
        let list: Vec<String> = pids.iter().map(u32::to_string).collect();
        let spec = Spec::new(perf)
            .name("perf")
            .args(["stat", "-e", "raw_syscalls:sys_enter", "-x", ",", "-o"])
            .args([out.as_os_str()])
            .args(["-p", &list.join(",")])
            .stdout(Out::Null);
        let child = Child::start(spec).map_err(|e| e.to_string())?;
        let mut counter = Counter { child, out: out.to_path_buf(), started: Instant::now() };
        let threads: usize = pids.iter().map(|&p| thread_count(p)).sum();
        let deadline = Instant::now() + PERF_WAIT;
        loop {
            if !counter.child.running() {
                return Err(counter.failure());
            }
            if perf_events(counter.child.pid()) >= threads.max(1) {
                counter.started = Instant::now();
                return Ok(counter);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "perf did not attach to {threads} threads within {PERF_WAIT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops perf (SIGINT, as Ctrl-C would) and reads its count: (system calls,
    /// seconds counted).
    pub fn finish(mut self) -> Result<(u64, f64), String> {
        let seconds = self.started.elapsed().as_secs_f64();
        // Never a reaped child's pid: `running` has not seen it end.
        if self.child.running() {
            common::sys::signal(self.child.pid(), libc::SIGINT)
                .map_err(|e| format!("perf: cannot stop it: {e}"))?;
        }
        if self.child.wait_bounded(PERF_WAIT, None).map_err(|e| e.to_string())?.is_none() {
            return Err(format!("perf did not stop within {PERF_WAIT:?} of SIGINT"));
        }
        let text =
            std::fs::read_to_string(&self.out).map_err(|e| format!("perf wrote no count: {e}"))?;
        parse_count(&text).map(|n| (n, seconds))
    }

    /// perf's last line of stderr once it has exited by itself.
    fn failure(&mut self) -> String {
        let lines = self.child.remaining_lines(Duration::from_secs(1));
        let line = lines
            .iter()
            .filter(|l| matches!(l, Line::Err(_)))
            .map(|l| l.text().trim())
            .rfind(|l| !l.is_empty())
            .unwrap_or("");
        format!("perf stat refused: {line}")
    }
}

impl Drop for Counter {
    /// perf stopped first (it writes its file as it exits), then its file removed.
    fn drop(&mut self) {
        let _ = self.child.stop(Stop::Term, PERF_WAIT);
        let _ = std::fs::remove_file(&self.out);
    }
}

/// The count in `perf stat -x ,` output: the first field of the `raw_syscalls:sys_enter`
/// line; `<not counted>` or `<not supported>` is an error naming it.
pub fn parse_count(text: &str) -> Result<u64, String> {
    let line = text
        .lines()
        .find(|l| !l.starts_with('#') && l.contains("raw_syscalls:sys_enter"))
        .ok_or_else(|| "perf's output has no raw_syscalls:sys_enter line".to_string())?;
    let field = line.split(',').next().unwrap_or("").trim();
    field.parse().map_err(|_| format!("perf counted nothing: {field}"))
}

/// Threads of process `pid` now.
fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, Iterator::count)
}

/// Perf event descriptors process `pid` holds.
fn perf_events(pid: u32) -> usize {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return 0 };
    dir.filter_map(Result::ok)
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().contains("perf_event"))
        })
        .count()
}

/// Counts the system calls of the server whose top process is `pid` while `run`
/// (the sample: loadgen again, no warm-up) runs; `run` returns the round trips it
/// completed. Never fails: what went wrong is the sample's `missing`.
pub fn sample(
    perf: Option<&Path>,
    pid: u32,
    out: &Path,
    run: impl FnOnce() -> anyhow::Result<u64>,
) -> SyscallSample {
    let missing = |why: String| SyscallSample { missing: Some(why), ..SyscallSample::default() };
    let Some(perf) = perf else {
        return missing("not counted: perf is not on PATH (Debian: apt install linux-perf)".into());
    };
    let counter = match Counter::start(perf, &procfs::tree(pid), out) {
        Ok(c) => c,
        Err(e) => return missing(format!("not counted: {e}")),
    };
    let messages = run();
    let counted = counter.finish();
    match (messages, counted) {
        (Ok(messages), Ok((syscalls, seconds))) => {
            SyscallSample { syscalls, messages, seconds, missing: None }
        }
        (Err(e), _) => missing(format!("not counted: the sample run failed: {e:#}")),
        (_, Err(e)) => missing(format!("not counted: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// perf's CSV line gives the count; a refusal is an error that says so.
    #[test]
    fn reads_perf_csv() {
        let text = "# started on Mon Nov 30 09:00:00 2026\n\n1400387,,raw_syscalls:sys_enter,4996839744,100.00,,\n";
        assert_eq!(parse_count(text), Ok(1_400_387));
        let refused = "<not counted>,,raw_syscalls:sys_enter,0,100.00,,\n";
        assert_eq!(parse_count(refused), Err("perf counted nothing: <not counted>".into()));
        assert!(parse_count("# nothing\n").is_err());
    }

    /// A perf that opens its output file and then refuses (as perf does without
    /// permission): the error carries its words, and no empty file is left behind
    /// (one was, in results/, when perf was started by hand).
    #[test]
    fn a_refusing_perf_leaves_no_file() {
        let dir = std::env::temp_dir().join(format!("perf-refuses-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let fake = dir.join("perf");
        // Its arguments: stat -e EVENT -x , -o OUT -p PIDS; OUT is the 7th.
        std::fs::write(&fake, "#!/bin/sh\n: > \"$7\"\necho 'Error: no access' >&2\nexit 1\n")
            .expect("write");
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let out = dir.join("counts.tmp");
        let err = Counter::start(&fake, &[std::process::id()], &out).err().expect("refused");
        assert_eq!(err, "perf stat refused: Error: no access");
        assert!(!out.exists(), "{} left behind", out.display());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Counting a process that makes a known number of system calls: at least that
    /// many are counted (where perf is here and allowed; else one printed line).
    #[test]
    fn counts_a_busy_process() {
        let Some(perf) = std::env::var_os("PATH")
            .and_then(|p| std::env::split_paths(&p).map(|d| d.join("perf")).find(|p| p.is_file()))
        else {
            println!("skipped: perf is not on PATH");
            return;
        };
        // A shell that runs `true` 200 times: each fork/exec is dozens of calls.
        let mut child = Command::new("sh")
            .args(["-c", "read x; i=0; while [ $i -lt 200 ]; do /bin/true; i=$((i+1)); done"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("sh");
        let out = std::env::temp_dir().join(format!("perf-test-{}.csv", std::process::id()));
        let counter = match Counter::start(&perf, &[child.id()], &out) {
            Ok(c) => c,
            Err(e) => {
                println!("skipped: {e}");
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
        };
        drop(child.stdin.take()); // `read` returns: the loop starts
        let status = child.wait().expect("wait");
        assert!(status.success());
        let (count, seconds) = counter.finish().expect("a count");
        // 200 forks at least, each a clone and a wait in the counted shell.
        assert!(count >= 400, "counted {count}");
        assert!(seconds > 0.0);
    }
}
