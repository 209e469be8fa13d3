//! One client connection's state: its socket inside its life-cycle [`State`] (so a
//! dead connection holds none and a live one always has one), where its outgoing
//! stream of messages stands (`send_seq`, `send_off`), and where the checked echo
//! stands (`recv_seq`, `recv_off`). Messages are produced and checked from (id,
//! seq, offset) by [`Pattern`], so a connection holds no buffer; partial writes and
//! reads are just offsets. Invariant: `recv_seq * size + recv_off <= send_seq *
//! size + send_off` (the echo never runs ahead of what was sent; bytes that would
//! are a mismatch). A connection is 48 bytes in a release build (pinned by a
//! test): the connect start time and the schedule slot live in the states that use
//! them.

use std::io::{self, IoSlice, Read, Write};

use mio::net::TcpStream;

use super::payload::{header, Pattern, HEADER_LEN};

/// Messages written by one `writev` at most (two slices each).
const WRITE_BATCH: usize = 8;

/// Where a connection is in its life, with its socket while it has one.
#[derive(Debug)]
pub enum State {
    /// connect() issued, not yet established.
    Connecting {
        /// The socket, registered with the thread's poll.
        stream: TcpStream,
        /// Run-clock nanoseconds when connect() was issued.
        started_ns: u64,
    },
    /// Established; carries traffic.
    Up {
        /// The socket, registered with the thread's poll.
        stream: TcpStream,
        /// Open loop: this connection's slot in the thread's schedule.
        slot: u32,
    },
    /// Failed, closed by the peer, or closed by us; the socket is gone (closing it
    /// also removed it from the poll).
    Dead,
}

/// One connection of a worker thread.
#[derive(Debug)]
pub struct Conn {
    /// Life-cycle state and the socket.
    pub state: State,
    /// Connection id carried in every message header (unique within the run).
    pub id: u32,
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
    /// A connection in `Connecting` state, connect() issued at `now_ns`.
    pub fn connecting(stream: TcpStream, id: u32, now_ns: u64) -> Self {
        Self::with(State::Connecting { stream, started_ns: now_ns }, id)
    }

    /// A connection that never got a socket (its connect failed at once).
    pub fn dead(id: u32) -> Self {
        Self::with(State::Dead, id)
    }

    fn with(state: State, id: u32) -> Self {
        Self { state, id, send_seq: 0, send_off: 0, recv_seq: 0, recv_off: 0, recv_bad: false }
    }

    /// Whether it is established and carries traffic.
    #[inline]
    pub fn is_up(&self) -> bool {
        matches!(self.state, State::Up { .. })
    }

    /// A connecting connection becomes `Up` (slot 0 until [`Conn::set_slot`]);
    /// in any other state nothing changes.
    pub fn establish(&mut self) {
        if let State::Connecting { .. } = self.state {
            if let State::Connecting { stream, .. } =
                std::mem::replace(&mut self.state, State::Dead)
            {
                self.state = State::Up { stream, slot: 0 };
            }
        }
    }

    /// Open loop: gives an `Up` connection its slot in the thread's schedule.
    pub fn set_slot(&mut self, to: u32) {
        if let State::Up { slot, .. } = &mut self.state {
            *slot = to;
        }
    }

    /// Its slot in the thread's schedule (0 unless `Up`).
    #[inline]
    pub fn slot(&self) -> u32 {
        match self.state {
            State::Up { slot, .. } => slot,
            _ => 0,
        }
    }

    /// Makes its close a reset (SO_LINGER 0: no TIME_WAIT), if it has a socket.
    pub fn reset_on_close(&self) {
        if let State::Up { stream, .. } | State::Connecting { stream, .. } = &self.state {
            let _ = socket2::SockRef::from(stream).set_linger(Some(std::time::Duration::ZERO));
        }
    }

    /// Closes the socket (which also removes it from the poll) and marks it dead.
    pub fn close(&mut self) {
        self.state = State::Dead;
    }

    /// Whether the server has answered at least once (a byte of echo came back).
    #[inline]
    pub fn answered(&self) -> bool {
        self.recv_seq > 0 || self.recv_off > 0
    }

    /// Messages started (their first byte written), in sequence order.
    #[inline]
    pub fn started(&self) -> u64 {
        self.send_seq + u64::from(self.send_off > 0)
    }

