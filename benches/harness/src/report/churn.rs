//! The report's churn section: connections that come and go (`--lifetime 1`: connect,
//! one echo, close, again), so each round trip carries an accept, a connection's
//! set-up and its tear-down. Per server: new connections per second sustained, the
//! ratio to echod reuseport per server CPU-second with its 95% interval (paired by
//! repeat), connect and first-echo latency, and what an accepted connection costs the
//! server (CPU, context switches: a shared listener's wake-ups show here), with a
//! forest plot of the ratios.

use std::fmt::Write as _;

use common::units::fmt_count;

use super::pairs::{self, Pairing};
use super::rows::{ms, Row};
use crate::plot::Estimate;
use crate::table::{Align::Left as L, Align::Right as R, Table};
use engine::result::RunResult;

/// New connections accepted per second of the server's own CPU time.
fn accepts_per_server_cpu(r: &RunResult) -> Option<f64> {
    let cpu = r.server.as_ref()?.cpu_s;
    let opened = r.churn.as_ref()?.opened as f64;
    (cpu > 0.0 && opened > 0.0).then(|| opened / cpu)
}

/// The server's CPU µs and context switches per accepted connection.
fn per_accept(r: &RunResult) -> Option<(f64, f64)> {
    let (server, churn) = (r.server.as_ref()?, r.churn.as_ref()?);
    let opened = churn.opened as f64;
    (opened > 0.0).then(|| (server.cpu_s * 1e6 / opened, server.context_switches as f64 / opened))
}

/// Writes the section (nothing without churn rows).
pub(super) fn section(
    md: &mut String,
    pairing: Pairing<'_>,
    rows: &[&Row<'_>],
) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let _ = writeln!(md, "## Churn: connections that come and go\n");
    let _ = writeln!(
        md,
        "{} connections kept open, each living for one echo (`--lifetime 1`: connect, one \
         echo, close from the client, then a new connection takes its place), so every round \
         trip carries an accept, a connection's set-up and its tear-down: the accept path \
         SO_REUSEPORT exists for. A shared listener (`shared`) puts every worker on one \
         accept queue, woken together; `reuseport` gives each worker its own. Ratios are to \
         echod reuseport with the same cores, per server CPU-second (new connections per \
         second of the server's own CPU time; the client on the next core caps the rate \
         itself).\n",
        rows[0].rec.conns
    );
    let (table, estimates) = table(pairing, rows);
    table.write_into(md);
    let _ = writeln!(md);
    let what = ("churn", "each server ÷ echod reuseport");
    super::servers::forest(md, pairing.out, what, &estimates)?;
    let reps = rows.iter().map(|r| r.reps).max().unwrap_or(1);
    let _ = writeln!(md, "{}\n", pairs::note(reps));
    Ok(())
}

/// The section's table, and the forest plot's rows (each server but the
/// reference, against echod reuseport with the same cores).
fn table(pairing: Pairing<'_>, rows: &[&Row<'_>]) -> (Table, Vec<Estimate>) {
    let reference = |r: &Row<'_>| {
        let cores = &r.rec.server_cores;
        rows.iter()
            .find(|x| x.rec.server.starts_with("echod reuseport") && &x.rec.server_cores == cores)
            .map(|x| x.rec.scenario.clone())
    };
    let mut table = Table::new(&[
        ("server", L),
        ("cores", R),
        ("new conns/s", R),
        ("per server CPU-s [95%]", R),
        ("reading", L),
        ("connect p50", R),
        ("connect p99", R),
        ("first echo p99", R),
        ("server CPU/accept", R),
        ("cs/accept", R),
        ("failed", R),
    ]);
    let mut estimates = Vec::new();
    for r in rows {
        let den = reference(r);
        let ratio = match &den {
            Some(den) => pairing.ratio(den, &r.rec.scenario, accepts_per_server_cpu),
            None => Err(crate::compare::paired::TooFew { estimate: None, n: 0, paired: true }),
        };
        if den.is_some_and(|den| den != r.rec.scenario) {
            estimates.extend(pairs::estimate(format!("{} ÷ reuseport", r.rec.server), &ratio));
        }
        let churn = r.res.churn.clone().unwrap_or_default();
        let (cpu, cs) = per_accept(&r.res)
            .map_or(("-".into(), "-".into()), |(cpu, cs)| (ms(cpu), format!("{cs:.2}")));
        table.row(&[
            &r.rec.server,
            &r.rec.server_cores.len(),
            &fmt_count(churn.opened_per_sec.round()),
            &pairs::cell(&ratio),
            &pairs::reading(&ratio),
            &ms(churn.connect_us.p50),
            &ms(churn.connect_us.p99),
            &ms(churn.first_echo_us.p99),
            &cpu,
            &cs,
            &churn.failed(),
        ]);
    }
    (table, estimates)
}
