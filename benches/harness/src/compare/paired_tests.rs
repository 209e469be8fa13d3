//! Tests of [`super`]: the critical values against published tables and a brute
//! force count, and the intervals on seeded synthetic runs (deterministic).

use super::*;

/// A normal deviate from a seeded generator (Box–Muller).
fn normal(rng: &mut fastrand::Rng) -> f64 {
    let u1 = rng.f64().max(1e-300);
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// `n` pairs measured back to back: each repeat has its own machine speed (±20%,
/// shared by both builds of the repeat), each run its own 2% noise; NEW is
/// `shift` times BASE.
fn pairs(rng: &mut fastrand::Rng, n: usize, shift: f64) -> Vec<(f64, f64)> {
    (0..n)
        .map(|_| {
            let machine = 100_000.0 * (1.0 + 0.2 * (rng.f64() - 0.5) * 2.0);
            let base = machine * (0.02 * normal(rng)).exp();
            let new = shift * machine * (0.02 * normal(rng)).exp();
            (base, new)
        })
        .collect()
}

/// P(W+ ≤ c) by enumerating all 2^n sign patterns: independent of the DP.
fn brute_signed_rank_cdf(n: usize, c: usize) -> f64 {
    let hits = (0u32..1 << n)
        .filter(|mask| (0..n).filter(|i| mask & (1 << i) != 0).map(|i| i + 1).sum::<usize>() <= c)
        .count();
    hits as f64 / f64::from(1u32 << n)
}

/// The signed-rank critical values match published tables (two-sided 5%: n=6 → 0,
/// n=10 → 8, n=20 → 52) and a brute-force count; n = 5 allows no interval.
#[test]
fn signed_rank_critical_values() {
    assert_eq!(signed_rank_k(5), None, "n=5: P(W=0) = 1/32 > 2.5%");
    assert_eq!(signed_rank_k(6), Some(1), "n=6: [W(1), W(21)]");
    assert_eq!(signed_rank_k(10), Some(9));
    assert_eq!(signed_rank_k(20), Some(53));
    for (n, c) in [(6, 0), (10, 8), (20, 52)] {
        assert!(brute_signed_rank_cdf(n, c) <= 0.025, "n={n}: P(W ≤ {c}) ≤ 2.5%");
        assert!(brute_signed_rank_cdf(n, c + 1) > 0.025, "n={n}: P(W ≤ {}) > 2.5%", c + 1);
    }
    assert_eq!(signed_rank_counts(10).iter().sum::<u64>(), 1024);
    // Past the exact range the normal approximation continues the exact values.
    let exact_60 = signed_rank_k(60).expect("k");
    let normal_61 = signed_rank_k(61).expect("k");
    assert!(normal_61 > exact_60 && normal_61 < exact_60 + 40, "{exact_60} {normal_61}");
}

/// The Mann–Whitney critical values match published tables (two-sided 5%:
/// 4 and 4 → 0, 5 and 5 → 2, 10 and 10 → 23); 3 against 3 allows no interval.
#[test]
fn rank_sum_critical_values() {
    assert_eq!(rank_sum_k(3, 3), None);
    assert_eq!(rank_sum_k(4, 4), Some(1));
    assert_eq!(rank_sum_k(5, 5), Some(3));
    assert_eq!(rank_sum_k(10, 10), Some(24));
    assert_eq!(rank_sum_counts(4, 4).iter().sum::<f64>(), 70.0, "C(8, 4)");
}

/// A 5% gain hidden in ±20% machine noise is found by 20 pairs: the interval
/// excludes 1 and holds 1.05.
#[test]
fn finds_a_five_percent_shift() {
    let mut rng = fastrand::Rng::with_seed(22);
    let i = paired(&pairs(&mut rng, 20, 1.05)).expect("20 pairs");
    assert!(!i.holds_one(), "{i:?}");
    assert!(i.low <= 1.05 && 1.05 <= i.high, "{i:?}");
    assert!((i.estimate - 1.05).abs() < 0.02, "{i:?}");
    assert!(i.paired && i.n == 20);
    assert!(i.mde() < 0.05, "20 pairs at 2% noise can show 5%: {}", i.mde());
}

/// With no change, the paired interval holds 1 in about 95% of 200 seeded
/// trials (exact coverage for 10 pairs is 95.1%; 183 is 3 sd below 190).
#[test]
fn identical_builds_hold_one() {
    let mut rng = fastrand::Rng::with_seed(7);
    let held =
        (0..200).filter(|_| paired(&pairs(&mut rng, 10, 1.0)).expect("10").holds_one()).count();
    assert!(held >= 183, "held 1 in {held} of 200");
    let unpaired_held = (0..200)
        .filter(|_| {
            let p = pairs(&mut rng, 10, 1.0);
            let (b, n): (Vec<f64>, Vec<f64>) = p.into_iter().unzip();
            unpaired(&b, &n).expect("10 and 10").holds_one()
        })
        .count();
    assert!(unpaired_held >= 183, "unpaired held 1 in {unpaired_held} of 200");
}

/// Fewer than 6 pairs give no interval, but the estimate of what there is.
#[test]
fn too_few_pairs() {
    let p = [(100.0, 110.0), (100.0, 110.0), (100.0, 110.0), (100.0, 110.0), (100.0, 110.0)];
    let few = paired(&p).expect_err("5 pairs");
    assert_eq!((few.n, few.paired), (5, true));
    assert!((few.estimate.expect("estimate") - 1.1).abs() < 1e-12);
    assert_eq!(paired(&[]).expect_err("none").estimate, None);
    let few = unpaired(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]).expect_err("3 and 3");
    assert_eq!((few.n, few.paired), (3, false));
}

