//! The suite's report: one Markdown file with a section per question the suite asks
//! (how connections scale, what latency looks like across the histogram, how workers
//! and models compare, how evenly SO_REUSEPORT spreads connections, how echod stands
//! against its peers, where the four-tuple limits are), each with a short text on
//! what it shows and why, and the SVG plots beside it. With `--repeat N` each
//! scenario is represented by its median-throughput run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::units::{fmt_bytes, fmt_count};

use super::rows::{representative_rows, skipped, Row};
use super::{scaling, servers};
use crate::suite_index::{Section, SuiteIndex};
use crate::table::{Align::Left as L, Table};

/// Writes `report.md` and its plots into `out`; returns the report's path.
pub fn write(out: &Path, index: &SuiteIndex) -> anyhow::Result<PathBuf> {
    let rows = representative_rows(out, index);
    let by = |section: Section| -> Vec<&Row<'_>> {
        rows.iter().filter(|r| r.rec.section == section).collect()
    };
    let mut md = String::new();
    header(&mut md, index);
    super::builds::section(&mut md, out, index);
    scaling::scaling(&mut md, out, &by(Section::Scaling))?;
    scaling::servers_chart(&mut md, out, &rows)?;
    scaling::latency(&mut md, out, &by(Section::Scaling), &by(Section::OpenLoop))?;
    servers::workers(&mut md, out, &by(Section::Workers))?;
    let pairing = super::pairs::Pairing { out, index };
    servers::models(&mut md, pairing, &by(Section::Models), &skipped(index, Section::Models))?;
    servers::spread(&mut md, &rows);
    let peers = (by(Section::Peers), skipped(index, Section::Peers));
    servers::peers(&mut md, pairing, &peers.0, &peers.1)?;
    super::udp::section(&mut md, pairing, &by(Section::Udp), &by(Section::Scaling))?;
    super::churn::section(&mut md, pairing, &by(Section::Churn))?;
    super::tools::sections(&mut md, index);
    super::soak::section(&mut md, out, index)?;
    super::series::section(&mut md, out, index)?;
    ports(&mut md, out, index);
    several_hosts(&mut md, out, index);
    disturbed(&mut md, out, index);
    failures(&mut md, index);
    super::tracking::write(out, index)?;
    let path = out.join("report.md");
    super::html::write(out, &md)?;
    std::fs::write(&path, md)?;
    Ok(path)
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
    let mut table = Table::new(&[("", L), ("", L)]);
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
        table.row(&[&k, &v]);
    }
    table.write_into(md);
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

fn ports(md: &mut String, out: &Path, index: &SuiteIndex) {
    let _ =
        writeln!(md, "## Four-tuples: ports per family, sources, destinations, TIME_WAIT, UDP\n");
    let text = index
        .ports_file
        .as_ref()
        .and_then(|_| engine::result::read_bounded(&out.join("ports.txt")).ok());
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
                 lets connect() take them back. UDP (f–h) hands a datagram to the socket of \
                 its destination port whoever sent it: connected UDP sockets stop at the \
                 range whatever the destinations, one unconnected socket reaches any number \
                 of peers, one server socket receives from every flow, and SO_REUSEPORT keeps \
                 a flow on one socket. Below the table, the server's side: every accepted TCP \
                 socket has the listener's port, and only the peer differs.\n\n```text\n{}```\n",
                t
            );
        }
        None => {
            let _ = writeln!(md, "Not run: {}\n", index.ports_note.as_deref().unwrap_or("unknown"));
        }
    }
}

