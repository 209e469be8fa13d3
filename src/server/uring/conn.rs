//! One `--model uring` connection and its echo step, driven by its completions:
//! what it received is sent back from the very buffer the kernel filled, one send
//! at a time, in order.
//!
//! Invariants:
//! - An idle connection holds no buffer: its receive is armed in the kernel, which
//!   takes a provided buffer only when bytes arrive; a [`Conn`] is its socket, two
//!   chain ends and a few flags (a test pins its size).
//! - At most one send is in flight, for the front of the chain; a completion short
//!   of the whole front sends the rest (the bytes go out in order, exactly once).
//! - A receive is (re)armed only while nothing is held toward the peer. A multishot
//!   receive is armed with a limit (`--buffer` minus one buffer, plus one byte): the
//!   kernel ends it once that many bytes came in, so at most `--buffer` bytes are
//!   ever held for a peer that does not read; without the limit, one receive per
//!   request holds at most one buffer.
//! - Buffers are bounded too, not only bytes: every receive completion takes a whole
//!   provided buffer however few bytes it brings, so a peer sending one-byte
//!   segments and never reading could pin a buffer per byte and empty the worker's
//!   pool. Once a connection holds [`Bounds::cap`] buffers its multishot receive is
//!   cancelled (kernel-independent, nothing per event beyond a compare); it is armed
//!   again once everything held went back to the peer. What the kernel posted
//!   before the cancellation took effect (the completions of the same loop turn) is
//!   still taken: the cap is passed by at most one turn's arrivals, and the byte
//!   limit stays the kernel's hard bound.
//! - `--max-held-bytes`: while the worker's budget is spent ([`Bounds::paused`]),
//!   no receive is armed (the worker cancels the armed ones).
//! - `--idle-timeout`: a connection that neither received nor sent a byte for more
//!   than `budget::IDLE_SWEEPS` sweeps ends ([`End::Idle`]): its receive and its
//!   send, if any, are cancelled, and it closes once their completions are back.
//! - The socket is closed only when no request of this connection is in flight (no
//!   send, no receive: a receive still armed is cancelled first), so no completion
//!   ever names a connection that is gone.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use super::chain::{Chain, Chains};
use super::ring::{Buf, Completion, Live, Op};
use crate::server::counters::Counters;

/// How much one connection may make the worker hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// A multishot receive's byte limit; `None`: one receive per request.
    pub(crate) limit: Option<u32>,
    /// The most buffers held before its receive is cancelled (at least 1).
    pub(crate) cap: u8,
    /// `--max-held-bytes` is spent: no receive is armed.
    pub(crate) paused: bool,
}

/// What a connection's completions need: the ring, the chains, the counters, and
/// its bounds.
pub(crate) struct Io<'a, 'r> {
    /// The worker's ring.
    pub(crate) live: &'a mut Live<'r>,
    /// Every connection's held buffers.
    pub(crate) chains: &'a mut Chains,
    /// The worker's counters.
    pub(crate) counters: &'a mut Counters,
    /// The receive limit and the buffer cap.
    pub(crate) bounds: Bounds,
    /// Buffers given back this turn (starved receives may be armed again).
    pub(crate) recycled: u32,
}

impl Io<'_, '_> {
    /// Gives `buf` back to the kernel.
    pub(crate) fn recycle(&mut self, buf: Buf) {
        self.live.recycle(buf);
        self.recycled += 1;
    }
}

/// Where a connection's receive stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recv {
    /// A receive request is in the kernel.
    Armed,
    /// A receive request is in the kernel and so is its cancellation (at the buffer
    /// cap, or ending): its last completion makes it `Off`, or `Done` when ending.
    Cancelling,
    /// Not armed: armed again once nothing is held.
    Off,
    /// Ended because every buffer was taken (ENOBUFS): armed again when buffers come
    /// back.
    Starved,
    /// Ended for good: EOF, an error, or cancelled.
    Done,
}

