//! `--processes P`: P echod processes share the port with SO_REUSEPORT (nginx's
//! model), each with its own descriptor limit, so a machine whose per-process limit
//! is 20,000 descriptors can hold 50,000 connections.
//!
//! The parent reserves the port (bound with SO_REUSEPORT, never listening, held for
//! the whole run so a restarted child always gets it back), starts the children
//! (`children`), waits for every ready line, then supervises. A child that dies is
//! restarted (`restart`: a back-off, at most 3 restarts per child per minute; one more
//! death stops everything with [`ServerError::GaveUp`]) while the others keep serving:
//! its connections died with it, the rest never notice, and the kernel hashes new
//! connections over the listeners still open. Its `--max-conns` places are given back
//! (`limit::reclaim`) before it starts again.
//!
//! Shutdown reaches the children through their stdin: the parent closes it, a child
//! sees EOF and stops (and a child whose parent died, even by SIGKILL, stops the same
//! way). Each child writes its stats as JSON at exit to a file in a folder private to
//! this run (`private_dir`: random name, mode 0700, removed at the end); the parent
//! concatenates them (worker ids are unique across children because of
//! `--first-worker`) and adds its restart count. A dead child's counters die with it:
//! its workers' entries are those of its last start.
//!
//! Tests make children die on purpose with the environment variable
//! [`TEST_CHILD_EXITS`] (see the binary); nothing else reads it.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use super::children::split_workers;
use super::children::{self, ChildPlan};
use super::private_dir::PrivateDir;
use super::restart::{Deaths, Decision, POLICY};
use super::sockets::PORT_TRIES;
use super::thread_budget::{self, Limit};
use super::{limit, Config, Flags, Model, Proto, ServerError, ServerStats};
use common::child::{Child, ChildError, Line, Stop};
use common::net;
use common::sys::SharedCounters;

/// Test-only: a child started with this set in its environment exits with status 3
/// right after its ready line.
pub const TEST_CHILD_EXITS: &str = "ECHOD_TEST_ONLY_CHILD_EXITS_AFTER_READY";

/// How long a child may take to print its ready line at start.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long children may take to exit once told to.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the parent looks at its children.
const TICK: Duration = Duration::from_millis(20);
/// How a child's ready line starts.
const READY_LINE: &str = "listening on ";

/// One child's place in the supervisor.
#[derive(Debug)]
struct Slot {
    /// What it runs.
    plan: ChildPlan,
    /// Its flags (the same at every start).
    args: Vec<OsString>,
    /// Running, or waiting to start again.
    state: State,
    /// Its recent deaths, for the restart policy.
    deaths: Deaths,
}

/// A child is up, or down until its restart is due.
#[derive(Debug)]
enum State {
    /// Running; `listening` once its ready line came (after a restart, later).
    Up { child: Child, listening: bool },
    /// Dead; start it again at `at`.
    Down {
        /// When the back-off ends.
        at: Instant,
    },
}

/// How a supervised run ended: the merged stats (also after a failure), and the
/// failure, if any (the binary exits 1 with it, after writing the stats).
#[derive(Debug)]
pub struct Outcome {
    /// Every child's stats that could be read, and the restart count.
    pub stats: ServerStats,
    /// Why the run failed after it started.
    pub failure: Option<ServerError>,
}

/// The children of a `--processes` run.
#[derive(Debug)]
pub struct Supervisor {
    /// The binary the children run.
    exe: PathBuf,
    /// One per child, in worker order.
    slots: Vec<Slot>,
    /// The shared address (the real port when 0 was asked).
    local_addr: SocketAddr,
    /// Holds the port for the whole run, so a restarted child can always join it
    /// (its TCP side; `None` with `--proto udp` on a given port: a UDP socket cannot
    /// hold a port without taking a share of its datagrams).
    _reserved: Option<socket2::Socket>,
    /// `--model threads`: the connection-thread cap of all children together.
    thread_limit: Option<Limit>,
    /// The `--max-conns` count every child maps (None without `--max-conns`): held so
    /// its descriptor stays open for every child started, and to reclaim the places
    /// of a child that died.
    counters: Option<SharedCounters>,
    /// Children restarted so far.
    restarts: u64,
    /// Where the children write their stats (dropped last: removed with them).
    _stats_dir: PrivateDir,
}

