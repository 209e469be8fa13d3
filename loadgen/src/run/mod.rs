//! One load-generator run: flags -> [`Config`] -> [`run`] -> summary, files, exit code.
//!
//! # Layout
//!
//! - `args`: the flags ([`RunArgs`]) and their validation into a [`Config`];
//!   `command`: the binary's run ([`execute`]: signals, preflight, summary, files,
//!   exit code).
//! - `layout`: every connection's parameters (id, target, source address) and the
//!   split over worker threads.
//! - `connect`: one thread's connect phase (bounded window, rate, timeout, errnos).
//! - `worker`: one thread's life (pin, connect, start line, event loop, drain).
//! - `traffic`: per-readiness work: read, verify, record, send.
//! - `conn`: one connection's offsets; `payload`: the message layout and checks.
//! - `schedule`: the open-loop schedule (latency from intended send times).
//! - `served`: whether each established connection is served (answered once), and
//!   giving up the unserved.
//! - `start_line`: where the workers wait for the coordinator's word after connecting.
//! - `tally`: per-thread mergeable figures; `live`: per-second merge and line.
//! - `outcome`: figures -> [`RunResult`] and exit code; `summary`: the text on stdout;
//!   `output`: `--json` and `--hgrm`; `clock`: the run clock.
//! - `processes`: a run split over processes (the parent); `child`: a child's side
//!   and the wire between them; `scratch`: the split run's temporary folder.
//!
//! The coordinator (the caller of [`run`]) spawns the workers, waits for every
//! connect phase to end, sets the timeline (warm-up, measured phase), releases the
//! workers, prints the live line from their per-second intervals, and merges their
//! tallies at the end. Tests call [`run`] directly with a stop flag.

mod args;
mod child;
mod clock;
mod command;
mod conn;
mod connect;
mod layout;
mod live;
mod outcome;
pub mod output;
mod payload;
pub mod processes;
mod schedule;
mod scratch;
mod served;
mod start_line;
mod summary;
pub mod tally;
mod traffic;
mod worker;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use args::{Config, ConfigError, RunArgs};
pub use command::execute;
pub use payload::{Pattern, HEADER_LEN};
pub use summary::render as render_summary;
pub use tally::{Interval, Tally};

use crate::result::RunResult;
use start_line::{StartLine, Word};
use traffic::Timeline;
use worker::{Shared, WorkerMsg, WorkerStart};

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    /// The result as `--json` writes it (`command` empty: the caller's argv goes there).
    pub result: RunResult,
    /// Every thread's figures merged (nanosecond histograms, counters).
    pub tally: Tally,
    /// The merged per-second intervals of the measured phase (histograms included).
    pub intervals: Vec<Interval>,
    /// The exit code the figures call for (0, or 1: something wrong or missing).
    pub exit_code: u8,
    /// CPU seconds this process used during the measured phase (the generator's own
    /// cost; `None` where /proc cannot be read).
    pub cpu_s: Option<f64>,
}

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
    /// A worker thread panicked (a bug): its figures are lost.
    #[error("worker thread {0} panicked")]
    Panicked(usize),
    /// A histogram could not be serialized.
    #[error("{0}")]
    Histogram(String),
}

/// Runs the load described by `config` until it ends or `stop` is set; returns
/// what was measured. Never hangs: every phase is bounded by the config.
pub fn run(config: &Config, stop: Arc<AtomicBool>) -> Result<RunOutcome, RunError> {
    run_gated(config, stop, &mut |_| true)
}

