//! TCP as a [`Transport`] of the one traffic engine: endpoints are connections
//! ([`Conn`]), opened by the connect phase (`connect`), their traffic handled by
//! the TCP book (`traffic`). What only TCP does each turn: give up connections
//! whose first message went unanswered for the connect timeout (unserved); at a
//! drained end, the echoes still awaited on connections up count as timeouts.

use mio::event::Event;
use mio::{Events, Poll};

use super::churn::CloseMode;
use super::churn_book::ChurnBook;
use super::conn::Conn;
use super::connect::{connect_all, ConnectLimits};
use super::ledger::{Ledger, Start};
use super::tally::Tally;
use super::traffic::Book;
use super::transport::{OpenPlan, Transport};
use super::worker_start::WorkerStart;

impl Transport for Book {
    type Endpoint = Conn;

    fn open(w: &WorkerStart, poll: &mut Poll, events: &mut Events, tally: &mut Tally) -> Vec<Conn> {
        let limits = ConnectLimits {
            rate_per_s: w.config.connect_rate.map(|r| r / w.config.threads as f64),
            timeout_ns: w.config.connect_timeout.as_nanos() as u64,
        };
        connect_all(poll, events, OpenPlan::of(w), limits, tally)
    }

    fn book(w: &WorkerStart, poll: &Poll, start: &Start, tally: Tally) -> Result<Self, Box<Tally>> {
        let mut book = Book::new(&w.config, start, tally);
        if let Some(churn) = w.config.churn {
            let registry = match poll.registry().try_clone() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("loadgen: worker {}: cannot churn connections: {e}", w.index);
                    return Err(Box::new(book.ledger.tally));
                }
            };
            let when = (w.config.connect_timeout, start.clock.now_ns());
            let seed = w.config.id_base.wrapping_mul(1_000_003) ^ w.index as u64;
            book.churn = Some(ChurnBook::new(churn, registry, &w.specs, when, seed));
        }
        Ok(book)
    }

    #[inline]
    fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    #[inline]
    fn ledger_mut(&mut self) -> &mut Ledger {
        &mut self.ledger
    }

    fn into_ledger(self) -> Ledger {
        self.ledger
    }

    #[inline]
    fn is_up(c: &Conn) -> bool {
        c.is_up()
    }

    #[inline]
    fn started(c: &Conn) -> u64 {
        c.started()
    }

    fn set_slot(c: &mut Conn, slot: u32) {
        c.set_slot(slot);
    }

    #[inline]
    fn fill(&mut self, i: usize, c: &mut Conn, now: u64, ready_ns: u64) {
        Book::fill(self, i, c, now, ready_ns);
    }

    /// The peer's FIN or an error come with the event and no later one repeats
    /// them (edge-triggered): reading goes on until it is seen.
    #[inline]
    fn on_event(&mut self, i: usize, c: &mut Conn, ev: &Event) {
        let closed = ev.is_read_closed() || ev.is_error();
        self.on_ready(i, c, ev.is_readable() || closed, closed);
    }

    #[inline]
    fn drain_ns(&mut self, _now: u64, configured: u64) -> u64 {
        configured
    }

    fn expire(&mut self, conns: &mut [Conn], now: u64, w: &WorkerStart) {
        w.shared.unserved_found(self.expire_unserved(conns, now), w.config.connect_timeout);
        self.expire_churn(conns, now);
    }

    #[inline]
    fn next_deadline(&self) -> Option<u64> {
        let first = self.first.next_deadline();
        match self.churn.as_ref().and_then(|c| c.next_deadline()) {
            Some(churn) => Some(first.map_or(churn, |f| f.min(churn))),
            None => first,
        }
    }

    fn close_all(&mut self, conns: &mut [Conn]) {
        if self.churn.as_ref().is_some_and(|c| c.churn.close == CloseMode::Rst) {
            for c in conns.iter_mut() {
                c.reset_on_close();
            }
        }
    }

    #[inline]
    fn pending(&self) -> u64 {
        self.churn.as_ref().map_or(0, |c| c.pending())
    }

    /// Echoes that never came, on connections still up, count — on a connection
    /// never answered at all, it is unserved; on the others, those are timeouts.
    fn settle(&mut self, conns: &mut [Conn], w: &WorkerStart) {
        w.shared.unserved_found(self.expire_unserved(conns, u64::MAX), w.config.connect_timeout);
        let l = &mut self.ledger;
        l.tally.errors.timeout += l.in_flight;
        l.interval.errors += l.in_flight;
    }
}
