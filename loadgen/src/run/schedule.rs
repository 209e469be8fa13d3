//! The open-loop schedule of one worker thread: its `n` live connections share a
//! rate of `rate` messages per second, interleaved. Message `m` of the thread is
//! intended at `start + m / rate` and belongs to connection `m % n` as that
//! connection's sequence number `m / n`; so every connection sends at `rate / n`, and
//! the intended time of any (connection, seq) is computed, never stored.
//! Latency is measured from that intended time (coordinated omission corrected).

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
