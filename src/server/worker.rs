//! One worker: a thread with its own mio `Poll`, its own listener (or a duplicate of
//! the shared one), its connections in a slab indexed by `Token`, and one read buffer
//! shared by all of them. Nothing here is shared with other workers except the
//! shutdown flag, the `--max-conns` counter and the published stats.
//!
//! The loop: poll; accept on the listener's edge; drive a connection on its edge;
//! retry accepting when an EMFILE pause ends; publish the counters once per turn. On
//! shutdown (the waker) it stops accepting and closes every connection.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mio::event::Event;
use mio::{Events, Interest, Poll, Token};

use super::accept::{Acceptor, NoRoom};
use super::conn::{Conn, Next};
use super::counters::{Counter, Counters};
use super::limit::ConnLimit;
use super::slab::Slab;
use super::stats::LiveStats;
use super::threads::ConnThreads;

/// What the accept loop counts (the thread-per-connection model publishes only these:
/// its connection threads add the others themselves).
const ACCEPT_COUNTERS: [Counter; 4] = [
    Counter::Accepted,
    Counter::AcceptErrors,
    Counter::RejectedMaxConns,
    Counter::RejectedResources,
];

/// The listener's token; connections use their slab index, below it.
pub(crate) const LISTENER: Token = Token(usize::MAX - 1);
/// The shutdown waker's token.
pub(crate) const WAKER: Token = Token(usize::MAX);

/// A worker before its thread starts: everything was built and bound by `Server::bind`.
#[derive(Debug)]
pub(crate) struct Worker {
    /// Worker id (unique across `--processes` children).
    pub(crate) id: usize,
    /// This worker's event loop; the listener and the waker are registered in it.
    pub(crate) poll: Poll,
    /// The listener and the accept state.
    pub(crate) acceptor: Acceptor,
    /// Open connections, indexed by token.
    conns: Slab<Conn>,
    /// The one read buffer every connection of this worker reads into.
    buf: Box<[u8]>,
    /// This worker's counters (plain integers: only this thread writes them).
    stats: Counters,
    /// Where the counters are published for other threads.
    pub(crate) live: Arc<LiveStats>,
    /// Set by the shutdown handle before it wakes the poll.
    stop: Arc<AtomicBool>,
    /// `Some` in the thread-per-connection model: accepted connections go to their
    /// own blocking threads instead of this loop.
    threads: Option<ConnThreads>,
}

impl Worker {
    /// A worker around a bound acceptor and a poll holding its registrations.
    /// `threads`: in the thread-per-connection model, the process's connection-thread
    /// cap (shared by its workers) and its value.
    pub(crate) fn new(
        id: usize,
        poll: Poll,
        acceptor: Acceptor,
        buffer: usize,
        stop: Arc<AtomicBool>,
        threads: Option<(ConnLimit, usize)>,
    ) -> Worker {
        let live = Arc::new(LiveStats::new(id));
        let threads = threads
            .map(|(cap, max)| ConnThreads::new(live.clone(), stop.clone(), buffer, cap, max));
        Worker {
            id,
            poll,
            acceptor,
            conns: Slab::new(),
            buf: vec![0; if threads.is_some() { 1 } else { buffer }].into_boxed_slice(),
            stats: Counters::default(),
            live,
            stop,
            threads,
        }
    }

    /// Runs the loop until shutdown; pins first when `core` is given (a refusal is
    /// reported and the worker runs unpinned).
    pub(crate) fn run(mut self, core: Option<usize>) -> io::Result<()> {
        let cpu = core.filter(|&c| {
            let pinned = crate::pin::pin_current_thread(c);
            if !pinned {
                eprintln!("echod: worker {}: could not pin to cpu {c}; running unpinned", self.id);
            }
            pinned
        });
        self.live.set_cpu(cpu);
        let result = self.serve();
        self.close_all();
        result
    }

    fn serve(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        while !self.stop.load(Ordering::Acquire) {
            match self.poll.poll(&mut events, self.acceptor.timeout()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for event in events.iter() {
                match event.token() {
                    WAKER => {} // the stop flag is checked at the top of the loop
                    LISTENER => self.accept(),
                    Token(key) => self.on_conn_event(key, event),
                }
            }
            if self.acceptor.pause_expired() {
                self.accept();
            }
            self.publish();
        }
        Ok(())
    }

    fn accept(&mut self) {
        let Worker { acceptor, conns, poll, stats, threads, .. } = self;
        let limit = acceptor.limit().clone();
        acceptor.accept_all(stats, |mut stream, _peer| {
            if let Some(threads) = threads {
                return threads.spawn(stream, limit.clone());
            }
            let key = conns.vacant_key();
            let interest = Interest::READABLE | Interest::WRITABLE;
            poll.registry()
                .register(&mut stream, Token(key), interest)
                .map_err(NoRoom::Register)?; // `stream` closes on the way out
            conns.insert(Conn::new(stream));
            Ok(())
        });
        stats.active = conns.len() as u64;
        stats.active_peak = stats.active_peak.max(stats.active);
    }

    fn on_conn_event(&mut self, key: usize, event: &Event) {
        let Some(conn) = self.conns.get_mut(key) else { return }; // spurious: closed
        let read_closed = event.is_read_closed() || event.is_error();
        let next = conn.on_event(event.is_readable(), read_closed, &mut self.buf, &mut self.stats);
        if next == Next::Keep {
            return;
        }
        if next == Next::Failed {
            self.stats.closed_by_error += 1;
        }
        // Closing the descriptor removes it from the poll; no deregister needed.
        drop(self.conns.remove(key));
        self.acceptor.limit().release();
        self.stats.active = self.conns.len() as u64;
    }

    /// Shutdown: close every connection (the kernel sends FIN, or RST where unread
    /// bytes remain) and wait for connection threads.
    fn close_all(&mut self) {
        let open = self.conns.len();
        for conn in self.conns.drain() {
            drop(conn);
            self.acceptor.limit().release();
        }
        debug_assert!(open == 0 || self.conns.len() == 0);
        if let Some(threads) = &self.threads {
            threads.wait_all();
        }
        self.publish();
    }

    fn publish(&self) {
        if self.threads.is_some() {
            self.live.publish_only(&self.stats, &ACCEPT_COUNTERS); // connection threads count the rest
        } else {
            self.live.publish(&self.stats);
        }
    }
}
