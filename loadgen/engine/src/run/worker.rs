//! One worker thread of a run, for every transport ([`Transport`]): pin, open its
//! share of the endpoints (TCP connections, UDP flows), meet the other threads at
//! the start line, then run its own mio event loop over the warm-up, the measured
//! phase and the drain (`traffic_loop`), and hand back its [`Tally`]. Once per
//! second of the measured phase it sends its interval (a histogram and counters)
//! to the coordinator; nothing else is shared while traffic flows, except one
//! relaxed load of the stop flag per loop turn. A connection given up as unserved
//! (no answer to its first message within the connect timeout) is announced once
//! per run through [`Shared::on_unserved`].

use std::sync::atomic::Ordering;

use mio::{Events, Poll};

use super::ledger::Start;
use super::phase::Timeline;
use super::tally::Tally;
use super::traffic_loop;
use super::transport::Transport;
pub use super::worker_start::{Shared, WorkerMsg, WorkerStart};
use crate::errno::errno_name;

/// The body of one worker thread over transport `T`; returns what it measured.
pub fn run_worker<T: Transport>(w: WorkerStart) -> Tally {
    // First thing: a worker that dies before the start line leaves its seat.
    let seat = w.shared.start.seat();
    pin(&w);
    let mut tally = Tally::new(w.specs.len() as u64);
    let mut events = Events::with_capacity(1024);
    let opened = open::<T>(&w, &mut events, &mut tally);
    w.shared.established.fetch_add(tally.established, Ordering::Relaxed);
    let tally = match (seat.arrive_and_wait(), opened) {
        (Some(timeline), Some((mut poll, ends))) => {
            traffic::<T>(&w, &mut poll, &mut events, ends, timeline, tally)
        }
        _ => tally,
    };
    let _ = w.to_coordinator.send(WorkerMsg::Done(w.index));
    tally
}

/// Pins the thread to its core, if it has one; says so when the kernel refuses.
fn pin(w: &WorkerStart) {
    if let Some(core) = w.core {
        if !common::pin::pin_current_thread(core) {
            eprintln!(
                "loadgen: worker {} could not be pinned to CPU {core}; running unpinned",
                w.index
            );
        }
    }
}

/// The open phase: a poll and this worker's endpoints, each up or dead; `None`
/// when no poll could be made (every endpoint then counts as failed).
fn open<T: Transport>(
    w: &WorkerStart,
    events: &mut Events,
    tally: &mut Tally,
) -> Option<(Poll, Vec<T::Endpoint>)> {
    let mut poll = match Poll::new() {
        Ok(p) => p,
        Err(e) => {
            for _ in &w.specs {
                tally.connect_failed(&errno_name(&e));
            }
            return None;
        }
    };
    let ends = T::open(w, &mut poll, events, tally);
    Some((poll, ends))
}

/// The traffic on `timeline`: warm-up, measured phase and drain; returns the
/// thread's tally with the endpoints still up at the end.
fn traffic<T: Transport>(
    w: &WorkerStart,
    poll: &mut Poll,
    events: &mut Events,
    mut ends: Vec<T::Endpoint>,
    timeline: Timeline,
    tally: Tally,
) -> Tally {
    // Open loop: the endpoints up share the schedule, one slot each.
    let mut up = 0u32;
    for e in ends.iter_mut().filter(|e| T::is_up(e)) {
        T::set_slot(e, up);
        up += 1;
    }
    let established = w.shared.established.load(Ordering::Relaxed);
    let start = Start { endpoints: ends.len(), up, established, timeline, clock: w.clock };
    let mut book = match T::book(w, poll, &start, tally) {
        Ok(book) => book,
        Err(tally) => return *tally,
    };
    traffic_loop::run(poll, events, &mut ends, &mut book, w);
    book.close_all(&mut ends);
    let mut tally = book.into_ledger().tally;
    tally.conns_up_at_end = ends.iter().filter(|e| T::is_up(e)).count() as u64;
    tally
}
