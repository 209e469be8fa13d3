//! One client connection's state: where its outgoing stream of messages stands
//! (`send_seq`, `send_off`), where the checked echo stands (`recv_seq`, `recv_off`),
//! and the socket. Messages are produced and checked from (id, seq, offset) by
//! [`Pattern`], so a connection holds no buffer; partial writes and reads are just
//! offsets. Invariant: `recv_seq * size + recv_off <= send_seq * size + send_off`
//! (the echo never runs ahead of what was sent; bytes that would are a mismatch).

use std::io::{self, IoSlice, Read, Write};

use mio::net::TcpStream;

use super::payload::{header, Pattern, HEADER_LEN};

/// Messages written by one `writev` at most (two slices each).
const WRITE_BATCH: usize = 8;

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// connect() issued, not yet established.
    Connecting,
    /// Established; carries traffic.
    Up,
    /// Failed, closed by the peer, or closed by us; the socket is gone.
    Dead,
}

/// One connection of a worker thread.
#[derive(Debug)]
pub struct Conn {
    /// The socket; `None` once dead.
    pub stream: Option<TcpStream>,
    /// Connection id carried in every message header (unique within the run).
    pub id: u32,
    /// Life-cycle state.
    pub state: State,
    /// Run-clock nanoseconds when connect() was issued.
    pub connect_started_ns: u64,
    /// Open loop: this connection's slot in the thread's schedule.
    pub slot: u32,
    /// Messages completely written.
    pub send_seq: u64,
    /// Bytes of message `send_seq` already written.
    pub send_off: u32,
    /// Messages completely echoed.
    pub recv_seq: u64,
    /// Bytes of message `recv_seq` already echoed and checked.
    pub recv_off: u32,
    /// Whether message `recv_seq` has had a wrong byte so far.
    pub recv_bad: bool,
}

/// What reading a chunk found beyond complete messages.
#[derive(Debug, PartialEq, Eq)]
pub enum Excess {
    /// Every byte belonged to a message that was sent.
    None,
    /// The peer sent bytes that were never sent to it.
    Unsent,
}

impl Conn {
    /// A connection in `Connecting` state.
    pub fn connecting(stream: TcpStream, id: u32, now_ns: u64) -> Self {
        Self::with(Some(stream), id, State::Connecting, now_ns)
    }

    /// A connection that never got a socket (its connect failed at once).
    pub fn dead(id: u32) -> Self {
        Self::with(None, id, State::Dead, 0)
    }

    fn with(stream: Option<TcpStream>, id: u32, state: State, now_ns: u64) -> Self {
        Self {
            stream,
            id,
            state,
            connect_started_ns: now_ns,
            slot: 0,
            send_seq: 0,
            send_off: 0,
            recv_seq: 0,
            recv_off: 0,
            recv_bad: false,
        }
    }

    /// Closes the socket (which also removes it from the poll) and marks it dead.
    pub fn close(&mut self) {
        self.stream = None;
        self.state = State::Dead;
    }

    /// Whether the server has answered at least once (a byte of echo came back).
    #[inline]
    pub fn answered(&self) -> bool {
        self.recv_seq > 0 || self.recv_off > 0
    }

    /// Messages started and not yet completely echoed.
    #[inline]
    pub fn in_flight(&self) -> u64 {
        self.send_seq + u64::from(self.send_off > 0) - self.recv_seq
    }

