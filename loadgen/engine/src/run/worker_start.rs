//! What a worker thread of a run starts with and shares: its [`WorkerStart`] (its
//! connections, the settings, the clock), the [`Shared`] state of all threads (the
//! stop flag, the start line, the count of connections up, the unserved notice), and
//! the [`WorkerMsg`]s it sends the coordinator. Below both the worker's life
//! (`worker`) and its traffic loop (`traffic_loop`), which each take it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam::channel::Sender;

use super::clock::Clock;
use super::config::Config;
use super::layout::ConnSpec;
use super::start_line::StartLine;
use super::tally::Interval;

/// What the threads of a run share.
pub struct Shared {
    /// Set by Ctrl-C or the caller: stop now, keep what was measured.
    pub stop: Arc<AtomicBool>,
    /// The start line: workers arrive after their connect phase and wait for the
    /// coordinator's timeline (none: the run does not go ahead).
    pub start: StartLine,
    /// Connections up over all threads (complete at the first meeting).
    pub established: AtomicU64,
    /// Set by the first worker that gives a connection up as unserved.
    pub unserved_said: AtomicBool,
    /// Says so, once per run (stderr, or the parent of a split run), with the
    /// connect timeout.
    pub on_unserved: fn(Duration),
}

/// A message from a worker to the coordinator.
// One interval per worker per second: its size does not matter, and its histogram
// is on the heap already (boxing it would add an allocation, not save one).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum WorkerMsg {
    /// One finished interval of worker `.0`.
    Interval(usize, Interval),
    /// Worker `.0` sends nothing more.
    Done(usize),
}

/// What a worker thread needs to start.
pub struct WorkerStart {
    /// Index of this worker (0-based).
    pub index: usize,
    /// Core to pin to; `None`: unpinned.
    pub core: Option<usize>,
    /// This worker's connections.
    pub specs: Vec<ConnSpec>,
    /// The run's settings.
    pub config: Arc<Config>,
    /// The run clock.
    pub clock: Clock,
    /// Shared coordination state.
    pub shared: Arc<Shared>,
    /// Where its intervals, and its last word, go.
    pub to_coordinator: Sender<WorkerMsg>,
}

impl Shared {
    /// Says once per run that connections are found unserved, when `given_up` of
    /// them just were.
    pub fn unserved_found(&self, given_up: u64, timeout: Duration) {
        if given_up > 0 && !self.unserved_said.swap(true, Ordering::Relaxed) {
            (self.on_unserved)(timeout);
        }
    }
}

impl WorkerStart {
    /// Hands one finished interval of this worker to the coordinator (gone: no
    /// matter, the run is ending).
    pub fn send_interval(&self, iv: Interval) {
        let _ = self.to_coordinator.send(WorkerMsg::Interval(self.index, iv));
    }
}