impl Supervisor {
    /// Reserves the port, starts the `--processes` children of `exe` that `flags`
    /// ask for and waits until every one listens.
    pub fn start(flags: &Flags, exe: &Path) -> Result<Supervisor, ServerError> {
        let config = flags.config();
        let processes = usize::try_from(flags.processes).unwrap_or(usize::MAX);
        config.validate()?;
        if processes == 0 || processes > config.workers {
            return Err(ServerError::Invalid(format!(
                "--processes {processes}: use 1 to --workers ({}) processes",
                config.workers
            )));
        }
        refuse_a_taken_port(&config)?;
        let (reserved, port) = reserve(config.addr(), config.proto)?;
        let thread_limit = model_limit(&config, processes)?;
        let counters = match config.max_conns {
            Some(_) => Some(limit::shared_counters(processes).map_err(|e| {
                ServerError::Invalid(format!(
                    "--max-conns with --processes: sharing the count: {e}"
                ))
            })?),
            None => None,
        };
        let shared_fd = counters.as_ref().map(SharedCounters::fd);
        let threads = thread_limit.as_ref().map(|l| l.threads as usize);
        let stats_dir = PrivateDir::create().map_err(|e| {
            ServerError::Invalid(format!(
                "--processes: creating a private folder for the children's stats in {}: {e}; \
                 set TMPDIR to a writable folder",
                std::env::temp_dir().display()
            ))
        })?;
        let slots = (0..processes)
            .map(|index| {
                let plan = plan_child(config.workers, processes, index, threads, stats_dir.path());
                let args = children::child_flags(flags, port, &plan, shared_fd).to_args();
                Slot {
                    plan,
                    args,
                    state: State::Down { at: Instant::now() },
                    deaths: Deaths::default(),
                }
            })
            .collect();
        let mut sup = Supervisor {
            exe: exe.to_path_buf(),
            slots,
            local_addr: SocketAddr::new(config.bind, port),
            _reserved: reserved,
            thread_limit,
            counters,
            restarts: 0,
            _stats_dir: stats_dir,
        };
        sup.start_all()?;
        Ok(sup)
    }

    /// Starts every child and waits (bounded) for each one's ready line; on a
    /// failure stops them all and says which child failed.
    fn start_all(&mut self) -> Result<(), ServerError> {
        for index in 0..self.slots.len() {
            if let Err(e) = self.start_child(index) {
                self.stop_all();
                return Err(ServerError::Child { index, what: e.to_string() });
            }
        }
        let deadline = Instant::now() + READY_TIMEOUT;
        for index in 0..self.slots.len() {
            let State::Up { child, listening } = &mut self.slots[index].state else { continue };
            let left = deadline.saturating_duration_since(Instant::now());
            if let Err(e) = child.wait_for_line(READY_LINE, left) {
                let what = match e {
                    ChildError::Exited { status, .. } => {
                        format!("exited before listening ({status})")
                    }
                    _ => format!("not listening after {READY_TIMEOUT:?}"),
                };
                self.stop_all();
                return Err(ServerError::Child { index, what });
            }
            *listening = true;
        }
        Ok(())
    }

    /// The shared address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `--model threads`: the whole server's connection-thread cap and its source.
    pub fn thread_limit(&self) -> Option<&Limit> {
        self.thread_limit.as_ref()
    }

