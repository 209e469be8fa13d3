//! Helpers the test modules share: running the `loadgen` binary with a deadline,
//! through [`common::child`] (the one way this project starts another program).

use std::os::unix::process::ExitStatusExt as _;
use std::process::{ExitStatus, Output};
use std::time::{Duration, Instant};

use common::child::{Child, Line, Spec};

/// How long the lines of a process that ended may take to arrive.
const LAST_LINES: Duration = Duration::from_secs(5);

/// Runs the `loadgen` binary with `args` and collects its output; kills it if it
/// outlives `limit` (every run under test stops by itself well before).
pub fn loadgen(args: &[&str], limit: Duration) -> Output {
    let mut child =
        Child::start(Spec::new(env!("CARGO_BIN_EXE_loadgen")).args(args)).expect("spawn loadgen");
    let status = finish(&mut child, limit);
    let (stdout, stderr) = split(child.remaining_lines(LAST_LINES));
    Output { status, stdout: stdout.into_bytes(), stderr: stderr.join("\n").into_bytes() }
}

/// Waits for `child` (killing it after `limit`).
fn finish(child: &mut Child, limit: Duration) -> ExitStatus {
    match child.wait_bounded(limit, None).expect("wait") {
        Some(status) => status,
        None => child.kill().unwrap_or_else(|_| ExitStatus::from_raw(9)),
    }
}

/// Lines as stdout text and stderr lines.
fn split(lines: Vec<Line>) -> (String, Vec<String>) {
    let mut stdout = String::new();
    let mut stderr = Vec::new();
    for line in lines {
        match line {
            Line::Out(l) => {
                stdout.push_str(&l);
                stdout.push('\n');
            }
            Line::Err(l) => stderr.push(l),
        }
    }
    (stdout, stderr)
}

/// A process's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A `loadgen` process under test whose stderr is read a line at a time while it
/// runs, so a test can wait for a line, then signal it.
pub struct Running {
    /// The process.
    pub child: Child,
    /// Every stderr line read so far.
    pub seen: Vec<String>,
}

/// Starts the `loadgen` binary with `args` in folder `dir` (where it may write),
/// with `TMPDIR` set to `tmp` when given.
pub fn spawn(args: &[&str], dir: &std::path::Path, tmp: Option<&std::path::Path>) -> Running {
    let mut spec = Spec::new(env!("CARGO_BIN_EXE_loadgen")).args(args).current_dir(dir);
    if let Some(tmp) = tmp {
        spec = spec.env("TMPDIR", tmp);
    }
    Running { child: Child::start(spec).expect("spawn loadgen"), seen: Vec::new() }
}

impl Running {
    /// Waits until a stderr line contains `text`; gives up after `limit` (false).
    pub fn wait_for_line(&mut self, text: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        if self.seen.iter().any(|l| l.contains(text)) {
            return true;
        }
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Some(line) = self.child.next_line_of(false, left) else { return false };
            let found = line.contains(text);
            self.seen.push(line);
            if found {
                return true;
            }
        }
        false
    }

    /// Sends `signal` (e.g. `INT`, `TERM`) with kill(1), unless the process has
    /// ended (once reaped, its pid may be another process's).
    pub fn signal(&mut self, signal: &str) {
        if !self.child.running() {
            return;
        }
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to end (killing it after `limit`); returns its exit
    /// code (None: killed), its stdout and every stderr line.
    pub fn finish(mut self, limit: Duration) -> (Option<i32>, String, Vec<String>) {
        let status = finish(&mut self.child, limit);
        let (stdout, stderr) = split(self.child.remaining_lines(LAST_LINES));
        self.seen.extend(stderr);
        (status.code(), stdout, self.seen)
    }
}

/// echod on 127.0.0.1 (one worker, a port of the kernel's choice) beside the loadgen
/// under test, and its address.
pub fn echod_on_loopback() -> (Child, String) {
    let echod = std::path::PathBuf::from(env!("CARGO_BIN_EXE_loadgen")).with_file_name("echod");
    let mut server = Child::start(Spec::new(&echod).args([
        "--bind=127.0.0.1",
        "--port=0",
        "--workers=1",
        "--no-pin",
    ]))
    .expect("start echod");
    let ready = server.wait_for_line("listening on", Duration::from_secs(20)).expect("echod ready");
    let addr = ready.split_whitespace().nth(2).expect("echod's address").to_string();
    (server, addr)
}
