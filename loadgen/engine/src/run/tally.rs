//! What one worker thread measured, in a form that merges exactly: histograms
//! (nanoseconds, merged with `Histogram::add`) and counters. A run's result is the
//! merge of its threads' [`Tally`]s, and a split run merges its processes' tallies
//! the same way. Recording is lock-free and allocation-free: each thread owns its
//! tally until it hands it back at the end.
//!
//! A [`Tally`] and an [`Interval`] serialize as they are (serde; histograms as
//! base64 HdrHistogram V2+DEFLATE, see `histogram`): a split run's child hands its
//! parent the very structs, so a counter added here travels without another edit.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::histogram::{as_base64, new_histogram};

pub use super::counts::{ChurnCounts, ChurnSecond, DatagramCounts, ErrorCounts, ScheduleCounts};

/// One second (or the last, partial interval) of the measured phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Index of the second since the measured phase began (0-based).
    pub index: u64,
    /// Seconds since the measured phase began at the end of this interval.
    pub end_s: f64,
    /// Connections up at the end of the interval.
    pub conns_up: u64,
    /// Of those, connections answered at least once.
    pub served: u64,
    /// Connections given up as unserved during the interval (the live line and the
    /// series show the running total).
    pub unserved: u64,
    /// Latencies recorded in the interval (corrected ones in open loop).
    #[serde(with = "as_base64")]
    pub latency: Histogram<u64>,
    /// Echoed messages received in the interval.
    pub msgs: u64,
    /// Errors counted in the interval.
    pub errors: u64,
    /// UDP: the datagrams' fate counted in the interval.
    pub datagrams: DatagramCounts,
    /// Churn: connections opened, closed and failed in the interval.
    #[serde(default)]
    pub churn: ChurnSecond,
}

impl Default for Interval {
    fn default() -> Self {
        Self::new()
    }
}

impl Interval {
    /// An empty interval (index 0), to be filled and flushed.
    pub fn new() -> Self {
        Self {
            index: 0,
            end_s: 0.0,
            conns_up: 0,
            served: 0,
            unserved: 0,
            latency: new_histogram(),
            msgs: 0,
            errors: 0,
            datagrams: DatagramCounts::default(),
            churn: ChurnSecond::default(),
        }
    }

    /// Clears the counts and the histogram for the next interval (the figures of
    /// the state at its end, `conns_up` and `served`, are set when it is flushed).
    pub fn reset(&mut self) {
        self.latency.reset();
        self.msgs = 0;
        self.errors = 0;
        self.unserved = 0;
        self.datagrams = DatagramCounts::default();
        self.churn = ChurnSecond::default();
    }

    /// Adds another thread's interval with the same index (every field named: a
    /// new one does not compile until it merges).
    pub fn merge(&mut self, o: &Interval) {
        let Interval {
            index: _,
            end_s,
            conns_up,
            served,
            unserved,
            latency,
            msgs,
            errors,
            datagrams,
            churn,
        } = o;
        // Same bounds on both sides: `add` cannot fail.
        let _ = self.latency.add(latency);
        self.churn.merge(churn);
        self.conns_up += conns_up;
        self.served += served;
        self.unserved += unserved;
        self.msgs += msgs;
        self.errors += errors;
        self.datagrams.merge(datagrams);
        self.end_s = self.end_s.max(*end_s);
    }
}

