//! Lining up the runs of one scenario for [`super::paired`]: a BASE run and a NEW
//! run with the same path relative to their side's folder are one pair (the
//! suite's `--base` mode writes `base/rep1/runs/03-x.json` and
//! `new/rep1/runs/03-x.json` back to back). When no run of the scenario pairs up
//! (two unrelated folders, single files), both sides' runs are compared unpaired.
//!
//! A run whose machine was disturbed (`machine.disturbed`) is left out, in paired
//! mode with its partner; a run without the metric (an older result) likewise.
//! A metric no run of a side has is not compared at all (None).

use std::collections::BTreeMap;
use std::path::Path;

use super::load::Loaded;
use super::paired::{self, Interval, TooFew};

/// One metric's interval over a scenario's runs, and the values behind it.
#[derive(Clone, Debug)]
pub(super) struct Measured {
    /// The interval of NEW/BASE, or too few observations for one.
    pub interval: Result<Interval, TooFew>,
    /// The BASE values used (for the table's figures).
    pub base: Vec<f64>,
    /// The NEW values used.
    pub new: Vec<f64>,
    /// Whether they were paired (BASE[i] and NEW[i] ran back to back).
    pub paired: bool,
}

impl Measured {
    /// The interval at another two-sided level (the gate's family-wise one).
    pub fn at(&self, level: f64) -> Result<Interval, TooFew> {
        if self.paired {
            let values: Vec<(f64, f64)> =
                self.base.iter().copied().zip(self.new.iter().copied()).collect();
            paired::paired_at(&values, level)
        } else {
            paired::unpaired_at(&self.base, &self.new, level)
        }
    }
}

/// The pairs of runs, BASE first; empty when no relative path matches.
pub(super) fn pairs<'a>(base: &'a [Loaded], new: &'a [Loaded]) -> Vec<(&'a Loaded, &'a Loaded)> {
    let by_rel: BTreeMap<&Path, &Loaded> =
        base.iter().filter_map(|b| Some((b.rel.as_deref()?, b))).collect();
    new.iter().filter_map(|n| Some((*by_rel.get(n.rel.as_deref()?)?, n))).collect()
}

/// The interval of the metric `value` reads (None: absent from a whole side).
pub(super) fn measure(
    base: &[Loaded],
    new: &[Loaded],
    value: impl Fn(&Loaded) -> Option<f64>,
) -> Option<Measured> {
    if !base.iter().any(|l| value(l).is_some()) || !new.iter().any(|l| value(l).is_some()) {
        return None;
    }
    let matched = pairs(base, new);
    let kept = |l: &Loaded| if l.cost.disturbed { None } else { value(l) };
    if matched.is_empty() {
        let base: Vec<f64> = base.iter().filter_map(kept).collect();
        let new: Vec<f64> = new.iter().filter_map(kept).collect();
        let interval = paired::unpaired(&base, &new);
        return Some(Measured { interval, base, new, paired: false });
    }
    let values: Vec<(f64, f64)> =
        matched.iter().filter_map(|(b, n)| Some((kept(b)?, kept(n)?))).collect();
    let (base, new) = values.iter().copied().unzip();
    Some(Measured { interval: paired::paired(&values), base, new, paired: true })
}

/// What a reader should know about how the runs lined up: unpaired sides, runs
/// without a partner, disturbed runs left out.
pub(super) fn notes(base: &[Loaded], new: &[Loaded]) -> Vec<String> {
    let mut notes = Vec::new();
    let matched = pairs(base, new);
    if matched.is_empty() {
        notes.push(
            "unpaired: no BASE and NEW runs share a path (run `suite --base` to measure \
             pairs); the interval compares all runs of both sides"
                .to_string(),
        );
    } else {
        let alone = base.len() + new.len() - 2 * matched.len();
        if alone > 0 {
            notes.push(format!("{alone} run(s) without a partner on the other side left out"));
        }
    }
    let disturbed: Vec<String> = base
        .iter()
        .chain(new)
        .filter(|l| l.cost.disturbed)
        .map(|l| l.path.display().to_string())
        .collect();
    if !disturbed.is_empty() {
        let with = if matched.is_empty() { "" } else { " (with their pairs)" };
        notes.push(format!(
            "{} disturbed run(s) left out{with}: {}",
            disturbed.len(),
            disturbed.join(", ")
        ));
    }
    notes
}
