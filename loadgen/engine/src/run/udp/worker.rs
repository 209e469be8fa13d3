//! One worker thread of a UDP run: pin, open its share of the flows, meet the
//! other threads at the start line, run its own event loop over the warm-up, the
//! measured phase and the drain (`traffic_loop`), and hand back its [`Tally`] —
//! the TCP worker's life with flows for connections, sharing its start line,
//! phases, seconds, messages and tally.

use std::sync::atomic::Ordering;

use mio::{Events, Poll};

use super::super::phase::Timeline;
use super::super::tally::Tally;
use super::super::worker::pin;
use super::super::worker_start::{WorkerMsg, WorkerStart};
use super::book::Book;
use super::flow::Flow;
use super::open::open_all;
use super::traffic_loop;
use crate::errno::errno_name;

/// The body of one UDP worker thread; returns what it measured.
pub fn run_worker(w: WorkerStart) -> Tally {
    // First thing: a worker that dies before the start line leaves its seat.
    let seat = w.shared.start.seat();
    pin(&w);
    let mut tally = Tally::new(w.specs.len() as u64);
    let opened = open(&w, &mut tally);
    w.shared.established.fetch_add(tally.established, Ordering::Relaxed);
    let tally = match (seat.arrive_and_wait(), opened) {
        (Some(timeline), Some((mut poll, flows))) => traffic(&w, &mut poll, flows, timeline, tally),
        _ => tally,
    };
    let _ = w.to_coordinator.send(WorkerMsg::Done(w.index));
    tally
}

/// Opens the flows: a poll and this worker's flows, each up or dead; `None` when
/// no poll could be made (every flow then counts as failed).
fn open(w: &WorkerStart, tally: &mut Tally) -> Option<(Poll, Vec<Flow>)> {
    let poll = match Poll::new() {
        Ok(p) => p,
        Err(e) => {
            for _ in &w.specs {
                tally.connect_failed(&errno_name(&e));
            }
            return None;
        }
    };
    let c = &w.config;
    let rate = c.connect_rate.map(|r| r / c.threads as f64);
    let flows =
        open_all(&poll, &w.specs, c.size, c.pipeline, rate, &w.clock, &w.shared.stop, tally);
    Some((poll, flows))
}

/// The traffic on `timeline`; returns the thread's tally with the flows still up
/// at the end.
fn traffic(
    w: &WorkerStart,
    poll: &mut Poll,
    mut flows: Vec<Flow>,
    timeline: Timeline,
    tally: Tally,
) -> Tally {
    // Open loop: the flows up share the schedule, one slot each.
    let mut up = 0u32;
    for f in flows.iter_mut().filter(|f| f.is_up()) {
        f.set_slot(up);
        up += 1;
    }
    let registry = match poll.registry().try_clone() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen: worker {}: cannot use its poll: {e}", w.index);
            return tally;
        }
    };
    let established = w.shared.established.load(Ordering::Relaxed);
    let (n, clock) = (flows.len(), w.clock);
    let mut book = Book::new(&w.config, n, up, established, timeline, clock, registry, tally);
    let mut events = Events::with_capacity(1024);
    traffic_loop::run(poll, &mut events, &mut flows, &mut book, w);
    let mut tally = book.tally;
    tally.conns_up_at_end = flows.iter().filter(|f| f.is_up()).count() as u64;
    tally
}
