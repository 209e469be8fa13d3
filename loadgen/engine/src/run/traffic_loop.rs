//! One worker's traffic loop: its own mio event loop over the warm-up, the measured
//! phase and the drain. Each turn moves the [`Phase`] on (the stop flag, the
//! timeline, the connections left and the echoes awaited decide it), reports the
//! seconds of the measured phase that ended ([`Seconds`]), gives up connections
//! left unanswered, in open loop sends what the schedule has made due ([`Pacer`]),
//! then polls and hands each readiness to the [`Book`]. The pacer runs in the
//! drain too: an open loop that fell behind sends its backlog there, and its
//! drain waits for it (a backlog message sent late in the drain gets what is left
//! of it, no more: the drain stays bounded). When the loop ends in the drain, the
//! echoes still awaited count as timeouts; an open loop counts what became of its schedule (how far
//! behind it was when the measured phase ended, the messages never sent); then
//! the last, partial second is reported.

use std::sync::atomic::Ordering;
use std::time::Duration;

use mio::{Events, Poll};

use super::conn::Conn;
use super::phase::{Phase, Seconds};
use super::schedule::Pacer;
use super::traffic::Book;
use super::worker_start::WorkerStart;

/// Longest poll wait, so the stop flag is seen promptly.
const MAX_WAIT: Duration = Duration::from_millis(50);

/// Runs the thread's traffic until its phase is over (see the module doc).
pub fn run(
    poll: &mut Poll,
    events: &mut Events,
    conns: &mut [Conn],
    book: &mut Book,
    w: &WorkerStart,
) {
    let timeline = book.timeline;
    let drain_ns = w.config.drain_timeout.as_nanos() as u64;
    let mut seconds = Seconds::new(&timeline);
    let mut pacer = book.schedule.map(|s| {
        // The connections up, in slot order.
        let by_slot = conns.iter().enumerate().filter(|(_, c)| c.is_up()).map(|(i, _)| i);
        Pacer::new(s, by_slot.collect())
    });
    if pacer.is_none() {
        // Closed loop: fill every pipeline at once.
        let now = book.clock.now_ns();
        for (i, c) in conns.iter_mut().enumerate() {
            book.fill(i, c, now, 0);
        }
    }
    loop {
        let now = book.clock.now_ns();
        book.phase = if w.shared.stop.load(Ordering::Relaxed) {
            Phase::Cut
        } else {
            let outstanding = book.in_flight + book.to_send;
            book.phase.next(now, &timeline, drain_ns, book.conns_up, outstanding)
        };
        if let Some(p) = pacer.as_mut() {
            let up = |i: usize| conns[i].is_up().then(|| conns[i].started());
            p.watch_end(now, &timeline, book.phase.is_over(), up);
        }
        if book.phase.is_over() {
            break;
        }
        while let Some((index, end_s)) = seconds.ended(now, &timeline) {
            book.flush_interval(index, end_s, |iv| w.send_interval(iv));
        }
        w.shared.unserved_found(book.expire_unserved(conns, now), w.config.connect_timeout);
        let mut wake = wake_at(book, &seconds);
        if let Some(pacer) = pacer.as_mut() {
            let next = pacer.pace(now, |i| book.fill(i, &mut conns[i], now, 0));
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
            let closed = ev.is_read_closed() || ev.is_error();
            book.on_ready(i, &mut conns[i], ev.is_readable() || closed, closed);
        }
    }
    settle(book, conns, w, &seconds);
    if let Some(p) = &pacer {
        let drained = book.phase == Phase::Drained;
        let now = book.clock.now_ns();
        book.tally.schedule = p.counts(now, &timeline, drained, |i| conns[i].started());
    }
}

/// When the loop must wake at the latest, the schedule aside: the end of the drain,
/// or the end of the current second or of the measured phase; or sooner, when a
/// connection's first answer runs out of time.
fn wake_at(book: &Book, seconds: &Seconds) -> u64 {
    let wake = match book.phase {
        Phase::Drain { until } => until,
        _ => seconds.next_ns().min(book.timeline.measure_end_ns),
    };
    book.first.next_deadline().map_or(wake, |deadline| wake.min(deadline))
}

/// The end of the loop. Drained: echoes that never came, on connections still up,
/// count — on a connection never answered at all, it is unserved; on the others,
/// those are timeouts. Then the last, partial second is reported.
fn settle(book: &mut Book, conns: &mut [Conn], w: &WorkerStart, seconds: &Seconds) {
    let now = book.clock.now_ns();
    if book.phase == Phase::Drained {
        w.shared.unserved_found(book.expire_unserved(conns, u64::MAX), w.config.connect_timeout);
        book.tally.errors.timeout += book.in_flight;
        book.interval.errors += book.in_flight;
    }
    if let Some((index, end_s)) = seconds.last(now, &book.timeline) {
        book.flush_interval(index, end_s, |iv| w.send_interval(iv));
    }
}
