//! One `--model uring` worker's io_uring: with `pool` (the provided buffers), the
//! only `unsafe` of the model, each block with a `// SAFETY:` note and a test below.
//!
//! [`Ring`] is built by the pool before any thread starts (disabled while
//! SINGLE_ISSUER is on, so the worker thread that enables it becomes its one
//! issuer); [`Ring::start`] on the worker thread gives the [`Live`] view the loop
//! drives: push requests, submit them together and wait, take the completions.
//!
//! Invariants (each has a test):
//! - **The buffers outlive the kernel's use of them.** Every request pushed is
//!   counted in flight until its final completion (the one without
//!   `IORING_CQE_F_MORE`); [`Live::finish`] cancels everything and waits until none
//!   is in flight. The buffer memory is unmapped only when the count is zero; a ring
//!   dropped with requests still in flight leaks it instead (it stays mapped for a
//!   kernel that may still write it).
//! - **A buffer is the kernel's or ours, never both** (`pool`): [`Live::recycle`]
//!   consumes a [`Buf`] to give it back; a completion naming a buffer that is not
//!   the kernel's is refused (an error that stops the worker), not trusted.
//! - **A send's bytes stay put until its completion.** A send points into a held
//!   buffer; the caller keeps that `Buf` until the send's completion (the loop's
//!   connection state does), and the memory is mapped until nothing is in flight.
//! - **An accepted descriptor has one owner.** A successful accept completion's
//!   result is a new descriptor nothing else owns; [`Completion::accepted`] consumes
//!   the completion to wrap it in an `OwnedFd`, so it cannot be wrapped twice.
//! - **Every completion is taken, every request is submitted.** When the
//!   completion queue overflowed, the same turn takes the kernel's backlog too
//!   (counted); a completion the kernel dropped stops the worker (its accounting
//!   would be wrong). A request that finds the submission queue full and the
//!   kernel not taking it (a transient failure, retried) waits in a backlog that
//!   goes in first at the next enter, so requests reach the kernel in order.
//! - **The SQE's `optlen` is where the kernel reads it** (offset 44 of the 64-byte
//!   SQE: the multishot receive's byte limit), checked against the crate's own field
//!   at that offset.
#![allow(unsafe_code)]

use std::collections::VecDeque;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use io_uring::types::{CancelBuilder, Fd, Fixed, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, CompletionQueue, IoUring, SubmissionQueue, Submitter};

use super::enter::{Enters, RingStats};
pub(crate) use super::pool::Buf;
use super::pool::Pool;
use super::setup::{Features, Setup};

/// The buffer group id of every worker's provided buffer ring (one per ring).
const GROUP: u16 = 0;

/// What a request was for: the tag in its `user_data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// The (multishot) accept on the worker's listener.
    Accept,
    /// Connection `key`'s receive.
    Recv(u32),
    /// Connection `key`'s send.
    Send(u32),
    /// The poll on the worker's shutdown waker.
    Wake,
    /// A cancellation request.
    Cancel,
}

impl Op {
    fn user_data(self) -> u64 {
        let (tag, key) = match self {
            Op::Accept => (1u64, 0u32),
            Op::Recv(k) => (2, k),
            Op::Send(k) => (3, k),
            Op::Wake => (4, 0),
            Op::Cancel => (5, 0),
        };
        tag << 32 | u64::from(key)
    }

    fn from_user_data(data: u64) -> Option<Op> {
        let key = data as u32;
        match data >> 32 {
            1 => Some(Op::Accept),
            2 => Some(Op::Recv(key)),
            3 => Some(Op::Send(key)),
            4 => Some(Op::Wake),
            5 => Some(Op::Cancel),
            _ => None,
        }
    }
}

/// The sizes a worker's ring is built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sizes {
    /// Submission queue entries (a power of two).
    pub(crate) sq: u32,
    /// Completion queue entries (a power of two, at least `sq`).
    pub(crate) cq: u32,
    /// Provided buffers (a power of two, at most 32768).
    pub(crate) buffers: u16,
    /// Bytes in each provided buffer.
    pub(crate) buffer_size: u32,
}