/// The several-hosts step: agents in namespaces of their own, one merged result.
fn several_hosts(md: &mut String, out: &Path, index: &SuiteIndex) {
    let _ =
        writeln!(md, "## Several hosts: agents in namespaces of their own, one merged result\n");
    let text = index
        .testbed_dir
        .as_ref()
        .filter(|d| engine::result::is_inside(d))
        .and_then(|d| engine::result::read_bounded(&out.join(d).join("testbed.txt")).ok());
    match (text, &index.testbed_dir) {
        (Some(t), Some(dir)) => {
            let _ = writeln!(
                md,
                "`loadgen testbed`: a server host and agent hosts, each a network namespace \
                 with its own address from 198.18.0.0/15 on one bridge. Every agent runs \
                 `--shard i/K` of one run with one `--start-at`; `loadgen merge` adds their \
                 histograms and counts into the merged line (the p99 of every round trip, \
                 not an average of the agents'). The server's own /proc/net/tcp shows one \
                 peer address per agent, every four-tuple on the one listening port. All \
                 hosts share this machine's cores, so the figures show the mechanism, not \
                 what separate machines would reach. Files: [`{dir}/`]({dir}/merged.json) \
                 (merged.json, agent-I.json, testbed.json).\n\n```text\n{t}```\n"
            );
        }
        _ => {
            let note = index.testbed_note.as_deref().unwrap_or("unknown");
            let _ = writeln!(md, "Not run: {note}\n");
        }
    }
}

/// The runs the machine disturbed (other programs' CPU or steal over the measured
/// window, from each result's `machine`): those set aside and run again, and those
/// kept (left out of the paired ratios).
fn disturbed(md: &mut String, out: &Path, index: &SuiteIndex) {
    let aside: Vec<&str> = (index.steps.iter())
        .flat_map(|s| s.record.disturbed_attempts.iter().map(String::as_str))
        .collect();
    let kept: Vec<String> = (index.steps.iter())
        .filter_map(|s| {
            let res = engine::result::read(out, s.record.result_file.as_deref()?).ok()?;
            let m = res.machine.filter(|m| m.disturbed)?;
            Some(format!("`{}` rep {}: {}", s.record.scenario, s.rep, m.reason.unwrap_or_default()))
        })
        .collect();
    let measured = index.steps.iter().filter(|s| s.record.result_file.is_some()).count();
    let _ = writeln!(md, "## How quiet the machine was\n");
    let _ = writeln!(
        md,
        "Each run records what else the machine did over its measured window (CPU time \
         outside loadgen and the server, from /proc/stat, and steal). {} of {measured} runs \
         were disturbed and run again; {} kept disturbed (left out of the paired ratios).\n",
        aside.len(),
        kept.len()
    );
    if let Some(drift) = calibration_drift(out, index) {
        let _ = writeln!(md, "{drift}\n");
    }
    for line in aside.iter().map(|a| a.to_string()).chain(kept) {
        let _ = writeln!(md, "- {line}");
    }
    if !index.steps.is_empty() {
        let _ = writeln!(md);
    }
}

/// The same-core ping-pong taken before every run, over the suite run: how far the
/// machine itself drifted (a slower spell shows as a lower rate).
fn calibration_drift(out: &Path, index: &SuiteIndex) -> Option<String> {
    let rates: Vec<f64> = (index.steps.iter())
        .filter_map(|s| engine::result::read(out, s.record.result_file.as_deref()?).ok())
        .filter_map(|r| r.calibration.map(|c| c.round_trips_per_sec))
        .filter(|r| *r > 0.0)
        .collect();
    let median = crate::compare::stats::median(&rates)?;
    let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let max = rates.iter().copied().fold(0.0, f64::max);
    Some(format!(
        "The calibration ping-pong before each of {} runs: median {} round trips/s, \
         {}–{} ({:+.0}% / {:+.0}% of the median): the machine's own drift over the run.",
        rates.len(),
        fmt_count(median),
        fmt_count(min),
        fmt_count(max),
        (min / median - 1.0) * 100.0,
        (max / median - 1.0) * 100.0
    ))
}

fn failures(md: &mut String, index: &SuiteIndex) {
    let bad: Vec<_> = index.steps.iter().filter(|s| !s.record.clean()).collect();
    if bad.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Steps that did not finish cleanly\n");
    for s in bad {
        let _ = writeln!(
            md,
            "- rep {}{} `{}`: {}{}",
            s.rep,
            s.side.map_or(String::new(), |side| format!(" [{}]", side.folder())),
            s.record.scenario,
            s.record.exit_code.map_or("no exit code (killed)".to_string(), |c| format!("exit {c}")),
            s.record.error.as_ref().map_or(String::new(), |e| format!(" — {e}"))
        );
    }
    let _ = writeln!(md);
}
