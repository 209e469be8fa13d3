//! The bookkeeping every transport keeps the same way during the traffic phase:
//! the message pattern, the open-loop schedule, the timeline and clock, the
//! phase, what is in flight and still to send, the endpoints up and served, the
//! thread's tally and the current second's interval. A transport's book (TCP
//! connections in `traffic`, UDP flows in `udp::book`) holds one [`Ledger`] beside
//! what only it needs; the generic traffic loop reads and moves it.
//!
//! Invariants: `in_flight` counts messages started and not answered on endpoints
//! still up; `to_send` is 0 in a closed loop; `served_up <= up`.

use super::clock::Clock;
use super::config::Config;
use super::payload::Pattern;
use super::phase::{Phase, Timeline};
use super::schedule::Schedule;
use super::tally::{Interval, Tally};

/// The per-thread bookkeeping shared by every transport (see the module doc).
pub struct Ledger {
    /// Body bytes of every message.
    pub pattern: Pattern,
    /// Open loop: the schedule; `None` = closed loop.
    pub schedule: Option<Schedule>,
    /// Phase boundaries.
    pub timeline: Timeline,
    /// The run clock.
    pub clock: Clock,
    /// Where the thread's traffic stands; once it drains, only started messages
    /// are finished.
    pub phase: Phase,
    /// Messages in flight on live endpoints, over all of this thread's endpoints.
    pub in_flight: u64,
    /// Open loop: messages of the schedule not started yet, less those of the
    /// endpoints lost (never to be sent); 0 in a closed loop.
    pub to_send: u64,
    /// Endpoints (connections, flows) of this thread still up.
    pub up: u64,
    /// Of those, endpoints answered at least once.
    pub served_up: u64,
    /// The totals of this thread.
    pub tally: Tally,
    /// The current second of the measured phase.
    pub interval: Interval,
}

/// What a thread's bookkeeping starts from once its endpoints are open.
#[derive(Clone, Copy, Debug)]
pub struct Start {
    /// Endpoints of the thread, up or dead (one token each).
    pub endpoints: usize,
    /// Of those, the endpoints up (their slots `0..up`).
    pub up: u32,
    /// Endpoints up over the whole run (a thread's share of an open loop's
    /// rate is `up / established`).
    pub established: u64,
    /// Phase boundaries.
    pub timeline: Timeline,
    /// The run clock.
    pub clock: Clock,
}

impl Ledger {
    /// The bookkeeping of a thread starting from `start`; `tally` holds what its
    /// open phase counted.
    pub fn new(config: &Config, start: &Start, tally: Tally) -> Self {
        let Start { up, established, timeline, clock, .. } = *start;
        let schedule = config.rate.map(|r| Schedule::for_thread(r, up, established, &timeline));
        Self {
            pattern: Pattern::new(config.size),
            schedule,
            timeline,
            clock,
            phase: Phase::WarmUp,
            in_flight: 0,
            to_send: schedule.map_or(0, |s| s.total()),
            up: up.into(),
            served_up: 0,
            tally,
            interval: Interval::new(),
        }
    }

    /// Open loop: the schedule's messages of the endpoint at `slot`, `started` of
    /// them started, that will never be sent once it is lost.
    #[inline]
    pub fn unstarted(&self, slot: u32, started: u64) -> u64 {
        self.schedule.map_or(0, |s| s.due_for(u64::from(slot), s.total()).saturating_sub(started))
    }

    /// Hands the current interval to `send` and starts the next one.
    pub fn flush_interval(&mut self, index: u64, end_s: f64, send: impl FnOnce(Interval)) {
        // Same bounds on both sides: `add` cannot fail.
        let _ = self.tally.latency.add(&self.interval.latency);
        self.interval.index = index;
        self.interval.end_s = end_s;
        self.interval.conns_up = self.up;
        self.interval.served = self.served_up;
        send(self.interval.clone());
        self.interval.reset();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::histogram::record;
    use super::*;

    /// A second handed on carries the endpoints up and served, its latency joins
    /// the thread's and the next second starts empty; a closed loop has nothing to
    /// send nor unstarted, an open loop's endpoint lost after its first message
    /// leaves the rest of its share unsent.
    #[test]
    fn a_second_is_handed_on_and_unstarted_follows_the_schedule() {
        let mut config = Config::local_test("127.0.0.1:9".parse().expect("addr"), 4);
        let timeline = Timeline::starting_at(0, Duration::ZERO, Duration::from_secs(1));
        let clock = Clock::start();
        let start = Start { endpoints: 4, up: 3, established: 3, timeline, clock };
        let mut l = Ledger::new(&config, &start, Tally::new(4));
        assert_eq!((l.up, l.to_send, l.unstarted(0, 0)), (3, 0, 0));
        l.served_up = 2;
        record(&mut l.interval.latency, 1_000);
        let mut handed = None;
        l.flush_interval(7, 1.5, |iv| handed = Some(iv));
        let iv = handed.expect("the second is handed on");
        assert_eq!((iv.index, iv.end_s, iv.conns_up, iv.served), (7, 1.5, 3, 2));
        assert_eq!((iv.latency.len(), l.tally.latency.len(), l.interval.latency.len()), (1, 1, 0));
        config.rate = Some(300.0);
        let open = Ledger::new(&config, &start, Tally::new(4));
        let schedule = open.schedule.expect("an open loop has a schedule");
        assert_eq!(open.to_send, schedule.total());
        let share = schedule.due_for(0, schedule.total());
        assert!(share > 1, "{share}");
        assert_eq!(open.unstarted(0, 1), share - 1);
    }
}