/// One completion, decoded.
#[derive(Debug)]
pub(crate) struct Completion {
    /// What the request was for.
    pub(crate) op: Op,
    /// The result: bytes, a descriptor, or `-errno`.
    pub(crate) result: i32,
    /// `IORING_CQE_F_MORE`: a multishot request goes on.
    pub(crate) more: bool,
    /// The buffer a receive filled.
    pub(crate) buf: Option<Buf>,
}

impl Completion {
    /// An accept's outcome: the new connection's descriptor, or the error. Consumes
    /// the completion: its descriptor gets one owner, once.
    pub(crate) fn accepted(self) -> io::Result<OwnedFd> {
        debug_assert_eq!(self.op, Op::Accept);
        if self.result < 0 {
            return Err(io::Error::from_raw_os_error(-self.result));
        }
        // SAFETY: a successful accept completion's result is a descriptor the kernel
        // just installed in this process for us (no `IORING_FILE_INDEX_ALLOC`, so a
        // real descriptor); nothing else has seen it, each completion is decoded and
        // handed out once, and this call consumes it, so this is its only owner.
        Ok(unsafe { OwnedFd::from_raw_fd(self.result) })
    }
}

/// A worker's ring, its buffers and how it reaches its listener, built but not
/// running.
pub(crate) struct Ring {
    /// The io_uring instance (dropped before the pool: field order).
    ring: IoUring,
    /// Requests pushed whose final completion has not been seen.
    in_flight: usize,
    /// The provided buffers; `None` once leaked.
    pool: Option<Pool>,
    /// Built with `IORING_SETUP_R_DISABLED`: the worker thread enables it.
    disabled: bool,
    /// The listener as a fixed file (index 0), or its plain descriptor.
    listener: Listener,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring").field("in_flight", &self.in_flight).finish_non_exhaustive()
    }
}

/// How the ring names the listener.
#[derive(Clone, Copy, Debug)]
enum Listener {
    /// Registered as fixed file 0 (no descriptor lookup per accept).
    Fixed,
    /// Its plain descriptor.
    Plain(RawFd),
}

impl Ring {
    /// A ring as `features` allow, with `sizes`, accepting on `listener`.
    pub(crate) fn new(features: &Features, sizes: Sizes, listener: RawFd) -> io::Result<Ring> {
        let disabled = features.setup == Setup::DeferTaskrun;
        let ring = features.setup.builder(disabled).setup_cqsize(sizes.cq).build(sizes.sq)?;
        let pool = Pool::new(sizes.buffers, sizes.buffer_size)?;
        // SAFETY: the ring memory is the pool's mapping, valid and unmoved until the
        // pool is dropped, which happens after the ring (field order) or never (leak).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                pool.ring_addr(),
                sizes.buffers,
                GROUP,
                0,
            )?;
        }
        let listener = match features.fixed_listener {
            true => match ring.submitter().register_files(&[listener]) {
                Ok(()) => Listener::Fixed,
                Err(_) => Listener::Plain(listener),
            },
            false => Listener::Plain(listener),
        };
        Ok(Ring { ring, in_flight: 0, pool: Some(pool), disabled, listener })
    }

    /// On the worker thread: enables the ring (which makes this thread its one
    /// issuer) and registers its descriptor for this thread when `register_fd`.
    pub(crate) fn start(&mut self, register_fd: bool) -> io::Result<Live<'_>> {
        if self.disabled {
            self.ring.submitter().register_enable_rings()?;
            self.disabled = false;
        }
        let Ring { ring, in_flight, pool, listener, .. } = self;
        let (mut submitter, sq, cq) = ring.split();
        let registered_fd = register_fd && submitter.register_ring_fd().is_ok();
        let pool = pool.as_mut().ok_or_else(|| io::Error::other("the ring's buffers are gone"))?;
        Ok(Live {
            submitter,
            sq,
            cq,
            pool,
            in_flight,
            listener: *listener,
            registered_fd,
            backlog: VecDeque::new(),
            enters: Enters::default(),
            dropped_seen: 0,
        })
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        if self.in_flight > 0 {
            // The kernel may still write into the buffers: keep them mapped.
            std::mem::forget(self.pool.take());
        }
    }
}

