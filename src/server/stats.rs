//! Per-worker counters and the report built from them.
//!
//! A worker counts into plain integers ([`WorkerStats`], owned by its thread: no atomic
//! and no lock per event) and publishes them into its [`LiveStats`] with relaxed stores
//! once per event-loop turn. Anyone may snapshot the live stats at any time (the
//! `--stats-interval` line, tests); the final report is the snapshot after the workers
//! joined. `--processes` children write theirs as JSON and the parent concatenates
//! them, which is why worker ids are unique across processes.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

/// One worker's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStats {
    /// Worker id, unique across `--processes` children.
    pub id: usize,
    /// The core it is pinned to; `None` when pinning is off or was refused.
    pub cpu: Option<usize>,
    /// The process that ran it (several with `--processes`).
    pub pid: u32,
    /// Connections accepted and served (those closed at once, counted below, not
    /// included).
    pub accepted: u64,
    /// Connections open now (at exit: when shutdown began).
    pub active: u64,
    /// The most connections open at once: how evenly the kernel spread them.
    pub active_peak: u64,
    /// Bytes read from peers.
    pub bytes_in: u64,
    /// Bytes written back to peers.
    pub bytes_out: u64,
    /// Reads that returned data: messages, for a closed-loop client.
    pub reads: u64,
    /// Failed accepts (EMFILE/ENFILE and others); each EMFILE pauses accepting briefly.
    pub accept_errors: u64,
    /// Connections accepted and closed at once because of `--max-conns`.
    pub rejected_max_conns: u64,
    /// Connections accepted and closed at once because serving them needed what was
    /// not there: a connection thread (`--max-threads` reached, or refused by the OS)
    /// or a place in the event loop.
    #[serde(default)]
    pub rejected_resources: u64,
    /// Connections closed by an I/O error (a reset, mostly) rather than an orderly EOF.
    pub closed_by_error: u64,
    /// The most bytes one connection had pending toward its peer: bounded by
    /// `--buffer`, the proof that a peer that does not read cannot grow echod.
    pub pending_peak: u64,
}

/// Every worker's counters (all processes' with `--processes`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStats {
    /// One entry per worker, in id order.
    pub workers: Vec<WorkerStats>,
    /// `--processes`: children restarted after they died. A dead child's counters died
    /// with it; its workers' entries are its last restart's.
    #[serde(default)]
    pub restarts: u64,
}

impl ServerStats {
    /// The counters summed over workers (id and cpu of the first; peaks summed).
    pub fn total(&self) -> WorkerStats {
        let mut t = WorkerStats::default();
        for w in &self.workers {
            t.accepted += w.accepted;
            t.active += w.active;
            t.active_peak += w.active_peak;
            t.bytes_in += w.bytes_in;
            t.bytes_out += w.bytes_out;
            t.reads += w.reads;
            t.accept_errors += w.accept_errors;
            t.rejected_max_conns += w.rejected_max_conns;
            t.rejected_resources += w.rejected_resources;
            t.closed_by_error += w.closed_by_error;
            t.pending_peak = t.pending_peak.max(w.pending_peak);
        }
        t
    }

    /// One line per worker, for stderr at exit (and one for `--processes` restarts).
    pub fn lines(&self) -> Vec<String> {
        let restarts = (self.restarts > 0).then(|| {
            format!("restarts {} (worker processes restarted after dying)", self.restarts)
        });
        self.workers
            .iter()
            .map(|w| {
                let cpu = w.cpu.map_or("-".to_string(), |c| c.to_string());
                format!(
                    "worker {} cpu {cpu} pid {}: accepted {} active_peak {} bytes_in {} \
                     bytes_out {} accept_errors {} rejected {} rejected_resources {} resets {}",
                    w.id,
                    w.pid,
                    w.accepted,
                    w.active_peak,
                    w.bytes_in,
                    w.bytes_out,
                    w.accept_errors,
                    w.rejected_max_conns,
                    w.rejected_resources,
                    w.closed_by_error
                )
            })
            .chain(restarts)
            .collect()
    }
}

/// A worker's counters as the other threads see them: written by the worker alone
/// (relaxed stores, once per loop turn), read by anyone.
#[derive(Debug, Default)]
pub struct LiveStats {
    /// `[accepted, active, active_peak, bytes_in, bytes_out, reads, accept_errors,
    /// rejected_max_conns, closed_by_error, pending_peak, rejected_resources]`, in
    /// that order.
    counters: [AtomicU64; 11],
    /// Worker id, set once before the worker starts.
    id: usize,
    /// The pinned core plus one (0 = unpinned), set by the worker once pinned.
    cpu_plus_one: AtomicU64,
}

impl LiveStats {
    /// Live stats for worker `id`.
    pub fn new(id: usize) -> LiveStats {
        LiveStats { id, ..LiveStats::default() }
    }

    /// Records the core the worker runs on.
    pub fn set_cpu(&self, cpu: Option<usize>) {
        self.cpu_plus_one.store(cpu.map_or(0, |c| c as u64 + 1), Relaxed);
    }

    /// Publishes the worker's counters.
    pub fn publish(&self, s: &WorkerStats) {
        let values = [
            s.accepted,
            s.active,
            s.active_peak,
            s.bytes_in,
            s.bytes_out,
            s.reads,
            s.accept_errors,
            s.rejected_max_conns,
            s.closed_by_error,
            s.pending_peak,
            s.rejected_resources,
        ];
        for (slot, v) in self.counters.iter().zip(values) {
            slot.store(v, Relaxed);
        }
    }

