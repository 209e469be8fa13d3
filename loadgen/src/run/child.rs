//! The child's side of a split run (see `processes`) and the wire between a child
//! and its parent. On stdout a child says `connected K` after its connect phase,
//! then one `interval {json}` line per completed second (merged over its threads,
//! histogram included) and `unserved` when it first gives a connection up as
//! unserved; it reads `go` (or anything else: do not run; EOF: the parent is gone)
//! on stdin. At the end it writes [`ChildFigures`] — counters and full histograms
//! (base64 HdrHistogram V2), per second too — to its `--child-out` file. A parent
//! that went away is never an error here.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::tally::{new_histogram, ErrorCounts, Interval, Tally};
use super::RunOutcome;
use crate::result::{decode_histogram, encode_histogram};

/// What a child hands its parent.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChildFigures {
    requested: u64,
    established: u64,
    #[serde(default)]
    served: u64,
    #[serde(default)]
    unserved: u64,
    failed_by_errno: BTreeMap<String, u64>,
    connect_s: f64,
    #[serde(default)]
    connect_up_s: f64,
    messages: u64,
    bytes: u64,
    errors: [u64; 5],
    first_mismatch: Option<String>,
    conns_up_at_end: u64,
    per_source: BTreeMap<String, u64>,
    /// base64 V2+DEFLATE: connect, latency, uncorrected, schedule lag.
    histograms: [String; 4],
    pub(super) intervals: Vec<IntervalFigures>,
    pub(super) measured_s: f64,
    pub(super) interrupted: bool,
    pub(super) cpu_s: Option<f64>,
    pub(super) started_at: String,
}

/// One second of one child.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct IntervalFigures {
    pub(super) index: u64,
    end_s: f64,
    conns_up: u64,
    #[serde(default)]
    served: u64,
    #[serde(default)]
    unserved: u64,
    msgs: u64,
    errors: u64,
    latency: String,
}

impl IntervalFigures {
    fn of(iv: &Interval) -> anyhow::Result<Self> {
        Ok(Self {
            index: iv.index,
            end_s: iv.end_s,
            conns_up: iv.conns_up,
            served: iv.served,
            unserved: iv.unserved,
            msgs: iv.msgs,
            errors: iv.errors,
            latency: enc(&iv.latency)?,
        })
    }

    pub(super) fn interval(&self) -> anyhow::Result<Interval> {
        Ok(Interval {
            index: self.index,
            end_s: self.end_s,
            conns_up: self.conns_up,
            served: self.served,
            unserved: self.unserved,
            latency: dec(&self.latency)?,
            msgs: self.msgs,
            errors: self.errors,
        })
    }
}

/// The prefix of a child's stdout line that carries one completed second.
const INTERVAL_LINE: &str = "interval ";
/// A child's stdout line saying it gave a connection up as unserved.
const UNSERVED_LINE: &str = "unserved";

/// A child's word to its parent that it found a connection unserved (the parent
/// tells the user once for the whole run).
pub fn forward_unserved(_timeout: Duration) {
    let _ = writeln!(std::io::stdout().lock(), "{UNSERVED_LINE}");
}

/// A child's live feed: one completed second (merged over its threads, histogram
/// included) as one stdout line, `interval {json}`, for the parent's live line.
/// A parent that went away is not an error here.
pub fn forward_interval(iv: &Interval) {
    if let Ok(json) = IntervalFigures::of(iv).and_then(|f| Ok(serde_json::to_string(&f)?)) {
        let _ = writeln!(std::io::stdout().lock(), "{INTERVAL_LINE}{json}");
    }
}

fn enc(h: &hdrhistogram::Histogram<u64>) -> anyhow::Result<String> {
    encode_histogram(h).map_err(anyhow::Error::msg)
}

