//! The report's soak section: one long run at 50,000 connections (`--full`, or
//! `--section soak --duration 10m`), to see that nothing drifts: the server's memory
//! and descriptors (sampled once a second over all its processes) and loadgen's
//! throughput per second should stay flat, with no mismatch. The figures, the
//! drift from the first minute to the last, and two plots over time.

use std::fmt::Write as _;
use std::path::Path;

use common::units::{fmt_bytes, fmt_count};

use crate::plot::{xy_chart, Series};
use crate::suite_index::{Section, ServerSample, Side, StepRecord, SuiteIndex};
use crate::table::{Align::Left as L, Align::Right as R, Table};

/// Writes the section (nothing when no soak ran).
pub fn section(md: &mut String, out: &Path, index: &SuiteIndex) -> anyhow::Result<()> {
    let soaks = index
        .steps
        .iter()
        .filter(|s| s.side != Some(Side::Base) && s.record.section == Section::Soak);
    for (n, step) in soaks.enumerate() {
        let r = &step.record;
        let Some(file) = &r.result_file else { continue };
        let Ok(res) = engine::result::read(out, file) else { continue };
        if n == 0 {
            let _ = writeln!(md, "## Soak: {} connections, held\n", fmt_count(r.conns as f64));
            let _ = writeln!(
                md,
                "One long closed-loop run past one process's descriptors on both sides (echod \
                 `--processes`, loadgen split over processes). The server's resident memory and \
                 open descriptors are summed over its processes once a second; throughput is \
                 loadgen's per second. Drift compares the mean of the last minute with the \
                 first (or the last and first fifth of a shorter run).\n"
            );
        }
        one(md, out, n, r, &res)?;
    }
    Ok(())
}

/// The figures, the table and the plots of soak number `n` (`r`, its result `res`).
fn one(
    md: &mut String,
    out: &Path,
    n: usize,
    r: &StepRecord,
    res: &engine::result::RunResult,
) -> anyhow::Result<()> {
    let msgs: Vec<(f64, f64)> = res.series.iter().map(|s| (s.t_s, s.msgs as f64)).collect();
    let rates: Vec<f64> = msgs.iter().map(|p| p.1).collect();
    let (lo, hi) = min_max(&rates);
    // The server's samples of the measured phase only (not the connect phase, the
    // warm-up or the close), so first, last and drift compare like with like.
    let (from, to) = measured_window(res);
    let held: Vec<&ServerSample> =
        r.server_series.iter().filter(|s| s.t_s >= from && s.t_s <= to).collect();
    let rss: Vec<f64> = held.iter().map(|s| s.rss as f64).collect();
    let fds: Vec<f64> = held.iter().map(|s| s.fds as f64).collect();
    let _ = writeln!(
        md,
        "`{}`, {} s measured: {} of {} connections up, {} mismatched bytes, exit {}.\n",
        r.scenario,
        res.throughput.duration_s.round(),
        fmt_count(res.connections.established as f64),
        fmt_count(res.connections.requested as f64),
        res.errors.mismatch,
        r.exit_code.map_or("-".into(), |c| c.to_string())
    );
    let _ = writeln!(
        md,
        "The server's figures are of its samples from {from:.0} s to {to:.0} s after \
         loadgen started (the measured phase; the plot shows the whole run).\n"
    );
    let mut table =
        Table::new(&[("", L), ("first", R), ("last", R), ("min", R), ("max", R), ("drift", R)]);
    row(&mut table, "round trips/s", &rates, fmt_count);
    row(&mut table, "server RSS", &rss, fmt_bytes);
    row(&mut table, "server descriptors", &fds, fmt_count);
    table.write_into(md);
    let _ = writeln!(md, "\nThroughput per second ranged {}–{}.\n", fmt_count(lo), fmt_count(hi));
    let stem = format!("soak-{n}");
    charts(out, &stem, msgs, r)?;
    let _ = writeln!(
        md,
        "![soak throughput]({stem}-throughput.svg)\n![soak server]({stem}-server.svg)\n"
    );
    Ok(())
}

/// The soak's two plots, `out/<stem>-throughput.svg` (loadgen's `msgs` per second)
/// and `out/<stem>-server.svg` (the server's memory and descriptors).
fn charts(out: &Path, stem: &str, msgs: Vec<(f64, f64)>, r: &StepRecord) -> anyhow::Result<()> {
    let t = |f: fn(&ServerSample) -> f64| -> Vec<(f64, f64)> {
        r.server_series.iter().map(|s| (s.t_s, f(s))).collect()
    };
    let series = |label: &str, points| Series { label: label.into(), points };
    xy_chart(
        &out.join(format!("{stem}-throughput.svg")),
        "Soak: round trips per second",
        ("seconds into the measured phase", "round trips / s"),
        (false, false),
        &[series("loadgen msgs/s", msgs)],
    )
    .map_err(anyhow::Error::msg)?;
    xy_chart(
        &out.join(format!("{stem}-server.svg")),
        "Soak: the server's memory (MiB) and descriptors (thousands)",
        ("seconds since loadgen started", "MiB / thousands"),
        (false, false),
        &[
            series("RSS (MiB)", t(|s| s.rss as f64 / (1 << 20) as f64)),
            series("descriptors (thousands)", t(|s| s.fds as f64 / 1e3)),
        ],
    )
    .map_err(anyhow::Error::msg)?;
    Ok(())
}

/// Seconds after loadgen started when its measured phase began and ended: the
/// connect phase (connections over their connect rate), then the warm-up.
fn measured_window(res: &engine::result::RunResult) -> (f64, f64) {
    let c = &res.connections;
    let connect_s = if c.connect_rate_per_sec > 0.0 {
        c.established as f64 / c.connect_rate_per_sec
    } else {
        0.0
    };
    let from = connect_s + res.config.warmup_s;
    (from, from + res.throughput.duration_s)
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(*x), hi.max(*x)))
}

/// The mean of the last window over the mean of the first, as a signed percentage
/// (a window is a minute, or a fifth of a shorter series).
pub fn drift(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let w = (values.len() / 5).clamp(1, 60);
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let (first, last) = (mean(&values[..w]), mean(&values[values.len() - w..]));
    (first > 0.0).then(|| (last / first - 1.0) * 100.0)
}

fn row(table: &mut Table, what: &str, values: &[f64], fmt: impl Fn(f64) -> String) {
    let (Some(first), Some(last)) = (values.first(), values.last()) else { return };
    let (lo, hi) = min_max(values);
    let d = drift(values).map_or("-".into(), |d| format!("{d:+.1}%"));
    table.row(&[&what, &fmt(*first), &fmt(*last), &fmt(lo), &fmt(hi), &d]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flat is 0%; a rise from 100 to 110 between the first and last window is +10%.
    #[test]
    fn drift_compares_first_and_last_window() {
        assert_eq!(drift(&[5.0; 10]), Some(0.0));
        let rising: Vec<f64> = (0..100).map(|i| if i < 50 { 100.0 } else { 110.0 }).collect();
        assert!((drift(&rising).expect("drift") - 10.0).abs() < 1e-9);
        assert_eq!(drift(&[1.0]), None);
    }
}
