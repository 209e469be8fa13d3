//! The report's rows: one representative run per scenario (with repeats, the run
//! with the median throughput) of the build under test, and the small figures the
//! sections derive from a row.

use std::collections::BTreeMap;
use std::path::Path;

use common::units::fmt_micros;

use crate::suite_index::{Side, StepRecord, SuiteIndex};
use engine::result::{read as load_result, RunResult};

/// One scenario's representative run.
pub(super) struct Row<'a> {
    /// What the suite recorded of the step.
    pub(super) rec: &'a StepRecord,
    /// Its result.
    pub(super) res: RunResult,
    /// How many repeats the scenario had.
    pub(super) reps: usize,
}

/// Every scenario of the build under test, by its median-throughput run.
pub(super) fn representative_rows<'a>(out: &Path, index: &'a SuiteIndex) -> Vec<Row<'a>> {
    let runs = |rec: &'a StepRecord| {
        let res = load_result(out, rec.result_file.as_deref()?).ok()?;
        Some((rec, res))
    };
    representative(index, runs, |(_, res)| res.throughput.msgs_per_sec)
        .into_iter()
        .map(|((rec, res), reps)| Row { rec, res, reps })
        .collect()
}

/// The one picker of a scenario's representative run: the build under test's runs
/// (with a base build, the base side has its own table, [`super::builds`]) that
/// `run` accepts, grouped by scenario in plan order, each group's run with the
/// median `key` (the upper one of an even count), with the group's size.
pub(super) fn representative<'a, T>(
    index: &'a SuiteIndex,
    run: impl Fn(&'a StepRecord) -> Option<T>,
    key: impl Fn(&T) -> f64,
) -> Vec<(T, usize)> {
    let mut groups: BTreeMap<(usize, &str), Vec<T>> = BTreeMap::new();
    for s in index.steps.iter().filter(|s| s.side != Some(Side::Base)) {
        if let Some(t) = run(&s.record) {
            groups.entry((s.record.index, s.record.scenario.as_str())).or_default().push(t);
        }
    }
    groups
        .into_values()
        .map(|mut runs| {
            let reps = runs.len();
            runs.sort_by(|a, b| key(a).total_cmp(&key(b)));
            (runs.swap_remove(reps / 2), reps)
        })
        .collect()
}

/// Microseconds by magnitude.
pub(super) fn ms(v: f64) -> String {
    fmt_micros(v)
}

/// Server CPU per round trip, µs: over the measured window where loadgen watched
/// the server (`server.cpu_us_per_rt`); else counting the measured rate over
/// loadgen's whole run (warm-up included) against the server's CPU over that run.
pub(super) fn cpu_per_rt(r: &Row<'_>) -> Option<f64> {
    if let Some(us) = r.res.server.as_ref().and_then(|s| s.cpu_us_per_rt) {
        return Some(us);
    }
    let rts = r.res.throughput.msgs_per_sec * (r.res.config.duration_s + r.res.config.warmup_s);
    (r.rec.server_cpu_s > 0.0 && rts > 0.0).then(|| r.rec.server_cpu_s / rts * 1e6)
}

/// The row's server system calls per round trip (from its counted sample), `-`
/// without one.
pub(super) fn syscalls_cell(r: &Row<'_>) -> String {
    r.rec.syscalls.as_ref().and_then(|s| s.per_message()).map_or("-".into(), |v| format!("{v:.2}"))
}

/// What a table's system-call column means, and why some rows have none: one
/// paragraph, empty when no row was counted or tried.
pub(super) fn syscalls_note(rows: &[&Row<'_>]) -> String {
    let tried: Vec<_> = rows.iter().filter_map(|r| r.rec.syscalls.as_ref()).collect();
    if tried.is_empty() {
        return String::new();
    }
    let mut note = String::from(
        "System calls per round trip: every system call the server's threads entered (`perf stat -e raw_syscalls:sys_enter` attached to them), divided by the round trips, counted in a 2-second sample run after the measured one (counting slows every system call on the machine, so it stays out of the measured run); the sample includes accepting and closing its connections.",
    );
    if let Some(why) = tried.iter().find_map(|s| s.missing.as_deref()) {
        note.push_str(&format!(" Rows without a figure: {why}."));
    }
    note
}

/// The steps of `section` that were skipped on this machine, each once: (scenario,
/// why), for a line under the section's table.
pub(super) fn skipped(
    index: &SuiteIndex,
    section: crate::suite_index::Section,
) -> Vec<(&str, &str)> {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for s in index.steps.iter().filter(|s| s.record.section == section) {
        if let Some(why) = s.record.skipped.as_deref() {
            if !seen.iter().any(|(name, _)| *name == s.record.scenario) {
                seen.push((s.record.scenario.as_str(), why));
            }
        }
    }
    seen
}

/// A line per skipped step under a table.
pub(super) fn write_skipped(md: &mut String, skipped: &[(&str, &str)]) {
    use std::fmt::Write as _;
    for (name, why) in skipped {
        let _ = writeln!(md, "- `{name}`: skipped — {why}");
    }
    if !skipped.is_empty() {
        let _ = writeln!(md);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite_index::RepStep;

    fn step(index: usize, scenario: &str, side: Option<Side>, cpu: f64) -> RepStep {
        let record = StepRecord {
            index,
            scenario: scenario.into(),
            server_cpu_s: cpu,
            ..StepRecord::default()
        };
        RepStep { rep: 1, confirm: false, side, record }
    }

    /// Each scenario in plan order, by its run with the median key (the upper one
    /// of an even count), with its number of runs; the base side's runs are left out.
    #[test]
    fn picks_the_median_run_of_each_scenario() {
        let index = SuiteIndex {
            suite_format: "loadgen-suite/1".into(),
            profile: "quick".into(),
            command: Vec::new(),
            started_at: String::new(),
            finished_at: String::new(),
            interrupted: false,
            environment: Default::default(),
            steps: vec![
                step(1, "b", None, 5.0),
                step(0, "a", Some(Side::New), 3.0),
                step(0, "a", Some(Side::Base), 100.0),
                step(0, "a", Some(Side::New), 1.0),
                step(0, "a", Some(Side::New), 2.0),
                step(1, "b", None, 7.0),
            ],
            ports_file: None,
            ports_note: None,
            testbed_dir: None,
            testbed_note: None,
            c_peer: false,
            builds: None,
        };
        let picked = representative(&index, Some, |r: &&StepRecord| r.server_cpu_s);
        let got: Vec<(&str, f64, usize)> =
            picked.iter().map(|(r, n)| (r.scenario.as_str(), r.server_cpu_s, *n)).collect();
        assert_eq!(got, vec![("a", 2.0, 3), ("b", 7.0, 2)]);
    }
}
