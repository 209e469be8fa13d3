//! One connection's state and its echo step, driven by the worker on every event.
//!
//! Invariants:
//! - An idle connection holds no buffer: bytes are read into the worker's buffer and
//!   written back at once; only what the socket would not take is copied into a
//!   [`Pending`] (allocated on a short write, freed when it drains).
//! - While anything is pending, the connection is not read. So a peer that writes and
//!   never reads fills its own socket buffers and then stalls; echod holds at most one
//!   read buffer's worth (`--buffer`) for it. What is pending counts in the process's
//!   `--max-held-bytes` budget ([`HeldBytes`]) from the short write until it drains or
//!   the connection closes ([`Conn::release`]); while the budget is spent no
//!   connection reads.
//! - `idle` counts the `--idle-timeout` sweeps since a byte last moved either way.
//! - Registration is edge-triggered (mio on Linux) for both directions, once, so no
//!   `epoll_ctl` is needed when a write is short; `read_ready` remembers that the
//!   socket may still hold bytes, because no second edge will say so.
//! - One call reads at most [`READS_PER_TURN`] times, so a peer that writes as fast
//!   as echod echoes cannot keep its worker to itself; a connection left with bytes
//!   to read says so ([`Conn::has_more`]) and the worker comes back to it in its
//!   next turn without waiting for an edge (its ready list; `queued` marks a
//!   connection on it, so it is there once).

use std::io::{self, Read, Write};

use mio::net::TcpStream;

use super::counters::Counters;
use super::held::HeldBytes;
use super::idle::Idle;

/// Reads one call of [`Conn::on_event`] makes at most (each up to `--buffer`), before
/// the worker serves its other connections.
pub(crate) const READS_PER_TURN: usize = 16;

/// What the worker does with a connection after an event.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Keep it registered and wait for the next event.
    Keep,
    /// Close it: the peer finished (EOF, and everything echoed) or failed.
    Close,
    /// Close it, counting an I/O error (a reset, mostly).
    Failed,
}

/// One accepted connection.
#[derive(Debug)]
pub(crate) struct Conn {
    /// The socket: mio's stream is just the file descriptor.
    stream: TcpStream,
    /// Bytes the socket would not take yet; `None` (no allocation) unless a write was
    /// short.
    pending: Option<Pending>,
    /// The socket may hold unread bytes: set by a readable event, cleared when a read
    /// returns WouldBlock or comes back short (the queue was drained; new data makes a
    /// new edge).
    read_ready: bool,
    /// The kernel reported the peer's FIN or an error: read until EOF or the error
    /// instead of trusting a short read, since no further edge will come.
    read_closed: bool,
    /// On the worker's ready list (to be driven again in its next turn).
    pub(crate) queued: bool,
    /// `--idle-timeout` sweeps since a byte last moved.
    pub(crate) idle: Idle,
}

/// What a short write left over, and how much of it has been written since.
/// Invariant: `sent < bytes.len()`; `bytes` is never longer than the worker's read
/// buffer (at most 1 GiB, so `sent` fits a `u32`).
#[derive(Debug)]
struct Pending {
    /// The bytes the socket would not take.
    bytes: Box<[u8]>,
    /// How many of them have been written since.
    sent: u32,
}

