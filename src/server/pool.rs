//! The pool of workers: bind every listener and build every event loop before any
//! thread starts (so a failure to bind reports before anything runs), spawn one named,
//! pinned thread per worker, wait for shutdown while printing `--stats-interval`
//! lines, then join every worker and collect its stats.
//!
//! With `--proto udp|both` each worker also has a UDP loop (`udp`): its own thread on
//! the worker's core, stopped by the same handle; a snapshot merges the loops of one
//! worker id into one entry.
//!
//! Shutdown is injected: a [`ShutdownHandle`] sets the stop flag and wakes every
//! worker's poll. A worker that fails fires the same handle, so one failure stops the
//! others and `run` reports which worker failed.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, RecvTimeoutError, Sender};
use mio::Waker;

use super::base::{Shared, WorkerBase};
use super::held::HeldBytes;
use super::limit::Cap;
use super::sockets::{self, Sockets};
use super::stats::LiveStats;
use super::thread_budget::Limit;
use super::threads::{ThreadCap, ThreadsWorker};
use super::udp::{UdpPolicy, UdpWorker};
use super::uring::{self, UringWorker};
use super::worker::Worker;
use super::{Config, Model, Proto, ServerError, ServerStats, WorkerStats};
use common::sys::SharedCounters;

/// Stops a server: cheap to clone, usable from any thread (a signal thread, a test).
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    /// Read by every worker at the top of its loop.
    stop: Arc<AtomicBool>,
    /// One per worker poll: wakes it to see the flag.
    wakers: Arc<Vec<Waker>>,
    /// Wakes `run`'s supervising thread.
    notify: Sender<()>,
}

impl ShutdownHandle {
    /// Asks every worker to stop accepting, close its connections and exit. Idempotent.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        for waker in self.wakers.iter() {
            let _ = waker.wake(); // fails only if the poll is gone: that worker has exited
        }
        let _ = self.notify.try_send(());
    }
}

/// Reads every worker's published counters while the server runs.
#[derive(Clone, Debug)]
pub struct StatsHandle {
    /// One per worker loop; with `--proto both` a worker id has two (TCP and UDP).
    live: Vec<Arc<LiveStats>>,
}

impl StatsHandle {
    /// The counters now (published once per event-loop turn, so slightly behind),
    /// one entry per worker id, in id order: the loops of one id (`--proto both`)
    /// merged, each counter as its row says.
    pub fn snapshot(&self) -> ServerStats {
        let mut workers: Vec<WorkerStats> = self.live.iter().map(|l| l.snapshot()).collect();
        workers.sort_by_key(|w| w.id); // stable: the TCP loop's entry stays first
        workers.dedup_by(|later, first| {
            let same = later.id == first.id;
            if same {
                first.counters.merge(&later.counters);
            }
            same
        });
        ServerStats { workers, restarts: 0 }
    }
}

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Server {
    /// The validated settings.
    config: Config,
    /// The address every listener is bound to (the real port when 0 was asked).
    local_addr: SocketAddr,
    /// One per worker: poll, listener and waker built, nothing running.
    workers: Vec<ModelWorker>,
    /// The handle given out to stop this server.
    shutdown: ShutdownHandle,
    /// Fired by the handle; `run` waits on it.
    stopped: Receiver<()>,
    /// `--model threads`: the connection-thread cap and what set it.
    thread_limit: Option<Limit>,
    /// `--model uring`: what io_uring gives the workers (for the start-up line).
    uring: Option<uring::Features>,
}