/// Why a connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The peer shut its write side: everything received is sent back, then close.
    Eof,
    /// An error (a reset, mostly): close as soon as nothing is in flight.
    Failed,
    /// `--idle-timeout`: nothing received or sent for that long; close as soon as
    /// nothing is in flight (what is in flight is cancelled).
    Idle,
}

/// What the worker does with a connection after a completion.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Keep it.
    Keep,
    /// Close it now: nothing of it is in flight.
    Close(End),
}

/// One accepted connection.
#[derive(Debug)]
pub(crate) struct Conn {
    /// The socket.
    fd: OwnedFd,
    /// The bytes received and not yet sent back, in order.
    chain: Chain,
    /// Bytes of the chain's buffers not yet fully sent (at most `--buffer`).
    held: u32,
    /// Buffers in the chain (about [`Bounds::cap`] at most).
    bufs: u8,
    /// Its receive.
    recv: Recv,
    /// A send of the chain's front is in flight.
    sending: bool,
    /// It is ending, and why.
    end: Option<End>,
    /// Idle sweeps in a row that found it neither receiving nor sending.
    idle: u8,
}

impl Conn {
    /// Serves `fd` as connection `key`: arms its first receive.
    pub(crate) fn open(fd: OwnedFd, key: u32, io: &mut Io<'_, '_>) -> io::Result<Conn> {
        let mut conn = Conn {
            fd,
            chain: Chain::EMPTY,
            held: 0,
            bufs: 0,
            recv: Recv::Off,
            sending: false,
            end: None,
            idle: 0,
        };
        conn.arm(key, io)?;
        Ok(conn)
    }

    /// Where its receive stands.
    pub(crate) fn recv(&self) -> Recv {
        self.recv
    }

    /// Arms the receive if it is off and nothing is held.
    pub(crate) fn arm(&mut self, key: u32, io: &mut Io<'_, '_>) -> io::Result<()> {
        let off = matches!(self.recv, Recv::Off | Recv::Starved);
        if off && self.end.is_none() && self.held == 0 && !io.bounds.paused {
            io.live.recv(key, self.fd.as_raw_fd(), io.bounds.limit)?;
            self.recv = Recv::Armed;
        }
        Ok(())
    }

    /// A receive completion: hold the bytes and send them back; note how the
    /// receive ended, if it did.
    pub(crate) fn on_recv(
        &mut self,
        key: u32,
        c: Completion,
        io: &mut Io<'_, '_>,
    ) -> io::Result<Next> {
        if let Some(buf) = c.buf {
            io.counters.bytes_in += u64::from(buf.len());
            io.counters.reads += 1;
            self.idle = 0;
            if self.failed() {
                io.recycle(buf); // nobody to send it to
            } else {
                self.held += buf.len();
                self.bufs = self.bufs.saturating_add(1);
                io.counters.pending_peak = io.counters.pending_peak.max(u64::from(self.held));
                io.chains.push(&mut self.chain, buf);
                self.send_front(key, io)?;
                if c.more && self.bufs >= io.bounds.cap && self.recv == Recv::Armed {
                    io.live.cancel(Op::Recv(key))?; // at the cap: armed again once sent
                    self.recv = Recv::Cancelling;
                }
            }
        }
        if !c.more {
            let cancelled = self.recv == Recv::Cancelling;
            self.recv = match c.result {
                n if n > 0 => Recv::Off,
                0 => {
                    self.end.get_or_insert(End::Eof);
                    Recv::Done
                }
                e if e == -libc::ENOBUFS => Recv::Starved,
                e if e == -libc::ECANCELED && cancelled && self.end.is_some() => Recv::Done,
                e if e == -libc::ECANCELED && cancelled => Recv::Off,
                _ => {
                    self.fail();
                    Recv::Done
                }
            };
            self.arm(key, io)?;
        }
        self.next(key, io)
    }

