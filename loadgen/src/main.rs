//! The `loadgen` binary: parses the command line and dispatches — a run or `merge`
//! to the engine (`engine`), `suite`, `compare`, `exact`, `ports`, `testbed` and
//! `build-base` to the harness (`harness`). All logic lives in those libraries, so
//! tests drive it directly.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Load generator for echo servers: thousands of connections, every echoed byte
/// verified, latency in HdrHistogram.
#[derive(Parser, Debug)]
#[command(name = "loadgen", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: engine::run::RunArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build another revision's echod (and tokio-echo) for `suite --base DIR`.
    BuildBase(harness::suite::base_build::BuildBaseArgs),
    /// Compare two results (files or folders): a verdict per metric; exit 1 on a regression.
    Compare(harness::compare::CompareArgs),
    /// echod's own cost per message, noise-free: instructions (callgrind), system calls
    /// and context switches; with --base, a verdict per figure; exit 1 on a regression.
    Exact(harness::exact::ExactArgs),
    /// Merge the results of agents that ran one load together (several hosts) into one.
    Merge(engine::merge::MergeArgs),
    /// The four-tuple experiment: ports per family, sources, destinations, bind(), TIME_WAIT.
    Ports(harness::ports::PortsArgs),
    /// The benchmark suite: scaling, latency, workers, models, peers, four-tuples; writes a report.
    Suite(harness::suite::SuiteArgs),
    /// Several hosts on one machine: echod and K agents in network namespaces on a
    /// bridge, one start time, one merged result, the server's own view.
    Testbed(harness::testbed::TestbedArgs),
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let cli: Cli = common::cli::parse_or_exit("loadgen");
    let outcome = match cli.command {
        None => engine::run::execute(cli.run, argv),
        Some(Command::BuildBase(args)) => harness::suite::base_build::execute(args),
        Some(Command::Compare(args)) => harness::compare::execute(args),
        Some(Command::Exact(args)) => harness::exact::execute(args),
        Some(Command::Merge(args)) => engine::merge::execute(args, argv),
        Some(Command::Ports(args)) => harness::ports::execute(args),
        Some(Command::Suite(args)) => harness::suite::execute(args, argv),
        Some(Command::Testbed(args)) => harness::testbed::execute(args),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => common::cli::report_error("loadgen", &e),
    }
}
