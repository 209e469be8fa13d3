//! The report's sections on the measuring tools themselves: what loadgen costs
//! beside other clients (round trips per client CPU-second), the latency floor of
//! one connection beside sockperf, and the memory each server keeps per idle
//! connection. They read the figures the suite recorded in its index
//! ([`StepRecord::client_figures`], [`StepRecord::idle`]); with repeats, each row is
//! the run with the median throughput (or the median bytes per connection).

use std::fmt::Write as _;

use common::units::{fmt_bytes, fmt_count, fmt_micros};

use super::rows::representative;
use crate::suite_index::{ClientFigures, Section, Side, StepRecord, SuiteIndex};
use crate::table::{Align::Left as L, Align::Right as R, Table};

/// Every section of this file that has steps in `index`.
pub fn sections(md: &mut String, index: &SuiteIndex) {
    clients(md, index);
    floor(md, index);
    idle(md, index);
}

/// The records of `section` (the build under test only), grouped by scenario in
/// plan order, each group's median by `key` ([`representative`]).
fn median_by<'a>(
    index: &'a SuiteIndex,
    section: Section,
    key: impl Fn(&StepRecord) -> Option<f64>,
) -> Vec<&'a StepRecord> {
    let runs = |r: &'a StepRecord| (r.section == section && key(r).is_some()).then_some(r);
    representative(index, runs, |r| key(r).unwrap_or(0.0)).into_iter().map(|(r, _)| r).collect()
}

fn figures(r: &StepRecord) -> Option<&ClientFigures> {
    r.client_figures.as_ref()
}

fn opt_us(v: Option<f64>) -> String {
    v.map_or("-".into(), fmt_micros)
}

fn clients(md: &mut String, index: &SuiteIndex) {
    let rows = median_by(index, Section::Clients, |r| figures(r).map(|f| f.msgs_per_sec));
    let Some(first) = rows.first() else { return };
    let _ = writeln!(md, "## What loadgen costs: clients side by side\n");
    let _ = writeln!(
        md,
        "One server (`{}`, pinned to CPU {:?}) and one client at a time, each with one thread \
         pinned to CPU {:?}: 64-byte messages, closed loop, one in flight per connection. \
         Round trips per client CPU-second is what the client costs; the ratio is loadgen's \
         against each. loadgen verifies every echoed byte and records every latency; \
         `echoload` (the peers' bare mio client) checks nothing; `tpc-client` is a blocking \
         thread per connection (rust_echo_bench's design). Each tool times its own measured \
         window's CPU. The ratio pairs the clients of each repeat (the estimate and its 95% \
         interval over the repeats; six or more give an interval).\n",
        first.server, first.server_cores, first.client_cores
    );
    let mut table = Table::new(&[
        ("conns", R),
        ("client", L),
        ("round trips/s", R),
        ("per client CPU-second", R),
        ("loadgen ÷ this", R),
        ("p50", R),
        ("p99", R),
    ]);
    for r in &rows {
        let Some(f) = figures(r) else { continue };
        let ratio = super::pairs::cell(&crate::compare::paired::paired(&paired_figures(
            index, r.conns, &f.tool,
        )));
        table.row(&[
            &r.conns,
            &f.tool,
            &fmt_count(f.msgs_per_sec),
            &f.rt_per_cpu_s.map_or("-".into(), fmt_count),
            &ratio,
            &opt_us(f.p50_us),
            &opt_us(f.p99_us),
        ]);
    }
    table.write_into(md);
    let _ = writeln!(md);
}

