//! What a worker does with one connection's readiness during the traffic phase:
//! read and check the echo, record each completed message's latency, then send as
//! many messages as the mode allows (closed loop: keep `pipeline` in flight; open
//! loop: what the schedule has made due, at most `pipeline` in flight). Everything
//! here runs per event: no allocation, no lock, one clock read per read() call.
//!
//! Timestamps: each message's start time is kept in a slab of `pipeline` slots per
//! connection (`seq % pipeline`), since at most that many are in flight. In open
//! loop the intended time comes from the [`Schedule`]; latency is measured from it
//! (corrected) and from the actual start (uncorrected), and the generator's own
//! lateness (start minus the later of intended time and slot-free time) is recorded.
//!
//! Open loop: a message of the schedule starts however late it is, the drain
//! included (a sender that fell behind sends its backlog there, its latency from
//! the intended time); `to_send` counts the schedule's messages not started yet,
//! so the drain waits for them as for the echoes in flight. Closed loop: no
//! message starts once the measured phase is over.
//!
//! A connection's first message starts its watch in [`FirstAnswers`]; its first
//! echoed byte makes it served; one never answered within the connect timeout is
//! given up as unserved (see `served`).

use std::io;

use super::clock::Clock;
use super::config::Config;
use super::conn::{Conn, Excess};
use super::histogram::record;
use super::payload::Pattern;
use super::phase::{Phase, Timeline};
use super::schedule::Schedule;
use super::served::FirstAnswers;
use super::tally::{Interval, Tally};

/// The per-thread bookkeeping of the traffic phase (everything but the connections).
pub struct Book {
    /// Body bytes of every message.
    pub pattern: Pattern,
    /// The one receive buffer of the thread (echoes are checked, then forgotten).
    pub rbuf: Vec<u8>,
    /// The one send buffer of the thread: small messages are assembled here.
    pub sbuf: Vec<u8>,
    /// Start time of each in-flight message: `pipeline` slots per connection.
    pub sent_ns: Vec<u64>,
    /// Messages in flight per connection, at most.
    pub pipeline: u64,
    /// Open loop: the schedule; `None` = closed loop.
    pub schedule: Option<Schedule>,
    /// Phase boundaries.
    pub timeline: Timeline,
    /// The run clock.
    pub clock: Clock,
    /// Where the thread's traffic stands; once it drains, only started messages
    /// are finished.
    pub phase: Phase,
    /// Messages in flight on live connections, over all of this thread's connections.
    pub in_flight: u64,
    /// Open loop: messages of the schedule not started yet, less those of the
    /// connections lost (never to be sent); 0 in a closed loop.
    pub to_send: u64,
    /// Connections of this thread still up.
    pub conns_up: u64,
    /// Of those, connections answered at least once.
    pub served_up: u64,
    /// Connections awaiting their first answer.
    pub first: FirstAnswers,
    /// The totals of this thread.
    pub tally: Tally,
    /// The current second of the measured phase.
    pub interval: Interval,
}

/// Receive buffer per thread: large enough that one read drains a socket in the
/// common case.
const RBUF: usize = 64 << 10;
/// Send buffer per thread: messages up to this size are assembled and sent with one
/// send() (cheaper than writev's iovec import); larger ones use writev.
const SBUF: usize = 16 << 10;

impl Book {
    /// The bookkeeping of a thread with `conns` connections, `up` of them up (their
    /// slots `0..up`), out of `established` over the whole run (its share of an open
    /// loop's rate is `up / established`), on `timeline`; `tally` holds what its
    /// connect phase counted.
    pub fn new(
        config: &Config,
        conns: usize,
        up: u32,
        established: u64,
        timeline: Timeline,
        clock: Clock,
        tally: Tally,
    ) -> Self {
        let schedule = config.rate.map(|r| Schedule::for_thread(r, up, established, &timeline));
        Self {
            pattern: Pattern::new(config.size),
            rbuf: vec![0u8; RBUF],
            sbuf: vec![0u8; SBUF],
            sent_ns: vec![0u64; conns * config.pipeline as usize],
            pipeline: config.pipeline.into(),
            schedule,
            timeline,
            clock,
            phase: Phase::WarmUp,
            in_flight: 0,
            to_send: schedule.map_or(0, |s| s.total()),
            conns_up: up.into(),
            served_up: 0,
            first: FirstAnswers::new(conns, config.connect_timeout),
            tally,
            interval: Interval::new(),
        }
    }

