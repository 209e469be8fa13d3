//! A `--model uring` worker's part in `--max-held-bytes` and `--idle-timeout`.
//!
//! Held bytes: what the worker received and has not yet sent back (its chains'
//! bytes: the same bytes `pending_peak` counts per connection). The worker adds
//! the change to the process's shared total once per loop turn (one atomic
//! operation per turn, none per completion); when the total reaches the budget it
//! stops reading on every connection (each armed receive is cancelled, none is
//! armed again) and counts one pause in `held_pauses`; when the total is under the
//! budget again it arms them all. The total may pass the budget by what the
//! workers receive in the turn that reaches it (at most their pools, 8 MiB each).
//!
//! Idle connections: with `--idle-timeout T`, the worker sweeps its connections
//! every T/[`IDLE_SWEEPS`]; a connection that neither received nor sent a byte for
//! [`IDLE_SWEEPS`] + 1 sweeps in a row (between T and 1.25 T) is closed, counted
//! in `closed_idle`. A connection's idle count is one byte of it, reset by any
//! byte received or sent.

use std::time::{Duration, Instant};

use crate::server::counters::Counters;
use crate::server::held::HeldBytes;

/// Sweeps per `--idle-timeout`.
pub(crate) const IDLE_SWEEPS: u8 = 4;

/// What the worker does about reading after a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reading {
    /// Nothing changes.
    Same,
    /// The budget is spent: stop reading everywhere.
    Pause,
    /// The total is under the budget again: read everywhere.
    Resume,
}

/// One worker's share of the held-bytes budget, and its idle sweeps.
#[derive(Debug)]
pub(crate) struct Budget {
    /// The process's budget, shared by its workers.
    held: HeldBytes,
    /// What this worker has added to the shared total.
    published: u64,
    /// Reading is paused.
    paused: bool,
    /// How often connections are swept for idleness, and when next.
    sweeps: Option<(Duration, Instant)>,
}

impl Budget {
    /// A worker's share of `held`, sweeping for `--idle-timeout` `idle`.
    pub(crate) fn new(held: HeldBytes, idle: Option<Duration>) -> Budget {
        let sweeps = idle.map(|t| {
            let every = (t / u32::from(IDLE_SWEEPS)).max(Duration::from_millis(1));
            (every, Instant::now() + every)
        });
        Budget { held, published: 0, paused: false, sweeps }
    }

    /// After a turn: publishes that this worker holds `now` bytes, notes the peak,
    /// and says whether reading pauses or resumes (a pause counted once).
    pub(crate) fn settle(&mut self, now: u64, counters: &mut Counters) -> Reading {
        let total = match now.cmp(&self.published) {
            std::cmp::Ordering::Greater => self.held.hold(now - self.published),
            std::cmp::Ordering::Less => {
                self.held.release(self.published - now);
                self.held.total()
            }
            std::cmp::Ordering::Equal => self.held.total(),
        };
        self.published = now;
        counters.held_peak = counters.held_peak.max(total);
        match (self.paused, self.held.spent()) {
            (false, true) => {
                self.paused = true;
                counters.held_pauses += 1;
                Reading::Pause
            }
            (true, false) => {
                self.paused = false;
                Reading::Resume
            }
            _ => Reading::Same,
        }
    }

    /// Whether a sweep for idle connections is due now (and schedules the next).
    pub(crate) fn sweep_due(&mut self) -> bool {
        let Some((every, next)) = &mut self.sweeps else { return false };
        let now = Instant::now();
        if now < *next {
            return false;
        }
        *next = now + *every;
        true
    }

    /// How long the loop may wait: `other` (the accept pause), or less when a sweep
    /// or a paused budget (the other workers may give bytes back) needs a turn.
    pub(crate) fn timeout(&self, other: Option<Duration>) -> Option<Duration> {
        let sweep = self.sweeps.map(|(_, next)| next.saturating_duration_since(Instant::now()));
        let recheck = self.paused.then_some(PAUSED_RECHECK);
        [other, sweep, recheck].into_iter().flatten().min()
    }

    /// At the worker's end: gives back to the shared total what it still counts.
    pub(crate) fn release_all(&mut self) {
        self.held.release(self.published);
        self.published = 0;
    }
}

/// How often a paused worker looks at the shared total again when nothing else
/// wakes it (another worker's connections may have given bytes back).
const PAUSED_RECHECK: Duration = Duration::from_millis(10);

#[cfg(test)]
mod tests {
    use super::*;

    /// Reaching the budget pauses once (counted), staying over changes nothing,
    /// going under resumes; the peak is the total seen; two workers share it.
    #[test]
    fn pause_and_resume_on_the_shared_total() {
        let held = HeldBytes::new(100);
        let (mut a, mut b) = (Budget::new(held.clone(), None), Budget::new(held.clone(), None));
        let (mut ca, mut cb) = (Counters::default(), Counters::default());
        assert_eq!(a.settle(60, &mut ca), Reading::Same);
        assert_eq!(b.settle(50, &mut cb), Reading::Pause);
        assert_eq!(a.settle(70, &mut ca), Reading::Pause, "sees the shared total");
        assert_eq!(a.settle(70, &mut ca), Reading::Same);
        assert_eq!((ca.held_pauses, cb.held_pauses, cb.held_peak), (1, 1, 110));
        assert_eq!(ca.held_peak, 120);
        assert_eq!(b.settle(0, &mut cb), Reading::Resume, "70 of 100");
        assert_eq!(a.settle(70, &mut ca), Reading::Resume, "each worker resumes itself");
        a.release_all();
        assert_eq!(held.total(), 0);
    }

    /// Without an idle timeout nothing is swept and the wait is the other one; with
    /// one, a sweep is due a quarter of it later, and the wait is bounded by that.
    #[test]
    fn sweeps_every_quarter_timeout() {
        let held = HeldBytes::new(100);
        let mut none = Budget::new(held.clone(), None);
        assert!(!none.sweep_due());
        assert_eq!(none.timeout(Some(Duration::from_secs(3))), Some(Duration::from_secs(3)));
        assert_eq!(none.timeout(None), None);
        let mut some = Budget::new(held, Some(Duration::from_secs(40)));
        assert!(!some.sweep_due(), "not yet");
        let wait = some.timeout(None).expect("bounded");
        assert!(wait <= Duration::from_secs(10) && wait > Duration::from_secs(9), "{wait:?}");
        some.sweeps = Some((Duration::from_secs(10), Instant::now()));
        assert!(some.sweep_due());
        assert!(!some.sweep_due(), "the next one is 10 s away");
    }
}
