//! The verdict on one metric: which metrics are compared, which way is better, the
//! thresholds (`--threshold`, `--threshold-for METRIC=PCT`) and the pure rule that
//! turns a ratio NEW/BASE, a threshold and a noise band into a [`Verdict`].
//!
//! Invariant: a metric is flagged (improved or regressed) only when its relative
//! change exceeds BOTH its threshold and the noise band; anything smaller is `~`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// A metric compare knows, by the name `--threshold-for` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// `throughput.msgs_per_sec`.
    Throughput,
    /// `latency_us.p50`.
    P50,
    /// `latency_us.p99`.
    P99,
    /// `latency_us.p999`.
    P999,
    /// `connections.connect_rate_per_sec`: informational unless given a threshold.
    ConnectRate,
}

impl Metric {
    /// The metrics a threshold applies to, in table order.
    pub const THRESHOLDED: [Metric; 5] =
        [Metric::Throughput, Metric::P50, Metric::P99, Metric::P999, Metric::ConnectRate];

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Throughput => "throughput",
            Metric::P50 => "p50",
            Metric::P99 => "p99",
            Metric::P999 => "p999",
            Metric::ConnectRate => "connect_rate",
        }
    }

    /// Which way is better.
    pub fn direction(self) -> Direction {
        match self {
            Metric::Throughput | Metric::ConnectRate => Direction::HigherIsBetter,
            Metric::P50 | Metric::P99 | Metric::P999 => Direction::LowerIsBetter,
        }
    }

    fn from_name(name: &str) -> Option<Metric> {
        let name = name.trim().to_ascii_lowercase();
        Metric::THRESHOLDED.into_iter().find(|m| m.name() == name).or(match name.as_str() {
            "msgs_per_sec" => Some(Metric::Throughput),
            "p99.9" => Some(Metric::P999),
            "connect_rate_per_sec" => Some(Metric::ConnectRate),
            _ => None,
        })
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which way a metric improves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

/// The outcome for one row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Better by more than the threshold and the noise band.
    Improved,
    /// Worse by more than the threshold and the noise band.
    Regressed,
    /// The change is within the threshold.
    Unchanged,
    /// Past the threshold, but inside the measured noise band: not flagged.
    WithinNoise,
    /// A correctness check that passed.
    Ok,
    /// A correctness check that failed: always a failure.
    Fail,
    /// Shown for context only; never judged.
    Info,
}

impl Verdict {
    /// The word printed in the tables.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Regressed => "REGRESSED",
            Verdict::Unchanged => "~",
            Verdict::WithinNoise => "~ noise",
            Verdict::Ok => "ok",
            Verdict::Fail => "FAIL",
            Verdict::Info => "info",
        }
    }
}

/// The default threshold and the per-metric overrides.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Thresholds {
    /// `--threshold`, as a fraction (0.10 = 10%).
    pub default: f64,
    /// `--threshold-for`, as fractions; a later flag for the same metric wins.
    pub overrides: BTreeMap<Metric, f64>,
    /// `--informational`: metrics shown with their verdict that never fail the run.
    pub informational: std::collections::BTreeSet<Metric>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            default: 0.10,
            overrides: BTreeMap::new(),
            informational: std::collections::BTreeSet::new(),
        }
    }
}

impl Thresholds {
    /// The threshold of `metric`.
    pub fn of(&self, metric: Metric) -> f64 {
        self.overrides.get(&metric).copied().unwrap_or(self.default)
    }

    /// Whether a regression of `metric` fails the comparison: connect rate only
    /// does when a threshold was given for it explicitly.
    pub fn gates(&self, metric: Metric) -> bool {
        !self.informational.contains(&metric)
            && (metric != Metric::ConnectRate || self.overrides.contains_key(&metric))
    }

    /// `10%`, or `10%, p99 25%` when there are overrides.
    pub fn describe(&self) -> String {
        let mut text = pct(self.default);
        for (metric, t) in &self.overrides {
            text.push_str(&format!(", {metric} {}", pct(*t)));
        }
        text
    }
}

/// A fraction printed as a percentage: `0.1` -> `10%`, `0.025` -> `2.5%`.
pub fn pct(fraction: f64) -> String {
    let p = fraction * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// Parses a percentage: `10%` or `10` (both mean ten per cent), `2.5%`.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let number = t.strip_suffix('%').unwrap_or(t).trim();
    match number.parse::<f64>() {
        Ok(p) if p.is_finite() && p >= 0.0 => Ok(p / 100.0),
        _ => Err(format!("'{text}' is not a percentage: use e.g. 10% or 2.5%")),
    }
}

/// Parses one `--threshold-for METRIC=PCT`, e.g. `p99=25%`.
pub fn parse_threshold_for(text: &str) -> Result<(Metric, f64), String> {
    let names = Metric::THRESHOLDED.map(Metric::name).join(", ");
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not METRIC=PCT: use e.g. p99=25% ({names})"))?;
    let metric = Metric::from_name(name)
        .ok_or_else(|| format!("'{name}' is not a metric with a threshold: use one of {names}"))?;
    Ok((metric, parse_percent(value)?))
}

/// Parses `--informational METRIC`.
pub fn parse_metric(text: &str) -> Result<Metric, String> {
    let names = Metric::THRESHOLDED.map(Metric::name).join(", ");
    Metric::from_name(text).ok_or_else(|| format!("'{text}' is not a metric: use one of {names}"))
}

