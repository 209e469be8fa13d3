//! Accepting on one worker's listener: drain the accept queue until WouldBlock or
//! [`ACCEPTS_PER_TURN`], apply `--max-conns` (a `limit::Cap`), and back off on
//! EMFILE/ENFILE instead of spinning.
//!
//! Why a budget: a connect flood would otherwise keep a worker in `accept_all` for
//! as long as connections come, and its connections unserved. A turn accepts at most
//! [`ACCEPTS_PER_TURN`]; the queue may still hold connections and no new edge will
//! say so, so the acceptor remembers it ([`Acceptor::accept_due`]) and asks the
//! worker's next poll not to sleep ([`Acceptor::timeout`]).
//!
//! Why a back-off: the listener is edge-triggered and the queued connection stays in
//! the backlog when accept fails for lack of descriptors, so retrying at once spins at
//! 100% CPU. The acceptor stops accepting for [`BACKOFF`] (the worker's poll timeout
//! wakes it) and then tries again; nothing else is needed to resume, since descriptors
//! free up as connections close. The first EMFILE in the process prints a hint.
//!
//! [`Acceptor::admit`] is one accept's outcome, whoever called accept: `accept_all`
//! (the mio models) or a model that accepts another way (`--model uring`'s ring
//! hands it the descriptors its completions carry), so admission, counting and the
//! back-off are written once.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};

use super::counters::Counters;
use super::limit::Cap;

/// How long accepting pauses after EMFILE/ENFILE.
pub(crate) const BACKOFF: Duration = Duration::from_millis(50);

/// Connections one turn of a worker accepts at most before it serves the others.
pub(crate) const ACCEPTS_PER_TURN: usize = 64;

/// Set once the EMFILE hint was printed, so a storm of failures prints one line.
static HINT_PRINTED: AtomicBool = AtomicBool::new(false);

/// Why a model could not serve a connection it accepted (no thread, no place in the
/// event loop): [`Acceptor::accept_all`] closes it at once, counts it in
/// `rejected_resources` and prints its hint (the `Display` text) the first time
/// only. Each model names its own kinds.
pub(crate) trait NoRoom: std::fmt::Display {
    /// Set once this kind's hint was printed: one flag per kind, per process.
    fn hint_printed(&self) -> &'static AtomicBool;

    /// Prints this kind's hint, the first time only.
    fn hint_once(&self) {
        if !self.hint_printed().swap(true, Ordering::Relaxed) {
            common::say!("echod: {self}");
        }
    }
}

/// One worker's listener and its accept state.
#[derive(Debug)]
pub(crate) struct Acceptor {
    /// The listener (this worker's own, or a duplicate of the shared one).
    pub(crate) listener: TcpListener,
    /// Accepting is paused until then (after EMFILE/ENFILE).
    paused_until: Option<Instant>,
    /// The server-wide `--max-conns`.
    max_conns: Cap,
    /// The last turn stopped at [`ACCEPTS_PER_TURN`]: the queue may hold more, and
    /// no edge will say so.
    more: bool,
}

impl Acceptor {
    /// An acceptor for `listener`.
    pub(crate) fn new(listener: TcpListener, max_conns: Cap) -> Acceptor {
        Acceptor { listener, paused_until: None, max_conns, more: false }
    }

    /// `--max-conns`, to give a place back when a connection closes.
    pub(crate) fn max_conns(&self) -> &Cap {
        &self.max_conns
    }