    /// Messages started and not yet completely echoed.
    #[inline]
    pub fn in_flight(&self) -> u64 {
        self.started() - self.recv_seq
    }

    /// The socket of an `Up` connection (`NotConnected` otherwise).
    #[inline]
    fn up_stream(&mut self) -> io::Result<&mut TcpStream> {
        match &mut self.state {
            State::Up { stream, .. } => Ok(stream),
            _ => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Writes messages until `limit` messages have been written in all, the socket
    /// is full, or it fails; `scratch` is the thread's buffer for small messages.
    /// `on_start(seq)` is called for each message whose first byte goes out in this
    /// call. A short write means the send buffer is full (edge-triggered: a
    /// WRITABLE event follows), so it ends the call without the extra syscall that
    /// would return WouldBlock. Does nothing unless `Up`.
    pub fn send(
        &mut self,
        pattern: &Pattern,
        scratch: &mut [u8],
        limit: u64,
        mut on_start: impl FnMut(u64),
    ) -> io::Result<()> {
        if !self.is_up() {
            return Ok(());
        }
        let size = pattern.size();
        while self.send_seq < limit {
            let count = ((limit - self.send_seq) as usize).min(WRITE_BATCH);
            // Small messages are copied into the thread's scratch buffer and go out
            // with one send(); large ones go straight from the pattern with writev.
            let result = if size - self.send_off as usize <= scratch.len() {
                let len = self.assemble(pattern, scratch, count);
                self.up_stream().and_then(|s| s.write(&scratch[..len])).map(|n| (n, len))
            } else {
                self.write_from_pattern(pattern, count)
            };
            let (written, want) = match result {
                Ok((0, _)) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.advance(written, size, &mut on_start);
            if written < want {
                return Ok(()); // short write: the send buffer is full
            }
        }
        Ok(())
    }

    /// Copies the rest of message `send_seq` and as many of the next (at most
    /// `count` in all) as fit into `scratch`; returns the bytes assembled.
    fn assemble(&self, pattern: &Pattern, scratch: &mut [u8], count: usize) -> usize {
        let size = pattern.size();
        let first_left = size - self.send_off as usize;
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
        at
    }

    /// Writes the rest of message `send_seq` and the next (at most `count` in all)
    /// with one writev of headers and pattern slices; (bytes written, bytes offered).
    fn write_from_pattern(
        &mut self,
        pattern: &Pattern,
        count: usize,
    ) -> io::Result<(usize, usize)> {
        let size = pattern.size();
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
        self.up_stream()?.write_vectored(&iov[..slices]).map(|n| (n, want))
    }

    /// Advances over the `written` bytes, announcing each message started.
    fn advance(&mut self, written: usize, size: usize, on_start: &mut impl FnMut(u64)) {
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
    }

    /// Reads once into `buf`. `Ok(0)` is the peer's FIN.
    #[inline]
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.state {
            State::Up { stream, .. } => stream.read(buf),
            _ => Ok(0),
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

/// A connection `Up` on a real loopback socket (to `listener`), for the tests of
/// the modules that handle connections.
#[cfg(test)]
pub fn up_for_test(id: u32, listener: &std::net::TcpListener) -> Conn {
    let std = std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    std.set_nonblocking(true).expect("nonblocking");
    let mut c = Conn::connecting(TcpStream::from_std(std), id, 0);
    c.establish();
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection stays small (no buffer, the socket inside its state), and the
    /// socket goes with the state: connecting, up with a slot, dead without one.
    #[test]
    fn small_and_the_socket_lives_in_the_state() {
        // mio adds a selector id to every socket in debug builds (16 bytes, not 4).
        let most = if cfg!(debug_assertions) { 64 } else { 48 };
        assert!(std::mem::size_of::<Conn>() <= most, "{}", std::mem::size_of::<Conn>());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut c = up_for_test(7, &listener);
        assert!(c.is_up() && c.slot() == 0);
        c.set_slot(3);
        assert_eq!(c.slot(), 3);
        c.close();
        assert!(matches!(c.state, State::Dead) && !c.is_up());
        c.establish();
        assert!(matches!(c.state, State::Dead), "a dead connection stays dead");
        let mut buf = [0u8; 4];
        assert_eq!(c.read(&mut buf).expect("read"), 0);
    }
}
