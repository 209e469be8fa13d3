//! The binary's run (`loadgen [OPTIONS]`): validates the flags, wires SIGINT and
//! SIGTERM to the stop flag, prints the preflight, runs in this process or split
//! over several, prints the summary, writes `--json` and `--hgrm`, and returns the
//! exit code. A child of a split run takes the short path: run, hand its figures
//! to the parent.
//!
//! A run ended by SIGINT or SIGTERM exits 128 + the signal (130, 143), the shell's
//! convention, whatever its figures; its JSON says `interrupted: true` with that
//! exit code. A second signal ends the process at once with the same code.
//!
//! The output paths are proven writable before any work; a file that still cannot
//! be written at the end is saved elsewhere (said on stderr) and the run exits 2,
//! which the saved JSON carries (`output`).

use anyhow::Context as _;

use common::cli::EXIT_USAGE;
use common::signals::Signals;

use super::RunOutcome;
use crate::limits::budget::{self, Budget, Processes, Request};
use crate::limits::{port_time, preflight};
use crate::result::RunResult;

use super::{
    child, connect, coordinator, outcome, output, processes, run, summary, Config, RunArgs,
};

/// The binary's run: validates the flags, runs with Ctrl-C wired to stop, prints
/// the summary, writes `--json`/`--hgrm`; returns the exit code. Errors (bad flags,
/// unwritable paths, an impossible plan) become one line and exit code 2; a run in
/// which no connection came up is exit 1 like any with missing connections, with
/// one line naming the target and why.
pub fn execute(args: RunArgs, argv: Vec<String>) -> anyhow::Result<u8> {
    let mut config = args.validate()?;
    let signals =
        Signals::install_exiting_on_second().context("cannot install the Ctrl-C handler")?;
    if args.child.is_some() {
        return run_child(&args, &config, &signals);
    }
    // A result must not be lost to a bad path at the end: prove them now.
    for (flag, path) in [("--json", &args.json), ("--hgrm", &args.hgrm)] {
        if let Some(path) = path {
            output::check_writable(flag, path)?;
        }
    }
    let budget = preflight(&mut config)?;
    let kernel_before = common::procfs::net::tcp_ext().ok();
    let mut outcome = if budget.processes > 1 {
        processes::run_split(&config, budget.processes, signals.stop_flag())?
    } else {
        run(&config, signals.stop_flag().clone())?
    };
    outcome.result.kernel = kernel_before.map(kernel_since);
    outcome.result.command = argv;
    let interrupted_by = signals.exit_code();
    if let Some(code) = interrupted_by {
        set_exit_code(&mut outcome, code);
        outcome.result.interrupted = true;
    }
    common::cli::print(&summary::render(&outcome.result, outcome.tally.first_mismatch.as_deref()));
    // A lost output file makes the exit code 2, unless a signal decided it.
    write_outputs(&args, &mut outcome, interrupted_by.unwrap_or(EXIT_USAGE))?;
    say_if_none_came_up(&config, &outcome.result);
    Ok(outcome.exit_code)
}

/// A child of a split run: the parent printed the preflight and merges the figures;
/// stdout is the parent's channel, so no summary here.
fn run_child(args: &RunArgs, config: &Config, signals: &Signals) -> anyhow::Result<u8> {
    let path = args.child_out.as_ref().context("--child needs --child-out")?;
    let measured =
        coordinator::measure(config, signals.stop_flag().clone(), &mut child::child_gate)?;
    child::write_figures(config, &measured, path)?;
    Ok(signals.exit_code().unwrap_or(outcome::exit_code(config, &measured.tally)))
}

/// Writes `--hgrm` and `--json`; one that cannot be written is saved elsewhere,
/// said on stderr, and the run ends with `lost_code`. `--hgrm` goes first, so the
/// JSON carries the exit code the process ends with.
fn write_outputs(args: &RunArgs, outcome: &mut RunOutcome, lost_code: u8) -> anyhow::Result<()> {
    if let Some(path) = &args.hgrm {
        let text = output::hgrm(&outcome.tally.latency, 1_000.0);
        if let Err(line) = output::write_or_save("--hgrm", path, &text, &text, "hgrm") {
            eprintln!("loadgen: {line}");
            set_exit_code(outcome, lost_code);
        }
    }
    if let Some(path) = &args.json {
        let text = output::json_text(&outcome.result)?;
        let mut if_lost = outcome.result.clone();
        if_lost.exit_code = lost_code.into();
        let text_if_lost = output::json_text(&if_lost)?;
        if let Err(line) = output::write_or_save("--json", path, &text, &text_if_lost, "json") {
            eprintln!("loadgen: {line}");
            set_exit_code(outcome, lost_code);
        }
    }
    Ok(())
}

/// A run in which no connection came up says so in one line: the targets, and
/// each errno with its hint.
fn say_if_none_came_up(config: &Config, r: &RunResult) {
    if r.connections.established > 0 || r.connections.requested == 0 || r.interrupted {
        return;
    }
    let failures: Vec<String> = r
        .connections
        .failed_by_errno
        .iter()
        .map(|(e, n)| format!("{n} x {e} ({})", connect::hint(e)))
        .collect();
    eprintln!(
        "loadgen: no connection to {} came up: {}",
        config.target_text.join(", "),
        if failures.is_empty() { "stopped".to_string() } else { failures.join(", ") }
    );
}

/// Sets the exit code the process ends with, and the one its result records.
/// The kernel's counts from `before` (TcpExt at the start of the run) to now.
fn kernel_since(before: std::collections::BTreeMap<String, u64>) -> crate::result::KernelCounts {
    let after = common::procfs::net::tcp_ext().unwrap_or_default();
    let sockstat = common::procfs::net::tcp_sockstat().unwrap_or_default();
    crate::result::KernelCounts {
        time_wait_at_end: sockstat.tw,
        orphans_at_end: sockstat.orphan,
        ..crate::result::KernelCounts::between(&before, &after)
    }
}

fn set_exit_code(outcome: &mut RunOutcome, code: u8) {
    outcome.exit_code = code;
    outcome.result.exit_code = code.into();
}

/// Checks the run against this machine's limits before anything connects, prints
/// the budget (always when a limit is hit: the user must see why loadgen fans out
/// or splits), and settles the source addresses and the process count.
fn preflight(config: &mut Config) -> anyhow::Result<Budget> {
    let limits = preflight::read_limits();
    let req = Request {
        conns: config.conns,
        targets: config.targets.clone(),
        sources: (!config.sources.is_empty()).then(|| config.sources.clone()),
        processes: config.processes,
        server_is_local: config.targets.iter().all(|t| t.ip().is_loopback()),
        proto: config.proto,
    };
    let budget = budget::work_out(&req, &limits).map_err(|e| anyhow::anyhow!("preflight: {e}"))?;
    if config.live || budget.auto_fanout || budget.processes > 1 {
        eprint!("{}", preflight::render(&req, &limits, &budget));
    }
    if let Some(churn) = config.churn {
        let delay = crate::env::sysctl_u64("net.ipv4.tcp_tw_reuse_delay");
        let ports = budget.usable_ports_per_family;
        let p = port_time::predict(
            churn.close,
            (limits.tw_reuse, delay.unwrap_or(port_time::REUSE_DELAY_MS)),
            req.server_is_local,
            (ports, budget.families),
        );
        if config.live {
            eprint!("{}", port_time::render(&p, ports, budget.families));
        }
    }
    config.sources.clone_from(&budget.sources);
    config.processes = Processes::Fixed(budget.processes);
    Ok(budget)
}
