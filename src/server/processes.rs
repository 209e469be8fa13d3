//! `--processes P`: P echod processes share the port with SO_REUSEPORT (nginx's
//! model), each with its own descriptor limit, so a machine whose per-process limit
//! is 20,000 descriptors can hold 50,000 connections.
//!
//! The parent probes the port (or, for `--port 0`, reserves one without listening),
//! re-executes itself once per child with the hidden flags `--first-worker`
//! and `--child-stats` plus `--allow-shared-port`, waits for every child's ready line,
//! then supervises: a child that dies stops the others and fails the run. Shutdown
//! reaches the children through their stdin: the parent closes it, a child sees EOF
//! and stops (and a child whose parent died stops the same way). `--max-conns` caps
//! all children together: each is passed the whole cap and a shared count (a memfd it
//! inherits; see `limit`), never a share of its own. Each child writes its
//! stats as JSON to a temporary file at exit; the parent concatenates them (worker ids
//! are unique across children because of `--first-worker`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::thread_budget::{self, Limit};
use super::{limit, Config, Model, ServerError, ServerStats};
use crate::net;
use crate::sys::SharedCounters;

/// How long a child may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long children may take to exit once told to.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// The children of a `--processes` run.
#[derive(Debug)]
pub struct Supervisor {
    /// Running children, with their stats files, in worker order.
    children: Vec<(Child, PathBuf)>,
    /// The shared address (the real port when 0 was asked).
    local_addr: SocketAddr,
    /// `--model threads`: the connection-thread cap of all children together.
    thread_limit: Option<Limit>,
    /// The `--max-conns` count every child maps (None without `--max-conns`): held
    /// so its descriptor stays open for every child started.
    _counters: Option<SharedCounters>,
}

/// The workers child `index` of `processes` runs: an even split, the remainder first.
pub fn split_workers(workers: usize, processes: usize, index: usize) -> (usize, usize) {
    let first = index * (workers / processes) + index.min(workers % processes);
    (first, share(workers, processes, index))
}

/// What one child is: its index, its workers, and where it writes its stats.
#[derive(Clone, Debug)]
pub struct ChildPlan {
    /// 0-based index among the children (its slot in the shared `--max-conns` count).
    pub index: usize,
    /// Id of its first worker.
    pub first: usize,
    /// How many workers it runs.
    pub count: usize,
    /// Its stats file, written at exit.
    pub stats: PathBuf,
    /// `--model threads`: its share of the server's connection threads.
    pub max_threads: Option<usize>,
}

/// Share `index` of `total` split over `parts`: even, the remainder to the first.
pub fn share(total: usize, parts: usize, index: usize) -> usize {
    total / parts + usize::from(index < total % parts)
}

/// The command-line flags that make a child run `plan`'s workers of `config` on
/// `port`; `shared` is the descriptor and size of the `--max-conns` count.
pub fn child_args(
    config: &Config,
    port: u16,
    plan: &ChildPlan,
    shared: Option<(i32, usize)>,
) -> Vec<String> {
    let (first, count, stats) = (plan.first, plan.count, &plan.stats);
    let mut args = vec![
        format!("--bind={}", config.bind),
        format!("--port={port}"),
        format!("--workers={count}"),
        format!("--backlog={}", config.backlog),
        format!("--buffer={}", config.buffer),
        format!("--model={}", config.model.name()),
        "--allow-shared-port".to_string(),
        format!("--first-worker={first}"),
        format!("--child-stats={}", stats.display()),
    ];
    if !config.pin {
        args.push("--no-pin".into());
    }
    if let Some(max) = config.max_conns {
        // The whole server's cap, counted in memory every child shares (see `limit`).
        args.push(format!("--max-conns={max}"));
        if let Some((fd, processes)) = shared {
            args.push(format!("--max-conns-shared={fd}:{}:{processes}", plan.index));
        }
    }
    if let Some(threads) = plan.max_threads {
        // Threads and their mappings belong to a process: an exact share each.
        args.push(format!("--max-threads={threads}"));
    }
    if let Some(every) = config.stats_interval {
        args.push(format!("--stats-interval={}", humantime::format_duration(every)));
    }
    args
}

