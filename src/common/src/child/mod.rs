//! A child process under a parent's control, the one way every program of this
//! project starts another (echod's `--processes` children, a split loadgen run's
//! children, the suite's servers and runs, the tests): started, optionally pinned
//! with `taskset`, always dying with its parent (`PR_SET_PDEATHSIG`); its output read
//! line by line on threads, so it never blocks on a full pipe and every read of it is
//! bounded; ready once a line says so; waited for with a bound; stopped with grace —
//! SIGTERM, or closing its stdin (echod's own children stop on that), a bounded
//! wait, then SIGKILL. Dropping a running child stops it the same way.
//!
//! Invariants: a child is signalled only while it has not been reaped (a reaped
//! child's pid may already belong to another process); the exit status, once seen,
//! is kept, so `try_wait` after the end is cheap and never fails.
//!
//! Files: `spec` (what to start, and the one `Command` it becomes), `lines` (its
//! output, read line by line on threads), `error` (why a child did not get where it
//! was asked to); the started [`Child`] is here.

mod error;
mod lines;
mod spec;

use std::collections::VecDeque;
use std::io;
use std::process::{ChildStdin, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

pub use error::ChildError;
pub use lines::Line;
use lines::{Lines, Tail};
pub use spec::{Out, Spec};

/// How often bounded waits look at the child.
const TICK: Duration = Duration::from_millis(10);

/// How to ask a child to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM (servers, loadgen runs).
    Term,
    /// Close its stdin (echod's `--processes` children watch it).
    CloseStdin,
}

/// A started child.
#[derive(Debug)]
pub struct Child {
    /// For messages.
    name: String,
    /// The process.
    inner: std::process::Child,
    /// Its stdin pipe, while open.
    stdin: Option<ChildStdin>,
    /// Lines of the streams read as lines (None: neither is).
    lines: Option<Lines>,
    /// The last lines of stderr (when read as lines).
    tail: Tail,
    /// Lines read while looking for a line of the other stream, in order.
    pending: VecDeque<Line>,
    /// Every stream read as lines has ended (all its lines are received).
    closed: bool,
    /// The exit status, once seen.
    status: Option<ExitStatus>,
    /// It leads a process group of its own: stopping it signals the whole group.
    group: bool,
}

impl Child {
    /// Starts `spec`. The child gets SIGTERM if the thread that starts it dies, so
    /// start it from a thread that lives as long as it should (main, or the thread
    /// that waits for it).
    pub fn start(spec: Spec) -> Result<Child, ChildError> {
        let group = spec.has_own_group();
        let (name, mut command) = spec.command();
        let mut inner =
            command.spawn().map_err(|source| ChildError::Start { name: name.clone(), source })?;
        let tail = Tail::default();
        let lines = lines::read(inner.stdout.take(), inner.stderr.take(), &tail);
        let stdin = inner.stdin.take();
        let closed = lines.is_none();
        let pending = VecDeque::new();
        Ok(Child { name, inner, stdin, lines, tail, pending, closed, status: None, group })
    }

