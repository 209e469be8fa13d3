//! The suite's report: one Markdown file with a section per question the suite asks
//! (how connections scale, what latency looks like across the histogram, how workers
//! and models compare, how evenly SO_REUSEPORT spreads connections, how echod stands
//! against its peers, where the four-tuple limits are), each with a short text on
//! what it shows and why, and the SVG plots beside it. With `--repeat N` each
//! scenario is represented by its median-throughput run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use echod::units::{fmt_bytes, fmt_count, fmt_micros};

use crate::plot::{percentile_chart, percentile_points, xy_chart, Series};
use crate::result::{decode_histogram, read as load_result, RunResult};
use crate::suite_index::{Section, Side, StepRecord, SuiteIndex};

/// One scenario's representative run.
struct Row<'a> {
    rec: &'a StepRecord,
    res: RunResult,
    /// How many repeats the scenario had.
    reps: usize,
}

/// Writes `report.md` and its plots into `out`; returns the report's path.
pub fn write(out: &Path, index: &SuiteIndex) -> anyhow::Result<PathBuf> {
    let rows = representative_rows(out, index);
    let by = |section: Section| -> Vec<&Row<'_>> {
        rows.iter().filter(|r| r.rec.section == section).collect()
    };
    let mut md = String::new();
    header(&mut md, index);
    super::builds::section(&mut md, out, index);
    scaling(&mut md, out, &by(Section::Scaling))?;
    servers_chart(&mut md, out, &rows)?;
    latency(&mut md, out, &by(Section::Scaling), &by(Section::OpenLoop))?;
    workers(&mut md, out, &by(Section::Workers))?;
    models(&mut md, &by(Section::Models));
    spread(&mut md, &rows);
    peers(&mut md, &by(Section::Peers), index.c_peer);
    super::tools::sections(&mut md, index);
    super::soak::section(&mut md, out, index)?;
    super::series::section(&mut md, out, index)?;
    ports(&mut md, out, index);
    failures(&mut md, index);
    super::tracking::write(out, index)?;
    let path = out.join("report.md");
    super::html::write(out, &md)?;
    std::fs::write(&path, md)?;
    Ok(path)
}

fn representative_rows<'a>(out: &Path, index: &'a SuiteIndex) -> Vec<Row<'a>> {
    let mut groups: BTreeMap<(usize, &str), Vec<(&StepRecord, RunResult)>> = BTreeMap::new();
    // With a base build, the sections show the build under test; the base build
    // has its own table ([`builds`]).
    for s in index.steps.iter().filter(|s| s.side != Some(Side::Base)) {
        let Some(file) = &s.record.result_file else { continue };
        let Ok(res) = load_result(out, file) else { continue };
        groups
            .entry((s.record.index, s.record.scenario.as_str()))
            .or_default()
            .push((&s.record, res));
    }
    groups
        .into_values()
        .map(|mut runs| {
            let reps = runs.len();
            runs.sort_by(|a, b| {
                a.1.throughput.msgs_per_sec.total_cmp(&b.1.throughput.msgs_per_sec)
            });
            let (rec, res) = runs.swap_remove(reps / 2);
            Row { rec, res, reps }
        })
        .collect()
}