/// A running ring on its worker thread.
pub(crate) struct Live<'r> {
    /// Submits and waits (with the registered ring descriptor, when there is one).
    submitter: Submitter<'r>,
    /// Requests not submitted yet.
    sq: SubmissionQueue<'r>,
    /// Completions not taken yet.
    cq: CompletionQueue<'r>,
    /// The provided buffers.
    pool: &'r mut Pool,
    /// The ring's count of requests in flight.
    in_flight: &'r mut usize,
    /// How to name the listener.
    listener: Listener,
    /// Whether the ring descriptor is registered for this thread.
    registered_fd: bool,
    /// Requests that found the submission queue full (and the kernel not taking
    /// it): queued by the next turn's enter, in order, before anything newer.
    backlog: VecDeque<squeue::Entry>,
    /// What a failed enter means, and the ring's own counters.
    enters: Enters,
    /// The kernel's count of completions it dropped, as last seen.
    dropped_seen: u32,
}

impl Live<'_> {
    /// Whether the ring's descriptor is registered (the start-up line says so).
    pub(crate) fn registered_fd(&self) -> bool {
        self.registered_fd
    }

    /// With `enters` as the rule for failed enters (the worker's, which tests may
    /// inject failures into).
    pub(crate) fn with_enters(mut self, enters: Enters) -> Self {
        self.enters = enters;
        self
    }

    /// The ring's own counters.
    pub(crate) fn stats(&self) -> RingStats {
        self.enters.stats
    }

    /// Queues `entry` for `op`. A full queue is handed to the kernel first; if it
    /// stays full (the kernel took nothing: a transient failure), the entry waits in
    /// the backlog for the next turn, behind anything older.
    fn push(&mut self, entry: squeue::Entry, op: Op) -> io::Result<()> {
        let entry = entry.user_data(op.user_data());
        let queued = self.backlog.is_empty()
            && (self.try_push(&entry) || {
                self.enter(0, None)?;
                self.try_push(&entry)
            });
        if !queued {
            self.backlog.push_back(entry);
        }
        *self.in_flight += 1;
        Ok(())
    }

    /// Puts `entry` in the submission queue if there is room.
    fn try_push(&mut self, entry: &squeue::Entry) -> bool {
        // SAFETY: every pointer in the entries built in this file is into the pool
        // (mapped until nothing is in flight) or null; descriptors are the caller's
        // open sockets, the listener or the waker's poll.
        unsafe { self.sq.push(entry) }.is_ok()
    }

    /// Moves the backlog into the submission queue, oldest first, while there is room.
    fn refill(&mut self) {
        while let Some(entry) = self.backlog.pop_front() {
            if !self.try_push(&entry) {
                self.backlog.push_front(entry);
                break;
            }
        }
    }

    /// One `io_uring_enter`: submits everything queued and waits for `want`
    /// completions (at most `timeout`). A failure the worker goes on after (a
    /// signal, the timeout, a transient one) is `Ok`: see `enter`'s module.
    fn enter(&mut self, want: usize, timeout: Option<Duration>) -> io::Result<()> {
        self.refill();
        self.sq.sync();
        let done = match (self.enters.injected(), timeout) {
            (Some(e), _) => Err(e),
            (None, None) => self.submitter.submit_and_wait(want),
            (None, Some(t)) => {
                let ts = Timespec::from(t);
                self.submitter.submit_with_args(want, &SubmitArgs::new().timespec(&ts))
            }
        };
        self.sq.sync(); // see the room the kernel made
        match done {
            Ok(_) => {
                self.enters.succeeded();
                Ok(())
            }
            Err(e) => self.enters.failed(e),
        }
    }

    /// Accepts on the listener: multishot (one request, a completion per
    /// connection) or one connection per request.
    pub(crate) fn accept(&mut self, multishot: bool) -> io::Result<()> {
        let entry = match (self.listener, multishot) {
            (Listener::Fixed, true) => opcode::AcceptMulti::new(Fixed(0)).build(),
            (Listener::Plain(fd), true) => opcode::AcceptMulti::new(Fd(fd)).build(),
            (Listener::Fixed, false) => {
                opcode::Accept::new(Fixed(0), std::ptr::null_mut(), std::ptr::null_mut()).build()
            }
            (Listener::Plain(fd), false) => {
                opcode::Accept::new(Fd(fd), std::ptr::null_mut(), std::ptr::null_mut()).build()
            }
        };
        self.push(entry.flags(squeue::Flags::empty()), Op::Accept)
    }

    /// Receives on connection `key`'s socket into provided buffers: multishot until
    /// `limit` bytes came in (`Some`), or once (`None`).
    pub(crate) fn recv(&mut self, key: u32, fd: RawFd, limit: Option<u32>) -> io::Result<()> {
        let entry = match limit {
            Some(limit) => with_optlen(opcode::RecvMulti::new(Fd(fd), GROUP).build(), limit),
            None => opcode::Recv::new(Fd(fd), std::ptr::null_mut(), 0)
                .buf_group(GROUP)
                .build()
                .flags(squeue::Flags::BUFFER_SELECT),
        };
        self.push(entry, Op::Recv(key))
    }

    /// Sends `buf`'s bytes from `from` on to connection `key`'s socket, all of them
    /// (MSG_WAITALL: a completion short of that is an error or the end). `buf` must
    /// stay held until this send's completion.
    pub(crate) fn send(&mut self, key: u32, fd: RawFd, buf: &Buf, from: u32) -> io::Result<()> {
        let ptr = self.pool.send_ptr(buf, from);
        let entry =
            opcode::Send::new(Fd(fd), ptr, buf.len() - from).flags(libc::MSG_WAITALL).build();
        self.push(entry, Op::Send(key))
    }

    /// Watches `fd` (the worker's shutdown waker) for readability, once.
    pub(crate) fn watch(&mut self, fd: RawFd) -> io::Result<()> {
        self.push(opcode::PollAdd::new(Fd(fd), libc::POLLIN as u32).build(), Op::Wake)
    }

    /// Cancels the request made for `op`.
    pub(crate) fn cancel(&mut self, op: Op) -> io::Result<()> {
        self.push(opcode::AsyncCancel::new(op.user_data()).build(), Op::Cancel)
    }

    /// Submits everything queued and waits for at least one completion, or until
    /// `timeout`: one `io_uring_enter`. A signal, the timeout or a transient failure
    /// is a turn with no completions, not an error.
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.enter(1, timeout)
    }

    /// Moves the completions waiting now into `out` (cleared first), decoded, with
    /// their buffers taken out of the kernel's hands; with the kernel's backlog too
    /// when the completion queue overflowed (counted).
    pub(crate) fn completions(&mut self, out: &mut Vec<Completion>) -> io::Result<()> {
        out.clear();
        for _ in 0..FLUSHES_PER_TURN {
            self.take_completions(out)?;
            if !self.sq.cq_overflow() {
                break;
            }
            // The queue was full: the kernel keeps what did not fit in its backlog
            // (IORING_FEAT_NODROP) and moves it into the queue, emptied above, only
            // in an enter with GETEVENTS, which `submit` makes while
            // IORING_SQ_CQ_OVERFLOW is set.
            self.enters.stats.overflows += 1;
            self.enter(0, None)?;
        }
        let dropped = self.cq.overflow();
        if dropped != self.dropped_seen {
            self.dropped_seen = dropped;
            return Err(io::Error::other(format!(
                "the kernel dropped io_uring completions ({dropped} in all: it could not keep \
                 its completion backlog): this worker's requests and buffers can no longer be \
                 accounted for"
            )));
        }
        Ok(())
    }

    /// Appends the completions in the queue now to `out`.
    fn take_completions(&mut self, out: &mut Vec<Completion>) -> io::Result<()> {
        self.cq.sync();
        for cqe in &mut self.cq {
            let Some(op) = Op::from_user_data(cqe.user_data()) else {
                return Err(io::Error::other(format!(
                    "io_uring completion with unknown user data {:#x}",
                    cqe.user_data()
                )));
            };
            let more = cqueue::more(cqe.flags());
            if !more {
                *self.in_flight -= 1;
            }
            let buf = match cqueue::buffer_select(cqe.flags()) {
                Some(id) => Some(self.pool.take(id, cqe.result())?),
                None => None,
            };
            out.push(Completion { op, result: cqe.result(), more, buf });
        }
        Ok(())
    }

    /// The bytes a held buffer holds (the echo never looks: it sends them back from
    /// where they are).
    #[cfg(test)]
    pub(crate) fn bytes(&self, buf: &Buf) -> &[u8] {
        self.pool.bytes(buf)
    }

    /// Gives a buffer back to the kernel.
    pub(crate) fn recycle(&mut self, buf: Buf) {
        self.pool.give(buf);
    }

    /// Requests in flight.
    pub(crate) fn in_flight(&self) -> usize {
        *self.in_flight
    }

    /// Cancels every request and waits (at most `within`) until none is in flight,
    /// then lets go of the listener (unregisters the fixed file). Descriptors
    /// accepted meanwhile are closed; buffers go back to the pool. Returns whether
    /// every request ended (if not, the ring's drop leaks the buffers rather than
    /// unmap memory the kernel may still write, and the ring may still hold the
    /// listener: the caller shuts it down).
    pub(crate) fn finish(mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        // Never submitted: nothing to cancel or wait for (and submitted after the
        // cancellation below, they would not be cancelled).
        *self.in_flight -= self.backlog.len();
        self.backlog.clear();
        if self.in_flight() > 0 && self.push(cancel_all(), Op::Cancel).is_err() {
            return false;
        }
        let mut batch = Vec::with_capacity(64);
        while self.in_flight() > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.wait(Some(left)).is_err() {
                break;
            }
            if self.completions(&mut batch).is_err() {
                break;
            }
            for mut c in batch.drain(..) {
                if let Some(buf) = c.buf.take() {
                    self.recycle(buf);
                }
                if c.op == Op::Accept && c.result >= 0 {
                    drop(c.accepted()); // a connection that came in while stopping
                }
            }
        }
        if self.in_flight() == 0 && matches!(self.listener, Listener::Fixed) {
            // The fixed-file table holds its own reference to the listener, and a
            // ring's table is freed only when the kernel tears the ring down, which
            // it does in a workqueue after the ring's last descriptor is closed: the
            // port stayed bound 30-65 ms after echod had exited (Linux 6.18).
            // Unregistering puts that reference now (its last user, the accept, has
            // ended above), so the listener closes with the worker's own descriptor.
            let _ = self.submitter.unregister_files();
        }
        if self.registered_fd {
            let _ = self.submitter.unregister_ring_fd();
        }
        self.in_flight() == 0
    }
}

