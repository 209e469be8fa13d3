//! Confidence intervals for the ratio NEW/BASE of one metric: pure arithmetic, no
//! I/O, shared by `loadgen compare` and the report.
//!
//! Everything is computed on logarithms, so a ratio and its inverse are symmetric
//! and a slow spell that scales a run scales its log by a constant.
//!
//! - [`paired`]: runs measured back to back (the suite's `--base` mode writes BASE
//!   and NEW of one repeat side by side): the differences `d_i = ln(new_i/base_i)`
//!   cancel whatever the machine did during that repeat. The estimate is the
//!   Hodges–Lehmann estimate (the median of the Walsh averages `(d_i + d_j)/2`,
//!   i ≤ j), the 95% interval comes from the Wilcoxon signed-rank distribution:
//!   exact (a count over rank sums) for n ≤ [`EXACT_MAX`], its normal
//!   approximation beyond. The interval is `[A(k), A(M+1-k)]` over the M sorted
//!   Walsh averages, k the critical value + 1 (n=6: k=1; n=10: k=9; n=20: k=53).
//! - [`unpaired`]: two sides from different folders or machines: the two-sample
//!   Hodges–Lehmann estimate (the median of all `ln new_j - ln base_i`) with the
//!   Mann–Whitney interval (exact for m + n ≤ [`EXACT_MAX`], normal beyond).
//!
//! [`paired_at`] and [`unpaired_at`] give the same at another level: compare's
//! gate holds a regression to 1 − 5%/m over its m gated figures (Bonferroni), so
//! that a suite of many scenarios does not fail one time in two by chance.
//!
//! Fewer observations than the 95% level allows (n < 6 pairs; 3 against 3 runs)
//! give no interval: [`TooFew`], which still carries the point estimate.
//! Values that are not finite and > 0 cannot be logged and are left out (a pair
//! with one is left out whole).

use serde::Serialize;

/// Two-sided confidence level of every interval here.
pub const LEVEL: f64 = 0.95;
/// z of the 95% two-sided level.
const Z_95: f64 = 1.959_963_984_540_054;
/// The chance a comparison may err that a gate spreads over its figures: 1 − LEVEL.
pub const FAMILY_ALPHA: f64 = 0.05;
/// z of 80% power (one-sided 0.2).
const Z_POWER_80: f64 = 0.841_621_233_572_914_3;
/// Up to this many pairs (or m + n runs) the distributions are counted exactly.
pub const EXACT_MAX: usize = 60;

/// A ratio NEW/BASE with its 95% confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interval {
    /// The Hodges–Lehmann estimate of NEW/BASE.
    pub estimate: f64,
    /// The interval's lower end (a ratio).
    pub low: f64,
    /// The interval's upper end (a ratio).
    pub high: f64,
    /// Pairs (paired) or runs of the smaller side (unpaired) it comes from.
    pub n: usize,
    /// Whether it comes from pairs measured back to back.
    pub paired: bool,
}

/// Too few observations for a 95% interval: the estimate alone (None with none).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TooFew {
    /// The Hodges–Lehmann estimate of what there is.
    pub estimate: Option<f64>,
    /// Pairs (paired) or runs of the smaller side (unpaired).
    pub n: usize,
    /// Whether the observations were pairs.
    pub paired: bool,
}

impl Interval {
    /// Whether the interval holds 1: no difference shown.
    pub fn holds_one(&self) -> bool {
        self.low <= 1.0 && 1.0 <= self.high
    }

    /// Half the interval's width in log space: `ln(high/low) / 2` (0.02 ≈ ±2%).
    pub fn half_width(&self) -> f64 {
        (self.high.ln() - self.low.ln()) / 2.0
    }

    /// The smallest change (a fraction, 0.021 = 2.1%) this many observations with
    /// this noise would detect 80% of the time at the 95% level: a true change δ
    /// (in log space) is found when the interval's centre lies past its half-width,
    /// so with the centre's standard error `h/1.96` it needs δ = (1.96 + 0.84)/1.96 × h.
    pub fn mde(&self) -> f64 {
        ((Z_95 + Z_POWER_80) / Z_95 * self.half_width()).exp() - 1.0
    }
}

