//! loadgen: the load generator for echo servers.
//!
//! # Layout
//!
//! - [`calibrate`]: the one-connection ping-pong recorded before each suite run.
//! - [`env`]: the machine fingerprint (kernel, CPU, limits, git revision).
//! - [`errno`]: errno names and a hint on what to change, for failed connects.
//! - [`limits`]: the connection budget (`Budget`: sources and processes a run needs)
//!   and the preflight (ports, descriptors, fan-out).
//! - [`merge`]: `loadgen merge`, the results of several agents (hosts) as one.
//! - [`netns`]: a private network namespace for the commands that change network
//!   settings (`ports`, `testbed`): re-executed inside, refused anywhere else.
//! - [`plot`]: SVG charts (plotters): percentile curves on HdrHistogram's log axis,
//!   x/y series; used by the report and by `compare --plot`.
//! - [`ports`]: `loadgen ports`, the four-tuple experiment in a private network namespace.
//! - [`report`]: the suite report: Markdown and SVG plots (plotters).
//! - [`result`]: the JSON result format (the schema compare and the suite read).
//! - [`suite_index`]: `suite.json`, the index of a suite run (the suite writes it,
//!   the report reads it).
//! - [`scenario`]: scenario names (`peers epoll_echo t=1 conns=1000`): written by
//!   the suite, read back by compare.
//! - [`run`]: one run: typed flags and config (and back to flags for another
//!   process: `RunArgs::to_args`), the preflight, connect phase, the per-thread event
//!   loops and their phases, verification of every echoed byte, latency recording, the
//!   live line, the summary; `run::processes` splits a run over processes, and
//!   `run::merge` merges results exactly (a split run's processes, or `loadgen
//!   merge`'s agents).
//! - [`suite`]: `loadgen suite`, the benchmark suite (plan, programs, servers, runner,
//!   outside clients and idle memory, `--base` builds side by side, `--confirm`,
//!   `build-base`, `--server` of your own).
//! - [`compare`]: `loadgen compare BASE NEW`, the CI verdict.
//! - [`testbed`]: `loadgen testbed`, several hosts on one machine: echod and K
//!   agents in network namespaces on a bridge (198.18.0.0/15), one start time, the
//!   agents' results merged into one, and the server's own view of the four-tuples.
//!
//! `src/main.rs` is thin: it parses the command line and dispatches.

pub mod calibrate;
pub mod compare;
pub mod env;
pub mod errno;
pub mod limits;
pub mod merge;
pub mod netns;
pub mod plot;
pub mod ports;
pub mod report;
pub mod result;
pub mod run;
pub mod scenario;
pub mod suite;
pub mod suite_index;
pub mod testbed;
