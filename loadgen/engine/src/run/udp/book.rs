//! What a worker does with its UDP flows during the traffic phase: send as many
//! datagrams as the mode allows (closed loop: keep `pipeline` in flight; open
//! loop: what the schedule has made due, at most `pipeline` in flight), read and
//! verify each answer, record its latency, count what became of every datagram
//! (answered, lost, late, duplicated, reordered, corrupted), and give up datagrams
//! whose answer did not come within the timeout, so a loss never stalls a flow: a
//! closed-loop flow sends its next datagram at once. Everything here runs per
//! event: no allocation (the loss queue aside, which grows only to the datagrams
//! of one timeout), no lock, one clock read per datagram received.
//!
//! Latency follows the TCP rules: from the send time (closed loop) or from the
//! intended send time (open loop, coordinated omission corrected, with the
//! uncorrected figure and the generator's lag beside it); a datagram belongs to
//! the measured phase when that time does, and only then do its latency and fate
//! count. Corrupted datagrams count in every phase, each with its interval's errors,
//! and never as a latency sample nor throughput.
//! An open loop sends a datagram of its schedule however late, the drain included
//! (`to_send` counts those not sent yet, and the drain waits for them); a closed
//! loop sends nothing once the measured phase is over.

use std::io;

use mio::{Registry, Token};

use super::super::config::Config;
use super::super::histogram::record;
use super::super::ledger::{Ledger, Start};
use super::super::tally::{DatagramCounts, Tally};
use super::flow::{Arrival, Flow, Window};
use super::loss::LossWatch;

/// Receive buffer per thread: more than any UDP datagram, so one that is too
/// long is seen whole (and found corrupted), never cut to size.
const RBUF: usize = 65_536;

/// The per-thread bookkeeping of the UDP traffic phase (everything but the
/// flows): the shared [`Ledger`] and what only flows need.
pub struct Book {
    /// What every transport keeps the same way.
    pub ledger: Ledger,
    /// The one receive buffer of the thread (answers are checked, then forgotten).
    rbuf: Vec<u8>,
    /// The one send buffer of the thread: each datagram is assembled here.
    sbuf: Vec<u8>,
    /// The datagrams in flight, `pipeline` window slots per flow.
    window: Window,
    /// The thread's poll registry (a blocked flow asks for WRITABLE).
    registry: Registry,
    /// When datagrams count as lost.
    pub losses: LossWatch,
}

impl Book {
    /// The bookkeeping of a thread starting from `start` (its flows, those up,
    /// the run's established), `registry` its poll's; `tally` holds what opening
    /// the flows counted.
    pub fn new(config: &Config, start: &Start, registry: Registry, tally: Tally) -> Self {
        let (flows, pipeline) = (start.endpoints, config.pipeline as usize);
        Self {
            ledger: Ledger::new(config, start, tally),
            rbuf: vec![0u8; RBUF],
            sbuf: vec![0u8; config.size],
            window: Window::new(flows, pipeline),
            registry,
            losses: LossWatch::new(config.udp_timeout, flows * pipeline),
        }
    }

    /// Whether flow `f` (index `i`) may send its next datagram now.
    #[inline]
    fn may_send(&mut self, i: usize, f: &Flow, now: u64) -> bool {
        if !f.window_open(self.window.of(i)) {
            return false;
        }
        match &self.ledger.schedule {
            None => !self.ledger.phase.draining(),
            // However late: the drain sends the backlog (the schedule ends with
            // the measured phase).
            Some(s) => f.send_seq < s.due_for(u64::from(f.slot()), s.due(now)),
        }
    }

    /// Sends what flow `i` may send now. `ready_ns`: when its window slot freed
    /// (0 if not from an answer or a loss), for the schedule-lag figure.
    pub fn fill(&mut self, i: usize, f: &mut Flow, now: u64, ready_ns: u64) {
        let size = self.ledger.pattern.size();
        while f.is_up() && self.may_send(i, f, now) {
            let seq = f.send_seq;
            self.ledger.pattern.fill(f.id, seq, &mut self.sbuf[..size]);
            match f.send(&self.sbuf[..size], &self.registry, Token(i)) {
                Ok(()) => {}
                // The socket buffer is full: WRITABLE wakes the flow.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.fail(i, f, &e),
            }
            let intended = self.ledger.schedule.map(|s| s.intended(u64::from(f.slot()), seq));
            let measured = self.ledger.timeline.measured(intended.unwrap_or(now));
            f.sent(self.window.of(i), now, measured);
            self.losses.sent(i, seq);
            self.ledger.in_flight += 1;
            self.ledger.to_send = self.ledger.to_send.saturating_sub(u64::from(intended.is_some()));
            if measured {
                self.count(|d| d.sent += 1);
                if let Some(t) = intended {
                    record(
                        &mut self.ledger.tally.schedule_lag,
                        now.saturating_sub(t.max(ready_ns)),
                    );
                }
            }
        }
    }

