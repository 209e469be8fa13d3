//! A [`Cap`] on places taken at once. `--max-conns`: the connections the whole server
//! holds, over every worker of every process. `--max-threads` (`--model threads`):
//! the connection threads of one process. A connection takes a place before it is
//! served and gives it back when it closes; past the cap it is accepted and closed
//! at once.
//!
//! Invariant: the places taken and not given back never exceed `max`. Admission is a
//! compare-and-swap below `max` (never an add-then-undo, which would refuse a
//! connection in a race while there was room). One process: one counter its workers
//! share. `--processes`: the total lives in memory shared by all children
//! ([`SharedCounters`], counter 0), so the cap holds whatever the kernel's hashing
//! sends to which process, and no process refuses while another has room (a static
//! split, 4+3+3 for 10 over 3, would refuse the 5th connection hashed to one process
//! while the others sit empty). Each child also counts its own places (counter
//! 1 + its slot), so when a child dies the parent [`reclaim`]s them: its connections
//! died with it. A child killed between its two updates leaks at most one place
//! (the total stays one too high): the cap may shrink by one, never grow.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::sys::SharedCounters;

/// A cap on places (connections, or connection threads), shared by every worker of a
/// process: clones count in the same places.
#[derive(Debug, Clone)]
pub(crate) struct Cap {
    /// `--max-conns` or `--max-threads`; `None` skips counting entirely.
    max: Option<u64>,
    /// Where the places are counted.
    places: Places,
}

/// Where a cap counts its places.
#[derive(Debug, Clone)]
enum Places {
    /// One process: a counter its workers share.
    Local(Arc<AtomicU64>),
    /// A `--processes` child: the total at counter 0, this child's own at 1 + `slot`.
    Shared {
        /// The memory every child maps.
        counters: Arc<SharedCounters>,
        /// This child's index.
        slot: usize,
    },
}

impl Cap {
    /// A cap of `max` places (or none) in one process.
    pub(crate) fn new(max: Option<usize>) -> Cap {
        Cap { max: max.map(|m| m as u64), places: Places::Local(Arc::default()) }
    }

    /// A cap of `max` connections counted in `counters` shared with the other
    /// children, this process being child `slot`.
    pub(crate) fn shared(max: usize, counters: SharedCounters, slot: usize) -> Cap {
        assert!(slot + 1 < counters.len(), "slot {slot} of {} counters", counters.len());
        let places = Places::Shared { counters: Arc::new(counters), slot };
        Cap { max: Some(max as u64), places }
    }

    fn total(&self) -> &AtomicU64 {
        match &self.places {
            Places::Local(n) => n,
            Places::Shared { counters, .. } => counters.get(0),
        }
    }

    /// Takes a place for a new connection; false when the server is full.
    pub(crate) fn admit(&self) -> bool {
        let Some(max) = self.max else { return true };
        let took = self
            .total()
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1));
        if took.is_err() {
            return false;
        }
        if let Places::Shared { counters, slot } = &self.places {
            counters.get(1 + slot).fetch_add(1, Ordering::AcqRel);
        }
        true
    }

    /// Places taken now (0 when there is no cap).
    pub(crate) fn open(&self) -> u64 {
        match self.max {
            Some(_) => self.total().load(Ordering::Acquire),
            None => 0,
        }
    }

    /// Gives a place back when a connection closes.
    pub(crate) fn release(&self) {
        if self.max.is_none() {
            return;
        }
        if let Places::Shared { counters, slot } = &self.places {
            counters.get(1 + slot).fetch_sub(1, Ordering::AcqRel);
        }
        self.total().fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counters for `processes` children sharing one `--max-conns`: the total, then one
/// per child.
pub(crate) fn shared_counters(processes: usize) -> std::io::Result<SharedCounters> {
    SharedCounters::create(1 + processes)
}

/// Gives back every place dead child `slot` held (its connections died with it);
/// returns how many. Call only once the child is reaped.
pub(crate) fn reclaim(counters: &SharedCounters, slot: usize) -> u64 {
    let held = counters.get(1 + slot).swap(0, Ordering::AcqRel);
    counters.get(0).fetch_sub(held, Ordering::AcqRel);
    held
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Never more than `max` places, across two "processes" sharing the counters; a
    /// dead one's places come back with `reclaim`.
    #[test]
    fn shared_cap_and_reclaim() {
        let counters = shared_counters(2).expect("memfd");
        let fd = counters.fd();
        let open = || SharedCounters::open_inherited(fd, 3).expect("map");
        let (a, b) = (Cap::shared(3, open(), 0), Cap::shared(3, open(), 1));
        assert!(a.admit() && a.admit() && b.admit());
        assert!(!a.admit() && !b.admit(), "full at 3 in all");
        b.release();
        assert!(a.admit(), "a place freed by one child serves the other");
        assert!(!b.admit());
        assert_eq!(reclaim(&counters, 0), 3, "child 0 held 3");
        assert!(b.admit() && b.admit() && b.admit() && !b.admit());
    }

    /// No cap: always admitted, nothing counted.
    #[test]
    fn no_cap() {
        let none = Cap::new(None);
        assert!((0..10).all(|_| none.admit()));
        let one = Cap::new(Some(1));
        assert!(one.admit() && !one.admit());
        one.release();
        assert!(one.admit());
    }
}
