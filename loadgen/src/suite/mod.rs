//! `loadgen suite`: the benchmark suite. It runs the plan ([`plan`]) step by step —
//! each step a server started and pinned ([`server`]), a calibration, and a loadgen
//! child run ([`runner`]) — then the four-tuple experiment, and writes a dated folder
//! with every run's JSON, the index (`suite.json`), the report (Markdown) and its
//! plots (SVG). Servers are stopped after each step, on failure and on Ctrl-C.
//! `--only` runs chosen scenarios; `--confirm BASE` ([`confirm`]) re-runs those
//! that look slower than BASE, so a regression must reproduce.

pub mod confirm;
pub mod plan;
pub mod runner;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};

use crate::compare;
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
    /// Run only this scenario (repeatable; the names `loadgen compare` prints), e.g.
    /// `--only "scaling echod reuseport w=1 conns=1000"`. An open-loop step brings
    /// the scaling step it takes its rate from.
    #[arg(long, value_name = "SCENARIO")]
    pub only: Vec<String>,
    /// After the repeats, compare with BASE (a results folder) as CI does, and run
    /// every scenario whose throughput regressed --repeat more times (confirm1/, ...),
    /// so `loadgen compare BASE OUT` judges on all the runs: a slow spell of the
    /// machine is outvoted, a real slowdown stays flagged.
    #[arg(long, value_name = "BASE")]
    pub confirm: Option<PathBuf>,
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
    /// A confirmation run (`--confirm`): a scenario re-run because it looked slower.
    #[serde(default)]
    pub confirm: bool,
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
    // BASE is read up front, so a wrong path fails before anything runs (exit 2).
    let base = match &args.confirm {
        Some(path) => {
            Some(compare::load::load_side(path).map_err(|e| anyhow::anyhow!("--confirm: {e}"))?)
        }
        None => None,
    };
    let mut programs = find_programs(args.peers.as_deref())?;
    programs.echod_args.clone_from(&args.echod_arg);
    let started_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("results").join(started_at.replace(':', "").trim_end_matches('Z'))
    });
    let cores = echod::pin::allowed_cores();
    let plan = plan::build(profile, &cores, programs.epoll_echo.is_some());
    let selected = plan::select(&plan, &args.only).map_err(anyhow::Error::msg)?;
    let needs_tokio =
        selected.iter().any(|&i| matches!(plan.steps[i].server, plan::ServerKind::Tokio { .. }));
    if needs_tokio && !programs.tokio_echo.exists() {
        bail!(
            "{} is missing: build the workspace first (cargo build --release --workspace), \
             or run scripts/bench",
            programs.tokio_echo.display()
        );
    }
    eprintln!(
        "suite: {:?} profile, {} steps × {} repeat(s) on {} cores → {}",
        profile,
        selected.len(),
        args.repeat,
        cores.len(),
        out.display()
    );
    if programs.epoll_echo.is_none() {
        eprintln!(
            "suite: the reference C server was not found (../shared/peers): peers step without it"
        );
    }
    let total = selected.len() * args.repeat as usize;
    let mut session = Session { programs: &programs, port: args.port, stop: &stop, n: 0, total };
    let mut steps = Vec::new();
    for rep in 1..=args.repeat {
        let sub = if args.repeat > 1 { format!("rep{rep}/") } else { String::new() };
        steps.extend(session.run_rep(&plan, &selected, &out, &sub, rep, false)?);
    }
    if let Some(base) = &base {
        steps.extend(confirm_suspects(&args, base, &plan, &out, &mut session)?);
    }
    let (ports_file, ports_note) = if args.no_ports || stop.load(Ordering::Relaxed) {
        (None, Some("not run (--no-ports or interrupted)".to_string()))
    } else if !args.only.is_empty() {
        (None, Some("not run (--only)".to_string()))
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

/// What every step of a suite run shares: the programs, the first port, the stop
/// flag and the progress count.
struct Session<'a> {
    programs: &'a Programs,
    port: u16,
    stop: &'a Arc<AtomicBool>,
    /// Steps run so far, and how many the progress line expects.
    n: usize,
    total: usize,
}

