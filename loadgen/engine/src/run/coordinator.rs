//! The coordinator of one process's run (the caller of [`measure`]): it spawns the
//! workers, waits at the start line until every connect phase is over, asks the
//! gate, sets the timeline (warm-up, measured phase) and gives the word, then
//! follows the workers' seconds into the live line while it reads its own CPU time
//! over the measured phase (and the watched server's and the machine's), and at the end merges their tallies into one
//! [`Measurement`]. Never hangs: every wait is bounded by the config, and a worker
//! that cannot start releases those already started without traffic.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crossbeam::channel::{Receiver, RecvTimeoutError, Sender};

use super::clock::Clock;
use super::config::Config;
use super::live::Live;
use super::outcome::Measurement;
use super::phase::Timeline;
use super::start_line::{StartLine, Word};
use super::tally::Tally;
use super::watch::CpuWatch;
use super::watch::{Spent, Watched};
use super::worker::{self, Shared, WorkerMsg, WorkerStart};
use super::{child, layout, served, start_at, traffic, udp, RunError};
use crate::result::Proto;

/// Runs the load described by `config` until it ends or `stop` is set, with a gate
/// between the connect phase and the traffic: `gate` gets the number of
/// connections up and says whether to go on (a child of a split run waits there
/// until every process has connected, so all measure the same window).
pub fn measure(
    config: &Config,
    stop: Arc<AtomicBool>,
    gate: &mut dyn FnMut(u64) -> bool,
) -> Result<Measurement, RunError> {
    config.check()?;
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    warn_past_nofile(config);
    let clock = Clock::start();
    let shared = Arc::new(Shared {
        stop,
        start: StartLine::new(),
        established: AtomicU64::new(0),
        unserved_said: AtomicBool::new(false),
        on_unserved: if config.forward_intervals { child::forward_unserved } else { served::say },
    });
    let config = Arc::new(config.clone());
    let (tx, rx) = crossbeam::channel::unbounded::<WorkerMsg>();
    let handles = spawn_workers(&config, clock, &shared, &tx)?;
    drop(tx);
    let (word, began_unix_s) = give_word(&config, &shared, clock, gate);
    let (live, spent, end_ns) = follow(&config, &rx, clock, word);
    let mut tally = Tally::new(0);
    for (index, h) in handles.into_iter().enumerate() {
        let joined = h.join().map_err(|p| RunError::Panicked { index, message: panic_text(&*p) });
        tally.merge(&joined?);
    }
    let (measured_ns, cut_short) = match word {
        Word::Go(tl) => (
            end_ns.min(tl.measure_end_ns).saturating_sub(tl.measure_start_ns),
            end_ns < tl.measure_end_ns,
        ),
        _ => (0, false),
    };
    // Cut short with nothing up is no interruption: a UDP run whose every flow
    // was refused never opened one (as a TCP run with nothing listening).
    let interrupted = shared.stop.load(Ordering::Relaxed) || (cut_short && tally.established > 0);
    Ok(Measurement {
        tally,
        intervals: live.intervals,
        measured_s: measured_ns as f64 / 1e9,
        interrupted,
        cpu_s: spent.cpu_s,
        server: spent.server,
        machine: spent.machine,
        started_at,
        clock: matches!(word, Word::Go(_)).then(|| {
            start_at::record(began_unix_s, config.warmup.as_secs_f64(), config.start_at.as_ref())
        }),
    })
}

/// What a panic said (its payload, when it is text).
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_string(),
        (_, Some(s)) => s.clone(),
        _ => "no message".to_string(),
    }
}

/// Says once, up front, when the connections cannot all get a descriptor.
fn warn_past_nofile(config: &Config) {
    if let Ok(lim) = common::sys::raise_nofile_limit() {
        if config.conns + 64 > lim.soft {
            eprintln!(
                "loadgen: --conns {} exceeds what RLIMIT_NOFILE allows ({}): connects beyond it fail with EMFILE",
                config.conns, lim.soft
            );
        }
    }
}

