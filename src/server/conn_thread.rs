//! One connection of `--model threads`, on its own blocking thread: read into its
//! own buffer, write everything back, until EOF, an error, or shutdown.
//!
//! Invariants: while the thread runs it holds one `--max-conns` place and one
//! `--max-threads` place and counts one active connection in its worker's
//! [`LiveStats`]; all three are given back when it ends, also by a panic's
//! unwinding ([`Running`]'s `Drop`). A blocking read or write cannot be woken, so
//! each waits at most [`STOP_CHECK`] and the stop flag is looked at in between (a
//! peer that never reads holds its thread in `write` at most that long after
//! shutdown began).
//!
//! `--max-held-bytes`: what a read brought in counts in the process's budget until it
//! is all written back ([`Holding`]); while the budget is spent the thread does not
//! read (it looks again every `worker::HELD_RECHECK`). `--idle-timeout`: a thread
//! whose peer moved no byte for that long closes it (looked at on each timed-out
//! read or write, so within [`STOP_CHECK`] of the timeout).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::counters::Counter;
use super::held::HeldBytes;
use super::limit::Cap;
use super::stats::LiveStats;
use super::worker::HELD_RECHECK;

/// How often a blocked connection thread looks at the stop flag.
pub(crate) const STOP_CHECK: Duration = Duration::from_millis(100);

/// How every connection thread of a process serves: the same for all of them.
#[derive(Clone, Debug)]
pub(crate) struct Service {
    /// Each thread's read buffer (`--buffer`).
    pub(crate) buffer: usize,
    /// `--max-held-bytes`.
    pub(crate) held: HeldBytes,
    /// `--idle-timeout`.
    pub(crate) idle_timeout: Option<Duration>,
}

/// Serves `stream` until it ends, counting into `live`; gives back its places in
/// `max_conns` and `max_threads` when it returns. Runs on the connection's own thread.
pub(crate) fn run(
    stream: TcpStream,
    live: &LiveStats,
    stop: &AtomicBool,
    service: &Service,
    max_conns: Cap,
    max_threads: Cap,
) {
    let _running = Running::start(live, max_conns, max_threads);
    match serve(stream, live, stop, service) {
        Ok(End::Idle) => {
            live.add(Counter::ClosedIdle, 1);
        }
        Ok(End::Done) => {}
        Err(_) => {
            live.add(Counter::ClosedByError, 1);
        }
    }
}

/// Why a connection thread ended without an error.
enum End {
    /// EOF, or shutdown.
    Done,
    /// `--idle-timeout`.
    Idle,
}

/// Bytes read and not yet written back, counted in `--max-held-bytes` until dropped.
struct Holding<'a> {
    /// The budget.
    held: &'a HeldBytes,
    /// How many.
    bytes: u64,
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        self.held.release(self.bytes);
    }
}

/// Waits while `--max-held-bytes` is spent (counting the pause once), at most until
/// shutdown.
fn wait_for_budget(held: &HeldBytes, live: &LiveStats, stop: &AtomicBool) {
    if !held.spent() {
        return;
    }
    live.add(Counter::HeldPauses, 1);
    while held.spent() && !stop.load(Ordering::Acquire) {
        std::thread::sleep(HELD_RECHECK);
    }
}

/// A running connection thread's places and counts, given back when it ends (also
/// by a panic's unwinding).
struct Running<'a> {
    /// The worker's counters.
    live: &'a LiveStats,
    /// `--max-conns`'s place.
    max_conns: Cap,
    /// `--max-threads`'s place.
    max_threads: Cap,
}

impl<'a> Running<'a> {
    fn start(live: &'a LiveStats, max_conns: Cap, max_threads: Cap) -> Running<'a> {
        let active = live.add(Counter::Active, 1);
        live.raise(Counter::ActivePeak, active);
        Running { live, max_conns, max_threads }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.live.sub(Counter::Active, 1);
        self.max_conns.release();
        self.max_threads.release();
    }
}

/// Whether an error of a blocking call with a timeout only means "nothing yet".
fn timed_out(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Echoes until EOF, an error, shutdown, or `--idle-timeout`.
fn serve(
    mut stream: TcpStream,
    live: &LiveStats,
    stop: &AtomicBool,
    service: &Service,
) -> io::Result<End> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(STOP_CHECK))?;
    stream.set_write_timeout(Some(STOP_CHECK))?;
    let mut buf = vec![0u8; service.buffer];
    let mut last_byte = Instant::now();
    let idle = |last: Instant| service.idle_timeout.is_some_and(|t| last.elapsed() >= t);
    while !stop.load(Ordering::Acquire) {
        wait_for_budget(&service.held, live, stop);
        let n = match stream.read(&mut buf) {
            Ok(0) => return Ok(End::Done), // EOF: everything read was written back
            Ok(n) => n,
            Err(e) if timed_out(&e) && idle(last_byte) => return Ok(End::Idle),
            Err(e) if timed_out(&e) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        last_byte = Instant::now();
        live.add(Counter::BytesIn, n as u64);
        live.add(Counter::Reads, 1);
        let total = service.held.hold(n as u64);
        live.raise(Counter::HeldPeak, total);
        let _holding = Holding { held: &service.held, bytes: n as u64 };
        let mut done = 0;
        while done < n {
            match stream.write(&buf[done..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => {
                    done += k;
                    last_byte = Instant::now();
                    live.add(Counter::BytesOut, k as u64);
                }
                // A peer that does not read: wait, but let shutdown and the idle
                // timeout through.
                Err(e) if timed_out(&e) => {
                    if stop.load(Ordering::Acquire) {
                        return Ok(End::Done);
                    }
                    if idle(last_byte) {
                        return Ok(End::Idle);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(End::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection thread echoes byte-exact until EOF, counts what it did, and
    /// gives back both places and its active count when it ends.
    #[test]
    fn echoes_counts_and_gives_back() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let mut client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server_side, _) = listener.accept().expect("accept");
        let (limit, cap) = (Cap::new(Some(1)), Cap::new(Some(1)));
        assert!(limit.admit() && cap.admit());
        let live = LiveStats::new(0);
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let (l, c, live, stop) = (limit.clone(), cap.clone(), &live, &stop);
            let service = Service { buffer: 4, held: HeldBytes::new(1 << 20), idle_timeout: None };
            s.spawn(move || run(server_side, live, stop, &service, l, c));
            client.write_all(b"hello, world").expect("write");
            client.shutdown(std::net::Shutdown::Write).expect("shutdown");
            let mut back = Vec::new();
            client.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
            client.read_to_end(&mut back).expect("read to EOF");
            assert_eq!(back, b"hello, world");
        });
        let c = live.snapshot().counters;
        assert_eq!((c.bytes_in, c.bytes_out, c.active, c.active_peak), (12, 12, 0, 1));
        assert!(c.reads >= 3, "a 4-byte buffer reads 12 bytes in 3 reads at least");
        assert_eq!((limit.open(), cap.open()), (0, 0), "both places given back");
    }
}
