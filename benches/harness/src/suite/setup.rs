//! What `loadgen suite` works out from its flags before anything runs: BASE and
//! the base build read, the output folder checked, the programs found, the plan
//! built and the steps chosen. Every mistake in the flags fails here (exit 2),
//! before a server starts; and the suite index is written from it at the end.

use std::path::{Path, PathBuf};

use anyhow::bail;

use super::builds::{self, Build, Job, Schedule};
use super::plan::{self, Plan, Profile};
use super::programs::{self, Programs};
use super::{custom, out_dir, SuiteArgs};
use crate::compare;

/// The suite run its flags describe.
pub(super) struct Setup {
    pub profile: Profile,
    /// When it started (RFC 3339), also the default folder's name.
    pub started_at: String,
    pub out: PathBuf,
    /// `--confirm BASE`: the results it compares with.
    pub confirm_base: Option<compare::load::Side>,
    pub programs: Programs,
    pub plan: Plan,
    /// The scenarios `--only` and `--section` chose (empty: all).
    pub only: Vec<String>,
    /// The steps that run, each with the sides it runs on: worked out once here.
    pub jobs: Vec<Job>,
    /// Their runs in `--repeat` repeats (and confirmations), in order.
    pub schedule: Schedule,
    /// How many cores the suite may use.
    pub cores: usize,
    /// Lists what this run wrote in the folder's marker, whichever way it ends.
    _sealed: out_dir::Sealed,
}

/// Reads and checks what `args` name, finds the programs and builds the plan.
pub(super) fn prepare(args: &SuiteArgs) -> anyhow::Result<Setup> {
    let profile = match (args.quick, args.full) {
        (true, _) => Profile::Quick,
        (_, true) => Profile::Full,
        _ => Profile::Default,
    };
    // BASE is read up front, so a wrong path fails before anything runs (exit 2).
    let confirm_base = match &args.confirm {
        Some(path) => {
            Some(compare::load::load_side(path).map_err(|e| anyhow::anyhow!("--confirm: {e}"))?)
        }
        None => None,
    };
    let customs = custom::parse_all(&args.server).map_err(anyhow::Error::msg)?;
    let base_build = match &args.base {
        Some(dir) => Some(Build::from_dir(dir).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let started_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("results").join(started_at.replace(':', "").trim_end_matches('Z'))
    });
    // Before anything is built or run: --out new or empty, or a suite's (--force).
    out_dir::prepare(&out, args.force)?;
    let mut programs = programs::find_programs(args.peers.as_deref(), profile != Profile::Quick)?;
    programs.echod_args.clone_from(&args.echod_arg);
    programs.base = base_build;
    let cores = common::pin::allowed_cores();
    let mut plan = plan::build(profile, &cores, programs.tools());
    plan::add_custom(&mut plan, &customs);
    for step in &mut plan.steps {
        step.duration = args.duration.unwrap_or(step.duration);
        step.warmup = args.warmup.unwrap_or(step.warmup);
        step.disturbed_above = args.disturbed_above;
    }
    let mut only = args.only.clone();
    for name in &args.section {
        only.extend(plan::section_scenarios(&plan, name).map_err(anyhow::Error::msg)?);
    }
    let selected = plan::select(&plan, &only).map_err(anyhow::Error::msg)?;
    if plan::runs_tokio(&plan, &selected) && programs.new.tokio_echo.is_none() {
        let dir = programs.loadgen.parent().unwrap_or(Path::new("."));
        bail!(
            "tokio-echo is neither beside loadgen ({}) nor on PATH: build the workspace \
             (cargo build --release --workspace, or scripts/bench), or install it \
             (cargo install --path benches/tokio-echo)",
            dir.display()
        );
    }
    let _sealed = out_dir::begin(&out)?;
    let jobs = builds::jobs(&plan, &selected, programs.base.as_ref());
    let schedule = Schedule::new(&jobs, args.repeat);
    let setup = Setup {
        profile,
        started_at,
        out,
        confirm_base,
        programs,
        plan,
        only,
        jobs,
        schedule,
        cores: cores.len(),
        _sealed,
    };
    Ok(setup)
}
