//! What every worker has, whatever its model, built by the pool before any thread
//! starts: an id, its own mio `Poll` with its listener (token [`LISTENER`]) and the
//! shutdown waker (token [`WAKER`]) registered, the [`Acceptor`] over that listener
//! (`--max-conns`, the EMFILE back-off), the stop flag and the stats it publishes.
//! Each model runs its own loop over it (`worker`: the event loop that serves
//! connections itself; `threads`: a loop that hands them to threads); the small
//! steps they share are here: pin, look at the stop flag, wait for the next events.
//!
//! Invariant: the listener and the waker are registered once, here; the waker is
//! handed to the shutdown handle, which sets the stop flag before waking the poll.

use std::io;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mio::{Events, Interest, Poll, Token, Waker};

use super::accept::Acceptor;
use super::held::HeldBytes;
use super::limit::Cap;
use super::stats::LiveStats;
use super::ServerError;

/// The listener's token; connections use their slab index, below it.
pub(crate) const LISTENER: Token = Token(usize::MAX - 1);
/// The shutdown waker's token.
pub(crate) const WAKER: Token = Token(usize::MAX);

/// A worker's poll, listener and published stats, before its loop runs.
#[derive(Debug)]
pub(crate) struct WorkerBase {
    /// Worker id (unique across `--processes` children).
    pub(crate) id: usize,
    /// This worker's event loop; the listener and the waker are registered in it.
    pub(crate) poll: Poll,
    /// The listener and the accept state.
    pub(crate) acceptor: Acceptor,
    /// Where the worker's counters are published for other threads.
    pub(crate) live: Arc<LiveStats>,
    /// Set by the shutdown handle before it wakes the poll.
    pub(crate) stop: Arc<AtomicBool>,
    /// `--max-held-bytes`: the process's budget for bytes held toward peers.
    pub(crate) held: HeldBytes,
    /// `--idle-timeout`: close a connection idle this long; `None`: never.
    pub(crate) idle_timeout: Option<std::time::Duration>,
}

/// What every worker of a process shares besides its own listener: the caps, the
/// budget and the stop flag.
#[derive(Clone, Debug)]
pub(crate) struct Shared {
    /// `--max-conns`.
    pub(crate) max_conns: Cap,
    /// `--max-held-bytes`.
    pub(crate) held: HeldBytes,
    /// `--idle-timeout`.
    pub(crate) idle_timeout: Option<std::time::Duration>,
    /// Set by the shutdown handle.
    pub(crate) stop: Arc<AtomicBool>,
}

impl WorkerBase {
    /// Worker `id` over `listener`: a new poll with the listener and a waker
    /// registered. Returns the waker for the shutdown handle.
    pub(crate) fn new(
        id: usize,
        listener: TcpListener,
        shared: Shared,
    ) -> Result<(WorkerBase, Waker), ServerError> {
        let Shared { max_conns, held, idle_timeout, stop } = shared;
        let poll_err = |source| ServerError::Poll { worker: id, source };
        let poll = Poll::new().map_err(poll_err)?;
        let mut listener = mio::net::TcpListener::from_std(listener);
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE).map_err(poll_err)?;
        let waker = Waker::new(poll.registry(), WAKER).map_err(poll_err)?;
        let acceptor = Acceptor::new(listener, max_conns);
        let live = Arc::new(LiveStats::new(id));
        Ok((WorkerBase { id, poll, acceptor, live, stop, held, idle_timeout }, waker))
    }

    /// Pins the calling thread to `core` when given and records where it runs; a
    /// refusal is reported and the worker runs unpinned.
    pub(crate) fn pin(&self, core: Option<usize>) {
        pin_worker(self.id, &self.live, core);
    }

    /// Whether shutdown has begun.
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Waits for the next events, at most until an accept pause ends or the accept
    /// queue is due ([`Acceptor::timeout`]) and at most `soonest` (the worker's own
    /// deadline: work left on its ready list, an idle sweep). A signal (EINTR) is a
    /// turn with no events, not an error.
    pub(crate) fn wait(
        &mut self,
        events: &mut Events,
        soonest: Option<std::time::Duration>,
    ) -> io::Result<()> {
        let timeout = match (self.acceptor.timeout(), soonest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        wait_on(&mut self.poll, events, timeout)
    }
}

/// Pins the calling thread (worker `id`'s) to `core` when given and records where it
/// runs in `live`; a refusal is reported and the worker runs unpinned. Every model's
/// worker pins through here, and so does `--proto`'s UDP loop.
pub(crate) fn pin_worker(id: usize, live: &LiveStats, core: Option<usize>) {
    let cpu = core.filter(|&c| {
        let pinned = common::pin::pin_current_thread(c);
        if !pinned {
            common::say!("echod: worker {id}: could not pin to cpu {c}; running unpinned");
        }
        pinned
    });
    live.set_cpu(cpu);
}

/// Waits on `poll` for the next events, at most `timeout`. A signal (EINTR) is a turn
/// with no events, not an error.
pub(crate) fn wait_on(
    poll: &mut Poll,
    events: &mut Events,
    timeout: Option<std::time::Duration>,
) -> io::Result<()> {
    match poll.poll(events, timeout) {
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
            events.clear();
            Ok(())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A connection makes the listener's token ready, the waker its own; a stop
    /// flag set by another reads as stopping.
    #[test]
    fn listener_and_waker_are_registered() {
        let listener = common::net::listener("127.0.0.1:0".parse().expect("addr"), 16, false)
            .expect("listener");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Shared {
            max_conns: Cap::new(None),
            held: HeldBytes::new(1 << 20),
            idle_timeout: None,
            stop: stop.clone(),
        };
        let (mut base, waker) = WorkerBase::new(5, listener, shared).expect("base");
        let mut events = Events::with_capacity(8);
        let _client = std::net::TcpStream::connect(addr).expect("connect");
        let mut seen = Vec::new();
        // Bounded: a few turns of at most 5 s each.
        for _ in 0..10 {
            if seen.contains(&LISTENER) && seen.contains(&WAKER) {
                break;
            }
            waker.wake().expect("wake");
            base.poll.poll(&mut events, Some(Duration::from_secs(5))).expect("poll");
            seen.extend(events.iter().map(|e| e.token()));
        }
        assert!(seen.contains(&LISTENER) && seen.contains(&WAKER), "{seen:?}");
        assert!(!base.stopping());
        stop.store(true, Ordering::Release);
        assert!(base.stopping());
        waker.wake().expect("wake");
        base.wait(&mut events, None).expect("a turn");
        assert!(events.iter().any(|e| e.token() == WAKER));
    }
}