fn dec(text: &str) -> anyhow::Result<hdrhistogram::Histogram<u64>> {
    // Re-bound to the run's histogram so merges never fail.
    let mut h = new_histogram();
    h.add(decode_histogram(text).map_err(anyhow::Error::msg)?)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(h)
}

impl ChildFigures {
    /// A child's outcome in transferable form.
    pub fn from_outcome(o: &RunOutcome) -> anyhow::Result<Self> {
        let t = &o.tally;
        let e = t.errors;
        Ok(Self {
            requested: t.requested,
            established: t.established,
            served: t.served,
            unserved: t.unserved,
            failed_by_errno: t.failed_by_errno.clone(),
            connect_s: t.connect_s,
            connect_up_s: t.connect_up_s,
            messages: t.messages,
            bytes: t.bytes,
            errors: [e.mismatch, e.reset, e.eof, e.timeout, e.other],
            first_mismatch: t.first_mismatch.clone(),
            conns_up_at_end: t.conns_up_at_end,
            per_source: t.per_source.clone(),
            histograms: [
                enc(&t.connect)?,
                enc(&t.latency)?,
                enc(&t.latency_uncorrected)?,
                enc(&t.schedule_lag)?,
            ],
            intervals: o
                .intervals
                .iter()
                .map(IntervalFigures::of)
                .collect::<anyhow::Result<_>>()?,
            measured_s: o.result.throughput.duration_s,
            interrupted: o.result.interrupted,
            cpu_s: o.cpu_s,
            started_at: o.result.started_at.clone(),
        })
    }

    pub(super) fn tally(&self) -> anyhow::Result<Tally> {
        let [mismatch, reset, eof, timeout, other] = self.errors;
        let mut t = Tally::new(self.requested);
        t.established = self.established;
        t.served = self.served;
        t.unserved = self.unserved;
        t.failed_by_errno = self.failed_by_errno.clone();
        t.connect_s = self.connect_s;
        t.connect_up_s = self.connect_up_s;
        t.messages = self.messages;
        t.bytes = self.bytes;
        t.errors = ErrorCounts { mismatch, reset, eof, timeout, other };
        t.first_mismatch = self.first_mismatch.clone();
        t.conns_up_at_end = self.conns_up_at_end;
        t.per_source = self.per_source.clone();
        t.connect = dec(&self.histograms[0])?;
        t.latency = dec(&self.histograms[1])?;
        t.latency_uncorrected = dec(&self.histograms[2])?;
        t.schedule_lag = dec(&self.histograms[3])?;
        Ok(t)
    }
}

/// The child's gate: report the connections up, wait for the parent's word.
pub fn child_gate(established: u64) -> bool {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{CONNECTED_LINE}{established}").and_then(|_| out.flush()).is_err() {
        return false;
    }
    let mut line = String::new();
    // EOF (the parent is gone) or anything but `go` means: do not run.
    std::io::stdin().lock().read_line(&mut line).is_ok() && line.trim() == "go"
}

/// The prefix of the line a child says after its connect phase.
const CONNECTED_LINE: &str = "connected ";

/// A line of a child's stdout, as its parent reads it.
#[derive(Debug)]
pub enum ChildLine {
    /// Its connect phase is over with this many connections up.
    Connected(u64),
    /// One completed second.
    Interval(Interval),
    /// It gave a connection up as unserved.
    Unserved,
    /// Anything else (ignored).
    Other,
}

/// Reads one line of a child's stdout.
pub fn parse_line(line: &str) -> ChildLine {
    if line == UNSERVED_LINE {
        return ChildLine::Unserved;
    }
    if let Some(n) = line.strip_prefix(CONNECTED_LINE).and_then(|n| n.trim().parse().ok()) {
        return ChildLine::Connected(n);
    }
    line.strip_prefix(INTERVAL_LINE)
        .and_then(|json| serde_json::from_str::<IntervalFigures>(json).ok())
        .and_then(|f| f.interval().ok())
        .map_or(ChildLine::Other, ChildLine::Interval)
}
