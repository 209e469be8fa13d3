//! The verdict on one metric: which metrics are compared, which way is better, the
//! thresholds (`--threshold`, `--threshold-for METRIC=PCT`) and the pure rule that
//! turns a 95% interval of NEW/BASE ([`super::paired`]) and a threshold t into a
//! [`Verdict`]:
//!
//! - REGRESSED: the whole interval lies on the worse side of 1 AND the estimate is
//!   worse than 1 by more than t; improved: the mirror image;
//! - same: the whole interval lies inside [1 − t, 1 + t];
//! - unknown: anything else, and too few pairs for an interval. Unknown never
//!   fails: it asks for more pairs (`suite --base` tops them up).
//!
//! A gating figure is one of a family (every scenario's throughput and
//! rt_per_cpu): at 95% each, a suite of 13 scenarios would fail one time in two
//! with identical builds. So [`judge_gated`] holds REGRESSED to the family-wise
//! interval too (1 − 5%/m over the m gated figures, Bonferroni); a regression the
//! 95% interval shows and the family's does not is a suspect: not a failure, the
//! first scenario `suite --base` tops up.
//!
//! Invariant: nothing is flagged that the interval does not show, and nothing is
//! called the same that the interval does not bound.
use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::paired::{Interval, TooFew};

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
    /// `server.rt_per_cpu_s`: round trips per server CPU-second.
    RtPerCpu,
    /// `server.cpu_us_per_rt`: informational unless given a threshold.
    CpuUsPerRt,
    /// `server.context_switches_per_rt`: informational unless given a threshold.
    CsPerRt,
}

impl Metric {
    /// The metrics a threshold applies to, in table order.
    pub const THRESHOLDED: [Metric; 8] = [
        Metric::Throughput,
        Metric::RtPerCpu,
        Metric::P50,
        Metric::P99,
        Metric::P999,
        Metric::ConnectRate,
        Metric::CpuUsPerRt,
        Metric::CsPerRt,
    ];