    /// Its pid (of `taskset` until it execs the program: the same process).
    pub fn pid(&self) -> u32 {
        self.inner.id()
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its stdin pipe, when it has one that is still open.
    pub fn stdin(&mut self) -> Option<&mut ChildStdin> {
        self.stdin.as_mut()
    }

    /// Closes its stdin (echod's children stop on that).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next line it printed, waiting at most `wait`; None when none came (or
    /// its streams are closed: then [`Child::try_wait`] tells whether it ended).
    pub fn next_line(&mut self, wait: Duration) -> Option<Line> {
        let line = match self.pending.pop_front() {
            Some(line) => Some(line),
            None => self.receive(wait),
        };
        line.map(|l| self.taken(l))
    }

    /// `line`, handed to the caller: no longer counted as unread.
    fn taken(&self, line: Line) -> Line {
        if let Some(lines) = &self.lines {
            lines.taken(&line);
        }
        line
    }

    /// The next line of stdout (`stdout` true) or of stderr, waiting at most `wait`;
    /// lines of the other stream read meanwhile stay for later, in order.
    pub fn next_line_of(&mut self, stdout: bool, wait: Duration) -> Option<String> {
        let wanted = |l: &Line| matches!(l, Line::Out(_)) == stdout;
        if let Some(i) = self.pending.iter().position(wanted) {
            let line = self.pending.remove(i)?;
            return Some(self.taken(line).text().to_string());
        }
        let deadline = Instant::now() + wait;
        loop {
            let line = self.receive(deadline.saturating_duration_since(Instant::now()))?;
            if wanted(&line) {
                return Some(self.taken(line).text().to_string());
            }
            self.pending.push_back(line);
        }
    }

    /// Every line still to come, until its streams close (at most `limit`): what it
    /// printed, once it has ended.
    pub fn remaining_lines(&mut self, limit: Duration) -> Vec<Line> {
        let deadline = Instant::now() + limit;
        let mut out: Vec<Line> = self.pending.drain(..).collect();
        let Some(lines) = self.lines.as_ref() else { return out };
        out.iter().for_each(|l| lines.taken(l));
        loop {
            match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    lines.taken(&line);
                    out.push(line);
                }
                Err(_) => return out,
            }
        }
    }

    /// Whether every line it will ever print has been taken: its streams ended and
    /// nothing is left unread.
    pub fn lines_done(&self) -> bool {
        self.closed && self.pending.is_empty()
    }

    fn receive(&mut self, wait: Duration) -> Option<Line> {
        let lines = self.lines.as_ref()?;
        match lines.recv_timeout(wait) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                self.closed = true;
                std::thread::sleep(wait.min(TICK));
                None
            }
        }
    }

    /// Waits until a line (either stream) contains `needle`, at most `limit`, and
    /// returns it. If the child ends first, or the bound passes (the child is then
    /// stopped), the error says so with its last lines of stderr.
    pub fn wait_for_line(&mut self, needle: &str, limit: Duration) -> Result<String, ChildError> {
        let deadline = Instant::now() + limit;
        let waited_for = format!("'{needle}'");
        while Instant::now() < deadline {
            if let Some(line) = self.next_line(TICK) {
                if line.text().contains(needle) {
                    return Ok(line.text().to_string());
                }
                continue;
            }
            if let Ok(Some(status)) = self.try_wait() {
                // Lines printed just before the end may still be on their way from
                // the reading threads: read until the streams close (bounded).
                let last = Instant::now() + Duration::from_secs(1);
                while !self.lines_done() && Instant::now() < last {
                    let Some(line) = self.next_line(TICK) else { continue };
                    if line.text().contains(needle) {
                        return Ok(line.text().to_string());
                    }
                }
                let (name, tail) = (self.name.clone(), self.tail());
                return Err(ChildError::Exited { name, status, waited_for, tail });
            }
        }
        let _ = self.stop(Stop::Term, Duration::from_secs(2));
        let (name, tail) = (self.name.clone(), self.tail());
        Err(ChildError::TimedOut { name, waited_for, limit, tail })
    }

    /// Its last lines of stderr (when read as lines).
    pub fn tail(&self) -> Vec<String> {
        self.tail.lock().map(|t| t.iter().cloned().collect()).unwrap_or_default()
    }

    /// Its exit status if it has ended (reaping it).
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.inner.try_wait()?;
        }
        Ok(self.status)
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.try_wait(), Ok(None))
    }

    /// Waits for it to end, at most `limit`, or until `stop` is set; None when it
    /// still runs then.
    pub fn wait_bounded(
        &mut self,
        limit: Duration,
        stop: Option<&AtomicBool>,
    ) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline || stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                return Ok(None);
            }
            std::thread::sleep(TICK);
        }
    }

    /// Sends SIGTERM if it has not ended (never to a reaped child); to its whole
    /// group when it leads one (whose members may outlive it) and has not been
    /// reaped: until then its pid, the group's id, cannot be anyone else's (a
    /// zombie holds it); once reaped, a group whose members all ended may be a
    /// stranger's, so it is not signalled.
    pub fn terminate(&mut self) {
        if self.group && self.status.is_none() {
            let _ = crate::sys::signal_group(self.pid(), libc::SIGTERM);
        } else if self.running() {
            let _ = crate::sys::terminate(self.pid());
        }
    }

    /// SIGKILL (if it has not ended; and its group, when it leads one and has not
    /// been reaped, see [`Child::terminate`]) and reap: how it ended.
    pub fn kill(&mut self) -> io::Result<ExitStatus> {
        if self.group && self.status.is_none() {
            let _ = crate::sys::signal_group(self.pid(), libc::SIGKILL);
        }
        if self.running() {
            let _ = self.inner.kill();
        }
        let status = self.inner.wait()?;
        self.status = Some(status);
        Ok(status)
    }

    /// Asks it to stop (`how`), waits up to `grace`, then kills it; how it ended.
    pub fn stop(&mut self, how: Stop, grace: Duration) -> io::Result<ExitStatus> {
        match how {
            Stop::Term => self.terminate(),
            Stop::CloseStdin => self.close_stdin(),
        }
        match self.wait_bounded(grace, None)? {
            Some(status) => Ok(status),
            None => self.kill(),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // Not reaped yet: stopped (its group too, while its id is surely its own).
        if self.status.is_none() {
            let _ = self.stop(Stop::Term, Duration::from_secs(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Spec {
        Spec::new("sh").args(["-c", script])
    }

    /// Output that is not UTF-8 does not end the reading (the child, printing on,
    /// is not killed by a broken pipe); a child printing far more than the parent
    /// takes is never blocked and the unread lines stay within MAX_UNREAD.
    #[test]
    fn any_bytes_any_amount_never_kill_the_child() {
        let mut c = Child::start(sh(
            "printf 'a\\377b\\n'; head -c 300000 /dev/zero | tr '\\0' x; echo; echo done",
        ))
        .expect("start");
        let status = c.wait_bounded(Duration::from_secs(30), None).expect("wait").expect("ended");
        assert!(status.success(), "{status:?}");
        let lines: Vec<String> = c
            .remaining_lines(Duration::from_secs(10))
            .iter()
            .map(|l| l.text().to_string())
            .collect();
        assert_eq!(lines[0], "a\u{fffd}b");
        assert_eq!((lines[1].len(), lines[2].as_str()), (300_000, "done"));
        let mut c = Child::start(sh("head -c 40000000 /dev/zero | tr '\\0' x | fold -w 1000"))
            .expect("start");
        let status = c.wait_bounded(Duration::from_secs(120), None).expect("wait").expect("ended");
        assert!(status.success(), "never blocked: {status:?}");
        let bytes: usize =
            c.remaining_lines(Duration::from_secs(10)).iter().map(|l| l.text().len()).sum();
        assert!(bytes > 1_000_000 && bytes <= lines::MAX_UNREAD, "{bytes}");
    }

    /// A group is signalled only while its leader is not reaped: after, a
    /// survivor of the group is left alone (its id could be a stranger's by then);
    /// before, the whole group is stopped.
    #[test]
    fn a_reaped_group_is_never_signalled() {
        // The shell ends when its stdin closes, after its child's pid is read.
        let script = "sleep 30 & echo $!; read x";
        let mut c = Child::start(sh(script).own_group().stdin_pipe()).expect("start");
        let pid = c.wait_for_line("", Duration::from_secs(10)).expect("pid");
        c.close_stdin();
        c.wait_bounded(Duration::from_secs(10), None).expect("wait").expect("reaped");
        c.terminate();
        let _ = c.kill();
        std::thread::sleep(Duration::from_millis(200));
        let alive =
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "));
        assert!(alive, "the reaped leader's group was signalled");
        let mut killer = Child::start(Spec::new("kill").args([pid.as_str()])).expect("kill");
        let _ = killer.wait_bounded(Duration::from_secs(10), None);
        let mut c = Child::start(sh(script).own_group().stdin_pipe()).expect("start");
        let pid = c.wait_for_line("", Duration::from_secs(10)).expect("pid");
        c.close_stdin();
        std::thread::sleep(Duration::from_millis(100));
        // Exited but not reaped: the group is still surely its own.
        let _ = c.stop(Stop::Term, Duration::from_secs(5));
        let deadline = Instant::now() + Duration::from_secs(10);
        let gone = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map_or(true, |s| s.contains(") Z "))
        };
        while !gone() && Instant::now() < deadline {
            std::thread::sleep(TICK);
        }
        assert!(gone(), "the group was stopped while its id was surely its own");
    }

    /// A ready line is found on either stream; the lines before it are read past.
    #[test]
    fn waits_for_a_line() {
        let mut c =
            Child::start(sh("echo starting; echo 'listening on x' >&2; sleep 30")).expect("start");
        let line = c.wait_for_line("listening on", Duration::from_secs(10)).expect("ready");
        assert_eq!(line, "listening on x");
        let status = c.stop(Stop::Term, Duration::from_secs(5)).expect("stop");
        assert!(!status.success());
        assert!(!c.running());
    }

    /// Only the last 20 lines of stderr are kept for messages; a child whose
    /// streams all go elsewhere has no lines to read.
    #[test]
    fn keeps_the_last_lines_and_reads_only_pipes() {
        let mut c =
            Child::start(sh("for i in $(seq 1 30); do echo line $i >&2; done")).expect("start");
        c.wait_bounded(Duration::from_secs(10), None).expect("wait").expect("ended");
        let all = c.remaining_lines(Duration::from_secs(10));
        assert_eq!(all.len(), 30, "{all:?}");
        let tail = c.tail();
        assert_eq!(tail.len(), 20);
        assert_eq!((tail[0].as_str(), tail[19].as_str()), ("line 11", "line 30"));
        let mut quiet =
            Child::start(sh("echo hidden").stdout(Out::Null).stderr(Out::Null)).expect("start");
        assert_eq!(quiet.next_line(Duration::from_millis(50)), None);
        assert!(quiet.lines_done());
    }

    /// A child that ends before its line: the error says how, with its last line.
    #[test]
    fn exit_before_the_line_is_an_error() {
        let mut c = Child::start(sh("echo 'no such flag' >&2; exit 2")).expect("start");
        let err = c.wait_for_line("listening on", Duration::from_secs(10)).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("sh exited (exit status: 2) before 'listening on'"), "{text}");
        assert!(text.ends_with("its last line: no such flag"), "{text}");
    }

    /// A child that never prints the line is stopped at the bound and reported.
    #[test]
    fn a_silent_child_times_out_and_is_stopped() {
        let mut c = Child::start(sh("sleep 30")).expect("start");
        let err = c.wait_for_line("ready", Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, ChildError::TimedOut { .. }), "{err}");
        assert!(!c.running(), "stopped at the bound");
    }

    /// Closing stdin stops a child that reads it; SIGKILL follows a child that
    /// ignores SIGTERM past the grace.
    #[test]
    fn stops_with_grace_then_kills() {
        let mut reader = Child::start(sh("read x; exit 7").stdin_pipe()).expect("start");
        let status = reader.stop(Stop::CloseStdin, Duration::from_secs(5)).expect("stop");
        assert_eq!(status.code(), Some(7));
        let mut stubborn = Child::start(sh("trap '' TERM; echo up; sleep 30")).expect("start");
        stubborn.wait_for_line("up", Duration::from_secs(10)).expect("up");
        let status = stubborn.stop(Stop::Term, Duration::from_millis(200)).expect("stop");
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    }

    /// Pinned with taskset, the program itself runs (taskset execs it): its pid is
    /// the child's, and its affinity is the one asked for.
    #[test]
    fn pinned_child_is_the_program() {
        let mut c = Child::start(sh("echo pid $$; sleep 30").pinned(&[0])).expect("start");
        let line = c.wait_for_line("pid", Duration::from_secs(10)).expect("pid");
        assert_eq!(line, format!("pid {}", c.pid()));
        let status = std::fs::read_to_string(format!("/proc/{}/status", c.pid())).expect("status");
        let allowed = status.lines().find(|l| l.starts_with("Cpus_allowed_list:")).expect("line");
        assert_eq!(allowed.split_whitespace().nth(1), Some("0"));
        drop(c);
    }

    /// A bounded wait returns None while it runs and the status once it ends; a
    /// stop flag ends the wait early.
    #[test]
    fn bounded_waits() {
        let mut c = Child::start(sh("sleep 0.2; exit 4")).expect("start");
        assert_eq!(c.wait_bounded(Duration::ZERO, None).expect("wait"), None);
        let status = c.wait_bounded(Duration::from_secs(10), None).expect("wait").expect("ended");
        assert_eq!(status.code(), Some(4));
        assert_eq!(c.try_wait().expect("again").and_then(|s| s.code()), Some(4));
        let mut long = Child::start(sh("sleep 30")).expect("start");
        let stop = AtomicBool::new(true);
        assert_eq!(long.wait_bounded(Duration::from_secs(30), Some(&stop)).expect("wait"), None);
    }
}
