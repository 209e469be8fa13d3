//! One `--model uring` worker's io_uring and the memory the kernel writes into: the
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
//! - **A buffer is the kernel's or ours, never both.** A provided buffer is in the
//!   buffer ring (the kernel may fill it) or held as a [`Buf`] (taken from a receive
//!   completion; only then are its bytes read). `Buf` is neither `Clone` nor `Copy`,
//!   and [`Live::recycle`] consumes it to put the buffer back, so a buffer is
//!   recycled once, and never while its bytes are borrowed. A completion naming a
//!   buffer that is not the kernel's is refused (an error that stops the worker), not
//!   trusted.
//! - **A send's bytes stay put until its completion.** A send points into a held
//!   buffer; the caller keeps that `Buf` until the send's completion (the loop's
//!   connection state does), and the memory is mapped until nothing is in flight.
//! - **An accepted descriptor has one owner.** A successful accept completion's
//!   result is a new descriptor nothing else owns; [`Completion::accepted`] wraps it
//!   in an `OwnedFd` once.
//! - **The SQE's `optlen` is where the kernel reads it** (offset 44 of the 64-byte
//!   SQE: the multishot receive's byte limit), checked against the crate's own field
//!   at that offset.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use io_uring::types::{BufRingEntry, CancelBuilder, Fd, Fixed, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, CompletionQueue, IoUring, SubmissionQueue, Submitter};

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

/// A provided buffer the kernel filled and handed over in a receive completion:
/// ours until [`Live::recycle`] gives it back. Neither `Clone` nor `Copy`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Buf {
    /// Its buffer id (its index in the pool).
    id: u16,
    /// How many bytes the kernel wrote into it.
    len: u32,
}

impl Buf {
    /// Its buffer id.
    pub(crate) fn id(&self) -> u16 {
        self.id
    }

    /// The bytes the kernel wrote.
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    /// A token for tests of what holds buffers (never given to a ring).
    #[cfg(test)]
    pub(crate) fn for_test(id: u16, len: u32) -> Buf {
        Buf { id, len }
    }
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
    /// An accept's outcome: the new connection's descriptor, or the error.
    pub(crate) fn accepted(&self) -> io::Result<OwnedFd> {
        debug_assert_eq!(self.op, Op::Accept);
        if self.result < 0 {
            return Err(io::Error::from_raw_os_error(-self.result));
        }
        // SAFETY: a successful accept completion's result is a descriptor the kernel
        // just installed in this process for us (no `IORING_FILE_INDEX_ALLOC`, so a
        // real descriptor); nothing else has seen it, and each completion is decoded
        // and handed out once, so this is its only owner.
        Ok(unsafe { OwnedFd::from_raw_fd(self.result) })
    }
}

/// The provided buffers: the buffer ring the kernel takes them from, and their
/// memory. Both are anonymous mappings, unmapped on drop (which [`Ring`] allows only
/// once nothing is in flight).
#[derive(Debug)]
struct Pool {
    /// The ring of `buffers` entries (16 bytes each); entry 0's last field is the
    /// tail the kernel reads.
    entries: *mut BufRingEntry,
    /// `buffers * buffer_size` bytes.
    data: *mut u8,
    /// Buffers in the pool.
    buffers: u16,
    /// Bytes per buffer.
    buffer_size: u32,
    /// The next tail to publish (wraps).
    tail: u16,
    /// Which buffers we hold (taken from a completion, not recycled yet).
    held: Box<[bool]>,
}

// SAFETY: the pool owns its two mappings exclusively (no other pointer to them
// leaves it except into the kernel), so moving it to the worker thread moves the
// only user.
unsafe impl Send for Pool {}

fn map(len: usize) -> io::Result<*mut u8> {
    // SAFETY: an anonymous private mapping of `len` bytes at an address the kernel
    // chooses: no existing memory is touched; the result is checked before use.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(ptr.cast())
}

impl Pool {
    fn new(buffers: u16, buffer_size: u32) -> io::Result<Pool> {
        assert!(buffers.is_power_of_two() && buffers <= 32768 && buffer_size > 0);
        let entries = map(Pool::entries_len(buffers))?.cast::<BufRingEntry>();
        let data = match map(buffers as usize * buffer_size as usize) {
            Ok(d) => d,
            Err(e) => {
                // SAFETY: `entries` was mapped just above with this length and is not
                // shared with anyone yet.
                unsafe { libc::munmap(entries.cast(), Pool::entries_len(buffers)) };
                return Err(e);
            }
        };
        let mut pool = Pool {
            entries,
            data,
            buffers,
            buffer_size,
            tail: 0,
            held: vec![true; buffers as usize].into_boxed_slice(),
        };
        for id in 0..buffers {
            pool.give(Buf { id, len: 0 });
        }
        Ok(pool)
    }

    fn entries_len(buffers: u16) -> usize {
        buffers as usize * std::mem::size_of::<BufRingEntry>()
    }

