//! A worker's churn state (`--lifetime`, the settings in `churn`): each slot's
//! lifetime, whether its connection is a replacement (its first answer, connect
//! time and failures count as churn, not as the run's opening), the connects under
//! way in the traffic phase (bounded by the connect timeout, in order of deadline,
//! as `served::FirstAnswers` keeps first answers) and the slots waiting to retry a
//! failed connect. A slot's generation grows with each replacement, so a watch
//! left over from its previous connection never judges the new one.

use std::collections::VecDeque;
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::churn::{Churn, Lifetime};
use super::layout::ConnSpec;

/// A failed connect's slot tries again after this long (a port shortage or a
/// refusing server must not spin the worker).
const RETRY_NS: u64 = 10_000_000;

/// One slot's current life: the messages it may echo and until when it may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Life {
    /// Messages its connection may start (`u64::MAX`: no limit by count).
    pub messages: u64,
    /// Run-clock ns after which it starts no message (`u64::MAX`: no limit by time).
    pub until_ns: u64,
}

impl Life {
    const FOREVER: Life = Life { messages: u64::MAX, until_ns: u64::MAX };
}

/// A worker's churn state (see the module doc).
pub struct ChurnBook {
    /// The settings.
    pub churn: Churn,
    /// Where new connections are registered (token = slot).
    registry: Registry,
    /// Each slot's source and target.
    specs: Vec<ConnSpec>,
    /// Each slot's current life.
    lives: Vec<Life>,
    /// Each slot's generation: 0 for the run's first connection, +1 per replacement.
    pub generation: Vec<u32>,
    /// Each slot's connect() time of its current connection (run-clock ns).
    pub connect_ns: Vec<u64>,
    /// Connects under way: (slot, generation, deadline), in order of deadline (an
    /// entry stays until it reaches the front, after its connect settled too).
    connecting: VecDeque<(usize, u32, u64)>,
    /// Connects under way now (those of `connecting` not settled).
    connecting_now: u64,
    /// Slots whose connect failed: (slot, when to try again), in order of time.
    retry: VecDeque<(usize, u64)>,
    /// The connect timeout, in ns.
    timeout_ns: u64,
    /// Draws the jittered lifetimes.
    rng: fastrand::Rng,
}

/// What became of a connect in the traffic phase.
#[derive(Debug)]
pub enum Connected {
    /// Established.
    Up,
    /// Not yet (a spurious event).
    Pending,
    /// Failed: the errno's name.
    Failed(String),
}

impl ChurnBook {
    /// The churn state of a worker with `specs` (slot = index), each slot's first
    /// life beginning at `now`; `seed` makes the jitter repeatable per worker.
    pub fn new(
        churn: Churn,
        registry: Registry,
        specs: &[ConnSpec],
        (timeout, now): (Duration, u64),
        seed: u64,
    ) -> Self {
        let n = specs.len();
        let mut book = Self {
            churn,
            registry,
            specs: specs.to_vec(),
            lives: vec![Life::FOREVER; n],
            generation: vec![0; n],
            connect_ns: vec![0; n],
            connecting: VecDeque::new(),
            connecting_now: 0,
            retry: VecDeque::new(),
            timeout_ns: timeout.as_nanos() as u64,
            rng: fastrand::Rng::with_seed(seed),
        };
        for i in 0..n {
            book.begin(i, now);
        }
        book
    }

    /// Slot `i`'s connection came up at `now`: its life starts.
    pub fn begin(&mut self, i: usize, now: u64) {
        let j = self.churn.jitter;
        let factor = if j > 0.0 { 1.0 + j * (2.0 * self.rng.f64() - 1.0) } else { 1.0 };
        self.lives[i] = match self.churn.lifetime {
            Lifetime::Messages(n) => {
                Life { messages: ((n as f64 * factor).round() as u64).max(1), until_ns: u64::MAX }
            }
            Lifetime::Time(d) => Life {
                messages: u64::MAX,
                until_ns: now.saturating_add((d.as_nanos() as f64 * factor) as u64),
            },
        };
    }

    /// Slot `i`'s current life.
    #[inline]
    pub fn life(&self, i: usize) -> Life {
        self.lives[i]
    }

    /// Whether slot `i`'s connection is a replacement (not the run's first).
    #[inline]
    pub fn replaced(&self, i: usize) -> bool {
        self.generation[i] > 0
    }

