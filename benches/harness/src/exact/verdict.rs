//! The figures `loadgen exact` compares, their tolerances, and the verdict rule.
//! Every figure is a cost (lower is better). Per build the figure is the median of
//! its rounds; NEW/BASE above 1 + tolerance is REGRESSED, below 1 − tolerance
//! improved, else same — unless the change is no wider than the rounds of either
//! build spread (max − min over median): then the figure is `noisy`, shown and never
//! failing (a change must pass both the tolerance and the noise band, as in
//! `loadgen compare`) (context switches per round trip at 50 connections, ~0.05, depend on
//! whether the worker ever finds no event ready, and vary by 100% between runs).
//! Default tolerances: 1% for instructions (they barely move),
//! 2% for system calls and context switches (the scheduler decides how many events
//! one epoll_wait returns).

use serde::Serialize;

/// A compared figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// echod's user-space instructions per message (callgrind).
    Instructions,
    /// echod's system calls per round trip.
    Syscalls,
    /// echod's context switches per round trip.
    ContextSwitches,
    /// echod's user-space CPU ns per round trip (`--user-share`): never gates.
    UserNs,
}

impl Metric {
    /// The gated figures (and the ones `--tolerance-for` names).
    pub const ALL: [Metric; 3] = [Metric::Instructions, Metric::Syscalls, Metric::ContextSwitches];

    /// Its name on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Instructions => "instructions",
            Metric::Syscalls => "syscalls",
            Metric::ContextSwitches => "context-switches",
            Metric::UserNs => "user-ns",
        }
    }

    /// Whether it gets a verdict (the sampled user-space time does not: it moves
    /// by several percent from run to run).
    pub fn gates(self) -> bool {
        self != Metric::UserNs
    }
}

/// The verdict on one figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Verdict {
    #[serde(rename = "REGRESSED")]
    Regressed,
    #[serde(rename = "improved")]
    Improved,
    #[serde(rename = "same")]
    Same,
    /// Past the tolerance, but within the spread of the rounds: informational.
    #[serde(rename = "noisy")]
    Noisy,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Regressed => "REGRESSED",
            Verdict::Improved => "improved",
            Verdict::Same => "same",
            Verdict::Noisy => "noisy",
        })
    }
}

/// Tolerance per metric, as fractions (0.01 = 1%).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Tolerances {
    pub instructions: f64,
    pub syscalls: f64,
    pub context_switches: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances { instructions: 0.01, syscalls: 0.02, context_switches: 0.02 }
    }
}

impl Tolerances {
    pub fn of(&self, metric: Metric) -> f64 {
        match metric {
            Metric::Instructions => self.instructions,
            Metric::Syscalls => self.syscalls,
            Metric::ContextSwitches => self.context_switches,
            Metric::UserNs => f64::INFINITY,
        }
    }

    fn set(&mut self, metric: Metric, value: f64) {
        match metric {
            Metric::Instructions => self.instructions = value,
            Metric::Syscalls => self.syscalls = value,
            Metric::ContextSwitches => self.context_switches = value,
            Metric::UserNs => {}
        }
    }

    /// `--tolerance` (instructions) and every `--tolerance-for METRIC=PCT`.
    pub fn from_flags(tolerance: Option<&str>, each: &[String]) -> Result<Tolerances, String> {
        let mut t = Tolerances::default();
        if let Some(text) = tolerance {
            t.instructions = parse_percent(text).map_err(|e| format!("--tolerance {e}"))?;
        }
        for item in each {
            let (name, pct) = item.split_once('=').ok_or_else(|| {
                format!("--tolerance-for {item}: give METRIC=PCT, e.g. syscalls=2%")
            })?;
            let metric =
                Metric::ALL.into_iter().find(|m| m.name() == name.trim()).ok_or_else(|| {
                    format!(
                        "--tolerance-for {item}: no metric '{name}' (instructions, syscalls, \
                     context-switches)"
                    )
                })?;
            t.set(metric, parse_percent(pct).map_err(|e| format!("--tolerance-for {e}"))?);
        }
        Ok(t)
    }
}

/// `1%`, `0.5%` or `2` (percent) as a fraction; more than 0 and below 100%.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%').trim();
    match number.parse::<f64>() {
        Ok(p) if p > 0.0 && p < 100.0 => Ok(p / 100.0),
        _ => Err(format!("{text}: give a percentage above 0 and below 100, e.g. 1%")),
    }
}

