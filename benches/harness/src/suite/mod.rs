//! `loadgen suite`: the benchmark suite. It runs the plan ([`plan`]) step by step —
//! each step a server started and pinned ([`server`]), a calibration, and a loadgen
//! child run ([`runner`]) — then the four-tuple experiment (and with `--full` or
//! `--testbed` the several-hosts step, [`testbed`]), and writes a dated folder
//! with every run's JSON, the index (`suite.json`), the report (Markdown) and its
//! plots (SVG). Servers are stopped after each step, on failure and on Ctrl-C.
//! `--only` runs chosen scenarios; `--confirm BASE` ([`confirm`]) re-runs those
//! that look slower than BASE, so a regression must reproduce. `--base DIR`
//! ([`builds`]) measures another build's servers side by side with this one's,
//! alternating, and confirms what looks slower the same way.

pub mod base_build;
pub mod builds;
pub mod clients;
pub mod confirm;
pub mod custom;
mod finish;
pub mod idle;
pub mod launch;
pub mod out_dir;
pub mod plan;
pub mod programs;
pub mod runner;
pub mod server;
mod session;
mod setup;
pub mod syscalls;
pub mod testbed;

use std::path::PathBuf;

use std::sync::Arc;

use anyhow::Context as _;

use crate::suite_index::Side;
use session::Session;

/// Flags of `loadgen suite`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
    loadgen suite                      default suite, about 8 minutes on 2 cores\n  \
    loadgen suite --quick --out results/tmp --repeat 3   CI: about 1 minute per repeat\n  \
    loadgen suite --full               up to 50,000 connections\n\n\
    Run it from the release build (scripts/bench does): echod and tokio-echo are taken\n\
    from the same folder as loadgen.")]
pub struct SuiteArgs {
    /// About a minute (for CI).
    #[arg(long, conflicts_with = "full")]
    pub quick: bool,
    /// Up to 50,000 connections.
    #[arg(long)]
    pub full: bool,
    /// Output folder (default: results/<UTC date and time>). It must be new or
    /// empty: stale runs left in it would be read with this run's by compare.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Empty --out first when it holds an earlier suite run's output: only the
    /// entries listed in the .loadgen-suite marker a suite run leaves are deleted;
    /// a folder without the marker, or with other entries, is refused (exit 2).
    #[arg(long)]
    pub force: bool,
    /// Run every step N times (rep1/, rep2/, ...): compare uses medians and spread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub repeat: u32,
    /// First server port; each step listens on its own (the default keeps clear of
    /// 12000, where a user's own echod usually listens).
    #[arg(long, default_value_t = 13000)]
    pub port: u16,
    /// Where the reference peers are (default: ../shared/peers beside the checkout).
    #[arg(long)]
    pub peers: Option<PathBuf>,
    /// Skip the four-tuple experiment.
    #[arg(long)]
    pub no_ports: bool,
    /// Run the several-hosts step (`loadgen testbed`: 3 agents in network namespaces
    /// of their own, one merged result) in any profile; --full runs it anyway.
    #[arg(long)]
    pub testbed: bool,
    /// An extra flag for every echod the suite starts (repeatable), e.g.
    /// `--echod-arg=--buffer=16` to measure what a setting costs: scenario names stay
    /// the same, so `loadgen compare` lines the runs up.
    #[arg(long, value_name = "FLAG", allow_hyphen_values = true)]
    pub echod_arg: Vec<String>,
    /// Run only this scenario (repeatable; the names `loadgen compare` prints), e.g.
    /// `--only "scaling echod reuseport w=1 conns=1000"`. An open-loop step brings
    /// the closed-loop step it takes its rate from.
    #[arg(long, value_name = "SCENARIO")]
    pub only: Vec<String>,
    /// A server of your own beside echod and its peers (repeatable):
    /// 'NAME=COMMAND ... {port} ...', run with `sh -c` for each peers step with
    /// {port} replaced, ready once the port accepts, stopped with SIGTERM.
    #[arg(long, value_name = "NAME=COMMAND")]
    pub server: Vec<String>,
    /// Run only the steps of this section (repeatable): scaling, open_loop, workers,
    /// models, peers, udp, clients, floor, idle_memory, soak.
    #[arg(long, value_name = "SECTION")]
    pub section: Vec<String>,
    /// After the repeats, compare with BASE (a results folder) as CI does, and run
    /// every scenario whose throughput regressed --repeat more times (confirm1/, ...),
    /// so `loadgen compare BASE OUT` judges on all the runs: a slow spell of the
    /// machine is outvoted, a real slowdown stays flagged.
    #[arg(long, value_name = "BASE", conflicts_with = "base")]
    pub confirm: Option<PathBuf>,
    /// Measure another build side by side: DIR holds its echod (and tokio-echo, if
    /// it has one; `loadgen build-base REV --out DIR` makes such a folder). Every step
    /// of those servers runs for both builds back to back on the same port, pinning
    /// and client, the order swapped every repeat; results go to OUT/base/ and
    /// OUT/new/ under the same scenario names. Scenarios whose throughput looks
    /// slower on the new side run --repeat more times on both (confirm1/, ...), and
    /// `loadgen compare OUT/base OUT/new` gives the verdict.
    #[arg(long, value_name = "DIR")]
    pub base: Option<PathBuf>,
    /// With --base or --confirm: how long the suite may go on after its repeats,
    /// running one more round of each scenario whose verdict is still open (too
    /// few pairs, or an interval too wide to call), until all are decided.
    #[arg(long, default_value = "3m", value_parser = common::units::parse_duration)]
    pub top_up_budget: std::time::Duration,
    /// With --base or --confirm: at most this many top-up rounds.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub max_rounds: u32,
    /// A run counts as disturbed when more than CORES cores were busy outside
    /// loadgen and the server over its measured window (or steal passed 0.05
    /// cores): it is set aside and run again (at most twice a run, 12 times a
    /// suite), and compare leaves disturbed runs out of its pairs. Raise it on a
    /// machine that is never quiet.
    #[arg(long, value_name = "CORES", default_value_t = engine::run::values::DISTURBED_ABOVE, value_parser = engine::run::values::parse_disturbed_above)]
    pub disturbed_above: f64,
    /// Measure every step this long instead of the profile's (e.g. `2s`).
    #[arg(long, value_parser = common::units::parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// Warm every step up this long instead of the profile's (e.g. `500ms`).
    #[arg(long, value_parser = common::units::parse_duration)]
    pub warmup: Option<std::time::Duration>,
    /// Measure nothing: rewrite report.md and the plots of an existing suite folder
    /// from its suite.json and result files.
    #[arg(long, value_name = "DIR")]
    pub render: Option<PathBuf>,
}

