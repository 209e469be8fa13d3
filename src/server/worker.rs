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
//!
//! `--max-held-bytes`: while the process's budget is spent no connection reads (what
//! is pending is still written, which is what frees the budget); the ready list
//! keeps the connections that wanted to, and is looked at every [`HELD_RECHECK`]
//! until the budget is free. `--idle-timeout`: a sweep over the connections every
//! quarter of it (`idle`).

use std::io;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use mio::event::Event;
use mio::{Events, Interest, Token};

use super::accept::NoRoom;
use super::base::{WorkerBase, LISTENER, WAKER};
use super::conn::{Conn, Next};
use super::counters::Counters;
use super::idle::IdleSweep;
use super::slab::Slab;

/// How often a worker looks at a spent `--max-held-bytes` budget again (no edge says
/// when other workers' peers read).
pub(crate) const HELD_RECHECK: Duration = Duration::from_millis(5);

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
    /// The budget was spent at the last look (a pause is counted once).
    held_paused: bool,
    /// `--idle-timeout`'s sweeps; `None` without the flag.
    sweep: Option<IdleSweep>,
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
            conns: Slab::new(),
            buf: vec![0; buffer].into_boxed_slice(),
            counters: Counters::default(),
            ready: Vec::new(),
            driving: Vec::new(),
            held_paused: false,
            sweep: IdleSweep::new(base.idle_timeout),
            base,
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
            let soonest = self.soonest();
            self.base.wait(&mut events, soonest)?;
            for event in events.iter() {
                match event.token() {
                    WAKER => {} // the stop flag is checked at the top of the loop
                    LISTENER => self.accept(),
                    Token(key) => self.on_conn_event(key, event),
                }
            }
            if !self.held_spent() {
                self.drive_ready();
            }
            if self.sweep.as_mut().is_some_and(IdleSweep::due) {
                self.close_idle();
            }
            if self.base.acceptor.accept_due() {
                self.accept();
            }
            self.base.live.publish(&self.counters);
        }
        Ok(())
    }

    /// How long the next poll may sleep: not at all with work on the ready list
    /// ([`HELD_RECHECK`] while the budget is spent), until the next idle sweep, or
    /// for ever.
    fn soonest(&self) -> Option<Duration> {
        let ready = match (self.ready.is_empty(), self.held_paused) {
            (true, _) => None,
            (false, false) => Some(Duration::ZERO),
            (false, true) => Some(HELD_RECHECK),
        };
        let sweep = self.sweep.as_ref().map(IdleSweep::timeout);
        match (ready, sweep) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether `--max-held-bytes` is spent now; counts the start of each pause.
    fn held_spent(&mut self) -> bool {
        let spent = self.base.held.spent();
        if spent && !self.held_paused {
            self.counters.held_pauses += 1;
        }
        self.held_paused = spent;
        spent
    }

    /// An `--idle-timeout` sweep: closes the connections quiet for long enough.
    fn close_idle(&mut self) {
        for key in 0..self.conns.key_bound() {
            let Some(conn) = self.conns.get_mut(key) else { continue };
            if conn.idle.swept() {
                self.counters.closed_idle += 1;
                self.close(key);
            }
        }
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
        let held = &self.base.held;
        let next = conn.on_event(readable, read_closed, &mut self.buf, &mut self.counters, held);
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
        self.close(key);
    }

    /// Closes connection `key`: gives back what it held and its `--max-conns` place.
    fn close(&mut self, key: usize) {
        let Some(mut conn) = self.conns.remove(key) else { return };
        conn.release(&self.base.held);
        // Closing the descriptor removes it from the poll; no deregister needed.
        drop(conn);
        self.base.acceptor.max_conns().release();
        self.counters.active = self.conns.len() as u64;
    }

    /// Shutdown: close every connection (the kernel sends FIN, or RST where unread
    /// bytes remain) and publish the counters once more.
    fn close_all(&mut self) {
        for mut conn in self.conns.drain() {
            conn.release(&self.base.held);
            drop(conn);
            self.base.acceptor.max_conns().release();
        }
        self.base.live.publish(&self.counters);
    }
}
