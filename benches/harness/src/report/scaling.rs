//! The report's connection-scaling and latency sections: throughput, percentiles,
//! memory and descriptors by connection count, every server on one chart, and the
//! latency histograms (closed loop, open loop corrected and not).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use common::units::{fmt_bytes, fmt_count};

use super::rows::{cpu_per_rt, ms, Row};
use crate::plot::{percentile_chart, percentile_points, xy_chart, Series};
use crate::suite_index::Section;
use crate::table::{Align::Right as R, Table};
use engine::result::decode_histogram;

pub(super) fn scaling(md: &mut String, out: &Path, rows: &[&Row<'_>]) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let _ = writeln!(md, "## Connection scaling\n");
    let _ = writeln!(
        md,
        "Closed loop, 64-byte messages, one in flight per connection, echod `reuseport`. \
         Throughput rises while the server's core still has idle time and flattens once it is \
         saturated; past that point every extra connection only queues, so latency grows with \
         the connection count (Little's law: connections ÷ throughput ≈ mean latency, shown \
         beside the measured mean). Memory is the server's RSS once listening and at its peak \
         under load; bytes per connection is their difference over the connections. Server \
         descriptors are the most its processes held at once (one per connection, sampled \
         every 100 ms); stop is how long it took to exit after SIGTERM.\n"
    );
    scaling_table(md, rows);
    scaling_charts(out, rows)?;
    let _ =
        writeln!(md, "\n![throughput](scaling-throughput.svg)\n![latency](scaling-latency.svg)\n");
    let reps = rows.iter().map(|r| r.reps).max().unwrap_or(1);
    if reps > 1 {
        let _ = writeln!(md, "Each row is the median-throughput run of {reps} repeats.\n");
    }
    for r in rows {
        if let Some(why) = &r.res.host_bound {
            let _ = writeln!(
                md,
                "The {}-connection figure is the host's more than the code's ({why}): \
                 `loadgen compare` shows it but does not gate on it between results from \
                 different machines.\n",
                r.rec.conns
            );
        }
    }
    Ok(())
}

/// The scaling table: one row per connection count.
fn scaling_table(md: &mut String, rows: &[&Row<'_>]) {
    let mut table = Table::new(&[
        ("conns", R),
        ("msgs/s", R),
        ("p50", R),
        ("p99", R),
        ("p99.9", R),
        ("mean", R),
        ("conns÷tput", R),
        ("connect rate", R),
        ("RSS idle → peak", R),
        ("bytes/conn", R),
        ("server fds peak", R),
        ("server CPU/rt", R),
        ("stop", R),
    ]);
    for r in rows {
        let t = r.res.throughput.msgs_per_sec;
        let l = &r.res.latency_us;
        let c = r.rec.conns as f64;
        let little = if t > 0.0 { c / t * 1e6 } else { 0.0 };
        let grew = r.rec.server_rss_peak.saturating_sub(r.rec.server_rss_idle) as f64;
        let rss =
            (fmt_bytes(r.rec.server_rss_idle as f64), fmt_bytes(r.rec.server_rss_peak as f64));
        table.row(&[
            &r.rec.conns,
            &fmt_count(t),
            &ms(l.p50),
            &ms(l.p99),
            &ms(l.p999),
            &ms(l.mean),
            &ms(little),
            &format!("{}/s", fmt_count(r.res.connections.connect_rate_per_sec.round())),
            &format!("{} → {}", rss.0, rss.1),
            &format!("{:.0}", grew / c.max(1.0)),
            &fmt_count(r.rec.server_fds_peak as f64),
            &cpu_per_rt(r).map_or("-".into(), ms),
            &ms(r.rec.server_stop_s * 1e6),
        ]);
    }
    table.write_into(md);
}

/// Throughput and latency by connections, into `out`.
fn scaling_charts(out: &Path, rows: &[&Row<'_>]) -> anyhow::Result<()> {
    let mut tput = Vec::new();
    let (mut p50, mut p99, mut p999) = (Vec::new(), Vec::new(), Vec::new());
    for r in rows {
        let (c, l) = (r.rec.conns as f64, &r.res.latency_us);
        tput.push((c, r.res.throughput.msgs_per_sec));
        p50.push((c, l.p50));
        p99.push((c, l.p99));
        p999.push((c, l.p999));
    }
    let s = |label: &str, points| Series { label: label.into(), points };
    let server = rows.first().map_or("echod", |r| r.rec.server.as_str());
    xy_chart(
        &out.join("scaling-throughput.svg"),
        "Throughput by connections (echod reuseport, closed loop)",
        ("connections", "round trips / s"),
        (true, false),
        &[s(&format!("{server}, closed loop"), tput)],
    )
    .map_err(anyhow::Error::msg)?;
    xy_chart(
        &out.join("scaling-latency.svg"),
        "Latency by connections",
        ("connections", "latency (µs)"),
        (true, true),
        &[s("p50", p50), s("p99", p99), s("p99.9", p999)],
    )
    .map_err(anyhow::Error::msg)
}

/// Every server of the run on the same axes: throughput by connections of echod
/// (scaling), each echod model, tokio-echo and the C server (peers), one line each.
pub(super) fn servers_chart(md: &mut String, out: &Path, rows: &[Row<'_>]) -> anyhow::Result<()> {
    let mut by_server: BTreeMap<&str, BTreeMap<u64, f64>> = BTreeMap::new();
    for section in [Section::Scaling, Section::Models, Section::Peers] {
        for r in rows.iter().filter(|r| r.rec.section == section) {
            let points = by_server.entry(r.rec.server.as_str()).or_default();
            // The scaling step's figure stands when a later section ran the same.
            points.entry(r.rec.conns).or_insert(r.res.throughput.msgs_per_sec);
        }
    }
    if by_server.len() < 2 {
        return Ok(());
    }
    let series: Vec<Series> = by_server
        .into_iter()
        .map(|(server, points)| Series {
            label: server.to_string(),
            points: points.into_iter().map(|(c, t)| (c as f64, t)).collect(),
        })
        .collect();
    xy_chart(
        &out.join("servers-throughput.svg"),
        "Throughput by connections: echod, its models and its peers (closed loop)",
        ("connections", "round trips / s"),
        (true, false),
        &series,
    )
    .map_err(anyhow::Error::msg)?;
    let _ = writeln!(
        md,
        "Every server of this run on the same axes (from the scaling, models and peers \
         sections):\n\n![servers](servers-throughput.svg)\n"
    );
    Ok(())
}

pub(super) fn latency(
    md: &mut String,
    out: &Path,
    scaling: &[&Row<'_>],
    open: &[&Row<'_>],
) -> anyhow::Result<()> {
    let _ = writeln!(md, "## Latency histograms\n");
    let _ = writeln!(
        md,
        "The whole distribution, drawn as the HdrHistogram plotter does: latency against \
         percentile on a log 1/(1−p) axis, so the tail gets as much room as the median. The \
         full histograms are in each run's JSON (base64 HdrHistogram V2).\n"
    );
    let curves: Vec<Series> = scaling
        .iter()
        .filter_map(|r| {
            let h = decode_histogram(&r.res.histograms.latency).ok()?;
            let label = format!("{}, {} conns", r.rec.server, r.rec.conns);
            Some(Series { label, points: percentile_points(&h) })
        })
        .collect();
    chart_into(md, out, "latency-percentiles.svg", "Closed-loop latency by percentile", &curves)?;
    if open.is_empty() {
        return Ok(());
    }
    let _ = writeln!(
        md,
        "### Open loop: corrected and uncorrected\n\nOpen loop at half the closed-loop \
         throughput measured at the same connection count. Corrected latency is measured from \
         each message's intended send time, so a stall shows in the tail for every message it \
         delayed; uncorrected latency (what a closed-loop tool reports) starts the clock when \
         the message actually left and hides that wait (coordinated omission). Schedule lag \
         is how far loadgen itself fell behind its schedule.\n"
    );
    open_table(md, open);
    let mut curves = Vec::new();
    for r in open {
        for (label, h) in [
            ("corrected", Some(&r.res.histograms.latency)),
            ("uncorrected", r.res.histograms.latency_uncorrected.as_ref()),
        ] {
            if let Some(h) = h.and_then(|t| decode_histogram(t).ok()) {
                curves.push(Series {
                    label: format!("{} conns {label}", r.rec.conns),
                    points: percentile_points(&h),
                });
            }
        }
    }
    let _ = writeln!(md);
    chart_into(md, out, "open-loop.svg", "Open loop: corrected vs uncorrected", &curves)
}

/// The open-loop table: corrected and uncorrected percentiles, schedule lag.
fn open_table(md: &mut String, open: &[&Row<'_>]) {
    let mut table = Table::new(&[
        ("conns", R),
        ("rate asked", R),
        ("achieved", R),
        ("p50", R),
        ("p99", R),
        ("p99.9", R),
        ("max", R),
        ("uncorrected p99", R),
        ("uncorrected p99.9", R),
        ("schedule lag p99", R),
    ]);
    for r in open {
        let l = &r.res.latency_us;
        let u = r.res.latency_uncorrected_us.clone().unwrap_or_default();
        let lag = r.res.schedule_lag_us.clone().unwrap_or_default();
        table.row(&[
            &r.rec.conns,
            &format!("{}/s", fmt_count(r.rec.rate.unwrap_or(0.0))),
            &format!("{}/s", fmt_count(r.res.throughput.msgs_per_sec)),
            &ms(l.p50),
            &ms(l.p99),
            &ms(l.p999),
            &ms(l.max),
            &ms(u.p99),
            &ms(u.p999),
            &ms(lag.p99),
        ]);
    }
    table.write_into(md);
}

/// Draws a percentile chart into `out/file` and links it from the report (nothing
/// when there are no curves).
fn chart_into(
    md: &mut String,
    out: &Path,
    file: &str,
    title: &str,
    curves: &[Series],
) -> anyhow::Result<()> {
    if curves.is_empty() {
        return Ok(());
    }
    percentile_chart(&out.join(file), title, curves).map_err(anyhow::Error::msg)?;
    let _ = writeln!(md, "![{title}]({file})\n");
    Ok(())
}