impl Server {
    /// Validates `config`, refuses a port in use, binds every listener and builds every
    /// worker's event loop. Spawns nothing.
    pub fn bind(config: Config) -> Result<Server, ServerError> {
        config.validate()?;
        let Sockets { listeners, udp, local_addr } = sockets::bind(&config)?;
        let stop = Arc::new(AtomicBool::new(false));
        let max_conns = max_conns(&config)?;
        let threads = match config.model {
            Model::Threads => Some(ThreadCap::resolve(&config)?),
            Model::Reuseport | Model::Shared | Model::Uring => None,
        };
        let uring = match config.model {
            Model::Uring => Some(uring::probe().map_err(ServerError::Uring)?),
            Model::Reuseport | Model::Shared | Model::Threads => None,
        };
        let config = Config { max_threads: threads.as_ref().map(|(cap, _)| cap.max()), ..config };
        let shared = Shared {
            max_conns,
            held: HeldBytes::new(config.max_held_bytes),
            idle_timeout: config.idle_timeout,
            stop: stop.clone(),
        };
        let mut workers = Vec::with_capacity(listeners.len());
        let mut wakers = Vec::with_capacity(listeners.len());
        for (i, listener) in listeners.into_iter().enumerate() {
            let id = config.first_worker + i;
            let (base, waker) = WorkerBase::new(id, listener, shared.clone())?;
            wakers.push(waker);
            workers.push(match (&threads, &uring) {
                (Some((cap, _)), _) => {
                    ModelWorker::Threads(ThreadsWorker::new(base, cap.clone(), config.buffer))
                }
                (None, Some(features)) => {
                    ModelWorker::Uring(UringWorker::new(base, features, config.buffer)?)
                }
                (None, None) => ModelWorker::Events(Worker::new(base, config.buffer)),
            });
        }
        // `--proto udp|both`: worker i's UDP loop has worker i's id (and core).
        let policy = UdpPolicy {
            rate: config.udp_rate(),
            check_destination: config.udp_check_destination(),
        };
        for (i, socket) in udp.into_iter().enumerate() {
            let id = config.first_worker + i;
            let (worker, waker) = UdpWorker::new(id, socket, stop.clone(), policy)?;
            wakers.push(waker);
            workers.push(ModelWorker::Udp(worker));
        }
        let (notify, stopped) = channel::bounded(1);
        let shutdown = ShutdownHandle { stop, wakers: Arc::new(wakers), notify };
        let thread_limit = threads.map(|(_, limit)| limit);
        Ok(Server { config, local_addr, workers, shutdown, stopped, thread_limit, uring })
    }

    /// The address the listeners are bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `--model threads`: at most how many connection threads, and why (for the
    /// start-up line).
    pub fn thread_limit(&self) -> Option<&Limit> {
        self.thread_limit.as_ref()
    }

    /// `--model uring`: the start-up line saying what io_uring gives the workers.
    pub fn uring_line(&self) -> Option<String> {
        self.uring.as_ref().map(|f| uring::line(f, self.config.buffer))
    }

    /// The settings this server runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// A handle that reads the workers' counters while the server runs.
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle { live: self.workers.iter().map(|w| w.live().clone()).collect() }
    }

    /// Spawns the workers, blocks until shutdown, joins them and returns their stats.
    /// If a worker fails, the others are stopped and the first failure is returned.
    pub fn run(self) -> Result<ServerStats, ServerError> {
        match self.run_to_end() {
            (_, Some(failure)) => Err(failure),
            (stats, None) => Ok(stats),
        }
    }

    /// [`Server::run`], with the workers' stats also when one failed (what they did
    /// until then), beside the first failure.
    pub fn run_to_end(self) -> (ServerStats, Option<ServerError>) {
        let Server { config, workers, shutdown, stopped, .. } = self;
        let stats = StatsHandle { live: workers.iter().map(|w| w.live().clone()).collect() };
        let (handles, spawn_error) = spawn_workers(workers, &config, &shutdown);
        if spawn_error.is_none() {
            supervise(&config, &stopped, &stats);
        }
        shutdown.shutdown();
        stall_for_tests();
        let mut first_error = spawn_error;
        for (id, h) in handles {
            let err = match h.join() {
                Ok(Ok(())) => None,
                Ok(Err(source)) => Some(ServerError::Worker { worker: id, source }),
                Err(_) => Some(ServerError::Panicked { worker: id }),
            };
            first_error = first_error.or(err);
        }
        (stats.snapshot(), first_error)
    }
}

