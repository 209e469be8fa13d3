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

use super::churn::CloseMode;
use super::churn_book::{ChurnBook, Connected};
use super::config::Config;
use super::conn::{Conn, Excess, State};
use super::histogram::record;
use super::ledger::{Ledger, Start};
use super::served::FirstAnswers;
use super::tally::Tally;

/// The per-thread bookkeeping of the TCP traffic phase (everything but the
/// connections): the shared [`Ledger`] and what only connections need.
pub struct Book {
    /// What every transport keeps the same way.
    pub ledger: Ledger,
    /// The one receive buffer of the thread (echoes are checked, then forgotten).
    pub rbuf: Vec<u8>,
    /// The one send buffer of the thread: small messages are assembled here.
    pub sbuf: Vec<u8>,
    /// Start time of each in-flight message: `pipeline` slots per connection.
    pub sent_ns: Vec<u64>,
    /// Messages in flight per connection, at most.
    pub pipeline: u64,
    /// Connections awaiting their first answer.
    pub first: FirstAnswers,
    /// Churn (`--lifetime`): each slot's life and the connects under way.
    pub churn: Option<ChurnBook>,
}

/// Receive buffer per thread: large enough that one read drains a socket in the
/// common case.
const RBUF: usize = 64 << 10;
/// Send buffer per thread: messages up to this size are assembled and sent with one
/// send() (cheaper than writev's iovec import); larger ones use writev.
const SBUF: usize = 16 << 10;

impl Book {
    /// The bookkeeping of a thread starting from `start` (its connections, those
    /// up, the run's established); `tally` holds what its connect phase counted.
    pub fn new(config: &Config, start: &Start, tally: Tally) -> Self {
        let conns = start.endpoints;
        Self {
            ledger: Ledger::new(config, start, tally),
            rbuf: vec![0u8; RBUF],
            sbuf: vec![0u8; SBUF],
            sent_ns: vec![0u64; conns * config.pipeline as usize],
            pipeline: config.pipeline.into(),
            first: FirstAnswers::new(conns, config.connect_timeout),
            churn: None,
        }
    }

    /// How many messages connection `i` may have written in all, now.
    #[inline]
    fn send_limit(&self, i: usize, c: &Conn, now: u64) -> u64 {
        let window = c.recv_seq + self.pipeline;
        let limit = match &self.ledger.schedule {
            None if self.ledger.phase.draining() => c.started(),
            None => window,
            // However late: the drain sends the backlog (the schedule ends with
            // the measured phase).
            Some(s) => window.min(s.due_for(u64::from(c.slot()), s.due(now))),
        };
        match &self.churn {
            None => limit,
            // At the end of its life a connection starts nothing more.
            Some(churn) => {
                let life = churn.life(i);
                // A life by time ends after its first message at the earliest.
                if now >= life.until_ns && c.started() > 0 {
                    c.started()
                } else {
                    limit.min(life.messages.max(c.started()))
                }
            }
        }
    }

    /// This slot's generation (0 without churn): a watch of a previous
    /// connection of the slot never judges the current one.
    #[inline]
    fn generation(&self, i: usize) -> u32 {
        self.churn.as_ref().map_or(0, |ch| ch.generation[i])
    }

    /// Sends what connection `i` may send now. `ready_ns`: when its pipeline slot
    /// freed (0 if not from an echo), for the schedule-lag figure.
    pub fn fill(&mut self, i: usize, c: &mut Conn, now: u64, ready_ns: u64) {
        if !c.is_up() {
            return;
        }
        let limit = self.send_limit(i, c, now);
        if c.send_seq >= limit {
            return;
        }
        let k = self.pipeline;
        let base = i * k as usize;
        let slot = c.slot();
        let generation = self.generation(i);
        let result = c.send(&self.ledger.pattern, &mut self.sbuf, limit, |seq| {
            if seq == 0 {
                self.first.sent(i, generation, now);
            }
            self.sent_ns[base + (seq % k) as usize] = now;
            self.ledger.in_flight += 1;
            if let Some(s) = &self.ledger.schedule {
                self.ledger.to_send = self.ledger.to_send.saturating_sub(1);
                let intended = s.intended(u64::from(slot), seq);
                if self.ledger.timeline.measured(intended) {
                    record(
                        &mut self.ledger.tally.schedule_lag,
                        now.saturating_sub(intended.max(ready_ns)),
                    );
                }
            }
        });
        if let Err(e) = result {
            self.fail(i, c, &e);
        }
    }