/// Starts one thread per worker, pinned and named (`loadgen-w3-cpu3`). If one
/// cannot start, those already started are released without traffic and joined.
fn spawn_workers(
    config: &Arc<Config>,
    clock: Clock,
    shared: &Arc<Shared>,
    tx: &Sender<WorkerMsg>,
) -> Result<Vec<JoinHandle<Tally>>, RunError> {
    let mut handles = Vec::with_capacity(config.threads);
    // One worker, monomorphised per transport: no branch on the protocol inside it.
    let body: fn(WorkerStart) -> Tally = match config.proto {
        Proto::Tcp => worker::run_worker::<traffic::Book>,
        Proto::Udp => worker::run_worker::<udp::Book>,
    };
    for index in 0..config.threads {
        let core = (!config.cores.is_empty()).then(|| common::pin::core_for(index, &config.cores));
        let start = WorkerStart {
            index,
            core,
            specs: layout::worker_specs(config, index),
            config: config.clone(),
            clock,
            shared: shared.clone(),
            to_coordinator: tx.clone(),
        };
        let name = match core {
            Some(c) => format!("loadgen-w{index}-cpu{c}"),
            None => format!("loadgen-w{index}"),
        };
        match std::thread::Builder::new().name(name).spawn(move || body(start)) {
            Ok(h) => handles.push(h),
            Err(cause) => {
                shared.stop.store(true, Ordering::Relaxed);
                let _ = shared.start.wait_for(handles.len());
                shared.start.release(Word::DoNotRun);
                for h in handles {
                    let _ = h.join();
                }
                return Err(RunError::Spawn { index, cause });
            }
        }
    }
    Ok(handles)
}

/// Waits until every worker has connected, asks the gate, waits for `--start-at`
/// if given, and gives the word: go on a timeline that starts now (warm-up, then
/// the measured phase), or do not run (nothing connected, the gate closed, or
/// stopped). The word, and the wall-clock time (Unix seconds) it was given.
fn give_word(
    config: &Config,
    shared: &Shared,
    clock: Clock,
    gate: &mut dyn FnMut(u64) -> bool,
) -> (Word, f64) {
    // A worker dead before the start line: no run (its join says why).
    let all_here = shared.start.wait_for(config.threads).is_ok();
    let established = shared.established.load(Ordering::Relaxed);
    let mut gate_open = all_here && gate(established);
    if let (Some(at), true) = (&config.start_at, gate_open && established > 0) {
        if config.live {
            let left = at.unix_s - start_at::now_unix_s();
            eprintln!("loadgen: {established} up; waiting {left:.1} s for --start-at {at}");
        }
        gate_open = start_at::wait_until(at, &shared.stop);
    }
    let now = clock.now_ns();
    let began_unix_s = start_at::now_unix_s();
    let go = established > 0 && gate_open && !shared.stop.load(Ordering::Relaxed);
    let word = if go {
        Word::Go(Timeline::starting_at(now, config.warmup, config.duration))
    } else {
        Word::DoNotRun
    };
    if config.live {
        eprintln!(
            "loadgen: {established}/{} {} established in {}{}",
            config.conns,
            config.proto.units(),
            common::units::fmt_micros(now as f64 / 1e3),
            if go {
                format!("; warm-up {:?}, then {:?} measured", config.warmup, config.duration)
            } else {
                String::new()
            }
        );
    }
    shared.start.release(word);
    (word, began_unix_s)
}

/// Follows the workers until every one is done: their seconds go into the live
/// line, and the CPU time (with the watched server's and the machine's) is read
/// as the measured phase begins and ends. Returns the live collector, what the
/// measured phase spent and when it ended.
fn follow(
    config: &Config,
    rx: &Receiver<WorkerMsg>,
    clock: Clock,
    word: Word,
) -> (Live, Spent, u64) {
    let mut live = Live::new(config.threads, config.live, config.conns, config.proto);
    if config.churn.is_some() {
        live = live.with_time_wait();
    }
    if config.forward_intervals {
        live = live.forward_to(child::forward_interval);
    }
    let watched = Watched {
        pids: &config.watch_pids,
        disturbed_above: config.disturbed_above,
        with_children: false,
    };
    let mut cpu = CpuWatch::Before;
    while !live.all_done() {
        let now = clock.now_ns();
        let next = match &word {
            Word::Go(timeline) => {
                cpu.tick(now, timeline, &watched);
                cpu.next_ns(timeline)
            }
            _ => u64::MAX,
        };
        let wait = Duration::from_nanos(next.saturating_sub(now).clamp(1_000_000, 100_000_000));
        match rx.recv_timeout(wait) {
            Ok(msg) => live.on_msg(msg),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    live.finish();
    let end_ns = clock.now_ns();
    (live, cpu.finish(&watched), end_ns)
}