/// `tool`'s and loadgen's round trips per CPU-second at `conns`, one pair per
/// repeat: the two clients of the same repeat (minutes apart), so a slow spell of
/// the machine does not read as a difference between them.
fn paired_figures(index: &SuiteIndex, conns: u64, tool: &str) -> Vec<(f64, f64)> {
    let of = |rep: u32, name: &str| {
        index
            .steps
            .iter()
            .filter(|s| s.rep == rep && s.side != Some(Side::Base))
            .filter(|s| s.record.section == Section::Clients && s.record.conns == conns)
            .filter_map(|s| figures(&s.record).filter(|f| f.tool == name))
            .find_map(|f| f.rt_per_cpu_s)
    };
    let reps: std::collections::BTreeSet<u32> = index.steps.iter().map(|s| s.rep).collect();
    reps.into_iter()
        .filter_map(|rep| match (of(rep, "loadgen"), of(rep, tool)) {
            (Some(l), Some(c)) if c > 0.0 && l > 0.0 => Some((c, l)),
            _ => None,
        })
        .collect()
}

fn floor(md: &mut String, index: &SuiteIndex) {
    let rows = median_by(index, Section::Floor, |r| figures(r).map(|f| f.msgs_per_sec));
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Latency floor: one connection\n");
    let _ = writeln!(
        md,
        "One connection, 64-byte messages, one in flight: the round trip of the machine's \
         loopback with nothing queued. `sockperf ping-pong --full-rtt` against `sockperf \
         server` is the reference; loadgen runs against the same C server as above. \
         same-core: server and client on one CPU (no wake-up across cores); cross-core: the \
         suite's usual split. The ratio is loadgen's p50 over sockperf's with the same \
         pinning.\n"
    );
    let mut table = Table::new(&[
        ("client → server, pinning", L),
        ("server CPUs", L),
        ("client CPUs", L),
        ("round trips/s", R),
        ("p50", R),
        ("p99", R),
        ("÷ sockperf p50", R),
    ]);
    let pinning = |r: &StepRecord| r.scenario.contains("same-core");
    for r in &rows {
        let Some(f) = figures(r) else { continue };
        let sockperf = rows
            .iter()
            .filter(|o| pinning(o) == pinning(r))
            .filter_map(|o| figures(o).filter(|f| f.tool == "sockperf"))
            .find_map(|f| f.p50_us);
        let ratio = match (sockperf, f.p50_us) {
            (Some(s), Some(p)) if s > 0.0 => format!("{:.2}", p / s),
            _ => "-".into(),
        };
        let who = crate::scenario::parse(&r.scenario).map_or(r.scenario.as_str(), |n| n.server);
        table.row(&[
            &who,
            &format!("{:?}", r.server_cores),
            &format!("{:?}", r.client_cores),
            &fmt_count(f.msgs_per_sec),
            &opt_us(f.p50_us),
            &opt_us(f.p99_us),
            &ratio,
        ]);
    }
    table.write_into(md);
    if !rows.iter().any(|r| figures(r).is_some_and(|f| f.tool == "sockperf")) {
        let _ =
            writeln!(md, "\nsockperf is not installed here (Debian: `apt-get install sockperf`).");
    }
    let _ = writeln!(md);
}

fn idle(md: &mut String, index: &SuiteIndex) {
    let rows = median_by(index, Section::IdleMemory, |r| r.idle.as_ref().map(|i| i.bytes_per_conn));
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Memory per idle connection\n");
    let _ = writeln!(
        md,
        "The suite opens ten warm-up connections, reads the server's resident memory (all its \
         processes), opens N more, echoes one byte on each (so every one was accepted and \
         served) and reads it again while holding them. Kernel socket buffers are not in a \
         process's RSS: this is what the server's own code keeps per connection.\n"
    );
    let mut table = Table::new(&[
        ("server", L),
        ("idle connections", R),
        ("RSS before → held", R),
        ("bytes per connection", R),
    ]);
    for r in rows {
        let Some(i) = &r.idle else { continue };
        table.row(&[
            &r.server,
            &fmt_count(i.conns as f64),
            &format!("{} → {}", fmt_bytes(i.rss_before as f64), fmt_bytes(i.rss_after as f64)),
            &format!("{:.0}", i.bytes_per_conn),
        ]);
    }
    table.write_into(md);
    let _ = writeln!(md);
}
