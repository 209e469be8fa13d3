//! `loadgen exact`: figures of echod's own code that kernel noise cannot move, on a
//! fixed workload (closed loop, 64 B, `--conns 1` and `--conns 50`, and one that
//! comes and goes: the accept path; loopback):
//! user-space instructions per message counted by callgrind, and system calls and
//! context switches per round trip counted natively. echod spends ~95% of its CPU in
//! the kernel's loopback TCP path, so a regression in its own code hides in the
//! throughput's noise; these figures move by well under 1% between runs. With
//! `--base DIR` the two builds alternate (base, new, new, base, ...) and each
//! figure gets a verdict. Exit 0, 1 on a regression, 2 on bad input or a missing
//! tool (`--skip-missing`: a printed skip and 0).
//!
//! # Layout
//!
//! - [`tools`]: echod of each build, valgrind, callgrind_control, perf; versions.
//! - [`workload`]: the fixed workload and one loadgen run of it.
//! - [`callgrind`]: instructions per message (dumps, the difference of two runs).
//! - [`native`]: system calls (the suite's perf counter) and context switches.
//! - [`user_share`]: `--user-share`, user-space CPU per round trip by sampling
//!   (informational).
//! - [`verdict`]: metrics, tolerances, the verdict rule, median and spread.
//! - [`report`]: records, rows, exact.json, the table.

pub mod callgrind;
pub mod native;
pub mod report;
pub mod tools;
pub mod user_share;
pub mod verdict;
pub mod workload;

use std::path::PathBuf;

use anyhow::Context as _;
use common::cli::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

use crate::compare::Format;
use report::{Record, Report};
use tools::Tools;
use verdict::Tolerances;

const AFTER_HELP: &str = "\
Figures per workload (conns=1 and conns=50, 64 B, closed loop; one connection that
comes and goes, one echo each: the accept path), lower is better:
  instructions      echod's user-space instructions per message (callgrind)
  syscalls          echod's system calls per round trip (perf raw_syscalls)
  context-switches  echod's context switches per round trip (/proc)

Examples:
  loadgen exact                                  this build, 3 rounds
  loadgen exact --base target/base-bin           base and new alternating, verdicts
  loadgen exact --base B --tolerance-for syscalls=3% --format markdown";

/// `loadgen exact`'s flags.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = AFTER_HELP)]
pub struct ExactArgs {
    /// The echod to measure (default: the one beside loadgen, else on PATH).
    #[arg(long, value_name = "PATH")]
    pub echod: Option<PathBuf>,
    /// The other build's folder (DIR/echod, as `loadgen build-base --out DIR` makes):
    /// measured alternately with this one, each figure a verdict.
    #[arg(long, value_name = "DIR")]
    pub base: Option<PathBuf>,
    /// Where exact.json goes (and the tools' scratch files while they run).
    #[arg(long, value_name = "DIR", default_value = "results/tmp/exact")]
    pub out: PathBuf,
    /// Tolerance of instructions per message, e.g. 1% (default 1%).
    #[arg(long, value_name = "PCT")]
    pub tolerance: Option<String>,
    /// Tolerance of one figure, e.g. syscalls=2% (repeatable; defaults: syscalls and
    /// context-switches 2%).
    #[arg(long, value_name = "METRIC=PCT")]
    pub tolerance_for: Vec<String>,
    /// Rounds per build.
    #[arg(long, default_value = "3", value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Also echod's user-space CPU ns per round trip, by sampling at 20 kHz
    /// (informational, never gating; one more native run per workload).
    #[arg(long)]
    pub user_share: bool,
    /// A missing valgrind or perf is a printed skip and exit 0 (for CI whose install failed).
    #[arg(long)]
    pub skip_missing: bool,
}

/// A build being measured.
struct Build {
    name: &'static str,
    echod: PathBuf,
}

/// Runs `loadgen exact`; the exit code (bad input is an error: exit 2).
pub fn execute(args: ExactArgs) -> anyhow::Result<u8> {
    let tolerances = Tolerances::from_flags(args.tolerance.as_deref(), &args.tolerance_for)
        .map_err(anyhow::Error::msg)?;
    // Bad input first (exit 2 whether or not the tools are there), then the tools.
    let loadgen = std::env::current_exe().context("cannot find loadgen's own path")?;
    let mut builds =
        vec![Build { name: "new", echod: tools::new_echod(args.echod.as_deref(), &loadgen)? }];
    if let Some(dir) = &args.base {
        builds.insert(0, Build { name: "base", echod: tools::base_echod(dir)? });
    }
    let tools = match Tools::find(loadgen) {
        Ok(tools) => tools,
        Err(missing) if args.skip_missing => {
            common::cli::print(&format!("exact: skipped: {missing}\n"));
            return Ok(EXIT_OK);
        }
        Err(missing) => {
            common::say!("loadgen: {missing}");
            return Ok(EXIT_USAGE);
        }
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("--out {}: cannot create it", args.out.display()))?;
    let mut records = Vec::new();
    for round in 0..args.rounds {
        for build in order(&builds, round) {
            common::say!(
                "exact: round {} of {}: {} ({})",
                round + 1,
                args.rounds,
                build.name,
                build.echod.display()
            );
            records.extend(measure(&tools, build, round, &args)?);
        }
    }
    let report = Report::new(tools.versions(), tolerances, records);
    let file = args.out.join("exact.json");
    std::fs::write(&file, report.render(Format::Json))
        .with_context(|| format!("cannot write {}", file.display()))?;
    engine::run::output::print_stdout(&report.render(args.format))?;
    common::say!("exact: {}", file.display());
    Ok(if report.regressed() { EXIT_FAILED } else { EXIT_OK })
}

/// The builds in round `round`'s order: base, new in even rounds, new, base in odd
/// ones (so neither build always goes first on a machine that warms or cools).
fn order(builds: &[Build], round: u32) -> Vec<&Build> {
    let mut v: Vec<&Build> = builds.iter().collect();
    if round % 2 == 1 {
        v.reverse();
    }
    v
}

/// One round of one build: callgrind, then native; a record per workload.
fn measure(
    tools: &Tools,
    build: &Build,
    round: u32,
    args: &ExactArgs,
) -> anyhow::Result<Vec<Record>> {
    let scratch = args.out.join(format!("{}-scratch", build.name));
    std::fs::create_dir_all(&scratch)
        .with_context(|| format!("cannot create {}", scratch.display()))?;
    let instructions = {
        let mut server = callgrind::Server::start(
            &tools.valgrind,
            &tools.callgrind_control,
            &build.echod,
            &scratch,
        )?;
        server.measure(&tools.loadgen, &workload::WORKLOADS)?
    };
    let (perf, loadgen, loads) = (&tools.perf, &tools.loadgen, &workload::WORKLOADS);
    let counts = native::measure(perf, loadgen, &build.echod, &scratch, loads, args.user_share)?;
    let _ = std::fs::remove_dir_all(&scratch);
    let records = workload::WORKLOADS
        .iter()
        .zip(instructions.iter().zip(&counts))
        .map(|(&w, (&ir, c))| Record {
            build: build.name,
            round,
            workload: workload::name(w),
            conns: w.conns,
            instructions_per_msg: ir,
            syscalls_per_rt: c.syscalls_per_rt,
            ctx_switches_per_rt: c.ctx_switches_per_rt,
            native_messages: c.messages,
            user_ns_per_rt: c.user_ns_per_rt,
        })
        .collect();
    Ok(records)
}
