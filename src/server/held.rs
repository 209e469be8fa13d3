//! `--max-held-bytes`: one budget for the bytes a process holds toward peers that do
//! not read (what a short write left pending), over every connection of every
//! worker. A connection adds what it keeps when a write comes back short and gives
//! it back when it drains or closes; while the total is at or past the budget, every
//! worker stops reading (writing what is pending goes on), counts the pause once in
//! `held_pauses`, and resumes when the total is under the budget again.
//!
//! Invariants: the total is the sum of what the connections hold now (every `hold`
//! is matched by one `release` of the same amount); a connection holds at most one
//! read buffer (`--buffer`), so the total exceeds the budget by less than one
//! buffer per worker (a read already under way when the budget was reached).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The default `--max-held-bytes`: 256 MiB.
pub const DEFAULT_MAX_HELD_BYTES: u64 = 256 << 20;

/// The held-bytes budget of one process; clones share the count.
#[derive(Clone, Debug)]
pub(crate) struct HeldBytes {
    /// Bytes held now, over every worker.
    total: Arc<AtomicU64>,
    /// `--max-held-bytes`.
    max: u64,
}

impl HeldBytes {
    /// A budget of `max` bytes, nothing held.
    pub(crate) fn new(max: u64) -> HeldBytes {
        HeldBytes { total: Arc::default(), max }
    }

    /// A connection keeps `n` more bytes; returns the total now (for `held_peak`).
    pub(crate) fn hold(&self, n: u64) -> u64 {
        self.total.fetch_add(n, Ordering::Relaxed) + n
    }

    /// A connection gave back `n` bytes it held.
    pub(crate) fn release(&self, n: u64) {
        self.total.fetch_sub(n, Ordering::Relaxed);
    }

    /// Bytes held now.
    pub(crate) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Whether the budget is spent: no worker reads until it is not.
    pub(crate) fn spent(&self) -> bool {
        self.total() >= self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Holding up to the budget spends it; giving back reopens it; clones share.
    #[test]
    fn hold_spend_release() {
        let held = HeldBytes::new(100);
        let other = held.clone();
        assert!(!held.spent());
        assert_eq!(held.hold(60), 60);
        assert_eq!(other.hold(40), 100);
        assert!(held.spent() && other.spent());
        other.release(40);
        assert!(!held.spent());
        assert_eq!(held.total(), 60);
    }
}
