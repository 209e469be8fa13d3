//! One worker's traffic loop, for every transport ([`Transport`]): its own mio
//! event loop over the warm-up, the measured phase and the drain. Each turn moves
//! the [`Phase`] on (the stop flag, the timeline, the endpoints left and the
//! messages awaited decide it), reports the seconds of the measured phase that
//! ended ([`Seconds`]), gives up what ran out of time (a TCP connection left
//! unanswered, a UDP datagram in flight: its flow sends on), in open loop sends
//! what the schedule has made due ([`Pacer`]), then polls and hands each readiness
//! to the transport's book. The drain lasts at least what the transport asks (UDP:
//! the loss timeout, so every datagram in flight gets its time). The pacer runs in
//! the drain too: an open loop that fell behind sends its backlog there, and its
//! drain waits for it (a backlog message sent late in the drain gets what is left
//! of it, no more: the drain stays bounded). When the loop ends in the drain, the
//! transport settles what was still awaited (TCP: timeouts and unserved
//! connections; UDP: lost datagrams and unserved flows); an open loop counts what
//! became of its schedule (how far behind it was when the measured phase ended,
//! the messages never sent); then the last, partial second is reported.

use std::sync::atomic::Ordering;
use std::time::Duration;

use mio::{Events, Poll};

use super::phase::{Phase, Seconds};
use super::schedule::Pacer;
use super::transport::Transport;
use super::worker_start::WorkerStart;

/// Longest poll wait, so the stop flag is seen promptly.
const MAX_WAIT: Duration = Duration::from_millis(50);

/// Runs the thread's traffic until its phase is over (see the module doc).
pub fn run<T: Transport>(
    poll: &mut Poll,
    events: &mut Events,
    ends: &mut [T::Endpoint],
    book: &mut T,
    w: &WorkerStart,
) {
    let timeline = book.ledger().timeline;
    let drain_timeout = w.config.drain_timeout.as_nanos() as u64;
    let mut seconds = Seconds::new(&timeline);
    let mut pacer = book.ledger().schedule.map(|s| {
        // The endpoints up, in slot order.
        let by_slot = ends.iter().enumerate().filter(|(_, e)| T::is_up(e)).map(|(i, _)| i);
        Pacer::new(s, by_slot.collect())
    });
    if pacer.is_none() {
        // Closed loop: fill every pipeline at once.
        let now = book.ledger().clock.now_ns();
        for (i, e) in ends.iter_mut().enumerate() {
            book.fill(i, e, now, 0);
        }
    }
    loop {
        let now = book.ledger().clock.now_ns();
        let drain_ns = book.drain_ns(now, drain_timeout);
        let pending = book.pending();
        let l = book.ledger_mut();
        l.phase = if w.shared.stop.load(Ordering::Relaxed) {
            Phase::Cut
        } else {
            l.phase.next(now, &timeline, drain_ns, l.up + pending, l.in_flight + l.to_send)
        };
        let over = l.phase.is_over();
        if let Some(p) = pacer.as_mut() {
            let up = |i: usize| T::is_up(&ends[i]).then(|| T::started(&ends[i]));
            p.watch_end(now, &timeline, over, up);
        }
        if over {
            break;
        }
        while let Some((index, end_s)) = seconds.ended(now, &timeline) {
            book.ledger_mut().flush_interval(index, end_s, |iv| w.send_interval(iv));
        }
        book.expire(ends, now, w);
        let mut wake = wake_at(book, &seconds);
        if let Some(pacer) = pacer.as_mut() {
            let next = pacer.pace(now, |i| book.fill(i, &mut ends[i], now, 0));
            wake = next.map_or(wake, |t| wake.min(t));
        }
        let wait = Duration::from_nanos(wake.saturating_sub(now)).min(MAX_WAIT);
        if let Err(e) = poll.poll(events, Some(wait)) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            eprintln!("loadgen: worker {}: poll failed: {e}", w.index);
            let l = book.ledger_mut();
            l.phase = l.phase.end();
            break;
        }
        for ev in events.iter() {
            let i = ev.token().0;
            book.on_event(i, &mut ends[i], ev);
        }
    }
    settle(book, ends, pacer.as_ref(), &seconds, w);
}

/// The end of the loop: drained, the transport counts what was still awaited; an
/// open loop counts what became of its schedule; then the last, partial second
/// is reported.
fn settle<T: Transport>(
    book: &mut T,
    ends: &mut [T::Endpoint],
    pacer: Option<&Pacer>,
    seconds: &Seconds,
    w: &WorkerStart,
) {
    let drained = book.ledger().phase == Phase::Drained;
    if drained {
        book.settle(ends, w);
    }
    let l = book.ledger_mut();
    if let Some(p) = pacer {
        let now = l.clock.now_ns();
        l.tally.schedule = p.counts(now, &l.timeline, drained, |i| T::started(&ends[i]));
    }
    if let Some((index, end_s)) = seconds.last(l.clock.now_ns(), &l.timeline) {
        l.flush_interval(index, end_s, |iv| w.send_interval(iv));
    }
}

/// When the loop must wake at the latest, the schedule aside: the end of the drain,
/// or the end of the current second or of the measured phase; or sooner, when
/// something runs out of time (see [`Transport::next_deadline`]).
fn wake_at<T: Transport>(book: &T, seconds: &Seconds) -> u64 {
    let l = book.ledger();
    let wake = match l.phase {
        Phase::Drain { until } => until,
        _ => seconds.next_ns().min(l.timeline.measure_end_ns),
    };
    book.next_deadline().map_or(wake, |deadline| wake.min(deadline))
}
