//! The suite's schedule run ([`Session::run`]): each step on the side of its
//! build the schedule gives, on its port, with the progress line; and the re-runs
//! of suspects (`confirm*/`). An open-loop step is offered half the lowest closed-loop
//! rate measured at its connection count in the same repeat, so both builds of a
//! `--base` run get the same rate.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context as _;

use super::builds::{Run, Schedule};
use super::plan::{self, Plan};
use super::programs::Programs;
use super::runner::{self, StepRun};
use crate::suite_index::{RepStep, StepRecord};

/// What every step of a suite run shares: the programs, the plan and its schedule
/// (each chosen step on its sides, worked out once), the first port, the stop flag
/// and the progress count.
pub(super) struct Session<'a> {
    programs: &'a Programs,
    plan: &'a Plan,
    schedule: &'a Schedule,
    port: u16,
    stop: &'a Arc<AtomicBool>,
    /// Steps run so far, and how many the progress line expects.
    n: usize,
    total: usize,
    /// Disturbed runs set aside so far (bounded by [`RETRIES`]).
    retries: usize,
}

impl<'a> Session<'a> {
    /// A session running `schedule` (of `plan`) with `programs`, steps listening
    /// from `port`, stopped by `stop`.
    pub(super) fn new(
        programs: &'a Programs,
        plan: &'a Plan,
        schedule: &'a Schedule,
        port: u16,
        stop: &'a Arc<AtomicBool>,
    ) -> Session<'a> {
        Session { programs, plan, schedule, port, stop, n: 0, total: 0, retries: 0 }
    }

    /// Whether the suite was asked to stop.
    pub(super) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Runs the schedule's `repeat` repeats, into `out/` (one repeat) or
    /// `out/rep1/`, ...
    pub(super) fn run(&mut self, out: &Path, repeat: u32) -> anyhow::Result<Vec<RepStep>> {
        let sub = |rep: u32| if repeat > 1 { format!("rep{rep}/") } else { String::new() };
        let runs = self.schedule.repeats.as_slice();
        self.run_all(runs, out, sub, false)
    }

    /// Runs the scenarios `names` once more as round `rep` (past the repeats),
    /// into `out/confirm{rep - repeat}/` (under each side's folder with a base
    /// build): both sides, in the order that round gives.
    pub(super) fn rerun(
        &mut self,
        names: &[String],
        out: &Path,
        rep: u32,
        repeat: u32,
    ) -> anyhow::Result<Vec<RepStep>> {
        let selected = plan::select(self.plan, names).map_err(anyhow::Error::msg)?;
        let runs = self.schedule.round(rep, &selected);
        self.run_all(&runs, out, |rep| format!("confirm{}/", rep - repeat), true)
    }

    /// Runs `schedule` in order, each run into `out/sub` (`sub(rep)` is empty or
    /// ends in `/`; `out/<side>/sub` with a base build); stops early when asked to.
    /// Each step listens on `port` + its index in the plan, whatever the selection
    /// or side.
    fn run_all(
        &mut self,
        schedule: &[Run],
        out: &Path,
        sub: impl Fn(u32) -> String,
        confirm: bool,
    ) -> anyhow::Result<Vec<RepStep>> {
        (self.n, self.total) = (0, schedule.len());
        // Closed-loop msgs/s measured, by repeat and scenario: an open-loop step
        // offers a fraction of the lowest its source measured in its repeat (on
        // either side), so both builds, and every server of a loss curve, get the
        // same rate.
        let mut rates: Vec<(u32, &str, f64)> = Vec::new();
        let mut steps = Vec::new();
        for run in schedule {
            if self.stopped() {
                return Ok(steps);
            }
            let step = &self.plan.steps[run.index];
            let prefix = match run.side {
                Some(side) => format!("{}/{}", side.folder(), sub(run.rep)),
                None => sub(run.rep),
            };
            let rate = step.rate_fraction.map(|f| {
                let from = step.rate_from.as_deref().unwrap_or("");
                f * closed_loop_rate(rates.iter().filter(|r| r.0 == run.rep), from)
            });
            let (mut record, msgs_per_sec) = self.run_one(run, &out.join(&prefix), rate)?;
            if let (None, Some(r)) = (step.rate_fraction, msgs_per_sec) {
                rates.push((run.rep, step.scenario.as_str(), r));
            }
            record.result_file = record.result_file.map(|f| format!("{prefix}{f}"));
            steps.push(RepStep { rep: run.rep, confirm, side: run.side, record });
        }
        Ok(steps)
    }

    /// Runs `run` into `dir`, with its progress line, again while the machine
    /// disturbed it (within [`RETRIES_PER_RUN`] and the suite's [`RETRIES`]); its
    /// record and the msgs/s its result holds.
    fn run_one(
        &mut self,
        run: &Run,
        dir: &Path,
        rate: Option<f64>,
    ) -> anyhow::Result<(StepRecord, Option<f64>)> {
        std::fs::create_dir_all(dir.join("runs"))
            .with_context(|| format!("--out {}: cannot create", dir.display()))?;
        self.n += 1;
        let step = &self.plan.steps[run.index];
        let tag = run.side.map_or(String::new(), |s| format!(" [{}]", s.folder()));
        let port = self.port.wrapping_add(run.index as u16);
        let step_run = StepRun { index: run.index, step, side: run.side, dir, port, rate };
        let mut set_aside = Vec::new();
        loop {
            eprint!("[{:>3}/{}] {:<56}", self.n, self.total, format!("{}{tag}", step.scenario));
            let mut record = runner::run_step(self.programs, &step_run, self.stop);
            let result = record.result_file.as_deref().map(|f| engine::result::read(dir, f));
            eprintln!("{}", progress_summary(&record, result.as_ref()));
            let result = result.and_then(Result::ok);
            let why = result.as_ref().and_then(disturbed);
            let again = set_aside.len() < RETRIES_PER_RUN && self.retries < RETRIES;
            if let (Some(why), Some(file), true) = (&why, &record.result_file, again) {
                if !self.stopped() {
                    set_aside.push(set_aside_run(dir, file, set_aside.len() + 1, why)?);
                    self.retries += 1;
                    eprintln!("        disturbed ({why}): running it again");
                    continue;
                }
            }
            record.disturbed_attempts = set_aside;
            return Ok((record, result.map(|r| r.throughput.msgs_per_sec)));
        }
    }
}

