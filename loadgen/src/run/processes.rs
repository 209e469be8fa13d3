//! A run split over processes, for connection counts past one process's descriptor
//! limit (RLIMIT_NOFILE): the parent's side (the child's, and the wire between
//! them, are in `child`). The parent starts N children of itself, each with its
//! share of the connections (global ids `i, i + N, ...`, so every four-tuple family
//! stays balanced) and of the threads and cores. Every child connects, says so on
//! stdout and waits; when all have, the parent says `go` on their stdin, so every
//! process measures the same window. The parent prints one live line per second
//! from the children's seconds, says once that connections are unserved when a
//! child first does, and merges the children's figures exactly (`Histogram::add`)
//! into one result and one exit code. Every wait is bounded; a child that dies
//! counts as failed connections. A child dies with its parent: it gets SIGTERM
//! (PR_SET_PDEATHSIG) when the parent is killed, even with SIGKILL, and the
//! parent's scratch folder is swept by the next split run (`scratch`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use super::args::Config;
use super::child::{parse_line, ChildFigures, ChildLine};
use super::live::{self, Live};
use super::scratch::Scratch;
use super::served;
use super::tally::{Interval, Tally};
use super::worker::Report;
use super::{report, RunOutcome};

/// The errno name counted for connections of a child that died before reporting.
pub const CHILD_FAILED: &str = "CHILD_FAILED";

/// Merges children's figures into one outcome for `config` (the whole run's).
pub fn merge(config: &Config, children: &[ChildFigures], lost: u64) -> anyhow::Result<RunOutcome> {
    let mut tally = Tally::new(0);
    let mut seconds: BTreeMap<u64, Interval> = BTreeMap::new();
    for c in children {
        tally.merge(&c.tally()?);
        for f in &c.intervals {
            let iv = f.interval()?;
            match seconds.get_mut(&f.index) {
                Some(have) => have.merge(&iv),
                None => {
                    seconds.insert(f.index, iv);
                }
            }
        }
    }
    // Connections of children that died before reporting never came up.
    tally.requested = config.conns;
    if lost > 0 {
        *tally.failed_by_errno.entry(CHILD_FAILED.to_string()).or_default() += lost;
    }
    let intervals: Vec<Interval> = seconds.into_values().collect();
    let measured_s = children.iter().map(|c| c.measured_s).fold(0.0, f64::max);
    let interrupted = lost > 0 || children.iter().any(|c| c.interrupted);
    let started_at = children.iter().map(|c| c.started_at.clone()).min().unwrap_or_default();
    let mut result = report::build(report::Measured {
        config,
        tally: &tally,
        measured_s,
        series: live::series_of(&intervals),
        interrupted,
        started_at,
    })
    .map_err(anyhow::Error::msg)?;
    result.environment = crate::env::capture();
    let cpu_s = children.iter().map(|c| c.cpu_s).sum::<Option<f64>>();
    result.client_cpu_s = cpu_s;
    let exit_code = report::exit_code(&tally);
    Ok(RunOutcome { result, tally, intervals, exit_code, cpu_s })
}

/// The connections child `index` of `count` opens (ids `index, index + count, ...`).
pub fn share(conns: u64, index: u64, count: u64) -> u64 {
    (conns + count - 1 - index) / count
}

/// The flags child `index` of `count` runs with.
fn child_args(config: &Config, index: u64, count: u64, out: &Path) -> Vec<String> {
    let per = count as f64;
    let threads = (config.threads as u64).div_ceil(count).max(1) as usize;
    let mut a: Vec<String> = config.target_text.iter().map(|t| format!("--target={t}")).collect();
    a.push(format!("--conns={}", share(config.conns, index, count)));
    a.push(format!("--size={}", config.size));
    a.push(format!("--pipeline={}", config.pipeline));
    a.push(format!("--duration={}ms", config.duration.as_millis()));
    a.push(format!("--warmup={}ms", config.warmup.as_millis()));
    a.push(format!("--connect-timeout={}ms", config.connect_timeout.as_millis()));
    a.push(format!("--threads={threads}"));
    if !config.cores.is_empty() {
        let n = config.cores.len();
        let cores: Vec<String> = (0..threads.min(n))
            .map(|j| config.cores[(index as usize * threads + j) % n].to_string())
            .collect();
        a.push(format!("--cores={}", cores.join(",")));
    }
    if let Some(r) = config.rate {
        a.push(format!("--rate={}", r / per));
    }
    if let Some(r) = config.connect_rate {
        a.push(format!("--connect-rate={}", r / per));
    }
    if !config.sources.is_empty() {
        let s: Vec<String> = config.sources.iter().map(ToString::to_string).collect();
        a.push(format!("--src={}", s.join(",")));
    }
    a.push(format!("--scenario={}", config.scenario));
    a.push("--processes=1".into());
    a.push(format!("--child={index}/{count}"));
    a.push("--quiet".into());
    a.push("--child-out".into());
    a.push(out.display().to_string());
    a
}

