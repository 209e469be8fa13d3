//! The open-loop schedule of one worker thread: its `n` live connections share a
//! rate of `rate` messages per second, interleaved. Message `m` of the thread is
//! intended at `start + m / rate` and belongs to connection `m % n` as that
//! connection's sequence number `m / n`; so every connection sends at `rate / n`, and
//! the intended time of any (connection, seq) is computed, never stored.
//! Latency is measured from that intended time (coordinated omission corrected).
//! [`Pacer`] hands a thread's due messages to its connections (TCP) or flows (UDP).
//!
//! Every message of the schedule is accounted for, however far behind the sender
//! runs: a connection sends its messages in sequence order, so "started" is one
//! count per connection, and the messages of the measured phase (by intended time)
//! that were never started by the end of the run are [`Pacer::unsent`]; how far
//! behind the sender is at a given time is [`Pacer::behind`].

use super::phase::Timeline;
use super::tally::ScheduleCounts;

/// One thread's fixed schedule.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// When message 0 is due, in run-clock nanoseconds.
    start_ns: u64,
    /// Nanoseconds between two messages of this thread.
    period_ns: f64,
    /// Live connections the schedule is spread over.
    n: u64,
    /// Messages intended before this bound (the end of the measured phase) exist.
    end_m: u64,
}

impl Schedule {
    /// `rate` messages per second over `n` connections from `start_ns`; no message
    /// is intended at or after `end_ns`.
    pub fn new(start_ns: u64, end_ns: u64, rate: f64, n: u64) -> Self {
        let period_ns = 1e9 / rate;
        let span = end_ns.saturating_sub(start_ns) as f64;
        let end_m = if n == 0 { 0 } else { (span / period_ns).ceil() as u64 };
        Self { start_ns, period_ns, n, end_m }
    }

    /// The schedule of a thread with `up` connections up out of `established`
    /// over the whole run: its share of `rate`, `up / established`, over the
    /// traffic of `timeline` (from its start to the end of the measured phase).
    pub fn for_thread(rate: f64, up: u32, established: u64, timeline: &Timeline) -> Self {
        let share = rate * f64::from(up) / established.max(1) as f64;
        let (start, end) = (timeline.traffic_start_ns, timeline.measure_end_ns);
        Self::new(start, end, share.max(1e-9), up.into())
    }

    /// Connections the schedule spreads over.
    pub fn conns(&self) -> u64 {
        self.n
    }

    /// Thread messages in the whole schedule (warm-up and measured phase).
    pub fn total(&self) -> u64 {
        self.end_m
    }

    /// Thread messages intended before `t_ns` (the index of the first intended at
    /// or after it), consistent with [`Schedule::time_of`] whatever the rounding.
    pub fn before(&self, t_ns: u64) -> u64 {
        if t_ns <= self.start_ns || self.end_m == 0 {
            return 0;
        }
        let guess = ((t_ns - self.start_ns) as f64 / self.period_ns).ceil();
        // A float past u64::MAX saturates; the loops below move a step or two.
        let mut m = (guess as u64).min(self.end_m);
        while m > 0 && self.time_of(m - 1) >= t_ns {
            m -= 1;
        }
        while m < self.end_m && self.time_of(m) < t_ns {
            m += 1;
        }
        m
    }

    /// Intended send time of thread message `m`.
    #[inline]
    pub fn time_of(&self, m: u64) -> u64 {
        self.start_ns + (m as f64 * self.period_ns) as u64
    }

    /// Intended send time of message `seq` of the connection at schedule slot `slot`.
    #[inline]
    pub fn intended(&self, slot: u64, seq: u64) -> u64 {
        self.time_of(seq * self.n + slot)
    }

    /// How many thread messages are due at `now_ns` (intended at or before it).
    #[inline]
    pub fn due(&self, now_ns: u64) -> u64 {
        if now_ns < self.start_ns {
            return 0;
        }
        let m = ((now_ns - self.start_ns) as f64 / self.period_ns).floor() as u64;
        m.saturating_add(1).min(self.end_m)
    }

    /// How many messages of the connection at `slot` are due when `due` thread
    /// messages are.
    #[inline]
    pub fn due_for(&self, slot: u64, due: u64) -> u64 {
        if due <= slot {
            0
        } else {
            (due - slot).div_ceil(self.n)
        }
    }

