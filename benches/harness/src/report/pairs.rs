//! The report's ratios between two servers, each with its 95% interval: in every
//! repeat the suite runs each step once, so a repeat's run of scenario B and its run
//! of scenario A (the denominator: echod reuseport at the same connection count,
//! say) are one pair, measured within the same minute on the same machine; the
//! ratio B/A is the Hodges–Lehmann estimate over the pairs with the Wilcoxon
//! interval ([`crate::compare::paired`]). Six pairs are the fewest a 95% interval
//! can come from: with fewer the cell gives the estimate and says so.
//!
//! Only the first runs of the build under test pair up here (top-up rounds of a
//! `--base` run measure base against new, and the base side has its own section).
//! A run the machine disturbed (its result's `machine.disturbed`) is left out with
//! its pair.

use std::collections::BTreeMap;
use std::path::Path;

use crate::compare::paired::{self, Interval, TooFew};
use crate::suite_index::{Side, SuiteIndex};
use engine::result::{read as load_result, RunResult};

/// A figure of one run: what a ratio is taken of.
pub(super) type Figure = fn(&RunResult) -> Option<f64>;

/// Round trips per second in the measured window.
pub(super) fn throughput(r: &RunResult) -> Option<f64> {
    Some(r.throughput.msgs_per_sec).filter(|v| *v > 0.0)
}

/// Round trips per second of the server's own CPU time (user + system, every
/// thread, over the measured window): what a round trip costs the server, which a
/// client on the next core cannot cap the way it caps throughput.
pub(super) fn per_server_cpu(r: &RunResult) -> Option<f64> {
    r.server.as_ref().and_then(|s| s.rt_per_cpu_s).filter(|v| *v > 0.0)
}

/// Where a section's ratios are read from: the suite folder and its index.
#[derive(Clone, Copy)]
pub(super) struct Pairing<'a> {
    pub(super) out: &'a Path,
    pub(super) index: &'a SuiteIndex,
}

impl Pairing<'_> {
    /// The ratio of scenario `num` to scenario `den` in `figure`, over the
    /// repeats' pairs.
    pub(super) fn ratio(&self, den: &str, num: &str, figure: Figure) -> Result<Interval, TooFew> {
        paired::paired(&pairs(self.out, self.index, (den, num), figure))
    }
}

/// (den, num) figures, one per repeat in which both scenarios have an undisturbed
/// run with the figure.
fn pairs(
    out: &Path,
    index: &SuiteIndex,
    (den, num): (&str, &str),
    figure: Figure,
) -> Vec<(f64, f64)> {
    let mut by_rep: BTreeMap<u32, (Option<f64>, Option<f64>)> = BTreeMap::new();
    let first_runs = index.steps.iter().filter(|s| !s.confirm && s.side != Some(Side::Base));
    for s in first_runs {
        // A row against itself (the reference's own row) pairs each run with itself.
        let (is_den, is_num) = (s.record.scenario == den, s.record.scenario == num);
        if !is_den && !is_num {
            continue;
        }
        let Some(file) = s.record.result_file.as_deref() else { continue };
        let Ok(res) = load_result(out, file) else { continue };
        if res.machine.as_ref().is_some_and(|m| m.disturbed) {
            continue;
        }
        let slot = by_rep.entry(s.rep).or_default();
        let value = figure(&res);
        if is_den {
            slot.0 = value;
        }
        if is_num {
            slot.1 = value;
        }
    }
    by_rep.into_values().filter_map(|(d, n)| Some((d?, n?))).collect()
}

/// A ratio cell: `1.04× [0.99, 1.09]`, or `1.04× (3 pairs: no interval)`, or `-`.
pub(super) fn cell(r: &Result<Interval, TooFew>) -> String {
    match r {
        Ok(i) => format!("{:.2}× [{:.2}, {:.2}]", i.estimate, i.low, i.high),
        Err(TooFew { estimate: Some(e), n, .. }) => {
            format!("{e:.2}× ({n} pair{}: no interval)", if *n == 1 { "" } else { "s" })
        }
        Err(_) => "-".into(),
    }
}

/// A forest plot's row for ratio `r` (its estimate, with its interval when there
/// are pairs enough); None without an estimate.
pub(super) fn estimate(
    label: String,
    r: &Result<Interval, TooFew>,
) -> Option<crate::plot::Estimate> {
    let (estimate, interval) = match r {
        Ok(i) => (i.estimate, Some((i.low, i.high))),
        Err(few) => (few.estimate?, None),
    };
    Some(crate::plot::Estimate { label, estimate, interval })
}

/// What the interval lets one say: `no difference shown` when it holds 1,
/// `higher` or `lower` when it lies on one side, `too few pairs` without one.
pub(super) fn reading(r: &Result<Interval, TooFew>) -> &'static str {
    match r {
        Ok(i) if i.holds_one() => "no difference shown",
        Ok(i) if i.low > 1.0 => "higher",
        Ok(_) => "lower",
        Err(TooFew { estimate: Some(_), .. }) => "too few pairs",
        Err(_) => "-",
    }
}

/// One sentence for under a table whose ratios come from here.
pub(super) fn note(reps: usize) -> String {
    let how = if reps >= 6 {
        format!("over this run's {reps} repeats")
    } else {
        format!(
            "this run had {reps} repeat{}, fewer than the 6 pairs a 95% interval needs: \
             run the suite with `--repeat 6` or more for intervals",
            if reps == 1 { "" } else { "s" }
        )
    };
    format!(
        "Ratios are paired: each repeat's run of a server against the same repeat's run of \
         the reference, the estimate and its 95% interval from the pairs (Hodges–Lehmann, \
         Wilcoxon); \"no difference shown\" when the interval holds 1 ({how}). Per server \
         CPU-second is the figure to read for what a server costs: on this machine the \
         client on the next core caps throughput, not the server."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cell shows the interval, or the estimate and why there is no interval.
    #[test]
    fn cells_and_readings() {
        let i = Interval { estimate: 1.04, low: 0.99, high: 1.09, n: 8, paired: true };
        assert_eq!(cell(&Ok(i)), "1.04× [0.99, 1.09]");
        assert_eq!(reading(&Ok(i)), "no difference shown");
        let lower = Interval { low: 0.90, high: 0.97, ..i };
        assert_eq!(reading(&Ok(lower)), "lower");
        let few = TooFew { estimate: Some(0.8), n: 3, paired: true };
        assert_eq!(cell(&Err(few)), "0.80× (3 pairs: no interval)");
        assert_eq!(reading(&Err(few)), "too few pairs");
        let none = TooFew { estimate: None, n: 0, paired: true };
        assert_eq!((cell(&Err(none)).as_str(), reading(&Err(none))), ("-", "-"));
    }
}