    /// Starts a new connection for slot `i` at `now`, registered with token `i`;
    /// Err(errno name) when connect() fails at once (the slot then retries).
    pub fn reconnect(&mut self, i: usize, now: u64) -> Result<TcpStream, String> {
        self.generation[i] = self.generation[i].wrapping_add(1).max(1);
        self.lives[i] = Life::FOREVER;
        let started = super::connect::start(&self.specs[i]).and_then(|mut stream| {
            let interest = Interest::READABLE | Interest::WRITABLE;
            self.registry.register(&mut stream, Token(i), interest)?;
            Ok(stream)
        });
        match started {
            Ok(stream) => {
                self.connect_ns[i] = now;
                let deadline = now.saturating_add(self.timeout_ns);
                self.connecting.push_back((i, self.generation[i], deadline));
                self.connecting_now += 1;
                Ok(stream)
            }
            Err(e) => {
                self.retry_later(i, now);
                Err(crate::errno::errno_name(&e))
            }
        }
    }

    /// A connect under way settled (established or failed).
    pub fn settled(&mut self) {
        self.connecting_now = self.connecting_now.saturating_sub(1);
    }

    /// Slot `i` tries to connect again [`RETRY_NS`] after `now`.
    pub fn retry_later(&mut self, i: usize, now: u64) {
        self.retry.push_back((i, now.saturating_add(RETRY_NS)));
    }

    /// Checks slot `i`'s connect after a readiness event.
    pub fn finish(stream: &TcpStream) -> Connected {
        match super::connect::finish(stream) {
            Ok(true) => Connected::Up,
            Ok(false) => Connected::Pending,
            Err(e) => Connected::Failed(crate::errno::errno_name(&e)),
        }
    }

    /// The slots whose connect has run past the timeout at `now` and are still
    /// connecting (`is_connecting(slot)`) in the same generation: each to be failed
    /// as ETIMEDOUT.
    pub fn overdue(&mut self, now: u64, is_connecting: impl Fn(usize) -> bool) -> Vec<usize> {
        let mut late = Vec::new();
        while let Some(&(i, generation, deadline)) = self.connecting.front() {
            let current = self.generation[i] == generation && is_connecting(i);
            if current && now < deadline {
                break;
            }
            if current {
                late.push(i);
                self.settled();
            }
            self.connecting.pop_front();
        }
        late
    }

    /// The slots whose retry time has come at `now`.
    pub fn due_retries(&mut self, now: u64) -> Vec<usize> {
        let mut due = Vec::new();
        while let Some(&(i, at)) = self.retry.front() {
            if at > now {
                break;
            }
            due.push(i);
            self.retry.pop_front();
        }
        due
    }

    /// Slots connecting or waiting to retry: alive for the phase, not yet up.
    pub fn pending(&self) -> u64 {
        self.connecting_now + self.retry.len() as u64
    }

    /// When the next connect times out or the next retry is due.
    pub fn next_deadline(&self) -> Option<u64> {
        let connect = self.connecting.front().map(|c| c.2);
        let retry = self.retry.front().map(|r| r.1);
        match (connect, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::churn::CloseMode;

    fn book(lifetime: Lifetime, jitter: f64) -> ChurnBook {
        let poll = mio::Poll::new().expect("poll");
        let spec = ConnSpec {
            id: 0,
            target_index: 0,
            target: "127.0.0.1:9".parse().expect("addr"),
            source: None,
        };
        let churn = Churn { lifetime, jitter, close: CloseMode::Fin };
        let registry = poll.registry().try_clone().expect("registry");
        ChurnBook::new(churn, registry, &[spec], (Duration::from_secs(1), 0), 7)
    }

    /// Each life is drawn within ± the jitter of the lifetime (messages, or time
    /// from the moment it came up), and spreads over that range.
    #[test]
    fn lives_are_drawn_within_the_jitter() {
        let mut b = book(Lifetime::Messages(100), 0.2);
        let lives: Vec<u64> = (0..300)
            .map(|_| {
                b.begin(0, 0);
                b.life(0).messages
            })
            .collect();
        assert!(lives.iter().all(|m| (80..=120).contains(m)), "{lives:?}");
        assert!(lives.iter().any(|m| *m < 90) && lives.iter().any(|m| *m > 110));
        assert_eq!(b.life(0).until_ns, u64::MAX);
        let mut t = book(Lifetime::Time(Duration::from_millis(10)), 0.0);
        t.begin(0, 5_000);
        assert_eq!(t.life(0), Life { messages: u64::MAX, until_ns: 10_005_000 });
    }

    /// A failed slot retries after its delay, in order; the next deadline says when.
    #[test]
    fn retries_come_due_in_order() {
        let mut b = book(Lifetime::Messages(1), 0.0);
        b.retry_later(0, 1_000);
        assert_eq!(b.pending(), 1);
        assert_eq!(b.next_deadline(), Some(1_000 + RETRY_NS));
        assert!(b.due_retries(1_000 + RETRY_NS - 1).is_empty());
        assert_eq!(b.due_retries(1_000 + RETRY_NS), vec![0]);
        assert_eq!((b.pending(), b.next_deadline()), (0, None));
    }
}
