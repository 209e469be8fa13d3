//! The thread-per-connection model (`--model threads`), kept to show what the
//! default saves: each accepted connection gets a blocking thread with its own buffer
//! that reads and writes back until EOF (`conn_thread`). This file is the model's
//! worker: its own accept loop over the same [`WorkerBase`] the default workers have
//! (listener, `--max-conns`, the EMFILE back-off, published stats), which hands every
//! admitted connection to a new thread instead of serving it.
//!
//! Limits: at most `--max-threads` connection threads per process (one count shared
//! by its workers, [`ThreadCap`]; the default and the ceiling come from
//! `thread_budget`), each with a [`THREAD_STACK`] stack. A connection past the cap,
//! or one whose thread the OS refuses, is accepted and closed at once, counted in
//! `rejected_resources`, with a hint printed once: never an abort, never a retry loop.
//!
//! Stats: the loop counts and publishes what the acceptor counts
//! ([`CountedBy::Acceptor`]); connection threads add the others to the worker's live
//! stats themselves.
//!
//! Shutdown: each connection thread sees the stop flag within `STOP_CHECK`. The
//! workers then wait at most [`EXIT_WAIT`] for the threads; any still running (a
//! machine too busy to schedule them) are left to end with the process, so a stop is
//! bounded whatever the peers do.

use std::io;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::Events;

use super::accept::NoRoom;
use super::base::{WorkerBase, LISTENER};
use super::conn_thread::{self, Service};
use super::counters::{CountedBy, Counters};
use super::limit::Cap;
use super::stats::LiveStats;
use super::thread_budget::{self, Limit, THREAD_STACK};
use super::{Config, ServerError};

/// How long shutdown waits for connection threads before leaving them to the exit.
const EXIT_WAIT: Duration = Duration::from_secs(1);

/// Set once the "threads left running" line was printed (every worker waits for the
/// same threads).
static LEFT_PRINTED: AtomicBool = AtomicBool::new(false);

/// `--max-threads`: the connection threads of this process, one count shared by its
/// workers.
#[derive(Clone, Debug)]
pub(crate) struct ThreadCap {
    /// The running threads.
    running: Cap,
    /// The cap's value, for the hint.
    max: usize,
}

impl ThreadCap {
    /// The cap for `config` (its `--max-threads`, or what this machine allows), and
    /// the limit that set it, for the start-up line.
    pub(crate) fn resolve(config: &Config) -> Result<(ThreadCap, Limit), ServerError> {
        let limit = thread_budget::resolve(config.max_threads, config.buffer, 1)?;
        let max = usize::try_from(limit.threads).unwrap_or(usize::MAX);
        Ok((ThreadCap { running: Cap::new(Some(max)), max }, limit))
    }

    /// The cap's value.
    pub(crate) fn max(&self) -> usize {
        self.max
    }
}

/// Why a connection got no thread: it is closed at once (see [`NoRoom`]).
#[derive(Debug, thiserror::Error)]
pub(crate) enum NoThread {
    /// This process runs `--max-threads` connection threads already.
    #[error(
        "--max-threads {0} reached: closing new connections at once until a connection \
         thread ends (counted in rejected_resources); raise --max-threads if this machine \
         allows more, or use --model reuseport, which needs no thread per connection"
    )]
    MaxThreads(usize),
    /// The OS refused a connection thread (threads, pids or memory ran out).
    #[error(
        "could not start a connection thread ({0}): closing such connections at once \
         (counted in rejected_resources); lower --max-threads, or use --model reuseport, \
         which needs no thread per connection"
    )]
    Spawn(io::Error),
}

/// One flag per [`NoThread`] kind: its hint was printed.
static MAX_THREADS_PRINTED: AtomicBool = AtomicBool::new(false);
static SPAWN_PRINTED: AtomicBool = AtomicBool::new(false);

impl NoRoom for NoThread {
    fn hint_printed(&self) -> &'static AtomicBool {
        match self {
            NoThread::MaxThreads(_) => &MAX_THREADS_PRINTED,
            NoThread::Spawn(_) => &SPAWN_PRINTED,
        }
    }
}

/// A worker of the thread-per-connection model, before its thread starts.
#[derive(Debug)]
pub(crate) struct ThreadsWorker {
    /// Its poll, listener, acceptor and published stats.
    pub(crate) base: WorkerBase,
    /// The process's connection-thread cap.
    cap: ThreadCap,
    /// How each connection thread serves (`--buffer`, `--max-held-bytes`,
    /// `--idle-timeout`).
    service: Service,
    /// The accept counters (the loop's own; connection threads count the rest).
    counters: Counters,
}

impl ThreadsWorker {
    /// A worker over `base` whose connection threads count against `cap`.
    pub(crate) fn new(base: WorkerBase, cap: ThreadCap, buffer: usize) -> ThreadsWorker {
        let service = Service { buffer, held: base.held.clone(), idle_timeout: base.idle_timeout };
        ThreadsWorker { base, cap, service, counters: Counters::default() }
    }

    /// Accepts until shutdown, then waits (bounded) for the connection threads.
    pub(crate) fn run(mut self, core: Option<usize>) -> io::Result<()> {
        self.base.pin(core);
        let result = self.accept_loop();
        self.wait_all();
        self.publish();
        result
    }

