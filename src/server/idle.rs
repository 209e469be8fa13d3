//! `--idle-timeout`: which connections have moved no byte for that long. A worker
//! sweeps its connections every quarter of the timeout; each connection counts the
//! sweeps since it last read or wrote a byte (one `u8`, reset by any byte), and a
//! connection at [`SWEEPS_TO_CLOSE`] is closed and counted in `closed_idle`. So a
//! connection is closed after between the timeout and 1.25 times it of silence,
//! with no clock read and no timer per connection or per event.

use std::time::{Duration, Instant};

/// Sweeps a connection may sit through without a byte: the fifth sweep after its
/// last byte comes more than four quarters (the whole timeout) later.
pub(crate) const SWEEPS_TO_CLOSE: u8 = 5;

/// When a worker sweeps next.
#[derive(Debug)]
pub(crate) struct IdleSweep {
    /// A quarter of `--idle-timeout`.
    every: Duration,
    /// The next sweep.
    next: Instant,
}

impl IdleSweep {
    /// A sweep every quarter of `timeout`, or none without one.
    pub(crate) fn new(timeout: Option<Duration>) -> Option<IdleSweep> {
        let every = timeout?.checked_div(SWEEPS_TO_CLOSE as u32 - 1)?;
        Some(IdleSweep { every, next: Instant::now() + every })
    }

    /// How long the worker's poll may sleep before the next sweep.
    pub(crate) fn timeout(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }

    /// Whether a sweep is due now; if so, the next one is scheduled.
    pub(crate) fn due(&mut self) -> bool {
        let now = Instant::now();
        if now < self.next {
            return false;
        }
        self.next = now + self.every;
        true
    }
}

/// One connection's count of sweeps without a byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Idle(u8);

impl Idle {
    /// A byte moved: the count starts over.
    pub(crate) fn active(&mut self) {
        self.0 = 0;
    }

    /// A sweep: true when the connection has been idle long enough to close.
    pub(crate) fn swept(&mut self) -> bool {
        self.0 = self.0.saturating_add(1);
        self.0 >= SWEEPS_TO_CLOSE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fifth sweep without a byte closes; a byte starts the count over.
    #[test]
    fn fifth_quiet_sweep_closes() {
        let mut idle = Idle::default();
        for _ in 0..4 {
            assert!(!idle.swept());
        }
        idle.active();
        for _ in 0..4 {
            assert!(!idle.swept());
        }
        assert!(idle.swept());
        assert!(IdleSweep::new(None).is_none());
        let sweep = IdleSweep::new(Some(Duration::from_secs(4))).expect("a sweep");
        assert_eq!(sweep.every, Duration::from_secs(1));
    }
}
