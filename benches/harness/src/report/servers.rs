//! The report's sections on echod's configurations and its peers: workers pinned
//! and unpinned, the three models, how SO_REUSEPORT spread connections over the
//! workers, and the peers measured in the same run.

use std::fmt::Write as _;
use std::path::Path;

use common::units::fmt_count;

use super::rows::{
    base_rate, cpu_per_rt, ms, ratio, syscalls_cell, syscalls_note, write_skipped, Row,
};
use crate::plot::{xy_chart, Series};

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
    let _ = writeln!(md, "| workers | pinned | msgs/s | p50 | p99 |\n|--:|:--|--:|--:|--:|");
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
        let _ = writeln!(
            md,
            "| {w} | {} | {} | {} | {} |",
            if is_pinned { "yes" } else { "no" },
            fmt_count(r.res.throughput.msgs_per_sec),
            ms(r.res.latency_us.p50),
            ms(r.res.latency_us.p99)
        );
        let list = if is_pinned { &mut pinned } else { &mut unpinned };
        list.push((w, r.res.throughput.msgs_per_sec));
    }
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

pub(super) fn models(md: &mut String, rows: &[&Row<'_>], skipped: &[(&str, &str)]) {
    if rows.is_empty() && skipped.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Models\n");
    let _ = writeln!(
        md,
        "The same echo four ways: `reuseport` (a listener and an epoll loop per worker, the \
         kernel hashing the four-tuple to pick one), `shared` (one listener in every worker's \
         poll: one accept queue, workers woken together), `threads` (a blocking thread per \
         connection: a stack and a context switch per message), `uring` (the reuseport shape \
         over io_uring: multishot accept and receive into provided buffers, a loop turn's \
         sends submitted together). Ratio is to reuseport at the same connection count.\n"
    );
    let _ = writeln!(md, "| conns | model | msgs/s | ratio | p50 | p99 | server CPU/rt | syscalls/rt |\n|--:|:--|--:|--:|--:|--:|--:|--:|");
    for r in rows {
        let base = base_rate(rows, r.rec.conns, |s| s.contains("reuseport"));
        let model = r.rec.server.split_whitespace().nth(1).unwrap_or("?");
        let _ = writeln!(
            md,
            "| {} | {model} | {} | {} | {} | {} | {} | {} |",
            r.rec.conns,
            fmt_count(r.res.throughput.msgs_per_sec),
            ratio(r.res.throughput.msgs_per_sec, base),
            ms(r.res.latency_us.p50),
            ms(r.res.latency_us.p99),
            cpu_per_rt(r).map_or("-".into(), ms),
            syscalls_cell(r)
        );
    }
    let _ = writeln!(md);
    write_skipped(md, skipped);
    let note = syscalls_note(rows);
    if !note.is_empty() {
        let _ = writeln!(md, "{note}\n");
    }
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
    let _ = writeln!(
        md,
        "| run | accepted per worker | expected | σ | worst deviation |\n|:--|:--|--:|--:|--:|"
    );
    for r in multi {
        let a = &r.rec.worker_accepted;
        let n: u64 = a.iter().sum();
        let w = a.len() as f64;
        let expected = n as f64 / w;
        let sigma = (n as f64 * (1.0 / w) * (1.0 - 1.0 / w)).sqrt();
        let worst = a.iter().map(|&x| (x as f64 - expected).abs()).fold(0.0, f64::max);
        let list: Vec<String> = a.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            md,
            "| {} | {} | {expected:.0} | {sigma:.1} | {:.1}σ |",
            r.rec.scenario,
            list.join(" / "),
            if sigma > 0.0 { worst / sigma } else { 0.0 }
        );
    }
    let _ = writeln!(md);
}

pub(super) fn peers(md: &mut String, rows: &[&Row<'_>], c_peer: bool, skipped: &[(&str, &str)]) {
    if rows.is_empty() && skipped.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Peers, in the same run\n");
    let _ = writeln!(
        md,
        "echod (epoll, and its io_uring model) against tokio-echo (this project's \
         benches/tokio-echo: tokio, a task per connection){} — each pinned to the same server cores, driven by the same loadgen. \
         Ratios are to echod at the same connection count; server CPU per round trip comes \
         from the server's utime+stime over the run.\n",
        if c_peer {
            " and the reference C epoll server from ../shared/peers"
        } else {
            " (the reference C server was not found)"
        }
    );
    let reps = rows.iter().map(|r| r.reps).max().unwrap_or(1);
    if reps > 1 {
        let _ = writeln!(md, "Each row is the median-throughput run of {reps} repeats.\n");
    } else {
        let _ = writeln!(
            md,
            "Single runs: on a shared machine consecutive runs of the same server can move \
             by 30% (compare the same echod configuration in the models section); quote ratios \
             from `--repeat 3` medians.\n"
        );
    }
    let _ = writeln!(md, "| conns | server | msgs/s | ratio to echod | p50 | p99 | p99.9 | server CPU/rt | syscalls/rt |\n|--:|:--|--:|--:|--:|--:|--:|--:|--:|");
    for r in rows {
        let base = base_rate(rows, r.rec.conns, |s| s.starts_with("echod reuseport"));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.rec.conns,
            r.rec.server,
            fmt_count(r.res.throughput.msgs_per_sec),
            ratio(r.res.throughput.msgs_per_sec, base),
            ms(r.res.latency_us.p50),
            ms(r.res.latency_us.p99),
            ms(r.res.latency_us.p999),
            cpu_per_rt(r).map_or("-".into(), ms),
            syscalls_cell(r)
        );
    }
    let _ = writeln!(md);
    write_skipped(md, skipped);
    let note = syscalls_note(rows);
    if !note.is_empty() {
        let _ = writeln!(md, "{note}\n");
    }
}
