//! `--model uring`: the same echo through io_uring. The shape of `reuseport` (a
//! pinned worker per core, each with its own SO_REUSEPORT listener on the one port)
//! with its own loop: each worker has its own ring, on which a multishot accept
//! brings connections and a receive per connection fills provided buffers; what
//! came in is sent back from the buffer the kernel filled. Every request a turn of
//! the loop makes (sends, receives armed again) goes to the kernel together, in the
//! one `io_uring_enter` that also waits for the next completions. Nothing is shared
//! between workers but what every model shares (the stop flag, `--max-conns`, the
//! published stats).
//!
//! Files: `features` (what the kernel offers, probed once at start-up; the line
//! that says what is used), `ring` (the ring: requests, completions, shutdown) and
//! `pool` (its provided buffers), the model's only `unsafe`; `enter` (what a failed
//! `io_uring_enter` means: retried, or the worker stops with its stats), `chain`
//! (the buffers a connection holds, in order), `conn` (one connection's echo step),
//! `sizing` (the ring's sizes and each connection's bounds for a `--buffer`),
//! `budget` (the worker's part in `--max-held-bytes` and `--idle-timeout`); this
//! file is the worker and its loop.
//!
//! Shutdown: the worker's mio poll keeps only the shutdown waker (the listener is
//! the ring's); a poll request on its descriptor completes when the waker fires.
//! The loop then cancels every request and waits until the kernel has let go of
//! every buffer (at most [`EXIT_WAIT`]) before the buffers are freed, unregisters
//! the listener from the ring (so the port is free the moment echod exits, not when
//! the kernel gets round to tearing the ring down), then closes the connections.

mod budget;
mod chain;
mod conn;
mod enter;
mod features;
mod pool;
mod ring;
mod setup;
mod sizing;

use std::io::{self, Write as _};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub use features::probe;
pub use setup::Features;
pub use sizing::line;

use self::budget::{Budget, Reading, IDLE_SWEEPS};
use self::chain::Chains;
use self::conn::{Bounds, Conn, End, Io, Next, Recv};
use self::enter::Enters;
use self::ring::{Completion, Live, Op, Ring};
use self::sizing::{bounds, sizes, BUFFERS};
use super::accept::NoRoom;
use super::base::WorkerBase;
use super::counters::Counters;
use super::slab::Slab;
use super::ServerError;

/// How long shutdown waits for the kernel to end every request.
const EXIT_WAIT: Duration = Duration::from_secs(1);

/// The ring could not take a new connection's first receive: the connection is
/// closed at once (see [`NoRoom`]).
#[derive(Debug, thiserror::Error)]
#[error(
    "could not queue a new connection's receive on the worker's io_uring ({0}): closing \
     such connections at once (counted in rejected_resources); cap connections with \
     --max-conns"
)]
pub(crate) struct NotQueued(io::Error);

/// Set once a [`NotQueued`] hint was printed.
static NOT_QUEUED_PRINTED: AtomicBool = AtomicBool::new(false);

impl NoRoom for NotQueued {
    fn hint_printed(&self) -> &'static AtomicBool {
        &NOT_QUEUED_PRINTED
    }
}

/// A worker of `--model uring` before its thread starts.
#[derive(Debug)]
pub(crate) struct UringWorker {
    /// Its listener, acceptor, stop flag, waker's poll and published stats.
    pub(crate) base: WorkerBase,
    /// Its ring, built and not running (boxed: the pool holds workers of every model
    /// in one enum, and a ring is large).
    ring: Box<Ring>,
    /// What the kernel offers.
    features: Features,
    /// The receive limit and the buffer cap of each connection.
    bounds: Bounds,
}

impl UringWorker {
    /// A worker over `base` with a ring as `features` allow, for `--buffer` bytes.
    pub(crate) fn new(
        mut base: WorkerBase,
        features: &Features,
        buffer: usize,
    ) -> Result<UringWorker, ServerError> {
        let id = base.id;
        let failed = |source| ServerError::Poll { worker: id, source };
        // The ring accepts now: the mio poll keeps only the waker.
        base.poll.registry().deregister(&mut base.acceptor.listener).map_err(failed)?;
        let listener = base.acceptor.listener.as_raw_fd();
        let ring = Box::new(Ring::new(features, sizes(buffer), listener).map_err(failed)?);
        let bounds = bounds(features, buffer);
        Ok(UringWorker { base, ring, features: features.clone(), bounds })
    }

