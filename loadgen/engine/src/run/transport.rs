//! What a transport gives the one traffic engine: the [`Transport`] trait. The
//! worker (`worker`) and its event loop (`traffic_loop`) are written once,
//! generic over it, and monomorphised per transport (no `dyn`, no branch on the
//! protocol in the loop): TCP connections (`traffic::Book` with [`super::conn::Conn`])
//! and UDP flows (`udp::book::Book` with `udp::flow::Flow`).
//!
//! A transport owns what differs: opening its endpoints, sending, receiving and
//! verifying a message, what it does with a readiness event, what runs out of
//! time each turn (a connection's first answer; a datagram in flight), how long
//! the drain lasts at least, and how the drained end settles. What is the same —
//! the phases, the seconds, the pacer, the shared bookkeeping ([`Ledger`]) — lives
//! in the loop and the ledger.

use std::sync::atomic::AtomicBool;

use mio::event::Event;
use mio::{Events, Poll};

use super::clock::Clock;
use super::layout::ConnSpec;
use super::ledger::{Ledger, Start};
use super::tally::Tally;
use super::worker_start::WorkerStart;

/// One traffic transport: its per-thread book (`Self`) and its endpoint type.
pub trait Transport: Sized {
    /// One endpoint of a worker thread (a connection, a flow); token = index.
    type Endpoint;

    /// Opens this thread's endpoints on `poll`, one per spec, each up or dead;
    /// counts go to `tally`.
    fn open(
        w: &WorkerStart,
        poll: &mut Poll,
        events: &mut Events,
        tally: &mut Tally,
    ) -> Vec<Self::Endpoint>;

    /// The book of a thread starting from `start`, its ledger made of `tally`;
    /// `Err(tally)` (said on stderr; boxed, once per thread) when the thread
    /// cannot carry traffic.
    fn book(w: &WorkerStart, poll: &Poll, start: &Start, tally: Tally) -> Result<Self, Box<Tally>>;

    /// The shared bookkeeping.
    fn ledger(&self) -> &Ledger;
    /// The shared bookkeeping, to change.
    fn ledger_mut(&mut self) -> &mut Ledger;
    /// The shared bookkeeping, once the traffic is over.
    fn into_ledger(self) -> Ledger;

    /// Whether endpoint `e` is up and carries traffic.
    fn is_up(e: &Self::Endpoint) -> bool;
    /// Messages endpoint `e` has started, in sequence order.
    fn started(e: &Self::Endpoint) -> u64;
    /// Open loop: gives an endpoint up its slot in the thread's schedule.
    fn set_slot(e: &mut Self::Endpoint, slot: u32);

    /// Sends what endpoint `i` may send now; `ready_ns`: when its slot freed (0 if
    /// not from an answer), for the schedule-lag figure.
    fn fill(&mut self, i: usize, e: &mut Self::Endpoint, now: u64, ready_ns: u64);
    /// Handles readiness `ev` of endpoint `i`: receive and verify, then send.
    fn on_event(&mut self, i: usize, e: &mut Self::Endpoint, ev: &Event);

    /// How long the drain lasts at least at `now`, `configured` (the drain timeout)
    /// or more.
    fn drain_ns(&mut self, now: u64, configured: u64) -> u64;
    /// Gives up what ran out of time by `now`.
    fn expire(&mut self, endpoints: &mut [Self::Endpoint], now: u64, w: &WorkerStart);
    /// When the next thing runs out of time, if anything can.
    fn next_deadline(&self) -> Option<u64>;
    /// The run is over: how the endpoints still open close (TCP churn with
    /// `--close rst`: by reset, as every other close of the run).
    fn close_all(&mut self, _endpoints: &mut [Self::Endpoint]) {}
    /// Endpoints on their way up again (churn: a replacement connecting, or a
    /// failed one waiting to retry): alive for the phase, not up.
    fn pending(&self) -> u64 {
        0
    }
    /// The end of a drained run: what was still awaited is counted.
    fn settle(&mut self, endpoints: &mut [Self::Endpoint], w: &WorkerStart);
}

/// What a thread opens, whatever the transport: its endpoints' specs (token =
/// index), on the run clock, until the stop flag says otherwise.
#[derive(Clone, Copy, Debug)]
pub struct OpenPlan<'a> {
    /// One spec per endpoint.
    pub specs: &'a [ConnSpec],
    /// The run clock (open times, pacing).
    pub clock: &'a Clock,
    /// Set: the open phase ends early.
    pub stop: &'a AtomicBool,
}

impl<'a> OpenPlan<'a> {
    /// The plan of worker `w`.
    pub fn of(w: &'a WorkerStart) -> Self {
        Self { specs: &w.specs, clock: &w.clock, stop: &w.shared.stop }
    }
}