/// The paired 95% interval of `pairs` (base, new); see the module doc.
pub fn paired(pairs: &[(f64, f64)]) -> Result<Interval, TooFew> {
    paired_at(pairs, LEVEL)
}

/// The paired interval of `pairs` at the two-sided confidence `level` (0.95).
pub fn paired_at(pairs: &[(f64, f64)], level: f64) -> Result<Interval, TooFew> {
    let d: Vec<f64> = pairs
        .iter()
        .filter(|(b, n)| usable(*b) && usable(*n))
        .map(|(b, n)| n.ln() - b.ln())
        .collect();
    let n = d.len();
    let mut walsh = Vec::with_capacity(n * (n + 1) / 2);
    for i in 0..n {
        for j in i..n {
            walsh.push((d[i] + d[j]) / 2.0);
        }
    }
    walsh.sort_by(f64::total_cmp);
    let estimate = median_sorted(&walsh).map(f64::exp);
    let too_few = TooFew { estimate, n, paired: true };
    let k = signed_rank_k_at(n, level).ok_or(too_few)?;
    let m = walsh.len();
    Ok(Interval {
        estimate: estimate.ok_or(too_few)?,
        low: walsh[k - 1].exp(),
        high: walsh[m - k].exp(),
        n,
        paired: true,
    })
}

/// The unpaired 95% interval of two sides' values; see the module doc.
pub fn unpaired(base: &[f64], new: &[f64]) -> Result<Interval, TooFew> {
    unpaired_at(base, new, LEVEL)
}

/// The unpaired interval at the two-sided confidence `level` (0.95).
pub fn unpaired_at(base: &[f64], new: &[f64], level: f64) -> Result<Interval, TooFew> {
    let logs =
        |v: &[f64]| -> Vec<f64> { v.iter().filter(|x| usable(**x)).map(|x| x.ln()).collect() };
    let (b, n) = (logs(base), logs(new));
    let mut diffs: Vec<f64> = n.iter().flat_map(|y| b.iter().map(move |x| y - x)).collect();
    diffs.sort_by(f64::total_cmp);
    let estimate = median_sorted(&diffs).map(f64::exp);
    let too_few = TooFew { estimate, n: b.len().min(n.len()), paired: false };
    let k = rank_sum_k_at(b.len(), n.len(), level).ok_or(too_few)?;
    let m = diffs.len();
    Ok(Interval {
        estimate: estimate.ok_or(too_few)?,
        low: diffs[k - 1].exp(),
        high: diffs[m - k].exp(),
        n: too_few.n,
        paired: false,
    })
}

