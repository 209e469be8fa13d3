//! The phases of a run's traffic: the [`Timeline`] the coordinator gives every
//! worker at the start line, the [`Phase`] each worker's loop is in, and the
//! [`Seconds`] of the measured phase it reports one by one.
//!
//! Invariants: a worker's phase only moves forward — `WarmUp`, `Measure`,
//! `Drain { until }`, then one of the two ends, `Drained` or `Cut` — and once the
//! drain has begun no message starts, but what an open loop's schedule still owes
//! (messages intended before the end of the measured phase); the seconds reported are the whole
//! seconds of the measured phase, in order, then one last (partial) interval.

use std::time::Duration;

/// One second in nanoseconds.
const SECOND: u64 = 1_000_000_000;

/// Phase boundaries of the run, in run-clock nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeline {
    /// Traffic (warm-up) begins.
    pub traffic_start_ns: u64,
    /// The measured phase begins.
    pub measure_start_ns: u64,
    /// The measured phase ends; no message is intended at or after it.
    pub measure_end_ns: u64,
}

impl Timeline {
    /// Traffic from `now_ns`: `warmup`, then `duration` measured (each at most
    /// `MAX_DURATION` by its flag's rule; past u64 nanoseconds it saturates).
    pub fn starting_at(now_ns: u64, warmup: Duration, duration: Duration) -> Self {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let measure_start_ns = now_ns.saturating_add(ns(warmup));
        Self {
            traffic_start_ns: now_ns,
            measure_start_ns,
            measure_end_ns: measure_start_ns.saturating_add(ns(duration)),
        }
    }

    /// Whether `t` lies in the measured phase.
    #[inline]
    pub fn measured(&self, t: u64) -> bool {
        t >= self.measure_start_ns && t < self.measure_end_ns
    }
}

/// Where a worker's traffic loop stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Traffic flows, not recorded.
    WarmUp,
    /// Traffic flows and is recorded.
    Measure,
    /// The measured phase is over: no new message starts (an open loop sends the
    /// backlog its schedule still owes); the loop waits for it and the echoes in
    /// flight until `until` (run-clock ns).
    Drain {
        /// When the loop stops waiting.
        until: u64,
    },
    /// The loop ended in the drain (every echo in, its time up, no connection
    /// left, or the poll failed): echoes still awaited count as timeouts, and
    /// connections never answered as unserved.
    Drained,
    /// The loop ended before the drain (stopped, every connection lost, or the poll
    /// failed), or was stopped in it: what was measured is kept, nothing more is
    /// counted.
    Cut,
}

impl Phase {
    /// The phase at `now` on `timeline`, with `conns_up` connections up and
    /// `in_flight` echoes awaited; a drain lasts at most `drain_ns`.
    pub fn next(
        self,
        now: u64,
        timeline: &Timeline,
        drain_ns: u64,
        conns_up: u64,
        in_flight: u64,
    ) -> Phase {
        let phase = match self {
            Self::WarmUp | Self::Measure if now >= timeline.measure_end_ns => {
                Self::Drain { until: now.saturating_add(drain_ns) }
            }
            Self::WarmUp if now >= timeline.measure_start_ns => Self::Measure,
            other => other,
        };
        match phase {
            Self::Drain { until } if conns_up == 0 || in_flight == 0 || now >= until => {
                Self::Drained
            }
            Self::WarmUp | Self::Measure if conns_up == 0 => Self::Cut,
            other => other,
        }
    }

    /// The loop ends here for a reason of its own (the poll failed): in the drain
    /// it is drained, before it cut short.
    pub fn end(self) -> Phase {
        match self {
            Self::Drain { .. } | Self::Drained => Self::Drained,
            _ => Self::Cut,
        }
    }

    /// Whether the measured phase is over, so no new message starts (but an open
    /// loop's backlog).
    #[inline]
    pub fn draining(&self) -> bool {
        matches!(self, Self::Drain { .. } | Self::Drained)
    }

    /// Whether the loop has ended.
    #[inline]
    pub fn is_over(&self) -> bool {
        matches!(self, Self::Drained | Self::Cut)
    }
}

