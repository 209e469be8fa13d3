//! UDP as a [`Transport`] of the one traffic engine: endpoints are flows
//! ([`Flow`]), opened by `open`, their datagrams handled by the UDP book
//! (`book`). What only UDP does each turn: the loss timeout follows the round
//! trips (so the drain lasts at least that long), and datagrams whose time ran out
//! are lost (their flows send on); at a drained end, those still in flight are
//! lost and the flows never answered are unserved.

use mio::event::Event;
use mio::{Events, Poll};

use super::super::ledger::{Ledger, Start};
use super::super::tally::Tally;
use super::super::transport::{OpenPlan, Transport};
use super::super::worker_start::WorkerStart;
use super::book::Book;
use super::flow::Flow;
use super::open::{open_all, Opening};

impl Transport for Book {
    type Endpoint = Flow;

    fn open(
        w: &WorkerStart,
        poll: &mut Poll,
        _events: &mut Events,
        tally: &mut Tally,
    ) -> Vec<Flow> {
        let c = &w.config;
        let opening = Opening {
            size: c.size,
            pipeline: c.pipeline,
            rate_per_s: c.connect_rate.map(|r| r / c.threads as f64),
        };
        open_all(poll, OpenPlan::of(w), opening, tally)
    }

    fn book(w: &WorkerStart, poll: &Poll, start: &Start, tally: Tally) -> Result<Self, Box<Tally>> {
        match poll.registry().try_clone() {
            Ok(registry) => Ok(Book::new(&w.config, start, registry, tally)),
            Err(e) => {
                eprintln!("loadgen: worker {}: cannot use its poll: {e}", w.index);
                Err(Box::new(tally))
            }
        }
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
    fn is_up(f: &Flow) -> bool {
        f.is_up()
    }

    #[inline]
    fn started(f: &Flow) -> u64 {
        f.send_seq
    }

    fn set_slot(f: &mut Flow, slot: u32) {
        f.set_slot(slot);
    }

    #[inline]
    fn fill(&mut self, i: usize, f: &mut Flow, now: u64, ready_ns: u64) {
        Book::fill(self, i, f, now, ready_ns);
    }

    /// An error (an ICMP port unreachable) is returned by the next receive.
    #[inline]
    fn on_event(&mut self, i: usize, f: &mut Flow, ev: &Event) {
        self.on_ready(i, f, ev.is_readable() || ev.is_error(), ev.is_writable());
    }

    /// The loss timeout learns from the round trips; the drain lasts at least
    /// that long, so every datagram in flight gets its time.
    #[inline]
    fn drain_ns(&mut self, now: u64, configured: u64) -> u64 {
        self.losses.update(now);
        configured.max(self.losses.timeout_ns())
    }

    fn expire(&mut self, flows: &mut [Flow], now: u64, _w: &WorkerStart) {
        Book::expire(self, flows, now);
    }

    #[inline]
    fn next_deadline(&self) -> Option<u64> {
        Book::next_deadline(self)
    }

    fn settle(&mut self, flows: &mut [Flow], _w: &WorkerStart) {
        Book::settle(self, flows);
    }
}
