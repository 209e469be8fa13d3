//! A forest plot: one row per ratio, its estimate as a dot and its 95% interval as
//! a whisker, on a log axis with a line at 1, so "no difference shown" reads at a
//! glance (the whisker crosses the line) and an estimate without an interval (too
//! few pairs) shows as a hollow dot with no whisker.

use std::path::Path;

use plotters::prelude::*;

use super::{err, PALETTE};

/// One row of a forest plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// What the ratio is of, drawn left of its row.
    pub label: String,
    /// The ratio's estimate.
    pub estimate: f64,
    /// The interval's ends, when there are enough pairs for one.
    pub interval: Option<(f64, f64)>,
}

/// The x range: every estimate and interval end, and 1, with a margin; log scale.
fn x_range(rows: &[Estimate]) -> (f64, f64) {
    let ends = rows.iter().flat_map(|r| {
        let (lo, hi) = r.interval.unwrap_or((r.estimate, r.estimate));
        [r.estimate, lo, hi]
    });
    let (lo, hi) = ends
        .filter(|x| x.is_finite() && *x > 0.0)
        .fold((1.0f64, 1.0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
    (lo / 1.15, hi * 1.15)
}

/// Draws `rows` (top to bottom) into an SVG file; `x_desc` names the ratio.
pub fn interval_chart(
    path: &Path,
    title: &str,
    x_desc: &str,
    rows: &[Estimate],
) -> Result<(), String> {
    let (x_lo, x_hi) = x_range(rows);
    let n = rows.len().max(1) as f64;
    let height = 120 + 28 * rows.len() as u32;
    let root = SVGBackend::new(path, (800, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(260)
        .build_cartesian_2d((x_lo..x_hi).log_scale(), -0.5f64..n - 0.5)
        .map_err(err)?;
    // Row i is drawn at y = n - 1 - i, so the first row is at the top.
    let y_of = |i: usize| n - 1.0 - i as f64;
    let label_of = |y: &f64| {
        let i = (n - 1.0 - y.round()) as isize;
        let on_row = (y - y.round()).abs() < 1e-6 && i >= 0 && (i as usize) < rows.len();
        if on_row {
            rows[i as usize].label.clone()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(x_desc)
        .y_labels(rows.len().max(1) * 2 + 1)
        .y_label_formatter(&label_of)
        .x_label_formatter(&|x| format!("{x:.2}"))
        .draw()
        .map_err(err)?;
    let grey = RGBColor(120, 120, 120);
    chart
        .draw_series(LineSeries::new([(1.0, -0.5), (1.0, n - 0.5)], grey.stroke_width(1)))
        .map_err(err)?;
    let color = PALETTE[0];
    for (i, r) in rows.iter().enumerate() {
        let y = y_of(i);
        if let Some((lo, hi)) = r.interval {
            let whisker = [(lo, y), (hi, y)];
            chart.draw_series(LineSeries::new(whisker, color.stroke_width(2))).map_err(err)?;
            for x in [lo, hi] {
                let cap = [(x, y - 0.15), (x, y + 0.15)];
                chart.draw_series(LineSeries::new(cap, color.stroke_width(2))).map_err(err)?;
            }
        }
        let style = if r.interval.is_some() { color.filled() } else { color.stroke_width(2) };
        chart.draw_series(std::iter::once(Circle::new((r.estimate, y), 5, style))).map_err(err)?;
    }
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The axis holds 1 and every end; an SVG is written with one whisker per
    /// interval and a dot per row, and a row without an interval has no whisker.
    #[test]
    fn draws_whiskers_and_dots() {
        let rows = vec![
            Estimate {
                label: "uring ÷ reuseport".into(),
                estimate: 1.04,
                interval: Some((0.99, 1.09)),
            },
            Estimate { label: "shared ÷ reuseport".into(), estimate: 0.82, interval: None },
        ];
        let (lo, hi) = x_range(&rows);
        assert!(lo < 0.82 && hi > 1.09 && lo < 1.0 && 1.0 < hi, "{lo} {hi}");
        let dir = std::env::temp_dir().join(format!("forest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("f.svg");
        interval_chart(&path, "ratios", "ratio (log)", &rows).expect("draw");
        let svg = std::fs::read_to_string(&path).expect("svg");
        assert!(svg.contains("uring ÷ reuseport") && svg.contains("shared ÷ reuseport"), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 2, "one dot per row");
        std::fs::remove_dir_all(&dir).ok();
    }
}