    /// A send completion: count what went out, send the rest or the next buffer,
    /// and once nothing is held, receive again.
    pub(crate) fn on_send(
        &mut self,
        key: u32,
        result: i32,
        io: &mut Io<'_, '_>,
    ) -> io::Result<Next> {
        self.sending = false;
        match u32::try_from(result) {
            Ok(n) if n > 0 => {
                io.counters.bytes_out += u64::from(n);
                self.idle = 0;
                if let Some(buf) = io.chains.advance(&mut self.chain, n) {
                    self.held -= buf.len();
                    self.bufs -= 1;
                    io.recycle(buf);
                }
                self.send_front(key, io)?;
                self.arm(key, io)?;
            }
            // An error, or nothing sent of a non-empty buffer (the peer is gone), or
            // cancelled (idle).
            _ => self.fail(),
        }
        self.next(key, io)
    }

    /// Sends the front of the chain unless a send is in flight or the connection
    /// failed.
    fn send_front(&mut self, key: u32, io: &mut Io<'_, '_>) -> io::Result<()> {
        if self.sending || self.failed() {
            return Ok(());
        }
        if let Some((buf, sent)) = io.chains.front(&self.chain) {
            io.live.send(key, self.fd.as_raw_fd(), buf, sent)?;
            self.sending = true;
        }
        Ok(())
    }

    /// Ends it as failed, unless it is ending as idle (the error is the
    /// cancellation).
    fn fail(&mut self) {
        if self.end != Some(End::Idle) {
            self.end = Some(End::Failed);
        }
    }

    /// Whether it ends without sending anything more.
    fn failed(&self) -> bool {
        matches!(self.end, Some(End::Failed | End::Idle))
    }

    /// `--max-held-bytes` spent: cancels its receive if armed (not armed again
    /// while the budget stays spent).
    pub(crate) fn pause(&mut self, key: u32, io: &mut Io<'_, '_>) -> io::Result<()> {
        if self.recv == Recv::Armed {
            io.live.cancel(Op::Recv(key))?;
            self.recv = Recv::Cancelling;
        }
        Ok(())
    }

    /// An idle sweep: one more without a byte; past `sweeps` of them it ends as
    /// idle, cancelling what it has in flight.
    pub(crate) fn tick(&mut self, key: u32, sweeps: u8, io: &mut Io<'_, '_>) -> io::Result<Next> {
        self.idle = self.idle.saturating_add(1);
        if self.idle <= sweeps || self.failed() {
            return Ok(Next::Keep);
        }
        self.end = Some(End::Idle);
        if self.sending {
            io.live.cancel(Op::Send(key))?; // its completion comes back cancelled
        }
        self.next(key, io)
    }

    /// Whether it can close now; cancels a receive still armed when it must end.
    fn next(&mut self, key: u32, io: &mut Io<'_, '_>) -> io::Result<Next> {
        let Some(end) = self.end else { return Ok(Next::Keep) };
        if self.sending || (end == End::Eof && !self.chain.is_empty()) {
            return Ok(Next::Keep); // the send's completion comes back here
        }
        match self.recv {
            Recv::Armed => {
                io.live.cancel(Op::Recv(key))?;
                self.recv = Recv::Cancelling;
                return Ok(Next::Keep); // the receive's last completion comes back here
            }
            Recv::Cancelling => return Ok(Next::Keep),
            Recv::Off | Recv::Starved | Recv::Done => {}
        }
        Ok(Next::Close(end))
    }

    /// Closes it (nothing of it is in flight): its buffers go back to the ring.
    pub(crate) fn close(mut self, io: &mut Io<'_, '_>) {
        debug_assert!(!self.sending && !matches!(self.recv, Recv::Armed | Recv::Cancelling));
        while let Some(buf) = io.chains.pop(&mut self.chain) {
            io.recycle(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An idle connection is its socket, its chain's two ends, the bytes and
    /// buffers held, three small flags and its idle count: 20 bytes, far within the
    /// 256 bytes an idle connection may cost (it holds no buffer).
    #[test]
    fn idle_connection_is_small() {
        let size = std::mem::size_of::<Conn>();
        assert!(size <= 20, "{size} bytes");
    }
}
