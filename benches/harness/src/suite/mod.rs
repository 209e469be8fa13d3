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

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context as _;

use crate::suite_index::{BuildsInfo, RepStep, Side, SuiteIndex};
use plan::Profile;
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
    let stop = Arc::new(AtomicBool::new(false));
    // The signal that interrupted the suite (0: none), for its exit code.
    let caught = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register_usize(sig, Arc::clone(&caught), sig as usize))
            .context("cannot install signal handler")?;
    }
    // Checked, found and chosen before anything runs; each step's sides worked out.
    let setup = setup::prepare(&args)?;
    let mut session = Session::new(&setup.programs, &setup.plan, &setup.jobs, args.port, &stop);
    let mut steps = session.run(&setup.out, args.repeat)?;
    steps.extend(confirm::suspects_again(&args, &setup, &mut session)?);
    let index = index(&args, &setup, argv, steps, &stop);
    std::fs::write(setup.out.join("suite.json"), serde_json::to_string_pretty(&index)?)?;
    let report = crate::report::write(&setup.out, &index).context("cannot write the report")?;
    eprintln!("suite: report {}", report.display());
    // The base build's runs do not decide the exit code: an older build may lack
    // what a step asks of it (its scenario is then one only NEW has).
    let clean = index.steps.iter().filter(|s| s.side != Some(Side::Base)).all(|s| s.record.clean());
    // Interrupted: 128 + the signal (130, 143), as a run's exit code says it.
    Ok(match caught.load(Ordering::Relaxed) as i32 {
        signal_hook::consts::SIGINT => common::cli::EXIT_SIGINT,
        signal_hook::consts::SIGTERM => common::cli::EXIT_SIGTERM,
        _ if clean && !index.interrupted => common::cli::EXIT_OK,
        _ => common::cli::EXIT_FAILED,
    })
}

/// Runs what the suite runs beside its steps ([`Others`]), then writes down the
/// run: `steps`, and `command` as it was started.
fn index(
    args: &SuiteArgs,
    setup: &setup::Setup,
    command: Vec<String>,
    steps: Vec<RepStep>,
    stop: &AtomicBool,
) -> SuiteIndex {
    let others = Others::run(args, setup, stop);
    SuiteIndex {
        suite_format: "loadgen-suite/1".into(),
        profile: format!("{:?}", setup.profile).to_lowercase(),
        command,
        started_at: setup.started_at.clone(),
        finished_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        interrupted: stop.load(Ordering::Relaxed),
        environment: engine::env::capture(),
        steps,
        ports_file: others.ports_file,
        ports_note: others.ports_note,
        testbed_dir: others.testbed_dir,
        testbed_note: others.testbed_note,
        c_peer: setup.programs.epoll_echo.is_some(),
        builds: setup.programs.base.as_ref().map(|b| BuildsInfo {
            base_dir: args.base.as_deref().unwrap_or(Path::new("")).display().to_string(),
            base_revision: b.revision.clone(),
            base_has_tokio: b.tokio_echo.is_some(),
        }),
    }
}

/// What the suite runs beside its steps: the four-tuple experiment and the
/// several-hosts step, each a file (folder) or a note saying why not.
struct Others {
    ports_file: Option<String>,
    ports_note: Option<String>,
    testbed_dir: Option<String>,
    testbed_note: Option<String>,
}

impl Others {
    /// Runs the four-tuple experiment unless `--no-ports`, `--only` or `--section`
    /// say not to, and the several-hosts step when `--testbed` or `--full` ask for
    /// it; neither once `stop` is set.
    fn run(args: &SuiteArgs, setup: &setup::Setup, stop: &AtomicBool) -> Others {
        let (profile, out) = (setup.profile, &setup.out);
        let (ports_file, ports_note) = if args.no_ports || stop.load(Ordering::Relaxed) {
            (None, Some("not run (--no-ports or interrupted)".to_string()))
        } else if !setup.only.is_empty() {
            (None, Some("not run (--only or --section)".to_string()))
        } else {
            eprint!("[ports] four-tuple experiment in a private network namespace ... ");
            run_ports(&setup.programs.loadgen, out)
        };
        let wanted = args.testbed || (profile == Profile::Full && setup.only.is_empty());
        let (testbed_dir, testbed_note) = if !wanted {
            (None, Some("not run (--full or --testbed runs it)".to_string()))
        } else if stop.load(Ordering::Relaxed) {
            (None, Some("not run (interrupted)".to_string()))
        } else {
            eprint!("[testbed] {} agents in network namespaces of their own ... ", testbed::AGENTS);
            let conns = if profile == Profile::Full { 9_000 } else { 3_000 };
            let duration = args.duration.unwrap_or(std::time::Duration::from_secs(5));
            let warmup = args.warmup.unwrap_or(std::time::Duration::from_secs(1));
            testbed::run(&setup.programs.loadgen, out, conns, duration, warmup)
        };
        Others { ports_file, ports_note, testbed_dir, testbed_note }
    }
}

fn run_ports(loadgen: &Path, out: &Path) -> (Option<String>, Option<String>) {
    let file = out.join("ports.json");
    let mut cmd = Command::new(loadgen);
    cmd.arg("ports").arg("--json").arg(&file);
    common::sys::die_with_parent(&mut cmd, libc::SIGTERM);
    let res = cmd.output();
    match res {
        Ok(o) if file.exists() => {
            std::fs::write(out.join("ports.txt"), &o.stdout).ok();
            eprintln!("done (exit {})", o.status.code().unwrap_or(-1));
            (Some("ports.json".into()), None)
        }
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr).trim().to_string();
            eprintln!("skipped: {why}");
            (None, Some(why))
        }
        Err(e) => {
            eprintln!("skipped: {e}");
            (None, Some(e.to_string()))
        }
    }
}
