//! The end of a suite run: what runs beside its steps ([`Others`]: the four-tuple
//! experiment and the several-hosts step, each a file or a note saying why not),
//! then the index of everything that ran (`suite.json`).

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use super::plan::Profile;
use super::setup::Setup;
use super::{testbed, SuiteArgs};
use crate::suite_index::{BuildsInfo, RepStep, SuiteIndex};

/// Runs what the suite runs beside its steps ([`Others`]), then writes down the
/// run: `steps`, and `command` as it was started.
pub(super) fn index(
    args: &SuiteArgs,
    setup: &Setup,
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
    fn run(args: &SuiteArgs, setup: &Setup, stop: &AtomicBool) -> Others {
        let (profile, out) = (setup.profile, &setup.out);
        let (ports_file, ports_note) = if args.no_ports || stop.load(Ordering::Relaxed) {
            (None, Some("not run (--no-ports or interrupted)".to_string()))
        } else if !setup.only.is_empty() {
            (None, Some("not run (--only or --section)".to_string()))
        } else {
            eprint!("[ports] four-tuple experiment in a private network namespace ... ");
            // Quick (CI's) leaves out the cases in time: they take about 75 s.
            run_ports(&setup.programs.loadgen, out, profile == Profile::Quick)
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

fn run_ports(loadgen: &Path, out: &Path, no_time: bool) -> (Option<String>, Option<String>) {
    let file = out.join("ports.json");
    let mut cmd = Command::new(loadgen);
    cmd.arg("ports").arg("--json").arg(&file);
    if no_time {
        cmd.arg("--no-time");
    }
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