    /// When the next message after `due` ones is intended; `None` when the schedule
    /// has ended.
    pub fn next_time(&self, due: u64) -> Option<u64> {
        (due < self.end_m).then(|| self.time_of(due))
    }
}

/// Open loop: hands the schedule's due messages to their connections (or flows),
/// by index.
pub struct Pacer {
    /// The thread's schedule.
    schedule: Schedule,
    /// Slot -> connection index (the connections up, in slot order).
    by_slot: Vec<usize>,
    /// Thread messages of the schedule handed out so far.
    handed_out: u64,
    /// How far behind the thread was when the measured phase ended (messages,
    /// ns); `None` until then.
    behind_at_end: Option<(u64, u64)>,
}

impl Pacer {
    /// A pacer over `schedule`, whose slot `s` is connection `by_slot[s]`.
    pub fn new(schedule: Schedule, by_slot: Vec<usize>) -> Self {
        Self { schedule, by_slot, handed_out: 0, behind_at_end: None }
    }

    /// Calls `send(i)` once for each connection with newly due messages at `now`
    /// (at most one pass over the connections: `send` sends all that are due);
    /// returns when the next message is due.
    pub fn pace(&mut self, now: u64, mut send: impl FnMut(usize)) -> Option<u64> {
        let s = self.schedule;
        let (n, due) = (s.conns(), s.due(now));
        for m in self.handed_out..due.min(self.handed_out + n) {
            send(self.by_slot[(m % n) as usize]);
        }
        self.handed_out = self.handed_out.max(due);
        s.next_time(due)
    }

    /// The messages of the measured phase of `timeline` intended before `until_ns`
    /// (its end, or where the run was cut), and how many of them were never
    /// started, given the messages connection `i` started, `started(i)`: (scheduled,
    /// unsent). A connection lost on the way counts its messages never sent.
    pub fn unsent(
        &self,
        timeline: &Timeline,
        until_ns: u64,
        started: impl Fn(usize) -> u64,
    ) -> (u64, u64) {
        let s = &self.schedule;
        let lo = s.before(timeline.measure_start_ns);
        let hi = s.before(until_ns.min(timeline.measure_end_ns)).max(lo);
        let mut unsent = 0;
        for (slot, &i) in self.by_slot.iter().enumerate() {
            let slot = slot as u64;
            let (first, end) = (s.due_for(slot, lo), s.due_for(slot, hi));
            unsent += end.saturating_sub(started(i).max(first));
        }
        (hi - lo, unsent)
    }

    /// Call every loop turn: once the measured phase of `timeline` is over at
    /// `now_ns` (or the loop ends before, `over`), takes how far behind the thread
    /// is (see [`Pacer::behind`]), once.
    pub fn watch_end(
        &mut self,
        now_ns: u64,
        timeline: &Timeline,
        over: bool,
        started: impl Fn(usize) -> Option<u64>,
    ) {
        if self.behind_at_end.is_none() && (over || now_ns >= timeline.measure_end_ns) {
            self.behind_at_end = Some(self.behind(now_ns.min(timeline.measure_end_ns), started));
        }
    }

    /// The thread's figures when its loop ended at `now_ns`: `drained`, it ran
    /// to the end of its drain (its whole measured phase counts); otherwise it was
    /// cut at `now_ns`. `started(i)` as for [`Pacer::unsent`];
    /// [`Pacer::watch_end`] was called with the loop's last turn.
    pub fn counts(
        &self,
        now_ns: u64,
        timeline: &Timeline,
        drained: bool,
        started: impl Fn(usize) -> u64,
    ) -> ScheduleCounts {
        let until = if drained { u64::MAX } else { now_ns };
        let (scheduled, unsent) = self.unsent(timeline, until, started);
        let (behind_messages, behind_ns) = self.behind_at_end.unwrap_or((0, 0));
        ScheduleCounts { scheduled, unsent, behind_messages, behind_ns }
    }