/// One running child.
struct Running {
    child: Child,
    index: u64,
    out: PathBuf,
    connected: Option<u64>,
}

/// Runs `config` split over `count` processes and merges their figures.
pub fn run_split(
    config: &Config,
    count: u64,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<RunOutcome> {
    let exe = std::env::current_exe().context("cannot find loadgen's own path")?;
    // Removed when dropped, whichever way this function returns.
    let scratch = Scratch::create()?;
    let dir = &scratch.dir;
    // Each child's stdout, a line at a time; None when it closed.
    let (tx, rx) = mpsc::channel::<(u64, Option<String>)>();
    let mut kids: Vec<Running> = Vec::new();
    for index in 0..count {
        let out = dir.join(format!("child-{index}.json"));
        let mut command = Command::new(&exe);
        command
            .args(child_args(config, index, count, &out))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // A parent killed with SIGKILL leaves no load behind: the child gets SIGTERM
        // (its Ctrl-C path: stop, keep nothing running) when this thread dies. This
        // is the thread that waits for the children, so it outlives them.
        echod::sys::die_with_parent(&mut command, libc::SIGTERM);
        let mut child =
            command.spawn().with_context(|| format!("cannot start child process {index}"))?;
        let stdout = child.stdout.take().context("child stdout")?;
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send((index, Some(line)));
            }
            let _ = tx.send((index, None));
        });
        kids.push(Running { child, index, out, connected: None });
    }
    drop(tx);
    // Every child connects; bounded by the connect timeout and the connection count.
    let connect_bound = config.connect_timeout * 4 + Duration::from_secs(30 + config.conns / 2_000);
    let deadline = Instant::now() + connect_bound;
    // Children whose stdout closed already (they died while connecting).
    let mut closed = vec![false; kids.len()];
    while kids.iter_mut().any(|k| k.connected.is_none() && is_running(&mut k.child))
        && Instant::now() < deadline
        && !stop.load(Ordering::Relaxed)
    {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok((index, Some(line))) => {
                if let ChildLine::Connected(n) = parse_line(&line) {
                    kids[index as usize].connected = Some(n);
                }
            }
            Ok((index, None)) => closed[index as usize] = true,
            Err(_) => {}
        }
    }
    let up: u64 = kids.iter().filter_map(|k| k.connected).sum();
    let all = kids.iter().all(|k| k.connected.is_some());
    let word = if all && !stop.load(Ordering::Relaxed) { "go" } else { "stop" };
    if config.live {
        eprintln!(
            "loadgen: {up}/{} connections up across {count} processes; {}",
            config.conns,
            if word == "go" {
                format!("warm-up {:?}, then {:?} measured", config.warmup, config.duration)
            } else {
                "stopping".to_string()
            }
        );
    }
    for k in &mut kids {
        if let Some(stdin) = k.child.stdin.as_mut() {
            let _ = writeln!(stdin, "{word}");
        }
        k.child.stdin.take();
    }
    // Wait for every child: warm-up, measured phase, drain, and a margin.
    let bound = config.warmup + config.duration + config.drain_timeout + Duration::from_secs(30);
    let deadline = Instant::now() + bound;
    let mut forwarded = false;
    // The live line merges the children's seconds as they arrive; a child counts as
    // done when its stdout closes, so none of its seconds is left behind.
    let mut live = Live::new(kids.len(), config.live, config.conns);
    for (index, _) in closed.iter().enumerate().filter(|(_, c)| **c) {
        live.on_report(Report::Done(index));
    }
    // Per child: None while running, Some(exit code) once it ended.
    let mut statuses: Vec<Option<Option<i32>>> = vec![None; kids.len()];
    let mut unserved_said = false;
    while statuses.iter().any(Option::is_none) || !live.all_done() {
        if stop.load(Ordering::Relaxed) && !forwarded {
            for k in &mut kids {
                // Only a child not yet reaped: its pid cannot belong to another
                // process yet (a reaped child's may).
                if is_running(&mut k.child) {
                    let _ = echod::sys::terminate(k.child.id());
                }
            }
            forwarded = true;
        }
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok((index, Some(line))) => match parse_line(&line) {
                ChildLine::Interval(iv) => live.on_report(Report::Interval(index as usize, iv)),
                ChildLine::Unserved if !unserved_said => {
                    served::say(config.connect_timeout);
                    unserved_said = true;
                }
                _ => {}
            },
            Ok((index, None)) => live.on_report(Report::Done(index as usize)),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Every child's stdout is closed; wait for their exit codes.
                live.finish();
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        for (k, status) in kids.iter_mut().zip(statuses.iter_mut()) {
            if status.is_none() {
                if let Ok(Some(s)) = k.child.try_wait() {
                    *status = Some(s.code());
                }
            }
        }
        if Instant::now() > deadline {
            for (k, status) in kids.iter_mut().zip(statuses.iter_mut()) {
                if status.is_none() {
                    let _ = k.child.kill();
                    *status = Some(k.child.wait().ok().and_then(|s| s.code()));
                }
            }
            // A killed child's stdout may be held open by nobody else: stop waiting.
            live.finish();
        }
    }
    let mut figures = Vec::new();
    let mut lost = 0;
    for k in &kids {
        match std::fs::read_to_string(&k.out).ok().and_then(|t| serde_json::from_str(&t).ok()) {
            Some(f) => figures.push(f),
            None => {
                eprintln!(
                    "loadgen: child process {} ended ({:?}) without figures: its {} connections count as {CHILD_FAILED}",
                    k.index,
                    statuses[k.index as usize].flatten(),
                    share(config.conns, k.index, count)
                );
                lost += share(config.conns, k.index, count);
            }
        }
    }
    if figures.is_empty() {
        bail!("no child process of the split run reported figures");
    }
    merge(config, &figures, lost)
}

