//! The run clock: nanoseconds since one `Instant` shared by every thread of a run,
//! so times taken on different threads (phase boundaries, send and echo times)
//! compare directly and fit in a u64. The readings over the measured phase that
//! are taken on this clock's times are `watch::CpuWatch`.

use std::time::Instant;

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
