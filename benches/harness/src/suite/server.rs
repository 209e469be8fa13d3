//! A server process under the suite's control ([`common::child`]): started (pinned
//! with taskset when asked, dying with the suite), ready once it prints its ready
//! line, measured (RSS and CPU time summed over its process tree, since echod
//! `--processes` forks children), and stopped with SIGTERM — then SIGKILL after a
//! bounded wait — also when dropped, so a failing or interrupted suite leaves
//! nothing running. A server that exits or stays silent is reported with its last
//! line of stderr.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use anyhow::bail;
use common::child::{Child, Spec, Stop};
use common::procfs;

/// How long a server may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// How to start one server.
#[derive(Clone, Debug)]
pub struct ServerCommand {
    /// Name in the report (`echod`, `tokio-echo`, `epoll_echo`).
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Cores to pin the process to with `taskset -c` (empty: not pinned).
    pub cores: Vec<usize>,
    /// How to tell it is ready.
    pub ready: Ready,
    /// Start it in a process group of its own, so stopping it stops everything it
    /// started (a user's shell command and its children).
    pub own_group: bool,
}

/// How the suite tells that a server is ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ready {
    /// It prints a line with this text (`listening on` for echod, tokio-echo and
    /// epoll_echo; `listen on` for sockperf).
    Line(String),
    /// Its port accepts a connection (a user's own server, which may print nothing).
    Port(u16),
}

/// A running server.
pub struct ServerProc {
    pub name: String,
    child: Option<Child>,
}

impl ServerProc {
    /// Starts the server and waits for its ready line (on stdout or stderr).
    pub fn start(cmd: &ServerCommand) -> anyhow::Result<ServerProc> {
        let mut spec = Spec::new(&cmd.program).name(&cmd.name).args(&cmd.args).pinned(&cmd.cores);
        if cmd.own_group {
            spec = spec.own_group();
        }
        let mut child = Child::start(spec)?;
        match &cmd.ready {
            Ready::Line(text) => {
                child.wait_for_line(text, READY_TIMEOUT)?;
            }
            Ready::Port(port) => wait_for_port(&mut child, *port)?,
        }
        Ok(ServerProc { name: cmd.name.clone(), child: Some(child) })
    }

    /// The pid of the top process.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::pid)
    }

    /// The process and its descendants (`echod --processes N`'s children, a
    /// wrapper's server), parents first: what loadgen's `--watch-pid` watches.
    pub fn pids(&self) -> Vec<u32> {
        if self.pid() == 0 {
            return Vec::new();
        }
        procfs::tree(self.pid())
    }

    /// Resident memory of the process and its descendants, in bytes.
    pub fn rss_bytes(&self) -> u64 {
        procfs::tree_sum(self.pid(), procfs::rss_bytes)
    }

    /// CPU seconds (user + system) used so far by the process and its live descendants.
    pub fn cpu_seconds(&self) -> f64 {
        procfs::tree_sum(self.pid(), procfs::cpu_seconds)
    }

    /// SIGTERM, a bounded wait, then SIGKILL. Returns how it exited.
    pub fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        let Some(mut child) = self.child.take() else { bail!("{} was already stopped", self.name) };
        // Each descendant with its start time: a pid is only ever the same process
        // while the start time is too (a pid freed meanwhile may be a stranger's).
        let descendants: Vec<(u32, u64)> = procfs::tree(child.pid())
            .into_iter()
            .skip(1)
            .filter_map(|pid| Some((pid, start_time(pid)?)))
            .collect();
        let status = child.stop(Stop::Term, STOP_TIMEOUT)?;
        // Descendants that outlived their parent (a shell's children, say) are stopped too.
        for (pid, started) in descendants {
            if procfs::alive(pid) && start_time(pid) == Some(started) {
                let _ = common::sys::terminate(pid);
            }
        }
        Ok(status)
    }
}

/// When `pid` started (clock ticks after boot, /proc/PID/stat field 22): with the
/// pid, what names one process for good.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After `pid (comm)`, field 3 is the state: the start time is the 20th from there.
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(19)?.parse().ok()
}

/// Waits (bounded) until 127.0.0.1:`port` accepts; an error with the server's last
/// line of stderr if it exits first or the bound passes (it is then stopped).
fn wait_for_port(child: &mut Child, port: u16) -> anyhow::Result<()> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = std::time::Instant::now() + READY_TIMEOUT;
    let last =
        |c: &Child| c.tail().last().map_or(String::new(), |l| format!("; its last line: {l}"));
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            let _ = child.remaining_lines(Duration::from_millis(500));
            bail!("{} exited ({status}) before port {port} accepted{}", child.name(), last(child));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.stop(Stop::Term, STOP_TIMEOUT);
    bail!("{} did not accept on port {port} within {READY_TIMEOUT:?}{}", child.name(), last(child))
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process's start time is read and stays the same; another process's (or
    /// no process's) differs, so a pid reused meanwhile is never signalled.
    #[test]
    fn start_time_names_one_process() {
        let me = std::process::id();
        let t = start_time(me).expect("own start time");
        assert_eq!(start_time(me), Some(t));
        assert_eq!(start_time(u32::MAX), None);
        let mut other = Child::start(Spec::new("sleep").args(["5"])).expect("sleep");
        assert_ne!(start_time(other.pid()).map(|o| (other.pid(), o)), Some((me, t)));
        let _ = other.kill();
    }

    /// A process that never prints its ready line is stopped and reported.
    #[test]
    fn not_ready_is_an_error_and_is_stopped() {
        let quick = ServerCommand {
            name: "quitter".into(),
            program: "sh".into(),
            args: vec!["-c".into(), "exit 3".into()],
            cores: vec![],
            ready: Ready::Line("listening on".into()),
            own_group: false,
        };
        let err = ServerProc::start(&quick).err().expect("must fail");
        assert!(err.to_string().contains("quitter exited (exit status: 3) before"), "{err}");
    }

    /// A real process tree is measured and stopped by SIGTERM.
    #[test]
    fn measures_and_stops_a_tree() {
        let cmd = ServerCommand {
            name: "sh".into(),
            program: "sh".into(),
            args: vec!["-c".into(), "sleep 30 & echo listening on test; wait".into()],
            cores: vec![0],
            ready: Ready::Line("listening on".into()),
            own_group: false,
        };
        let mut p = ServerProc::start(&cmd).expect("start");
        let pids = procfs::tree(p.pid());
        assert!(pids.len() >= 2, "sh and its sleep child: {pids:?}");
        assert_eq!(p.pids(), pids, "what loadgen --watch-pid is given");
        assert!(p.rss_bytes() > 0);
        assert!(p.cpu_seconds() >= 0.0);
        let status = p.stop().expect("stop");
        assert!(!status.success());
        std::thread::sleep(Duration::from_millis(100));
        let alive: Vec<_> = pids.iter().filter(|p| procfs::alive(**p)).collect();
        assert!(alive.is_empty(), "left running: {alive:?}");
    }
}
