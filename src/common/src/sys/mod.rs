//! The only module allowed `unsafe`: the few syscalls that neither std, socket2 nor
//! mio wrap, one file per concern (as mio's `sys/`). Every `unsafe` block in this
//! folder has a `// SAFETY:` comment and a test; callers get safe functions only,
//! at `common::sys::...`.
//!
//! - `rlimit`: RLIMIT_NOFILE (read it, raise the soft limit to the hard limit) and
//!   RLIMIT_NPROC (read it).
//! - `sockopt`: `IP_BIND_ADDRESS_NO_PORT`, so a source address is bound while the
//!   kernel picks the port at `connect()` time, per destination; `SO_MEMINFO`'s drop count
//!   (the datagrams dropped on a full receive queue).
//! - `mmsg`: [`Datagrams`], `recvmmsg`/`sendmmsg` over one preallocated batch (UDP
//!   echo, up to [`BATCH`] datagrams per system call).
//! - `pktinfo`: `IP_PKTINFO` / `IPV6_RECVPKTINFO`, each datagram's destination, so
//!   UDP echo answers none sent to a broadcast or multicast address.
//! - `process`: SIGTERM to one process, `PR_SET_PDEATHSIG` (a child dies with the
//!   thread that started it), the clock tick of /proc's CPU times.
//! - `clock`: the wall clock's synchronization state (`adjtimex`, read only).
//! - `shared_memory`: [`SharedCounters`], atomic counters in a memfd mapped
//!   `MAP_SHARED`, so `--processes` children count `--max-conns` in one total.
#![allow(unsafe_code)]

/// Calls `libc::$fn(args)`; a negative return is the error in errno
/// (`io::Error::last_os_error`), anything else is `Ok(return value)`: the
/// `rc != 0 → last_os_error` check written once, as mio's `syscall!`. It expands to
/// an `unsafe` call: the `// SAFETY:` comment sits on the line above each use.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        #[allow(unused_unsafe)]
        let rc = unsafe { libc::$fn($($arg),*) };
        if rc < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(rc)
        }
    }};
}

mod clock;
mod mmsg;
mod pktinfo;
mod process;
mod rlimit;
mod shared_memory;
mod sockopt;

pub use clock::{clock_sync, ClockSync};
pub use mmsg::{Datagrams, BATCH, DATAGRAM_SLOT};
pub use pktinfo::set_recv_destination;
pub use process::{clock_ticks_per_second, die_with_parent, signal, signal_group, terminate};
pub use rlimit::{nofile_limit, nproc_limit, raise_nofile_limit, NofileLimit};
pub use shared_memory::SharedCounters;
pub use sockopt::{bind_address_no_port, set_bind_address_no_port, socket_drops};
