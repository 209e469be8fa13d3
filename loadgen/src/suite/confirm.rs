//! `loadgen suite --confirm BASE`: a regression must reproduce before CI believes it.
//!
//! On a shared machine a whole repeat can land in a slow spell, and a scenario at
//! 1,000 connections sometimes settles into a slower mode for a run; two such runs
//! out of three move a median by 30%. So after its repeats the suite compares its
//! own results with BASE the way CI does (best runs; throughput gates at the default
//! threshold and the noise band; latency only informs), and runs every scenario whose
//! throughput regressed as many times again. The new runs land beside the others
//! (`confirm1/`, `confirm2/`, ...), so `loadgen compare BASE OUT` pools them: a real
//! slowdown is slow in every run and stays flagged; a slow spell is outvoted.
//! Correctness failures are never re-run away: compare judges checks by the worst
//! run, and every run stays in the folder.

use std::path::Path;

use crate::compare::load::{self, LoadError, Side};
use crate::compare::{comparison, Metric, Options, Statistic, Thresholds, Verdict};

/// A scenario whose throughput regressed against BASE: its name and NEW/BASE.
#[derive(Clone, Debug, PartialEq)]
pub struct Suspect {
    pub scenario: String,
    pub ratio: Option<f64>,
}

/// The options `.ci/run` compares with: the best run of each side, the default
/// threshold (10%), latency informational.
pub fn ci_options() -> Options {
    let mut thresholds = Thresholds::default();
    thresholds.informational.extend([Metric::P50, Metric::P99, Metric::P999]);
    Options { thresholds, normalize: false, statistic: Statistic::Best }
}

/// The scenarios of `out` whose gating performance rows regressed against `base`.
pub fn suspects(base: &Side, out: &Path) -> Result<Vec<Suspect>, LoadError> {
    let new = load::load_side(out)?;
    let comparison = comparison::compare(base, &new, &ci_options())?;
    Ok(comparison
        .scenarios
        .iter()
        .filter_map(|s| {
            let row = s.rows.iter().find(|r| r.gating && r.verdict == Verdict::Regressed)?;
            Some(Suspect { scenario: s.scenario.clone(), ratio: row.ratio })
        })
        .collect())
}

/// One line on a suspect: `scaling echod reuseport w=1 conns=1000 (0.69x)`.
pub fn describe(suspect: &Suspect) -> String {
    match suspect.ratio {
        Some(r) => format!("{} ({r:.2}x)", suspect.scenario),
        None => suspect.scenario.clone(),
    }
}