    /// How long the worker's poll may sleep: not at all when the queue may hold
    /// more, until the pause ends, or forever.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        if self.more {
            return Some(Duration::ZERO);
        }
        self.paused_until.map(|t| t.saturating_duration_since(Instant::now()))
    }

    /// True when the queue must be accepted from without an edge: a turn stopped at
    /// the budget, or a pause is over.
    pub(crate) fn accept_due(&self) -> bool {
        self.more || self.pause_expired()
    }

    /// True when a pause is over and the queue must be retried (no edge will say so).
    pub(crate) fn pause_expired(&self) -> bool {
        self.paused_until.is_some_and(|t| Instant::now() >= t)
    }

    /// Accepts until the queue is empty or [`ACCEPTS_PER_TURN`] were taken, calling
    /// `serve` with each admitted connection; refused ones (`--max-conns`, or a
    /// [`NoRoom`] from `serve`) are closed at once and counted. `serve` owns the
    /// connection's `--max-conns` place once it returns `Ok`; on `Err` this gives it
    /// back.
    pub(crate) fn accept_all<E: NoRoom>(
        &mut self,
        counters: &mut Counters,
        mut serve: impl FnMut(TcpStream) -> Result<(), E>,
    ) {
        self.more = false;
        if self.paused() {
            return;
        }
        for _ in 0..ACCEPTS_PER_TURN {
            let next = match self.listener.accept() {
                Ok((stream, _peer)) => self.admit(Ok(stream), counters, &mut serve),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => self.admit(Err(e), counters, &mut serve),
            };
            if next == Next::Stop {
                return;
            }
        }
        self.more = true; // the budget ended before WouldBlock
    }

    /// One accept's outcome, from `accept(2)` here or from a model that accepts
    /// another way (`--model uring`'s ring): admits the connection (`--max-conns`,
    /// TCP_NODELAY, `serve`, counters) or handles the error (a transient one is
    /// skipped; EMFILE/ENFILE and the rest pause accepting for [`BACKOFF`]). Says
    /// whether to accept the next one now. WouldBlock is the caller's to handle.
    pub(crate) fn admit<E: NoRoom>(
        &mut self,
        accepted: io::Result<TcpStream>,
        counters: &mut Counters,
        serve: impl FnOnce(TcpStream) -> Result<(), E>,
    ) -> Next {
        match accepted {
            Ok(stream) => {
                if !self.max_conns.admit() {
                    counters.rejected_max_conns += 1;
                    drop(stream); // accepted and closed at once
                    return Next::Accept;
                }
                // Echo replies are small; Nagle would hold them for the peer's ACK.
                let _ = stream.set_nodelay(true);
                match serve(stream) {
                    Ok(()) => counters.accepted += 1,
                    Err(no_room) => {
                        counters.rejected_resources += 1;
                        self.max_conns.release();
                        no_room.hint_once();
                    }
                }
                Next::Accept
            }
            // A connection reset while queued, or a signal: try the next one.
            Err(e) if is_transient(&e) => Next::Accept,
            Err(e) => {
                counters.accept_errors += 1;
                if is_out_of_descriptors(&e) {
                    print_hint_once(&e);
                } else {
                    common::say!("echod: accept failed: {e}; retrying in {BACKOFF:?}");
                }
                self.paused_until = Some(Instant::now() + BACKOFF);
                Next::Stop
            }
        }
    }

    /// Whether accepting is paused now (after EMFILE/ENFILE); clears a pause that is
    /// over.
    pub(crate) fn paused(&mut self) -> bool {
        match self.paused_until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                self.paused_until = None;
                false
            }
            None => false,
        }
    }
}

/// What to do after one accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Accept the next connection.
    Accept,
    /// Stop: accepting is paused (see [`Acceptor::timeout`]).
    Stop,
}

/// Errors that concern one queued connection, not the listener.
fn is_transient(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted)
        || e.raw_os_error() == Some(libc::EPROTO)
}

/// EMFILE, ENFILE (and the kernel's ENOBUFS/ENOMEM): no room for a new descriptor.
fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

fn print_hint_once(e: &io::Error) {
    if !HINT_PRINTED.swap(true, Ordering::Relaxed) {
        common::say!(
            "echod: accept: {e}: out of file descriptors; pausing accepts for {BACKOFF:?} \
             at a time (counted in accept_errors). Raise the hard RLIMIT_NOFILE, cap \
             connections with --max-conns, or spread them with --processes"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Never refuses room: every connection is served (and dropped).
    #[derive(Debug, thiserror::Error)]
    #[error("never")]
    struct Never;

    impl NoRoom for Never {
        fn hint_printed(&self) -> &'static AtomicBool {
            &HINT_PRINTED
        }
    }

    /// With more connections queued than one turn's budget, a call accepts
    /// `ACCEPTS_PER_TURN`, says more are due (and that the poll must not sleep); the
    /// next call takes the rest and the queue is drained.
    #[test]
    fn one_turn_accepts_at_most_the_budget() {
        let std_listener = common::net::listener("127.0.0.1:0".parse().expect("addr"), 512, false)
            .expect("listener");
        let addr = std_listener.local_addr().expect("addr");
        std_listener.set_nonblocking(true).expect("non-blocking");
        let mut acceptor = Acceptor::new(TcpListener::from_std(std_listener), Cap::new(None));
        let queued = ACCEPTS_PER_TURN + 36;
        let clients: Vec<_> =
            (0..queued).map(|_| std::net::TcpStream::connect(addr).expect("connect")).collect();
        let mut counters = Counters::default();
        let serve = |_stream: TcpStream| Ok::<(), Never>(());
        acceptor.accept_all(&mut counters, serve);
        assert_eq!(counters.accepted, ACCEPTS_PER_TURN as u64);
        assert!(acceptor.accept_due());
        assert_eq!(acceptor.timeout(), Some(Duration::ZERO));
        // Bounded: the rest are in the queue already (connect returned).
        acceptor.accept_all(&mut counters, serve);
        assert_eq!(counters.accepted, queued as u64);
        assert!(!acceptor.accept_due());
        assert_eq!(acceptor.timeout(), None);
        drop(clients);
    }
}