    /// Runs the loop until shutdown; pins first when `core` is given.
    pub(crate) fn run(mut self, core: Option<usize>) -> io::Result<()> {
        self.base.pin(core);
        let UringWorker { base, ring, features, bounds } = &mut self;
        let live = ring.start(features.ring_fd)?.with_enters(Enters::from_env());
        let budget = Budget::new(base.held.clone(), base.idle_timeout);
        let mut worker = Loop {
            base,
            live,
            conns: Slab::new(),
            chains: Chains::new(BUFFERS),
            counters: Counters::default(),
            bounds: *bounds,
            accepting: false,
            multishot_accept: true,
            starved: Vec::new(),
            budget,
            key_bound: 0,
        };
        let result = worker.serve();
        let Loop { base, live, conns, counters, mut budget, .. } = worker;
        budget.release_all();
        let ring_stats = live.stats();
        if !live.finish(EXIT_WAIT) {
            // Not every request ended: the ring leaks its buffers, and may still hold
            // the listener until the kernel tears it down after echod has exited.
            release_listener(&base.acceptor.listener);
        }
        close_all(base, conns, &counters);
        if let Some(line) = ring_stats.line(base.id) {
            say(&line);
        }
        result
    }
}

/// A running worker.
struct Loop<'a, 'r> {
    /// Its stop flag, acceptor and stats.
    base: &'a mut WorkerBase,
    /// Its ring.
    live: Live<'r>,
    /// Open connections, by key (the key is in their requests' user data).
    conns: Slab<Conn>,
    /// The buffers each connection holds.
    chains: Chains,
    /// Its counters.
    counters: Counters,
    /// The receive limit and the buffer cap of each connection.
    bounds: Bounds,
    /// An accept request is in the kernel.
    accepting: bool,
    /// Accept with one multishot request (off after the kernel refused it).
    multishot_accept: bool,
    /// Connections whose receive ended for want of buffers.
    starved: Vec<u32>,
    /// Its part in `--max-held-bytes` and `--idle-timeout`.
    budget: Budget,
    /// Every connection key in use is below this.
    key_bound: usize,
}

impl Loop<'_, '_> {
    fn serve(&mut self) -> io::Result<()> {
        self.live.watch(self.base.poll.as_raw_fd())?;
        let mut batch = Vec::with_capacity(1024);
        while !self.base.stopping() {
            if !self.accepting && !self.base.acceptor.paused() {
                self.live.accept(self.multishot_accept)?;
                self.accepting = true;
            }
            self.live.wait(self.budget.timeout(self.base.acceptor.timeout()))?;
            self.live.completions(&mut batch)?;
            let mut recycled = 0;
            for c in batch.drain(..) {
                recycled += self.on_completion(c)?;
            }
            if recycled > 0 && !self.starved.is_empty() {
                self.feed_starved()?;
            }
            self.after_turn()?;
            self.counters.active = self.conns.len() as u64;
            self.base.live.publish(&self.counters);
        }
        Ok(())
    }

    /// Handles one completion; returns how many buffers went back to the ring.
    fn on_completion(&mut self, c: Completion) -> io::Result<u32> {
        let key = match c.op {
            Op::Accept => return self.on_accept(c).map(|()| 0),
            Op::Wake => {
                if !self.base.stopping() {
                    self.live.watch(self.base.poll.as_raw_fd())?; // spurious: watch again
                }
                return Ok(0);
            }
            Op::Cancel => return Ok(0), // the cancelled request's own completion counts
            Op::Recv(key) | Op::Send(key) => key,
        };
        let Loop { base, live, conns, chains, counters, bounds, starved, .. } = self;
        let mut io = Io { live, chains, counters, bounds: *bounds, recycled: 0 };
        let Some(conn) = conns.get_mut(key as usize) else {
            // Never: a connection closes only once none of its requests is in flight.
            if let Some(buf) = c.buf {
                io.recycle(buf);
            }
            return Ok(io.recycled);
        };
        let next = match c.op {
            Op::Send(_) => conn.on_send(key, c.result, &mut io)?,
            _ => {
                let next = conn.on_recv(key, c, &mut io)?;
                if conn.recv() == Recv::Starved {
                    starved.push(key);
                }
                next
            }
        };
        close_if(next, key, conns, &mut io, base);
        Ok(io.recycled)
    }

    /// Once per turn: the held-bytes budget (pause or resume reading everywhere)
    /// and, when due, the idle sweep.
    fn after_turn(&mut self) -> io::Result<()> {
        match self.budget.settle(self.chains.held_bytes(), &mut self.counters) {
            Reading::Pause => {
                self.bounds.paused = true;
                self.each_conn(|conn, key, io| conn.pause(key, io).map(|()| Next::Keep))?;
            }
            Reading::Resume => {
                self.bounds.paused = false;
                self.each_conn(|conn, key, io| conn.arm(key, io).map(|()| Next::Keep))?;
            }
            Reading::Same => {}
        }
        if self.budget.sweep_due() {
            self.each_conn(|conn, key, io| conn.tick(key, IDLE_SWEEPS, io))?;
        }
        Ok(())
    }

