//! The `echod` binary: flags -> validated [`Config`] -> [`Server`] (or the
//! `--processes` [`Supervisor`]) -> stats. All logic lives in the library.

use std::io::Read;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use echod::server::processes::{self, Outcome, Supervisor};
use echod::server::stats_file::{self, StatsFileError};
use echod::server::{Config, Model, Server, ServerError, ServerStats, SharedLimit, ShutdownHandle};

/// Multi-core TCP echo server: one pinned worker per core, each with its own mio
/// event loop and its own SO_REUSEPORT listener on the one port.
///
/// Examples:
///   echod --workers 8 --port 12000
///   echod --port 12000 --stats-interval 1s --stats-json stats.json
///   echod --workers 4 --processes 4 --port 12000   (4 processes, 1 worker each)
#[derive(Parser, Debug)]
#[command(version, verbatim_doc_comment)]
struct Cli {
    /// Worker threads (default: one per allowed core).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=4096))]
    workers: Option<u64>,
    /// Port to listen on; 0 lets the kernel pick one.
    #[arg(long, default_value_t = 12000)]
    port: u16,
    /// Address to listen on; must be assigned to this machine.
    #[arg(long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// Listen backlog per listener (capped by net.core.somaxconn).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    backlog: u32,
    /// Each worker's read buffer, e.g. 64KiB; also the most bytes held for one peer.
    #[arg(long, default_value = "64KiB", value_parser = parse_buffer)]
    buffer: usize,
    /// Accept connections beyond this many (whole server, all processes), close them at
    /// once and count them.
    #[arg(long)]
    max_conns: Option<usize>,
    /// How connections reach workers: reuseport (default), shared, or threads.
    #[arg(long, value_enum, default_value_t = CliModel::Reuseport)]
    model: CliModel,
    /// With --model threads: at most N connection threads (whole server); past that,
    /// connections are accepted and closed. Default: what this machine allows.
    #[arg(long, value_name = "N")]
    max_threads: Option<usize>,
    /// Do not pin workers to cores.
    #[arg(long)]
    no_pin: bool,
    /// Join a port another SO_REUSEPORT listener already holds (traffic is split).
    #[arg(long)]
    allow_shared_port: bool,
    /// Print connections and messages per worker every interval, e.g. 1s.
    #[arg(long, value_parser = echod::units::parse_duration)]
    stats_interval: Option<Duration>,
    /// Write per-worker stats as JSON to FILE at exit.
    #[arg(long, value_name = "FILE")]
    stats_json: Option<PathBuf>,
    /// Run the workers in P processes sharing the port (each its own fd limit).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=256))]
    processes: u64,
    /// (internal, --processes children) id of this process's first worker.
    #[arg(long, hide = true, default_value_t = 0)]
    first_worker: usize,
    /// (internal, --processes children) FD:SLOT:PROCESSES of the shared --max-conns count.
    #[arg(long, hide = true, value_parser = parse_shared_limit)]
    max_conns_shared: Option<SharedLimit>,
    /// (internal, --processes children) where to write stats; stdin EOF stops.
    #[arg(long, hide = true, value_name = "FILE")]
    child_stats: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum CliModel {
    Reuseport,
    Shared,
    Threads,
}

fn parse_buffer(text: &str) -> Result<usize, String> {
    match echod::units::parse_size(text)? {
        0 => Err("the buffer must hold at least one byte, e.g. 64KiB".into()),
        n => usize::try_from(n).map_err(|_| format!("'{text}' is too large")),
    }
}

fn parse_shared_limit(text: &str) -> Result<SharedLimit, String> {
    let mut parts = text.split(':').map(str::parse::<usize>);
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(Ok(fd)), Some(Ok(slot)), Some(Ok(processes)), None) => {
            let fd = i32::try_from(fd).map_err(|_| format!("'{text}': descriptor too large"))?;
            Ok(SharedLimit { fd, slot, processes })
        }
        _ => Err(format!("'{text}': expected FD:SLOT:PROCESSES")),
    }
}

fn main() -> ExitCode {
    let cli: Cli = echod::cli::parse_or_exit("echod");
    match run(cli) {
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

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(path) = &cli.stats_json {
        // Before anything starts: a run must not end in "cannot write the stats".
        stats_file::check_writable(path)?;
    }
    let config = Config {
        bind: cli.bind,
        port: cli.port,
        workers: cli.workers.map_or_else(|| Config::default().workers, |w| w as usize),
        backlog: cli.backlog,
        buffer: cli.buffer,
        max_conns: cli.max_conns,
        max_conns_shared: cli.max_conns_shared,
        model: match cli.model {
            CliModel::Reuseport => Model::Reuseport,
            CliModel::Shared => Model::Shared,
            CliModel::Threads => Model::Threads,
        },
        max_threads: cli.max_threads,
        pin: !cli.no_pin,
        allow_shared_port: cli.allow_shared_port,
        stats_interval: cli.stats_interval,
        first_worker: cli.first_worker,
    };
    let Outcome { stats, failure } = if cli.processes > 1 {
        run_processes(&config, cli.processes as usize)?
    } else {
        Outcome { stats: run_one(config, cli.child_stats.is_some())?, failure: None }
    };
    if cli.child_stats.is_none() {
        // A --processes child leaves the report to its parent, which merges all.
        for line in stats.lines() {
            eprintln!("echod: {line}");
        }
    }
    // The stats are written also when the run failed: they say what happened.
    if let Some(path) = cli.child_stats.iter().chain(&cli.stats_json).next() {
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
fn run_processes(config: &Config, processes: usize) -> anyhow::Result<Outcome> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    let exe = std::env::current_exe().context("finding echod's own executable")?;
    let sup = Supervisor::start(config, processes, &exe)?;
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