    /// Handles readiness of flow `i`: receives and checks every datagram queued,
    /// then sends. `error`: the socket reported an error (an ICMP port unreachable
    /// on loopback: nothing listens there), which the next receive returns.
    pub fn on_ready(&mut self, i: usize, f: &mut Flow, readable: bool, writable: bool) {
        if !f.is_up() {
            return;
        }
        if writable {
            if let Err(e) = f.writable(&self.registry, Token(i)) {
                return self.fail(i, f, &e);
            }
        }
        let mut now = self.ledger.clock.now_ns();
        if readable {
            loop {
                match f.recv(&mut self.rbuf) {
                    Ok(n) => {
                        now = self.ledger.clock.now_ns();
                        self.on_datagram(i, f, n, now);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return self.fail(i, f, &e),
                }
            }
        }
        self.fill(i, f, now, now);
    }

    /// Reads and counts the `n` bytes just received on flow `i`.
    fn on_datagram(&mut self, i: usize, f: &mut Flow, n: usize, now: u64) {
        let arrival = f.receive(&self.rbuf[..n], &self.ledger.pattern, self.window.of(i));
        let (bad_at, seq) = match arrival {
            Arrival::Answer { seq, sent_ns, measured, reordered, bad_at } => {
                self.ledger.in_flight -= 1;
                self.losses.answered(now - sent_ns);
                // A corrupted answer is answered (not lost), never a latency
                // sample nor throughput: it was not echoed.
                let good = bad_at.is_none();
                if measured {
                    self.count(|d| {
                        d.answered += 1;
                        d.reordered += u64::from(reordered);
                    });
                    if good {
                        self.record_latency(f.slot(), seq, sent_ns, now);
                    }
                }
                if good && self.ledger.timeline.measured(now) {
                    self.ledger.tally.messages += 1;
                    self.ledger.tally.bytes += self.ledger.pattern.size() as u64;
                    self.ledger.interval.msgs += 1;
                }
                (bad_at, Some(seq))
            }
            Arrival::Duplicate { measured, bad_at } => {
                if measured.unwrap_or(self.ledger.timeline.measured(now)) {
                    self.count(|d| d.duplicated += 1);
                }
                (bad_at, None)
            }
            Arrival::Late { measured, sent_ns, bad_at } => {
                if let Some(sent_ns) = sent_ns {
                    // The timeout learns how late answers come.
                    self.losses.answered(now - sent_ns);
                }
                if measured.unwrap_or(self.ledger.timeline.measured(now)) {
                    self.count(|d| d.late += 1);
                }
                (bad_at, None)
            }
            Arrival::Foreign => return self.corrupted(f.id, None, n),
        };
        if !f.served {
            f.served = true;
            self.ledger.tally.served += 1;
            self.ledger.served_up += 1;
        }
        if let Some(at) = bad_at {
            self.corrupted(f.id, seq, at);
        }
    }

    /// Records the latency of datagram `seq` of the flow at schedule slot `slot`,
    /// sent at `sent_ns` and answered at `now`, as TCP messages are.
    fn record_latency(&mut self, slot: u32, seq: u64, sent_ns: u64, now: u64) {
        match &self.ledger.schedule {
            None => record(&mut self.ledger.interval.latency, now - sent_ns),
            Some(s) => {
                let intended = s.intended(u64::from(slot), seq);
                record(&mut self.ledger.interval.latency, now.saturating_sub(intended));
                record(&mut self.ledger.tally.latency_uncorrected, now - sent_ns);
            }
        }
    }

    /// Counts a corrupted datagram of flow `id` (`seq`: the datagram it answers,
    /// when its header says; `at`: its first wrong byte, or its length).
    fn corrupted(&mut self, id: u32, seq: Option<u64>, at: usize) {
        // Counted in every phase (so through `count`, whatever the phase).
        self.count(|d| d.corrupted += 1);
        self.ledger.interval.errors += 1;
        if self.ledger.tally.first_mismatch.is_none() {
            self.ledger.tally.first_mismatch = Some(match seq {
                Some(seq) => format!("flow {id} datagram {seq}: first wrong byte at offset {at}"),
                None => format!(
                    "flow {id}: a datagram of {at} bytes that was never sent (its header names \
                     no datagram this flow sent)"
                ),
            });
        }
    }

    /// Gives up the datagrams lost by `now`; a flow that lost one sends its next
    /// at once (a loss never stalls it).
    pub fn expire(&mut self, flows: &mut [Flow], now: u64) {
        while let Some((i, seq)) = self.losses.next_lost(now, &self.window) {
            if self.lose(&mut flows[i], i, seq) {
                self.fill(i, &mut flows[i], now, now);
            }
        }
    }

    /// The end of a drained run: every datagram still in flight is lost (the
    /// drain lasts at least the timeout); the flows up that sent and were never
    /// answered count as unserved.
    pub fn settle(&mut self, flows: &mut [Flow]) {
        while let Some((i, seq)) = self.losses.next_lost(u64::MAX, &self.window) {
            self.lose(&mut flows[i], i, seq);
        }
        let n = flows.iter().filter(|f| f.is_up() && f.send_seq > 0 && !f.served).count() as u64;
        self.ledger.tally.unserved += n;
        self.ledger.interval.unserved += n;
    }

    /// Datagram `seq` of flow `f` (index `i`) is lost; whether it was still in
    /// flight.
    fn lose(&mut self, f: &mut Flow, i: usize, seq: u64) -> bool {
        let Some(measured) = f.lose(seq, self.window.of(i)) else { return false };
        self.ledger.in_flight -= 1;
        if measured {
            self.count(|d| d.lost += 1);
        }
        true
    }

    /// When the oldest datagram in flight runs out of time.
    pub fn next_deadline(&self) -> Option<u64> {
        self.losses.next_deadline(&self.window)
    }

    /// Counts an I/O error on flow `i` and closes it; its datagrams in flight are
    /// neither answered nor lost. ECONNREFUSED (an ICMP port unreachable) before
    /// any answer: nothing listens at the target, so the flow never opened — a
    /// failed open, as a refused TCP connect is; after an answer, the target's
    /// port closed while in use: refused.
    fn fail(&mut self, i: usize, f: &mut Flow, e: &io::Error) {
        let refused = e.kind() == io::ErrorKind::ConnectionRefused;
        if refused && !f.served {
            self.never_opened(f);
        } else if !(self.ledger.phase.draining() && f.in_flight == 0) {
            // In the drain with nothing awaited, the run is done with the flow.
            match e.kind() {
                io::ErrorKind::ConnectionRefused => self.ledger.tally.errors.refused += 1,
                io::ErrorKind::ConnectionReset => self.ledger.tally.errors.reset += 1,
                _ => self.ledger.tally.errors.other += 1,
            }
            self.ledger.interval.errors += 1;
        }
        let left = self.ledger.unstarted(f.slot(), f.send_seq);
        self.ledger.to_send = self.ledger.to_send.saturating_sub(left);
        self.ledger.in_flight -= u64::from(f.close(self.window.of(i)));
        self.ledger.up -= 1;
        if f.served {
            self.ledger.served_up -= 1;
        }
    }

    /// Flow `f`, refused before any answer, counts as never opened: out of the
    /// established (and of its source address's), into the failed by errno.
    fn never_opened(&mut self, f: &Flow) {
        let t = &mut self.ledger.tally;
        t.established = t.established.saturating_sub(1);
        t.connect_failed("ECONNREFUSED");
        let Some(ip) = f.local_ip().map(|ip| ip.to_string()) else { return };
        if let Some(n) = t.per_source.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                t.per_source.remove(&ip);
            }
        }
    }

    /// Applies `add` to the datagram counts of the thread and of the second.
    #[inline]
    fn count(&mut self, add: impl Fn(&mut DatagramCounts)) {
        add(&mut self.ledger.tally.datagrams);
        add(&mut self.ledger.interval.datagrams);
    }
}