    /// Puts buffer `buf` back in the ring, at the tail, for the kernel to fill.
    fn give(&mut self, buf: Buf) {
        let id = usize::from(buf.id);
        debug_assert!(self.held[id], "buffer {id} given back twice");
        self.held[id] = false;
        let slot = usize::from(self.tail & (self.buffers - 1));
        // SAFETY: `slot < buffers`, inside the entries mapping; the kernel reads only
        // entries between its head and the published tail, and this slot is past the
        // tail until the store below, so nobody reads it while we write. `id <
        // buffers`, so the address is inside the data mapping.
        unsafe {
            let entry = &mut *self.entries.add(slot);
            entry.set_addr(self.data.add(id * self.buffer_size as usize) as u64);
            entry.set_len(self.buffer_size);
            entry.set_bid(buf.id);
        }
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail is the 16-bit field at the end of entry 0, inside the
        // mapping and 2-byte aligned (the mapping is page aligned); the kernel reads it
        // with an acquire load, so a release store publishes the entry written above.
        unsafe {
            let tail = BufRingEntry::tail(self.entries).cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// Takes buffer `id`, filled with `len` bytes, out of the kernel's hands.
    fn take(&mut self, id: u16, len: i32) -> io::Result<Buf> {
        let fits = u32::try_from(len).is_ok_and(|l| l <= self.buffer_size);
        match self.held.get_mut(usize::from(id)) {
            Some(held) if !*held && fits => {
                *held = true;
                Ok(Buf { id, len: len as u32 })
            }
            _ => Err(io::Error::other(format!(
                "io_uring handed over buffer {id} ({len} bytes), which was not the kernel's \
                 to fill"
            ))),
        }
    }

    /// The bytes a held buffer holds.
    fn bytes(&self, buf: &Buf) -> &[u8] {
        debug_assert!(self.held[usize::from(buf.id)]);
        // SAFETY: `buf` exists only between `take` and `give`, so the buffer is not in
        // the ring and the kernel has finished writing it (the completion that named
        // it was read after the kernel posted it); `id < buffers` and `len <=
        // buffer_size` (checked in `take`), so the range is inside the mapping, which
        // lives as long as `self`. Nothing writes it while this borrow of the pool
        // lives: giving it back needs `&mut self`.
        unsafe {
            std::slice::from_raw_parts(
                self.data.add(usize::from(buf.id) * self.buffer_size as usize),
                buf.len as usize,
            )
        }
    }

    /// Where `buf`'s bytes from `from` on start, for a send.
    fn send_ptr(&self, buf: &Buf, from: u32) -> *const u8 {
        debug_assert!(from < buf.len);
        self.bytes(buf)[from as usize..].as_ptr()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // SAFETY: both mappings were made in `Pool::new` with these lengths and are
        // unmapped once; `Ring` drops a pool only when no request is in flight (else
        // it leaks it), so the kernel holds no pointer into them.
        unsafe {
            libc::munmap(self.data.cast(), self.buffers as usize * self.buffer_size as usize);
            libc::munmap(self.entries.cast(), Pool::entries_len(self.buffers));
        }
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
                pool.entries as u64,
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
        Ok(Live { submitter, sq, cq, pool, in_flight, listener: *listener, registered_fd })
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
}

impl Live<'_> {
    /// Whether the ring's descriptor is registered (the start-up line says so).
    pub(crate) fn registered_fd(&self) -> bool {
        self.registered_fd
    }

    /// Queues `entry` for `op`; submits what is queued first if the queue is full.
    fn push(&mut self, entry: squeue::Entry, op: Op) -> io::Result<()> {
        let entry = entry.user_data(op.user_data());
        // SAFETY: every pointer in the entries built in this file is into the pool
        // (mapped until nothing is in flight) or null; descriptors are the caller's
        // open sockets, the listener or the waker's poll.
        if unsafe { self.sq.push(&entry) }.is_err() {
            self.sq.sync();
            self.submitter.submit()?;
            self.sq.sync();
            // SAFETY: the same entry as above.
            unsafe { self.sq.push(&entry) }
                .map_err(|_| io::Error::other("io_uring submission queue stays full"))?;
        }
        *self.in_flight += 1;
        Ok(())
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
        let entry = opcode::Send::new(Fd(fd), ptr, buf.len - from).flags(libc::MSG_WAITALL).build();
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
    /// `timeout`: one `io_uring_enter`. A signal or the timeout is a turn with no
    /// completions, not an error.
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.sq.sync();
        let done = match timeout {
            None => self.submitter.submit_and_wait(1),
            Some(t) => {
                let ts = Timespec::from(t);
                self.submitter.submit_with_args(1, &SubmitArgs::new().timespec(&ts))
            }
        };
        match done {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::ETIME | libc::EBUSY)) => {
                Ok(())
            }
            Err(e) => Err(e),
            Ok(_) => Ok(()),
        }
    }

    /// Moves the completions waiting now into `out` (cleared first), decoded, with
    /// their buffers taken out of the kernel's hands.
    pub(crate) fn completions(&mut self, out: &mut Vec<Completion>) -> io::Result<()> {
        out.clear();
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
            for c in batch.drain(..) {
                if c.op == Op::Accept && c.result >= 0 {
                    drop(c.accepted()); // a connection that came in while stopping
                }
                if let Some(buf) = c.buf {
                    self.recycle(buf);
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

    /// A buffer the kernel still holds is refused: taken twice, out of range, or
    /// longer than a buffer.
    #[test]
    fn a_buffer_is_taken_once() {
        let mut pool = Pool::new(4, 64).expect("pool");
        let buf = pool.take(2, 5).expect("the kernel's to give");
        assert!(pool.take(2, 5).is_err(), "held already");
        assert!(pool.take(4, 5).is_err(), "out of range");
        assert!(pool.take(1, 65).is_err(), "longer than a buffer");
        assert!(pool.take(1, -1).is_err(), "an error is no length");
        pool.give(buf);
        assert!(pool.take(2, 64).is_ok(), "back in the ring");
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