impl Session<'_> {
    /// Runs the `selected` steps of `plan` once into `out/sub` (`sub` is empty or
    /// ends in `/`); stops early when asked to. Each step listens on `port` + its
    /// index in the plan, whatever the selection.
    fn run_rep(
        &mut self,
        plan: &plan::Plan,
        selected: &[usize],
        out: &Path,
        sub: &str,
        rep: u32,
        confirm: bool,
    ) -> anyhow::Result<Vec<RepStep>> {
        let dir = out.join(sub);
        std::fs::create_dir_all(dir.join("runs"))
            .with_context(|| format!("--out {}: cannot create", dir.display()))?;
        let mut done: Vec<StepRecord> = Vec::new();
        let mut steps = Vec::new();
        for &i in selected {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let step = &plan.steps[i];
            self.n += 1;
            let rate = step.rate_fraction.map(|f| f * closed_loop_rate(&dir, &done, step.conns));
            eprint!("[{:>3}/{}] {:<48}", self.n, self.total, step.scenario);
            let port = self.port.wrapping_add(i as u16);
            let record = runner::run_step(self.programs, &dir, i, step, port, rate, self.stop);
            eprintln!("{}", progress_summary(&dir, &record));
            done.push(record.clone());
            let mut record = record;
            record.result_file = record.result_file.map(|f| format!("{sub}{f}"));
            steps.push(RepStep { rep, confirm, record });
        }
        Ok(steps)
    }
}

/// `--confirm BASE`: compares what ran with BASE and runs each scenario whose
/// throughput regressed `--repeat` more times, into `out/confirm1/`, ... (see
/// [`confirm`]); prints what it found before and after.
fn confirm_suspects(
    args: &SuiteArgs,
    base: &compare::load::Side,
    plan: &plan::Plan,
    out: &Path,
    session: &mut Session<'_>,
) -> anyhow::Result<Vec<RepStep>> {
    let base_name = args.confirm.as_deref().unwrap_or(Path::new("BASE")).display().to_string();
    if session.stop.load(Ordering::Relaxed) {
        return Ok(Vec::new());
    }
    // What ran is kept whatever happens here: a failure to compare is reported, and
    // `loadgen compare` in CI will name it again.
    let suspects = match confirm::suspects(base, out) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("confirm: cannot compare with {base_name}: {e}");
            return Ok(Vec::new());
        }
    };
    if suspects.is_empty() {
        eprintln!("confirm: no scenario slower than {base_name}");
        return Ok(Vec::new());
    }
    let names: Vec<String> = suspects.iter().map(|s| s.scenario.clone()).collect();
    let listed: Vec<String> = suspects.iter().map(confirm::describe).collect();
    eprintln!(
        "confirm: {} scenario(s) slower than {base_name}: {}; running each {} more time(s)",
        suspects.len(),
        listed.join(", "),
        args.repeat
    );
    let selected = plan::select(plan, &names).map_err(anyhow::Error::msg)?;
    session.n = 0;
    session.total = selected.len() * args.repeat as usize;
    let mut steps = Vec::new();
    for k in 1..=args.repeat {
        let sub = format!("confirm{k}/");
        steps.extend(session.run_rep(plan, &selected, out, &sub, args.repeat + k, true)?);
    }
    match confirm::suspects(base, out) {
        Ok(still) if still.is_empty() => {
            eprintln!("confirm: with every run pooled, none is slower: noise, not a regression")
        }
        Ok(still) => {
            let listed: Vec<String> = still.iter().map(confirm::describe).collect();
            eprintln!("confirm: still slower with every run pooled: {}", listed.join(", "))
        }
        Err(e) => eprintln!("confirm: cannot compare with {base_name}: {e}"),
    }
    Ok(steps)
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

/// Finds loadgen (this program), echod and tokio-echo beside it (tokio-echo is
/// checked later, only when a chosen step needs it), and the C peer.
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
    // Needed only by the peers steps: checked once the steps are chosen.
    let tokio_echo = dir.join("tokio-echo");
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
