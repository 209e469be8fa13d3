//! Helpers the test modules share: running the `loadgen` binary with a deadline.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs the `loadgen` binary with `args` and collects its output; kills it if it
/// outlives `limit` (every run under test stops by itself well before).
pub fn loadgen(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn loadgen");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// A process's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A `loadgen` process under test whose stderr is read a line at a time while it
/// runs, so a test can wait for a line, then signal it.
pub struct Running {
    /// The process.
    pub child: std::process::Child,
    /// Its stderr lines, as they come (the reader thread ends at EOF).
    lines: std::sync::mpsc::Receiver<String>,
    /// Every stderr line read so far.
    pub seen: Vec<String>,
}

/// Starts the `loadgen` binary with `args` in folder `dir` (where it may write),
/// with `TMPDIR` set to `tmp` when given.
pub fn spawn(args: &[&str], dir: &std::path::Path, tmp: Option<&std::path::Path>) -> Running {
    use std::io::BufRead as _;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loadgen"));
    cmd.args(args).current_dir(dir).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(tmp) = tmp {
        cmd.env("TMPDIR", tmp);
    }
    let mut child = cmd.spawn().expect("spawn loadgen");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Running { child, lines, seen: Vec::new() }
}

impl Running {
    /// Waits until a stderr line contains `text`; gives up after `limit` (false).
    pub fn wait_for_line(&mut self, text: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        if self.seen.iter().any(|l| l.contains(text)) {
            return true;
        }
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(text);
                    self.seen.push(line);
                    if found {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    /// Sends `signal` (e.g. `INT`, `TERM`) with kill(1), unless the process has
    /// ended (once reaped, its pid may be another process's).
    pub fn signal(&mut self, signal: &str) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to end (killing it after `limit`); returns its exit
    /// code (None: killed), its stdout and every stderr line.
    pub fn finish(mut self, limit: Duration) -> (Option<i32>, String, Vec<String>) {
        use std::io::Read as _;
        let deadline = Instant::now() + limit;
        while self.child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = self.child.wait().expect("wait");
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_string(&mut stdout);
        }
        // The reader thread ends at EOF: collect what it has left.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        (status.code(), stdout, self.seen)
    }
}
