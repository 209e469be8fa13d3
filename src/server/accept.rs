//! Accepting on one worker's listener: drain the accept queue until WouldBlock, apply
//! `--max-conns` (counted in `limit`), and back off on EMFILE/ENFILE instead of
//! spinning.
//!
//! Why a back-off: the listener is edge-triggered and the queued connection stays in
//! the backlog when accept fails for lack of descriptors, so retrying at once spins at
//! 100% CPU. The acceptor stops accepting for [`BACKOFF`] (the worker's poll timeout
//! wakes it) and then tries again; nothing else is needed to resume, since descriptors
//! free up as connections close. The first EMFILE in the process prints a hint.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};

use super::counters::Counters;
use super::limit::ConnLimit;

/// How long accepting pauses after EMFILE/ENFILE.
pub(crate) const BACKOFF: Duration = Duration::from_millis(50);

/// Set once the EMFILE hint was printed, so a storm of failures prints one line.
static HINT_PRINTED: AtomicBool = AtomicBool::new(false);

/// One bit per kind of [`NoRoom`] whose hint was printed.
static NO_ROOM_PRINTED: AtomicU8 = AtomicU8::new(0);

/// Why an accepted connection could not be served: it is closed at once and counted
/// in `rejected_resources`; the first of each kind prints a hint.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NoRoom {
    /// `--model threads` runs `--max-threads` connection threads already.
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
    /// The event loop refused the connection (epoll's watch limit, or memory).
    #[error(
        "could not add a connection to the event loop ({0}): closing such connections at \
         once (counted in rejected_resources); raise fs.epoll.max_user_watches, or cap \
         connections with --max-conns"
    )]
    Register(io::Error),
}

impl NoRoom {
    fn bit(&self) -> u8 {
        match self {
            NoRoom::MaxThreads(_) => 1,
            NoRoom::Spawn(_) => 2,
            NoRoom::Register(_) => 4,
        }
    }

    /// Prints this kind's hint, the first time only (per process).
    fn hint_once(&self) {
        if NO_ROOM_PRINTED.fetch_or(self.bit(), Ordering::Relaxed) & self.bit() == 0 {
            eprintln!("echod: {self}");
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
    limit: ConnLimit,
}

impl Acceptor {
    /// An acceptor for `listener`.
    pub(crate) fn new(listener: TcpListener, limit: ConnLimit) -> Acceptor {
        Acceptor { listener, paused_until: None, limit }
    }

    /// The limit, to release a place when a connection closes.
    pub(crate) fn limit(&self) -> &ConnLimit {
        &self.limit
    }

    /// How long the worker's poll may sleep: until the pause ends, or forever.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.paused_until.map(|t| t.saturating_duration_since(Instant::now()))
    }

    /// True when a pause is over and the queue must be retried (no edge will say so).
    pub(crate) fn pause_expired(&self) -> bool {
        self.paused_until.is_some_and(|t| Instant::now() >= t)
    }

    /// Accepts until the queue is empty, calling `serve` with each admitted
    /// connection; refused ones (`--max-conns`, or [`NoRoom`] from `serve`) are closed
    /// at once and counted. `serve` owns the connection's `--max-conns` place once it
    /// returns `Ok`; on `Err` this gives it back.
    pub(crate) fn accept_all(
        &mut self,
        stats: &mut Counters,
        mut serve: impl FnMut(TcpStream, SocketAddr) -> Result<(), NoRoom>,
    ) {
        if let Some(t) = self.paused_until {
            if Instant::now() < t {
                return;
            }
            self.paused_until = None;
        }
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    if !self.limit.admit() {
                        stats.rejected_max_conns += 1;
                        drop(stream); // accepted and closed at once
                        continue;
                    }
                    // Echo replies are small; Nagle would hold them for the peer's ACK.
                    let _ = stream.set_nodelay(true);
                    match serve(stream, peer) {
                        Ok(()) => stats.accepted += 1,
                        Err(no_room) => {
                            stats.rejected_resources += 1;
                            self.limit.release();
                            no_room.hint_once();
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // A connection reset while queued, or a signal: try the next one.
                Err(e) if is_transient(&e) => continue,
                Err(e) => {
                    stats.accept_errors += 1;
                    if is_out_of_descriptors(&e) {
                        self.paused_until = Some(Instant::now() + BACKOFF);
                        print_hint_once(&e);
                    } else {
                        eprintln!("echod: accept failed: {e}; retrying in {BACKOFF:?}");
                        self.paused_until = Some(Instant::now() + BACKOFF);
                    }
                    return;
                }
            }
        }
    }
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
        eprintln!(
            "echod: accept: {e}: out of file descriptors; pausing accepts for {BACKOFF:?} \
             at a time (counted in accept_errors). Raise the hard RLIMIT_NOFILE, cap \
             connections with --max-conns, or spread them with --processes"
        );
    }
}
