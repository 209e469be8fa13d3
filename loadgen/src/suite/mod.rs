//! `loadgen suite`: the benchmark suite. It runs the plan ([`plan`]) step by step —
//! each step a server started and pinned ([`server`]), a calibration, and a loadgen
//! child run ([`runner`]) — then the four-tuple experiment, and writes a dated folder
//! with every run's JSON, the index (`suite.json`), the report (Markdown) and its
//! plots (SVG). Servers are stopped after each step, on failure and on Ctrl-C.

pub mod plan;
pub mod runner;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};

use plan::{Profile, Section};
use runner::{Programs, StepRecord};

/// Flags of `loadgen suite`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
    loadgen suite                      default suite, about 5 minutes on 2 cores\n  \
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
    /// Output folder (default: results/<UTC date and time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
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
    /// An extra flag for every echod the suite starts (repeatable), e.g.
    /// `--echod-arg=--buffer=16` to measure what a setting costs: scenario names stay
    /// the same, so `loadgen compare` lines the runs up.
    #[arg(long, value_name = "FLAG", allow_hyphen_values = true)]
    pub echod_arg: Vec<String>,
    /// Measure nothing: rewrite report.md and the plots of an existing suite folder
    /// from its suite.json and result files.
    #[arg(long, value_name = "DIR")]
    pub render: Option<PathBuf>,
}

/// The suite's index file: what ran, where each result is, what the server did.
/// It has no `schema_version`, so `loadgen compare` skips it when reading a folder.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SuiteIndex {
    /// Always `loadgen-suite/1`.
    pub suite_format: String,
    pub profile: String,
    pub command: Vec<String>,
    pub started_at: String,
    pub finished_at: String,
    pub interrupted: bool,
    pub environment: crate::result::Environment,
    /// Steps of every repeat, `rep` = 1..N.
    pub steps: Vec<RepStep>,
    /// The four-tuple experiment's JSON, relative to the folder.
    pub ports_file: Option<String>,
    /// Why the experiment did not run, if it did not.
    pub ports_note: Option<String>,
    /// Whether the reference C server took part.
    pub c_peer: bool,
}

/// One step of one repeat.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RepStep {
    pub rep: u32,
    #[serde(flatten)]
    pub record: StepRecord,
}

/// Runs the suite; exit 0 when every step produced a clean result, 1 otherwise.
pub fn execute(args: SuiteArgs, argv: Vec<String>) -> anyhow::Result<u8> {
    let profile = match (args.quick, args.full) {
        (true, _) => Profile::Quick,
        (_, true) => Profile::Full,
        _ => Profile::Default,
    };
    if let Some(dir) = &args.render {
        let path = dir.join("suite.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("--render {}: cannot read suite.json", dir.display()))?;
        let index: SuiteIndex = serde_json::from_str(&text)
            .with_context(|| format!("--render {}: not a suite index", path.display()))?;
        let report = crate::report::write(dir, &index).context("cannot write the report")?;
        eprintln!("suite: report {}", report.display());
        return Ok(0);
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("cannot install signal handler")?;
    }
    let mut programs = find_programs(args.peers.as_deref())?;
    programs.echod_args.clone_from(&args.echod_arg);
    let started_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("results").join(started_at.replace(':', "").trim_end_matches('Z'))
    });
    let cores = echod::pin::allowed_cores();
    let plan = plan::build(profile, &cores, programs.epoll_echo.is_some());
    let total = plan.steps.len() * args.repeat as usize;
    eprintln!(
        "suite: {:?} profile, {} steps × {} repeat(s) on {} cores → {}",
        profile,
        plan.steps.len(),
        args.repeat,
        cores.len(),
        out.display()
    );
    if programs.epoll_echo.is_none() {
        eprintln!(
            "suite: the reference C server was not found (../shared/peers): peers step without it"
        );
    }
    let mut steps = Vec::new();
    let mut n = 0;
    'reps: for rep in 1..=args.repeat {
        let dir = if args.repeat > 1 { out.join(format!("rep{rep}")) } else { out.clone() };
        std::fs::create_dir_all(dir.join("runs"))
            .with_context(|| format!("--out {}: cannot create", dir.display()))?;
        let mut done: Vec<StepRecord> = Vec::new();
        for (i, step) in plan.steps.iter().enumerate() {
            if stop.load(Ordering::Relaxed) {
                break 'reps;
            }
            n += 1;
            let rate = step.rate_fraction.map(|f| f * closed_loop_rate(&dir, &done, step.conns));
            eprint!("[{n:>3}/{total}] {:<48}", step.scenario);
            let port = args.port.wrapping_add(i as u16);
            let record = runner::run_step(&programs, &dir, i, step, port, rate, &stop);
            eprintln!("{}", progress_summary(&dir, &record));
            done.push(record.clone());
            let rel_dir = if args.repeat > 1 { format!("rep{rep}/") } else { String::new() };
            let mut record = record;
            record.result_file = record.result_file.map(|f| format!("{rel_dir}{f}"));
            steps.push(RepStep { rep, record });
        }
    }
    let (ports_file, ports_note) = if args.no_ports || stop.load(Ordering::Relaxed) {
        (None, Some("not run (--no-ports or interrupted)".to_string()))
    } else {
        eprint!("[ports] four-tuple experiment in a private network namespace ... ");
        run_ports(&programs.loadgen, &out)
    };
    let index = SuiteIndex {
        suite_format: "loadgen-suite/1".into(),
        profile: format!("{profile:?}").to_lowercase(),
        command: argv,
        started_at,
        finished_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        interrupted: stop.load(Ordering::Relaxed),
        environment: crate::env::capture(),
        steps,
        ports_file,
        ports_note,
        c_peer: programs.epoll_echo.is_some(),
    };
    std::fs::write(out.join("suite.json"), serde_json::to_string_pretty(&index)?)?;
    let report = crate::report::write(&out, &index).context("cannot write the report")?;
    eprintln!("suite: report {}", report.display());
    let clean =
        index.steps.iter().all(|s| s.record.error.is_none() && s.record.exit_code == Some(0));
    Ok(if clean && !index.interrupted { 0 } else { 1 })
}

