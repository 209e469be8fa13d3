//! The report's sections on echod's configurations and its peers: workers pinned
//! and unpinned, the three models, how SO_REUSEPORT spread connections over the
//! workers, and the peers measured in the same run.

use std::fmt::Write as _;
use std::path::Path;

use common::units::fmt_count;

use super::pairs::{self, Pairing};
use super::rows::{cpu_per_rt, ms, syscalls_cell, syscalls_note, write_skipped, Row};
use crate::plot::{interval_chart, xy_chart, Estimate, Series};
use crate::table::{Align::Left as L, Align::Right as R, Table};

pub(super) fn workers(md: &mut String, out: &Path, rows: &[&Row<'_>]) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let _ = writeln!(md, "## Workers\n");
    let _ = writeln!(
        md,
        "echod with 1..cores workers, pinned and unpinned, 1,000 connections. Here echod gets \
         every core and loadgen shares them, so on a small machine the client competes with \
         the server: extra workers help only while a core is idle. The 16-core scaling belongs \
         in a run on a larger machine.\n"
    );
    let mut table =
        Table::new(&[("workers", R), ("pinned", L), ("msgs/s", R), ("p50", R), ("p99", R)]);
    let mut pinned = Vec::new();
    let mut unpinned = Vec::new();
    for r in rows {
        let is_pinned = !r.rec.server.contains("unpinned");
        let w = r
            .rec
            .server
            .split("w=")
            .nth(1)
            .and_then(|s| s.split(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0);
        table.row(&[
            &w,
            &if is_pinned { "yes" } else { "no" },
            &fmt_count(r.res.throughput.msgs_per_sec),
            &ms(r.res.latency_us.p50),
            &ms(r.res.latency_us.p99),
        ]);
        let list = if is_pinned { &mut pinned } else { &mut unpinned };
        list.push((w, r.res.throughput.msgs_per_sec));
    }
    table.write_into(md);
    let mut series = vec![Series { label: "echod reuseport, pinned".into(), points: pinned }];
    if !unpinned.is_empty() {
        series.push(Series { label: "echod reuseport, unpinned".into(), points: unpinned });
    }
    xy_chart(
        &out.join("workers.svg"),
        "Throughput by workers (1,000 connections)",
        ("workers", "round trips / s"),
        (false, false),
        &series,
    )
    .map_err(anyhow::Error::msg)?;
    let _ = writeln!(md, "\n![workers](workers.svg)\n");
    Ok(())
}

pub(super) fn models(
    md: &mut String,
    pairing: Pairing<'_>,
    rows: &[&Row<'_>],
    skipped: &[(&str, &str)],
) -> anyhow::Result<()> {
    if rows.is_empty() && skipped.is_empty() {
        return Ok(());
    }
    let _ = writeln!(md, "## Models\n");
    let _ = writeln!(
        md,
        "The same echo four ways: `reuseport` (a listener and an epoll loop per worker, the \
         kernel hashing the four-tuple to pick one), `shared` (one listener in every worker's \
         poll: one accept queue, workers woken together), `threads` (a blocking thread per \
         connection: a stack and a context switch per message), `uring` (the reuseport shape \
         over io_uring: multishot accept and receive into provided buffers, a loop turn's \
         sends submitted together). Ratios are to reuseport at the same connection count.\n"
    );
    let reference = |r: &Row<'_>| reference_row(rows, r.rec.conns, |s| s.contains("reuseport"));
    let (table, ratios) = ratio_table(pairing, rows, reference, |r| {
        r.rec.server.split_whitespace().nth(1).unwrap_or("?").to_string()
    });
    table.write_into(md);
    let _ = writeln!(md);
    forest(md, pairing.out, ("models", "each model ÷ reuseport"), &ratios)?;
    write_skipped(md, skipped);
    let reps = rows.iter().map(|r| r.reps).max().unwrap_or(1);
    let _ = writeln!(md, "{}\n", pairs::note(reps));
    let note = syscalls_note(rows);
    if !note.is_empty() {
        let _ = writeln!(md, "{note}\n");
    }
    Ok(())
}

/// The forest plot of a table's ratios per server CPU-second (`NAME-ratios.svg`),
/// embedded; nothing when no row has a ratio.
pub(super) fn forest(
    md: &mut String,
    out: &Path,
    (name, what): (&str, &str),
    ratios: &[Estimate],
) -> anyhow::Result<()> {
    if ratios.is_empty() {
        return Ok(());
    }
    let file = format!("{name}-ratios.svg");
    let per = if name == "churn" { "new connections" } else { "round trips" };
    let title = format!("{what}: {per} per server CPU-second, 95% intervals");
    interval_chart(&out.join(&file), &title, "ratio (log scale; 1 = the same)", ratios)
        .map_err(anyhow::Error::msg)?;
    let _ = writeln!(
        md,
        "![{what}, per server CPU-second, with 95% intervals]({file})\n\nA dot is the \
         estimate, a whisker its 95% interval (a hollow dot: too few pairs for one); a \
         whisker across the line at 1 is \"no difference shown\".\n"
    );
    Ok(())
}

/// The scenario of the row at `conns` whose server label passes `is_reference`.
fn reference_row<'r>(
    rows: &[&'r Row<'_>],
    conns: u64,
    is_reference: impl Fn(&str) -> bool,
) -> Option<&'r str> {
    rows.iter()
        .find(|b| b.rec.conns == conns && is_reference(&b.rec.server))
        .map(|b| b.rec.scenario.as_str())
}

/// The table of servers with their paired ratios to a reference (`reference` gives
/// a row's reference scenario; `name` its server's name in the table).
fn ratio_table<'r>(
    pairing: Pairing<'_>,
    rows: &[&'r Row<'_>],
    reference: impl Fn(&Row<'_>) -> Option<&'r str>,
    name: impl Fn(&Row<'_>) -> String,
) -> (Table, Vec<Estimate>) {
    let mut table = Table::new(&[
        ("conns", R),
        ("server", L),
        ("msgs/s", R),
        ("ratio [95%]", R),
        ("per server CPU-s [95%]", R),
        ("reading", L),
        ("p50", R),
        ("p99", R),
        ("p99.9", R),
        ("server CPU/rt", R),
        ("syscalls/rt", R),
    ]);
    let mut estimates = Vec::new();
    for r in rows {
        let den = reference(r);
        if let Some(den) = den.filter(|den| *den != r.rec.scenario) {
            let per_cpu = pairing.ratio(den, &r.rec.scenario, pairs::per_server_cpu);
            let reference_name = rows
                .iter()
                .find(|x| x.rec.scenario == den)
                .map_or_else(|| den.to_string(), |x| name(x));
            let label = format!("{} ÷ {reference_name}, {} conns", name(r), r.rec.conns);
            estimates.extend(pairs::estimate(label, &per_cpu));
        }
        let (ratio, per_cpu) = match den {
            Some(den) => (
                pairing.ratio(den, &r.rec.scenario, pairs::throughput),
                pairing.ratio(den, &r.rec.scenario, pairs::per_server_cpu),
            ),
            None => {
                let none = Err(paired_none());
                (none, none)
            }
        };
        table.row(&[
            &r.rec.conns,
            &name(r),
            &fmt_count(r.res.throughput.msgs_per_sec),
            &pairs::cell(&ratio),
            &pairs::cell(&per_cpu),
            &pairs::reading(&per_cpu),
            &ms(r.res.latency_us.p50),
            &ms(r.res.latency_us.p99),
            &ms(r.res.latency_us.p999),
            &cpu_per_rt(r).map_or("-".into(), ms),
            &syscalls_cell(r),
        ]);
    }
    (table, estimates)
}

/// No ratio: no reference row.
fn paired_none() -> crate::compare::paired::TooFew {
    crate::compare::paired::TooFew { estimate: None, n: 0, paired: true }
}

pub(super) fn spread(md: &mut String, rows: &[Row<'_>]) {
    let multi: Vec<&Row<'_>> = rows.iter().filter(|r| r.rec.worker_accepted.len() > 1).collect();
    if multi.is_empty() {
        return;
    }
    let _ = writeln!(md, "## How SO_REUSEPORT spread the connections\n");
    let _ = writeln!(
        md,
        "Connections each worker accepted (from echod's `--stats-json`), against what hashing \
         predicts: with n connections over w workers each gets n/w ± √(n·(1/w)·(1−1/w)) (one \
         standard deviation, a binomial draw per connection). The kernel hashes the four-tuple, \
         so the spread is random, not round-robin.\n"
    );
    let mut table = Table::new(&[
        ("run", L),
        ("accepted per worker", L),
        ("expected", R),
        ("σ", R),
        ("worst deviation", R),
    ]);
    for r in multi {
        let a = &r.rec.worker_accepted;
        let n: u64 = a.iter().sum();
        let w = a.len() as f64;
        let expected = n as f64 / w;
        let sigma = (n as f64 * (1.0 / w) * (1.0 - 1.0 / w)).sqrt();
        let worst = a.iter().map(|&x| (x as f64 - expected).abs()).fold(0.0, f64::max);
        let list: Vec<String> = a.iter().map(ToString::to_string).collect();
        let deviation = if sigma > 0.0 { worst / sigma } else { 0.0 };
        table.row(&[
            &r.rec.scenario,
            &list.join(" / "),
            &format!("{expected:.0}"),
            &format!("{sigma:.1}"),
            &format!("{deviation:.1}σ"),
        ]);
    }
    table.write_into(md);
    let _ = writeln!(md);
}

pub(super) fn peers(
    md: &mut String,
    pairing: Pairing<'_>,
    rows: &[&Row<'_>],
    skipped: &[(&str, &str)],
) -> anyhow::Result<()> {
    if rows.is_empty() && skipped.is_empty() {
        return Ok(());
    }
    let _ = writeln!(md, "## Peers, in the same run\n");
    let c_peer = pairing.index.c_peer;
    let _ = writeln!(
        md,
        "echod (epoll, and its io_uring model) against tokio-echo (this project's \
         benches/tokio-echo: tokio, a task per connection){} — each pinned to the same server \
         cores, driven by the same loadgen. Ratios are to echod at the same connection count; \
         server CPU per round trip is the server's CPU time (every thread) over the measured \
         window.\n",
        if c_peer {
            " and the reference C epoll server from ../shared/peers"
        } else {
            " (the reference C server was not found)"
        }
    );
    let reference =
        |r: &Row<'_>| reference_row(rows, r.rec.conns, |s| s.starts_with("echod reuseport"));
    let (table, ratios) = ratio_table(pairing, rows, reference, |r| r.rec.server.clone());
    table.write_into(md);
    let _ = writeln!(md);
    forest(md, pairing.out, ("peers", "each server ÷ echod"), &ratios)?;
    write_skipped(md, skipped);
    let reps = rows.iter().map(|r| r.reps).max().unwrap_or(1);
    let _ = writeln!(md, "{}\n", pairs::note(reps));
    let note = syscalls_note(rows);
    if !note.is_empty() {
        let _ = writeln!(md, "{note}\n");
    }
    Ok(())
}
