//! The `echod` binary: [`Flags`] -> validated [`Config`] -> [`Server`] (or the
//! `--processes` [`Supervisor`]) -> stats. The flags and all logic live in the
//! library.

use std::io::Read;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use echod::server::processes::{self, Outcome, Supervisor};
use echod::server::stats_file::{self, StatsFileError};
use echod::server::{Config, Flags, Server, ServerError, ServerStats, ShutdownHandle};

fn main() -> ExitCode {
    let flags: Flags = echod::cli::parse_or_exit("echod");
    match run(flags) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => echod::cli::report_error_with("echod", &e, exit_code(&e)),
    }
}

/// 1 for a run that went wrong after it started (the stats went elsewhere, or a
/// `--processes` child kept dying or lost its stats), else 2.
fn exit_code(e: &anyhow::Error) -> u8 {
    let stats_elsewhere = matches!(
        e.downcast_ref::<StatsFileError>(),
        Some(StatsFileError::WroteFallback { .. } | StatsFileError::Lost { .. })
    );
    let child_failed = matches!(
        e.downcast_ref::<ServerError>(),
        Some(ServerError::GaveUp { .. } | ServerError::ChildLost { .. })
    );
    if stats_elsewhere || child_failed {
        echod::cli::EXIT_FAILED
    } else {
        echod::cli::EXIT_USAGE
    }
}

fn run(flags: Flags) -> anyhow::Result<()> {
    if let Some(path) = &flags.stats_json {
        // Before anything starts: a run must not end in "cannot write the stats".
        stats_file::check_writable(path)?;
    }
    let Outcome { stats, failure } = if flags.processes > 1 {
        run_processes(&flags)?
    } else {
        Outcome { stats: run_one(flags.config(), flags.child_stats.is_some())?, failure: None }
    };
    if flags.child_stats.is_none() {
        // A --processes child leaves the report to its parent, which merges all.
        for line in stats.lines() {
            eprintln!("echod: {line}");
        }
    }
    // The stats are written also when the run failed: they say what happened.
    if let Some(path) = flags.child_stats.iter().chain(&flags.stats_json).next() {
        match (stats_file::write(path, &stats), &failure) {
            (Err(e), None) => return Err(e.into()),
            (Err(e), Some(_)) => eprintln!("echod: {e}"), // the failure is the last line
            (Ok(()), _) => {}
        }
    }
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// One process: raise the descriptor limit, bind, print the ready line, serve until a
/// signal (or, as a `--processes` child, until stdin closes).
fn run_one(config: Config, child: bool) -> anyhow::Result<ServerStats> {
    let before = echod::sys::nofile_limit().context("reading RLIMIT_NOFILE")?;
    let limit = echod::sys::raise_nofile_limit().context("raising RLIMIT_NOFILE")?;
    let server = Server::bind(config.clone())?;
    // Printed once bound, so a refusal stays a one-line error.
    let holds = capacity(limit.soft, config.workers);
    // A --processes child says nothing: the parent's line covers the whole server
    // (and lines from several processes at once would interleave).
    if !child {
        eprintln!(
            "echod: descriptor limit {} (raised from {}): this process can hold about {holds} \
             connections; past that, accept() fails with EMFILE and echod pauses accepting: \
             for more, run --processes N (each process has its own limit; 50,000 \
             connections need {} here)",
            limit.soft,
            before.soft,
            50_000u64.div_ceil(holds.max(1))
        );
    }
    if let (false, Some(limit)) = (child, server.thread_limit()) {
        eprintln!("echod: {}", thread_line(limit));
    }
    let handle = server.shutdown_handle();
    on_signal(handle.clone())?;
    if child {
        std::thread::spawn(move || {
            // The parent closes our stdin to stop us (or dies, which closes it too).
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            handle.shutdown();
        });
    }
    echod::cli::print(&format!(
        "listening on {} workers={} model={}\n",
        server.local_addr(),
        config.workers,
        config.model.name()
    ));
    if child && std::env::var_os(processes::TEST_CHILD_EXITS).is_some() {
        // Test-only: a child that dies right after its ready line (restart tests).
        let _ = std::io::Write::flush(&mut std::io::stdout());
        std::process::exit(3);
    }
    Ok(server.run()?)
}

/// The start-up line of `--model threads`: the connection-thread cap and its source.
fn thread_line(limit: &echod::server::thread_budget::Limit) -> String {
    format!(
        "--model threads: at most {} connection threads ({}); past that, new connections \
         are accepted and closed, counted in rejected_resources",
        limit.threads, limit.why
    )
}

/// Connections one process with `workers` workers holds under a descriptor limit of
/// `soft`: each worker also holds a poll, a listener and a waker, plus a few spare.
fn capacity(soft: u64, workers: usize) -> u64 {
    soft.saturating_sub(3 * workers as u64 + 16)
}

/// Several processes sharing the port, supervised from here.
fn run_processes(flags: &Flags) -> anyhow::Result<Outcome> {
    let (config, processes) = (flags.config(), flags.processes as usize);
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    let exe = std::env::current_exe().context("finding echod's own executable")?;
    let sup = Supervisor::start(flags, &exe)?;
    // Each child raised its own limit to the hard limit, which it inherits from here.
    let hard = echod::sys::nofile_limit().context("reading RLIMIT_NOFILE")?.hard;
    let each: Vec<u64> = (0..processes)
        .map(|i| capacity(hard, processes::split_workers(config.workers, processes, i).1))
        .collect();
    let shares: Vec<String> = each.iter().map(u64::to_string).collect();
    eprintln!(
        "echod: {processes} processes, each with its own descriptor limit ({hard}): about {} \
         connections in all ({})",
        each.iter().sum::<u64>(),
        shares.join(" + ")
    );
    if let Some(limit) = sup.thread_limit() {
        eprintln!("echod: {}", thread_line(limit));
    }
    echod::cli::print(&format!(
        "listening on {} workers={} model={} processes={processes}\n",
        sup.local_addr(),
        config.workers,
        config.model.name()
    ));
    Ok(sup.run(&stop))
}

/// How long a graceful stop may take before echod exits without it.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// SIGINT/SIGTERM fire the shutdown handle from a signal thread. SIGTERM works in
/// every state: a second signal, or a graceful stop that has not finished within
/// [`STOP_GRACE`] (a worker stuck on a pipe nobody reads), ends the process at
/// once, with one line saying so (exit 128 + signal, or 1).
fn on_signal(handle: ShutdownHandle) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("installing signal handlers")?;
    std::thread::Builder::new()
        .name("echod-signals".into())
        .spawn(move || {
            if signals.forever().next().is_none() {
                return;
            }
            handle.shutdown();
            let deadline = std::time::Instant::now() + STOP_GRACE;
            while std::time::Instant::now() < deadline {
                if let Some(sig) = signals.pending().next() {
                    eprintln!("echod: a second signal: exiting now, without waiting for workers");
                    std::process::exit(128 + sig);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            eprintln!(
                "echod: the workers did not stop within {STOP_GRACE:?}: exiting without them"
            );
            std::process::exit(1);
        })
        .context("starting the signal thread")?;
    Ok(())
}
