//! The gate's family: a regression that 95% shows in one scenario of many is a
//! suspect until the family-wise interval (1 − 5%/m over m gated figures) shows
//! it too; the suspects are what the suite tops up first.

use harness::compare::{compare_paths, comparison, Options, Verdict};

use super::fixtures::{result, write_pairs, TempDir};

/// 13 scenarios of `n` pairs each; scenario 07 runs at `slow` times BASE.
fn suite(n: u32, slow: f64) -> TempDir {
    let dir = TempDir::new("family");
    for s in 1..=13 {
        let name = format!("scenario {s:02}");
        let base = result(&name, 100_000.0, 200.0);
        let new = result(&name, if s == 7 { 100_000.0 * slow } else { 100_000.0 }, 200.0);
        let one = TempDir::new("family-one");
        write_pairs(&one, &base, &new, n);
        for k in 1..=n {
            for side in ["base", "new"] {
                let from = one.path().join(format!("{side}/rep{k}/runs/01-s.json"));
                let to = format!("{side}/rep{k}/runs/{s:02}.json");
                dir.write_text(&to, &std::fs::read_to_string(from).expect("fixture"));
            }
        }
    }
    dir
}

/// 9% slower over 7 pairs: REGRESSED at 95%, but 13 gated figures need 99.6%,
/// which 7 pairs cannot give: a suspect, the comparison passes, and it is the one
/// scenario to top up (not the twelve unchanged ones). With 10 pairs the family
/// interval shows it: REGRESSED, exit 1.
#[test]
fn one_of_many_is_a_suspect_until_the_family_shows_it() {
    let dir = suite(7, 0.91);
    let c = compare_paths(&dir.path().join("base"), &dir.path().join("new"), &Options::ci())
        .expect("compare");
    assert_eq!(c.family.figures, 13, "throughput of 13 scenarios (no server cost here)");
    assert!((c.family.level - (1.0 - 0.05 / 13.0)).abs() < 1e-12);
    let row = |c: &harness::compare::Comparison, s: &str| {
        let sc = c.scenarios.iter().find(|x| x.scenario == s).expect("scenario");
        sc.rows.iter().find(|r| r.metric == "throughput").expect("row").clone()
    };
    let r = row(&c, "scenario 07");
    assert_eq!(r.verdict, Verdict::Suspect, "{r:?}");
    assert!(r.interval.is_some_and(|i| i.high < 1.0) && r.family_interval.is_none(), "{r:?}");
    assert!(c.passed && c.regressions == 0);
    assert_eq!(c.suspects, vec!["scenario 07".to_string()]);
    assert_eq!(comparison::needs_more_pairs(&c), vec!["scenario 07".to_string()]);
    let text = harness::compare::render::render(&c, harness::compare::render::Format::Text);
    assert!(text.contains("suspect: regressed at 95% only"), "{text}");
    assert!(text.contains("1 suspect: regressed at 95%, not shown at 99.62%"), "{text}");
    assert!(text.contains("ok: nothing regressed (13 scenarios compared; 1 suspect)"), "{text}");

    let dir = suite(10, 0.91);
    let c = compare_paths(&dir.path().join("base"), &dir.path().join("new"), &Options::ci())
        .expect("compare");
    let r = row(&c, "scenario 07");
    assert_eq!(r.verdict, Verdict::Regressed, "{r:?}");
    assert!(r.family_interval.is_some_and(|i| i.high < 1.0), "{r:?}");
    assert!(!c.passed && c.suspects.is_empty());
    assert_eq!(row(&c, "scenario 01").verdict, Verdict::Same);
}
