//! The open-loop schedule of one worker thread: its `n` live connections share a
//! rate of `rate` messages per second, interleaved. Message `m` of the thread is
//! intended at `start + m / rate` and belongs to connection `m % n` as that
//! connection's sequence number `m / n`; so every connection sends at `rate / n`, and
//! the intended time of any (connection, seq) is computed, never stored.
//! Latency is measured from that intended time (coordinated omission corrected).
//! [`Pacer`] hands a thread's due messages to its connections (TCP) or flows (UDP).

use super::phase::Timeline;

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
        let m = ((now_ns - self.start_ns) as f64 / self.period_ns).floor() as u64 + 1;
        m.min(self.end_m)
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
}

impl Pacer {
    /// A pacer over `schedule`, whose slot `s` is connection `by_slot[s]`.
    pub fn new(schedule: Schedule, by_slot: Vec<usize>) -> Self {
        Self { schedule, by_slot, handed_out: 0 }
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
    }
}
