//! Whether results belong together (before `merge` adds them up): one run, measured the same way. Merging
//! results of different runs would give a figure no client measured, so each
//! difference is refused, naming the field, the two files and their values.
//!
//! A result may come from another host, so its numbers are not trusted either:
//! every count the merge adds must add up in 64 bits ([`sums`]: checked, refused
//! naming the field, never wrapped); a shard is `I/N` with `I < N <=`
//! [`MAX_SHARDS`] and at most [`MAX_CONNS`] connections in all; a series is no
//! longer than its run (one second per second of `duration_s`, and one more for a
//! partial last second), at most [`MAX_SERIES_SECONDS`] (a merge holds each
//! second's histogram, about 220 kB, of the merged series and of one part).

mod sums;

use std::collections::BTreeSet;

use hdrhistogram::Histogram;

use super::histogram::histogram_bounds;
use crate::result::{decode_histogram, RunResult};

/// Why results cannot be merged: the field and what differs.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{field}: {reason}")]
pub struct MergeError {
    /// The field that differs (`config.size`, `shard`, ...).
    pub field: String,
    /// What differs, and what to do.
    pub reason: String,
}

impl MergeError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }
}

/// One result to merge and the name it is known by (its file, or its process).
pub struct Input {
    pub label: String,
    pub result: RunResult,
}

/// The most agents (`--shard I/N`: N) a merge accepts.
pub const MAX_SHARDS: u64 = 65_536;
/// The most connections (flows) a sharded run may have in all (`--conns`'s own bound).
pub const MAX_CONNS: u64 = u32::MAX as u64;
/// The longest series (seconds) a merged result may hold.
pub const MAX_SERIES_SECONDS: usize = 3_600;

/// Refuses parts that do not belong to one run (see the module doc).
pub fn compatible(parts: &[Input]) -> Result<(), MergeError> {
    let Some(first) = parts.first() else {
        return Err(MergeError::new("files", "give at least one result file"));
    };
    shards(parts)?;
    parts.iter().try_for_each(series_within_run)?;
    for p in &parts[1..] {
        same(first, p)?;
    }
    parts.iter().try_for_each(histograms_as_ours)?;
    windows_spread(parts)?;
    sums::sums(parts)
}

/// The parts' measured phases must overlap: their starts (Unix seconds) are
/// finite and at most `duration_s` + 1 s apart. How far apart they began
/// (`None` without every part's clock: older results align by index).
pub fn windows_spread(parts: &[Input]) -> Result<Option<f64>, MergeError> {
    let mut starts = Vec::new();
    for p in parts {
        let Some(c) = &p.result.clock else { return Ok(None) };
        let from = c.measured_from_unix_s;
        if !(from.is_finite() && from >= 0.0) {
            return Err(MergeError::new(
                "clock.measured_from_unix_s",
                format!("{}: {from} is not a time: not a result loadgen wrote", p.label),
            ));
        }
        starts.push((from, p.label.as_str()));
    }
    let first = starts.iter().copied().reduce(|a, b| if b.0 < a.0 { b } else { a });
    let last = starts.iter().copied().reduce(|a, b| if b.0 > a.0 { b } else { a });
    let (Some(first), Some(last)) = (first, last) else { return Ok(None) };
    let spread = last.0 - first.0;
    let overlap = parts[0].result.config.duration_s + 1.0;
    if spread > overlap {
        return Err(MergeError::new(
            "clock.measured_from_unix_s",
            format!(
                "{} began measuring {spread:.3} s after {}, past the {overlap} s their windows \
                 can overlap: merge the agents of one run (one --start-at)",
                last.1, first.1
            ),
        ));
    }
    Ok(Some(spread))
}

/// A part's series is no longer than its run (see the module doc).
fn series_within_run(p: &Input) -> Result<(), MergeError> {
    let d = p.result.config.duration_s;
    if !(d.is_finite() && d >= 0.0) {
        return Err(MergeError::new(
            "config.duration_s",
            format!("{}: {d} is not a duration: not a result loadgen wrote", p.label),
        ));
    }
    let allowed = (d.ceil().min(MAX_SERIES_SECONDS as f64) as usize + 1).min(MAX_SERIES_SECONDS);
    let len = p.result.series.len();
    if len > allowed {
        return Err(MergeError::new(
            "series",
            format!(
                "{} holds {len} seconds, its run of {d} s at most {allowed} (a merge takes at \
                 most {MAX_SERIES_SECONDS}): not a result loadgen wrote",
                p.label
            ),
        ));
    }
    Ok(())
}