/// Everything one thread measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// Connections this thread was asked to open.
    pub requested: u64,
    /// Connections that came up.
    pub established: u64,
    /// Established connections answered at least once.
    pub served: u64,
    /// Established connections whose first message had no answer within the
    /// connect timeout (closed then, never counted as timeouts).
    pub unserved: u64,
    /// Failed connects by errno name.
    pub failed_by_errno: BTreeMap<String, u64>,
    /// Time from connect() to established.
    #[serde(with = "as_base64")]
    pub connect: Histogram<u64>,
    /// Seconds the connect phase of this thread took.
    pub connect_s: f64,
    /// Seconds from the start of the connect phase to the last connection up (the
    /// window of the connect rate: connects that time out later do not dilute it).
    pub connect_up_s: f64,
    /// Round-trip latency of measured messages (open loop: from the intended send time).
    #[serde(with = "as_base64")]
    pub latency: Histogram<u64>,
    /// Open loop: the same messages from their actual send time.
    #[serde(with = "as_base64")]
    pub latency_uncorrected: Histogram<u64>,
    /// Open loop: how late the generator started each message against its schedule.
    #[serde(with = "as_base64")]
    pub schedule_lag: Histogram<u64>,
    /// Echoes received during the measured phase.
    pub messages: u64,
    /// Bytes of those echoes.
    pub bytes: u64,
    /// Errors of the traffic phase.
    pub errors: ErrorCounts,
    /// UDP: the datagrams' fate.
    pub datagrams: DatagramCounts,
    /// Open loop: what became of the schedule of the measured phase.
    #[serde(default)]
    pub schedule: ScheduleCounts,
    /// The first mismatch seen, described for the summary.
    pub first_mismatch: Option<String>,
    /// Connections still up at the end.
    pub conns_up_at_end: u64,
    /// Established connections per bound source address (empty: kernel's choice).
    pub per_source: BTreeMap<String, u64>,
    /// Churn (`--lifetime`): the connections that came and went.
    #[serde(default)]
    pub churn: ChurnCounts,
}

impl Tally {
    /// An empty tally for `requested` connections.
    pub fn new(requested: u64) -> Self {
        Self {
            requested,
            established: 0,
            served: 0,
            unserved: 0,
            failed_by_errno: BTreeMap::new(),
            connect: new_histogram(),
            connect_s: 0.0,
            connect_up_s: 0.0,
            latency: new_histogram(),
            latency_uncorrected: new_histogram(),
            schedule_lag: new_histogram(),
            messages: 0,
            bytes: 0,
            errors: ErrorCounts::default(),
            datagrams: DatagramCounts::default(),
            schedule: ScheduleCounts::default(),
            first_mismatch: None,
            conns_up_at_end: 0,
            per_source: BTreeMap::new(),
            churn: ChurnCounts::default(),
        }
    }

    /// Counts a connection established from a bound source address.
    pub fn established_from(&mut self, source: std::net::IpAddr) {
        *self.per_source.entry(source.to_string()).or_default() += 1;
    }

    /// Counts a failed connect.
    pub fn connect_failed(&mut self, errno: &str) {
        *self.failed_by_errno.entry(errno.to_string()).or_default() += 1;
    }

    /// Adds another thread's (or process's) tally (every field named: a new one
    /// does not compile until it merges).
    pub fn merge(&mut self, o: &Tally) {
        let Tally {
            requested,
            established,
            served,
            unserved,
            failed_by_errno,
            connect,
            connect_s,
            connect_up_s,
            latency,
            latency_uncorrected,
            schedule_lag,
            messages,
            bytes,
            errors,
            datagrams,
            schedule,
            first_mismatch,
            conns_up_at_end,
            per_source,
            churn,
        } = o;
        self.requested += requested;
        self.established += established;
        self.served += served;
        self.unserved += unserved;
        for (k, v) in failed_by_errno {
            *self.failed_by_errno.entry(k.clone()).or_default() += v;
        }
        // Same bounds everywhere: `add` cannot fail.
        let _ = self.connect.add(connect);
        let _ = self.latency.add(latency);
        let _ = self.latency_uncorrected.add(latency_uncorrected);
        let _ = self.schedule_lag.add(schedule_lag);
        self.connect_s = self.connect_s.max(*connect_s);
        self.connect_up_s = self.connect_up_s.max(*connect_up_s);
        self.messages += messages;
        self.bytes += bytes;
        self.errors.merge(errors);
        self.datagrams.merge(datagrams);
        self.schedule.merge(schedule);
        if self.first_mismatch.is_none() {
            self.first_mismatch.clone_from(first_mismatch);
        }
        self.conns_up_at_end += conns_up_at_end;
        for (k, v) in per_source {
            *self.per_source.entry(k.clone()).or_default() += v;
        }
        self.churn.merge(churn);
    }

    /// Failed connects in total.
    pub fn failed(&self) -> u64 {
        self.failed_by_errno.values().sum()
    }

