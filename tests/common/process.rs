//! The built `echod` binary as a child process (through [`common::child`], as every
//! program here starts another): spawn it, read its ready line and its output line
//! by line (every read bounded), signal it, and wait for it with a bound (killing it
//! if it overstays, and when dropped).

use std::net::SocketAddr;
use std::process::ExitStatus;
use std::time::Duration;

use common::child::{Child, Spec};

use super::WAIT;

/// A running echod.
pub struct Echod {
    child: Child,
}

/// The built echod, as a [`Spec`] a test can add to (environment, folder).
pub fn echod_spec() -> Spec {
    Spec::new(env!("CARGO_BIN_EXE_echod")).name("echod")
}

/// Starts the built echod with `args`.
pub fn spawn(args: &[&str]) -> Echod {
    spawn_with(echod_spec(), args)
}

/// Starts `spec` (echod, or a wrapper such as prlimit ending in echod) with `args`.
pub fn spawn_with(spec: Spec, args: &[&str]) -> Echod {
    Echod { child: Child::start(spec.args(args)).expect("spawn echod") }
}

impl Echod {
    /// Waits for the ready line; returns the address it names.
    pub fn ready(&mut self) -> SocketAddr {
        let line = self.child.next_line_of(true, WAIT).expect("a ready line");
        let addr = line.strip_prefix("listening on ").expect("ready line").split(' ').next();
        addr.expect("address").parse().expect("socket address")
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Sends `sig` (e.g. "-TERM") with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill").args([sig, &self.pid().to_string()]).status();
        assert!(ok.expect("kill").success());
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL echod");
    }

    /// Its exit status if it has ended.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Waits (bounded) for exit; kills it if it overstays.
    pub fn wait(&mut self) -> ExitStatus {
        match self.child.wait_bounded(WAIT, None).expect("wait") {
            Some(status) => status,
            None => {
                let _ = self.child.kill();
                panic!("echod did not exit");
            }
        }
    }

    /// The next stdout line, waiting at most `wait`.
    pub fn stdout_line(&mut self, wait: Duration) -> Option<String> {
        self.child.next_line_of(true, wait)
    }

    /// The next stderr line, waiting at most `wait`.
    pub fn stderr_line(&mut self, wait: Duration) -> Option<String> {
        self.child.next_line_of(false, wait)
    }

    /// Reads stderr (bounded) until a line contains `needle`; returns that line.
    pub fn stderr_line_with(&mut self, needle: &str) -> String {
        let mut seen = Vec::new();
        while let Some(l) = self.stderr_line(WAIT) {
            if l.contains(needle) {
                return l;
            }
            seen.push(l);
        }
        panic!("no stderr line with {needle:?}; saw {seen:?}");
    }

    /// Every stderr line until none came for 5 s (or the stream ended).
    pub fn stderr_lines(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(l) = self.stderr_line(Duration::from_secs(5)) {
            out.push(l);
        }
        out
    }
}

/// A per-test-process path in the temporary folder.
pub fn temp_json(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("echod-test-{}-{name}.json", std::process::id()))
}

/// The stats JSON echod wrote at `json`, removed once read.
pub fn read_stats(json: &std::path::Path) -> echod::server::ServerStats {
    let stats = serde_json::from_slice(&std::fs::read(json).expect("stats json")).expect("parse");
    let _ = std::fs::remove_file(json);
    stats
}

/// Flags for a loopback echod on a kernel-chosen port, unpinned.
pub const LOCAL: [&str; 5] = ["--bind", "127.0.0.1", "--port", "0", "--no-pin"];