/// A worker of the model the config names, before its thread starts.
#[derive(Debug)]
enum ModelWorker {
    /// `reuseport` and `shared`: an event loop that serves its connections itself.
    Events(Worker),
    /// `threads`: an accept loop that gives every connection a thread of its own.
    Threads(ThreadsWorker),
    /// `--proto udp|both`: the UDP loop of a worker (its own thread, on the core of
    /// the TCP worker of the same id).
    Udp(UdpWorker),
    /// `uring`: a loop over the worker's own io_uring.
    Uring(UringWorker),
}

impl ModelWorker {
    fn id(&self) -> usize {
        match self {
            ModelWorker::Events(w) => w.base.id,
            ModelWorker::Threads(w) => w.base.id,
            ModelWorker::Uring(w) => w.base.id,
            ModelWorker::Udp(w) => w.id,
        }
    }

    fn live(&self) -> &Arc<LiveStats> {
        match self {
            ModelWorker::Events(w) => &w.base.live,
            ModelWorker::Threads(w) => &w.base.live,
            ModelWorker::Uring(w) => &w.base.live,
            ModelWorker::Udp(w) => &w.live,
        }
    }

    /// `w` for a TCP worker's thread (`echod-w3-cpu3`), `u` for a UDP loop's.
    fn thread_letter(&self) -> char {
        match self {
            ModelWorker::Udp(_) => 'u',
            _ => 'w',
        }
    }

    fn run(self, core: Option<usize>) -> std::io::Result<()> {
        match self {
            ModelWorker::Events(w) => w.run(core),
            ModelWorker::Threads(w) => w.run(core),
            ModelWorker::Udp(w) => w.run(core),
            ModelWorker::Uring(w) => w.run(core),
        }
    }
}

/// The `--max-conns` count: this process's own, or (a `--processes` child) the one
/// in memory its parent shares with every child.
fn max_conns(config: &Config) -> Result<Cap, ServerError> {
    let (Some(max), Some(shared)) = (config.max_conns, config.max_conns_shared) else {
        return Ok(Cap::new(config.max_conns));
    };
    let counters =
        SharedCounters::open_inherited(shared.fd, 1 + shared.processes).map_err(|e| {
            ServerError::Invalid(format!(
                "--max-conns: the count shared by the --processes children (descriptor {}): {e}",
                shared.fd
            ))
        })?;
    Ok(Cap::shared(max, counters, shared.slot))
}

/// A started worker's id and thread.
type WorkerThread = (usize, JoinHandle<std::io::Result<()>>);

/// Spawns one named thread per worker (pinned when `--no-pin` is off). If a thread
/// cannot be started, stops the ones started and returns the error beside them.
fn spawn_workers(
    workers: Vec<ModelWorker>,
    config: &Config,
    shutdown: &ShutdownHandle,
) -> (Vec<WorkerThread>, Option<ServerError>) {
    let cores = common::pin::allowed_cores();
    let mut handles = Vec::with_capacity(workers.len());
    for worker in workers {
        let (id, letter) = (worker.id(), worker.thread_letter());
        let core = config.pin.then(|| common::pin::core_for(id, &cores));
        let name = match core {
            Some(c) => format!("echod-{letter}{id}-cpu{c}"),
            None => format!("echod-{letter}{id}"),
        };
        let on_exit = shutdown.clone();
        let spawned = std::thread::Builder::new().name(name).spawn(move || {
            let result = worker.run(core);
            if result.is_err() {
                on_exit.shutdown(); // one failed worker stops the others
            }
            result
        });
        match spawned {
            Ok(h) => handles.push((id, h)),
            Err(source) => {
                shutdown.shutdown();
                return (handles, Some(ServerError::Spawn { worker: id, source }));
            }
        }
    }
    (handles, None)
}

/// Test-only: with this set to a number of milliseconds, a stopping server waits
/// that long before joining its workers, as one stuck on a blocked pipe would (the
/// tests of echod's second-signal exit need a stop that does not finish at once).
pub const TEST_STALL_STOP_MS: &str = "ECHOD_TEST_ONLY_STALL_STOP_MS";

fn stall_for_tests() {
    let ms = std::env::var(TEST_STALL_STOP_MS).ok().and_then(|v| v.parse::<u64>().ok());
    if let Some(ms) = ms {
        std::thread::sleep(Duration::from_millis(ms.min(60_000)));
    }
}