    fn accept_loop(&mut self) -> io::Result<()> {
        // Only the listener and the waker are registered here.
        let mut events = Events::with_capacity(4);
        while !self.base.stopping() {
            self.base.wait(&mut events, None)?;
            let edge = events.iter().any(|e| e.token() == LISTENER);
            if edge || self.base.acceptor.accept_due() {
                self.accept();
            }
            self.publish();
        }
        Ok(())
    }

    fn accept(&mut self) {
        let ThreadsWorker { base, cap, service, counters } = self;
        let (live, stop) = (&base.live, &base.stop);
        let max_conns = base.acceptor.max_conns().clone();
        base.acceptor.accept_all(counters, |stream| {
            spawn(stream, live, stop, service, max_conns.clone(), cap)
        });
    }

    fn publish(&self) {
        self.base.live.publish_counted_by(&self.counters, CountedBy::Acceptor);
    }

    /// Waits until every connection thread of this process ended, at most
    /// [`EXIT_WAIT`]; says so once if some are left to end with the process.
    fn wait_all(&self) {
        let deadline = Instant::now() + EXIT_WAIT;
        while self.cap.running.open() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let left = self.cap.running.open();
        if left > 0 && !LEFT_PRINTED.swap(true, Ordering::Relaxed) {
            common::say!(
                "echod: {left} connection threads still running {EXIT_WAIT:?} after shutdown \
                 began; leaving them to end with the process"
            );
        }
    }
}

/// Serves `stream` on a new thread, which gives back its `--max-conns` place and
/// its `--max-threads` place when it ends. Past the thread cap, or when the OS
/// refuses the thread, `stream` is closed and the caller keeps the `--max-conns`
/// place to give back.
fn spawn(
    stream: mio::net::TcpStream,
    live: &Arc<LiveStats>,
    stop: &Arc<AtomicBool>,
    service: &Service,
    max_conns: Cap,
    cap: &ThreadCap,
) -> Result<(), NoThread> {
    if !cap.running.admit() {
        return Err(NoThread::MaxThreads(cap.max)); // `stream` closes here
    }
    let stream = TcpStream::from(std::os::fd::OwnedFd::from(stream));
    let (live, stop, running) = (live.clone(), stop.clone(), cap.running.clone());
    let service = service.clone();
    let spawned = std::thread::Builder::new()
        .name("echod-conn".into())
        .stack_size(THREAD_STACK)
        .spawn(move || conn_thread::run(stream, &live, &stop, &service, max_conns, running));
    match spawned {
        Ok(_detached) => Ok(()), // waited for through the cap, not joined
        Err(e) => {
            cap.running.release(); // the closure (and the stream) were dropped unrun
            Err(NoThread::Spawn(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::thread_budget::MAPS_PER_THREAD;
    use super::*;

    /// Past the cap a connection gets no thread: `MaxThreads`, its stream closed
    /// (the client reads EOF), the cap unchanged; each kind has its own hint flag.
    #[test]
    fn past_the_cap_no_thread() {
        use std::io::Read as _;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let mut client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server_side, _) = listener.accept().expect("accept");
        let cap = ThreadCap { running: Cap::new(Some(1)), max: 1 };
        assert!(cap.running.admit(), "the one thread runs");
        let (live, stop) = (Arc::new(LiveStats::new(0)), Arc::new(AtomicBool::new(false)));
        let stream = mio::net::TcpStream::from_std(server_side);
        let service = Service {
            buffer: 16,
            held: super::super::held::HeldBytes::new(1 << 20),
            idle_timeout: None,
        };
        let refused = spawn(stream, &live, &stop, &service, Cap::new(None), &cap);
        assert!(matches!(refused, Err(NoThread::MaxThreads(1))), "{refused:?}");
        assert_eq!(cap.running.open(), 1);
        client.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        assert_eq!(client.read(&mut [0u8; 1]).expect("EOF"), 0);
        let spawn_failed = NoThread::Spawn(io::Error::other("no threads left"));
        assert!(!std::ptr::eq(NoThread::MaxThreads(1).hint_printed(), spawn_failed.hint_printed()));
    }

    fn maps() -> u64 {
        let text = std::fs::read_to_string("/proc/self/maps").expect("maps");
        text.lines().count() as u64
    }

    /// A connection thread adds about `MAPS_PER_THREAD` mappings (the figure the
    /// `--max-threads` ceiling divides `vm.max_map_count` by): 32 parked threads built
    /// like connection threads add at most 4 each, plus slack for malloc arenas.
    #[test]
    fn maps_per_thread_is_what_the_budget_assumes() {
        let before = maps();
        let barrier = Arc::new(std::sync::Barrier::new(33));
        let threads: Vec<_> = (0..32)
            .map(|_| {
                let b = barrier.clone();
                std::thread::Builder::new()
                    .stack_size(THREAD_STACK)
                    .spawn(move || {
                        let buf = vec![1u8; 64 * 1024];
                        b.wait(); // all alive: counted
                        b.wait();
                        drop(buf);
                    })
                    .expect("spawn")
            })
            .collect();
        barrier.wait();
        let added = maps().saturating_sub(before);
        barrier.wait();
        for t in threads {
            t.join().expect("join");
        }
        assert!(added >= 32, "threads added only {added} mappings");
        assert!(added <= 32 * MAPS_PER_THREAD + 64, "32 threads added {added} mappings");
    }
}
