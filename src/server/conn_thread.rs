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

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::counters::Counter;
use super::limit::Cap;
use super::stats::LiveStats;

/// How often a blocked connection thread looks at the stop flag.
pub(crate) const STOP_CHECK: Duration = Duration::from_millis(100);

/// Serves `stream` until it ends, counting into `live`; gives back its places in
/// `max_conns` and `max_threads` when it returns. Runs on the connection's own thread.
pub(crate) fn run(
    stream: TcpStream,
    live: &LiveStats,
    stop: &AtomicBool,
    buffer: usize,
    max_conns: Cap,
    max_threads: Cap,
) {
    let _running = Running::start(live, max_conns, max_threads);
    if serve(stream, live, stop, buffer).is_err() {
        live.add(Counter::ClosedByError, 1);
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

/// Echoes until EOF, an error, or shutdown.
fn serve(
    mut stream: TcpStream,
    live: &LiveStats,
    stop: &AtomicBool,
    buffer: usize,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(STOP_CHECK))?;
    stream.set_write_timeout(Some(STOP_CHECK))?;
    let mut buf = vec![0u8; buffer];
    while !stop.load(Ordering::Acquire) {
        let n = match stream.read(&mut buf) {
            Ok(0) => return Ok(()), // EOF: everything read was written back
            Ok(n) => n,
            Err(e) if timed_out(&e) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        live.add(Counter::BytesIn, n as u64);
        live.add(Counter::Reads, 1);
        let mut done = 0;
        while done < n {
            match stream.write(&buf[done..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => {
                    done += k;
                    live.add(Counter::BytesOut, k as u64);
                }
                // A peer that does not read: wait, but let shutdown through.
                Err(e) if timed_out(&e) => {
                    if stop.load(Ordering::Acquire) {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
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
            s.spawn(move || run(server_side, live, stop, 4, l, c));
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