impl Supervisor {
    /// Probes or reserves the port, starts `processes` children of `exe` and waits
    /// until every one listens.
    pub fn start(config: &Config, processes: usize, exe: &Path) -> Result<Supervisor, ServerError> {
        config.validate()?;
        if processes == 0 || processes > config.workers {
            return Err(ServerError::Invalid(format!(
                "--processes {processes}: use 1 to --workers ({}) processes",
                config.workers
            )));
        }
        let addr = config.addr();
        let mut reserved = None;
        let port = if addr.port() == 0 {
            let socket = net::reserve_port(addr).map_err(|e| ServerError::from_bind(addr, e))?;
            let local = socket.local_addr().ok().and_then(|a| a.as_socket());
            reserved = Some(socket);
            local.map_or(0, |a| a.port())
        } else {
            if !config.allow_shared_port {
                net::probe_port(addr).map_err(|e| ServerError::from_bind(addr, e))?;
            }
            addr.port()
        };
        let thread_limit = match config.model {
            Model::Threads => {
                Some(thread_budget::resolve(config.max_threads, config.buffer, processes)?)
            }
            _ => None,
        };
        let counters = match config.max_conns {
            Some(_) => Some(limit::shared_counters(processes).map_err(|e| {
                ServerError::Invalid(format!(
                    "--max-conns with --processes: sharing the count: {e}"
                ))
            })?),
            None => None,
        };
        let shared = counters.as_ref().map(|c| (c.fd(), processes));
        let mut sup = Supervisor {
            children: Vec::new(),
            local_addr: SocketAddr::new(config.bind, port),
            _counters: counters,
            thread_limit: thread_limit.clone(),
        };
        let (tx, rx) = crossbeam::channel::unbounded();
        for index in 0..processes {
            let (first, count) = split_workers(config.workers, processes, index);
            let stats =
                std::env::temp_dir().join(format!("echod-{}-{index}.json", std::process::id()));
            let max_threads =
                thread_limit.as_ref().map(|l| share(l.threads as usize, processes, index));
            let plan = ChildPlan { index, first, count, stats: stats.clone(), max_threads };
            let mut child = Command::new(exe)
                .args(child_args(config, port, &plan, shared))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|e| ServerError::Child {
                    index,
                    what: format!("could not start {}: {e}", exe.display()),
                })?;
            let stdout = child.stdout.take();
            let tx = tx.clone();
            std::thread::spawn(move || {
                let Some(stdout) = stdout else { return };
                let mut lines = BufReader::new(stdout).lines();
                let ready = matches!(lines.next(), Some(Ok(l)) if l.starts_with("listening on "));
                let _ = tx.send((index, ready));
                for _ in lines {} // drain: a child never blocks on a full pipe
            });
            sup.children.push((child, stats));
        }
        let deadline = Instant::now() + READY_TIMEOUT;
        for _ in 0..processes {
            let got = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
            match got {
                Ok((_, true)) => {}
                Ok((index, false)) => {
                    sup.stop_all();
                    return Err(ServerError::Child {
                        index,
                        what: "exited before listening".into(),
                    });
                }
                Err(_) => {
                    sup.stop_all();
                    let what = format!("not listening after {READY_TIMEOUT:?}");
                    return Err(ServerError::Child { index: 0, what });
                }
            }
        }
        drop(reserved); // every child listens now; the reservation may go
        Ok(sup)
    }

    /// The shared address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `--model threads`: the whole server's connection-thread cap and its source.
    pub fn thread_limit(&self) -> Option<&Limit> {
        self.thread_limit.as_ref()
    }

    /// Supervises until `stop` is set (a signal) or a child exits; then stops every
    /// child, waits for them and merges their stats. A child that died (non-zero exit
    /// or a signal) fails the run.
    pub fn run(mut self, stop: &AtomicBool) -> Result<ServerStats, ServerError> {
        let mut died = None;
        'watch: while !stop.load(Ordering::Acquire) {
            for (index, (child, _)) in self.children.iter_mut().enumerate() {
                if let Ok(Some(status)) = child.try_wait() {
                    if !status.success() {
                        died = Some(ServerError::Child { index, what: format!("died ({status})") });
                    }
                    break 'watch; // a child that exited 0 was stopped by a signal too
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let statuses = self.stop_all();
        if let Some(e) = died {
            return Err(e);
        }
        let mut merged = ServerStats::default();
        for (index, ((_, path), status)) in self.children.iter().zip(statuses).enumerate() {
            if !status {
                return Err(ServerError::Child { index, what: "exited with an error".into() });
            }
            let read = std::fs::read(path).map_err(|e| e.to_string()).and_then(|bytes| {
                serde_json::from_slice::<ServerStats>(&bytes).map_err(|e| e.to_string())
            });
            let _ = std::fs::remove_file(path);
            match read {
                Ok(stats) => merged.workers.extend(stats.workers),
                Err(e) => {
                    let what = format!("its stats file {}: {e}", path.display());
                    return Err(ServerError::Child { index, what });
                }
            }
        }
        Ok(merged)
    }

    /// Closes every child's stdin (their signal to stop), waits up to
    /// [`EXIT_TIMEOUT`], kills stragglers. Returns whether each exited successfully.
    fn stop_all(&mut self) -> Vec<bool> {
        for (child, _) in &mut self.children {
            drop(child.stdin.take());
        }
        let deadline = Instant::now() + EXIT_TIMEOUT;
        self.children
            .iter_mut()
            .map(|(child, _)| loop {
                match child.try_wait() {
                    Ok(Some(status)) => break status.success(),
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break false;
                    }
                }
            })
            .collect()
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        // Never leave children behind, whatever path led here.
        for (child, path) in &mut self.children {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
            let _ = std::fs::remove_file(&*path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Workers split evenly, the remainder to the first children, ids contiguous.
    #[test]
    fn split() {
        assert_eq!(split_workers(8, 3, 0), (0, 3));
        assert_eq!(split_workers(8, 3, 1), (3, 3));
        assert_eq!(split_workers(8, 3, 2), (6, 2));
        assert_eq!(split_workers(2, 2, 1), (1, 1));
    }

    /// Shares add up exactly: 10 over 3 is 4 + 3 + 3.
    #[test]
    fn shares_are_exact() {
        assert_eq!((0..3).map(|i| share(10, 3, i)).collect::<Vec<_>>(), [4, 3, 3]);
        assert_eq!((0..3).map(|i| share(3, 3, i)).sum::<usize>(), 3);
    }
}