/// The fields two results of one run share.
fn same(a: &Input, b: &Input) -> Result<(), MergeError> {
    let (x, y) = (&a.result, &b.result);
    let targets = |r: &RunResult| r.config.targets.iter().cloned().collect::<BTreeSet<_>>();
    let mode = |r: &RunResult| if r.config.rate.is_some() { "open loop" } else { "closed loop" };
    let checks: [(&str, String, String); 10] = [
        ("schema_version", x.schema_version.to_string(), y.schema_version.to_string()),
        ("config.proto", x.config.proto.to_string(), y.config.proto.to_string()),
        ("config.targets", format!("{:?}", targets(x)), format!("{:?}", targets(y))),
        ("config.size", x.config.size.to_string(), y.config.size.to_string()),
        ("config.rate (mode)", mode(x).to_string(), mode(y).to_string()),
        ("config.pipeline", x.config.pipeline.to_string(), y.config.pipeline.to_string()),
        ("config.duration_s", x.config.duration_s.to_string(), y.config.duration_s.to_string()),
        ("config.warmup_s", x.config.warmup_s.to_string(), y.config.warmup_s.to_string()),
        ("config.run_id", format!("{:?}", x.config.run_id), format!("{:?}", y.config.run_id)),
        ("scenario", format!("{:?}", x.scenario), format!("{:?}", y.scenario)),
    ];
    for (field, u, v) in checks {
        if u != v {
            return Err(MergeError::new(
                field,
                format!(
                    "{} has {u}, {} has {v}: merge only the results of one run",
                    a.label, b.label
                ),
            ));
        }
    }
    Ok(())
}

/// Every histogram of `p` has this loadgen's bounds, so adding them is lossless.
fn histograms_as_ours(p: &Input) -> Result<(), MergeError> {
    let ours = histogram_bounds();
    let h = &p.result.histograms;
    let named = [("latency", Some(&h.latency)), ("connect", Some(&h.connect))];
    for (name, text) in named.into_iter().chain([
        ("latency_uncorrected", h.latency_uncorrected.as_ref()),
        ("schedule_lag", h.schedule_lag.as_ref()),
    ]) {
        let Some(text) = text else { continue };
        let field = format!("histograms.{name}");
        let hist = decode_histogram(text)
            .map_err(|e| MergeError::new(&field, format!("{}: {e}", p.label)))?;
        let theirs = bounds(&hist);
        if theirs != ours {
            return Err(MergeError::new(
                field,
                format!(
                    "{} records {} ns..{} ns at {} significant figures, this loadgen {} ns..{} \
                     ns at {}: merge with the loadgen that wrote it",
                    p.label, theirs.0, theirs.1, theirs.2, ours.0, ours.1, ours.2
                ),
            ));
        }
    }
    Ok(())
}

/// A histogram's settings: lowest and highest trackable value, significant figures.
fn bounds(h: &Histogram<u64>) -> (u64, u64, u8) {
    (h.low(), h.high(), h.sigfig())
}

/// `I/N` with `I < N <= MAX_SHARDS`, and `N <= conns <= MAX_CONNS` (each part
/// holds a connection): what the scan for missing shards and their shares rely on.
fn shard_in_bounds(label: &str, s: crate::result::Shard) -> Result<(), MergeError> {
    let conns_ok = s.conns.map_or(true, |c| (s.count..=MAX_CONNS).contains(&c));
    if s.count == 0 || s.count > MAX_SHARDS || s.index >= s.count || !conns_ok {
        return Err(MergeError::new(
            "config.shard",
            format!(
                "{label} has shard {s} of {} connections: a shard is I/N with I < N <= \
                 {MAX_SHARDS}, N <= connections <= {MAX_CONNS}: not a result loadgen wrote",
                s.conns.map_or("?".to_string(), |c| c.to_string())
            ),
        ));
    }
    Ok(())
}

/// Agents' parts: all sharded alike (one count, each index once) or none.
fn shards(parts: &[Input]) -> Result<(), MergeError> {
    let first = parts[0].result.config.shard;
    let mut seen: Vec<(u64, &str)> = Vec::new();
    for p in parts {
        let shard = p.result.config.shard;
        if let Some(s) = shard {
            shard_in_bounds(&p.label, s)?;
        }
        match (first, shard) {
            (None, None) => continue,
            (Some(a), Some(b)) if a.count == b.count && a.conns == b.conns => {}
            _ => {
                let show = |s: Option<crate::result::Shard>| {
                    s.map_or("no --shard".to_string(), |s| match s.conns {
                        Some(c) => format!("shard {s} of {c} connections"),
                        None => format!("shard {s}"),
                    })
                };
                return Err(MergeError::new(
                    "config.shard",
                    format!(
                        "{} has {}, {} has {}: merge the agents of one sharded run",
                        parts[0].label,
                        show(first),
                        p.label,
                        show(shard)
                    ),
                ));
            }
        }
        let index = shard.map_or(0, |s| s.index);
        if let Some((_, other)) = seen.iter().find(|(i, _)| *i == index) {
            return Err(MergeError::new(
                "config.shard",
                format!(
                    "{other} and {} are both shard {}: give each agent's result once",
                    p.label,
                    shard.map_or(String::new(), |s| s.to_string())
                ),
            ));
        }
        seen.push((index, &p.label));
    }
    Ok(())
}

#[cfg(test)]
mod arithmetic_tests;
