//! The run clock: nanoseconds since one `Instant` shared by every thread of a run,
//! so times taken on different threads (phase boundaries, send and echo times)
//! compare directly and fit in a u64. And [`CpuWatch`], the process's CPU time over
//! the measured phase, read through the project's one reader of /proc
//! ([`common::procfs`]).

use std::time::Instant;

use super::phase::Timeline;

/// Nanoseconds since the run's epoch.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// The instant every thread measures from.
    epoch: Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Self {
        Self { epoch: Instant::now() }
    }

    /// Nanoseconds since the epoch (vDSO `clock_gettime`, no syscall).
    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// The process's CPU time (user + system) over the measured phase: read when it
/// begins and when it ends (or when the run ends, if sooner).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CpuWatch {
    /// The measured phase has not begun.
    Before,
    /// It runs; the CPU seconds used when it began (`None`: /proc unreadable).
    During(Option<f64>),
    /// It is over; the CPU seconds it took.
    After(Option<f64>),
}

impl CpuWatch {
    /// Reads the CPU time at whichever boundary of `timeline` `now` has passed.
    pub fn tick(&mut self, now: u64, timeline: &Timeline) {
        if *self == Self::Before && now >= timeline.measure_start_ns {
            *self = Self::During(common::procfs::self_cpu_seconds());
        }
        if let Self::During(begun) = *self {
            if now >= timeline.measure_end_ns {
                *self = Self::After(used_since(begun));
            }
        }
    }

    /// When the next reading is due.
    pub fn next_ns(&self, timeline: &Timeline) -> u64 {
        match self {
            Self::Before => timeline.measure_start_ns,
            _ => timeline.measure_end_ns,
        }
    }

    /// The CPU seconds of the measured phase, read now if it has not ended yet.
    pub fn finish(self) -> Option<f64> {
        match self {
            Self::Before => None,
            Self::During(begun) => used_since(begun),
            Self::After(used) => used,
        }
    }
}

/// CPU seconds used since `begun` (a reading of the same counter).
fn used_since(begun: Option<f64>) -> Option<f64> {
    begun.zip(common::procfs::self_cpu_seconds()).map(|(a, b)| b - a)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The watch reads at the start and the end of the measured phase, in order;
    /// one ended early reads at once; one that never began has nothing.
    #[test]
    fn reads_over_the_measured_phase() {
        let tl = Timeline { traffic_start_ns: 0, measure_start_ns: 10, measure_end_ns: 20 };
        let mut w = CpuWatch::Before;
        assert_eq!(w.next_ns(&tl), 10);
        w.tick(5, &tl);
        assert_eq!(w, CpuWatch::Before);
        w.tick(10, &tl);
        assert!(matches!(w, CpuWatch::During(Some(_))), "{w:?}");
        assert_eq!(w.next_ns(&tl), 20);
        assert!(w.finish().is_some_and(|s| s >= 0.0), "ended early");
        w.tick(25, &tl);
        assert!(matches!(w, CpuWatch::After(Some(s)) if s >= 0.0), "{w:?}");
        let mut both = CpuWatch::Before;
        both.tick(30, &tl);
        assert!(matches!(both, CpuWatch::After(Some(_))), "both boundaries in one tick");
        assert_eq!(CpuWatch::Before.finish(), None);
    }
}
