//! The report's per-second section: for every run of the build under test, a chart
//! of its round trips and p99 per second (from the `series` every result carries),
//! so a stall, a slow start or a drift is seen rather than averaged away. The charts
//! sit beside the result files (`runs/<name>.series.svg`); the section links them.

use std::fmt::Write as _;
use std::path::Path;

use crate::plot::series_chart;
use crate::suite_index::{Side, SuiteIndex};

/// Draws every run's chart and writes the section linking them.
pub fn section(md: &mut String, out: &Path, index: &SuiteIndex) -> anyhow::Result<()> {
    let mut links = Vec::new();
    for step in index.steps.iter().filter(|s| s.side != Some(Side::Base)) {
        let Some(file) = &step.record.result_file else { continue };
        let Ok(res) = engine::result::read(out, file) else { continue };
        if res.series.len() < 2 {
            continue;
        }
        let svg = file.trim_end_matches(".json").to_string() + ".series.svg";
        let throughput: Vec<(f64, f64)> =
            res.series.iter().map(|s| (s.t_s, s.msgs as f64)).collect();
        let p99: Vec<(f64, f64)> =
            res.series.iter().filter(|s| s.p99_us > 0.0).map(|s| (s.t_s, s.p99_us)).collect();
        let title = format!("{} (rep {}): per second", step.record.scenario, step.rep);
        series_chart(&out.join(&svg), &title, &throughput, &p99).map_err(anyhow::Error::msg)?;
        links.push(format!("[{} (rep {})]({svg})", step.record.scenario, step.rep));
    }
    if links.is_empty() {
        return Ok(());
    }
    let _ = writeln!(md, "## Every run, second by second\n");
    let _ = writeln!(
        md,
        "Round trips per second (left axis) and the p99 of each second (right axis, log) \
         over the measured phase of each run: a stall, a slow start or a drift shows here \
         where the run's single figure would hide it.\n"
    );
    for link in links {
        let _ = writeln!(md, "- {link}");
    }
    let _ = writeln!(md);
    Ok(())
}
