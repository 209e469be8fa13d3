//! One UDP worker's traffic loop: its own mio event loop over the warm-up, the
//! measured phase and the drain. Each turn moves the [`Phase`] on (the stop flag,
//! the timeline, the flows left and the datagrams in flight decide it), reports
//! the seconds of the measured phase that ended ([`Seconds`]), gives up the
//! datagrams whose time ran out (their flows send on), in open loop sends what the
//! schedule has made due ([`Pacer`]), then polls and hands each readiness to the
//! [`Book`]. The drain lasts at least the loss timeout, so every datagram in
//! flight gets its time; the pacer runs in it too (an open loop that fell behind
//! sends its backlog there, and the drain waits for it; a backlog datagram sent
//! late in the drain gets what is left of it, no more: the drain stays bounded). When the loop ends in
//! it, those still in flight are lost and the flows never answered are unserved;
//! an open loop counts what became of its schedule (how far behind it was when
//! the measured phase ended, the datagrams never sent). Then the last, partial
//! second is reported.

use std::sync::atomic::Ordering;
use std::time::Duration;

use mio::{Events, Poll};

use super::super::phase::{Phase, Seconds};
use super::super::schedule::Pacer;
use super::super::worker_start::WorkerStart;
use super::book::Book;
use super::flow::Flow;

/// Longest poll wait, so the stop flag is seen promptly.
const MAX_WAIT: Duration = Duration::from_millis(50);

/// Runs the thread's traffic until its phase is over (see the module doc).
pub fn run(
    poll: &mut Poll,
    events: &mut Events,
    flows: &mut [Flow],
    book: &mut Book,
    w: &WorkerStart,
) {
    let timeline = book.timeline;
    let mut seconds = Seconds::new(&timeline);
    let mut pacer = book.schedule.map(|s| {
        // The flows up, in slot order.
        let by_slot = flows.iter().enumerate().filter(|(_, f)| f.is_up()).map(|(i, _)| i);
        Pacer::new(s, by_slot.collect())
    });
    if pacer.is_none() {
        // Closed loop: fill every window at once.
        let now = book.clock.now_ns();
        for (i, f) in flows.iter_mut().enumerate() {
            book.fill(i, f, now, 0);
        }
    }
    loop {
        let now = book.clock.now_ns();
        book.losses.update(now);
        let drain_ns = (w.config.drain_timeout.as_nanos() as u64).max(book.losses.timeout_ns());
        book.phase = if w.shared.stop.load(Ordering::Relaxed) {
            Phase::Cut
        } else {
            let outstanding = book.in_flight + book.to_send;
            book.phase.next(now, &timeline, drain_ns, book.flows_up, outstanding)
        };
        if let Some(p) = pacer.as_mut() {
            let up = |i: usize| flows[i].is_up().then_some(flows[i].send_seq);
            p.watch_end(now, &timeline, book.phase.is_over(), up);
        }
        if book.phase.is_over() {
            break;
        }
        while let Some((index, end_s)) = seconds.ended(now, &timeline) {
            book.flush_interval(index, end_s, |iv| w.send_interval(iv));
        }
        book.expire(flows, now);
        let mut wake = wake_at(book, &seconds);
        if let Some(pacer) = pacer.as_mut() {
            let next = pacer.pace(now, |i| book.fill(i, &mut flows[i], now, 0));
            wake = next.map_or(wake, |t| wake.min(t));
        }
        let wait = Duration::from_nanos(wake.saturating_sub(now)).min(MAX_WAIT);
        if let Err(e) = poll.poll(events, Some(wait)) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            eprintln!("loadgen: worker {}: poll failed: {e}", w.index);
            book.phase = book.phase.end();
            break;
        }
        for ev in events.iter() {
            let i = ev.token().0;
            let readable = ev.is_readable() || ev.is_error();
            book.on_ready(i, &mut flows[i], readable, ev.is_writable());
        }
    }
    settle(book, flows, pacer.as_ref(), &seconds, w);
}

/// The end of the loop: drained, the datagrams still in flight are lost and the
/// flows never answered unserved; an open loop counts what became of its
/// schedule; then the last, partial second is reported.
fn settle(
    book: &mut Book,
    flows: &mut [Flow],
    pacer: Option<&Pacer>,
    seconds: &Seconds,
    w: &WorkerStart,
) {
    let timeline = book.timeline;
    if book.phase == Phase::Drained {
        book.settle(flows);
    }
    if let Some(p) = pacer {
        let drained = book.phase == Phase::Drained;
        let now = book.clock.now_ns();
        book.tally.schedule = p.counts(now, &timeline, drained, |i| flows[i].send_seq);
    }
    if let Some((index, end_s)) = seconds.last(book.clock.now_ns(), &timeline) {
        book.flush_interval(index, end_s, |iv| w.send_interval(iv));
    }
}

/// When the loop must wake at the latest, the schedule aside: the end of the
/// drain, or the end of the current second or of the measured phase; or sooner,
/// when the oldest datagram in flight runs out of time.
fn wake_at(book: &Book, seconds: &Seconds) -> u64 {
    let wake = match book.phase {
        Phase::Drain { until } => until,
        _ => seconds.next_ns().min(book.timeline.measure_end_ns),
    };
    book.next_deadline().map_or(wake, |deadline| wake.min(deadline))
}
