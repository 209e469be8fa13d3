//! The benchmark harness behind `loadgen suite|compare|exact|ports|testbed|build-base`:
//! it starts servers and runs of the engine, and turns their results into reports
//! and verdicts.
//!
//! # Layout
//!
//! - [`suite`]: `loadgen suite`, the benchmark suite (plan, programs, servers, runner,
//!   outside clients and idle memory, `--base` builds side by side, `--confirm`,
//!   `build-base`, `--server` of your own).
//! - [`suite_index`]: `suite.json`, the index of a suite run (the suite writes it,
//!   the report reads it).
//! - [`report`]: the suite report: Markdown and SVG plots (plotters).
//! - [`compare`]: `loadgen compare BASE NEW`, the CI verdict.
//! - [`exact`]: `loadgen exact`, echod's own cost per message (instructions under
//!   callgrind, system calls, context switches), noise-free, with a verdict per build.
//! - [`plot`]: SVG charts (plotters): percentile curves on HdrHistogram's log axis,
//!   x/y series; used by the report and by `compare --plot`.
//! - [`table`]: Markdown tables (header, alignment, rows), for the report and compare.
//! - [`scenario`]: scenario names (`peers epoll_echo t=1 conns=1000`): written by
//!   the suite, read back by compare.
//! - [`calibrate`]: the one-connection ping-pong recorded before each suite run.
//! - [`ports`]: `loadgen ports`, the four-tuple experiment in a private network namespace.
//! - [`testbed`]: `loadgen testbed`, several hosts on one machine: echod and K
//!   agents in network namespaces on a bridge (198.18.0.0/15), one start time, the
//!   agents' results merged into one, and the server's own view of the four-tuples.
//! - [`netns`]: a private network namespace for the commands that change network
//!   settings (`ports`, `testbed`): re-executed inside, refused anywhere else.
//!
//! It builds on the engine (`engine`: runs and results), the server (`echod`: its
//! flags and models) and `common`.

pub mod calibrate;
pub mod compare;
pub mod exact;
pub mod netns;
pub mod plot;
pub mod ports;
pub mod report;
pub mod scenario;
pub mod suite;
pub mod suite_index;
pub mod table;
pub mod testbed;
