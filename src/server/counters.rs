//! The one list of a worker's counters. Each row of the table at the bottom names a
//! counter once; the `counters!` macro generates from it everything that must agree:
//! the plain counters a worker counts into ([`Counters`], serialized as they are, so
//! the `--stats-json` keys are the field names), the [`Counter`] that names one of
//! them (and indexes its atomic slot in [`LiveStats`](super::LiveStats)), who counts
//! it ([`CountedBy`]), how the workers' values add up ([`Merge`]), and the label in
//! the stats line at exit.
//! Adding a counter is one row; nothing else lists them.
//!
//! Invariants: [`Counter::ALL`] holds every counter in the table's order, and
//! `Counter::ALL[i] as usize == i`; that order is also the order of the JSON fields
//! and of the stats line.

use serde::{Deserialize, Serialize};

/// How one counter of several workers adds up into the server's total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// Summed: counts, and peaks of a count spread over workers (connections at once).
    Sum,
    /// The largest: a bound that holds per connection, not per worker.
    Max,
}

/// Who counts a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountedBy {
    /// The accept loop (`accept::Acceptor`), in every model.
    Acceptor,
    /// Whatever serves connections: the worker's event loop, or (`--model threads`)
    /// the connection threads, which add to the live counters themselves.
    Service,
    /// The UDP loop (`--proto udp|both`); its rows are printed at exit only by a
    /// worker that counted any of them.
    Udp,
}

/// Generates [`Counters`], [`Counter`] and their accessors from one table. A row:
/// `/// doc`, then `field, Variant, CountedBy, Merge` and, when the stats line at
/// exit prints it, `printed "label"`.
macro_rules! counters {
    (@label) => {
        None
    };
    (@label $label:literal) => {
        Some($label)
    };
    ($(
        $(#[doc = $doc:literal])*
        $field:ident, $variant:ident, $by:ident, $merge:ident $(, printed $label:literal)?;
    )*) => {
        /// One worker's counters: plain integers, written by that worker's thread alone
        /// (no atomic, no lock per event). A key missing from older JSON reads as 0.
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct Counters {
            $( $(#[doc = $doc])* pub $field: u64, )*
        }

        /// Names one of the [`Counters`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Counter {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Counter {
            /// Every counter, in the table's order.
            pub const ALL: &'static [Counter] = &[$(Counter::$variant),*];

            /// Its field name: the `--stats-json` key.
            pub fn name(self) -> &'static str {
                match self {
                    $(Counter::$variant => stringify!($field),)*
                }
            }

            /// Who counts it.
            pub fn counted_by(self) -> CountedBy {
                match self {
                    $(Counter::$variant => CountedBy::$by,)*
                }
            }

            /// How it adds up over workers.
            pub fn merge(self) -> Merge {
                match self {
                    $(Counter::$variant => Merge::$merge,)*
                }
            }

            /// Its label in the stats line at exit; `None`: not printed there.
            pub fn label(self) -> Option<&'static str> {
                match self {
                    $(Counter::$variant => counters!(@label $($label)?),)*
                }
            }
        }

        impl Counters {
            /// The value of counter `c`.
            pub fn get(&self, c: Counter) -> u64 {
                match c {
                    $(Counter::$variant => self.$field,)*
                }
            }

            /// Counter `c`, to change it.
            pub fn get_mut(&mut self, c: Counter) -> &mut u64 {
                match c {
                    $(Counter::$variant => &mut self.$field,)*
                }
            }
        }
    };
}