    /// Supervises until `stop` is set (a signal), restarting children that die, or
    /// until a child dies too often; then stops every child and merges their stats.
    pub fn run(mut self, stop: &AtomicBool) -> Outcome {
        let mut failure = None;
        'watch: while !stop.load(Ordering::Acquire) {
            // Ready lines first: a restart is reported before that child's next death.
            for (index, slot) in self.slots.iter_mut().enumerate() {
                let State::Up { child, listening: listening @ false } = &mut slot.state else {
                    continue;
                };
                if let Some(Line::Out(line)) = child.next_line(Duration::ZERO) {
                    if line.starts_with(READY_LINE) {
                        *listening = true;
                        let pid = child.pid();
                        common::say!(
                            "echod: worker process {index} restarted (pid {pid}), listening"
                        );
                    }
                }
            }
            for index in 0..self.slots.len() {
                if let Err(e) = self.look_after(index, stop) {
                    failure = Some(e);
                    break 'watch;
                }
            }
            std::thread::sleep(TICK);
        }
        let exited = self.stop_all();
        let mut stats = ServerStats { restarts: self.restarts, ..ServerStats::default() };
        for (slot, status) in self.slots.iter().zip(exited) {
            let read = match status {
                Some(status) if status.success() => children::read_stats(&slot.plan.stats_file),
                Some(status) => Err(children::ChildStatsError::Failed(status)),
                None => Err(children::ChildStatsError::Down),
            };
            match read {
                Ok(child) => stats.workers.extend(child.workers),
                Err(why) => {
                    let what = format!("its workers are missing from the stats: {why}");
                    let e = ServerError::ChildLost { index: slot.plan.index, what };
                    if failure.is_none() {
                        failure = Some(e);
                    } else {
                        common::say!("echod: {e}");
                    }
                }
            }
        }
        Outcome { stats, failure }
    }

    /// Reaps child `index` if it died (unless the run is stopping) and decides on its
    /// restart; starts it when its back-off is over.
    fn look_after(&mut self, index: usize, stop: &AtomicBool) -> Result<(), ServerError> {
        let now = Instant::now();
        let slot = &mut self.slots[index];
        let status = match &mut slot.state {
            State::Up { child, .. } => match child.try_wait() {
                Ok(Some(status)) if !stop.load(Ordering::Acquire) => status.to_string(),
                _ => return Ok(()), // running, or exited because the run is stopping
            },
            State::Down { at } if now >= *at => match self.start_child(index) {
                Ok(()) => {
                    self.restarts += 1;
                    return Ok(());
                }
                Err(e) => format!("could not be started again: {e}"),
            },
            State::Down { .. } => return Ok(()),
        };
        // Its connections died with it: give their --max-conns places back.
        let lost = match &self.counters {
            Some(c) => format!("; {} connections closed", limit::reclaim(c, index)),
            None => String::new(),
        };
        let slot = &mut self.slots[index];
        let (first, last) = (slot.plan.first, slot.plan.first + slot.plan.count - 1);
        match slot.deaths.record(now, &POLICY) {
            Decision::RestartAfter { delay, nth } => {
                common::say!(
                    "echod: worker process {index} (workers {first}-{last}) died \
                     ({status}{lost}); restarting it in {delay:?} (restart {nth} of at most \
                     {} within {:?})",
                    POLICY.max_restarts,
                    POLICY.window
                );
                slot.state = State::Down { at: now + delay };
                Ok(())
            }
            Decision::GiveUp { deaths } => {
                slot.state = State::Down { at: now + POLICY.window };
                Err(ServerError::GaveUp { index, deaths, window: POLICY.window, last: status })
            }
        }
    }

    /// Starts child `index` (again).
    fn start_child(&mut self, index: usize) -> Result<(), ChildError> {
        let slot = &mut self.slots[index];
        let child = children::spawn(&self.exe, &slot.args, index)?;
        slot.state = State::Up { child, listening: false };
        Ok(())
    }

    /// Closes every running child's stdin (their signal to stop), waits up to
    /// [`EXIT_TIMEOUT`] for them all, kills stragglers. Returns each child's exit
    /// status (`None` for one that was down).
    fn stop_all(&mut self) -> Vec<Option<ExitStatus>> {
        for slot in &mut self.slots {
            if let State::Up { child, .. } = &mut slot.state {
                child.close_stdin();
            }
        }
        let deadline = Instant::now() + EXIT_TIMEOUT;
        self.slots
            .iter_mut()
            .map(|slot| {
                let State::Up { child, .. } = &mut slot.state else { return None };
                let left = deadline.saturating_duration_since(Instant::now());
                match child.wait_bounded(left, None) {
                    Ok(Some(status)) => Some(status),
                    _ => child.stop(Stop::Term, Duration::ZERO).ok(),
                }
            })
            .collect()
    }
}