fn usable(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

fn median_sorted(v: &[f64]) -> Option<f64> {
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The count of the signed-rank statistic W+ for n pairs: `counts[w]` subsets of
/// {1..n} with rank sum w (their total is 2^n, at most 2^60: exact in u64).
pub fn signed_rank_counts(n: usize) -> Vec<u64> {
    let max = n * (n + 1) / 2;
    let mut counts = vec![0u64; max + 1];
    counts[0] = 1;
    for rank in 1..=n {
        for w in (rank..=max).rev() {
            counts[w] += counts[w - rank];
        }
    }
    counts
}

/// k of the paired 95% interval `[A(k), A(M+1-k)]`: the largest critical value c
/// with P(W+ ≤ c) ≤ 2.5%, plus one; None when even P(W+ = 0) is larger (n < 6).
pub fn signed_rank_k(n: usize) -> Option<usize> {
    signed_rank_k_at(n, LEVEL)
}

/// [`signed_rank_k`] at the two-sided `level`: P(W+ ≤ c) ≤ (1 − level)/2 (at
/// 99.8%, n ≥ 10 pairs are needed; at 95%, 6).
pub fn signed_rank_k_at(n: usize, level: f64) -> Option<usize> {
    if n == 0 {
        return None;
    }
    let alpha_half = (1.0 - level) / 2.0;
    if n > EXACT_MAX {
        let nf = n as f64;
        let mean = nf * (nf + 1.0) / 4.0;
        let sd = (nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0).sqrt();
        return Some((mean - z_of(level) * sd).floor().max(0.0) as usize + 1);
    }
    let counts: Vec<f64> = signed_rank_counts(n).into_iter().map(|c| c as f64).collect();
    critical(&counts, 2f64.powi(n as i32), alpha_half).map(|c| c + 1)
}

/// The count of the rank sum of a side of m among m + n: `counts[s]` subsets of m
/// ranks from {1..m+n} with sum m(m+1)/2 + s, i.e. the Mann–Whitney U = s.
/// Counted in f64 (C(60, 30) ≈ 1.2e17: relative error ~1e-16, harmless here).
pub fn rank_sum_counts(m: usize, n: usize) -> Vec<f64> {
    let max_sum = (m + n) * (m + n + 1) / 2;
    // by_size[j][s]: subsets of j ranks seen so far with rank sum s.
    let mut by_size = vec![vec![0f64; max_sum + 1]; m + 1];
    by_size[0][0] = 1.0;
    for rank in 1..=m + n {
        for j in (1..=m.min(rank)).rev() {
            let (lower, upper) = by_size.split_at_mut(j);
            for s in (rank..=max_sum).rev() {
                upper[0][s] += lower[j - 1][s - rank];
            }
        }
    }
    let offset = m * (m + 1) / 2;
    by_size[m][offset..=offset + m * n].to_vec()
}

/// k of the unpaired 95% interval `[D(k), D(mn+1-k)]` (see [`signed_rank_k`]).
pub fn rank_sum_k(m: usize, n: usize) -> Option<usize> {
    rank_sum_k_at(m, n, LEVEL)
}

/// [`rank_sum_k`] at the two-sided `level`.
pub fn rank_sum_k_at(m: usize, n: usize, level: f64) -> Option<usize> {
    if m == 0 || n == 0 {
        return None;
    }
    let alpha_half = (1.0 - level) / 2.0;
    if m + n > EXACT_MAX {
        let (mf, nf) = (m as f64, n as f64);
        let mean = mf * nf / 2.0;
        let sd = (mf * nf * (mf + nf + 1.0) / 12.0).sqrt();
        return Some((mean - z_of(level) * sd).floor().max(0.0) as usize + 1);
    }
    let counts = rank_sum_counts(m, n);
    let total: f64 = counts.iter().sum();
    critical(&counts, total, alpha_half).map(|c| c + 1)
}

/// z of the two-sided `level`: Φ⁻¹(1 − (1 − level)/2), by bisection on Φ (its
/// complement from the Abramowitz–Stegun 7.1.26 erfc, error < 1.5e-7: the
/// critical values it feeds are rounded to whole ranks).
fn z_of(level: f64) -> f64 {
    if (level - LEVEL).abs() < 1e-12 {
        return Z_95;
    }
    let tail = (1.0 - level) / 2.0;
    let upper_tail = |z: f64| {
        let x = z / std::f64::consts::SQRT_2;
        let t = 1.0 / (1.0 + 0.327_591_1 * x);
        let poly = t
            * (0.254_829_592
                + t * (-0.284_496_736
                    + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
        poly * (-x * x).exp() / 2.0
    };
    let (mut low, mut high) = (0.0_f64, 10.0_f64);
    for _ in 0..100 {
        let mid = (low + high) / 2.0;
        if upper_tail(mid) > tail {
            low = mid;
        } else {
            high = mid;
        }
    }
    (low + high) / 2.0
}

/// The largest c with Σ_{w ≤ c} counts[w] / total ≤ `alpha`; None if none.
fn critical(counts: &[f64], total: f64, alpha: f64) -> Option<usize> {
    let mut cumulative = 0.0;
    let mut found = None;
    for (w, count) in counts.iter().enumerate() {
        cumulative += count / total;
        // A tolerance: the tables' boundary cases must not flip on rounding.
        if cumulative > alpha + 1e-12 {
            break;
        }
        found = Some(w);
    }
    found
}

#[cfg(test)]
#[path = "paired_tests.rs"]
mod tests;
