//! Statistics over the repeated runs of one scenario: the figure compare judges by
//! (the best run by default, or the median), the spread of the runs, and the noise
//! band a change must exceed.
//!
//! Why the best run: on a shared machine noise is one-sided. Another process, a
//! slow spell, a run that settles into a slower batching mode: each makes a run
//! slower, none makes it faster than the code and the machine allow. The best of N
//! runs is the one least disturbed, so it moves least between two measurements of
//! the same build; the median moves as soon as half the runs are disturbed.
//! (results/compare-validation.md has the measurements behind this choice.)
//!
//! The spread of one side is half its min..max range relative to its median (the
//! runs lie within median ± spread, roughly). The noise band of a comparison is the
//! spread of BASE plus the spread of NEW: a conservative bound on how far the two
//! medians can drift apart by noise alone. A side with a single run has no measured
//! spread and borrows the other side's (same machine, same scenario); with a single
//! run on both sides the band is 0 and only the threshold applies.

use serde::Serialize;

use super::verdict::Direction;

/// Which figure of a side's runs is compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    /// The best run: the highest throughput, the lowest latency.
    #[default]
    Best,
    /// The median run.
    Median,
}

/// One side's values of one metric over its runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// How many runs the figures come from.
    pub runs: usize,
    /// The median of the runs: the figure compared.
    pub median: f64,
    /// The smallest run.
    pub min: f64,
    /// The largest run.
    pub max: f64,
    /// Half of max - min, relative to the median (0 with one run or a zero median).
    pub spread: f64,
}

impl Summary {
    /// The figure compared: the median, or the best run in `direction`.
    pub fn figure(&self, statistic: Statistic, direction: Direction) -> f64 {
        match (statistic, direction) {
            (Statistic::Median, _) => self.median,
            (Statistic::Best, Direction::HigherIsBetter) => self.max,
            (Statistic::Best, Direction::LowerIsBetter) => self.min,
        }
    }

    /// Summarizes the values of one metric over the runs; None for no runs.
    pub fn of(values: &[f64]) -> Option<Summary> {
        let median = median(values)?;
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let spread = if median > 0.0 { (max - min) / 2.0 / median } else { 0.0 };
        Some(Summary { runs: values.len(), median, min, max, spread })
    }
}

/// The median; the mean of the middle two for an even count; None when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The noise band of BASE against NEW, as a fraction (see the module doc); None
/// when neither side has more than one run (no spread was measured).
pub fn noise_band(base: &Summary, new: &Summary) -> Option<f64> {
    match (base.runs > 1, new.runs > 1) {
        (false, false) => None,
        (true, true) => Some(base.spread + new.spread),
        (true, false) => Some(2.0 * base.spread),
        (false, true) => Some(2.0 * new.spread),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Odd counts take the middle value, even counts the mean of the middle two.
    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    /// The spread is half the range relative to the median.
    #[test]
    fn spread() {
        let s = Summary::of(&[90.0, 100.0, 110.0]).expect("runs");
        assert_eq!((s.runs, s.median, s.min, s.max), (3, 100.0, 90.0, 110.0));
        assert!((s.spread - 0.10).abs() < 1e-12);
        assert_eq!(Summary::of(&[7.0]).expect("run").spread, 0.0);
        assert_eq!(Summary::of(&[0.0, 0.0]).expect("runs").spread, 0.0);
        assert!(Summary::of(&[]).is_none());
    }

    /// The best run is the highest for throughput, the lowest for latency.
    #[test]
    fn figures() {
        let s = Summary::of(&[90.0, 100.0, 130.0]).expect("runs");
        assert_eq!(s.figure(Statistic::Best, Direction::HigherIsBetter), 130.0);
        assert_eq!(s.figure(Statistic::Best, Direction::LowerIsBetter), 90.0);
        assert_eq!(s.figure(Statistic::Median, Direction::HigherIsBetter), 100.0);
        assert_eq!(s.figure(Statistic::Median, Direction::LowerIsBetter), 100.0);
    }

    /// Both spreads add up; a single run borrows the other side's; none: no band.
    #[test]
    fn bands() {
        let three = Summary::of(&[90.0, 100.0, 110.0]).expect("runs");
        let tight = Summary::of(&[99.0, 100.0, 101.0]).expect("runs");
        let one = Summary::of(&[100.0]).expect("run");
        assert!((noise_band(&three, &tight).expect("band") - 0.11).abs() < 1e-12);
        assert!((noise_band(&one, &three).expect("band") - 0.20).abs() < 1e-12);
        assert!((noise_band(&three, &one).expect("band") - 0.20).abs() < 1e-12);
        assert_eq!(noise_band(&one, &one), None);
    }
}