    /// UDP: the datagrams of the measured phase lost or never sent (an open loop
    /// that fell behind), over those and the answered, in percent; `None` when
    /// there were none.
    pub fn loss_percent(&self) -> Option<f64> {
        let d = &self.datagrams;
        let missing = d.lost + self.schedule.unsent;
        let resolved = missing + d.answered;
        (resolved > 0).then(|| 100.0 * missing as f64 / resolved as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::super::histogram::record;
    use super::*;

    /// Merging two tallies adds counts and histograms exactly.
    #[test]
    fn merge_is_exact() {
        let mut a = Tally::new(2);
        let mut b = Tally::new(3);
        record(&mut a.latency, 1_000);
        record(&mut b.latency, 2_000);
        record(&mut b.latency, 0);
        a.connect_failed("ECONNREFUSED");
        b.connect_failed("ECONNREFUSED");
        b.errors.eof = 1;
        b.datagrams.lost = 2;
        a.datagrams.answered = 6;
        a.merge(&b);
        assert_eq!(a.requested, 5);
        assert_eq!(a.latency.len(), 3);
        assert_eq!(a.latency.min(), 1);
        assert_eq!(a.failed_by_errno["ECONNREFUSED"], 2);
        assert_eq!(a.errors.total(), 1);
        assert_eq!((a.datagrams.lost, a.datagrams.answered), (2, 6));
        assert_eq!(a.datagrams.loss_percent(), Some(25.0));
        assert_eq!(DatagramCounts::default().loss_percent(), None);
        // Datagrams never sent count as lost.
        a.schedule.unsent = 2;
        assert_eq!(a.loss_percent(), Some(40.0));
        let mut behind = Tally::new(0);
        behind.schedule =
            ScheduleCounts { scheduled: 5, unsent: 1, behind_messages: 1, behind_ns: 9 };
        a.merge(&behind);
        assert_eq!(
            a.schedule,
            ScheduleCounts { scheduled: 5, unsent: 3, behind_messages: 1, behind_ns: 9 }
        );
    }

    /// A tally goes through JSON whole and comes back equal, histograms included;
    /// so does an interval.
    #[test]
    fn round_trips_through_json() {
        let mut t = Tally::new(3);
        t.established = 2;
        t.served = 2;
        t.unserved = 1;
        t.connect_failed("ECONNREFUSED");
        t.established_from("127.0.0.2".parse().expect("ip"));
        t.connect_s = 0.25;
        t.connect_up_s = 0.125;
        for ns in [1_000, 2_000, 3_000_000] {
            record(&mut t.latency, ns);
            record(&mut t.latency_uncorrected, ns / 2);
        }
        record(&mut t.connect, 40_000);
        record(&mut t.schedule_lag, 7);
        t.messages = 3;
        t.bytes = 192;
        t.errors = ErrorCounts { mismatch: 1, reset: 2, eof: 3, timeout: 4, other: 5, refused: 6 };
        t.datagrams = DatagramCounts {
            sent: 9,
            answered: 7,
            lost: 1,
            late: 1,
            duplicated: 2,
            reordered: 3,
            corrupted: 4,
        };
        t.schedule = ScheduleCounts { scheduled: 9, unsent: 3, behind_messages: 2, behind_ns: 1 };
        t.first_mismatch = Some("conn 1 message 2: first wrong byte at offset 3".into());
        t.conns_up_at_end = 1;
        t.churn.closed = 7;
        t.churn.connect_failed("EADDRNOTAVAIL");
        record(&mut t.churn.first_echo, 55_000);
        let back: Tally =
            serde_json::from_str(&serde_json::to_string(&t).expect("to json")).expect("from");
        assert_eq!(back, t);
        let mut iv = Interval {
            index: 4,
            end_s: 5.0,
            conns_up: 2,
            served: 2,
            unserved: 1,
            latency: new_histogram(),
            msgs: 9,
            errors: 1,
            datagrams: DatagramCounts { lost: 3, ..Default::default() },
            churn: ChurnSecond { opened: 4, closed: 5, failed: 1, time_wait: 9 },
        };
        record(&mut iv.latency, 12_345);
        let back: Interval =
            serde_json::from_str(&serde_json::to_string(&iv).expect("to json")).expect("from");
        assert_eq!(back, iv);
    }
}
