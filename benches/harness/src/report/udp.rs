//! The report's UDP section: echod `--proto udp` beside the C UDP server (batched,
//! and a datagram per call) and beside echod's own TCP at the same counts (from the
//! scaling section), closed loop; then loss against offered rate, open loop, with
//! its plot.

use std::fmt::Write as _;
use std::path::Path;

use common::units::fmt_count;

use super::pairs::{self, Pairing};
use super::rows::{cpu_per_rt, ms, syscalls_cell, syscalls_note, Row};
use crate::plot::{xy_chart, Series};
use crate::table::{Align::Left as L, Align::Right as R, Table};

pub(super) fn section(
    md: &mut String,
    pairing: Pairing<'_>,
    rows: &[&Row<'_>],
    scaling: &[&Row<'_>],
) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let _ = writeln!(md, "## UDP beside TCP\n");
    let _ = writeln!(
        md,
        "The other half of demultiplexing. TCP hands a segment to the socket of its whole \
         four-tuple: every accepted connection is a socket of its own, all on the listening \
         port. UDP looks at the destination port: one socket per echod worker (SO_REUSEPORT \
         spreads the flows over them by hashing) receives from every flow. loadgen runs \
         `--proto udp`: each flow is a connected UDP socket from its own ephemeral port, \
         every datagram carries its flow and sequence number and is verified, and a datagram \
         not answered within the timeout counts as lost (the flow goes on). The C server is \
         ../shared/peers' `udp_echo` (b=32: up to 32 datagrams per recvmmsg/sendmmsg; b=1: \
         one per call). echod TCP is the scaling section's run at the same count. Round \
         trips per server CPU-second (the server's CPU time over the measured window) is \
         the figure that travels: on a small machine the client's core bounds the rate. \
         Its ratios pair each repeat's runs (95% intervals).\n"
    );
    closed(md, pairing, rows, scaling);
    open(md, pairing.out, rows)
}

/// Closed loop: one table, each count's UDP servers and echod TCP.
fn closed(md: &mut String, pairing: Pairing<'_>, rows: &[&Row<'_>], scaling: &[&Row<'_>]) {
    let closed: Vec<&Row<'_>> = rows.iter().copied().filter(|r| r.rec.rate.is_none()).collect();
    if closed.is_empty() {
        return;
    }
    let mut table = Table::new(&[
        ("flows", R),
        ("server", L),
        ("msgs/s", R),
        ("rt per server CPU-s", R),
        ("per CPU-s to udp_echo b=32 [95%]", R),
        ("per CPU-s to echod TCP [95%]", R),
        ("p50", R),
        ("p99", R),
        ("lost", R),
        ("syscalls/rt", R),
    ]);
    let mut counts: Vec<u64> = closed.iter().map(|r| r.rec.conns).collect();
    counts.dedup();
    for conns in counts {
        let tcp = scaling
            .iter()
            .copied()
            .find(|r| r.rec.conns == conns && r.rec.server.starts_with("echod reuseport"));
        let at: Vec<&Row<'_>> = closed.iter().copied().filter(|r| r.rec.conns == conns).collect();
        let per_cpu = |r: &Row<'_>| cpu_per_rt(r).map(|us| 1e6 / us);
        let c_udp = at.iter().find(|r| r.rec.server.contains("b=32")).map(|r| &r.rec.scenario);
        let tcp_scenario = tcp.map(|r| &r.rec.scenario);
        let ratio = |r: &Row<'_>, den: Option<&String>| match den {
            Some(den) => pairs::cell(&pairing.ratio(den, &r.rec.scenario, pairs::per_server_cpu)),
            None => "-".into(),
        };
        for r in at.iter().copied().chain(tcp) {
            let is_tcp = tcp.is_some_and(|t| std::ptr::eq(t, r));
            let lost = if is_tcp {
                "-".to_string()
            } else {
                let e = &r.res.errors;
                format!(
                    "{} ({:.2}%)",
                    fmt_count(e.lost.unwrap_or(0) as f64),
                    e.loss_percent.unwrap_or(0.0)
                )
            };
            table.row(&[
                &conns,
                &format!("{}{}", r.rec.server, if is_tcp { " (TCP)" } else { "" }),
                &fmt_count(r.res.throughput.msgs_per_sec),
                &per_cpu(r).map_or("-".into(), fmt_count),
                &ratio(r, c_udp),
                &ratio(r, tcp_scenario),
                &ms(r.res.latency_us.p50),
                &ms(r.res.latency_us.p99),
                &lost,
                &syscalls_cell(r),
            ]);
        }
    }
    table.write_into(md);
    let _ = writeln!(md);
    let note = syscalls_note(&closed);
    if !note.is_empty() {
        let _ = writeln!(md, "{note}\n");
    }
}

