//! A latency figure of a run that recorded no latency sample is missing data,
//! never 0 µs: an open loop that fell behind its schedule, or a server that never
//! answered, leaves `latency_us` all zeros with `count` 0, and reading those zeros
//! as figures would call the worst run "latency improved". A NEW run without
//! samples fails each latency row (as a scenario missing from NEW does), naming
//! its file; BASE runs without samples are left out of BASE's figure (said in a
//! note), and a BASE with none at all is not compared (the row is informational).
//! A side with no samples in any run has no figure: NaN, printed "no samples"
//! (`null` in JSON).

use super::load::Loaded;
use super::row::Row;
use super::verdict::{Metric, Verdict};

/// Whether `metric` is read from the latency histogram.
pub(super) fn is_latency(metric: Metric) -> bool {
    matches!(metric, Metric::P50 | Metric::P99 | Metric::P999)
}

/// The files of the runs that recorded no latency sample.
fn without_samples(runs: &[Loaded]) -> Vec<String> {
    runs.iter()
        .filter(|l| l.result.latency_us.count == 0)
        .map(|l| l.path.display().to_string())
        .collect()
}

/// The runs that recorded latency samples.
fn with_samples(runs: &[Loaded]) -> Vec<Loaded> {
    runs.iter().filter(|l| l.result.latency_us.count > 0).cloned().collect()
}

/// The row of a latency metric, built by `row` from the runs that have samples
/// (see the module doc for the runs that have none).
pub(super) fn latency_row(
    base: &[Loaded],
    new: &[Loaded],
    row: impl Fn(&[Loaded], &[Loaded]) -> Row,
) -> Row {
    let (base_kept, new_kept) = (with_samples(base), with_samples(new));
    let or_all = |kept: &'_ [Loaded], all: &'_ [Loaded]| -> Vec<Loaded> {
        if kept.is_empty() {
            all.to_vec()
        } else {
            kept.to_vec()
        }
    };
    let missing = without_samples(new);
    if !missing.is_empty() {
        let mut r = row(&or_all(&base_kept, base), &or_all(&new_kept, new));
        r.base = if base_kept.is_empty() { f64::NAN } else { r.base };
        r.new = if new_kept.is_empty() { f64::NAN } else { r.new };
        return Row {
            verdict: Verdict::Fail,
            gating: true,
            ratio: None,
            raw_ratio: None,
            detail: Some(format!("{} (missing data, not 0 µs)", problem(&missing))),
            ..r
        };
    }
    if base_kept.is_empty() {
        let r = row(base, new);
        let base = f64::NAN;
        return Row {
            verdict: Verdict::Info,
            gating: false,
            ratio: None,
            raw_ratio: None,
            base,
            ..r
        };
    }
    row(&base_kept, new)
}

/// What a reader of the table should know about BASE runs without samples.
pub(super) fn base_note(base: &[Loaded]) -> Option<String> {
    let missing = without_samples(base);
    (!missing.is_empty()).then(|| {
        let whole = if missing.len() == base.len() { ": latency not compared" } else { "" };
        format!("BASE left out of the latency rows, {}{whole}", problem(&missing))
    })
}

/// The problem of runs (files) without latency samples, for a NEW-only scenario.
pub(super) fn problems(runs: &[Loaded]) -> Vec<String> {
    without_samples(runs).into_iter().map(|f| format!("{f}: {}", why())).collect()
}

fn problem(files: &[String]) -> String {
    format!("{}: {}", files.join(", "), why())
}

fn why() -> &'static str {
    "no latency samples: the run measured no message (an open loop that fell behind its \
     schedule, or no answer)"
}