/// How many times one turn takes the kernel's completion backlog (each time into a
/// queue just emptied) before leaving the rest to the next turn.
const FLUSHES_PER_TURN: usize = 8;

/// A request that cancels every request of the ring.
fn cancel_all() -> squeue::Entry {
    opcode::AsyncCancel2::new(CancelBuilder::any()).build()
}

/// Offset of the SQE's `optlen` (a member of the union at byte 44 of
/// `struct io_uring_sqe`, beside `splice_fd_in` and `file_index`).
const OPTLEN_OFFSET: usize = 44;

/// `entry` with its `optlen` set: for a multishot receive, the bytes after which it
/// ends (Linux 6.17+; older kernels ignore the field, which the probe detects).
fn with_optlen(entry: squeue::Entry, optlen: u32) -> squeue::Entry {
    // SAFETY: `squeue::Entry` is `#[repr(C)]` around the kernel's 64-byte `struct
    // io_uring_sqe`, plain integers only, so every byte pattern is a valid value and
    // it round-trips through `[u8; 64]` unchanged; bytes 44..48 are the `optlen`
    // member (tested against the crate's `file_index`, which shares that offset).
    let mut bytes = unsafe { std::mem::transmute::<squeue::Entry, [u8; 64]>(entry) };
    bytes[OPTLEN_OFFSET..OPTLEN_OFFSET + 4].copy_from_slice(&optlen.to_ne_bytes());
    // SAFETY: as above.
    unsafe { std::mem::transmute::<[u8; 64], squeue::Entry>(bytes) }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    use super::super::features::probe;
    use super::*;

    const SMALL: Sizes = Sizes { sq: 16, cq: 64, buffers: 4, buffer_size: 64 };

    /// A started ring over a scratch listener, or `None` (printed) where io_uring is
    /// refused.
    fn ring() -> Option<(Ring, std::net::TcpListener)> {
        let features = match probe() {
            Ok(f) => f,
            Err(why) => {
                eprintln!("skipped: io_uring is not usable here: {why}");
                return None;
            }
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let ring = Ring::new(&features, SMALL, listener.as_raw_fd()).expect("ring");
        Some((ring, listener))
    }

    /// Waits (bounded) for the next completions.
    fn next(live: &mut Live<'_>) -> Vec<Completion> {
        let mut out = Vec::new();
        for _ in 0..50 {
            live.wait(Some(Duration::from_millis(100))).expect("wait");
            live.completions(&mut out).expect("completions");
            if !out.is_empty() {
                break;
            }
        }
        out
    }

    /// The bytes a receive completion names are exactly what the peer sent, in the
    /// buffer it names; the buffer goes back once and is filled again.
    #[test]
    fn received_bytes_are_in_the_named_buffer() {
        let Some((mut ring, _l)) = ring() else { return };
        let mut live = ring.start(true).expect("start");
        let (mut a, b) = UnixStream::pair().expect("pair");
        for round in 0..6u8 {
            live.recv(7, b.as_raw_fd(), None).expect("recv");
            a.write_all(&[round; 10]).expect("write");
            let got = next(&mut live);
            assert_eq!(got.len(), 1, "{got:?}");
            let c = got.into_iter().next().expect("one");
            assert_eq!((c.op, c.result, c.more), (Op::Recv(7), 10, false));
            let buf = c.buf.expect("a buffer");
            assert_eq!(live.bytes(&buf), &[round; 10]);
            live.recycle(buf); // 6 rounds over 4 buffers: each comes back and is reused
        }
        assert!(live.finish(Duration::from_secs(5)));
    }

    /// `finish` cancels a multishot receive and a send that cannot complete, and
    /// returns only when nothing is in flight; the ring then frees its buffers.
    #[test]
    fn finish_waits_for_every_request() {
        let Some((mut ring, _l)) = ring() else { return };
        {
            let mut live = ring.start(true).expect("start");
            let (mut a, b) = UnixStream::pair().expect("pair");
            let (c, _d) = UnixStream::pair().expect("pair");
            live.recv(1, b.as_raw_fd(), Some(1 << 20)).expect("recv");
            a.write_all(b"x").expect("write");
            let got = next(&mut live);
            let buf = got.into_iter().find_map(|c| c.buf).expect("a buffer");
            // A peer that never reads: fill its socket, then a send that must wait.
            c.set_nonblocking(true).expect("nonblocking");
            while (&c).write(&[0u8; 4096]).is_ok() {}
            live.send(2, c.as_raw_fd(), &buf, 0).expect("send");
            live.wait(Some(Duration::from_millis(10))).expect("submit");
            assert!(live.in_flight() >= 2, "the receive and the send");
            assert!(live.finish(Duration::from_secs(5)), "every request ended");
            let _ = buf; // held until the send's end, as the loop does
        }
        assert_eq!(ring.in_flight, 0);
        assert!(ring.pool.is_some(), "freed, not leaked");
    }

    /// More completions than the completion queue holds: one `completions` call
    /// takes them all (the kernel's backlog too, in the same turn), and counts the
    /// overflow.
    #[test]
    fn overflowed_completions_are_taken_in_the_same_turn() {
        let Some((mut ring, _l)) = ring() else { return };
        let mut live = ring.start(true).expect("start");
        let (mut a, b) = UnixStream::pair().expect("pair");
        a.write_all(b"readable").expect("write");
        let requests = SMALL.cq as usize + 36;
        for _ in 0..requests {
            live.watch(b.as_raw_fd()).expect("watch"); // completes at once: readable
        }
        live.wait(Some(Duration::from_millis(100))).expect("submit");
        let mut out = Vec::new();
        live.completions(&mut out).expect("completions");
        assert_eq!(out.len(), requests, "every completion, the backlog's too");
        assert!(out.iter().all(|c| c.op == Op::Wake && c.result > 0), "{out:?}");
        assert!(live.stats().overflows >= 1, "{:?}", live.stats());
        assert_eq!(live.in_flight(), 0);
        assert!(live.finish(Duration::from_secs(5)));
    }

    /// A full submission queue the kernel does not take (a transient failure) is
    /// retried: what did not fit waits in the backlog and goes in, in order, with
    /// the next turn; every request completes.
    #[test]
    fn a_transient_failure_keeps_the_requests() {
        let Some((mut ring, _l)) = ring() else { return };
        let live = ring.start(true).expect("start");
        let mut live = live.with_enters(Enters::failing(libc::EAGAIN, 1));
        let (mut a, b) = UnixStream::pair().expect("pair");
        a.write_all(b"readable").expect("write");
        let requests = SMALL.sq as usize + 4;
        for _ in 0..requests {
            live.watch(b.as_raw_fd()).expect("a transient failure is no error");
        }
        assert_eq!(live.backlog.len(), 4, "the kernel took nothing");
        assert_eq!(live.stats().retries, 1);
        let mut out = Vec::new();
        for _ in 0..10 {
            live.wait(Some(Duration::from_millis(100))).expect("submit");
            let mut batch = Vec::new();
            live.completions(&mut batch).expect("completions");
            out.append(&mut batch);
            if out.len() == requests {
                break;
            }
        }
        assert_eq!(out.len(), requests);
        assert!(live.backlog.is_empty() && live.in_flight() == 0);
        assert!(live.finish(Duration::from_secs(5)));
    }

    /// A ring dropped with a request in flight keeps its buffers mapped (leaks).
    #[test]
    fn dropped_in_flight_leaks_the_buffers() {
        let Some((mut ring, _l)) = ring() else { return };
        let (_a, b) = UnixStream::pair().expect("pair");
        {
            let mut live = ring.start(true).expect("start");
            live.recv(1, b.as_raw_fd(), None).expect("recv");
            live.wait(Some(Duration::from_millis(10))).expect("submit");
        }
        assert_eq!(ring.in_flight, 1);
        drop(ring); // must not unmap: checked by the forget path, no crash, no UB
    }

    /// An accept completion's descriptor is a connected socket, owned once.
    #[test]
    fn accepted_descriptor_is_the_connection() {
        let Some((mut ring, listener)) = ring() else { return };
        let mut live = ring.start(true).expect("start");
        live.accept(true).expect("accept");
        let client =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let got = next(&mut live);
        let c = got.into_iter().next().expect("a completion");
        assert_eq!((c.op, c.more), (Op::Accept, true));
        let fd = c.accepted().expect("a descriptor");
        let server_side = std::net::TcpStream::from(fd);
        assert_eq!(server_side.peer_addr().expect("peer"), client.local_addr().expect("local"));
        assert!(live.finish(Duration::from_secs(5)));
    }

    /// `optlen` is written where the crate writes `file_index` (the same union
    /// member of `struct io_uring_sqe`), and nothing else changes.
    #[test]
    fn optlen_is_at_the_kernels_offset() {
        let slot = io_uring::types::DestinationSlot::try_from_slot_target(41).expect("slot");
        let with_index = opcode::Accept::new(Fd(3), std::ptr::null_mut(), std::ptr::null_mut())
            .file_index(Some(slot))
            .build();
        let plain = opcode::Accept::new(Fd(3), std::ptr::null_mut(), std::ptr::null_mut()).build();
        let ours = with_optlen(plain, 42); // the kernel's index argument is slot + 1
                                           // SAFETY: as in `with_optlen`: a repr(C) 64-byte value of plain integers.
        let (a, b) = unsafe {
            (
                std::mem::transmute::<squeue::Entry, [u8; 64]>(with_index),
                std::mem::transmute::<squeue::Entry, [u8; 64]>(ours),
            )
        };
        assert_eq!(a, b);
    }

    /// User data round-trips for every kind of request.
    #[test]
    fn user_data_round_trips() {
        for op in [Op::Accept, Op::Recv(u32::MAX), Op::Send(7), Op::Wake, Op::Cancel] {
            assert_eq!(Op::from_user_data(op.user_data()), Some(op));
        }
        assert_eq!(Op::from_user_data(0), None);
    }
}
