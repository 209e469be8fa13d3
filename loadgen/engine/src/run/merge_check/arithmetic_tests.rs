//! Property test of merge's arithmetic (a seeded loop: the same cases every run,
//! the seed printed on failure): random counts, many near 2^64, in two or three
//! agents' results. A merge either gives every count as the exact sum (computed
//! in 128 bits) or, exactly when some sum passes 2^64 - 1, refuses naming it.
//! And the bounds that keep a merge finite: shards, series, windows.

use crate::result::RunResult;
use crate::run::merge::combine;
use crate::run::merge::tests::{agent, input};

/// A count: mostly one that adds up (below 2^61), else near 2^64 - 1, or anything.
fn count(rng: &mut fastrand::Rng) -> u64 {
    match rng.u8(0..20) {
        0 => u64::MAX - rng.u64(0..1_000),
        1 => rng.u64(..),
        2 => rng.u64(0..1_000),
        _ => rng.u64(0..1 << 61),
    }
}

/// Sets the counts a merge adds on `r`; returns them in the order of `FIELDS`.
fn set_counts(r: &mut RunResult, rng: &mut fastrand::Rng) -> [u64; 4] {
    let n = [count(rng), count(rng), count(rng), count(rng)];
    r.errors.mismatch = n[0];
    r.errors.timeout = n[1];
    r.throughput.messages = n[2];
    r.connections.failed_by_errno.insert("ECONNREFUSED".into(), n[3]);
    n
}

/// The fields `set_counts` sets, as a refusal names them.
const FIELDS: [&str; 4] =
    ["errors.mismatch", "errors.timeout", "throughput.messages", "connections.failed_by_errno"];

/// Merged counts are exact sums, or the merge refuses, naming a field whose sum
/// passes 2^64 - 1; it never wraps.
#[test]
fn merged_counts_are_exact_sums_or_refused() {
    let seed = 0x006c_6f61_6467_656e;
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut merged, mut refused) = (0, 0);
    for case in 0..300 {
        let parts = rng.usize(2..=3);
        let mut sums = [0u128; 4];
        let mut inputs = Vec::new();
        for i in 0..parts {
            let mut r = agent(i as u64, parts as u64, &[1_000], 0.0);
            // Small enough that their sums never overflow: only the random ones may.
            (r.errors.reset, r.errors.eof) = (0, 0);
            let n = set_counts(&mut r, &mut rng);
            sums.iter_mut().zip(n).for_each(|(s, n)| *s += u128::from(n));
            inputs.push(input(&format!("agent-{i}.json"), r));
        }
        // Every error together must fit too (the merged run's total of errors).
        let errors_total = sums[0] + sums[1];
        let fits =
            sums.iter().all(|&s| s <= u128::from(u64::MAX)) && errors_total <= u128::from(u64::MAX);
        match combine(&inputs) {
            Ok(m) => {
                assert!(fits, "case {case} (seed {seed:#x}): merged although a sum overflows");
                let r = &m.result;
                let got = [
                    r.errors.mismatch,
                    r.errors.timeout,
                    r.throughput.messages,
                    r.connections.failed_by_errno["ECONNREFUSED"],
                ];
                let want = sums.map(|s| s as u64);
                assert_eq!(got, want, "case {case} (seed {seed:#x}): not the exact sums");
                merged += 1;
            }
            Err(e) => {
                assert!(!fits, "case {case} (seed {seed:#x}): refused sums that fit: {e}");
                let named = FIELDS.iter().any(|f| e.field.starts_with(f))
                    || e.field == "errors (all together)"
                    || e.field.starts_with("errors (one agent's)");
                assert!(named && e.to_string().contains("2^64"), "case {case}: {e}");
                refused += 1;
            }
        }
    }
    assert!(
        merged > 20 && refused > 20,
        "both outcomes covered: {merged} merged, {refused} refused"
    );
}

/// The case: mismatch 2^64 - 1 and 1 do not merge to 0 mismatches.
#[test]
fn a_wrapping_mismatch_is_refused() {
    let mut a = agent(0, 2, &[1_000], 0.0);
    a.errors.mismatch = u64::MAX;
    let mut b = agent(1, 2, &[1_000], 0.0);
    b.errors.mismatch = 1;
    let e = combine(&[input("a.json", a), input("b.json", b)]).err().expect("refused");
    assert_eq!(e.field, "errors.mismatch", "{e}");
    assert!(e.to_string().contains("b.json") && e.to_string().contains("2^64"), "{e}");
}

/// The counts added to the result format later (refused flows, the open loop's
/// schedule) are checked too: a wrapping sum in any of them is refused naming it.
#[test]
fn later_counts_are_checked_too() {
    type Set = fn(&mut crate::result::Errors, u64);
    let cases: [(&str, Set); 4] = [
        ("errors.refused", |e, n| e.refused = Some(n)),
        ("errors.scheduled", |e, n| e.scheduled = Some(n)),
        ("errors.unsent", |e, n| e.unsent = Some(n)),
        ("errors.behind_messages", |e, n| e.behind_messages = Some(n)),
    ];
    for (field, set) in cases {
        let mut a = agent(0, 2, &[1_000], 0.0);
        set(&mut a.errors, u64::MAX);
        let mut b = agent(1, 2, &[1_000], 0.0);
        set(&mut b.errors, 1);
        let e = combine(&[input("a.json", a), input("b.json", b)]).err().expect(field);
        assert_eq!(e.field, field, "{e}");
    }
}

/// Shards out of bounds (a count the missing-shard scan would walk for ever, an
/// index past the count, more shards than connections) are refused; so is a
/// series longer than its run, and agents whose windows do not overlap.
#[test]
fn shards_series_and_windows_are_bounded() {
    let shard = |index: u64, count: u64, conns: u64| {
        let mut r = agent(0, 2, &[1_000], 0.0);
        r.config.shard = Some(crate::result::Shard { index, count, conns: Some(conns) });
        combine(&[input("a.json", r)]).err().map(|e| (e.field.clone(), e.to_string()))
    };
    for (index, count, conns) in
        [(0, u64::MAX, u64::MAX), (0, 65_537, 100_000), (2, 2, 4), (0, 0, 4), (0, 5, 4)]
    {
        let (field, text) = shard(index, count, conns).expect("refused");
        assert_eq!(field, "config.shard", "{index}/{count} of {conns}: {text}");
        assert!(text.contains("I < N <= 65536"), "{text}");
    }
    assert_eq!(shard(1, 65_536, 65_536), None, "the largest shard count merges");
    let mut long = agent(0, 1, &[1_000], 0.0);
    let second = long.series[0].clone();
    long.series = vec![second; 1_000];
    let e = combine(&[input("long.json", long)]).err().expect("refused");
    assert_eq!(e.field, "series", "{e}");
    assert!(e.to_string().contains("1000 seconds"), "{e}");
    let mut nan = agent(0, 1, &[1_000], 0.0);
    nan.config.duration_s = f64::INFINITY;
    assert_eq!(
        combine(&[input("nan.json", nan)]).err().expect("refused").field,
        "config.duration_s"
    );
    let (a, late) = (agent(0, 2, &[1_000], 0.0), agent(1, 2, &[1_000], 1e12));
    let e = combine(&[input("a.json", a), input("late.json", late)]).err().expect("refused");
    assert_eq!(e.field, "clock.measured_from_unix_s", "{e}");
}