fn is_running(child: &mut Child) -> bool {
    matches!(child.try_wait(), Ok(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shares cover every connection exactly once.
    #[test]
    fn shares_add_up() {
        for (conns, count) in [(50_000u64, 3u64), (7, 3), (2, 3), (1, 1)] {
            let total: u64 = (0..count).map(|i| share(conns, i, count)).sum();
            assert_eq!(total, conns);
            let ids: u64 =
                (0..count).map(|i| (i..conns).step_by(count as usize).count() as u64).sum();
            assert_eq!(ids, conns);
        }
        assert_eq!(share(50_000, 0, 3), 16_667);
        assert_eq!(share(50_000, 2, 3), 16_666);
    }

    fn outcome(config: &Config, values: &[u64]) -> RunOutcome {
        use super::super::tally::{new_histogram, record};
        let mut t = Tally::new(config.conns);
        t.established = config.conns;
        t.served = config.conns;
        let mut iv = Interval {
            index: 0,
            end_s: 1.0,
            conns_up: config.conns,
            served: config.conns,
            unserved: 0,
            latency: new_histogram(),
            msgs: values.len() as u64,
            errors: 0,
        };
        for &v in values {
            record(&mut t.latency, v);
            record(&mut iv.latency, v);
        }
        t.messages = values.len() as u64;
        t.bytes = t.messages * 64;
        let result = report::build(report::Measured {
            config,
            tally: &t,
            measured_s: 1.0,
            series: live::series_of(std::slice::from_ref(&iv)),
            interrupted: false,
            started_at: "2026-01-01T00:00:00Z".into(),
        })
        .unwrap();
        RunOutcome { result, tally: t, intervals: vec![iv], exit_code: 0, cpu_s: Some(0.25) }
    }

    /// Children's figures travel through JSON and merge exactly: counts add, the
    /// histograms hold every sample, per-second series add; a lost child's
    /// connections count as failed.
    #[test]
    fn merge_is_exact_across_processes() {
        let addr = "127.0.0.1:9".parse().unwrap();
        let (a, b) = (Config::local_test(addr, 2), Config::local_test(addr, 3));
        let fa = ChildFigures::from_outcome(&outcome(&a, &[1_000, 2_000])).unwrap();
        let fb = ChildFigures::from_outcome(&outcome(&b, &[3_000, 4_000, 5_000_000])).unwrap();
        let wire = |f: &ChildFigures| -> ChildFigures {
            serde_json::from_str(&serde_json::to_string(f).unwrap()).unwrap()
        };
        let total = Config::local_test(addr, 5);
        let m = merge(&total, &[wire(&fa), wire(&fb)], 0).unwrap();
        assert_eq!(m.tally.latency.len(), 5);
        assert_eq!(m.tally.latency.min(), 1_000);
        assert!(m.tally.latency.max() >= 5_000_000);
        assert_eq!(m.result.throughput.messages, 5);
        assert_eq!(m.result.connections.established, 5);
        assert_eq!(m.result.connections.served, Some(5));
        assert_eq!(m.result.series[0].conns_served, Some(5));
        assert_eq!(m.result.series.len(), 1);
        assert_eq!(m.result.series[0].msgs, 5);
        assert_eq!(m.intervals[0].latency.len(), 5);
        assert_eq!(m.cpu_s, Some(0.5));
        assert_eq!(m.exit_code, 0);
        let lost = merge(&Config::local_test(addr, 8), &[wire(&fa), wire(&fb)], 3).unwrap();
        assert_eq!(lost.result.connections.failed_by_errno[CHILD_FAILED], 3);
        assert!(lost.result.interrupted);
        assert_eq!(lost.exit_code, 1);
    }
}
