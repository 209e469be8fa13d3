//! One pass of the suite over its steps ([`Session::run_rep`]): each step on the
//! sides of its build(s), on its port, with the progress line; and the re-runs of
//! suspects (`confirm*/`). An open-loop step is offered half the lowest closed-loop
//! rate measured at its connection count in the same repeat, so both builds of a
//! `--base` run get the same rate.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context as _;

use super::programs::Programs;
use super::{builds, plan, runner};
use crate::suite_index::{RepStep, StepRecord};

/// What every step of a suite run shares: the programs, the first port, the stop
/// flag and the progress count.
pub(super) struct Session<'a> {
    programs: &'a Programs,
    port: u16,
    stop: &'a Arc<AtomicBool>,
    /// Steps run so far, and how many the progress line expects.
    n: usize,
    total: usize,
}

impl<'a> Session<'a> {
    /// A session over `programs`, steps listening from `port`, stopped by `stop`,
    /// expecting `total` runs (for the progress line).
    pub(super) fn new(
        programs: &'a Programs,
        port: u16,
        stop: &'a Arc<AtomicBool>,
        total: usize,
    ) -> Session<'a> {
        Session { programs, port, stop, n: 0, total }
    }

    /// Whether the suite was asked to stop.
    pub(super) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Runs the scenarios `names` `repeat` more times, into `out/confirm1/`, ...
    /// (under each side's folder with a base build), the repeat count continuing
    /// from the first runs so the side order keeps alternating.
    pub(super) fn rerun(
        &mut self,
        plan: &plan::Plan,
        names: &[String],
        out: &Path,
        repeat: u32,
    ) -> anyhow::Result<Vec<RepStep>> {
        let selected = plan::select(plan, names).map_err(anyhow::Error::msg)?;
        let per_rep: usize = selected
            .iter()
            .map(|&i| builds::sides(&plan.steps[i].server, self.programs.base.as_ref(), 1).len())
            .sum();
        self.n = 0;
        self.total = per_rep * repeat as usize;
        let mut steps = Vec::new();
        for k in 1..=repeat {
            let sub = format!("confirm{k}/");
            steps.extend(self.run_rep(plan, &selected, out, &sub, repeat + k, true)?);
        }
        Ok(steps)
    }

    /// Runs the `selected` steps of `plan` once into `out/sub` (`sub` is empty or
    /// ends in `/`), each on the sides [`builds::sides`] gives it (into
    /// `out/<side>/sub` with a base build); stops early when asked to. Each step
    /// listens on `port` + its index in the plan, whatever the selection or side.
    pub(super) fn run_rep(
        &mut self,
        plan: &plan::Plan,
        selected: &[usize],
        out: &Path,
        sub: &str,
        rep: u32,
        confirm: bool,
    ) -> anyhow::Result<Vec<RepStep>> {
        // Closed-loop msgs/s measured in this repeat, by scenario: an open-loop step
        // offers a fraction of the lowest its source measured (on either side), so
        // both builds, and every server of a loss curve, get the same rate.
        let mut rates: Vec<(&str, f64)> = Vec::new();
        let mut steps = Vec::new();
        for &i in selected {
            let step = &plan.steps[i];
            for side in builds::sides(&step.server, self.programs.base.as_ref(), rep) {
                if self.stop.load(Ordering::Relaxed) {
                    return Ok(steps);
                }
                let prefix = match side {
                    Some(side) => format!("{}/{sub}", side.folder()),
                    None => sub.to_string(),
                };
                let dir = out.join(&prefix);
                std::fs::create_dir_all(dir.join("runs"))
                    .with_context(|| format!("--out {}: cannot create", dir.display()))?;
                self.n += 1;
                let rate = step
                    .rate_fraction
                    .map(|f| f * closed_loop_rate(&rates, step.rate_from.as_deref().unwrap_or("")));
                let tag = side.map_or(String::new(), |s| format!(" [{}]", s.folder()));
                eprint!("[{:>3}/{}] {:<56}", self.n, self.total, format!("{}{tag}", step.scenario));
                let port = self.port.wrapping_add(i as u16);
                let record =
                    runner::run_step(self.programs, side, &dir, i, step, port, rate, self.stop);
                let result = record.result_file.as_deref().map(|f| engine::result::read(&dir, f));
                eprintln!("{}", progress_summary(&record, result.as_ref()));
                if let (None, Some(Ok(r))) = (step.rate_fraction, &result) {
                    rates.push((step.scenario.as_str(), r.throughput.msgs_per_sec));
                }
                let mut record = record;
                record.result_file = record.result_file.map(|f| format!("{prefix}{f}"));
                steps.push(RepStep { rep, confirm, side, record });
            }
        }
        Ok(steps)
    }
}

/// The lowest closed-loop msgs/s scenario `from` measured earlier in this repeat
/// (on either side); 10,000 when it did not.
fn closed_loop_rate(rates: &[(&str, f64)], from: &str) -> f64 {
    rates
        .iter()
        .filter(|(s, r)| *s == from && *r > 0.0)
        .map(|(_, r)| *r)
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
            "{:>9} msgs/s  p50 {:>9}  p99 {:>9}  exit {}",
            common::units::fmt_count(res.throughput.msgs_per_sec),
            common::units::fmt_micros(res.latency_us.p50),
            common::units::fmt_micros(res.latency_us.p99),
            r.exit_code.unwrap_or(-1)
        ),
        _ => "no result".into(),
    }
}
