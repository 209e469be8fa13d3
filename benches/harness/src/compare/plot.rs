//! `loadgen compare --plot FILE`: BASE and NEW on one percentile axis, as the
//! HdrHistogram plotter draws them. Each side's curve is every one of its runs'
//! latency histograms added (exact: HdrHistogram `add`), so a side of several runs
//! shows its whole distribution, not one run. With one compared scenario the chart is
//! FILE; with several, one chart per scenario beside it (`<stem>-<scenario>.svg`).

use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;

use super::load::{Loaded, Side};
use crate::plot::{percentile_chart, percentile_points, Series};
use engine::result::decode_histogram;

/// Draws the charts for every scenario both sides have; returns the files written.
pub fn draw(base: &Side, new: &Side, file: &Path) -> Result<Vec<PathBuf>, String> {
    let both: Vec<&String> = base.keys().filter(|k| new.contains_key(*k)).collect();
    let mut written = Vec::new();
    for scenario in &both {
        let path = if both.len() == 1 { file.to_path_buf() } else { beside(file, scenario) };
        let curves = [("BASE", &base[*scenario]), ("NEW", &new[*scenario])]
            .into_iter()
            .map(|(label, runs)| {
                let h = merged(runs)?;
                let n = runs.len();
                let label = format!("{label} ({n} run{}, {} round trips)", plural(n), h.len());
                Ok(Series { label, points: percentile_points(&h) })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let title = format!("{scenario}: latency by percentile");
        percentile_chart(&path, &title, &curves)
            .map_err(|e| format!("--plot {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Every run's latency histogram added into one.
fn merged(runs: &[Loaded]) -> Result<Histogram<u64>, String> {
    let mut all: Option<Histogram<u64>> = None;
    for run in runs {
        let h = decode_histogram(&run.result.histograms.latency)
            .map_err(|e| format!("{}: histograms.latency: {e}", run.path.display()))?;
        match &mut all {
            Some(a) => a.add(&h).map_err(|e| format!("{}: {e:?}", run.path.display()))?,
            None => all = Some(h),
        }
    }
    all.ok_or_else(|| "no runs".to_string())
}

/// `out.svg` + `scaling echod conns=10` -> `out-scaling-echod-conns10.svg`.
fn beside(file: &Path, scenario: &str) -> PathBuf {
    let stem = file.file_stem().map_or("compare".into(), |s| s.to_string_lossy().into_owned());
    let mut slug = String::new();
    for c in scenario.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if c == ' ' && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    file.with_file_name(format!("{stem}-{}.svg", slug.trim_matches('-')))
}
