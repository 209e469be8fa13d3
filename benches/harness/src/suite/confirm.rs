//! After the repeats, scenarios whose verdict is still open get more runs, a round
//! at a time, within a budget (`--top-up-budget`, `--max-rounds`): Pinpoint's
//! sequential top-ups, so evidence is gathered where it is short and nowhere else.
//!
//! With `--base DIR` the new side is compared with the base side measured beside it
//! in this very run, pair by pair (`loadgen compare OUT/base OUT/new`): the
//! suspects first (a gating figure regressed at 95% but not at the family-wise
//! level), then, once none is left, each scenario whose interval is too wide to
//! call (or has too few pairs), runs one more round on both sides, in the alternating order, into `confirm1/`, `confirm2/`, ...; the
//! comparison is made again, and so on. With `--confirm BASE` (a results folder of
//! another run) the same happens on this side alone. Correctness failures are never
//! re-run away: compare judges checks by the worst run, and every run stays in the
//! folder.

use std::path::Path;

use super::session::Session;
use super::setup::Setup;
use super::SuiteArgs;
use crate::compare::load::{self, LoadError, Side};
use crate::compare::{comparison, Options, Verdict};
use crate::suite_index::{RepStep, Side as BuildSide};

/// A scenario whose verdict is still open against BASE: its name, the estimate of
/// NEW/BASE of its first open gating metric, the pairs it came from, and whether
/// that metric is a suspect (regressed at 95%, not at the family's level).
#[derive(Clone, Debug, PartialEq)]
pub struct Suspect {
    pub scenario: String,
    pub ratio: Option<f64>,
    pub n: usize,
    pub suspect: bool,
}

/// The scenarios of `out` that need more runs against `base`: the suspects while
/// there are any, else those whose gating metrics are still unknown (too few
/// pairs, or an interval too wide to call).
pub fn suspects(base: &Side, out: &Path) -> Result<Vec<Suspect>, LoadError> {
    let new = load::load_side(out)?;
    let comparison = comparison::compare(base, &new, &Options::ci())?;
    let open = comparison::needs_more_pairs(&comparison);
    Ok(comparison
        .scenarios
        .iter()
        .filter(|s| open.contains(&s.scenario))
        .filter_map(|s| {
            let gating = |v: Verdict| s.rows.iter().find(move |r| r.gating && r.verdict == v);
            let row = gating(Verdict::Suspect).or_else(|| gating(Verdict::Unknown))?;
            let suspect = row.verdict == Verdict::Suspect;
            Some(Suspect { scenario: s.scenario.clone(), ratio: row.ratio, n: row.n, suspect })
        })
        .collect())
}

/// One line on a suspect: `scaling echod reuseport w=1 conns=1000 (0.97x, 6 pairs)`.
pub fn describe(suspect: &Suspect) -> String {
    let n = suspect.n;
    let kind = if suspect.suspect { ", suspect" } else { "" };
    match suspect.ratio {
        Some(r) => format!("{} ({r:.2}x, {n} pairs{kind})", suspect.scenario),
        None => format!("{} ({n} pairs{kind})", suspect.scenario),
    }
}

/// After the repeats: with `--confirm BASE`, compares what ran with BASE (a results
/// folder); with `--base`, compares the new side with the base side measured beside
/// it in this very run. Then tops up: each scenario whose verdict is still open runs
/// one more round (on both sides with `--base`), into `out/confirm1/`, ..., and the
/// comparison is made again, until every scenario is decided, `--top-up-budget` is
/// spent or `--max-rounds` rounds ran.
pub(super) fn suspects_again(
    args: &SuiteArgs,
    setup: &Setup,
    session: &mut Session<'_>,
) -> anyhow::Result<Vec<RepStep>> {
    let out = &setup.out;
    let (base_dir, new_dir) =
        (out.join(BuildSide::Base.folder()), out.join(BuildSide::New.folder()));
    // What the suspects are found against: BASE read up front, or this run's base side.
    let (than, find): (String, Box<Finder<'_>>) = match &setup.confirm_base {
        Some(base) => {
            let name = args.confirm.as_deref().unwrap_or(Path::new("BASE")).display();
            (format!("than {name}"), Box::new(move || suspects(base, out)))
        }
        None if setup.programs.base.is_some() => {
            let find = || suspects(&load::load_side(&base_dir)?, &new_dir);
            ("on the new build".into(), Box::new(find))
        }
        None => return Ok(Vec::new()),
    };
    let budget = TopUp { budget: args.top_up_budget, max_rounds: args.max_rounds };
    top_up(&than, &find, &budget, session, (out, args.repeat))
}

/// Finds the scenarios whose verdict is still open among the results so far.
type Finder<'a> = dyn Fn() -> Result<Vec<Suspect>, LoadError> + 'a;

/// How far top-ups may go: wall time and rounds.
struct TopUp {
    budget: std::time::Duration,
    max_rounds: u32,
}

/// Finds the open scenarios, runs one more round of them, and again, within
/// `limits`; says what it found each time and what stayed open. What ran is kept
/// whatever happens here: a failure to compare is reported, and `loadgen compare`
/// in CI names it again.
fn top_up(
    than: &str,
    find: &Finder<'_>,
    limits: &TopUp,
    session: &mut Session<'_>,
    (out, repeat): (&Path, u32),
) -> anyhow::Result<Vec<RepStep>> {
    let started = std::time::Instant::now();
    let mut steps = Vec::new();
    // What one scenario's round took last time: the next round's length is that
    // times its scenarios (a round of one suspect after a round of fourteen open
    // scenarios is short).
    let mut per_scenario = std::time::Duration::ZERO;
    for round in 1.. {
        if session.stopped() {
            break;
        }
        let found = match find() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("top-up: cannot compare: {e}");
                break;
            }
        };
        if found.is_empty() {
            eprintln!("top-up: every scenario decided {than}");
            break;
        }
        let listed: Vec<String> = found.iter().map(describe).collect();
        let spent = started.elapsed();
        let next = per_scenario * found.len() as u32;
        if round > limits.max_rounds || spent + next > limits.budget {
            eprintln!(
                "top-up: {} scenario(s) still open {than} after {} round(s) in {:.0} s \
                 (--top-up-budget {:.0} s, --max-rounds {}): {}",
                found.len(),
                round - 1,
                spent.as_secs_f64(),
                limits.budget.as_secs_f64(),
                limits.max_rounds,
                listed.join(", ")
            );
            break;
        }
        eprintln!("top-up {round}: {} scenario(s) open {than}: {}", found.len(), listed.join(", "));
        let names: Vec<String> = found.into_iter().map(|s| s.scenario).collect();
        let before = std::time::Instant::now();
        steps.extend(session.rerun(&names, out, repeat + round, repeat)?);
        per_scenario = before.elapsed() / names.len().max(1) as u32;
    }
    Ok(steps)
}
