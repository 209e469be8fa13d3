//! One worker thread of a run: pin, open its share of the connections, meet the
//! other threads at the start line, then run its own mio event loop over the warm-up,
//! the measured phase and the drain, and hand back its [`Tally`]. Once per second of
//! the measured phase it sends its interval (a histogram and counters) to the
//! coordinator; nothing else is shared while traffic flows, except one relaxed load
//! of the stop flag per loop turn. A connection given up as unserved (no answer to
//! its first message within the connect timeout) is announced once per run through
//! [`Shared::on_unserved`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam::channel::Sender;
use mio::{Events, Poll};

use super::args::Config;
use super::clock::Clock;
use super::conn::Conn;
use super::connect::{connect_all, ConnectLimits};
use super::histogram::new_histogram;
use super::layout::ConnSpec;
use super::payload::Pattern;
use super::schedule::Schedule;
use super::served::FirstAnswers;
use super::start_line::StartLine;
use super::tally::{Interval, Tally};
use super::traffic::Book;
use crate::errno::errno_name;

/// Receive buffer per thread: large enough that one read drains a socket in the
/// common case.
const RBUF: usize = 64 << 10;
/// Send buffer per thread: messages up to this size are assembled and sent with one
/// send() (cheaper than writev's iovec import); larger ones use writev.
const SBUF: usize = 16 << 10;
/// Longest poll wait, so the stop flag is seen promptly.
const MAX_WAIT: Duration = Duration::from_millis(50);
/// One second in nanoseconds.
const SECOND: u64 = 1_000_000_000;

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

/// The body of one worker thread; returns what it measured.
pub fn run_worker(w: WorkerStart) -> Tally {
    let mut tally = Tally::new(w.specs.len() as u64);
    if let Some(core) = w.core {
        if !echod::pin::pin_current_thread(core) {
            eprintln!(
                "loadgen: worker {} could not be pinned to CPU {core}; running unpinned",
                w.index
            );
        }
    }
    let config = &w.config;
    let mut events = Events::with_capacity(1024);
    let mut poll = match Poll::new() {
        Ok(p) => Some(p),
        Err(e) => {
            for _ in &w.specs {
                tally.connect_failed(&errno_name(&e));
            }
            None
        }
    };
    let limits = ConnectLimits {
        rate_per_s: config.connect_rate.map(|r| r / config.threads as f64),
        timeout_ns: config.connect_timeout.as_nanos() as u64,
    };
    let mut conns = match poll.as_mut() {
        Some(p) => {
            connect_all(p, &mut events, &w.specs, limits, &w.clock, &w.shared.stop, &mut tally)
        }
        None => Vec::new(),
    };
    w.shared.established.fetch_add(tally.established, Ordering::Relaxed);
    let Some(timeline) = w.shared.start.arrive_and_wait() else {
        let _ = w.to_coordinator.send(WorkerMsg::Done(w.index));
        return tally;
    };
    let mut slots = 0u32;
    for c in conns.iter_mut().filter(|c| c.is_up()) {
        c.set_slot(slots);
        slots += 1;
    }
    let schedule = config.rate.map(|rate| {
        let total = w.shared.established.load(Ordering::Relaxed).max(1);
        let share = rate * f64::from(slots) / total as f64;
        Schedule::new(
            timeline.traffic_start_ns,
            timeline.measure_end_ns,
            share.max(1e-9),
            slots.into(),
        )
    });
    let mut book = Book {
        pattern: Pattern::new(config.size),
        rbuf: vec![0u8; RBUF],
        sbuf: vec![0u8; SBUF],
        sent_ns: vec![0u64; conns.len() * config.pipeline as usize],
        pipeline: config.pipeline.into(),
        schedule,
        timeline,
        clock: w.clock,
        draining: false,
        in_flight: 0,
        conns_up: slots.into(),
        served_up: 0,
        first: FirstAnswers::new(conns.len(), config.connect_timeout),
        tally,
        interval: Interval {
            index: 0,
            end_s: 0.0,
            conns_up: 0,
            served: 0,
            unserved: 0,
            latency: new_histogram(),
            msgs: 0,
            errors: 0,
        },
    };
    if let Some(poll) = poll.as_mut() {
        traffic_loop(poll, &mut events, &mut conns, &mut book, &w);
    }
    let mut tally = book.tally;
    tally.conns_up_at_end = conns.iter().filter(|c| c.is_up()).count() as u64;
    let _ = w.to_coordinator.send(WorkerMsg::Done(w.index));
    tally
}

