//! The files a run writes: `--json` (the [`RunResult`] contract, pretty JSON) and
//! `--hgrm` (the percentile distribution in HdrHistogram's text layout, the one the
//! HdrHistogram plotter reads and wrk2 prints: a `Value Percentile TotalCount
//! 1/(1-Percentile)` table, five ticks per half distance, then the `#[Mean = ...]`
//! footer; values in microseconds).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use hdrhistogram::Histogram;

use crate::result::RunResult;

/// Writes `result` as pretty JSON to `path`.
pub fn write_json(path: &Path, result: &RunResult) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(result).context("cannot serialize the result")?;
    std::fs::write(path, text + "\n")
        .with_context(|| format!("--json: cannot write {}", path.display()))
}

/// Writes the `.hgrm` text of a nanosecond histogram to `path`, values in µs.
pub fn write_hgrm(path: &Path, h: &Histogram<u64>) -> anyhow::Result<()> {
    std::fs::write(path, hgrm(h, 1_000.0))
        .with_context(|| format!("--hgrm: cannot write {}", path.display()))
}

/// HdrHistogram's `outputPercentileDistribution` layout, values divided by `scale`.
pub fn hgrm(h: &Histogram<u64>, scale: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    if !h.is_empty() {
        for v in h.iter_quantiles(5) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / scale;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10} {:14.2}", 1.0 / (1.0 - q));
            } else {
                let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10}");
            }
        }
    }
    let (mean, stdev, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (h.mean() / scale, h.stdev() / scale, h.max() as f64 / scale)
    };
    let _ = writeln!(out, "#[Mean    = {mean:12.3}, StdDeviation   = {stdev:12.3}]");
    let _ = writeln!(out, "#[Max     = {max:12.3}, Total count    = {:12}]", h.len());
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        sub_buckets(h.sigfig())
    );
    out
}

/// HdrHistogram's sub-bucket count for `sigfig` significant figures.
fn sub_buckets(sigfig: u8) -> u64 {
    let single_unit = 2.0 * 10f64.powi(i32::from(sigfig));
    1u64 << (single_unit.log2().ceil() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::tally::{new_histogram, record};

    /// The table has the header, ascending percentiles ending at 1.0, and the footer.
    #[test]
    fn hgrm_layout() {
        let mut h = new_histogram();
        for us in 1..=1000u64 {
            record(&mut h, us * 1_000);
        }
        let text = hgrm(&h, 1_000.0);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
        );
        assert!(lines[1].is_empty());
        let rows: Vec<Vec<f64>> = lines[2..]
            .iter()
            .take_while(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().map(|x| x.parse().expect("number")).collect())
            .collect();
        assert!(rows.len() > 10);
        assert!(rows.windows(2).all(|w| w[0][1] <= w[1][1] && w[0][0] <= w[1][0]));
        let last = rows.last().expect("rows");
        assert_eq!((last[1], last[2]), (1.0, 1000.0));
        assert!((last[0] - 1000.0).abs() < 1.0);
        assert!(
            text.contains("#[Mean    =      500.")
                && text.contains("Total count    =         1000]")
        );
        assert!(text.contains("SubBuckets     =         2048]"));
    }
}