counters! {
    /// Connections accepted and served (those closed at once, counted below, not
    /// included).
    accepted, Accepted, Acceptor, Sum, printed "accepted";
    /// Connections open now (at exit: when shutdown began).
    active, Active, Service, Sum;
    /// The most connections open at once: how evenly the kernel spread them.
    active_peak, ActivePeak, Service, Sum, printed "active_peak";
    /// Bytes read from peers.
    bytes_in, BytesIn, Service, Sum, printed "bytes_in";
    /// Bytes written back to peers.
    bytes_out, BytesOut, Service, Sum, printed "bytes_out";
    /// Reads that returned data: messages, for a closed-loop client.
    reads, Reads, Service, Sum;
    /// Failed accepts (EMFILE/ENFILE and others); each EMFILE pauses accepting briefly.
    accept_errors, AcceptErrors, Acceptor, Sum, printed "accept_errors";
    /// Connections accepted and closed at once because of `--max-conns`.
    rejected_max_conns, RejectedMaxConns, Acceptor, Sum, printed "rejected";
    /// Connections accepted and closed at once because serving them needed what was
    /// not there: a connection thread (`--max-threads` reached, or refused by the OS)
    /// or a place in the event loop.
    rejected_resources, RejectedResources, Acceptor, Sum, printed "rejected_resources";
    /// Connections closed by an I/O error (a reset, mostly) rather than an orderly EOF.
    closed_by_error, ClosedByError, Service, Sum, printed "resets";
    /// The most bytes one connection had pending toward its peer: bounded by
    /// `--buffer`, the proof that a peer that does not read cannot grow echod.
    pending_peak, PendingPeak, Service, Max;
    /// Connections closed by `--idle-timeout`: no byte read or written for that long.
    closed_idle, ClosedIdle, Service, Sum, printed "closed_idle";
    /// Times a worker found `--max-held-bytes` spent and stopped reading from every
    /// connection (until the bytes held toward peers were under it again).
    held_pauses, HeldPauses, Service, Sum, printed "held_pauses";
    /// The most bytes the process held toward peers that do not read, over every
    /// connection, as a worker saw it: bounded by `--max-held-bytes` plus a read
    /// buffer per worker.
    held_peak, HeldPeak, Service, Max;
    /// Datagrams received (`--proto udp|both`).
    datagrams_in, DatagramsIn, Udp, Sum, printed "datagrams_in";
    /// Datagrams sent back to their senders.
    datagrams_out, DatagramsOut, Udp, Sum, printed "datagrams_out";
    /// Bytes of the datagrams received.
    datagram_bytes_in, DatagramBytesIn, Udp, Sum, printed "datagram_bytes_in";
    /// Bytes of the datagrams sent back.
    datagram_bytes_out, DatagramBytesOut, Udp, Sum, printed "datagram_bytes_out";
    /// Datagrams received but not sent back because the socket could not take them
    /// then (its send buffer full: EAGAIN) or refused them (an unreachable sender):
    /// dropped, never queued.
    datagrams_dropped, DatagramsDropped, Udp, Sum, printed "datagrams_dropped";
    /// Datagrams not answered on purpose: from a port below 1024 or from echod's own
    /// port (two echo services bounced off each other by one forged datagram would
    /// echo it forever).
    datagrams_refused, DatagramsRefused, Udp, Sum, printed "datagrams_refused";
    /// Datagrams not answered because they were sent to a broadcast or multicast
    /// address (read with IP_PKTINFO on a socket that may receive them): an answer
    /// from every echo of a network is the reflector attack.
    datagrams_not_unicast, DatagramsNotUnicast, Udp, Sum, printed "datagrams_not_unicast";
    /// Datagrams not answered because their source had used up `--udp-rate-limit`:
    /// how a loop between two echo services ends.
    datagrams_rate_limited, DatagramsRateLimited, Udp, Sum, printed "datagrams_rate_limited";
    /// The kernel's count of datagrams it dropped on this worker's full receive queue
    /// (SO_MEMINFO's drop count, read every 64 loop turns and at the end); the
    /// server's total is the sum.
    kernel_drops, KernelDrops, Udp, Sum, printed "kernel_drops";
}

impl Counter {
    /// How many counters there are.
    pub const COUNT: usize = Counter::ALL.len();
}

impl Counters {
    /// Adds `other` into `self`, each counter as its row says ([`Merge`]).
    pub fn merge(&mut self, other: &Counters) {
        for &c in Counter::ALL {
            let theirs = other.get(c);
            let mine = self.get_mut(c);
            *mine = match c.merge() {
                Merge::Sum => *mine + theirs,
                Merge::Max => (*mine).max(theirs),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every counter set to its position plus one.
    fn numbered() -> Counters {
        let mut c = Counters::default();
        for (i, &k) in Counter::ALL.iter().enumerate() {
            *c.get_mut(k) = i as u64 + 1;
        }
        c
    }

    /// `ALL` is in declaration order, so a counter is its own index; every counter
    /// reads and writes its own field.
    #[test]
    fn every_counter_is_its_own_index_and_field() {
        assert_eq!(Counter::COUNT, Counter::ALL.len());
        for (i, &k) in Counter::ALL.iter().enumerate() {
            assert_eq!(k as usize, i, "{k:?}");
        }
        let c = numbered();
        let values: Vec<u64> = Counter::ALL.iter().map(|&k| c.get(k)).collect();
        assert_eq!(values, (1..=Counter::COUNT as u64).collect::<Vec<_>>());
    }

    /// The JSON keys are the counter names, in the table's order; a missing key (an
    /// older file) reads as 0.
    #[test]
    fn json_keys_are_the_names_in_order() {
        let json = serde_json::to_string(&numbered()).expect("json");
        let expected: Vec<String> = Counter::ALL
            .iter()
            .enumerate()
            .map(|(i, k)| format!("\"{}\":{}", k.name(), i + 1))
            .collect();
        assert_eq!(json, format!("{{{}}}", expected.join(",")));
        let old: Counters = serde_json::from_str(r#"{"accepted":5}"#).expect("parse");
        assert_eq!(old, Counters { accepted: 5, ..Counters::default() });
    }

    /// The accept loop keeps the accept counters; everything about serving is kept
    /// by the service.
    #[test]
    fn who_counts_what() {
        let by_acceptor: Vec<Counter> = Counter::ALL
            .iter()
            .copied()
            .filter(|c| c.counted_by() == CountedBy::Acceptor)
            .collect();
        assert_eq!(
            by_acceptor,
            [
                Counter::Accepted,
                Counter::AcceptErrors,
                Counter::RejectedMaxConns,
                Counter::RejectedResources
            ]
        );
    }

    /// Sums add and maxima take the largest.
    #[test]
    fn merge_follows_each_row() {
        let mut total = numbered();
        total.merge(&numbered());
        for &k in Counter::ALL {
            let expected = match k.merge() {
                Merge::Sum => 2 * numbered().get(k),
                Merge::Max => numbered().get(k),
            };
            assert_eq!(total.get(k), expected, "{k:?}");
        }
        assert_eq!(Counter::PendingPeak.merge(), Merge::Max);
    }
}
