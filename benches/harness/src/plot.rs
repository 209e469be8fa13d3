//! SVG plots with plotters (no system font library needed: the SVG backend writes
//! `<text>` elements and leaves fonts to the viewer).
//!
//! - [`percentile_chart`]: latency against percentile on a log 1/(1-p) axis, as the
//!   HdrHistogram plotter draws it, so the tail (99.9%, 99.99%) gets as much room as
//!   the median.
//! - [`xy_chart`]: lines over a shared x axis (connections, workers), log or linear.
//! - [`interval_chart`]: ratios with their 95% intervals, one row each (a forest plot).

use std::path::Path;

use hdrhistogram::Histogram;
use plotters::prelude::*;

mod intervals;
pub use intervals::{interval_chart, Estimate};

/// One line of a chart.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// (x, y) points in drawing order.
    pub points: Vec<(f64, f64)>,
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// The percentile curve of a histogram recorded in nanoseconds: (1/(1-p), µs),
/// from p = 0 up to the last recorded value, as the HdrHistogram plotter reads
/// `--hgrm` files.
pub fn percentile_points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut pts = Vec::new();
    for it in h.iter_quantiles(5) {
        let q = it.quantile_iterated_to();
        if q >= 1.0 {
            break;
        }
        pts.push((1.0 / (1.0 - q), it.value_iterated_to() as f64 / 1_000.0));
    }
    // The maximum sits at the last point the axis can show.
    let last_x = pts.last().map_or(1.0, |p| p.0).max(10.0) * 10.0;
    pts.push((last_x, h.max() as f64 / 1_000.0));
    pts
}

/// Draws latency-by-percentile curves into an SVG file.
pub fn percentile_chart(path: &Path, title: &str, curves: &[Series]) -> Result<(), String> {
    let x_max = curves.iter().flat_map(|c| &c.points).map(|p| p.0).fold(100.0, f64::max);
    let (y_min, y_max) = y_range(curves);
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(70)
        .build_cartesian_2d((1f64..x_max).log_scale(), (y_min..y_max).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (µs)")
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| short_number(*y))
        .draw()
        .map_err(err)?;
    draw_series(&mut chart, curves, SeriesLabelPosition::LowerRight)?;
    root.present().map_err(err)
}

/// Draws lines over a shared x axis into an SVG file.
pub fn xy_chart(
    path: &Path,
    title: &str,
    (x_desc, y_desc): (&str, &str),
    (log_x, log_y): (bool, bool),
    series: &[Series],
) -> Result<(), String> {
    let xs = series.iter().flat_map(|s| &s.points).map(|p| p.0);
    let (x_lo, x_hi) = xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let (x_lo, x_hi) = if x_lo > x_hi { (1.0, 10.0) } else { (x_lo, x_hi.max(x_lo * 1.01 + 1e-9)) };
    let (y_lo, y_hi) = y_range(series);
    let y_lo = if log_y { y_lo } else { 0.0 };
    // Whole-number x values (workers, connections) get labels on whole ticks only.
    let whole_x = series.iter().flat_map(|s| &s.points).all(|p| p.0.fract() == 0.0);
    let x_label = move |x: &f64| {
        if whole_x && x.fract().abs() > 1e-9 {
            String::new()
        } else {
            short_number(*x)
        }
    };
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(70);
    macro_rules! finish {
        ($chart:expr) => {{
            let mut chart = $chart.map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .x_label_formatter(&x_label)
                .y_label_formatter(&|y| short_number(*y))
                .draw()
                .map_err(err)?;
            draw_series(&mut chart, series, SeriesLabelPosition::UpperLeft)?;
        }};
    }
    let (x_lo_log, x_hi_log) = (x_lo.max(1e-3), x_hi.max(x_lo.max(1e-3) * 10.0));
    match (log_x, log_y) {
        (true, true) => {
            finish!(builder
                .build_cartesian_2d((x_lo_log..x_hi_log).log_scale(), (y_lo..y_hi).log_scale()))
        }
        (true, false) => {
            finish!(builder.build_cartesian_2d((x_lo_log..x_hi_log).log_scale(), y_lo..y_hi))
        }
        (false, true) => finish!(builder.build_cartesian_2d(x_lo..x_hi, (y_lo..y_hi).log_scale())),
        (false, false) => finish!(builder.build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)),
    }
    root.present().map_err(err)
}

