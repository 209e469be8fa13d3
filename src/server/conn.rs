//! One connection's state and its echo step, driven by the worker on every event.
//!
//! Invariants:
//! - An idle connection holds no buffer: bytes are read into the worker's buffer and
//!   written back at once; only what the socket would not take is copied into a
//!   [`Pending`] (allocated on a short write, freed when it drains).
//! - While anything is pending, the connection is not read. So a peer that writes and
//!   never reads fills its own socket buffers and then stalls; echod holds at most one
//!   read buffer's worth (`--buffer`) for it.
//! - Registration is edge-triggered (mio on Linux) for both directions, once, so no
//!   `epoll_ctl` is needed when a write is short; `read_ready` remembers that the
//!   socket may still hold bytes, because no second edge will say so.

use std::io::{self, Read, Write};

use mio::net::TcpStream;

use super::counters::Counters;

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
        Conn { stream, pending: None, read_ready: true, read_closed: false }
    }

    /// Handles one event: write what is pending, then echo what can be read.
    pub(crate) fn on_event(
        &mut self,
        readable: bool,
        read_closed: bool,
        buf: &mut [u8],
        counters: &mut Counters,
    ) -> Next {
        self.read_ready |= readable || read_closed;
        self.read_closed |= read_closed;
        match self.echo(buf, counters) {
            Ok(next) => next,
            Err(_) => Next::Failed,
        }
    }

    /// Flushes `pending`, then reads and writes back until the socket is drained or a
    /// write comes back short.
    fn echo(&mut self, buf: &mut [u8], counters: &mut Counters) -> io::Result<Next> {
        if !self.flush(counters)? {
            return Ok(Next::Keep); // still pending: wait for the writable edge
        }
        while self.read_ready {
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
                return Ok(Next::Keep);
            }
            if n < buf.len() && !self.read_closed {
                self.read_ready = false; // drained: the next byte brings a new edge
            }
        }
        Ok(Next::Keep)
    }

    /// Writes what is pending. `Ok(true)` when nothing is left (the buffer is freed).
    fn flush(&mut self, counters: &mut Counters) -> io::Result<bool> {
        let Some(pending) = &mut self.pending else { return Ok(true) };
        let rest = &pending.bytes[pending.sent as usize..];
        let written = write_some(&self.stream, rest)?;
        counters.bytes_out += written as u64;
        if written < rest.len() {
            pending.sent += written as u32;
            return Ok(false);
        }
        self.pending = None;
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

    /// An idle connection is a few words: the socket, an empty pending slot, flags.
    /// 32 bytes in release; in debug builds mio adds a selector id to its sockets.
    #[test]
    fn idle_connection_is_small() {
        let most = if cfg!(debug_assertions) { 48 } else { 32 };
        let size = std::mem::size_of::<Conn>();
        assert!(size <= most, "{size} bytes");
    }
}
