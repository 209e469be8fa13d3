//! Per-worker stats and the report built from them.
//!
//! A worker counts into plain integers ([`Counters`], owned by its thread: no atomic
//! and no lock per event) and publishes them into its [`LiveStats`] with relaxed stores
//! once per event-loop turn. Anyone may snapshot the live stats at any time (the
//! `--stats-interval` line, tests); the final report is the snapshot after the workers
//! joined. `--processes` children write theirs as JSON and the parent concatenates
//! them, which is why worker ids are unique across processes.
//!
//! Which counters there are, their JSON keys, how they add up and how the stats line
//! names them is said once, in `counters`; nothing here lists them.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

use super::counters::{CountedBy, Counter, Counters};

/// One worker's stats: who it was, and its counters (as fields of the same JSON
/// object).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStats {
    /// Worker id, unique across `--processes` children.
    pub id: usize,
    /// The core it is pinned to; `None` when pinning is off or was refused.
    pub cpu: Option<usize>,
    /// The process that ran it (several with `--processes`).
    pub pid: u32,
    /// What it counted.
    #[serde(flatten)]
    pub counters: Counters,
}

impl WorkerStats {
    /// `worker 0 cpu 1 pid 42: accepted 3 ... resets 0`: the printed counters, each
    /// under its label; the UDP loop's only when this worker counted any of them.
    pub fn line(&self) -> String {
        let cpu = self.cpu.map_or("-".to_string(), |c| c.to_string());
        let mut line = format!("worker {} cpu {cpu} pid {}:", self.id, self.pid);
        let udp = |c: &Counter| c.counted_by() == CountedBy::Udp;
        let served_udp = Counter::ALL.iter().any(|&c| udp(&c) && self.counters.get(c) > 0);
        for &c in Counter::ALL.iter().filter(|c| served_udp || !udp(c)) {
            if let Some(label) = c.label() {
                let _ = write!(line, " {label} {}", self.counters.get(c));
            }
        }
        line
    }
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
    /// The counters over all workers, each added up as its row in `counters` says.
    pub fn total(&self) -> Counters {
        let mut t = Counters::default();
        for w in &self.workers {
            t.merge(&w.counters);
        }
        t
    }

    /// One line per worker, for stderr at exit (and one for `--processes` restarts).
    pub fn lines(&self) -> Vec<String> {
        let restarts = (self.restarts > 0).then(|| {
            format!("restarts {} (worker processes restarted after dying)", self.restarts)
        });
        self.workers.iter().map(WorkerStats::line).chain(restarts).collect()
    }
}

/// A worker's counters as the other threads see them: one atomic slot per
/// [`Counter`], written by the worker (relaxed stores, once per loop turn) or, in the
/// thread-per-connection model, added to by its connection threads; read by anyone.
#[derive(Debug)]
pub struct LiveStats {
    /// Indexed by [`Counter`].
    counters: [AtomicU64; Counter::COUNT],
    /// Worker id, set once before the worker starts.
    id: usize,
    /// The pinned core plus one (0 = unpinned), set by the worker once pinned.
    cpu_plus_one: AtomicU64,
}

impl LiveStats {
    /// Live stats for worker `id`, all zero.
    pub fn new(id: usize) -> LiveStats {
        LiveStats {
            counters: std::array::from_fn(|_| AtomicU64::new(0)),
            id,
            cpu_plus_one: AtomicU64::new(0),
        }
    }

    fn slot(&self, c: Counter) -> &AtomicU64 {
        &self.counters[c as usize]
    }

    /// Records the core the worker runs on.
    pub fn set_cpu(&self, cpu: Option<usize>) {
        self.cpu_plus_one.store(cpu.map_or(0, |c| c as u64 + 1), Relaxed);
    }

    /// Publishes every counter of the worker.
    pub fn publish(&self, counters: &Counters) {
        for &c in Counter::ALL {
            self.slot(c).store(counters.get(c), Relaxed);
        }
    }

    /// Publishes only the counters `by` counts (the thread-per-connection model's
    /// accept loop: its connection threads add the others themselves).
    pub fn publish_counted_by(&self, counters: &Counters, by: CountedBy) {
        for &c in Counter::ALL.iter().filter(|c| c.counted_by() == by) {
            self.slot(c).store(counters.get(c), Relaxed);
        }
    }

    /// Adds `n` to one counter (the thread-per-connection model, whose many threads
    /// share a worker's counters); returns the new value.
    pub(crate) fn add(&self, c: Counter, n: u64) -> u64 {
        self.slot(c).fetch_add(n, Relaxed).wrapping_add(n)
    }

    /// Raises one counter to at least `v`.
    pub(crate) fn raise(&self, c: Counter, v: u64) {
        self.slot(c).fetch_max(v, Relaxed);
    }

    /// Lowers one counter by `n`.
    pub(crate) fn sub(&self, c: Counter, n: u64) {
        self.slot(c).fetch_sub(n, Relaxed);
    }