/// The client's CPU over the measured phase, in percent of one core per thread.
fn client_cpu(r: &Row<'_>) -> String {
    let window = r.res.throughput.duration_s * r.res.config.threads.max(1) as f64;
    match r.res.client_cpu_s {
        Some(cpu) if window > 0.0 => format!("{:.0}%", cpu / window * 100.0),
        _ => "-".into(),
    }
}

/// Open loop: loss against offered rate, a table and a plot.
fn open(md: &mut String, out: &Path, rows: &[&Row<'_>]) -> anyhow::Result<()> {
    let mut open: Vec<&Row<'_>> = rows.iter().copied().filter(|r| r.rec.rate.is_some()).collect();
    if open.is_empty() {
        return Ok(());
    }
    open.sort_by(|a, b| {
        (a.rec.server.as_str(), a.rec.rate.unwrap_or(0.0))
            .partial_cmp(&(b.rec.server.as_str(), b.rec.rate.unwrap_or(0.0)))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let flows = open[0].rec.conns;
    let _ = writeln!(
        md,
        "### Loss against offered rate ({} flows, open loop)\n",
        fmt_count(flows as f64)
    );
    let _ = writeln!(
        md,
        "Each server is offered the same rates: fractions of echod UDP's closed-loop rate at \
         this count in the same run. Latency is measured from when each datagram was due \
         (corrected for coordinated omission: a flow has one datagram in flight, so one \
         that is due waits for the answer before it). Where the client's CPU is near 100%, \
         loadgen itself could not offer more: answers fall short of the offer without loss, \
         and the latency grows with the queue of due datagrams — the client's limit, not the \
         server's.\n"
    );
    let mut table = Table::new(&[
        ("server", L),
        ("offered/s", R),
        ("answered/s", R),
        ("lost", R),
        ("loss", R),
        ("p50", R),
        ("p99", R),
        ("client CPU", R),
    ]);
    let mut series: Vec<Series> = Vec::new();
    for r in &open {
        let offered = r.rec.rate.unwrap_or(0.0);
        let loss = r.res.errors.loss_percent.unwrap_or(0.0);
        table.row(&[
            &r.rec.server,
            &fmt_count(offered),
            &fmt_count(r.res.throughput.msgs_per_sec),
            &fmt_count(r.res.errors.lost.unwrap_or(0) as f64),
            &format!("{loss:.2}%"),
            &ms(r.res.latency_us.p50),
            &ms(r.res.latency_us.p99),
            &client_cpu(r),
        ]);
        match series.iter_mut().find(|s| s.label == r.rec.server) {
            Some(s) => s.points.push((offered, loss)),
            None => {
                series.push(Series { label: r.rec.server.clone(), points: vec![(offered, loss)] })
            }
        }
    }
    table.write_into(md);
    xy_chart(
        &out.join("udp-loss.svg"),
        &format!("UDP loss against offered rate ({} flows)", fmt_count(flows as f64)),
        ("offered round trips / s", "lost %"),
        (false, false),
        &series,
    )
    .map_err(anyhow::Error::msg)?;
    let _ = writeln!(md, "\n![UDP loss against offered rate](udp-loss.svg)\n");
    Ok(())
}
