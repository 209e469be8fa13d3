//! Checked arithmetic on the numbers of results to be merged: every count the merge
//! adds (connections, messages, errors, datagrams, histogram totals, each second's
//! figures), and the sums a result's own reader makes of them (all errors
//! together, lost and answered), must add up in 64 bits. A sum that does not is
//! refused naming its field, so no counter wraps (a mismatch of 2^64 - 1 plus one
//! is not 0 mismatches) and no histogram count saturates.
//!
//! The seconds of several parts add where they line up; the sum of each part's
//! largest second bounds every such sum, so that is what is checked.

use std::collections::BTreeMap;

use super::{Input, MergeError, MAX_CONNS};
use crate::result::{decode_histogram, RunResult};

/// Named sums, each checked as it grows.
#[derive(Default)]
struct Sums {
    totals: BTreeMap<String, u64>,
}

impl Sums {
    /// Adds `n` to the sum named `field`; refuses when it passes 2^64 - 1.
    fn add(&mut self, field: &str, n: u64, label: &str) -> Result<(), MergeError> {
        let sum = self.totals.entry(field.to_string()).or_default();
        *sum = sum.checked_add(n).ok_or_else(|| {
            MergeError::new(
                field,
                format!(
                    "adding {label}'s {n} passes 2^64 - 1: a count no run reaches, not a result \
                     loadgen wrote"
                ),
            )
        })?;
        Ok(())
    }
}

/// Refuses parts whose counts do not add up in 64 bits, naming the field.
pub fn sums(parts: &[Input]) -> Result<(), MergeError> {
    let mut s = Sums::default();
    for p in parts {
        let (r, label) = (&p.result, p.label.as_str());
        for (field, n) in counts(r) {
            s.add(field, n, label)?;
        }
        // What the merged result's reader adds up of these.
        let e = &r.errors;
        for (field, n) in [
            ("errors (all together)", e.mismatch.max(e.corrupted.unwrap_or(0))),
            ("errors (all together)", e.reset),
            ("errors (all together)", e.eof),
            ("errors (all together)", e.timeout),
            ("errors (all together)", e.refused.unwrap_or(0)),
            ("errors.lost + errors.answered", e.lost.unwrap_or(0)),
            ("errors.lost + errors.answered", e.answered.unwrap_or(0)),
        ] {
            s.add(field, n, label)?;
        }
        // One agent's own errors, listed in the merged result.
        let mut own = Sums::default();
        for n in [e.mismatch, e.reset, e.eof, e.timeout, e.refused.unwrap_or(0)] {
            own.add("errors (one agent's)", n, label)?;
        }
        for (errno, &n) in &r.connections.failed_by_errno {
            s.add(&format!("connections.failed_by_errno.{errno}"), n, label)?;
            s.add("connections.failed_by_errno (all together)", n, label)?;
        }
        for (source, &n) in &r.connections.per_source {
            s.add(&format!("connections.per_source.{source}"), n, label)?;
        }
        histogram_totals(&mut s, p)?;
        largest_seconds(&mut s, r, label)?;
    }
    // A missing shard's connections are added to the requested and the failed.
    let missing = missing_conns(parts);
    for field in ["connections.requested", "connections.failed_by_errno (all together)"] {
        s.add(field, missing, "the missing shards")?;
    }
    Ok(())
}

/// The connections of the shards no part is (shards already checked: indices
/// unique and below the count, the whole at most [`MAX_CONNS`]).
fn missing_conns(parts: &[Input]) -> u64 {
    let Some(crate::result::Shard { count, conns: Some(whole), .. }) = parts[0].result.config.shard
    else {
        return 0;
    };
    let present: u64 = parts
        .iter()
        .filter_map(|p| p.result.config.shard)
        .map(|s| crate::run::values::share(whole.min(MAX_CONNS), s.index, count))
        .sum();
    whole.saturating_sub(present)
}

/// The counts of `r` that a merge sums, by field.
fn counts(r: &RunResult) -> [(&'static str, u64); 24] {
    let (c, e, t) = (&r.connections, &r.errors, &r.throughput);
    [
        ("config.conns", r.config.conns),
        ("config.threads", r.config.threads as u64),
        ("config.processes", r.config.processes as u64),
        ("connections.requested", c.requested),
        ("connections.established", c.established),
        ("connections.served", c.served.unwrap_or(c.established)),
        ("connections.unserved", c.unserved.unwrap_or(0)),
        ("throughput.messages", t.messages),
        ("throughput.bytes", t.bytes),
        ("errors.mismatch", e.mismatch),
        ("errors.reset", e.reset),
        ("errors.eof", e.eof),
        ("errors.timeout", e.timeout),
        ("errors.lost", e.lost.unwrap_or(0)),
        ("errors.late", e.late.unwrap_or(0)),
        ("errors.duplicated", e.duplicated.unwrap_or(0)),
        ("errors.reordered", e.reordered.unwrap_or(0)),
        ("errors.corrupted", e.corrupted.unwrap_or(0)),
        ("errors.sent", e.sent.unwrap_or(0)),
        ("errors.answered", e.answered.unwrap_or(0)),
        ("errors.refused", e.refused.unwrap_or(0)),
        ("errors.scheduled", e.scheduled.unwrap_or(0)),
        ("errors.unsent", e.unsent.unwrap_or(0)),
        ("errors.behind_messages", e.behind_messages.unwrap_or(0)),
    ]
}

/// Each histogram's total count, summed (`Histogram::add` would saturate).
fn histogram_totals(s: &mut Sums, p: &Input) -> Result<(), MergeError> {
    let h = &p.result.histograms;
    let named = [
        ("histograms.latency", Some(&h.latency)),
        ("histograms.connect", Some(&h.connect)),
        ("histograms.latency_uncorrected", h.latency_uncorrected.as_ref()),
        ("histograms.schedule_lag", h.schedule_lag.as_ref()),
    ];
    for (field, text) in named {
        let Some(text) = text else { continue };
        let hist = decode_histogram(text)
            .map_err(|e| MergeError::new(field, format!("{}: {e}", p.label)))?;
        s.add(field, hist.len(), &p.label)?;
    }
    Ok(())
}

/// One figure of a second.
type PerSecond = fn(&crate::result::SecondSample) -> u64;

/// Each per-second figure's largest value in `r`, summed over the parts.
fn largest_seconds(s: &mut Sums, r: &RunResult, label: &str) -> Result<(), MergeError> {
    let largest = |f: PerSecond| r.series.iter().map(f).max();
    let fields: [(&str, PerSecond); 6] = [
        ("series.conns_up", |x| x.conns_up),
        ("series.conns_served", |x| x.conns_served.unwrap_or(x.conns_up)),
        ("series.conns_unserved", |x| x.conns_unserved.unwrap_or(0)),
        ("series.msgs", |x| x.msgs),
        ("series.errors", |x| x.errors),
        ("series.lost", |x| x.lost.unwrap_or(0)),
    ];
    for (field, f) in fields {
        s.add(field, largest(f).unwrap_or(0), label)?;
    }
    Ok(())
}