/// Waits for shutdown; prints a stats line to stderr every `--stats-interval`.
fn supervise(config: &Config, stopped: &Receiver<()>, stats: &StatsHandle) {
    let Some(every) = config.stats_interval else {
        let _ = stopped.recv();
        return;
    };
    let mut prev = stats.snapshot();
    let mut next = Instant::now() + every;
    loop {
        match stopped.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let now = stats.snapshot();
        common::say!("{}", interval_line(&prev, &now, every, config.proto));
        prev = now;
        next += every;
    }
}

/// `stats: w0 conns=12 msgs/s=3400 | w1 ...`: connections and messages per worker
/// (TCP); datagrams per second, datagrams dropped and the kernel's drops (UDP).
fn interval_line(prev: &ServerStats, now: &ServerStats, every: Duration, proto: Proto) -> String {
    let secs = every.as_secs_f64();
    let rate =
        |n: u64, p: u64| common::units::fmt_count((n.saturating_sub(p) as f64 / secs).round());
    let parts: Vec<String> = now
        .workers
        .iter()
        .zip(&prev.workers)
        .map(|(now, prev)| {
            let (n, p) = (&now.counters, &prev.counters);
            let mut part = format!("w{}", now.id);
            if proto.tcp() {
                let _ = write!(part, " conns={} msgs/s={}", n.active, rate(n.reads, p.reads));
            }
            if proto.udp() {
                let dgrams = rate(n.datagrams_in, p.datagrams_in);
                let (dropped, kernel) = (n.datagrams_dropped, n.kernel_drops);
                let _ = write!(part, " dgrams/s={dgrams} dropped={dropped} kernel_drops={kernel}");
            }
            part
        })
        .collect();
    format!("echod: stats: {}", parts.join(" | "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Counters;

    fn worker(id: usize, counters: Counters) -> WorkerStats {
        WorkerStats { id, cpu: Some(id), pid: 1, counters }
    }

    /// The interval line names, per worker, what each protocol served: connections
    /// and messages per second for TCP, datagrams per second and drops for UDP.
    #[test]
    fn interval_line_per_proto() {
        let before = Counters::default();
        let after = Counters {
            active: 3,
            reads: 200,
            datagrams_in: 1000,
            datagrams_dropped: 4,
            kernel_drops: 9,
            ..Counters::default()
        };
        let prev = ServerStats { workers: vec![worker(0, before)], restarts: 0 };
        let now = ServerStats { workers: vec![worker(0, after)], restarts: 0 };
        let every = Duration::from_secs(2);
        let tcp = "w0 conns=3 msgs/s=100";
        let udp = "w0 dgrams/s=500 dropped=4 kernel_drops=9";
        assert_eq!(interval_line(&prev, &now, every, Proto::Tcp), format!("echod: stats: {tcp}"));
        assert_eq!(interval_line(&prev, &now, every, Proto::Udp), format!("echod: stats: {udp}"));
        assert_eq!(
            interval_line(&prev, &now, every, Proto::Both),
            "echod: stats: w0 conns=3 msgs/s=100 dgrams/s=500 dropped=4 kernel_drops=9"
        );
    }

    /// The two loops of one worker id (`--proto both`) make one entry in a
    /// snapshot, their counters merged, in id order.
    #[test]
    fn loops_of_one_id_make_one_entry() {
        let tcp = [LiveStats::new(0), LiveStats::new(1)].map(Arc::new);
        let udp = [LiveStats::new(0), LiveStats::new(1)].map(Arc::new);
        tcp[1].publish(&Counters { accepted: 2, bytes_in: 10, ..Counters::default() });
        udp[1].publish(&Counters { datagrams_in: 5, ..Counters::default() });
        let live = tcp.iter().chain(&udp).cloned().collect();
        let stats = StatsHandle { live }.snapshot();
        assert_eq!(stats.workers.iter().map(|w| w.id).collect::<Vec<_>>(), [0, 1]);
        let c = &stats.workers[1].counters;
        assert_eq!((c.accepted, c.bytes_in, c.datagrams_in), (2, 10, 5));
    }
}
