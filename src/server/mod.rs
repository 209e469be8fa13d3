//! The echo server: bind every listener, run one pinned worker per core, shut down on
//! request. [`Server::bind`] binds and spawns nothing (so a caller can print the ready
//! line, or a test can read the port); [`Server::run`] spawns the workers and blocks
//! until a [`ShutdownHandle`] fires, then returns every worker's [`ServerStats`].
//!
//! Files: `flags` (the command line: parsed, turned into a config, written back as
//! arguments for the `--processes` children and other programs), `config` (validated
//! settings), `pool` (bind, spawn, supervise, shutdown), `base` (what every model's
//! worker has: poll, listener, waker, stats), `worker` (one event loop), `accept`
//! (the accept loop, EMFILE back-off), `limit` (a cap on places: `--max-conns`, one
//! count over every worker and process; `--max-threads`), `conn` (one connection's
//! state), `slab` (connections by token), `counters` (the one list of a worker's
//! counters: fields, JSON keys, totals, labels), `stats` (per-worker stats, published
//! live, and the report), `stats_file` (`--stats-json`: checked first, written last,
//! never lost), `shared` / `threads` (the comparison models; `threads` has its own
//! accept loop, `conn_thread` is one connection's thread, `thread_budget` how many
//! connection threads the machine allows), `uring` (`--model uring`: the reuseport
//! shape with a loop over each worker's own io_uring) and `processes` (the `--processes`
//! supervisor; `children` starts one child, `restart` paces restarts of children that
//! die); `program` is the echod program around them (signals, start-up lines, stats
//! at exit). `--proto udp|both`: `proto` (which protocols), `sockets` (every socket
//! a config asks for, TCP and UDP on one port number), `udp` (one worker's UDP loop:
//! batched echo, the loop guard), `udp_rate` (`--udp-rate-limit`, per source). What
//! bounds a peer: `held` (`--max-held-bytes`), `idle` (`--idle-timeout`'s sweeps),
//! `exposure` (the start-up line saying what echod answers and who can reach it),
//! `private_dir` (the `--processes` children's stats folder).

mod accept;
mod base;
mod children;
mod config;
mod conn;
mod conn_thread;
mod counters;
pub mod exposure;
mod flags;
mod held;
mod idle;
mod limit;
mod pool;
mod private_dir;
pub mod processes;
pub mod program;
mod proto;
mod restart;
mod shared;
mod slab;
mod sockets;
mod stats;
pub mod stats_file;
pub mod thread_budget;
mod threads;
mod udp;
mod udp_rate;
mod uring;
mod worker;

use std::io;
use std::net::SocketAddr;

pub use config::{Config, Model, SharedLimit, DEFAULT_UDP_RATE};
pub use counters::{CountedBy, Counter, Counters, Merge};
pub use flags::Flags;
pub use held::DEFAULT_MAX_HELD_BYTES;
pub use pool::{Server, ShutdownHandle, StatsHandle};
pub use proto::Proto;
pub use stats::{LiveStats, ServerStats, WorkerStats};
pub use uring::{probe as uring_probe, Features as UringFeatures};

/// Why the server could not start or stopped with an error. Messages name the flag
/// and the fix. An OS error appears once: either as the source (printed after the
/// message by `{:#}`) or inside the message, never both.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A setting is out of range.
    #[error("{0}")]
    Invalid(String),
    /// Something already listens on the port.
    #[error(
        "--port {port}: {addr} is already in use (another process listens there; if it \
         set SO_REUSEPORT the kernel would split the traffic with it silently): stop it, \
         choose another --port, or pass --allow-shared-port to share it on purpose"
    )]
    PortInUse {
        /// The port asked for.
        port: u16,
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The bind address is not assigned to this machine.
    #[error(
        "--bind {ip}: not an address of this machine ({cause}): use one assigned to a \
         local interface, e.g. 127.0.0.1 or 0.0.0.0"
    )]
    NotLocal {
        /// The address asked for.
        ip: std::net::IpAddr,
        /// The bind error: printed inside the message, before the fix, so it is not
        /// also the error's source (which would print it a second time).
        cause: io::Error,
    },
    /// Binding or listening failed otherwise.
    #[error("binding {addr} (--bind/--port)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The bind error.
        source: io::Error,
    },
    /// Creating an event loop or a waker failed (out of descriptors, usually).
    #[error("creating worker {worker}'s event loop")]
    Poll {
        /// Which worker.
        worker: usize,
        /// The error.
        source: io::Error,
    },
    /// `--model uring` cannot run here: io_uring is refused or too old.
    #[error("--model uring: {0}")]
    Uring(String),
    /// A worker thread could not be started.
    #[error("starting worker {worker}'s thread")]
    Spawn {
        /// Which worker.
        worker: usize,
        /// The error.
        source: io::Error,
    },
    /// A worker's event loop failed.
    #[error("worker {worker} failed")]
    Worker {
        /// Which worker.
        worker: usize,
        /// The error.
        source: io::Error,
    },
    /// A worker thread panicked.
    #[error("worker {worker} panicked")]
    Panicked {
        /// Which worker.
        worker: usize,
    },
    /// A `--processes` child failed to start or to get ready.
    #[error("worker process {index}: {what}")]
    Child {
        /// Which child (0-based).
        index: usize,
        /// What went wrong.
        what: String,
    },
    /// A `--processes` child kept dying: the parent stopped everything.
    #[error(
        "worker process {index} died {deaths} times within {window:?} (last: {last}); gave \
         up and stopped every process: see the lines above for why it dies"
    )]
    GaveUp {
        /// Which child.
        index: usize,
        /// Its deaths within the window.
        deaths: usize,
        /// The restart policy's window.
        window: std::time::Duration,
        /// How it died last.
        last: String,
    },
    /// A `--processes` child's stats could not be had at shutdown.
    #[error("worker process {index}: {what}")]
    ChildLost {
        /// Which child.
        index: usize,
        /// What is missing, and why.
        what: String,
    },
}

impl ServerError {
    /// Classifies a bind error for `addr`.
    pub(crate) fn from_bind(addr: SocketAddr, source: io::Error) -> ServerError {
        match source.raw_os_error() {
            Some(libc::EADDRINUSE) => ServerError::PortInUse { port: addr.port(), addr },
            Some(libc::EADDRNOTAVAIL) => ServerError::NotLocal { ip: addr.ip(), cause: source },
            _ => ServerError::Bind { addr, source },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every error that carries an OS error prints it once, as `tool: what: cause`
    /// would (anyhow's `{:#}` walks the source chain).
    #[test]
    fn os_error_printed_once() {
        let addr: SocketAddr = "10.9.9.9:1".parse().expect("addr");
        let os = || io::Error::from_raw_os_error(libc::EACCES);
        let all = [
            ServerError::from_bind(addr, io::Error::from_raw_os_error(libc::EADDRNOTAVAIL)),
            ServerError::from_bind(addr, os()),
            ServerError::Poll { worker: 1, source: os() },
            ServerError::Spawn { worker: 1, source: os() },
            ServerError::Worker { worker: 1, source: os() },
        ];
        for e in all {
            let line = format!("{:#}", anyhow::Error::from(e));
            assert_eq!(line.matches("os error").count(), 1, "{line}");
        }
    }
}