    /// A copy of the counters now.
    pub fn snapshot(&self) -> WorkerStats {
        let mut counters = Counters::default();
        for &c in Counter::ALL {
            *counters.get_mut(c) = self.slot(c).load(Relaxed);
        }
        let cpu = self.cpu_plus_one.load(Relaxed);
        WorkerStats {
            id: self.id,
            cpu: (cpu > 0).then(|| cpu as usize - 1),
            pid: std::process::id(),
            counters,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every counter set to a different value (its position).
    fn numbered() -> WorkerStats {
        let mut counters = Counters::default();
        for (i, &c) in Counter::ALL.iter().enumerate() {
            *counters.get_mut(c) = i as u64 + 1;
        }
        WorkerStats { id: 3, cpu: Some(1), pid: 7, counters }
    }

    /// The JSON shape (field names and order) and the stats line at exit are what
    /// readers (tests, loadgen's report) expect; this pins them.
    #[test]
    fn json_and_line_shapes_are_pinned() {
        let all = ServerStats { workers: vec![numbered()], restarts: 0 };
        let json = serde_json::to_string(&all.workers[0]).expect("json");
        assert_eq!(
            json,
            r#"{"id":3,"cpu":1,"pid":7,"accepted":1,"active":2,"active_peak":3,"bytes_in":4,"bytes_out":5,"reads":6,"accept_errors":7,"rejected_max_conns":8,"rejected_resources":9,"closed_by_error":10,"pending_peak":11,"closed_idle":12,"held_pauses":13,"held_peak":14,"datagrams_in":15,"datagrams_out":16,"datagram_bytes_in":17,"datagram_bytes_out":18,"datagrams_dropped":19,"datagrams_refused":20,"datagrams_not_unicast":21,"datagrams_rate_limited":22,"kernel_drops":23}"#
        );
        assert_eq!(serde_json::from_str::<WorkerStats>(&json).expect("parse"), numbered());
        assert_eq!(
            all.lines(),
            ["worker 3 cpu 1 pid 7: accepted 1 active_peak 3 bytes_in 4 bytes_out 5 \
              accept_errors 7 rejected 8 rejected_resources 9 resets 10 closed_idle 12 \
              held_pauses 13 datagrams_in 15 datagrams_out 16 datagram_bytes_in 17 \
              datagram_bytes_out 18 datagrams_dropped 19 datagrams_refused 20 \
              datagrams_not_unicast 21 datagrams_rate_limited 22 kernel_drops 23"]
        );
        let restarted = ServerStats { restarts: 2, ..all };
        assert_eq!(
            restarted.lines().last().map(String::as_str),
            Some("restarts 2 (worker processes restarted after dying)")
        );
    }

    /// A worker that counted no datagram prints no UDP counters (a TCP server's line
    /// stays as it was); one that did prints them all, zeros too.
    #[test]
    fn udp_counters_printed_only_by_a_worker_that_counted_some() {
        let tcp = WorkerStats { id: 0, cpu: None, pid: 1, counters: Counters::default() };
        assert_eq!(
            tcp.line(),
            "worker 0 cpu - pid 1: accepted 0 active_peak 0 bytes_in 0 bytes_out 0 \
             accept_errors 0 rejected 0 rejected_resources 0 resets 0 closed_idle 0 \
             held_pauses 0"
        );
        let refused = Counters { datagrams_refused: 1, ..Counters::default() };
        let udp = WorkerStats { counters: refused, ..tcp };
        assert!(
            udp.line().ends_with(
                " held_pauses 0 datagrams_in 0 datagrams_out 0 datagram_bytes_in 0 \
                 datagram_bytes_out 0 datagrams_dropped 0 datagrams_refused 1 \
                 datagrams_not_unicast 0 datagrams_rate_limited 0 kernel_drops 0"
            ),
            "{}",
            udp.line()
        );
    }

    /// Every counter published reads back in the snapshot, with the worker's id and
    /// core; publishing what the acceptor counts leaves the others as they were.
    #[test]
    fn publish_snapshot_every_counter() {
        let live = LiveStats::new(3);
        live.set_cpu(Some(1));
        let w = numbered();
        live.publish(&w.counters);
        let s = live.snapshot();
        assert_eq!((s.id, s.cpu, s.pid), (3, Some(1), std::process::id()));
        assert_eq!(s.counters, w.counters);
        let accepts = Counters { accepted: 100, bytes_in: 100, ..Counters::default() };
        live.publish_counted_by(&accepts, CountedBy::Acceptor);
        let s = live.snapshot().counters;
        assert_eq!((s.accepted, s.bytes_in), (100, w.counters.bytes_in));
    }

    /// Connection threads add, raise and lower single counters.
    #[test]
    fn add_raise_sub() {
        let live = LiveStats::new(0);
        assert_eq!(live.add(Counter::Active, 1), 1);
        assert_eq!(live.add(Counter::Active, 1), 2);
        live.raise(Counter::ActivePeak, 2);
        live.raise(Counter::ActivePeak, 1);
        live.sub(Counter::Active, 2);
        let s = live.snapshot().counters;
        assert_eq!((s.active, s.active_peak), (0, 2));
    }

    /// Totals sum and peaks take the maximum; the stats survive a JSON round trip.
    #[test]
    fn total_and_round_trip() {
        let mut w = numbered();
        w.counters.pending_peak = 7;
        let all = ServerStats { workers: vec![w.clone(), w], restarts: 0 };
        let t = all.total();
        assert_eq!((t.accepted, t.bytes_in, t.pending_peak), (2, 8, 7));
        assert_eq!(t.rejected_resources, 18);
        let json = serde_json::to_string(&all).expect("json");
        assert_eq!(serde_json::from_str::<ServerStats>(&json).expect("parse"), all);
    }
}
