//! The provided buffers of one `--model uring` worker: the buffer ring the kernel
//! takes empty buffers from, and the memory it fills. With `ring`, the model's only
//! `unsafe`, each block with a `// SAFETY:` note and a test below.
//!
//! Invariants (each has a test):
//! - **A buffer is the kernel's or ours, never both.** A provided buffer is in the
//!   buffer ring (the kernel may fill it) or held as a [`Buf`] (taken from a receive
//!   completion; only then are its bytes read). `Buf` is neither `Clone` nor `Copy`,
//!   and [`Pool::give`] consumes it to put the buffer back, so a buffer is given
//!   back once, and never while its bytes are borrowed. A completion naming a buffer
//!   that is not the kernel's is refused, not trusted.
//! - **No reference of ours covers memory the kernel reads.** The kernel reads the
//!   ring's entries and its tail (the last 16 bits of entry 0) at any time, so an
//!   entry is written field by field through raw pointers (never a `&mut` over an
//!   entry, which would cover entry 0's tail too), and the tail is published by a
//!   release store on an atomic view of those 16 bits.
#![allow(unsafe_code)]

use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

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

/// One entry of the buffer ring: the kernel's `struct io_uring_buf` (16 bytes; a
/// test checks it against the io-uring crate's). In entry 0, `tail` is the ring's
/// tail; in the others it is unused. Only ever reached through raw pointers.
#[repr(C)]
struct Slot {
    /// The buffer's address.
    addr: u64,
    /// Its length.
    len: u32,
    /// Its buffer id.
    bid: u16,
    /// Entry 0: the tail the kernel reads.
    tail: u16,
}

/// The provided buffers: the buffer ring the kernel takes them from, and their
/// memory. Both are anonymous mappings, unmapped on drop (which [`Ring`] allows only
/// once nothing is in flight).
#[derive(Debug)]
pub(crate) struct Pool {
    /// The ring of `buffers` entries (16 bytes each); entry 0's last field is the
    /// tail the kernel reads.
    entries: *mut Slot,
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
    pub(crate) fn new(buffers: u16, buffer_size: u32) -> io::Result<Pool> {
        assert!(buffers.is_power_of_two() && buffers <= 32768 && buffer_size > 0);
        let entries = map(Pool::entries_len(buffers))?.cast::<Slot>();
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
        buffers as usize * std::mem::size_of::<Slot>()
    }

    /// The buffer ring's address, for registering it with the ring.
    pub(crate) fn ring_addr(&self) -> u64 {
        self.entries as u64
    }

    /// Puts buffer `buf` back in the ring, at the tail, for the kernel to fill.
    pub(crate) fn give(&mut self, buf: Buf) {
        let id = usize::from(buf.id);
        debug_assert!(self.held[id], "buffer {id} given back twice");
        self.held[id] = false;
        let slot = usize::from(self.tail & (self.buffers - 1));
        // SAFETY: `slot < buffers`, inside the entries mapping, and `id < buffers`,
        // so the address written is inside the data mapping. The kernel reads only
        // entries between its head and the published tail, and this slot is past the
        // tail until the store below, so nobody reads these three fields while we
        // write them. They are written through raw pointers, one field each: no
        // reference is formed over the entry, so none covers entry 0's `tail`, which
        // the kernel may read at any moment.
        unsafe {
            let entry = self.entries.add(slot);
            std::ptr::addr_of_mut!((*entry).addr)
                .write(self.data.add(id * self.buffer_size as usize) as u64);
            std::ptr::addr_of_mut!((*entry).len).write(self.buffer_size);
            std::ptr::addr_of_mut!((*entry).bid).write(buf.id);
        }
        self.tail = self.tail.wrapping_add(1);
        self.tail_atomic().store(self.tail, Ordering::Release);
    }

    /// The ring's tail as an atomic: the kernel reads it with an acquire load, so a
    /// release store publishes every entry written before it.
    fn tail_atomic(&self) -> &AtomicU16 {
        // SAFETY: `tail` is the 16-bit field at bytes 14..16 of entry 0, inside the
        // mapping (which lives as long as `self`) and 2-byte aligned (the mapping is
        // page aligned). It is only ever accessed atomically: by the kernel's loads and
        // through this view, never through a plain reference or write.
        unsafe { AtomicU16::from_ptr(std::ptr::addr_of_mut!((*self.entries).tail)) }
    }

    /// Takes buffer `id`, filled with `len` bytes, out of the kernel's hands.
    pub(crate) fn take(&mut self, id: u16, len: i32) -> io::Result<Buf> {
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
    pub(crate) fn bytes(&self, buf: &Buf) -> &[u8] {
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
    pub(crate) fn send_ptr(&self, buf: &Buf, from: u32) -> *const u8 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use io_uring::types::BufRingEntry;

    /// A slot is the kernel's `struct io_uring_buf` as the io-uring crate lays it
    /// out: the same size, each field where the crate's setters write it, and the
    /// tail where the crate says the kernel reads it. (That no `&mut` covers the tail
    /// is the code's shape, not something a test can observe: the kernel's reads are
    /// outside what Rust's tests, or Miri, can see.)
    #[test]
    fn slot_is_the_kernels_layout() {
        assert_eq!(std::mem::size_of::<Slot>(), std::mem::size_of::<BufRingEntry>());
        let mut pool = Pool::new(4, 64).expect("pool");
        let mut theirs = [0u8; 16];
        {
            // SAFETY: a 16-byte, 8-aligned scratch value standing for one entry.
            let entry = unsafe { &mut *theirs.as_mut_ptr().cast::<BufRingEntry>() };
            entry.set_addr(pool.data as u64 + 2 * 64);
            entry.set_len(64);
            entry.set_bid(2);
        }
        let buf = pool.take(2, 0).expect("the kernel's");
        pool.give(buf); // the fifth give: slot 0 again, tail 5
                        // SAFETY: the entries mapping is 4 slots long; slot 0 is read as bytes.
        let ours = unsafe { std::slice::from_raw_parts(pool.entries.cast::<u8>(), 16) };
        assert_eq!(&ours[..14], &theirs[..14], "addr, len, bid");
        // SAFETY: as above; the crate's own pointer to the tail.
        let their_tail = unsafe { BufRingEntry::tail(pool.entries.cast()) };
        assert_eq!(their_tail.cast::<u8>(), ours[14..].as_ptr(), "the tail's place");
        assert_eq!(u16::from_ne_bytes([ours[14], ours[15]]), 5, "the tail published");
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
}
