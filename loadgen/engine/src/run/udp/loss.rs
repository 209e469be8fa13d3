//! When a datagram counts as lost: [`LossWatch`], one per worker thread. It keeps
//! the datagrams in flight in the order they were sent, and the timeout in force:
//! `--udp-timeout`, or by default an estimate from the round trips so far, 4 × their
//! p99 within [100 ms, 5 s] (1 s before the first answer), re-estimated at most
//! every 100 ms from a histogram of the answers' round trips (late answers to a
//! flow's latest loss too, so a server that slows down past the timeout raises
//! it). Each thread estimates its own: no lock.
//!
//! Invariant: the queue is in send order and one timeout applies to all, so the
//! datagrams expire in queue order and only the front is ever checked. Answered
//! datagrams stay in the queue until they reach the front (no search per answer);
//! the queue holds at most the datagrams sent within one timeout.

use std::collections::VecDeque;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::super::histogram::{new_histogram, record};
use super::flow::Window;

/// The shortest adaptive timeout.
pub const FLOOR: Duration = Duration::from_millis(100);
/// The longest adaptive timeout.
pub const CEILING: Duration = Duration::from_secs(5);
/// The adaptive timeout before the first answer.
pub const BEFORE_ANY: Duration = Duration::from_secs(1);
/// How many times the p99 round trip a datagram may take.
pub const P99_TIMES: u64 = 4;
/// How often the adaptive timeout is estimated again.
const EVERY_NS: u64 = 100_000_000;

/// The datagrams in flight of one thread, and the timeout in force.
pub struct LossWatch {
    /// (flow index, sequence number) of every datagram sent and not yet seen at
    /// the front, in send order.
    queue: VecDeque<(u32, u64)>,
    /// `--udp-timeout`, in nanoseconds; `None`: adaptive.
    fixed_ns: Option<u64>,
    /// The timeout in force, in nanoseconds.
    timeout_ns: u64,
    /// Adaptive: every answer's round trip so far.
    round_trips: Histogram<u64>,
    /// Adaptive: when the timeout is estimated next (run-clock ns).
    next_estimate_ns: u64,
}

impl LossWatch {
    /// A watch with `fixed` as the timeout, or an adaptive one (`None`), for
    /// about `in_flight` datagrams in flight at once.
    pub fn new(fixed: Option<Duration>, in_flight: usize) -> Self {
        let fixed_ns = fixed.map(|t| t.as_nanos() as u64);
        Self {
            queue: VecDeque::with_capacity(in_flight.max(16) * 2),
            fixed_ns,
            timeout_ns: fixed_ns.unwrap_or(BEFORE_ANY.as_nanos() as u64),
            round_trips: new_histogram(),
            next_estimate_ns: 0,
        }
    }

    /// The timeout in force, in nanoseconds.
    #[inline]
    pub fn timeout_ns(&self) -> u64 {
        self.timeout_ns
    }

    /// Datagram `seq` of flow `flow` was sent.
    #[inline]
    pub fn sent(&mut self, flow: usize, seq: u64) {
        self.queue.push_back((flow as u32, seq));
    }

    /// An answer came `round_trip_ns` after its datagram was sent.
    #[inline]
    pub fn answered(&mut self, round_trip_ns: u64) {
        if self.fixed_ns.is_none() {
            record(&mut self.round_trips, round_trip_ns);
        }
    }

    /// Adaptive: estimates the timeout again if it is time to, at `now`.
    pub fn update(&mut self, now: u64) {
        if self.fixed_ns.is_some() || now < self.next_estimate_ns || self.round_trips.is_empty() {
            return;
        }
        let p99 = self.round_trips.value_at_quantile(0.99);
        let (floor, ceiling) = (FLOOR.as_nanos() as u64, CEILING.as_nanos() as u64);
        self.timeout_ns = p99.saturating_mul(P99_TIMES).clamp(floor, ceiling);
        self.next_estimate_ns = now + EVERY_NS;
    }

    /// The next datagram lost by `now` (all still in flight, with `u64::MAX`):
    /// (flow index, sequence number). Forgets those answered on the way.
    pub fn next_lost(&mut self, now: u64, window: &Window) -> Option<(usize, u64)> {
        while let Some(&(flow, seq)) = self.queue.front() {
            let Some(slot) = window.in_flight(flow as usize, seq) else {
                self.queue.pop_front();
                continue;
            };
            if now.saturating_sub(slot.sent_ns) < self.timeout_ns {
                return None;
            }
            self.queue.pop_front();
            return Some((flow as usize, seq));
        }
        None
    }

    /// When the oldest datagram in flight runs out of time (once
    /// [`LossWatch::next_lost`] found none lost, the front is in flight).
    pub fn next_deadline(&self, window: &Window) -> Option<u64> {
        let &(flow, seq) = self.queue.front()?;
        let slot = window.in_flight(flow as usize, seq)?;
        Some(slot.sent_ns.saturating_add(self.timeout_ns))
    }
}

#[cfg(test)]
mod tests {
    use super::super::flow::Flow;
    use super::*;

    /// A flow on a real loopback socket (never used to send here).
    fn flow() -> Flow {
        let std = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        std.set_nonblocking(true).expect("nonblocking");
        Flow::up(mio::net::UdpSocket::from_std(std), 0)
    }

    /// Datagrams expire in send order after the timeout; answered ones are
    /// skipped; the deadline is the oldest in flight's.
    #[test]
    fn expires_in_order_skipping_answered() {
        let mut window = Window::new(2, 2);
        let mut flows = [flow(), flow()];
        let mut w = LossWatch::new(Some(Duration::from_nanos(100)), 4);
        for (i, at) in [(0, 10), (1, 20), (0, 30)] {
            let seq = flows[i].sent(window.of(i), at, true);
            w.sent(i, seq);
        }
        assert_eq!(w.next_deadline(&window), Some(110));
        assert_eq!(w.next_lost(109, &window), None);
        assert_eq!(w.next_lost(115, &window), Some((0, 0)));
        flows[0].lose(0, window.of(0));
        flows[1].lose(0, window.of(1)); // as if answered: no longer in flight
        assert_eq!(w.next_deadline(&window), None, "the front was answered");
        assert_eq!(w.next_lost(u64::MAX, &window), Some((0, 1)));
        assert_eq!(w.next_lost(u64::MAX, &window), None);
    }

    /// The adaptive timeout: 1 s before any answer, then 4 × p99 within its bounds.
    #[test]
    fn adaptive_timeout_follows_the_p99() {
        let mut w = LossWatch::new(None, 1);
        assert_eq!(w.timeout_ns(), 1_000_000_000);
        w.update(0);
        assert_eq!(w.timeout_ns(), 1_000_000_000, "no answer yet");
        w.answered(30_000);
        w.update(0);
        assert_eq!(w.timeout_ns(), 100_000_000, "4 × 30 µs is below the floor");
        for _ in 0..100 {
            w.answered(200_000_000);
        }
        w.update(50_000_000);
        assert_eq!(w.timeout_ns(), 100_000_000, "not yet estimated again");
        w.update(100_000_000);
        let t = w.timeout_ns();
        assert!((799_000_000..=801_000_000).contains(&t), "4 × 200 ms: {t}");
        for _ in 0..1_000 {
            w.answered(10_000_000_000);
        }
        w.update(u64::MAX / 2);
        assert_eq!(w.timeout_ns(), 5_000_000_000, "the ceiling");
    }
}
