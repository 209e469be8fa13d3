//! One worker of the default models (`reuseport`, `shared`): a thread with its own
//! mio `Poll` and listener ([`WorkerBase`]), its connections in a slab indexed by
//! `Token`, and one read buffer shared by all of them. Nothing here is shared with
//! other workers except the shutdown flag, the `--max-conns` counter and the
//! published stats. (`--model threads` has its own loop, in `threads`.)
//!
//! The loop: poll; accept on the listener's edge; drive a connection on its edge;
//! drive the connections on the ready list (those a turn left with bytes to read:
//! each call reads at most `conn::READS_PER_TURN` times, and an edge-triggered
//! registration brings no second edge for them); accept again when the last turn
//! stopped at `accept::ACCEPTS_PER_TURN` or an EMFILE pause ends; publish the
//! counters once per turn. While the ready list or the accept queue holds work the
//! poll does not sleep. So one peer, or a connect flood, gets one share of a turn and
//! the others (and the stop flag) are served in between. On shutdown (the waker) it
//! stops accepting and closes every connection.

use std::io;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use mio::event::Event;
use mio::{Events, Interest, Token};

use super::accept::NoRoom;
use super::base::{WorkerBase, LISTENER, WAKER};
use super::conn::{Conn, Next};
use super::counters::Counters;
use super::slab::Slab;

/// A worker before its thread starts: everything was built and bound by `Server::bind`.
#[derive(Debug)]
pub(crate) struct Worker {
    /// Its poll, listener, acceptor and published stats.
    pub(crate) base: WorkerBase,
    /// Open connections, indexed by token.
    conns: Slab<Conn>,
    /// The one read buffer every connection of this worker reads into.
    buf: Box<[u8]>,
    /// This worker's counters (plain integers: only this thread writes them).
    counters: Counters,
    /// Connections to drive in the next turn without an edge (their `queued` set).
    ready: Vec<usize>,
    /// The ready list being driven this turn (kept to reuse its allocation).
    driving: Vec<usize>,
}

/// The event loop refused an accepted connection (epoll's watch limit, or memory).
#[derive(Debug, thiserror::Error)]
#[error(
    "could not add a connection to the event loop ({0}): closing such connections at \
     once (counted in rejected_resources); raise fs.epoll.max_user_watches, or cap \
     connections with --max-conns"
)]
pub(crate) struct NotRegistered(io::Error);

/// Set once a [`NotRegistered`] hint was printed.
static NOT_REGISTERED_PRINTED: AtomicBool = AtomicBool::new(false);

impl NoRoom for NotRegistered {
    fn hint_printed(&self) -> &'static AtomicBool {
        &NOT_REGISTERED_PRINTED
    }
}

impl Worker {
    /// A worker over `base`, with a `buffer`-byte read buffer.
    pub(crate) fn new(base: WorkerBase, buffer: usize) -> Worker {
        Worker {
            base,
            conns: Slab::new(),
            buf: vec![0; buffer].into_boxed_slice(),
            counters: Counters::default(),
            ready: Vec::new(),
            driving: Vec::new(),
        }
    }

    /// Runs the loop until shutdown; pins first when `core` is given (a refusal is
    /// reported and the worker runs unpinned).
    pub(crate) fn run(mut self, core: Option<usize>) -> io::Result<()> {
        self.base.pin(core);
        let result = self.serve();
        self.close_all();
        result
    }

    fn serve(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        while !self.base.stopping() {
            let busy = (!self.ready.is_empty()).then_some(Duration::ZERO);
            self.base.wait(&mut events, busy)?;
            for event in events.iter() {
                match event.token() {
                    WAKER => {} // the stop flag is checked at the top of the loop
                    LISTENER => self.accept(),
                    Token(key) => self.on_conn_event(key, event),
                }
            }
            self.drive_ready();
            if self.base.acceptor.accept_due() {
                self.accept();
            }
            self.base.live.publish(&self.counters);
        }
        Ok(())
    }

    /// Drives once each connection a turn left with bytes to read.
    fn drive_ready(&mut self) {
        std::mem::swap(&mut self.ready, &mut self.driving);
        let mut driving = std::mem::take(&mut self.driving);
        for key in driving.drain(..) {
            // A key closed since (and maybe reused by a new connection) is not queued.
            match self.conns.get_mut(key) {
                Some(conn) if conn.queued => conn.queued = false,
                _ => continue,
            }
            self.drive(key, false, false);
        }
        self.driving = driving;
    }

    fn accept(&mut self) {
        let Worker { base, conns, counters, .. } = self;
        let registry = base.poll.registry();
        base.acceptor.accept_all(counters, |mut stream| {
            let key = conns.vacant_key();
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(e) = registry.register(&mut stream, Token(key), interest) {
                return Err(NotRegistered(e)); // `stream` closes on the way out
            }
            conns.insert(Conn::new(stream));
            Ok(())
        });
        counters.active = conns.len() as u64;
        counters.active_peak = counters.active_peak.max(counters.active);
    }

    fn on_conn_event(&mut self, key: usize, event: &Event) {
        let read_closed = event.is_read_closed() || event.is_error();
        self.drive(key, event.is_readable(), read_closed);
    }

    /// Drives connection `key` (on an edge, or from the ready list); queues it when
    /// it has bytes left to read, closes it when it is done.
    fn drive(&mut self, key: usize, readable: bool, read_closed: bool) {
        let Some(conn) = self.conns.get_mut(key) else { return }; // spurious: closed
        let next = conn.on_event(readable, read_closed, &mut self.buf, &mut self.counters);
        if next == Next::Keep {
            if conn.has_more() && !conn.queued {
                conn.queued = true;
                self.ready.push(key);
            }
            return;
        }
        if next == Next::Failed {
            self.counters.closed_by_error += 1;
        }
        // Closing the descriptor removes it from the poll; no deregister needed.
        drop(self.conns.remove(key));
        self.base.acceptor.max_conns().release();
        self.counters.active = self.conns.len() as u64;
    }

    /// Shutdown: close every connection (the kernel sends FIN, or RST where unread
    /// bytes remain) and publish the counters once more.
    fn close_all(&mut self) {
        for conn in self.conns.drain() {
            drop(conn);
            self.base.acceptor.max_conns().release();
        }
        self.base.live.publish(&self.counters);
    }
}
