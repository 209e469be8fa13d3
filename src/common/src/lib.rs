//! common: what every binary of the workspace shares — echod, loadgen and its
//! harness start processes, parse flags, read /proc, print numbers and pin threads
//! the same way, through this crate.
//!
//! # Layout
//!
//! - [`child`]: a child process under control (start pinned, die with the parent,
//!   lines read on threads, ready line, bounded waits, stop with grace): the one
//!   way every program here starts another.
//! - [`cli`]: one-line errors and exit codes shared by every binary.
//! - [`net`]: building sockets: SO_REUSEPORT listeners, probing a port, binding a
//!   source address without a port.
//! - [`pin`]: which cores threads are pinned to.
//! - [`procfs`]: what /proc says about a process (CPU time, RSS, descriptors, its
//!   descendants), the kernel's socket tables (`procfs::net`, /proc/net/tcp) and
//!   the scheduler's counts (`procfs::sched`: each thread's run time and context
//!   switches, the machine's CPU time): the one reader.
//! - [`signals`]: SIGINT and SIGTERM, caught the one way, and the one exit rule
//!   (128 + the signal: 130, 143).
//! - [`sys`]: the module allowed `unsafe`, one private file per concern: rlimits,
//!   socket options, processes (SIGTERM to one, death with the parent), counters in
//!   memory shared with child processes, batched datagram I/O
//!   (`recvmmsg`/`sendmmsg`), clocks.
//! - [`units`]: parsing sizes and durations; printing numbers by magnitude.

pub mod child;
pub mod cli;
pub mod net;
pub mod pin;
pub mod procfs;
pub mod signals;
pub mod sys;
pub mod units;
