//! A server process under the suite's control: started (pinned with taskset when
//! asked), ready once it prints its `listening on` line, measured (RSS and CPU time
//! summed over its process tree, since echod `--processes` forks children), and
//! stopped with SIGTERM — then SIGKILL after a bounded wait — also when dropped, so
//! a failing or interrupted suite leaves nothing running.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use echod::procfs;

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
    /// The text of the line the server prints once it listens (`listening on` for
    /// echod, tokio-echo and epoll_echo; `listen on` for sockperf).
    pub ready: String,
}

/// A running server.
pub struct ServerProc {
    pub name: String,
    child: Option<Child>,
}

impl ServerProc {
    /// Starts the server and waits for its `listening on` line.
    pub fn start(cmd: &ServerCommand) -> anyhow::Result<ServerProc> {
        let mut command = if cmd.cores.is_empty() {
            Command::new(&cmd.program)
        } else {
            let list: Vec<String> = cmd.cores.iter().map(ToString::to_string).collect();
            let mut c = Command::new("taskset");
            c.arg("-c").arg(list.join(",")).arg(&cmd.program);
            c
        };
        command.args(&cmd.args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // A suite killed with SIGKILL must not leave its server listening for good.
        echod::sys::die_with_parent(&mut command, libc::SIGTERM);
        let mut child =
            command.spawn().with_context(|| format!("cannot start {}", cmd.program.display()))?;
        // Servers print their ready line on stdout (echod, tokio-echo) or stderr
        // (epoll_echo); both are read to the end so the server never blocks on a pipe.
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().context("server stdout")?;
        let stderr = child.stderr.take().context("server stderr")?;
        watch_for_ready(stdout, &cmd.ready, tx.clone());
        watch_for_ready(stderr, &cmd.ready, tx);
        let mut proc = ServerProc { name: cmd.name.clone(), child: Some(child) };
        match rx.recv_timeout(READY_TIMEOUT) {
            Ok(_) => Ok(proc),
            Err(_) => {
                let status = proc.stop()?;
                bail!(
                    "{} did not print its ready line within {READY_TIMEOUT:?} (exit: {status})",
                    cmd.name
                )
            }
        }
    }

    /// The pid of the top process.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
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
        let descendants: Vec<u32> = procfs::tree(child.id()).into_iter().skip(1).collect();
        let _ = echod::sys::terminate(child.id());
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                break child.wait()?;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Descendants that outlived their parent (a shell's children, say) are stopped too.
        for pid in descendants {
            if procfs::alive(pid) {
                let _ = echod::sys::terminate(pid);
            }
        }
        Ok(status)
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop();
        }
    }
}

fn watch_for_ready(
    stream: impl std::io::Read + Send + 'static,
    ready: &str,
    tx: mpsc::Sender<String>,
) {
    let ready = ready.to_string();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if line.contains(&ready) {
                let _ = tx.send(line);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process that never prints its ready line is stopped and reported.
    #[test]
    fn not_ready_is_an_error_and_is_stopped() {
        let quick = ServerCommand {
            name: "quitter".into(),
            program: "sh".into(),
            args: vec!["-c".into(), "exit 3".into()],
            cores: vec![],
            ready: "listening on".into(),
        };
        let err = ServerProc::start(&quick).err().expect("must fail");
        assert!(err.to_string().contains("ready line"), "{err}");
    }

    /// A real process tree is measured and stopped by SIGTERM.
    #[test]
    fn measures_and_stops_a_tree() {
        let cmd = ServerCommand {
            name: "sh".into(),
            program: "sh".into(),
            args: vec!["-c".into(), "sleep 30 & echo listening on test; wait".into()],
            cores: vec![0],
            ready: "listening on".into(),
        };
        let mut p = ServerProc::start(&cmd).expect("start");
        let pids = procfs::tree(p.pid());
        assert!(pids.len() >= 2, "sh and its sleep child: {pids:?}");
        assert!(p.rss_bytes() > 0);
        assert!(p.cpu_seconds() >= 0.0);
        let status = p.stop().expect("stop");
        assert!(!status.success());
        std::thread::sleep(Duration::from_millis(100));
        let alive: Vec<_> = pids.iter().filter(|p| procfs::alive(**p)).collect();
        assert!(alive.is_empty(), "left running: {alive:?}");
    }
}