/// The verdict on NEW against BASE (both costs, medians) at `tolerance` (a
/// fraction), where `spread` is the wider spread of the two builds' rounds.
pub fn verdict(base: f64, new: f64, tolerance: f64, spread: f64) -> Verdict {
    let ratio = new / base;
    let past = if !ratio.is_finite() {
        if new > base {
            Verdict::Regressed
        } else {
            Verdict::Same
        }
    } else if ratio > 1.0 + tolerance {
        Verdict::Regressed
    } else if ratio < 1.0 - tolerance {
        Verdict::Improved
    } else {
        Verdict::Same
    };
    if past != Verdict::Same && (ratio - 1.0).abs() <= spread {
        return Verdict::Noisy;
    }
    past
}

/// Whether the two builds' rounds overlap: some round of one lies within the other's
/// range. A figure that moves this much from round to round (context switches at 50
/// connections: 0.0006 to 0.022 per round trip in one build, measured) shows no
/// difference however far apart the medians are; instruction counts never overlap
/// across a real change.
pub fn overlap(a: &[f64], b: &[f64]) -> bool {
    let range = |v: &[f64]| {
        v.iter().copied().filter(|x| x.is_finite()).fold(None, |r: Option<(f64, f64)>, x| {
            Some(r.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))))
        })
    };
    match (range(a), range(b)) {
        (Some((a_lo, a_hi)), Some((b_lo, b_hi))) => a_lo <= b_hi && b_lo <= a_hi,
        _ => false,
    }
}

/// The median of `values` (the mean of the middle two for an even count); None
/// when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 0 { (v[mid - 1] + v[mid]) / 2.0 } else { v[mid] })
}

/// The spread of `values`: (max − min) / median, a fraction.
pub fn spread(values: &[f64]) -> Option<f64> {
    let m = median(values)?;
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    (m > 0.0).then(|| (max - min) / m)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worse by more than the tolerance regresses; better by more improves; else same.
    #[test]
    fn the_verdict_rule() {
        assert_eq!(verdict(1000.0, 1011.0, 0.01, 0.0), Verdict::Regressed);
        assert_eq!(verdict(1000.0, 1010.0, 0.01, 0.0), Verdict::Same);
        assert_eq!(verdict(1000.0, 995.0, 0.01, 0.0), Verdict::Same);
        assert_eq!(verdict(1000.0, 980.0, 0.01, 0.0), Verdict::Improved);
        assert_eq!(verdict(0.0, 1.0, 0.01, 0.0), Verdict::Regressed);
        assert_eq!(verdict(0.0, 0.0, 0.01, 0.0), Verdict::Same);
        // A change within the spread of the rounds cannot fail the gate; one past it can.
        assert_eq!(verdict(1000.0, 1040.0, 0.01, 0.05), Verdict::Noisy);
        assert_eq!(verdict(1000.0, 1100.0, 0.01, 0.05), Verdict::Regressed);
        // The rounds of an A/A run that read 5.16x at 50 connections overlap.
        let base = [0.0018873695, 0.0015067127, 0.0006433694];
        let new = [0.0077810319, 0.0221685314, 0.0013663944];
        assert!(overlap(&base, &new));
        assert!(!overlap(&[794.0, 794.1, 794.0], &[810.0, 810.2, 810.1]));
        assert!(!overlap(&[], &[1.0]));
        assert_eq!(verdict(1000.0, 1005.0, 0.01, 0.05), Verdict::Same);
    }

    /// Percentages parse; 0, negatives, 100% and words are refused with the fix.
    #[test]
    fn tolerances_parse() {
        assert_eq!(parse_percent("1%"), Ok(0.01));
        assert_eq!(parse_percent("2.5"), Ok(0.025));
        for bad in ["0", "0%", "-1%", "100%", "lots"] {
            assert!(parse_percent(bad).is_err(), "{bad}");
        }
        let t = Tolerances::from_flags(Some("0.5%"), &["syscalls=3%".into()]).expect("valid");
        assert_eq!((t.instructions, t.syscalls, t.context_switches), (0.005, 0.03, 0.02));
        assert!(Tolerances::from_flags(None, &["cycles=1%".into()]).is_err());
        assert!(Tolerances::from_flags(None, &["syscalls".into()]).is_err());
    }

    /// The median of odd and even counts, and the spread around it.
    #[test]
    fn median_and_spread() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(spread(&[99.0, 100.0, 101.0]), Some(0.02));
    }
}