/// The relative change toward better: +0.2 is 20% better, -0.2 is 20% worse.
pub fn improvement(direction: Direction, ratio: f64) -> f64 {
    match direction {
        Direction::HigherIsBetter => ratio - 1.0,
        Direction::LowerIsBetter => 1.0 - ratio,
    }
}

/// The verdict on a ratio NEW/BASE (None: BASE was zero and NEW was not) given the
/// metric's threshold and the noise band (both fractions; the band is 0 when no
/// spread was measured).
pub fn judge(direction: Direction, ratio: Option<f64>, threshold: f64, noise_band: f64) -> Verdict {
    let Some(ratio) = ratio else {
        // From zero to something: infinitely more (better if higher is better).
        return match direction {
            Direction::HigherIsBetter => Verdict::Improved,
            Direction::LowerIsBetter => Verdict::Regressed,
        };
    };
    let change = improvement(direction, ratio);
    // A change of exactly the threshold is within it, whatever the rounding of f64.
    const EPSILON: f64 = 1e-9;
    if change.abs() <= threshold + EPSILON {
        Verdict::Unchanged
    } else if change.abs() <= noise_band + EPSILON {
        Verdict::WithinNoise
    } else if change > 0.0 {
        Verdict::Improved
    } else {
        Verdict::Regressed
    }
}

/// NEW/BASE; 1 when both are zero; None when only BASE is zero.
pub fn ratio(base: f64, new: f64) -> Option<f64> {
    if base == 0.0 {
        (new == 0.0).then_some(1.0)
    } else {
        Some(new / base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use Direction::{HigherIsBetter as Higher, LowerIsBetter as Lower};

    /// More throughput is better, more latency is worse, at the same ratio.
    #[test]
    fn direction_aware() {
        assert_eq!(judge(Higher, Some(1.25), 0.10, 0.0), Verdict::Improved);
        assert_eq!(judge(Lower, Some(1.25), 0.10, 0.0), Verdict::Regressed);
        assert_eq!(judge(Higher, Some(0.80), 0.10, 0.0), Verdict::Regressed);
        assert_eq!(judge(Lower, Some(0.80), 0.10, 0.0), Verdict::Improved);
    }

    /// A change within the threshold is `~`, whatever the noise.
    #[test]
    fn within_threshold() {
        assert_eq!(judge(Higher, Some(0.95), 0.10, 0.0), Verdict::Unchanged);
        assert_eq!(judge(Lower, Some(1.10), 0.10, 0.0), Verdict::Unchanged);
        assert_eq!(judge(Lower, Some(1.0), 0.0, 0.0), Verdict::Unchanged);
    }

    /// Past the threshold but inside the noise band is not flagged; past both is.
    #[test]
    fn noise_band_must_be_exceeded_too() {
        assert_eq!(judge(Higher, Some(0.85), 0.10, 0.20), Verdict::WithinNoise);
        assert_eq!(judge(Higher, Some(0.75), 0.10, 0.20), Verdict::Regressed);
        assert_eq!(judge(Lower, Some(0.85), 0.10, 0.20), Verdict::WithinNoise);
        // A band smaller than the threshold changes nothing.
        assert_eq!(judge(Lower, Some(1.15), 0.10, 0.05), Verdict::Regressed);
    }

    /// From zero: better if higher is better, worse if lower is better.
    #[test]
    fn from_zero() {
        assert_eq!(ratio(0.0, 0.0), Some(1.0));
        assert_eq!(ratio(0.0, 5.0), None);
        assert_eq!(ratio(4.0, 5.0), Some(1.25));
        assert_eq!(judge(Higher, None, 0.10, 0.0), Verdict::Improved);
        assert_eq!(judge(Lower, None, 0.10, 0.0), Verdict::Regressed);
    }

    /// Percentages parse with or without `%`; junk names the fix.
    #[test]
    fn percentages() {
        assert_eq!(parse_percent("10%"), Ok(0.10));
        assert_eq!(parse_percent("25"), Ok(0.25));
        assert_eq!(parse_percent(" 2.5% "), Ok(0.025));
        assert!(parse_percent("-5%").unwrap_err().contains("e.g. 10%"));
        assert!(parse_percent("ten").is_err());
        assert_eq!(pct(0.1), "10%");
        assert_eq!(pct(0.025), "2.5%");
    }

    /// `--threshold-for` takes a metric name (or its field name) and a percentage.
    #[test]
    fn threshold_for() {
        assert_eq!(parse_threshold_for("p99=25%"), Ok((Metric::P99, 0.25)));
        assert_eq!(parse_threshold_for("msgs_per_sec=5"), Ok((Metric::Throughput, 0.05)));
        assert_eq!(parse_threshold_for("connect_rate=30%"), Ok((Metric::ConnectRate, 0.30)));
        assert!(parse_threshold_for("p99").unwrap_err().contains("METRIC=PCT"));
        assert!(parse_threshold_for("mismatch=1%").unwrap_err().contains("not a metric"));
    }

    /// Overrides win over the default; connect rate gates only when given one.
    #[test]
    fn thresholds() {
        let mut t = Thresholds::default();
        assert_eq!(t.of(Metric::P99), 0.10);
        assert!(!t.gates(Metric::ConnectRate));
        assert!(t.gates(Metric::P999));
        t.overrides.insert(Metric::P99, 0.25);
        t.overrides.insert(Metric::ConnectRate, 0.30);
        assert_eq!(t.of(Metric::P99), 0.25);
        assert!(t.gates(Metric::ConnectRate));
        assert_eq!(t.describe(), "10%, p99 25%, connect_rate 30%");
    }
}