/// Runs the suite; exit 0 when every step produced a clean result, 1 otherwise,
/// 130 or 143 when SIGINT or SIGTERM interrupted it (what it measured until then
/// is in the folder and the report).
pub fn execute(args: SuiteArgs, argv: Vec<String>) -> anyhow::Result<u8> {
    if let Some(dir) = &args.render {
        let index = crate::suite_index::read(dir).context("--render")?;
        let report = crate::report::write(dir, &index).context("cannot write the report")?;
        eprintln!("suite: report {}", report.display());
        return Ok(common::cli::EXIT_OK);
    }
    let signals = common::signals::Signals::install().context("cannot install signal handler")?;
    let stop = Arc::clone(signals.stop_flag());
    // Checked, found and chosen before anything runs; each step's sides worked out.
    let setup = setup::prepare(&args)?;
    eprintln!(
        "suite: {:?} profile, {} runs × {} repeat(s) on {} cores → {}",
        setup.profile,
        builds::runs(&setup.jobs),
        args.repeat,
        setup.cores,
        setup.out.display()
    );
    if let (Some(b), Some(dir)) = (&setup.programs.base, &args.base) {
        eprintln!(
            "suite: base build {} ({}){}: its servers run beside this build's, alternating",
            dir.display(),
            b.revision.as_deref().unwrap_or("revision unknown"),
            if b.tokio_echo.is_some() { "" } else { ", without tokio-echo" }
        );
    }
    if setup.programs.epoll_echo.is_none() {
        eprintln!(
            "suite: the reference C server was not found (../shared/peers): peers step without it"
        );
    }
    let mut session = Session::new(&setup.programs, &setup.plan, &setup.schedule, args.port, &stop);
    let mut steps = session.run(&setup.out, args.repeat)?;
    steps.extend(confirm::suspects_again(&args, &setup, &mut session)?);
    let index = finish::index(&args, &setup, argv, steps, &stop);
    std::fs::write(setup.out.join("suite.json"), serde_json::to_string_pretty(&index)?)?;
    let report = crate::report::write(&setup.out, &index).context("cannot write the report")?;
    eprintln!("suite: report {}", report.display());
    // The base build's runs do not decide the exit code: an older build may lack
    // what a step asks of it (its scenario is then one only NEW has).
    let clean = index.steps.iter().filter(|s| s.side != Some(Side::Base)).all(|s| s.record.clean());
    // Interrupted: 128 + the signal (130, 143), as a run's exit code says it.
    Ok(match signals.exit_code() {
        Some(code) => code,
        None if clean && !index.interrupted => common::cli::EXIT_OK,
        None => common::cli::EXIT_FAILED,
    })
}