/// Values that cannot be logged (0, negative, NaN) are left out with their pair.
#[test]
fn unusable_values_left_out() {
    let mut p = vec![(100.0, 105.0); 6];
    p.extend([(0.0, 105.0), (100.0, f64::NAN), (-1.0, 2.0)]);
    let i = paired(&p).expect("6 usable pairs");
    assert_eq!(i.n, 6);
    assert!((i.estimate - 1.05).abs() < 1e-12 && (i.low - 1.05).abs() < 1e-12);
}

/// The two-sample estimate finds a 10% loss between two unrelated sets of runs.
#[test]
fn unpaired_finds_a_shift() {
    let mut rng = fastrand::Rng::with_seed(3);
    let base: Vec<f64> = (0..12).map(|_| 1000.0 * (0.02 * normal(&mut rng)).exp()).collect();
    let new: Vec<f64> = (0..12).map(|_| 900.0 * (0.02 * normal(&mut rng)).exp()).collect();
    let i = unpaired(&base, &new).expect("12 and 12");
    assert!(!i.paired && i.high < 1.0 && i.low <= 0.9 && 0.9 <= i.high, "{i:?}");
}

/// mde is (1.96 + 0.84)/1.96 times the half-width in log space, as a fraction.
#[test]
fn mde_from_half_width() {
    let i = Interval { estimate: 1.0, low: 0.98f64, high: 1.0 / 0.98, n: 10, paired: true };
    assert!((i.half_width() - (-(0.98f64).ln())).abs() < 1e-12);
    let expected = ((1.96 + 0.8416) / 1.96 * i.half_width()).exp() - 1.0;
    assert!((i.mde() - expected).abs() < 1e-4, "{} vs {expected}", i.mde());
    assert!(i.holds_one());
}

/// At another level: z matches the normal table (99%: 2.5758, 99.8%: 3.0902),
/// and 1 − 5%/26 (26 gated figures) needs 11 pairs where 95% needs 6, checked
/// against the brute-force count.
#[test]
fn other_levels() {
    assert!((z_of(0.99) - 2.575_829).abs() < 1e-4, "{}", z_of(0.99));
    assert!((z_of(0.998) - 3.090_232).abs() < 1e-4, "{}", z_of(0.998));
    let level = 1.0 - FAMILY_ALPHA / 26.0;
    assert_eq!(signed_rank_k_at(10, level), None, "P(W=0) = 1/1024 > 0.096%");
    assert_eq!(signed_rank_k_at(11, level), Some(1));
    let c = signed_rank_k_at(20, level).expect("20 pairs") - 1;
    let alpha_half = (1.0 - level) / 2.0;
    assert!(
        brute_signed_rank_cdf(20, c) <= alpha_half && brute_signed_rank_cdf(20, c + 1) > alpha_half
    );
    // The normal approximation past the exact range stays close to the exact count.
    let (exact, normal) =
        (signed_rank_k_at(60, level).expect("k"), signed_rank_k_at(61, level).expect("k"));
    assert!(normal > exact && normal < exact + 40, "{exact} {normal}");
    assert_eq!(signed_rank_k_at(6, LEVEL), signed_rank_k(6));
    assert!(rank_sum_k_at(10, 10, level).expect("k") < rank_sum_k(10, 10).expect("k"));
    let p = pairs(&mut fastrand::Rng::with_seed(5), 12, 1.0);
    let (wide, narrow) = (paired_at(&p, level).expect("12"), paired(&p).expect("12"));
    assert!(wide.low <= narrow.low && narrow.high <= wide.high, "{wide:?} {narrow:?}");
}

/// The gate's family: 26 figures from identical builds, 12 pairs each, judged at
/// 1 − 5%/26: across 200 seeded gates at most about 5% show any interval without 1
/// (at 95% each, most gates would).
#[test]
fn a_family_of_figures_rarely_errs() {
    let mut rng = fastrand::Rng::with_seed(26);
    let level = 1.0 - FAMILY_ALPHA / 26.0;
    let gate = |rng: &mut fastrand::Rng, level: f64| {
        (0..26).any(|_| !paired_at(&pairs(rng, 12, 1.0), level).expect("12").holds_one())
    };
    let family_errs = (0..200).filter(|_| gate(&mut rng, level)).count();
    let single_errs = (0..200).filter(|_| gate(&mut rng, LEVEL)).count();
    assert!(family_errs <= 20, "{family_errs} of 200 gates erred at the family level");
    assert!(single_errs > 100, "{single_errs} of 200 gates erred at 95% each");
}
