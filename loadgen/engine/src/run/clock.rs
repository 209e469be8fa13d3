//! The run clock: nanoseconds since one `Instant` shared by every thread of a run,
//! so times taken on different threads (phase boundaries, send and echo times)
//! compare directly and fit in a u64. And [`CpuWatch`], the process's CPU time over
//! the measured phase (with a watched server's and the machine's, `watch`), read through the project's one reader of /proc
//! ([`common::procfs`]).

use std::time::Instant;

use super::phase::Timeline;
use super::watch::{Reading, Spent, Watched};

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

/// The process's CPU time (user + system) over the measured phase, with the
/// watched server's and the machine's (`watch`): read when it begins and when it
/// ends (or when the run ends, if sooner).
#[derive(Clone, Debug, PartialEq)]
pub enum CpuWatch {
    /// The measured phase has not begun.
    Before,
    /// It runs; what was read when it began.
    During(Box<Reading>),
    /// It is over; what it took.
    After(Box<Spent>),
}

impl CpuWatch {
    /// Reads at whichever boundary of `timeline` `now` has passed.
    pub fn tick(&mut self, now: u64, timeline: &Timeline, watched: &Watched<'_>) {
        if *self == Self::Before && now >= timeline.measure_start_ns {
            *self = Self::During(Box::new(Reading::now(watched)));
        }
        if let Self::During(begun) = self {
            if now >= timeline.measure_end_ns {
                *self = Self::After(Box::new(Reading::now(watched).since(begun, watched)));
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

    /// What the measured phase took, read now if it has not ended yet.
    pub fn finish(self, watched: &Watched<'_>) -> Spent {
        match self {
            Self::Before => Spent::default(),
            Self::During(begun) => Reading::now(watched).since(&begun, watched),
            Self::After(spent) => *spent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The watch reads at the start and the end of the measured phase, in order;
    /// one ended early reads at once; one that never began has nothing.
    #[test]
    fn reads_over_the_measured_phase() {
        let tl = Timeline { traffic_start_ns: 0, measure_start_ns: 10, measure_end_ns: 20 };
        let me = [std::process::id()];
        let w = Watched { pids: &me, disturbed_above: 0.15, with_children: false };
        let mut cw = CpuWatch::Before;
        assert_eq!(cw.next_ns(&tl), 10);
        cw.tick(5, &tl, &w);
        assert_eq!(cw, CpuWatch::Before);
        cw.tick(10, &tl, &w);
        assert!(matches!(cw, CpuWatch::During(_)), "{cw:?}");
        assert_eq!(cw.next_ns(&tl), 20);
        let early = cw.clone().finish(&w);
        assert!(early.cpu_s.is_some_and(|s| s >= 0.0), "ended early");
        assert!(early.server.is_some_and(|s| s.cpu_s >= 0.0 && s.pids == me));
        cw.tick(25, &tl, &w);
        assert!(matches!(&cw, CpuWatch::After(s) if s.cpu_s.is_some_and(|c| c >= 0.0)), "{cw:?}");
        let mut both = CpuWatch::Before;
        both.tick(30, &tl, &Watched { pids: &[], disturbed_above: 0.15, with_children: true });
        let CpuWatch::After(spent) = both else { panic!("both boundaries in one tick") };
        assert!(spent.cpu_s.is_some() && spent.server.is_none() && spent.machine.is_some());
        assert_eq!(CpuWatch::Before.finish(&w), Spent::default());
    }
}