    /// How many messages connection `c` may have written in all, now.
    #[inline]
    fn send_limit(&self, c: &Conn, now: u64) -> u64 {
        let window = c.recv_seq + self.pipeline;
        match &self.schedule {
            None if self.phase.draining() => c.started(),
            None => window,
            // However late: the drain sends the backlog (the schedule ends with
            // the measured phase).
            Some(s) => window.min(s.due_for(u64::from(c.slot()), s.due(now))),
        }
    }

    /// Open loop: the schedule's messages of connection `c` never to be sent
    /// once it is lost.
    fn unstarted(&self, c: &Conn) -> u64 {
        self.schedule
            .map_or(0, |s| s.due_for(u64::from(c.slot()), s.total()).saturating_sub(c.started()))
    }

    /// Sends what connection `i` may send now. `ready_ns`: when its pipeline slot
    /// freed (0 if not from an echo), for the schedule-lag figure.
    pub fn fill(&mut self, i: usize, c: &mut Conn, now: u64, ready_ns: u64) {
        if !c.is_up() {
            return;
        }
        let limit = self.send_limit(c, now);
        if c.send_seq >= limit {
            return;
        }
        let k = self.pipeline;
        let base = i * k as usize;
        let slot = c.slot();
        let result = c.send(&self.pattern, &mut self.sbuf, limit, |seq| {
            if seq == 0 {
                self.first.sent(i, now);
            }
            self.sent_ns[base + (seq % k) as usize] = now;
            self.in_flight += 1;
            if let Some(s) = &self.schedule {
                self.to_send = self.to_send.saturating_sub(1);
                let intended = s.intended(u64::from(slot), seq);
                if self.timeline.measured(intended) {
                    record(
                        &mut self.tally.schedule_lag,
                        now.saturating_sub(intended.max(ready_ns)),
                    );
                }
            }
        });
        if let Err(e) = result {
            self.fail(c, &e);
        }
    }

    /// Handles readiness of connection `i`: reads and checks, then sends. `closed`:
    /// the event also reported the peer's FIN or an error, which no later event
    /// will repeat (edge-triggered), so reading goes on past a short read until the
    /// `Ok(0)` or the error is seen, whatever the framing of the bytes before it.
    pub fn on_ready(&mut self, i: usize, c: &mut Conn, readable: bool, closed: bool) {
        if !c.is_up() {
            return;
        }
        let mut now = self.clock.now_ns();
        if readable {
            loop {
                let n = match c.read(&mut self.rbuf) {
                    Ok(0) => {
                        self.lose(c, LossKind::Eof);
                        return;
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.fail(c, &e);
                        return;
                    }
                };
                now = self.clock.now_ns();
                if !c.answered() {
                    // The first answer (counted below once a byte checks in).
                    self.note_first_answer(c, n);
                }
                if self.consume(i, c, n, now) == Excess::Unsent {
                    self.count_mismatch(1);
                    if self.tally.first_mismatch.is_none() {
                        self.tally.first_mismatch = Some(format!(
                            "conn {}: the server sent bytes that were never sent",
                            c.id
                        ));
                    }
                    self.lose(c, LossKind::Closed);
                    return;
                }
                // A short read drained the socket (edge-triggered: a new event
                // follows new bytes), unless the peer's FIN came with this event:
                // then the next read returns it.
                if n < self.rbuf.len() && !closed {
                    break;
                }
            }
        }
        self.fill(i, c, now, now);
    }

    /// Checks `n` received bytes of connection `i` and records completed messages.
    fn consume(&mut self, i: usize, c: &mut Conn, n: usize, now: u64) -> Excess {
        let k = self.pipeline;
        let base = i * k as usize;
        let slot = u64::from(c.slot());
        let id = c.id;
        let size = self.pattern.size() as u64;
        let mut bad_messages = 0;
        let excess = c.consume(
            &self.rbuf[..n],
            &self.pattern,
            |seq, bad| {
                self.in_flight -= 1;
                bad_messages += u64::from(bad);
                if self.timeline.measured(now) {
                    self.tally.messages += 1;
                    self.tally.bytes += size;
                    self.interval.msgs += 1;
                }
                let sent = self.sent_ns[base + (seq % k) as usize];
                match &self.schedule {
                    None if self.timeline.measured(sent) => {
                        record(&mut self.interval.latency, now - sent);
                    }
                    None => {}
                    Some(s) => {
                        let intended = s.intended(slot, seq);
                        if self.timeline.measured(intended) {
                            record(&mut self.interval.latency, now.saturating_sub(intended));
                            record(&mut self.tally.latency_uncorrected, now - sent);
                        }
                    }
                }
            },
            |seq, offset| {
                if self.tally.first_mismatch.is_none() {
                    self.tally.first_mismatch = Some(format!(
                        "conn {id} message {seq}: first wrong byte at offset {offset}"
                    ));
                }
            },
        );
        self.count_mismatch(bad_messages);
        excess
    }

