//! echod: a multi-core TCP and UDP echo server.
//!
//! Every accepted socket shares the listening port; the kernel tells connections
//! apart by the four-tuple (source IP, source port, destination IP, destination port).
//! echod runs one pinned worker thread per core, each with its own mio event loop and
//! its own SO_REUSEPORT listener on the one port, so the kernel spreads connections
//! over the workers by hashing that four-tuple.
//!
//! # Layout
//!
//! - [`server`]: the server. `flags` (the command line, and flags written back for
//!   a program that starts echod), `config` (validated settings), `pool` (bind every
//!   listener, spawn and supervise the workers), `base` (what every model's worker
//!   has: its poll, listener, waker and stats), `worker` (one worker's event loop),
//!   `accept` (the accept loop, the EMFILE back-off), `limit` (a cap: `--max-conns`,
//!   one count over every worker and process; `--max-threads`), `conn` (one
//!   connection's state: what is pending toward the peer), `slab` (connections by
//!   token), `counters` (the one list of a worker's counters), `stats` (per-worker
//!   stats, live and at exit), `stats_file` (the `--stats-json` report), `processes`
//!   (the `--processes` supervisor: P processes sharing the port, dead ones
//!   restarted; `children`, `restart`), and the alternative models (`shared`
//!   listener; `threads` per connection, with its own accept loop, `conn_thread`,
//!   capped by `thread_budget`) kept for comparison; `uring` (the reuseport shape
//!   over io_uring: its own loop, its kernel's features probed at start-up, and the
//!   ring and its buffers in `uring::ring`, the one place outside `sys` allowed
//!   `unsafe`); `program` runs the echod program (signals, start-up lines, stats at
//!   exit). `--proto udp|both`: `proto`, `sockets` (TCP and UDP on one port number),
//!   `udp` (a worker's UDP loop), `udp_rate` (per-source rate limit). Bounds on a
//!   peer: `held` (`--max-held-bytes`), `idle` (`--idle-timeout`), `exposure` (what
//!   echod answers, said at start), `private_dir` (children's stats folder).
//! - The primitives it shares with loadgen (child processes, CLI conventions,
//!   /proc, units, pinning, sockets, and the `unsafe` system calls) are the
//!   `common` crate (src/common).
//!
//! The binary `src/bin/echod.rs` only parses [`server::Flags`] and calls
//! [`server::program::run`]; tests drive the library directly. The
//! load generator lives in the `loadgen` crate of this workspace.

pub mod server;