fn header(md: &mut String, index: &SuiteIndex) {
    let e = &index.environment;
    let _ = writeln!(md, "# echod benchmark report\n");
    let _ = writeln!(
        md,
        "Profile **{}**, started {}, finished {}{}. Command: `{}`.\n",
        index.profile,
        index.started_at,
        index.finished_at,
        if index.interrupted { " — **interrupted**: what was measured until then" } else { "" },
        index.command.join(" ")
    );
    let _ = writeln!(md, "## The machine\n");
    let _ = writeln!(md, "| | |\n|:--|:--|");
    let mem = fmt_bytes(e.memory_total_bytes as f64);
    for (k, v) in [
        ("kernel", e.kernel.clone()),
        ("CPU", format!("{} × {}", e.cores, e.cpu_model)),
        ("memory", mem),
        ("ip_local_port_range", e.ip_local_port_range.clone()),
        ("RLIMIT_NOFILE soft/hard", format!("{}/{}", e.rlimit_nofile_soft, e.rlimit_nofile_hard)),
        ("somaxconn", e.somaxconn.clone()),
        ("tcp_tw_reuse", e.tcp_tw_reuse.clone()),
        ("git revision", e.git_revision.clone()),
    ] {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    let _ = writeln!(
        md,
        "\nAbsolute figures belong to this machine and this moment; ratios between servers \
         measured in the same run travel better. Every result file carries this fingerprint \
         and a calibration ping-pong taken right before it. Unless a section says otherwise \
         the server is pinned to the upper half of the cores and loadgen to the lower half \
         (on 2 cores: server on CPU 1, loadgen on CPU 0), so every round trip crosses cores; \
         the 1-connection row of the scaling table shows what one such round trip costs here, \
         and each result's calibration shows the same-core ping-pong taken before it.\n"
    );
}

fn ms(v: f64) -> String {
    fmt_micros(v)
}

fn scaling(md: &mut String, out: &Path, rows: &[&Row<'_>]) -> anyhow::Result<()> {
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
    let _ = writeln!(
        md,
        "| conns | msgs/s | p50 | p99 | p99.9 | mean | conns÷tput | connect rate | RSS idle → peak | bytes/conn | server fds peak | server CPU/rt | stop |\n\
         |--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    );
    let mut tput = Vec::new();
    let (mut p50, mut p99, mut p999) = (Vec::new(), Vec::new(), Vec::new());
    for r in rows {
        let t = r.res.throughput.msgs_per_sec;
        let l = &r.res.latency_us;
        let c = r.rec.conns as f64;
        let little = if t > 0.0 { c / t * 1e6 } else { 0.0 };
        let grew = r.rec.server_rss_peak.saturating_sub(r.rec.server_rss_idle) as f64;
        let cpu_rt = cpu_per_rt(r);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {}/s | {} → {} | {:.0} | {} | {} | {} |",
            r.rec.conns,
            fmt_count(t),
            ms(l.p50),
            ms(l.p99),
            ms(l.p999),
            ms(l.mean),
            ms(little),
            fmt_count(r.res.connections.connect_rate_per_sec.round()),
            fmt_bytes(r.rec.server_rss_idle as f64),
            fmt_bytes(r.rec.server_rss_peak as f64),
            grew / c.max(1.0),
            fmt_count(r.rec.server_fds_peak as f64),
            cpu_rt.map_or("-".into(), ms),
            ms(r.rec.server_stop_s * 1e6)
        );
        tput.push((c, t));
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
    .map_err(anyhow::Error::msg)?;
    let _ =
        writeln!(md, "\n![throughput](scaling-throughput.svg)\n![latency](scaling-latency.svg)\n");
    let reps = rows.iter().map(|r| r.reps).max().unwrap_or(1);
    if reps > 1 {
        let _ = writeln!(md, "Each row is the median-throughput run of {reps} repeats.\n");
    }
    Ok(())
}

/// Every server of the run on the same axes: throughput by connections of echod
/// (scaling), each echod model, tokio-echo and the C server (peers), one line each.
fn servers_chart(md: &mut String, out: &Path, rows: &[Row<'_>]) -> anyhow::Result<()> {
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

/// Server CPU seconds per round trip, counting the measured rate over loadgen's whole
/// run (warm-up included), in µs.
fn cpu_per_rt(r: &Row<'_>) -> Option<f64> {
    let rts = r.res.throughput.msgs_per_sec * (r.res.config.duration_s + r.res.config.warmup_s);
    (r.rec.server_cpu_s > 0.0 && rts > 0.0).then(|| r.rec.server_cpu_s / rts * 1e6)
}

fn latency(
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
    let _ = writeln!(
        md,
        "| conns | rate asked | achieved | p50 | p99 | p99.9 | max | uncorrected p99 | uncorrected p99.9 | schedule lag p99 |\n\
         |--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    );
    let mut curves = Vec::new();
    for r in open {
        let l = &r.res.latency_us;
        let u = r.res.latency_uncorrected_us.clone().unwrap_or_default();
        let lag = r.res.schedule_lag_us.clone().unwrap_or_default();
        let _ = writeln!(
            md,
            "| {} | {}/s | {}/s | {} | {} | {} | {} | {} | {} | {} |",
            r.rec.conns,
            fmt_count(r.rec.rate.unwrap_or(0.0)),
            fmt_count(r.res.throughput.msgs_per_sec),
            ms(l.p50),
            ms(l.p99),
            ms(l.p999),
            ms(l.max),
            ms(u.p99),
            ms(u.p999),
            ms(lag.p99)
        );
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

/// Throughput of the row at `conns` whose server label passes `is_base` (0 if none),
/// the denominator of a ratio column.
fn base_rate(rows: &[&Row<'_>], conns: u64, is_base: impl Fn(&str) -> bool) -> f64 {
    rows.iter()
        .find(|b| b.rec.conns == conns && is_base(&b.rec.server))
        .map_or(0.0, |b| b.res.throughput.msgs_per_sec)
}

fn workers(md: &mut String, out: &Path, rows: &[&Row<'_>]) -> anyhow::Result<()> {
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

fn models(md: &mut String, rows: &[&Row<'_>]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Models\n");
    let _ = writeln!(
        md,
        "The same echo three ways: `reuseport` (a listener and an event loop per worker, the \
         kernel hashing the four-tuple to pick one), `shared` (one listener in every worker's \
         poll: one accept queue, workers woken together), `threads` (a blocking thread per \
         connection: a stack and a context switch per message). Ratio is to reuseport at the \
         same connection count.\n"
    );
    let _ = writeln!(md, "| conns | model | msgs/s | ratio | p50 | p99 | server CPU/rt |\n|--:|:--|--:|--:|--:|--:|--:|");
    for r in rows {
        let base = base_rate(rows, r.rec.conns, |s| s.contains("reuseport"));
        let model = r.rec.server.split_whitespace().nth(1).unwrap_or("?");
        let _ = writeln!(
            md,
            "| {} | {model} | {} | {} | {} | {} | {} |",
            r.rec.conns,
            fmt_count(r.res.throughput.msgs_per_sec),
            ratio(r.res.throughput.msgs_per_sec, base),
            ms(r.res.latency_us.p50),
            ms(r.res.latency_us.p99),
            cpu_per_rt(r).map_or("-".into(), ms)
        );
    }
    let _ = writeln!(md);
}

fn ratio(v: f64, base: f64) -> String {
    if base > 0.0 {
        format!("{:.2}", v / base)
    } else {
        "-".into()
    }
}

fn spread(md: &mut String, rows: &[Row<'_>]) {
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

fn peers(md: &mut String, rows: &[&Row<'_>], c_peer: bool) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Peers, in the same run\n");
    let _ = writeln!(
        md,
        "echod against tokio-echo (this project's benches/tokio-echo: tokio, a task per \
         connection){} — each pinned to the same server cores, driven by the same loadgen. \
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
    let _ = writeln!(md, "| conns | server | msgs/s | ratio to echod | p50 | p99 | p99.9 | server CPU/rt |\n|--:|:--|--:|--:|--:|--:|--:|--:|");
    for r in rows {
        let base = base_rate(rows, r.rec.conns, |s| s.starts_with("echod"));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.rec.conns,
            r.rec.server,
            fmt_count(r.res.throughput.msgs_per_sec),
            ratio(r.res.throughput.msgs_per_sec, base),
            ms(r.res.latency_us.p50),
            ms(r.res.latency_us.p99),
            ms(r.res.latency_us.p999),
            cpu_per_rt(r).map_or("-".into(), ms)
        );
    }
    let _ = writeln!(md);
}

fn ports(md: &mut String, out: &Path, index: &SuiteIndex) {
    let _ = writeln!(md, "## Four-tuples: ports per family, sources, destinations, TIME_WAIT\n");
    let text =
        index.ports_file.as_ref().and_then(|_| std::fs::read_to_string(out.join("ports.txt")).ok());
    match text {
        Some(t) => {
            let _ = writeln!(
                md,
                "`loadgen ports` in a private network namespace with a narrowed \
                 ip_local_port_range, measured against the prediction. A family (source IP, \
                 destination IP, destination port) holds one connection per ephemeral port; \
                 source addresses bound with IP_BIND_ADDRESS_NO_PORT and destination addresses \
                 each add a family; a plain bind() reserves a port per socket whatever the \
                 destination (EADDRINUSE); ports in TIME_WAIT stay taken unless tcp_tw_reuse \
                 lets connect() take them back. Below the table, the server's side: every \
                 accepted socket has the listener's port, and only the peer differs.\n\n```text\n{}```\n",
                t
            );
        }
        None => {
            let _ = writeln!(md, "Not run: {}\n", index.ports_note.as_deref().unwrap_or("unknown"));
        }
    }
}

fn failures(md: &mut String, index: &SuiteIndex) {
    let bad: Vec<_> = index
        .steps
        .iter()
        .filter(|s| s.record.error.is_some() || s.record.exit_code != Some(0))
        .collect();
    if bad.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Steps that did not finish cleanly\n");
    for s in bad {
        let _ = writeln!(
            md,
            "- rep {}{} `{}`: exit {:?}{}",
            s.rep,
            s.side.map_or(String::new(), |side| format!(" [{}]", side.folder())),
            s.record.scenario,
            s.record.exit_code,
            s.record.error.as_ref().map_or(String::new(), |e| format!(" — {e}"))
        );
    }
    let _ = writeln!(md);
}
