//! Whether each established connection is *served*: answered at least once. The
//! kernel completes a handshake whether or not the server ever accepts the
//! connection (a server at its descriptor limit leaves it in the accept queue), so
//! "established" alone says nothing about the server. A connection whose first
//! message has had no answer for the connect timeout is *unserved*: the worker
//! closes it and counts it at once, never as timeouts at the end of the run.
//!
//! [`FirstAnswers`] watches the connections awaiting their first answer. Invariant:
//! its queue holds them in the order their first message went out, so deadlines
//! never decrease and only the front is ever checked (amortized O(1) per loop turn;
//! no allocation after the start, except under churn, where a watch stays queued
//! until it reaches the front).

use std::collections::VecDeque;
use std::time::Duration;

use super::conn::Conn;

/// The connections of one worker awaiting their first answer.
#[derive(Debug)]
pub struct FirstAnswers {
    /// (connection index, its slot's generation, deadline in run-clock ns), in
    /// order of deadline.
    waiting: VecDeque<(usize, u32, u64)>,
    /// How long a first message may wait for its answer (the connect timeout).
    timeout_ns: u64,
}

impl FirstAnswers {
    /// A watch over up to `conns` connections with the given patience.
    pub fn new(conns: usize, timeout: Duration) -> Self {
        Self { waiting: VecDeque::with_capacity(conns), timeout_ns: timeout.as_nanos() as u64 }
    }

    /// Connection `i` (of its slot's `generation`: 0 without churn) sent its first
    /// message at `now_ns`.
    #[inline]
    pub fn sent(&mut self, i: usize, generation: u32, now_ns: u64) {
        self.waiting.push_back((i, generation, now_ns.saturating_add(self.timeout_ns)));
    }

    /// When the next connection runs out of patience, if one waits.
    pub fn next_deadline(&self) -> Option<u64> {
        self.waiting.front().map(|&(_, _, deadline)| deadline)
    }

    /// Hands every connection whose first answer is overdue at `now_ns` (all of
    /// them, with `now_ns = u64::MAX`) to `give_up` with its index; forgets those
    /// answered or gone, and the watches of a slot's earlier connection (its
    /// generation moved on: `generation(i)` is the slot's current one).
    pub fn expire(
        &mut self,
        now_ns: u64,
        conns: &mut [Conn],
        generation: impl Fn(usize) -> u32,
        mut give_up: impl FnMut(usize, &mut Conn),
    ) {
        while let Some(&(i, watched, deadline)) = self.waiting.front() {
            let c = &mut conns[i];
            if c.is_up() && !c.answered() && generation(i) == watched {
                if now_ns < deadline {
                    break;
                }
                give_up(i, c);
            }
            self.waiting.pop_front();
        }
    }
}

/// Why a connection counts as unserved, and what may cause it.
pub fn why(timeout: Duration) -> String {
    format!(
        "no answer to the first message within {} (--connect-timeout): the server may be at \
         its descriptor limit (RLIMIT_NOFILE), or its accept queue full",
        humantime::format_duration(timeout)
    )
}

/// Tells the user, on stderr, that connections are found unserved: called once per
/// run (by a process on its own, or by the parent of a split run).
pub fn say(timeout: Duration) {
    eprintln!(
        "loadgen: connections are established but not served: {}; each is closed and counted \
         as unserved (said once)",
        why(timeout)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Overdue connections are given up in order; answered ones are forgotten.
    #[test]
    fn expires_in_order() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut conns: Vec<Conn> =
            (0..3).map(|id| crate::run::conn::up_for_test(id, &listener)).collect();
        conns[1].recv_off = 1; // answered
        let mut w = FirstAnswers::new(3, Duration::from_nanos(100));
        for i in 0..3 {
            w.sent(i, 0, i as u64 * 10);
        }
        assert_eq!(w.next_deadline(), Some(100));
        let mut gone = Vec::new();
        let first = |_: usize| 0;
        w.expire(99, &mut conns, first, |_, c| gone.push(c.id));
        assert!(gone.is_empty());
        w.expire(115, &mut conns, first, |_, c| gone.push(c.id));
        assert_eq!(gone, [0]);
        assert_eq!(w.next_deadline(), Some(120));
        w.expire(u64::MAX, &mut conns, first, |_, c| gone.push(c.id));
        assert_eq!(gone, [0, 2]);
        assert_eq!(w.next_deadline(), None);
    }

    /// A watch of a slot's earlier connection (churn: the slot's generation moved
    /// on) never gives up the connection now in the slot.
    #[test]
    fn an_earlier_generation_is_forgotten() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut conns = vec![crate::run::conn::up_for_test(0, &listener)];
        let mut w = FirstAnswers::new(1, Duration::from_nanos(100));
        w.sent(0, 1, 0);
        let mut gone = Vec::new();
        w.expire(u64::MAX, &mut conns, |_| 2, |_, c| gone.push(c.id));
        assert!(gone.is_empty() && w.next_deadline().is_none());
    }
}