/// Warm-up, measured phase and drain of one thread.
fn traffic_loop(
    poll: &mut Poll,
    events: &mut Events,
    conns: &mut [Conn],
    book: &mut Book,
    w: &WorkerStart,
) {
    let tl = book.timeline;
    let drain_ns = w.config.drain_timeout.as_nanos() as u64;
    // Slot -> connection index, for the open-loop schedule.
    let by_slot: Vec<usize> =
        conns.iter().enumerate().filter(|(_, c)| c.is_up()).map(|(i, _)| i).collect();
    let mut next_tick = tl.measure_start_ns + SECOND;
    let mut index = 0u64;
    let mut due_done = 0u64;
    let mut drain_end = u64::MAX;
    let mut stopped = false;
    // Closed loop: fill every pipeline at once.
    let now = book.clock.now_ns();
    if book.schedule.is_none() {
        for (i, c) in conns.iter_mut().enumerate() {
            book.fill(i, c, now, 0);
        }
    }
    loop {
        let now = book.clock.now_ns();
        if w.shared.stop.load(Ordering::Relaxed) {
            stopped = true;
            break;
        }
        if !book.draining && now >= tl.measure_end_ns {
            book.draining = true;
            drain_end = now + drain_ns;
        }
        if book.conns_up == 0 || (book.draining && (book.in_flight == 0 || now >= drain_end)) {
            break;
        }
        while now >= next_tick && next_tick < tl.measure_end_ns {
            let end_s = (next_tick - tl.measure_start_ns) as f64 / 1e9;
            book.flush_interval(index, end_s, |iv| {
                let _ = w.to_coordinator.send(WorkerMsg::Interval(w.index, iv));
            });
            index += 1;
            next_tick += SECOND;
        }
        if book.expire_unserved(conns, now) > 0
            && !w.shared.unserved_said.swap(true, Ordering::Relaxed)
        {
            (w.shared.on_unserved)(w.config.connect_timeout);
        }
        let mut wake = if book.draining { drain_end } else { next_tick.min(tl.measure_end_ns) };
        if let Some(deadline) = book.first.next_deadline() {
            wake = wake.min(deadline);
        }
        if let Some(s) = book.schedule.filter(|_| !book.draining) {
            let (n, due) = (s.conns(), s.due(now));
            // Each connection with newly due messages sends them (at most one pass).
            for m in due_done..due.min(due_done + n) {
                let i = by_slot[(m % n) as usize];
                book.fill(i, &mut conns[i], now, 0);
            }
            due_done = due_done.max(due);
            if let Some(t) = s.next_time(due) {
                wake = wake.min(t);
            }
        }
        let wait = Duration::from_nanos(wake.saturating_sub(now)).min(MAX_WAIT);
        if let Err(e) = poll.poll(events, Some(wait)) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            eprintln!("loadgen: worker {}: poll failed: {e}", w.index);
            break;
        }
        for ev in events.iter() {
            let i = ev.token().0;
            let closed = ev.is_read_closed() || ev.is_error();
            book.on_ready(i, &mut conns[i], ev.is_readable() || closed, closed);
        }
    }
    let now = book.clock.now_ns();
    // Echoes that never came, on connections still up: on a connection never
    // answered at all, it is unserved; on the others, those are timeouts.
    if !stopped && book.draining {
        if book.expire_unserved(conns, u64::MAX) > 0
            && !w.shared.unserved_said.swap(true, Ordering::Relaxed)
        {
            (w.shared.on_unserved)(w.config.connect_timeout);
        }
        book.tally.errors.timeout += book.in_flight;
        book.interval.errors += book.in_flight;
    }
    if now >= tl.measure_start_ns {
        let end = now.min(tl.measure_end_ns) - tl.measure_start_ns;
        book.flush_interval(index, end as f64 / 1e9, |iv| {
            let _ = w.to_coordinator.send(WorkerMsg::Interval(w.index, iv));
        });
    }
}
