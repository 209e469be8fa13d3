//! Whether results belong together (before `merge` adds them up): one run, measured the same way. Merging
//! results of different runs would give a figure no client measured, so each
//! difference is refused, naming the field, the two files and their values.

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

/// Refuses parts that do not belong to one run (see the module doc).
pub fn compatible(parts: &[Input]) -> Result<(), MergeError> {
    let Some(first) = parts.first() else {
        return Err(MergeError::new("files", "give at least one result file"));
    };
    shards(parts)?;
    for p in &parts[1..] {
        same(first, p)?;
    }
    parts.iter().try_for_each(histograms_as_ours)
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

/// Agents' parts: all sharded alike (one count, each index once) or none.
fn shards(parts: &[Input]) -> Result<(), MergeError> {
    let first = parts[0].result.config.shard;
    let mut seen: Vec<(u64, &str)> = Vec::new();
    for p in parts {
        let shard = p.result.config.shard;
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