/// Closed-loop msgs/s measured at `conns` earlier in this repeat (scaling section).
fn closed_loop_rate(dir: &Path, done: &[StepRecord], conns: u64) -> f64 {
    done.iter()
        .filter(|r| r.section == Section::Scaling && r.conns == conns)
        .filter_map(|r| crate::report::load_result(dir, r.result_file.as_deref()?).ok())
        .map(|r| r.throughput.msgs_per_sec)
        .next()
        .filter(|r| *r > 0.0)
        .unwrap_or(10_000.0)
}

fn progress_summary(dir: &Path, r: &StepRecord) -> String {
    if let Some(e) = &r.error {
        return format!("FAILED: {e}");
    }
    match r.result_file.as_deref().map(|f| crate::report::load_result(dir, f)) {
        Some(Ok(res)) => format!(
            "{:>9} msgs/s  p50 {:>9}  p99 {:>9}  exit {}",
            echod::units::fmt_count(res.throughput.msgs_per_sec),
            echod::units::fmt_micros(res.latency_us.p50),
            echod::units::fmt_micros(res.latency_us.p99),
            r.exit_code.unwrap_or(-1)
        ),
        _ => "no result".into(),
    }
}

fn run_ports(loadgen: &Path, out: &Path) -> (Option<String>, Option<String>) {
    let file = out.join("ports.json");
    let res = Command::new(loadgen).arg("ports").arg("--json").arg(&file).output();
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

/// Finds loadgen (this program), echod and tokio-echo beside it, and the C peer.
fn find_programs(peers: Option<&Path>) -> anyhow::Result<Programs> {
    let loadgen = std::env::current_exe().context("cannot find loadgen's own path")?;
    let dir = loadgen.parent().context("loadgen has no folder")?.to_path_buf();
    let sibling = |name: &str| -> anyhow::Result<PathBuf> {
        let p = dir.join(name);
        if !p.exists() {
            bail!(
                "{} is missing: build the workspace first (cargo build --release --workspace), \
                 or run scripts/bench",
                p.display()
            );
        }
        Ok(p)
    };
    let echod = sibling("echod")?;
    let tokio_echo = sibling("tokio-echo")?;
    let epoll_echo = build_c_peer(peers, &dir);
    Ok(Programs { loadgen, echod, tokio_echo, epoll_echo, echod_args: Vec::new() })
}

/// Compiles ../shared/peers/c_epoll_echo/epoll_echo.c into `<bin dir>/peers/` when
/// the source is there and gcc works; None otherwise (the suite runs without it).
fn build_c_peer(peers: Option<&Path>, bin_dir: &Path) -> Option<PathBuf> {
    let peers = match peers {
        Some(p) => p.to_path_buf(),
        None => {
            let top = Command::new("git").args(["rev-parse", "--show-toplevel"]).output().ok()?;
            let top = PathBuf::from(String::from_utf8_lossy(&top.stdout).trim());
            top.parent()?.join("shared/peers")
        }
    };
    let src = peers.join("c_epoll_echo/epoll_echo.c");
    if !src.exists() {
        return None;
    }
    let out_dir = bin_dir.join("peers");
    std::fs::create_dir_all(&out_dir).ok()?;
    let bin = out_dir.join("epoll_echo");
    let status =
        Command::new("gcc").args(["-O2", "-pthread", "-o"]).arg(&bin).arg(&src).status().ok()?;
    status.success().then_some(bin)
}
