//! Connection churn (`--lifetime`): a TCP connection lives for N messages or a
//! duration (each drawn within `--lifetime-jitter`), then closes the way `--close`
//! says and a new connection from the same source to the same target takes its
//! slot, so `--conns` stay open while connections come and go.
//!
//! - `fin`: the client closes first (close(): FIN), so the client's side of the
//!   four-tuple waits in TIME_WAIT (60 s on Linux) and its port stays taken.
//! - `rst`: the client sets SO_LINGER 0 before close(): an RST, no TIME_WAIT on
//!   either side, the port free at once.
//!
//! [`ChurnBook`] is a worker's churn state: each slot's lifetime, whether its
//! connection is a replacement (its first answer, connect time and failures count
//! as churn, not as the run's opening), the connects under way in the traffic
//! phase (bounded by the connect timeout, in order of deadline, as
//! `served::FirstAnswers` keeps first answers) and the slots waiting to retry a
//! failed connect. A slot's generation grows with each replacement, so a watch
//! left over from its previous connection never judges the new one.
//! Churn runs a closed loop over TCP: `config` refuses it with `--rate` or
//! `--proto udp`.

use std::collections::VecDeque;
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::layout::ConnSpec;

/// How long a connection lives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lifetime {
    /// This many messages echoed, then it closes (1: connect, one echo, close).
    Messages(u64),
    /// This long from established, then it closes after the echo in flight.
    Time(Duration),
}

impl std::fmt::Display for Lifetime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lifetime::Messages(n) => write!(f, "{n}"),
            Lifetime::Time(d) => f.write_str(&super::values::fmt_duration(*d)),
        }
    }
}

/// Who closes a connection at the end of its life, and how.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseMode {
    /// The client closes first (FIN): TIME_WAIT on the client's side.
    #[default]
    Fin,
    /// The client resets (SO_LINGER 0, then close: RST): no TIME_WAIT.
    Rst,
}

impl std::fmt::Display for CloseMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CloseMode::Fin => "fin",
            CloseMode::Rst => "rst",
        })
    }
}

/// The churn settings of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Churn {
    /// How long a connection lives.
    pub lifetime: Lifetime,
    /// Each lifetime is drawn uniformly within ± this fraction of it (0 to 1).
    pub jitter: f64,
    /// How a connection closes at the end of its life.
    pub close: CloseMode,
}

/// Longest lifetime by time.
const MAX_LIFETIME: Duration = Duration::from_secs(3600);
/// A failed connect's slot tries again after this long (a port shortage or a
/// refusing server must not spin the worker).
const RETRY_NS: u64 = 10_000_000;

/// Parses `--lifetime`: a number of messages (`100`; `1` = connect, one echo,
/// close) or a duration (`500ms`, `2s`).
pub fn parse_lifetime(text: &str) -> Result<Lifetime, String> {
    let t = text.trim();
    let fix = "use a number of messages (e.g. 100; 1 = connect, one echo, close) or a \
               duration (e.g. 500ms)";
    if let Ok(n) = t.parse::<u64>() {
        return lifetime_rule(Lifetime::Messages(n));
    }
    let d = common::units::parse_duration(t).map_err(|e| format!("{e}; {fix}"))?;
    lifetime_rule(Lifetime::Time(d))
}

/// The rule of `--lifetime`: at least one message, or 1 ms to 1 h.
pub fn lifetime_rule(l: Lifetime) -> Result<Lifetime, String> {
    match l {
        Lifetime::Messages(0) => {
            Err("a connection lives for at least 1 message (1 = connect, one echo, close)".into())
        }
        Lifetime::Time(d) if d < Duration::from_millis(1) || d > MAX_LIFETIME => {
            Err("use a duration from 1ms to 1h (or a number of messages)".into())
        }
        ok => Ok(ok),
    }
}

/// Parses `--lifetime-jitter`: a percentage from 0 to 100 (`20%` or `20`).
pub fn parse_jitter(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let pct: f64 = t.strip_suffix('%').unwrap_or(t).trim().parse().map_err(|_| {
        format!("'{text}' is not a percentage: use 0 to 100, e.g. 20% (lifetimes ±20%)")
    })?;
    jitter_rule(pct / 100.0)
}

/// The rule of `--lifetime-jitter`, as a fraction.
pub fn jitter_rule(fraction: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&fraction) {
        Ok(fraction)
    } else {
        Err("use a percentage from 0 to 100, e.g. 20% (lifetimes ±20%)".into())
    }
}

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

    /// Lifetimes parse as messages or durations; 0, junk and out-of-range
    /// durations name the fix; jitter is a percentage.
    #[test]
    fn parsing() {
        assert_eq!(parse_lifetime("100"), Ok(Lifetime::Messages(100)));
        assert_eq!(parse_lifetime(" 1 "), Ok(Lifetime::Messages(1)));
        assert_eq!(parse_lifetime("500ms"), Ok(Lifetime::Time(Duration::from_millis(500))));
        assert!(parse_lifetime("0").unwrap_err().contains("at least 1 message"));
        assert!(parse_lifetime("2h").unwrap_err().contains("1ms to 1h"));
        assert!(parse_lifetime("soon").unwrap_err().contains("number of messages"));
        assert_eq!(parse_jitter("20%"), Ok(0.2));
        assert_eq!(parse_jitter("0"), Ok(0.0));
        assert!(parse_jitter("150%").is_err() && parse_jitter("x").is_err());
        assert_eq!(Lifetime::Messages(5).to_string(), "5");
    }

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