    /// Handles readiness of connection `i`: reads and checks, then sends. `closed`:
    /// the event also reported the peer's FIN or an error, which no later event
    /// will repeat (edge-triggered), so reading goes on past a short read until the
    /// `Ok(0)` or the error is seen, whatever the framing of the bytes before it.
    pub fn on_ready(&mut self, i: usize, c: &mut Conn, readable: bool, closed: bool) {
        if !c.is_up() {
            if self.churn.is_some() {
                self.on_connecting(i, c);
            }
            return;
        }
        let mut now = self.ledger.clock.now_ns();
        if readable {
            loop {
                let n = match c.read(&mut self.rbuf) {
                    Ok(0) => {
                        self.lose(i, c, LossKind::Eof);
                        return;
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.fail(i, c, &e);
                        return;
                    }
                };
                now = self.ledger.clock.now_ns();
                if !c.answered() {
                    // The first answer (counted below once a byte checks in).
                    self.note_first_answer(i, c, n, now);
                }
                if self.consume(i, c, n, now) == Excess::Unsent {
                    self.count_mismatch(1);
                    if self.ledger.tally.first_mismatch.is_none() {
                        self.ledger.tally.first_mismatch = Some(format!(
                            "conn {}: the server sent bytes that were never sent",
                            c.id
                        ));
                    }
                    self.lose(i, c, LossKind::Closed);
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
        if self.life_over(i, c, now) {
            self.recycle(i, c, now);
            return;
        }
        self.fill(i, c, now, now);
    }

    /// Churn: whether connection `i` has lived its life at `now` (its last echo in,
    /// nothing in flight) and the measured phase is not over (the drain replaces
    /// nothing).
    #[inline]
    fn life_over(&self, i: usize, c: &Conn, now: u64) -> bool {
        let Some(churn) = &self.churn else { return false };
        let life = churn.life(i);
        c.in_flight() == 0
            && (c.recv_seq >= life.messages || now >= life.until_ns)
            && !self.ledger.phase.draining()
    }

    /// Churn: closes connection `i` the way `--close` says and starts its
    /// replacement from the same source to the same target (a failed connect()
    /// leaves the slot dead until its retry).
    fn recycle(&mut self, i: usize, c: &mut Conn, now: u64) {
        let Some(churn) = self.churn.as_mut() else { return };
        if churn.churn.close == CloseMode::Rst {
            // SO_LINGER 0: close() sends an RST and leaves no TIME_WAIT.
            c.reset_on_close();
        }
        let l = &mut self.ledger;
        l.up -= 1;
        if c.answered() {
            l.served_up -= 1;
        }
        c.close();
        let measured = l.timeline.measured(now);
        if measured {
            l.tally.churn.closed += 1;
            l.interval.churn.closed += 1;
        }
        let id = c.id;
        match churn.reconnect(i, now) {
            Ok(stream) => *c = Conn::connecting(stream, id, now),
            Err(errno) if measured => {
                l.tally.churn.connect_failed(&errno);
                l.interval.churn.failed += 1;
            }
            Err(_) => {}
        }
    }

    /// Churn: a replacement connect's readiness: established (its life begins and
    /// it sends), not yet, or failed (the slot retries).
    fn on_connecting(&mut self, i: usize, c: &mut Conn) {
        let Some(churn) = self.churn.as_mut() else { return };
        let result = match &c.state {
            State::Connecting { stream, .. } => ChurnBook::finish(stream),
            _ => return,
        };
        let now = self.ledger.clock.now_ns();
        let l = &mut self.ledger;
        let measured = l.timeline.measured(churn.connect_ns[i]);
        match result {
            Connected::Pending => {}
            Connected::Up => {
                churn.settled();
                c.establish();
                l.up += 1;
                churn.begin(i, now);
                if measured {
                    l.tally.churn.opened += 1;
                    l.interval.churn.opened += 1;
                    record(&mut l.tally.churn.connect, now - churn.connect_ns[i]);
                }
                self.fill(i, c, now, 0);
            }
            Connected::Failed(errno) => {
                churn.settled();
                c.close();
                churn.retry_later(i, now);
                if measured {
                    l.tally.churn.connect_failed(&errno);
                    l.interval.churn.failed += 1;
                }
            }
        }
    }

    /// Churn, each loop turn: connects past the connect timeout fail as ETIMEDOUT
    /// (their slots retry); slots whose retry is due connect again (not in the
    /// drain).
    pub fn expire_churn(&mut self, conns: &mut [Conn], now: u64) {
        let Some(churn) = self.churn.as_mut() else { return };
        let l = &mut self.ledger;
        for i in churn.overdue(now, |i| matches!(conns[i].state, State::Connecting { .. })) {
            conns[i].close();
            churn.retry_later(i, now);
            if l.timeline.measured(churn.connect_ns[i]) {
                l.tally.churn.connect_failed("ETIMEDOUT");
                l.interval.churn.failed += 1;
            }
        }
        let due = churn.due_retries(now);
        if l.phase.draining() {
            return;
        }
        for i in due {
            let id = conns[i].id;
            match churn.reconnect(i, now) {
                Ok(stream) => conns[i] = Conn::connecting(stream, id, now),
                Err(errno) if l.timeline.measured(now) => {
                    l.tally.churn.connect_failed(&errno);
                    l.interval.churn.failed += 1;
                }
                Err(_) => {}
            }
        }
    }

    /// Checks `n` received bytes of connection `i` and records completed messages.
    fn consume(&mut self, i: usize, c: &mut Conn, n: usize, now: u64) -> Excess {
        let k = self.pipeline;
        let base = i * k as usize;
        let slot = u64::from(c.slot());
        let id = c.id;
        let size = self.ledger.pattern.size() as u64;
        let mut bad_messages = 0;
        let excess = c.consume(
            &self.rbuf[..n],
            &self.ledger.pattern,
            |seq, bad| {
                self.ledger.in_flight -= 1;
                bad_messages += u64::from(bad);
                if self.ledger.timeline.measured(now) {
                    self.ledger.tally.messages += 1;
                    self.ledger.tally.bytes += size;
                    self.ledger.interval.msgs += 1;
                }
                let sent = self.sent_ns[base + (seq % k) as usize];
                match &self.ledger.schedule {
                    None if self.ledger.timeline.measured(sent) => {
                        record(&mut self.ledger.interval.latency, now - sent);
                    }
                    None => {}
                    Some(s) => {
                        let intended = s.intended(slot, seq);
                        if self.ledger.timeline.measured(intended) {
                            record(&mut self.ledger.interval.latency, now.saturating_sub(intended));
                            record(&mut self.ledger.tally.latency_uncorrected, now - sent);
                        }
                    }
                }
            },
            |seq, offset| {
                if self.ledger.tally.first_mismatch.is_none() {
                    self.ledger.tally.first_mismatch = Some(format!(
                        "conn {id} message {seq}: first wrong byte at offset {offset}"
                    ));
                }
            },
        );
        self.count_mismatch(bad_messages);
        excess
    }

    /// Counts connection `i` as served when its first `n` bytes of echo are in
    /// (before they are consumed: it becomes answered when one is); a churn
    /// replacement counts as churn, with its time from connect() to this answer.
    fn note_first_answer(&mut self, i: usize, c: &Conn, n: usize, now: u64) {
        if n == 0 || c.in_flight() == 0 {
            return;
        }
        self.ledger.served_up += 1;
        match self.churn.as_ref().filter(|ch| ch.replaced(i)) {
            None => self.ledger.tally.served += 1,
            Some(churn) => {
                let connected = churn.connect_ns[i];
                if self.ledger.timeline.measured(connected) {
                    let t = &mut self.ledger.tally.churn;
                    t.served += 1;
                    record(&mut t.first_echo, now.saturating_sub(connected));
                }
            }
        }
    }

    /// Gives up the connections whose first message has waited the connect timeout
    /// at `now` without an answer (all that wait, with `now = u64::MAX`): each is
    /// closed and counted as unserved; its messages are not timeouts. Returns how
    /// many were given up.
    pub fn expire_unserved(&mut self, conns: &mut [Conn], now: u64) -> u64 {
        let l = &mut self.ledger;
        let churn = self.churn.as_ref();
        let before = l.tally.unserved;
        let generation = |i: usize| churn.map_or(0, |ch| ch.generation[i]);
        let mut given_up = Vec::new();
        self.first.expire(now, conns, generation, |i, c| {
            given_up.push(i);
            let left = l.unstarted(c.slot(), c.started());
            match churn.filter(|ch| ch.replaced(i)) {
                None => {
                    l.tally.unserved += 1;
                    l.interval.unserved += 1;
                }
                Some(ch) if l.timeline.measured(ch.connect_ns[i]) => l.tally.churn.unserved += 1,
                Some(_) => {}
            }
            l.in_flight -= c.in_flight();
            l.up -= 1;
            l.to_send = l.to_send.saturating_sub(left);
            c.close();
        });
        // Churn keeps --conns open: an unserved connection's slot tries again.
        if let Some(churn) = self.churn.as_mut().filter(|_| !self.ledger.phase.draining()) {
            let now = self.ledger.clock.now_ns();
            given_up.into_iter().for_each(|i| churn.retry_later(i, now));
        }
        self.ledger.tally.unserved - before
    }

    fn count_mismatch(&mut self, n: u64) {
        self.ledger.tally.errors.mismatch += n;
        self.ledger.interval.errors += n;
    }

    /// Counts an I/O error on connection `c` and closes it.
    pub fn fail(&mut self, i: usize, c: &mut Conn, e: &io::Error) {
        let kind = match e.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted => LossKind::Reset,
            _ => LossKind::Other,
        };
        self.lose(i, c, kind);
    }

    /// Closes connection `c`, counting how it was lost. Every close by the peer is
    /// an eof, whatever the framing (mid-message, or between two messages: the
    /// connection was still to carry traffic), except in the drain with nothing
    /// outstanding, when the run is done with the connection.
    fn lose(&mut self, i: usize, c: &mut Conn, kind: LossKind) {
        let outstanding = c.in_flight();
        let done = self.ledger.phase.draining() && outstanding == 0;
        let counted = match kind {
            LossKind::Eof if done => false,
            LossKind::Eof => {
                self.ledger.tally.errors.eof += 1;
                true
            }
            LossKind::Reset => {
                self.ledger.tally.errors.reset += 1;
                true
            }
            LossKind::Other => {
                self.ledger.tally.errors.other += 1;
                true
            }
            LossKind::Closed => false,
        };
        if counted {
            self.ledger.interval.errors += 1;
        }
        self.ledger.in_flight -= outstanding;
        self.ledger.to_send =
            self.ledger.to_send.saturating_sub(self.ledger.unstarted(c.slot(), c.started()));
        self.ledger.up -= 1;
        if c.answered() {
            self.ledger.served_up -= 1;
        }
        c.close();
        // Churn keeps --conns open: a connection lost before its time is replaced too.
        if let Some(churn) = self.churn.as_mut().filter(|_| !self.ledger.phase.draining()) {
            churn.retry_later(i, self.ledger.clock.now_ns());
        }
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