    /// Runs `step` on every connection, closing those it says to.
    fn each_conn(
        &mut self,
        mut step: impl FnMut(&mut Conn, u32, &mut Io<'_, '_>) -> io::Result<Next>,
    ) -> io::Result<()> {
        let Loop { base, live, conns, chains, counters, bounds, key_bound, .. } = self;
        let mut io = Io { live, chains, counters, bounds: *bounds, recycled: 0 };
        for key in 0..*key_bound as u32 {
            if let Some(conn) = conns.get_mut(key as usize) {
                let next = step(conn, key, &mut io)?;
                close_if(next, key, conns, &mut io, base);
            }
        }
        Ok(())
    }

    /// An accept completion: admit the connection (`--max-conns`, counters, the
    /// EMFILE back-off) and arm its first receive.
    fn on_accept(&mut self, c: Completion) -> io::Result<()> {
        if !c.more {
            self.accepting = false;
        }
        if c.result == -libc::EINVAL && self.multishot_accept {
            say("--model uring: multishot accept refused; one accept per request");
            self.multishot_accept = false;
            return Ok(());
        }
        let accepted =
            c.accepted().map(|fd| mio::net::TcpStream::from_std(std::net::TcpStream::from(fd)));
        let Loop { base, live, conns, chains, counters, bounds, key_bound, .. } = self;
        let mut admitted = Counters::default();
        base.acceptor.admit(accepted, &mut admitted, |stream| {
            let key = conns.vacant_key() as u32;
            let mut io = Io { live, chains, counters, bounds: *bounds, recycled: 0 };
            let conn = Conn::open(OwnedFd::from(stream), key, &mut io).map_err(NotQueued)?;
            conns.insert(conn);
            *key_bound = (*key_bound).max(key as usize + 1);
            Ok::<(), NotQueued>(())
        });
        self.counters.merge(&admitted);
        self.counters.active = self.conns.len() as u64;
        self.counters.active_peak = self.counters.active_peak.max(self.counters.active);
        Ok(())
    }

    /// Arms again the receives that ended for want of buffers.
    fn feed_starved(&mut self) -> io::Result<()> {
        let Loop { live, conns, chains, counters, bounds, starved, .. } = self;
        let mut io = Io { live, chains, counters, bounds: *bounds, recycled: 0 };
        for key in starved.drain(..) {
            if let Some(conn) = conns.get_mut(key as usize) {
                conn.arm(key, &mut io)?;
            }
        }
        Ok(())
    }
}

/// Closes connection `key` when `next` says so: its buffers go back, `--max-conns`
/// has a place again, and the counters say why it closed.
fn close_if(next: Next, key: u32, conns: &mut Slab<Conn>, io: &mut Io<'_, '_>, base: &WorkerBase) {
    let Next::Close(end) = next else { return };
    if let Some(conn) = conns.remove(key as usize) {
        conn.close(io);
        base.acceptor.max_conns().release();
        match end {
            End::Failed => io.counters.closed_by_error += 1,
            End::Idle => io.counters.closed_idle += 1,
            End::Eof => {}
        }
    }
}

/// Prints `echod: {line}` to stderr; a closed stderr is no reason to stop a worker.
fn say(line: &str) {
    let _ = writeln!(io::stderr(), "echod: {line}");
}

/// Takes the listener out of the listening table now, whoever else still holds
/// it: shutdown(2) of a listening socket stops it listening (the kernel's
/// `inet_csk_listen_stop`), so a new listener binds the port at once (both set
/// SO_REUSEADDR, and this one no longer listens), however long the ring keeps its
/// reference. A failure leaves nothing worse than before: ignored.
fn release_listener(listener: &mio::net::TcpListener) {
    let _ = socket2::SockRef::from(listener).shutdown(std::net::Shutdown::Both);
}

/// Shutdown: close every connection and publish the counters once more.
fn close_all(base: &mut WorkerBase, mut conns: Slab<Conn>, counters: &Counters) {
    for conn in conns.drain() {
        drop(conn); // its buffers die with the ring
        base.acceptor.max_conns().release();
    }
    base.live.publish(counters);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listener the ring still holds (fixed file, multishot accept in flight) no
    /// longer keeps its port once released: a plain listener binds it.
    #[test]
    fn released_listener_frees_the_port() {
        let Ok(features) = probe() else {
            eprintln!("skipped: io_uring is not usable here");
            return;
        };
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let addr = std_listener.local_addr().expect("addr");
        let listener = mio::net::TcpListener::from_std(std_listener);
        let mut ring = Ring::new(&features, sizes(64), listener.as_raw_fd()).expect("ring");
        let mut live = ring.start(false).expect("start");
        live.accept(true).expect("accept");
        live.wait(Some(Duration::from_millis(10))).expect("submit");
        assert!(std::net::TcpListener::bind(addr).is_err(), "listening still");
        release_listener(&listener);
        assert!(std::net::TcpListener::bind(addr).is_ok(), "released");
        assert!(live.finish(EXIT_WAIT));
    }
}