/// At most this many runs of one step are set aside as disturbed...
const RETRIES_PER_RUN: usize = 2;
/// ... and at most this many in a whole suite run, so a machine that stays busy
/// costs a bounded amount of time (its runs are kept, marked, and left out of the
/// paired figures).
const RETRIES: usize = 12;

/// Why the machine disturbed the run, when it did (its result's `machine`).
fn disturbed(r: &engine::result::RunResult) -> Option<String> {
    let m = r.machine.as_ref().filter(|m| m.disturbed)?;
    Some(m.reason.clone().unwrap_or_else(|| "busy machine".into()))
}

/// Moves the disturbed run's result `dir/file` aside to `FILE.disturbedN` (no
/// longer a `.json`, so compare and the report do not read it) and says so:
/// "runs/03-x.json.disturbed1: REASON".
fn set_aside_run(dir: &Path, file: &str, n: usize, why: &str) -> anyhow::Result<String> {
    let aside = format!("{file}.disturbed{n}");
    std::fs::rename(dir.join(file), dir.join(&aside))
        .with_context(|| format!("cannot set {} aside", dir.join(file).display()))?;
    Ok(format!("{aside}: {why}"))
}

/// The lowest closed-loop msgs/s scenario `from` measured earlier in this repeat
/// (on either side); 10,000 when it did not.
fn closed_loop_rate<'r>(rates: impl Iterator<Item = &'r (u32, &'r str, f64)>, from: &str) -> f64 {
    rates
        .filter(|(_, s, r)| *s == from && *r > 0.0)
        .map(|(_, _, r)| *r)
        .reduce(f64::min)
        .unwrap_or(10_000.0)
}

fn progress_summary(
    r: &StepRecord,
    result: Option<&anyhow::Result<engine::result::RunResult>>,
) -> String {
    if let Some(why) = &r.skipped {
        return format!("skipped: {why}");
    }
    if let Some(e) = &r.error {
        return format!("FAILED: {e}");
    }
    if let Some(i) = &r.idle {
        return format!("{:>9.0} bytes per idle connection", i.bytes_per_conn);
    }
    if let (Some(f), None) = (&r.client_figures, result) {
        let us = |v: Option<f64>| v.map_or("-".into(), common::units::fmt_micros);
        return format!(
            "{:>9} msgs/s  p50 {:>9}  p99 {:>9}  ({})",
            common::units::fmt_count(f.msgs_per_sec),
            us(f.p50_us),
            us(f.p99_us),
            f.tool
        );
    }
    match result {
        Some(Ok(res)) => format!(
            "{:>9} msgs/s  p50 {:>9}  p99 {:>9}  exit {}{}",
            common::units::fmt_count(res.throughput.msgs_per_sec),
            common::units::fmt_micros(res.latency_us.p50),
            common::units::fmt_micros(res.latency_us.p99),
            r.exit_code.unwrap_or(-1),
            if disturbed(res).is_some() { "  DISTURBED" } else { "" }
        ),
        _ => "no result".into(),
    }
}
