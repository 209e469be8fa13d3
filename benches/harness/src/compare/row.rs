//! One row of a comparison table and the unit its values read in, plus the summary
//! of one metric over a side's runs that every kind of row starts from. Below both
//! the performance rows ([`super::comparison`]) and the check rows
//! ([`super::checks`]), so neither imports the other's file for them.

use serde::Serialize;

use super::load::Loaded;
use super::paired::Interval;
use super::stats::Summary;
use super::verdict::Verdict;
use engine::result::RunResult;

/// The unit of a row's values, for printing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Messages per second.
    PerSec,
    /// Microseconds.
    Micros,
    /// A plain count (connections, bytes, runs).
    Count,
    /// A multiple of the calibration figure (normalized values).
    Calibrated,
    /// A ratio to a peer measured in the same run (`--relative-to`).
    Relative,
    /// Round trips per server CPU-second.
    PerCpuSec,
    /// A count per round trip (context switches).
    PerRt,
}

/// One metric of one scenario.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The metric's name: `throughput`, `p50`, `p99`, `p999`, `connect_rate`,
    /// `connections`, `mismatch`, `interrupted`, `calibration`.
    pub metric: &'static str,
    /// How its values read.
    pub unit: Unit,
    /// BASE's figure: the best run or the median (`--statistic`, shown only: the
    /// verdict comes from `interval`) for performance rows,
    /// the median for the calibration, the worst run for checks.
    pub base: f64,
    /// NEW's figure, the same way.
    pub new: f64,
    /// BASE's runs summarized (median, min, max, spread).
    pub base_runs: Summary,
    /// NEW's runs summarized.
    pub new_runs: Summary,
    /// NEW / BASE: the interval's estimate (Hodges–Lehmann) for performance rows,
    /// also with too few pairs for an interval; None for checks, and with no
    /// usable value (zeros).
    pub ratio: Option<f64>,
    /// The 95% interval of NEW / BASE (estimate, low, high, n, paired); None for
    /// checks and with too few pairs.
    pub interval: Option<Interval>,
    /// Gating rows: the interval at the comparison's family-wise level
    /// ([`super::comparison::Family`]), which a regression must show too; None
    /// otherwise and with too few pairs for it.
    pub family_interval: Option<Interval>,
    /// Pairs (paired) or runs of the smaller side (unpaired) behind the interval.
    pub n: usize,
    /// Whether the runs were paired (same path under BASE and NEW).
    pub paired: bool,
    /// The smallest change this comparison could have shown ([`Interval::mde`]).
    pub mde: Option<f64>,
    /// With `normalize`: NEW / BASE of the raw figures, for comparison.
    pub raw_ratio: Option<f64>,
    /// The threshold applied (performance rows).
    pub threshold: Option<f64>,
    /// The same as `mde`, under its former name (the noise band it replaced), for
    /// readers not yet moved to `mde`.
    pub noise_band: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
    /// Whether this row can fail the comparison (false: informational).
    pub gating: bool,
    /// Why a check failed, naming the file.
    pub detail: Option<String>,
    /// The `connections` row only: connections requested (most over the runs) on
    /// BASE and NEW, to print `established/requested`.
    pub requested: Option<(u64, u64)>,
}

/// One metric over `runs`, summarized (median, min, max, spread).
pub(super) fn summarize(runs: &[Loaded], f: impl Fn(&RunResult) -> f64) -> Summary {
    let values: Vec<f64> = runs.iter().map(|l| f(&l.result)).collect();
    // Sides are never empty: a scenario exists because a run named it.
    Summary::of(&values).unwrap_or(Summary {
        runs: 0,
        median: 0.0,
        min: 0.0,
        max: 0.0,
        spread: 0.0,
    })
}
