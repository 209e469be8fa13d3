//! The load engine behind `loadgen`: one run, its result, and merges of results.
//!
//! # Layout
//!
//! - [`run`]: one run: typed flags and config (and back to flags for another
//!   process: `RunArgs::to_args`), the preflight, connect phase, the per-thread event
//!   loop and its phases (one loop and one worker, generic over the transport: TCP
//!   connections or UDP flows), verification of every echoed byte, latency
//!   recording, the live line, the summary; `run::processes` splits a run over processes, and
//!   `run::merge` merges results exactly (a split run's processes, or `loadgen
//!   merge`'s agents).
//! - [`merge`]: `loadgen merge`, the results of several agents (hosts) as one.
//! - [`result`]: the JSON result format (the schema compare and the suite read).
//! - [`limits`]: the connection budget (`Budget`: sources and processes a run needs)
//!   and the preflight (ports, descriptors, fan-out).
//! - [`env`]: the machine fingerprint (kernel, CPU, limits, git revision).
//! - [`errno`]: errno names and a hint on what to change, for failed connects.
//!
//! It builds on `common` (processes, flags, /proc, units); the harness (`suite`,
//! `compare`, `report`, `ports`, `testbed`) builds on it, and the `loadgen` binary
//! dispatches to both.

pub mod env;
pub mod errno;
pub mod limits;
pub mod merge;
pub mod result;
pub mod run;