/// The seconds of the measured phase a worker has reported so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seconds {
    /// Index of the next second to report (0-based).
    index: u64,
    /// When it ends, in run-clock ns.
    ends_ns: u64,
}

impl Seconds {
    /// None reported yet: the first ends one second into the measured phase.
    pub fn new(timeline: &Timeline) -> Self {
        Self { index: 0, ends_ns: timeline.measure_start_ns + SECOND }
    }

    /// When the next second ends.
    pub fn next_ns(&self) -> u64 {
        self.ends_ns
    }

    /// The next second if it has ended by `now` (and ends within the measured
    /// phase): its index and its end in seconds since the measured phase began.
    pub fn ended(&mut self, now: u64, timeline: &Timeline) -> Option<(u64, f64)> {
        if now < self.ends_ns || self.ends_ns >= timeline.measure_end_ns {
            return None;
        }
        let second = (self.index, (self.ends_ns - timeline.measure_start_ns) as f64 / 1e9);
        self.index += 1;
        self.ends_ns += SECOND;
        Some(second)
    }

    /// The last, partial interval when the loop ends at `now`: its index and its
    /// end; `None` when the measured phase never began.
    pub fn last(&self, now: u64, timeline: &Timeline) -> Option<(u64, f64)> {
        (now >= timeline.measure_start_ns).then(|| {
            let end = now.min(timeline.measure_end_ns) - timeline.measure_start_ns;
            (self.index, end as f64 / 1e9)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TL: Timeline = Timeline {
        traffic_start_ns: 0,
        measure_start_ns: 100,
        measure_end_ns: 100 + 2 * SECOND + 500,
    };

    /// The phase moves forward only, through the drain to one of its two ends.
    #[test]
    fn phases_move_forward() {
        let p = Phase::WarmUp.next(50, &TL, 1_000, 4, 4);
        assert_eq!(p, Phase::WarmUp);
        let p = p.next(100, &TL, 1_000, 4, 4);
        assert_eq!(p, Phase::Measure);
        let end = TL.measure_end_ns;
        let p = p.next(end, &TL, 1_000, 4, 4);
        assert_eq!(p, Phase::Drain { until: end + 1_000 });
        assert!(p.draining() && !p.is_over());
        assert_eq!(p.next(end + 10, &TL, 1_000, 4, 2), p, "echoes still awaited");
        assert_eq!(p.next(end + 10, &TL, 1_000, 4, 0), Phase::Drained, "all echoed");
        assert_eq!(p.next(end + 1_000, &TL, 1_000, 4, 2), Phase::Drained, "time up");
        assert_eq!(p.next(end + 10, &TL, 1_000, 0, 0), Phase::Drained, "none left");
        assert_eq!(Phase::WarmUp.next(end, &TL, 0, 4, 4), Phase::Drained, "a late turn");
        assert_eq!(Phase::Measure.next(200, &TL, 1_000, 0, 0), Phase::Cut, "all lost");
        assert_eq!(Phase::Measure.end(), Phase::Cut);
        assert_eq!(p.end(), Phase::Drained);
        assert!(Phase::Cut.is_over() && !Phase::Cut.draining());
    }

    /// Whole seconds are reported in order while they end inside the measured
    /// phase; the last interval ends with the phase (or the loop).
    #[test]
    fn seconds_in_order_then_the_last() {
        let mut s = Seconds::new(&TL);
        assert_eq!(s.last(99, &TL), None, "the measured phase never began");
        assert_eq!(s.ended(100 + SECOND - 1, &TL), None);
        assert_eq!(s.ended(100 + 5 * SECOND, &TL), Some((0, 1.0)));
        assert_eq!(s.ended(100 + 5 * SECOND, &TL), Some((1, 2.0)));
        assert_eq!(s.ended(100 + 5 * SECOND, &TL), None, "the third ends past the phase");
        assert_eq!(s.next_ns(), 100 + 3 * SECOND);
        assert_eq!(s.last(100 + 5 * SECOND, &TL), Some((2, 2.0000005)));
    }
}
