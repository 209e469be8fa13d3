//! The counters of a [`Tally`](super::Tally) and its intervals, each kind in its
//! own struct that merges field by field (every field named, so a new one does
//! not compile until it merges): the traffic phase's errors, a UDP run's
//! datagrams, an open loop's schedule. Serde as they are: a split run's child
//! hands them to its parent inside the tally.

use serde::{Deserialize, Serialize};

/// Error counters of the traffic phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCounts {
    /// Messages whose echoed bytes differ from what was sent.
    pub mismatch: u64,
    /// Connections reset by the peer (ECONNRESET, EPIPE).
    pub reset: u64,
    /// Connections the peer closed (FIN) while the run still used them.
    pub eof: u64,
    /// Messages not answered by the end of the drain.
    pub timeout: u64,
    /// Other I/O errors on established connections.
    pub other: u64,
    /// UDP: flows ended by ECONNREFUSED after they were answered (the target's
    /// port closed while in use; one never answered did not open, see
    /// `failed_by_errno`).
    #[serde(default)]
    pub refused: u64,
}

impl ErrorCounts {
    /// All errors together (the live line's figure).
    pub fn total(&self) -> u64 {
        self.mismatch + self.reset + self.eof + self.timeout + self.other + self.refused
    }

    /// Adds another thread's counts (every field named: a new one does not
    /// compile until it merges).
    pub fn merge(&mut self, o: &ErrorCounts) {
        let ErrorCounts { mismatch, reset, eof, timeout, other, refused } = *o;
        self.mismatch += mismatch;
        self.refused += refused;
        self.reset += reset;
        self.eof += eof;
        self.timeout += timeout;
        self.other += other;
    }
}

/// UDP: what became of the datagrams (all zero in a TCP run). `sent`, `answered`,
/// `lost`, `late`, `duplicated` and `reordered` count the datagrams of the measured
/// phase (by send time; open loop: by intended send time, the rule of the latency
/// histogram), so the warm-up's losses stay out; `corrupted` counts every
/// corrupted datagram of the run, as TCP's mismatches are. Invariant: `answered +
/// lost <= sent` (the difference: in flight when the run was cut short).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatagramCounts {
    /// Datagrams sent.
    pub sent: u64,
    /// Of those, answered within the timeout (corrupted answers included).
    pub answered: u64,
    /// Of those, not answered within the timeout (`--udp-timeout`).
    pub lost: u64,
    /// Answers that came after their datagram was counted lost.
    pub late: u64,
    /// Answers to a datagram already answered.
    pub duplicated: u64,
    /// Answers that came after the answer to a later datagram of their flow.
    pub reordered: u64,
    /// Datagrams that came back different from what was sent (length, header or
    /// content): each fails the run.
    pub corrupted: u64,
}

impl DatagramCounts {
    /// Adds another thread's counts (every field named: a new one does not
    /// compile until it merges).
    pub fn merge(&mut self, o: &DatagramCounts) {
        let DatagramCounts { sent, answered, lost, late, duplicated, reordered, corrupted } = *o;
        self.sent += sent;
        self.answered += answered;
        self.lost += lost;
        self.late += late;
        self.duplicated += duplicated;
        self.reordered += reordered;
        self.corrupted += corrupted;
    }

    /// Lost over lost and answered, in percent; `None` when none was either.
    pub fn loss_percent(&self) -> Option<f64> {
        let resolved = self.lost + self.answered;
        (resolved > 0).then(|| 100.0 * self.lost as f64 / resolved as f64)
    }
}

/// Open loop: what became of the schedule (all zero in a closed loop). Every
/// message intended in the measured phase is `scheduled`; the ones never started
/// by the end of the run (the drain included: a sender that fell behind sends its
/// backlog there) are `unsent`. `behind` figures are taken when the measured phase
/// ended (or the run was cut): the messages due then and not started, and how long
/// ago the oldest of them was intended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleCounts {
    /// Messages intended in the measured phase.
    pub scheduled: u64,
    /// Of those, never sent (a connection lost on the way leaves its own unsent).
    pub unsent: u64,
    /// Messages due and not started when the measured phase ended.
    pub behind_messages: u64,
    /// How long ago the oldest of them was intended, ns (the slowest thread's).
    pub behind_ns: u64,
}