    /// How far behind its schedule the thread is at `now_ns`: the messages due and
    /// not started on the connections still up (`started(i)`: `None` when
    /// connection `i` is gone), and how long ago the oldest of them was intended (0
    /// when there is none).
    pub fn behind(&self, now_ns: u64, started: impl Fn(usize) -> Option<u64>) -> (u64, u64) {
        let s = &self.schedule;
        let due = s.due(now_ns);
        let (mut backlog, mut oldest) = (0, u64::MAX);
        for (slot, &i) in self.by_slot.iter().enumerate() {
            let slot = slot as u64;
            let Some(started) = started(i) else { continue };
            let owed = s.due_for(slot, due);
            if started < owed {
                backlog += owed - started;
                oldest = oldest.min(s.intended(slot, started));
            }
        }
        (backlog, if backlog == 0 { 0 } else { now_ns.saturating_sub(oldest) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1000 msgs/s over 4 connections: each connection every 4 ms, interleaved;
    /// due counts match the intended times, and the schedule ends at its bound.
    #[test]
    fn interleaves_and_ends() {
        let s = Schedule::new(1_000, 1_000 + 10_000_000, 1000.0, 4);
        assert_eq!(s.time_of(0), 1_000);
        assert_eq!(s.intended(1, 0), 1_000 + 1_000_000);
        assert_eq!(s.intended(1, 2), 1_000 + 9_000_000);
        assert_eq!(s.due(999), 0);
        assert_eq!(s.due(1_000), 1);
        assert_eq!(s.due(1_000 + 2_500_000), 3);
        assert_eq!(s.due(u64::MAX / 2), 10);
        assert_eq!(s.due_for(0, 5), 2); // m = 0, 4
        assert_eq!(s.due_for(1, 5), 1); // m = 1
        assert_eq!(s.due_for(3, 3), 0);
        assert_eq!(s.next_time(10), None);
        assert_eq!(s.next_time(9), Some(1_000 + 9_000_000));
        for m in 0..10 {
            assert_eq!(s.intended(m % 4, m / 4), s.time_of(m));
        }
        assert_eq!(
            (s.total(), s.before(1_000), s.before(1_001), s.before(u64::MAX)),
            (10, 0, 1, 10)
        );
        for m in 1..10 {
            assert_eq!(s.before(s.time_of(m)), m, "message {m} is the first at its time");
        }
    }

    /// The largest schedule the flags allow (the highest rate over the longest
    /// warm-up and measured phase) stays inside u64 (a debug build panics on an
    /// overflow): one message per nanosecond, every count and time in range.
    #[test]
    fn the_largest_schedule_stays_in_range() {
        use crate::run::values::{MAX_DURATION, MAX_RATE};
        let end = 2 * MAX_DURATION.as_nanos() as u64;
        let s = Schedule::new(0, end, MAX_RATE, 1);
        assert_eq!(s.total(), end);
        assert_eq!((s.due(end), s.due(u64::MAX)), (end, end));
        assert_eq!((s.before(end), s.next_time(end)), (end, None));
        assert_eq!(s.intended(0, end - 1), end - 1);
        let tl = Timeline::starting_at(u64::MAX / 2, MAX_DURATION, MAX_DURATION);
        assert!(tl.measure_end_ns > tl.measure_start_ns, "{tl:?}");
    }

    /// A sender that fell behind: every message of the measured phase is either
    /// started or unsent, wherever the warm-up ends, and how far behind it is
    /// counts only the connections still up.
    #[test]
    fn unsent_and_behind_account_for_every_message() {
        // 1000 msgs/s over 2 connections, 4 ms of warm-up then 6 ms measured.
        let tl = Timeline {
            traffic_start_ns: 0,
            measure_start_ns: 4_000_000,
            measure_end_ns: 10_000_000,
        };
        let s = Schedule::new(0, tl.measure_end_ns, 1000.0, 2);
        let pacer = Pacer::new(s, vec![5, 9]);
        // Messages 4..10 are measured: seqs 2, 3, 4 of each connection.
        assert_eq!(pacer.unsent(&tl, u64::MAX, |_| 0), (6, 6), "nothing sent");
        assert_eq!(pacer.unsent(&tl, u64::MAX, |_| 5), (6, 0), "everything sent");
        assert_eq!(pacer.unsent(&tl, u64::MAX, |i| if i == 5 { 3 } else { 1 }), (6, 5));
        assert_eq!(pacer.unsent(&tl, 6_000_000, |_| 0), (2, 2), "cut at 6 ms");
        assert_eq!(pacer.unsent(&tl, 1_000, |_| 0), (0, 0), "cut in the warm-up");
        // At 7 ms, 8 messages are due (4 each); connection 5 started 1, 9 is gone.
        let (backlog, behind) = pacer.behind(7_000_000, |i| (i == 5).then_some(1));
        assert_eq!((backlog, behind), (3, 7_000_000 - s.intended(0, 1)));
        assert_eq!(pacer.behind(7_000_000, |_| Some(4)), (0, 0));
    }
}
