//! The built `echod` binary as a child process: spawn it, read its ready line and its
//! output line by line (on channels, so every read is bounded), signal it, and wait
//! for it with a bound (killing it if it overstays, and when dropped).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use super::WAIT;

/// A running echod with its output lines arriving on channels.
pub struct Echod {
    /// The process.
    pub child: Child,
    /// Its stdout, line by line.
    pub stdout: Receiver<String>,
    /// Its stderr, line by line.
    pub stderr: Receiver<String>,
}

fn lines(r: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// Starts the built echod with `args`.
pub fn spawn(args: &[&str]) -> Echod {
    spawn_with(Command::new(env!("CARGO_BIN_EXE_echod")), args)
}

/// Starts echod through `command` (e.g. prlimit) with `args`.
pub fn spawn_with(mut command: Command, args: &[&str]) -> Echod {
    let mut child = command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn echod");
    let stdout = lines(child.stdout.take().expect("stdout"));
    let stderr = lines(child.stderr.take().expect("stderr"));
    Echod { child, stdout, stderr }
}

impl Echod {
    /// Waits for the ready line; returns the address it names.
    pub fn ready(&self) -> SocketAddr {
        let line = self.stdout.recv_timeout(WAIT).expect("a ready line");
        let addr = line.strip_prefix("listening on ").expect("ready line").split(' ').next();
        addr.expect("address").parse().expect("socket address")
    }

    /// Sends `sig` (e.g. "-TERM") with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.child.id().to_string()]).status();
        assert!(ok.expect("kill").success());
    }

    /// Waits (bounded) for exit; kills it if it overstays.
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("echod did not exit");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Reads stderr (bounded) until a line contains `needle`; returns that line.
    pub fn stderr_line_with(&self, needle: &str) -> String {
        let mut seen = Vec::new();
        while let Ok(l) = self.stderr.recv_timeout(WAIT) {
            if l.contains(needle) {
                return l;
            }
            seen.push(l);
        }
        panic!("no stderr line with {needle:?}; saw {seen:?}");
    }

    /// Every stderr line until none came for 5 s (or the stream ended).
    pub fn stderr_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(l) = self.stderr.recv_timeout(Duration::from_secs(5)) {
            out.push(l);
        }
        out
    }
}

impl Drop for Echod {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A per-test-process path in the temporary folder.
pub fn temp_json(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("echod-test-{}-{name}.json", std::process::id()))
}

/// Flags for a loopback echod on a kernel-chosen port, unpinned.
pub const LOCAL: [&str; 5] = ["--bind", "127.0.0.1", "--port", "0", "--no-pin"];
