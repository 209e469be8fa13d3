//! UDP flows (`--proto udp`): the transport of a UDP run, beside the TCP one, sharing
//! everything around it — the coordinator and its start line, the phases and
//! seconds, the open-loop schedule, the tally, histograms, live line, outcome and
//! split runs — with no UDP branch inside the TCP connection code.
//!
//! A flow is a connected UDP socket from its own ephemeral port (every flow its own
//! four-tuple: `--conns N` is N flows); every datagram carries the flow id and a
//! sequence number (the payload layout of TCP messages, one message per datagram)
//! and is verified. What becomes of each is counted: answered, lost (no answer
//! within the timeout), late, duplicated, reordered, corrupted.
//!
//! # Layout
//!
//! - `flow`: one flow's state (its socket inside it), its window of datagrams in
//!   flight, and what an arriving datagram is to it.
//! - `loss`: when a datagram counts as lost (the timeout, fixed or adaptive).
//! - `open`: opening a thread's flows (bind, connect, register).
//! - `book`: the per-readiness work (send, receive, verify, record, count, lose).
//! - `transport`: UDP as a transport of the one traffic loop and worker
//!   (`run::traffic_loop`, `run::worker`).

mod book;
mod flow;
mod loss;
mod open;
mod transport;

pub use book::Book;
