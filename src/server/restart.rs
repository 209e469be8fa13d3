//! When `--processes` restarts a child that died, and when it gives up: each child
//! may be restarted at most [`POLICY`]`.max_restarts` times within
//! [`POLICY`]`.window`, after a back-off that doubles with each recent death (100 ms,
//! 200 ms, 400 ms, ... at most 5 s). One more death within the window means the child
//! cannot stay up (a crash loop, not bad luck): the parent stops everything.
//!
//! Pure: it is given the times, so tests need no clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How restarts are paced and limited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Deaths older than this are forgotten.
    pub window: Duration,
    /// Restarts allowed within the window; the next death gives up.
    pub max_restarts: usize,
    /// The wait before the first restart in a window.
    pub first_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
}

/// The policy echod runs with.
pub const POLICY: RestartPolicy = RestartPolicy {
    window: Duration::from_secs(60),
    max_restarts: 3,
    first_delay: Duration::from_millis(100),
    max_delay: Duration::from_secs(5),
};

/// What to do about a death.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Start the child again after this long; it is restart `nth` within the window.
    RestartAfter {
        /// The back-off.
        delay: Duration,
        /// 1 for the first restart within the window.
        nth: usize,
    },
    /// Too many deaths within the window: `deaths`, this one included.
    GiveUp {
        /// Deaths within the window.
        deaths: usize,
    },
}

/// One child's recent deaths.
#[derive(Clone, Debug, Default)]
pub struct Deaths {
    /// When it died, oldest first, within the window.
    times: VecDeque<Instant>,
}

impl Deaths {
    /// Records a death at `now` and decides.
    pub fn record(&mut self, now: Instant, policy: &RestartPolicy) -> Decision {
        while self.times.front().is_some_and(|&t| now.saturating_duration_since(t) >= policy.window)
        {
            self.times.pop_front();
        }
        self.times.push_back(now);
        let deaths = self.times.len();
        if deaths > policy.max_restarts {
            return Decision::GiveUp { deaths };
        }
        let doublings = u32::try_from(deaths - 1).unwrap_or(u32::MAX).min(16);
        let delay = policy.first_delay.saturating_mul(1 << doublings).min(policy.max_delay);
        Decision::RestartAfter { delay, nth: deaths }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 100, 200, 400 ms, then the fourth death within a minute gives up.
    #[test]
    fn backs_off_then_gives_up() {
        let t0 = Instant::now();
        let mut d = Deaths::default();
        let ms = Duration::from_millis;
        assert_eq!(d.record(t0, &POLICY), Decision::RestartAfter { delay: ms(100), nth: 1 });
        assert_eq!(
            d.record(t0 + ms(10), &POLICY),
            Decision::RestartAfter { delay: ms(200), nth: 2 }
        );
        assert_eq!(
            d.record(t0 + ms(20), &POLICY),
            Decision::RestartAfter { delay: ms(400), nth: 3 }
        );
        assert_eq!(d.record(t0 + ms(30), &POLICY), Decision::GiveUp { deaths: 4 });
    }

    /// Deaths a window apart are each a first restart; the delay is capped.
    #[test]
    fn forgets_old_deaths_and_caps_the_delay() {
        let t0 = Instant::now();
        let mut d = Deaths::default();
        for i in 0..10 {
            let at = t0 + POLICY.window * i;
            assert_eq!(
                d.record(at, &POLICY),
                Decision::RestartAfter { delay: POLICY.first_delay, nth: 1 }
            );
        }
        let many = RestartPolicy { max_restarts: 100, ..POLICY };
        let mut d = Deaths::default();
        let last = (0..20).map(|_| d.record(t0, &many)).last().expect("20");
        assert_eq!(last, Decision::RestartAfter { delay: POLICY.max_delay, nth: 20 });
    }
}