/// The port the children share and what holds it: `addr`'s, or with `--port 0` one
/// the kernel picks (for UDP too, one whose UDP side is free). The TCP side is held,
/// bound but not listening, but with `--proto udp` on a given port.
fn reserve(addr: SocketAddr, proto: Proto) -> Result<(Option<socket2::Socket>, u16), ServerError> {
    if addr.port() != 0 && !proto.tcp() {
        return Ok((None, addr.port()));
    }
    for _ in 0..PORT_TRIES {
        let reserved = net::reserve_port(addr).map_err(|e| ServerError::from_bind(addr, e))?;
        let port = reserved.local_addr().ok().and_then(|a| a.as_socket()).map_or(0, |a| a.port());
        let udp_free = || net::probe_udp_port(SocketAddr::new(addr.ip(), port)).is_ok();
        if addr.port() != 0 || !proto.udp() || udp_free() {
            return Ok((Some(reserved), port));
        }
    }
    Err(ServerError::Invalid(format!(
        "--proto {} --port 0: {PORT_TRIES} ports the kernel picked were taken for UDP: choose \
         a --port",
        proto.name()
    )))
}

/// What child `index` of `processes` runs: its share of the `workers` and of the
/// server's connection `threads` (`--model threads`), and its stats file.
fn plan_child(
    workers: usize,
    processes: usize,
    index: usize,
    threads: Option<usize>,
    dir: &Path,
) -> ChildPlan {
    let (first, count) = children::split_workers(workers, processes, index);
    let stats_file = dir.join(format!("child-{index}.json"));
    let max_threads = threads.map(|t| children::share(t, processes, index));
    ChildPlan { index, first, count, stats_file, max_threads }
}

/// A port another program holds is refused before any child starts (unless
/// `--allow-shared-port`).
fn refuse_a_taken_port(config: &Config) -> Result<(), ServerError> {
    let addr = config.addr();
    if addr.port() != 0 && !config.allow_shared_port {
        if config.proto.tcp() {
            net::probe_port(addr).map_err(|e| ServerError::from_bind(addr, e))?;
        }
        if config.proto.udp() {
            net::probe_udp_port(addr).map_err(|e| ServerError::from_bind(addr, e))?;
        }
    }
    Ok(())
}

/// What the model needs settled once for all children: `--model threads`' thread
/// cap, shared out; `--model uring` refused here, in one line, rather than by every
/// child.
fn model_limit(config: &Config, processes: usize) -> Result<Option<Limit>, ServerError> {
    match config.model {
        Model::Threads => {
            Ok(Some(thread_budget::resolve(config.max_threads, config.buffer, processes)?))
        }
        Model::Uring => super::uring::probe().map(|_| None).map_err(ServerError::Uring),
        Model::Reuseport | Model::Shared => Ok(None),
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        // Never leave children behind, whatever path led here (a child stops when
        // dropped; its stats file goes too).
        for slot in &mut self.slots {
            slot.state = State::Down { at: Instant::now() };
            let _ = std::fs::remove_file(&slot.plan.stats_file);
        }
    }
}
