//! `loadgen suite --confirm BASE`: a regression must reproduce before CI believes it.
//!
//! On a shared machine a whole repeat can land in a slow spell, and a scenario at
//! 1,000 connections sometimes settles into a slower mode for a run; two such runs
//! out of three move a median by 30%. So after its repeats the suite compares its
//! own results with BASE the way CI does (best runs; throughput gates at the default
//! threshold and the noise band; latency only informs), and runs every scenario whose
//! throughput regressed as many times again. The new runs land beside the others
//! (`confirm1/`, `confirm2/`, ...), so `loadgen compare BASE OUT` pools them: a real
//! slowdown is slow in every run and stays flagged; a slow spell is outvoted.
//! Correctness failures are never re-run away: compare judges checks by the worst
//! run, and every run stays in the folder.
//!
//! With `--base DIR` the same happens inside one run: the new side is compared with
//! the base side measured beside it, and every suspect runs again on both sides.

use std::path::Path;

use super::session::Session;
use super::setup::Setup;
use super::SuiteArgs;
use crate::compare::load::{self, LoadError, Side};
use crate::compare::{comparison, Options, Verdict};
use crate::suite_index::{RepStep, Side as BuildSide};

/// A scenario whose throughput regressed against BASE: its name and NEW/BASE.
#[derive(Clone, Debug, PartialEq)]
pub struct Suspect {
    pub scenario: String,
    pub ratio: Option<f64>,
}

/// The scenarios of `out` whose gating performance rows regressed against `base`.
pub fn suspects(base: &Side, out: &Path) -> Result<Vec<Suspect>, LoadError> {
    let new = load::load_side(out)?;
    let comparison = comparison::compare(base, &new, &Options::ci())?;
    Ok(comparison
        .scenarios
        .iter()
        .filter_map(|s| {
            let row = s.rows.iter().find(|r| r.gating && r.verdict == Verdict::Regressed)?;
            Some(Suspect { scenario: s.scenario.clone(), ratio: row.ratio })
        })
        .collect())
}

/// One line on a suspect: `scaling echod reuseport w=1 conns=1000 (0.69x)`.
pub fn describe(suspect: &Suspect) -> String {
    match suspect.ratio {
        Some(r) => format!("{} ({r:.2}x)", suspect.scenario),
        None => suspect.scenario.clone(),
    }
}

/// After the repeats: with `--confirm BASE`, compares what ran with BASE (a results
/// folder); with `--base`, compares the new side with the base side measured beside
/// it in this very run. Either way each scenario whose throughput looks slower runs
/// `--repeat` more times (on both sides with `--base`), into `out/confirm1/`, ...
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
    rerun_suspects(&than, find, out, session, args.repeat)
}

/// Finds the suspects among the results so far.
type Finder<'a> = dyn Fn() -> Result<Vec<Suspect>, LoadError> + 'a;

/// Finds the suspects, re-runs them `repeat` more times, and says before and after
/// what it found (`slower {than}`). What ran is kept whatever happens here: a failure
/// to compare is reported, and `loadgen compare` in CI names it again.
fn rerun_suspects(
    than: &str,
    find: impl Fn() -> Result<Vec<Suspect>, LoadError>,
    out: &Path,
    session: &mut Session<'_>,
    repeat: u32,
) -> anyhow::Result<Vec<RepStep>> {
    if session.stopped() {
        return Ok(Vec::new());
    }
    let found = match find() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("confirm: cannot compare: {e}");
            return Ok(Vec::new());
        }
    };
    if found.is_empty() {
        eprintln!("confirm: no scenario slower {than}");
        return Ok(Vec::new());
    }
    let names: Vec<String> = found.iter().map(|s| s.scenario.clone()).collect();
    let listed: Vec<String> = found.iter().map(describe).collect();
    eprintln!(
        "confirm: {} scenario(s) slower {than}: {}; running each {repeat} more time(s)",
        found.len(),
        listed.join(", "),
    );
    let steps = session.rerun(&names, out, repeat)?;
    match find() {
        Ok(still) if still.is_empty() => {
            eprintln!("confirm: with every run pooled, none is slower: noise, not a regression")
        }
        Ok(still) => {
            let listed: Vec<String> = still.iter().map(describe).collect();
            eprintln!("confirm: still slower with every run pooled: {}", listed.join(", "))
        }
        Err(e) => eprintln!("confirm: cannot compare: {e}"),
    }
    Ok(steps)
}