    /// Writes messages until `limit` messages have been written in all, the socket
    /// is full, or it fails; `scratch` is the thread's buffer for small messages. `on_start(seq)` is called for each message whose first
    /// byte goes out in this call. A short write means the send buffer is full
    /// (edge-triggered: a WRITABLE event follows), so it ends the call without the
    /// extra syscall that would return WouldBlock.
    pub fn send(
        &mut self,
        pattern: &Pattern,
        scratch: &mut [u8],
        limit: u64,
        mut on_start: impl FnMut(u64),
    ) -> io::Result<()> {
        let Some(stream) = self.stream.as_mut() else { return Ok(()) };
        let size = pattern.size();
        while self.send_seq < limit {
            let count = ((limit - self.send_seq) as usize).min(WRITE_BATCH);
            let first_left = size - self.send_off as usize;
            // Small messages are copied into the thread's scratch buffer and go out
            // with one send(); large ones go straight from the pattern with writev.
            let result = if first_left <= scratch.len() {
                let fits = 1 + ((scratch.len() - first_left) / size).min(count - 1);
                let mut at = 0;
                for i in 0..fits {
                    let seq = self.send_seq + i as u64;
                    let off = if i == 0 { self.send_off as usize } else { 0 };
                    let h = header(self.id, seq, size);
                    if off < HEADER_LEN {
                        scratch[at..at + HEADER_LEN - off].copy_from_slice(&h[off..]);
                        at += HEADER_LEN - off;
                    }
                    let body = &pattern.body(self.id, seq)[off.saturating_sub(HEADER_LEN)..];
                    scratch[at..at + body.len()].copy_from_slice(body);
                    at += body.len();
                }
                stream.write(&scratch[..at]).map(|n| (n, at))
            } else {
                let mut headers = [[0u8; HEADER_LEN]; WRITE_BATCH];
                for (i, h) in headers.iter_mut().enumerate().take(count) {
                    *h = header(self.id, self.send_seq + i as u64, size);
                }
                let mut iov = [IoSlice::new(&[]); 2 * WRITE_BATCH];
                let mut slices = 0;
                let mut want = 0usize;
                for (i, h) in headers.iter().enumerate().take(count) {
                    let seq = self.send_seq + i as u64;
                    let off = if i == 0 { self.send_off as usize } else { 0 };
                    let body = pattern.body(self.id, seq);
                    if off < HEADER_LEN {
                        iov[slices] = IoSlice::new(&h[off..]);
                        iov[slices + 1] = IoSlice::new(body);
                        slices += 2;
                    } else {
                        iov[slices] = IoSlice::new(&body[off - HEADER_LEN..]);
                        slices += 1;
                    }
                    want += size - off;
                }
                stream.write_vectored(&iov[..slices]).map(|n| (n, want))
            };
            let (written, want) = match result {
                Ok((0, _)) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            // Advance over the messages the write covered, announcing new starts.
            let mut left = written;
            while left > 0 {
                if self.send_off == 0 {
                    on_start(self.send_seq);
                }
                let rest = size - self.send_off as usize;
                if left >= rest {
                    left -= rest;
                    self.send_seq += 1;
                    self.send_off = 0;
                } else {
                    self.send_off += left as u32;
                    left = 0;
                }
            }
            if written < want {
                return Ok(()); // short write: the send buffer is full
            }
        }
        Ok(())
    }

    /// Reads once into `buf`. `Ok(0)` is the peer's FIN.
    #[inline]
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.stream.as_mut() {
            Some(s) => s.read(buf),
            None => Ok(0),
        }
    }

    /// Checks echoed bytes against what was sent, calling `on_message(seq, bad)`
    /// for every message the chunk completes (`bad`: a byte differed). A wrong
    /// byte's first occurrence is reported through `on_first_bad(seq, offset)`.
    pub fn consume(
        &mut self,
        mut data: &[u8],
        pattern: &Pattern,
        mut on_message: impl FnMut(u64, bool),
        mut on_first_bad: impl FnMut(u64, usize),
    ) -> Excess {
        let size = pattern.size();
        while !data.is_empty() {
            let sent_end = self.send_seq * size as u64 + u64::from(self.send_off);
            let recv_at = self.recv_seq * size as u64 + u64::from(self.recv_off);
            if recv_at >= sent_end {
                return Excess::Unsent;
            }
            let room = (size - self.recv_off as usize).min((sent_end - recv_at) as usize);
            let take = room.min(data.len());
            let (chunk, rest) = data.split_at(take);
            if let Some(at) = pattern.check(self.id, self.recv_seq, self.recv_off as usize, chunk) {
                if !self.recv_bad {
                    on_first_bad(self.recv_seq, at);
                }
                self.recv_bad = true;
            }
            self.recv_off += take as u32;
            if self.recv_off as usize == size {
                on_message(self.recv_seq, self.recv_bad);
                self.recv_seq += 1;
                self.recv_off = 0;
                self.recv_bad = false;
            }
            data = rest;
        }
        Excess::None
    }
}