    /// The metrics that fail a comparison by default; the others do once given a
    /// `--threshold-for` (and none does once named by `--informational`).
    pub const GATED_BY_DEFAULT: [Metric; 2] = [Metric::Throughput, Metric::RtPerCpu];

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Throughput => "throughput",
            Metric::P50 => "p50",
            Metric::P99 => "p99",
            Metric::P999 => "p999",
            Metric::ConnectRate => "connect_rate",
            Metric::RtPerCpu => "rt_per_cpu",
            Metric::CpuUsPerRt => "cpu_us_per_rt",
            Metric::CsPerRt => "cs_per_rt",
        }
    }

    /// Which way is better.
    pub fn direction(self) -> Direction {
        match self {
            Metric::Throughput | Metric::ConnectRate | Metric::RtPerCpu => {
                Direction::HigherIsBetter
            }
            Metric::P50 | Metric::P99 | Metric::P999 | Metric::CpuUsPerRt | Metric::CsPerRt => {
                Direction::LowerIsBetter
            }
        }
    }

    fn from_name(name: &str) -> Option<Metric> {
        let name = name.trim().to_ascii_lowercase();
        Metric::THRESHOLDED.into_iter().find(|m| m.name() == name).or(match name.as_str() {
            "msgs_per_sec" => Some(Metric::Throughput),
            "p99.9" => Some(Metric::P999),
            "connect_rate_per_sec" => Some(Metric::ConnectRate),
            "rt_per_cpu_s" => Some(Metric::RtPerCpu),
            "context_switches_per_rt" => Some(Metric::CsPerRt),
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
    /// The interval lies on the better side of 1, the estimate past the threshold.
    Improved,
    /// The interval lies on the worse side of 1, the estimate past the threshold.
    Regressed,
    /// The interval lies inside [1 − threshold, 1 + threshold].
    Same,
    /// Neither shown: the interval is too wide, or there are too few pairs.
    Unknown,
    /// A gating figure the 95% interval shows regressed and the family-wise
    /// interval does not (yet): not a failure; more pairs decide it.
    Suspect,
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
            Verdict::Same => "same",
            Verdict::Unknown => "unknown",
            Verdict::Suspect => "suspect",
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
            default: 0.03,
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

    /// Whether a regression of `metric` fails the comparison: throughput and
    /// rt_per_cpu do unless `--informational`; the others only once given a
    /// threshold of their own (`--threshold-for`).
    pub fn gates(&self, metric: Metric) -> bool {
        !self.informational.contains(&metric)
            && (Metric::GATED_BY_DEFAULT.contains(&metric) || self.overrides.contains_key(&metric))
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

/// The verdict on the interval of NEW/BASE (or too few pairs for one) given the
/// metric's threshold (a fraction); the rule is in the module doc.
pub fn judge(direction: Direction, interval: &Result<Interval, TooFew>, threshold: f64) -> Verdict {
    let Ok(i) = interval else { return Verdict::Unknown };
    // A change of exactly the threshold is within it, whatever the rounding of f64.
    const EPSILON: f64 = 1e-9;
    let (worse_all, better_all) = match direction {
        Direction::HigherIsBetter => (i.high < 1.0, i.low > 1.0),
        Direction::LowerIsBetter => (i.low > 1.0, i.high < 1.0),
    };
    let change = improvement(direction, i.estimate);
    if worse_all && change < -(threshold + EPSILON) {
        Verdict::Regressed
    } else if better_all && change > threshold + EPSILON {
        Verdict::Improved
    } else if i.low >= 1.0 - threshold - EPSILON && i.high <= 1.0 + threshold + EPSILON {
        Verdict::Same
    } else {
        Verdict::Unknown
    }
}

/// The verdict on a gating figure: [`judge`] on its 95% interval, except that
/// REGRESSED needs the family-wise interval to show it too, else it is a suspect.
pub fn judge_gated(
    direction: Direction,
    interval: &Result<Interval, TooFew>,
    family: &Result<Interval, TooFew>,
    threshold: f64,
) -> Verdict {
    match judge(direction, interval, threshold) {
        Verdict::Regressed if judge(direction, family, threshold) != Verdict::Regressed => {
            Verdict::Suspect
        }
        v => v,
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

    fn interval(estimate: f64, low: f64, high: f64) -> Result<Interval, TooFew> {
        Ok(Interval { estimate, low, high, n: 10, paired: true })
    }

    /// More throughput is better, more latency is worse, at the same interval.
    #[test]
    fn direction_aware() {
        let up = interval(1.25, 1.2, 1.3);
        let down = interval(0.80, 0.75, 0.85);
        assert_eq!(judge(Higher, &up, 0.03), Verdict::Improved);
        assert_eq!(judge(Lower, &up, 0.03), Verdict::Regressed);
        assert_eq!(judge(Higher, &down, 0.03), Verdict::Regressed);
        assert_eq!(judge(Lower, &down, 0.03), Verdict::Improved);
    }

    /// An interval inside [1 − t, 1 + t] is the same, even when it excludes 1.
    #[test]
    fn same_inside_the_threshold() {
        assert_eq!(judge(Higher, &interval(1.0, 0.98, 1.02), 0.03), Verdict::Same);
        assert_eq!(judge(Higher, &interval(0.98, 0.975, 0.985), 0.03), Verdict::Same);
        assert_eq!(judge(Lower, &interval(1.03, 1.03, 1.03), 0.03), Verdict::Same);
    }

    /// Past the threshold but with an interval holding 1, or straddling the
    /// threshold, is unknown: nothing is shown either way.
    #[test]
    fn unknown_when_the_interval_shows_nothing() {
        assert_eq!(judge(Higher, &interval(0.90, 0.80, 1.01), 0.03), Verdict::Unknown);
        assert_eq!(judge(Higher, &interval(1.0, 0.95, 1.05), 0.03), Verdict::Unknown);
        // Worse for sure, but the estimate is within the threshold: not flagged.
        assert_eq!(judge(Higher, &interval(0.98, 0.96, 0.99), 0.03), Verdict::Unknown);
        let few = Err(TooFew { estimate: Some(0.5), n: 3, paired: true });
        assert_eq!(judge(Higher, &few, 0.03), Verdict::Unknown);
    }

    /// A gating regression stands only where the family-wise interval shows it;
    /// otherwise it is a suspect. Other verdicts are the 95% interval's.
    #[test]
    fn gated_regressions_need_the_family() {
        let narrow = interval(0.91, 0.84, 0.97);
        let wide = interval(0.91, 0.80, 1.02);
        assert_eq!(judge_gated(Higher, &narrow, &wide, 0.03), Verdict::Suspect);
        let few = Err(TooFew { estimate: Some(0.91), n: 7, paired: true });
        assert_eq!(judge_gated(Higher, &narrow, &few, 0.03), Verdict::Suspect);
        let wide_but_worse = interval(0.91, 0.82, 0.99);
        assert_eq!(judge_gated(Higher, &narrow, &wide_but_worse, 0.03), Verdict::Regressed);
        let up = interval(1.10, 1.05, 1.15);
        assert_eq!(judge_gated(Higher, &up, &few, 0.03), Verdict::Improved);
        assert_eq!(judge_gated(Higher, &wide, &few, 0.03), Verdict::Unknown);
    }

    /// NEW/BASE of plain figures: 1 from zero to zero, none from zero to something.
    #[test]
    fn from_zero() {
        assert_eq!(ratio(0.0, 0.0), Some(1.0));
        assert_eq!(ratio(0.0, 5.0), None);
        assert_eq!(ratio(4.0, 5.0), Some(1.25));
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
        assert_eq!(parse_threshold_for("rt_per_cpu=2%"), Ok((Metric::RtPerCpu, 0.02)));
        assert_eq!(parse_metric("cs_per_rt"), Ok(Metric::CsPerRt));
    }

    /// Overrides win over the default; only throughput and rt_per_cpu gate
    /// without one; `--informational` wins over both.
    #[test]
    fn thresholds() {
        let mut t = Thresholds::default();
        assert_eq!(t.of(Metric::P99), 0.03);
        assert!(!t.gates(Metric::ConnectRate));
        assert!(!t.gates(Metric::P999) && !t.gates(Metric::CpuUsPerRt));
        assert!(t.gates(Metric::Throughput) && t.gates(Metric::RtPerCpu));
        t.informational.insert(Metric::RtPerCpu);
        assert!(!t.gates(Metric::RtPerCpu));
        t.overrides.insert(Metric::P99, 0.25);
        t.overrides.insert(Metric::ConnectRate, 0.30);
        assert_eq!(t.of(Metric::P99), 0.25);
        assert!(t.gates(Metric::ConnectRate));
        assert!(t.gates(Metric::P99));
        assert_eq!(t.describe(), "3%, p99 25%, connect_rate 30%");
    }
}
