//! One load-generator run: flags -> [`Config`] -> [`run`] -> summary, files, exit code.
//!
//! # Layout
//!
//! - `args`: the flags ([`RunArgs`]) and the way back to them (`to_args`);
//!   `values`: their typed values and clap parsers, each value's rule once;
//!   `config`: the settings ([`Config`]) and the way between them and the flags;
//!   `command`: the binary's run ([`execute`]: signals, preflight, summary, files,
//!   exit code).
//! - `coordinator`: one process's run: spawn the workers, the start line's word,
//!   the live line, the CPU time, the merged `Measurement`;
//!   `start_line`: where the workers wait for the coordinator's word.
//! - `layout`: every connection's parameters (id, target, source address) and the
//!   split over worker threads.
//! - `worker_start`: what a worker thread starts with and shares, its messages.
//! - `transport`: what a transport (TCP connections, UDP flows) gives the one
//!   traffic engine; `worker`: one thread's life (pin, open, start line, traffic,
//!   last word) and `traffic_loop`: its event loop, both generic over the
//!   transport (monomorphised); `ledger`: the bookkeeping every transport keeps
//!   the same way; `phase`: the timeline, the loop's phase (warm-up, measure,
//!   drain, and how it ended) and its seconds.
//! - `tcp`: TCP as a transport; `connect`: its connect phase (bounded window,
//!   rate, timeout, errnos); `traffic`: its per-readiness work (read, verify,
//!   record, send); `conn`: one connection's state (its socket inside it) and
//!   offsets; `payload`: the message layout and checks.
//! - `udp`: UDP as a transport (`--proto udp`): flows (a connected UDP socket
//!   each), loss timeouts and the datagrams' fate; everything else is shared with
//!   TCP.
//! - `schedule`: the open-loop schedule (latency from intended send times);
//!   `start_at`: `--start-at` (agents on several hosts measure the same seconds)
//!   and the clock a result records.
//! - `served`: whether each established connection is served (answered once), and
//!   giving up the unserved.
//! - `tally`: per-thread mergeable figures (`counts`: its counters: errors, UDP
//!   datagrams, an open loop's schedule); `histogram`: their bounds and serde
//!   form; `live`: per-second merge and line; `clock`: the run clock and the CPU
//!   time of the measured phase; `watch`: a watched server's (`--watch-pid`)
//!   and the machine's CPU time over it.
//! - `outcome`: a measurement -> [`RunResult`](crate::result::RunResult) and exit
//!   code; `summary`: the text on stdout; `output`: `--json` and `--hgrm`.
//! - `processes`: a run split over processes (the parent); `child`: a child's side
//!   and the wire between them; `scratch`: the split run's temporary folder.
//!
//! Tests call [`run`] directly with a stop flag.

mod args;
mod child;
pub mod churn;
mod churn_book;
mod churn_outcome;
mod clock;
mod command;
mod config;
mod conn;
mod connect;
mod coordinator;
mod counts;
mod histogram;
mod layout;
mod ledger;
mod live;
pub mod merge;
pub mod merge_check;
mod outcome;
pub mod output;
mod payload;
mod phase;
pub mod processes;
mod schedule;
mod scheduler;
mod scratch;
mod served;
mod start_at;
mod start_line;
mod summary;
pub mod tally;
mod tcp;
mod traffic;
mod traffic_loop;
mod transport;
mod udp;
pub mod values;
mod watch;
mod worker;
mod worker_start;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub use crate::result::Proto;
pub use args::RunArgs;
pub use command::execute;
pub use config::ShardOf;
pub use config::{Config, ConfigError};
pub use histogram::histogram_bounds;
pub use outcome::RunOutcome;
pub use outcome::{build_from, Measurement};
pub use payload::{Pattern, HEADER_LEN};
pub use start_at::{now_unix_s, StartAt};
pub use summary::render as render_summary;
pub use tally::{Interval, Tally};
pub use values::{CoreList, Part, SourceList, Target};

/// A run that could not take place.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The settings are unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A worker thread could not be started.
    #[error("cannot start worker thread {index}: {cause}")]
    Spawn {
        /// Which worker.
        index: usize,
        /// Why: in the message, and so not a `source` (a chain printed with `{:#}`
        /// would say it twice).
        cause: std::io::Error,
    },
    /// A worker thread panicked (a bug): its figures are lost, and a run whose
    /// worker died before the start line does not go ahead.
    #[error("worker thread {index} panicked: {message}")]
    Panicked {
        /// Which worker.
        index: usize,
        /// What the panic said.
        message: String,
    },
    /// A histogram could not be serialized.
    #[error("{0}")]
    Histogram(String),
}

/// Runs the load described by `config` until it ends or `stop` is set; returns
/// what was measured. Never hangs: every phase is bounded by the config.
pub fn run(config: &Config, stop: Arc<AtomicBool>) -> Result<RunOutcome, RunError> {
    let measured = coordinator::measure(config, stop, &mut |_| true)?;
    RunOutcome::of(config, measured).map_err(RunError::Histogram)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker thread that cannot be started is one line with the OS's reason
    /// once, however the error is printed (the binary prints the chain, `{:#}`).
    #[test]
    fn spawn_error_gives_the_os_reason_once() {
        let source = std::io::Error::from_raw_os_error(libc::EAGAIN);
        let reason = source.to_string();
        let e = anyhow::Error::from(RunError::Spawn { index: 3, cause: source });
        for text in [format!("{e:#}"), format!("{e}")] {
            assert_eq!(text.matches(&reason).count(), 1, "{text}");
            assert!(text.contains("worker thread 3"), "{text}");
        }
    }
}
