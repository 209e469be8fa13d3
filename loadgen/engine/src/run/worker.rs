//! One worker thread of a run: pin, open its share of the connections, meet the
//! other threads at the start line, then run its own mio event loop over the warm-up,
//! the measured phase and the drain (`traffic_loop`), and hand back its [`Tally`].
//! Once per second of the measured phase it sends its interval (a histogram and
//! counters) to the coordinator; nothing else is shared while traffic flows, except
//! one relaxed load of the stop flag per loop turn. A connection given up as
//! unserved (no answer to its first message within the connect timeout) is announced
//! once per run through [`Shared::on_unserved`].

use std::sync::atomic::Ordering;

use mio::{Events, Poll};

use super::conn::Conn;
use super::connect::{connect_all, ConnectLimits};
use super::phase::Timeline;
use super::tally::Tally;
use super::traffic::Book;
use super::traffic_loop;
pub use super::worker_start::{Shared, WorkerMsg, WorkerStart};
use crate::errno::errno_name;

/// The body of one worker thread; returns what it measured.
pub fn run_worker(w: WorkerStart) -> Tally {
    // First thing: a worker that dies before the start line leaves its seat.
    let seat = w.shared.start.seat();
    pin(&w);
    let mut tally = Tally::new(w.specs.len() as u64);
    let mut events = Events::with_capacity(1024);
    let opened = open(&w, &mut events, &mut tally);
    w.shared.established.fetch_add(tally.established, Ordering::Relaxed);
    let tally = match (seat.arrive_and_wait(), opened) {
        (Some(timeline), Some((mut poll, conns))) => {
            traffic(&w, &mut poll, &mut events, conns, timeline, tally)
        }
        _ => tally,
    };
    let _ = w.to_coordinator.send(WorkerMsg::Done(w.index));
    tally
}

/// Pins the thread to its core, if it has one; says so when the kernel refuses.
pub(super) fn pin(w: &WorkerStart) {
    if let Some(core) = w.core {
        if !common::pin::pin_current_thread(core) {
            eprintln!(
                "loadgen: worker {} could not be pinned to CPU {core}; running unpinned",
                w.index
            );
        }
    }
}

/// The connect phase: a poll and this worker's connections, each up or dead;
/// `None` when no poll could be made (every connection then counts as failed).
fn open(w: &WorkerStart, events: &mut Events, tally: &mut Tally) -> Option<(Poll, Vec<Conn>)> {
    let mut poll = match Poll::new() {
        Ok(p) => p,
        Err(e) => {
            for _ in &w.specs {
                tally.connect_failed(&errno_name(&e));
            }
            return None;
        }
    };
    let limits = ConnectLimits {
        rate_per_s: w.config.connect_rate.map(|r| r / w.config.threads as f64),
        timeout_ns: w.config.connect_timeout.as_nanos() as u64,
    };
    let conns = connect_all(&mut poll, events, &w.specs, limits, &w.clock, &w.shared.stop, tally);
    Some((poll, conns))
}

/// The traffic on `timeline`: warm-up, measured phase and drain; returns the
/// thread's tally with the connections still up at the end.
fn traffic(
    w: &WorkerStart,
    poll: &mut Poll,
    events: &mut Events,
    mut conns: Vec<Conn>,
    timeline: Timeline,
    tally: Tally,
) -> Tally {
    // Open loop: the connections up share the schedule, one slot each.
    let mut up = 0u32;
    for c in conns.iter_mut().filter(|c| c.is_up()) {
        c.set_slot(up);
        up += 1;
    }
    let established = w.shared.established.load(Ordering::Relaxed);
    let mut book = Book::new(&w.config, conns.len(), up, established, timeline, w.clock, tally);
    traffic_loop::run(poll, events, &mut conns, &mut book, w);
    let mut tally = book.tally;
    tally.conns_up_at_end = conns.iter().filter(|c| c.is_up()).count() as u64;
    tally
}
