//! Whether each established connection is *served*: answered at least once. The
//! kernel completes a handshake whether or not the server ever accepts the
//! connection (a server at its descriptor limit leaves it in the accept queue), so
//! "established" alone says nothing about the server. A connection whose first
//! message has had no answer for the connect timeout is *unserved*: the worker
//! closes it and counts it at once, never as timeouts at the end of the run.
//!
//! [`FirstAnswers`] watches the connections awaiting their first answer. Invariant:
//! its queue holds them in the order their first message went out, so deadlines
//! never decrease and only the front is ever checked (amortized O(1) per loop turn,
//! no allocation after the start).

use std::collections::VecDeque;
use std::time::Duration;

use super::conn::Conn;

/// The connections of one worker awaiting their first answer.
#[derive(Debug)]
pub struct FirstAnswers {
    /// (connection index, deadline in run-clock ns), in order of deadline.
    waiting: VecDeque<(usize, u64)>,
    /// How long a first message may wait for its answer (the connect timeout).
    timeout_ns: u64,
}

impl FirstAnswers {
    /// A watch over up to `conns` connections with the given patience.
    pub fn new(conns: usize, timeout: Duration) -> Self {
        Self { waiting: VecDeque::with_capacity(conns), timeout_ns: timeout.as_nanos() as u64 }
    }

    /// Connection `i` sent its first message at `now_ns`.
    #[inline]
    pub fn sent(&mut self, i: usize, now_ns: u64) {
        self.waiting.push_back((i, now_ns.saturating_add(self.timeout_ns)));
    }

    /// When the next connection runs out of patience, if one waits.
    pub fn next_deadline(&self) -> Option<u64> {
        self.waiting.front().map(|&(_, deadline)| deadline)
    }

    /// Hands every connection whose first answer is overdue at `now_ns` (all of
    /// them, with `now_ns = u64::MAX`) to `give_up`; forgets those answered or gone.
    pub fn expire(&mut self, now_ns: u64, conns: &mut [Conn], mut give_up: impl FnMut(&mut Conn)) {
        while let Some(&(i, deadline)) = self.waiting.front() {
            let c = &mut conns[i];
            if c.is_up() && !c.answered() {
                if now_ns < deadline {
                    break;
                }
                give_up(c);
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
            w.sent(i, i as u64 * 10);
        }
        assert_eq!(w.next_deadline(), Some(100));
        let mut gone = Vec::new();
        w.expire(99, &mut conns, |c| gone.push(c.id));
        assert!(gone.is_empty());
        w.expire(115, &mut conns, |c| gone.push(c.id));
        assert_eq!(gone, [0]);
        assert_eq!(w.next_deadline(), Some(120));
        w.expire(u64::MAX, &mut conns, |c| gone.push(c.id));
        assert_eq!(gone, [0, 2]);
        assert_eq!(w.next_deadline(), None);
    }
}
