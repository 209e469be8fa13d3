//! [`SharedCounters`]: atomic counters in memory shared with child processes (a memfd
//! mapped `MAP_SHARED`), so `--processes` children count `--max-conns` places in one
//! total.
//!
//! Invariants: the mapping is reachable only as `&AtomicU64`, inside its bounds, for
//! as long as the `SharedCounters` lives; it is unmapped once, when dropped.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

/// The memfd's name, which `open_inherited` checks before mapping a descriptor.
const COUNTERS_NAME: &str = "echod-counters";

/// `len` 64-bit atomic counters, zero at creation, in memory that child processes
/// share: a memfd mapped `MAP_SHARED`. The memfd is made without close-on-exec, so
/// every child started while it is open inherits the descriptor and can map the same
/// memory with [`SharedCounters::open_inherited`].
#[derive(Debug)]
pub struct SharedCounters {
    /// The first counter of the mapping (page-aligned, `len` counters long).
    ptr: NonNull<AtomicU64>,
    /// How many counters.
    len: usize,
    /// The memory's descriptor: kept open so children started later inherit it.
    file: File,
}

// SAFETY: the mapping is reachable only as `&AtomicU64`, which any thread may use;
// it is unmapped once, in `drop`, when no reference can be left.
unsafe impl Send for SharedCounters {}
// SAFETY: as above: shared references give atomics only.
unsafe impl Sync for SharedCounters {}

impl SharedCounters {
    /// `len` new counters, all zero.
    pub fn create(len: usize) -> io::Result<SharedCounters> {
        let name = std::ffi::CString::new(COUNTERS_NAME).map_err(io::Error::other)?;
        // SAFETY: `name` is a NUL-terminated string alive for the call; flags 0 (no
        // MFD_CLOEXEC) on purpose, so children inherit the descriptor.
        let fd = syscall!(memfd_create(name.as_ptr(), 0))?;
        // SAFETY: a descriptor memfd_create returns is new and ours alone, so File may own it.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        file.set_len(Self::bytes(len)?)?; // a memfd grows zero-filled
        SharedCounters::map(file, len)
    }

    /// The counters a parent made, through the descriptor `fd` this process inherited
    /// from it. Refuses a descriptor that is not such a memfd of `len` counters.
    pub fn open_inherited(fd: RawFd, len: usize) -> io::Result<SharedCounters> {
        let link = format!("/proc/self/fd/{fd}");
        let target = std::fs::read_link(&link)?;
        if !target.to_string_lossy().starts_with(&format!("/memfd:{COUNTERS_NAME}")) {
            let what = format!("descriptor {fd} is {}, not echod's counters", target.display());
            return Err(io::Error::new(io::ErrorKind::InvalidInput, what));
        }
        // Opening the /proc link gives a descriptor of our own to the same memory.
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&link)?;
        if file.metadata()?.len() != Self::bytes(len)? {
            let what = format!("descriptor {fd} does not hold {len} counters");
            return Err(io::Error::new(io::ErrorKind::InvalidInput, what));
        }
        SharedCounters::map(file, len)
    }

    fn bytes(len: usize) -> io::Result<u64> {
        len.checked_mul(8)
            .filter(|&b| b > 0)
            .map(|b| b as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "counter count"))
    }

    fn map(file: File, len: usize) -> io::Result<SharedCounters> {
        let bytes = Self::bytes(len)? as usize;
        // SAFETY: a new mapping chosen by the kernel (null hint) over `bytes` bytes of
        // a file at least that long; it aliases no Rust object. Failure is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<AtomicU64>()).ok_or_else(io::Error::last_os_error)?;
        Ok(SharedCounters { ptr, len, file })
    }

    /// The descriptor a child inherits (pass it to the child's `open_inherited`).
    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// How many counters.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: there is at least one counter.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Counter `i`. Panics if `i` is out of range.
    pub fn get(&self, i: usize) -> &AtomicU64 {
        assert!(i < self.len, "counter {i} of {}", self.len);
        // SAFETY: i < len, so the address is inside the mapping, 8-byte aligned (the
        // mapping is page-aligned); the mapping lives as long as `self`, and every
        // process touches this memory only through atomic operations.
        unsafe { &*self.ptr.as_ptr().add(i) }
    }
}

impl Drop for SharedCounters {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping `map` made, unmapped once; `&mut self` means no
        // reference from `get` is alive.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len * 8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Send` and `Sync` hold up: threads sharing one mapping by reference and one
    /// moved to another thread all count into the same counters.
    #[test]
    fn shared_counters_are_send_and_sync() {
        use std::sync::atomic::Ordering::SeqCst;
        let counters = SharedCounters::create(2).expect("memfd");
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        counters.get(1).fetch_add(1, SeqCst);
                    }
                });
            }
        });
        assert_eq!(counters.get(1).load(SeqCst), 4000);
        let moved = std::thread::spawn(move || {
            counters.get(0).fetch_add(1, SeqCst);
            counters
        });
        let back = moved.join().expect("join");
        assert_eq!((back.get(0).load(SeqCst), back.get(1).load(SeqCst)), (1, 4000));
    }

    /// Two mappings of one memfd (as a parent's and a child's would be) see each
    /// other's updates; a descriptor that is not the counters memfd, or has another
    /// size, is refused; dropping both unmaps without fault.
    #[test]
    fn shared_counters_are_shared() {
        use std::sync::atomic::Ordering::SeqCst;
        let parent = SharedCounters::create(3).expect("memfd");
        assert_eq!(parent.get(2).load(SeqCst), 0);
        parent.get(0).fetch_add(5, SeqCst);
        let child = SharedCounters::open_inherited(parent.fd(), 3).expect("open");
        assert_eq!(child.get(0).load(SeqCst), 5);
        child.get(2).fetch_add(7, SeqCst);
        assert_eq!(parent.get(2).load(SeqCst), 7);
        assert!(SharedCounters::open_inherited(parent.fd(), 4).is_err(), "wrong size");
        let plain = std::fs::File::open("/proc/self/stat").expect("a plain file");
        assert!(SharedCounters::open_inherited(plain.as_raw_fd(), 3).is_err(), "not ours");
        drop(child);
        assert_eq!(parent.get(0).load(SeqCst), 5, "still mapped after the other's munmap");
    }
}
