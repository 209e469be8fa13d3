//! Summaries of the repeated runs of one scenario, for the table: the figure shown
//! per side (the best run or the median: `--statistic`), and each side's median,
//! min, max and spread.
//!
//! These figures are context only. The verdict is [`super::paired`]'s interval of
//! NEW/BASE over the pairs (or, unpaired, over both sides' runs); `--statistic`
//! chooses nothing but the base and new figures printed beside it. The spread of a
//! side is half its min..max range relative to its median.

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

/// One side's values of one metric over its runs (all 0 for none).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
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
}