/// [`run`] with a gate between the connect phase and the traffic: `gate` gets the
/// number of connections up and says whether to go on. A child of a split run uses
/// it to wait until every process has connected, so all measure the same window.
pub fn run_gated(
    config: &Config,
    stop: Arc<AtomicBool>,
    gate: &mut dyn FnMut(u64) -> bool,
) -> Result<RunOutcome, RunError> {
    config.check()?;
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    if let Ok(lim) = echod::sys::raise_nofile_limit() {
        if config.conns + 64 > lim.soft {
            eprintln!(
                "loadgen: --conns {} exceeds what RLIMIT_NOFILE allows ({}): connects beyond it fail with EMFILE",
                config.conns, lim.soft
            );
        }
    }
    let clock = clock::Clock::start();
    let shared = Arc::new(Shared {
        stop: stop.clone(),
        start: StartLine::new(),
        established: AtomicU64::new(0),
        unserved_said: AtomicBool::new(false),
        on_unserved: if config.forward_intervals { child::forward_unserved } else { served::say },
    });
    let config = Arc::new(config.clone());
    let (tx, rx) = crossbeam::channel::unbounded::<WorkerMsg>();
    let mut handles = Vec::with_capacity(config.threads);
    for index in 0..config.threads {
        let core = (!config.cores.is_empty()).then(|| echod::pin::core_for(index, &config.cores));
        let start = WorkerStart {
            index,
            core,
            specs: layout::worker_specs(&config, index),
            config: config.clone(),
            clock,
            shared: shared.clone(),
            to_coordinator: tx.clone(),
        };
        let name = match core {
            Some(c) => format!("loadgen-w{index}-cpu{c}"),
            None => format!("loadgen-w{index}"),
        };
        match std::thread::Builder::new().name(name).spawn(move || worker::run_worker(start)) {
            Ok(h) => handles.push(h),
            Err(source) => {
                // Release those already started without traffic, then report.
                stop.store(true, Ordering::Relaxed);
                shared.start.wait_for(handles.len());
                shared.start.release(Word::DoNotRun);
                for h in handles {
                    let _ = h.join();
                }
                return Err(RunError::Spawn { index, cause: source });
            }
        }
    }
    drop(tx);
    shared.start.wait_for(config.threads);
    let established = shared.established.load(Ordering::Relaxed);
    let gate_open = gate(established);
    let now = clock.now_ns();
    let measure_start_ns = now + config.warmup.as_nanos() as u64;
    let timeline = Timeline {
        traffic_start_ns: now,
        measure_start_ns,
        measure_end_ns: measure_start_ns + config.duration.as_nanos() as u64,
    };
    let go = established > 0 && gate_open && !stop.load(Ordering::Relaxed);
    if config.live {
        eprintln!(
            "loadgen: {established}/{} connections established in {}{}",
            config.conns,
            echod::units::fmt_micros(now as f64 / 1e3),
            if go {
                format!("; warm-up {:?}, then {:?} measured", config.warmup, config.duration)
            } else {
                String::new()
            }
        );
    }
    shared.start.release(if go { Word::Go(timeline) } else { Word::DoNotRun });
    let mut live = live::Live::new(config.threads, config.live, config.conns);
    if config.forward_intervals {
        live = live.forward_to(child::forward_interval);
    }
    // CPU time at the start and the end of the measured phase.
    let (mut cpu_a, mut cpu_b) = (None, None);
    while !live.all_done() {
        let now = clock.now_ns();
        if go && cpu_a.is_none() && now >= timeline.measure_start_ns {
            cpu_a = clock::process_cpu_s();
        }
        if go && cpu_b.is_none() && now >= timeline.measure_end_ns {
            cpu_b = clock::process_cpu_s();
        }
        let next =
            if cpu_a.is_none() { timeline.measure_start_ns } else { timeline.measure_end_ns };
        let wait = Duration::from_nanos(next.saturating_sub(now).clamp(1_000_000, 100_000_000));
        match rx.recv_timeout(wait) {
            Ok(msg) => live.on_msg(msg),
            Err(crossbeam::channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam::channel::RecvTimeoutError::Disconnected) => break,
        }
    }
    live.finish();
    let end_ns = clock.now_ns();
    if cpu_b.is_none() {
        cpu_b = clock::process_cpu_s();
    }
    let cpu_s = cpu_a.zip(cpu_b).map(|(a, b)| b - a);
    let mut tally = Tally::new(0);
    for (index, h) in handles.into_iter().enumerate() {
        let t = h.join().map_err(|_| RunError::Panicked(index))?;
        tally.merge(&t);
    }
    let measured_ns = if go {
        end_ns.min(timeline.measure_end_ns).saturating_sub(timeline.measure_start_ns)
    } else {
        0
    };
    let interrupted = stop.load(Ordering::Relaxed) || (go && end_ns < timeline.measure_end_ns);
    let mut result = outcome::build(outcome::Measured {
        config: &config,
        tally: &tally,
        measured_s: measured_ns as f64 / 1e9,
        series: live.series(),
        interrupted,
        started_at,
    })
    .map_err(RunError::Histogram)?;
    result.environment = crate::env::capture();
    result.client_cpu_s = cpu_s;
    let exit_code = outcome::exit_code(&tally);
    Ok(RunOutcome { result, tally, intervals: live.intervals, exit_code, cpu_s })
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