    /// Publishes only the accept counters (the thread-per-connection model, whose
    /// connection threads add the others themselves).
    pub fn publish_accepts(&self, s: &WorkerStats) {
        self.counters[ACCEPTED].store(s.accepted, Relaxed);
        self.counters[ACCEPT_ERRORS].store(s.accept_errors, Relaxed);
        self.counters[REJECTED].store(s.rejected_max_conns, Relaxed);
        self.counters[REJECTED_RESOURCES].store(s.rejected_resources, Relaxed);
    }

    /// Adds to one counter (the thread-per-connection model, whose many threads share
    /// a worker's counters). `index` follows the order of `counters`.
    pub(crate) fn add(&self, index: usize, n: u64) {
        self.counters[index].fetch_add(n, Relaxed);
    }

    /// Raises one counter to at least `v`.
    pub(crate) fn raise(&self, index: usize, v: u64) {
        self.counters[index].fetch_max(v, Relaxed);
    }

    /// Lowers one counter by `n`.
    pub(crate) fn sub(&self, index: usize, n: u64) {
        self.counters[index].fetch_sub(n, Relaxed);
    }

    /// A copy of the counters now.
    pub fn snapshot(&self) -> WorkerStats {
        let c = |i: usize| self.counters[i].load(Relaxed);
        let cpu = self.cpu_plus_one.load(Relaxed);
        WorkerStats {
            id: self.id,
            cpu: (cpu > 0).then(|| cpu as usize - 1),
            pid: std::process::id(),
            accepted: c(ACCEPTED),
            active: c(ACTIVE),
            active_peak: c(ACTIVE_PEAK),
            bytes_in: c(BYTES_IN),
            bytes_out: c(BYTES_OUT),
            reads: c(READS),
            accept_errors: c(ACCEPT_ERRORS),
            rejected_max_conns: c(REJECTED),
            closed_by_error: c(CLOSED_BY_ERROR),
            pending_peak: c(PENDING_PEAK),
            rejected_resources: c(REJECTED_RESOURCES),
        }
    }
}

/// Indexes into [`LiveStats`]'s counters, for [`LiveStats::add`].
pub(crate) const ACCEPTED: usize = 0;
pub(crate) const ACTIVE: usize = 1;
pub(crate) const ACTIVE_PEAK: usize = 2;
pub(crate) const BYTES_IN: usize = 3;
pub(crate) const BYTES_OUT: usize = 4;
pub(crate) const READS: usize = 5;
pub(crate) const ACCEPT_ERRORS: usize = 6;
pub(crate) const REJECTED: usize = 7;
pub(crate) const CLOSED_BY_ERROR: usize = 8;
pub(crate) const PENDING_PEAK: usize = 9;
pub(crate) const REJECTED_RESOURCES: usize = 10;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every counter set to a different value (its position), for the shape tests.
    fn numbered() -> WorkerStats {
        WorkerStats {
            id: 3,
            cpu: Some(1),
            pid: 7,
            accepted: 1,
            active: 2,
            active_peak: 3,
            bytes_in: 4,
            bytes_out: 5,
            reads: 6,
            accept_errors: 7,
            rejected_max_conns: 8,
            rejected_resources: 9,
            closed_by_error: 10,
            pending_peak: 11,
        }
    }

    /// The JSON shape (field names and order) and the stats line at exit are what
    /// readers (tests, loadgen's report) expect; this pins them.
    #[test]
    fn json_and_line_shapes_are_pinned() {
        let all = ServerStats { workers: vec![numbered()], restarts: 0 };
        let json = serde_json::to_string(&all.workers[0]).expect("json");
        assert_eq!(
            json,
            r#"{"id":3,"cpu":1,"pid":7,"accepted":1,"active":2,"active_peak":3,"bytes_in":4,"bytes_out":5,"reads":6,"accept_errors":7,"rejected_max_conns":8,"rejected_resources":9,"closed_by_error":10,"pending_peak":11}"#
        );
        assert_eq!(
            all.lines(),
            ["worker 3 cpu 1 pid 7: accepted 1 active_peak 3 bytes_in 4 bytes_out 5 \
              accept_errors 7 rejected 8 rejected_resources 9 resets 10"]
        );
        let restarted = ServerStats { restarts: 2, ..all };
        assert_eq!(
            restarted.lines().last().map(String::as_str),
            Some("restarts 2 (worker processes restarted after dying)")
        );
    }

    /// Published counters read back; totals sum and peaks take the maximum.
    #[test]
    fn publish_snapshot_total() {
        let live = LiveStats::new(3);
        live.set_cpu(Some(1));
        live.publish(&WorkerStats {
            accepted: 5,
            bytes_in: 10,
            pending_peak: 7,
            rejected_resources: 2,
            ..Default::default()
        });
        let s = live.snapshot();
        assert_eq!((s.id, s.cpu, s.accepted, s.bytes_in), (3, Some(1), 5, 10));
        assert_eq!(s.rejected_resources, 2);
        let all = ServerStats { workers: vec![s.clone(), s], restarts: 0 };
        let t = all.total();
        assert_eq!((t.accepted, t.bytes_in, t.pending_peak), (10, 20, 7));
        assert_eq!(t.rejected_resources, 4);
        let json = serde_json::to_string(&all).expect("json");
        assert_eq!(serde_json::from_str::<ServerStats>(&json).expect("parse"), all);
    }
}