    /// Counts connection `c` as served when its first `n` bytes of echo are in
    /// (before they are consumed: it becomes answered when one is).
    fn note_first_answer(&mut self, c: &Conn, n: usize) {
        if n > 0 && c.in_flight() > 0 {
            self.tally.served += 1;
            self.served_up += 1;
        }
    }

    /// Gives up the connections whose first message has waited the connect timeout
    /// at `now` without an answer (all that wait, with `now = u64::MAX`): each is
    /// closed and counted as unserved; its messages are not timeouts. Returns how
    /// many were given up.
    pub fn expire_unserved(&mut self, conns: &mut [Conn], now: u64) -> u64 {
        let schedule = self.schedule;
        let (tally, in_flight, conns_up, to_send) =
            (&mut self.tally, &mut self.in_flight, &mut self.conns_up, &mut self.to_send);
        let interval = &mut self.interval.unserved;
        let before = tally.unserved;
        self.first.expire(now, conns, |c| {
            tally.unserved += 1;
            *interval += 1;
            *in_flight -= c.in_flight();
            *conns_up -= 1;
            if let Some(s) = schedule {
                let left = s.due_for(u64::from(c.slot()), s.total()).saturating_sub(c.started());
                *to_send = to_send.saturating_sub(left);
            }
            c.close();
        });
        self.tally.unserved - before
    }

    fn count_mismatch(&mut self, n: u64) {
        self.tally.errors.mismatch += n;
        self.interval.errors += n;
    }

    /// Counts an I/O error on connection `c` and closes it.
    pub fn fail(&mut self, c: &mut Conn, e: &io::Error) {
        let kind = match e.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted => LossKind::Reset,
            _ => LossKind::Other,
        };
        self.lose(c, kind);
    }

    /// Closes connection `c`, counting how it was lost. Every close by the peer is
    /// an eof, whatever the framing (mid-message, or between two messages: the
    /// connection was still to carry traffic), except in the drain with nothing
    /// outstanding, when the run is done with the connection.
    fn lose(&mut self, c: &mut Conn, kind: LossKind) {
        let outstanding = c.in_flight();
        let done = self.phase.draining() && outstanding == 0;
        let counted = match kind {
            LossKind::Eof if done => false,
            LossKind::Eof => {
                self.tally.errors.eof += 1;
                true
            }
            LossKind::Reset => {
                self.tally.errors.reset += 1;
                true
            }
            LossKind::Other => {
                self.tally.errors.other += 1;
                true
            }
            LossKind::Closed => false,
        };
        if counted {
            self.interval.errors += 1;
        }
        self.in_flight -= outstanding;
        self.to_send = self.to_send.saturating_sub(self.unstarted(c));
        self.conns_up -= 1;
        if c.answered() {
            self.served_up -= 1;
        }
        c.close();
    }

    /// Hands the current interval to `send` and starts the next one.
    pub fn flush_interval(&mut self, index: u64, end_s: f64, send: impl FnOnce(Interval)) {
        // Same bounds on both sides: `add` cannot fail.
        let _ = self.tally.latency.add(&self.interval.latency);
        self.interval.index = index;
        self.interval.end_s = end_s;
        self.interval.conns_up = self.conns_up;
        self.interval.served = self.served_up;
        send(self.interval.clone());
        self.interval.reset();
    }
}

/// How a connection was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LossKind {
    /// The peer sent FIN.
    Eof,
    /// ECONNRESET / EPIPE.
    Reset,
    /// Another I/O error.
    Other,
    /// We closed it (already counted, e.g. as a mismatch).
    Closed,
}
