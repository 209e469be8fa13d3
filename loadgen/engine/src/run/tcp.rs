//! TCP as a [`Transport`] of the one traffic engine: endpoints are connections
//! ([`Conn`]), opened by the connect phase (`connect`), their traffic handled by
//! the TCP book (`traffic`). What only TCP does each turn: give up connections
//! whose first message went unanswered for the connect timeout (unserved); at a
//! drained end, the echoes still awaited on connections up count as timeouts.

use mio::event::Event;
use mio::{Events, Poll};

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

    fn book(
        w: &WorkerStart,
        _poll: &Poll,
        start: &Start,
        tally: Tally,
    ) -> Result<Self, Box<Tally>> {
        Ok(Book::new(&w.config, start, tally))
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
    }

    #[inline]
    fn next_deadline(&self) -> Option<u64> {
        self.first.next_deadline()
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