/// Throughput and p99 per second of one run, on two y axes (round trips/s on the
/// left, linear; p99 in µs on the right, log), over the seconds of the measured
/// phase: a stall, a slow start or a drift shows as a dip or a spike.
pub fn series_chart(
    path: &Path,
    title: &str,
    throughput: &[(f64, f64)],
    p99_us: &[(f64, f64)],
) -> Result<(), String> {
    let x_hi = throughput.iter().chain(p99_us).map(|p| p.0).fold(1.0, f64::max);
    let t_hi = throughput.iter().map(|p| p.1).fold(1.0, f64::max) * 1.15;
    let (l_lo, l_hi) = y_range(&[Series { label: String::new(), points: p99_us.to_vec() }]);
    let root = SVGBackend::new(path, (800, 360)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .right_y_label_area_size(70)
        .build_cartesian_2d(0f64..x_hi, 0f64..t_hi)
        .map_err(err)?
        .set_secondary_coord(0f64..x_hi, (l_lo..l_hi).log_scale());
    chart
        .configure_mesh()
        .x_desc("seconds into the measured phase")
        .y_desc("round trips / s")
        .y_label_formatter(&|y| short_number(*y))
        .draw()
        .map_err(err)?;
    chart
        .configure_secondary_axes()
        .y_desc("p99 latency (µs)")
        .y_label_formatter(&|y| short_number(*y))
        .draw()
        .map_err(err)?;
    let (blue, red) = (PALETTE[0], PALETTE[1]);
    chart
        .draw_series(LineSeries::new(throughput.iter().copied(), blue.stroke_width(2)))
        .map_err(err)?
        .label("round trips / s (left)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], blue.stroke_width(2)));
    chart
        .draw_secondary_series(LineSeries::new(p99_us.iter().copied(), red.stroke_width(2)))
        .map_err(err)?
        .label("p99 µs (right, log)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], red.stroke_width(2)));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerLeft)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

fn draw_series<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    series: &[Series],
    legend: SeriesLabelPosition,
) -> Result<(), String>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
            .map_err(err)?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(s.points.iter().map(|p| Circle::new(*p, 2, color.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(legend)
        .draw()
        .map_err(err)
}

fn y_range(series: &[Series]) -> (f64, f64) {
    let ys = series.iter().flat_map(|s| &s.points).map(|p| p.1).filter(|y| *y > 0.0);
    let (lo, hi) = ys.fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
    if lo > hi {
        return (1.0, 10.0);
    }
    (lo / 1.5, hi * 1.5)
}

/// 1/(1-p) tick -> `90%`, `99.9%`.
fn percentile_label(x: f64) -> String {
    let p = 100.0 * (1.0 - 1.0 / x);
    if p < 1e-9 {
        "0%".into()
    } else if (p - p.round()).abs() < 1e-6 {
        format!("{p:.0}%")
    } else {
        let digits = (-(100.0 - p).log10() - 1e-6).ceil().max(1.0) as usize;
        format!("{p:.digits$}%")
    }
}

fn short_number(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.0}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 1.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("cannot draw the plot: {e:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Percentile ticks read as percentiles.
    #[test]
    fn labels() {
        assert_eq!(percentile_label(1.0), "0%");
        assert_eq!(percentile_label(10.0), "90%");
        assert_eq!(percentile_label(100.0), "99%");
        assert_eq!(percentile_label(1000.0), "99.9%");
        assert_eq!(percentile_label(10000.0), "99.99%");
        assert_eq!(short_number(12_000.0), "12k");
    }

    /// A histogram becomes a rising curve ending at its maximum; the charts write SVG.
    #[test]
    fn charts_are_written() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for v in 1..=10_000u64 {
            h.record(v * 1_000).unwrap();
        }
        let pts = percentile_points(&h);
        assert!(pts.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
        assert!((pts.last().unwrap().1 - 10_000.0).abs() / 10_000.0 < 0.01);
        let dir = std::env::temp_dir().join(format!("loadgen-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let curve = Series { label: "1k conns".into(), points: pts };
        percentile_chart(&dir.join("p.svg"), "latency", &[curve]).unwrap();
        let line = Series { label: "echod".into(), points: vec![(1.0, 40e3), (1000.0, 60e3)] };
        xy_chart(&dir.join("x.svg"), "scaling", ("connections", "msgs/s"), (true, false), &[line])
            .unwrap();
        for f in ["p.svg", "x.svg"] {
            let svg = std::fs::read_to_string(dir.join(f)).unwrap();
            assert!(svg.starts_with("<svg") && svg.contains("<polyline"), "{f}");
        }
        assert!(std::fs::read_to_string(dir.join("p.svg")).unwrap().contains("99.9%"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