impl ScheduleCounts {
    /// Adds another thread's counts (every field named: a new one does not
    /// compile until it merges); how far behind is the furthest.
    pub fn merge(&mut self, o: &ScheduleCounts) {
        let ScheduleCounts { scheduled, unsent, behind_messages, behind_ns } = *o;
        self.scheduled += scheduled;
        self.unsent += unsent;
        self.behind_messages += behind_messages;
        self.behind_ns = self.behind_ns.max(behind_ns);
    }
}

/// Churn (`--lifetime`): connections that came and went during the measured
/// phase (all zero without churn). A replacement connection's connect, first
/// answer and failures count here, never in the run's opening figures
/// (`established`, `served`, `failed_by_errno`), so those keep meaning the
/// `--conns` opened at the start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChurnCounts {
    /// Connections closed at the end of their life.
    pub closed: u64,
    /// Replacement connections established.
    pub opened: u64,
    /// Of those, answered at least once.
    pub served: u64,
    /// Of those, whose first message had no answer within the connect timeout.
    pub unserved: u64,
    /// Replacement connects that failed, by errno name (EADDRNOTAVAIL: no port free
    /// for the four-tuple, see the hint).
    pub failed_by_errno: std::collections::BTreeMap<String, u64>,
    /// Time from connect() to established, of replacements established.
    #[serde(with = "super::histogram::as_base64")]
    pub connect: hdrhistogram::Histogram<u64>,
    /// Time from connect() to the first byte of echo, of replacements answered.
    #[serde(with = "super::histogram::as_base64")]
    pub first_echo: hdrhistogram::Histogram<u64>,
}

impl Default for ChurnCounts {
    fn default() -> Self {
        Self {
            closed: 0,
            opened: 0,
            served: 0,
            unserved: 0,
            failed_by_errno: std::collections::BTreeMap::new(),
            connect: super::histogram::new_histogram(),
            first_echo: super::histogram::new_histogram(),
        }
    }
}

impl ChurnCounts {
    /// Adds another thread's counts (every field named: a new one does not
    /// compile until it merges).
    pub fn merge(&mut self, o: &ChurnCounts) {
        let ChurnCounts { closed, opened, served, unserved, failed_by_errno, connect, first_echo } =
            o;
        self.closed += closed;
        self.opened += opened;
        self.served += served;
        self.unserved += unserved;
        for (k, v) in failed_by_errno {
            *self.failed_by_errno.entry(k.clone()).or_default() += v;
        }
        // Same bounds everywhere: `add` cannot fail.
        let _ = self.connect.add(connect);
        let _ = self.first_echo.add(first_echo);
    }

    /// Failed replacement connects in total.
    pub fn failed(&self) -> u64 {
        self.failed_by_errno.values().sum()
    }

    /// Counts a failed replacement connect.
    pub fn connect_failed(&mut self, errno: &str) {
        *self.failed_by_errno.entry(errno.to_string()).or_default() += 1;
    }
}

/// Churn in one second: replacement connections established, connections closed
/// at the end of their life, replacement connects failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChurnSecond {
    /// Replacement connections established.
    pub opened: u64,
    /// Connections closed at the end of their life.
    pub closed: u64,
    /// Replacement connects failed.
    pub failed: u64,
    /// Sockets in TIME_WAIT on this host at the end of the second
    /// (/proc/net/sockstat: both sides when the server is local), set by the
    /// coordinator; merged as the largest (the busiest host).
    #[serde(default)]
    pub time_wait: u64,
}

impl ChurnSecond {
    /// Adds another thread's second (every field named).
    pub fn merge(&mut self, o: &ChurnSecond) {
        let ChurnSecond { opened, closed, failed, time_wait } = *o;
        self.opened += opened;
        self.closed += closed;
        self.failed += failed;
        self.time_wait = self.time_wait.max(time_wait);
    }
}