impl Conn {
    /// Wraps an accepted, non-blocking stream.
    pub(crate) fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            pending: None,
            read_ready: true,
            read_closed: false,
            queued: false,
            idle: Idle::default(),
        }
    }

    /// Whether the socket may hold bytes this connection would read now: the last
    /// call stopped at [`READS_PER_TURN`] or at a spent `--max-held-bytes` (nothing
    /// pending, no edge to come).
    pub(crate) fn has_more(&self) -> bool {
        self.read_ready && self.pending.is_none()
    }

    /// Handles one event: write what is pending, then echo what can be read (unless
    /// `held`, the `--max-held-bytes` budget, is spent).
    pub(crate) fn on_event(
        &mut self,
        readable: bool,
        read_closed: bool,
        buf: &mut [u8],
        counters: &mut Counters,
        held: &HeldBytes,
    ) -> Next {
        self.read_ready |= readable || read_closed;
        self.read_closed |= read_closed;
        let (bytes_before, out_before) = (counters.bytes_in, counters.bytes_out);
        let next = match self.echo(buf, counters, held) {
            Ok(next) => next,
            Err(_) => Next::Failed,
        };
        if counters.bytes_in != bytes_before || counters.bytes_out != out_before {
            self.idle.active();
        }
        next
    }

    /// Gives back what this connection holds toward its peer (it is closing).
    pub(crate) fn release(&mut self, held: &HeldBytes) {
        if let Some(p) = self.pending.take() {
            held.release(p.bytes.len() as u64);
        }
    }

    /// Flushes `pending`, then reads and writes back until the socket is drained, a
    /// write comes back short, or [`READS_PER_TURN`] reads were made.
    fn echo(
        &mut self,
        buf: &mut [u8],
        counters: &mut Counters,
        held: &HeldBytes,
    ) -> io::Result<Next> {
        if !self.flush(counters, held)? {
            return Ok(Next::Keep); // still pending: wait for the writable edge
        }
        let mut reads = 0;
        while self.read_ready && reads < READS_PER_TURN && !held.spent() {
            reads += 1;
            let n = match (&self.stream).read(buf) {
                // EOF: the peer shut its write side. Everything read was echoed and
                // nothing is pending (we read only then), so close: the kernel sends
                // what is queued, then FIN.
                Ok(0) => return Ok(Next::Close),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.read_ready = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            counters.bytes_in += n as u64;
            counters.reads += 1;
            let written = write_some(&self.stream, &buf[..n])?;
            counters.bytes_out += written as u64;
            if written < n {
                // Short write: keep the rest and stop reading until it drains.
                self.pending = Some(Pending { bytes: buf[written..n].into(), sent: 0 });
                counters.pending_peak = counters.pending_peak.max((n - written) as u64);
                let total = held.hold((n - written) as u64);
                counters.held_peak = counters.held_peak.max(total);
                return Ok(Next::Keep);
            }
            if n < buf.len() && !self.read_closed {
                self.read_ready = false; // drained: the next byte brings a new edge
            }
        }
        Ok(Next::Keep)
    }

    /// Writes what is pending. `Ok(true)` when nothing is left (the buffer is freed).
    fn flush(&mut self, counters: &mut Counters, held: &HeldBytes) -> io::Result<bool> {
        let Some(pending) = &mut self.pending else { return Ok(true) };
        let rest = &pending.bytes[pending.sent as usize..];
        let written = write_some(&self.stream, rest)?;
        counters.bytes_out += written as u64;
        if written < rest.len() {
            pending.sent += written as u32;
            return Ok(false);
        }
        self.release(held);
        Ok(true)
    }
}

/// Writes as much of `bytes` as the socket takes now; WouldBlock is 0 bytes, not an
/// error.
fn write_some(mut stream: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < bytes.len() {
        match stream.write(&bytes[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connected pair: the client side (blocking) and echod's side (non-blocking).
    fn pair() -> (std::net::TcpStream, Conn) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let client =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        server.set_nonblocking(true).expect("non-blocking");
        (client, Conn::new(TcpStream::from_std(server)))
    }

    /// One call reads at most `READS_PER_TURN` buffers, however much the peer sent
    /// (64 KiB here, 64 buffers of 1 KiB), and says it has more; the next calls (no
    /// new edge) read the rest.
    #[test]
    fn one_call_reads_at_most_the_budget() {
        let (mut client, mut conn) = pair();
        let sent = 64 * 1024;
        client.write_all(&vec![7u8; sent]).expect("write");
        let mut buf = [0u8; 1024];
        let mut counters = Counters::default();
        let held = HeldBytes::new(1 << 30);
        // On loopback the bytes are in echod's receive queue once write_all returned.
        assert_eq!(conn.on_event(true, false, &mut buf, &mut counters, &held), Next::Keep);
        assert_eq!(counters.reads, READS_PER_TURN as u64, "{counters:?}");
        assert!(counters.bytes_in < sent as u64 && conn.has_more(), "{counters:?}");
        // Bounded: the rest in a few more calls, none reading more than the budget.
        let mut calls = 1;
        while counters.bytes_in < sent as u64 && calls < 1000 {
            calls += 1;
            let before = counters.reads;
            assert_eq!(conn.on_event(false, false, &mut buf, &mut counters, &held), Next::Keep);
            assert!(counters.reads - before <= READS_PER_TURN as u64, "{counters:?}");
        }
        assert_eq!(counters.bytes_in, sent as u64);
        let mut back = vec![0u8; sent];
        client.read_exact(&mut back).expect("the echo");
        assert!(back.iter().all(|&b| b == 7));
    }

    /// An idle connection is a few words: the socket, an empty pending slot, flags.
    /// 32 bytes in release; in debug builds mio adds a selector id to its sockets.
    #[test]
    fn idle_connection_is_small() {
        let most = if cfg!(debug_assertions) { 48 } else { 32 };
        let size = std::mem::size_of::<Conn>();
        assert!(size <= most, "{size} bytes");
    }
}
