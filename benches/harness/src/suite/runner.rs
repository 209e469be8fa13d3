//! Runs one step of the plan: start the server (pinned), take the calibration,
//! run loadgen as a child process with `--json` while sampling the server's RSS,
//! stop the server, read its per-worker stats, and record what happened. A step that
//! fails is recorded with its reason and the suite goes on; every wait is bounded.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::launch::server_command;
use super::plan::{Client, ServerKind, Step};
use super::programs::Programs;
use super::server::ServerProc;
use super::{clients, idle, syscalls};
use crate::suite_index::{Section, ServerSample, Side, StepRecord};
use anyhow::{bail, Context as _};
use common::child::{Child, Out, Spec};
use common::procfs;
use engine::result::RunResult;
use engine::run::{CoreList, Proto, RunArgs, Target};

/// How often the server's memory and descriptors go into the step's time series.
const SERIES_EVERY: Duration = Duration::from_secs(1);
/// How long the sample that counts a server's system calls runs.
const SYSCALL_SAMPLE: Duration = Duration::from_secs(2);

/// One run of a step: which step, on which build's side, into which folder, on
/// which port, at which rate (open loop).
pub struct StepRun<'a> {
    /// The step's index in the plan (its file names start with it).
    pub index: usize,
    pub step: &'a Step,
    /// The build whose servers run (None: the only build there is).
    pub side: Option<Side>,
    /// The result lands in `dir/runs/`.
    pub dir: &'a Path,
    pub port: u16,
    pub rate: Option<f64>,
}

/// Runs `run` with `programs`, stopped early by `stop`; what happened, a failure
/// included (its reason in `error`).
pub fn run_step(programs: &Programs, run: &StepRun<'_>, stop: &Arc<AtomicBool>) -> StepRecord {
    let step = run.step;
    let mut record = StepRecord {
        index: run.index,
        section: step.section,
        scenario: step.scenario.clone(),
        server: step.server.label(),
        server_cores: step.server_cores.clone(),
        client_cores: step.client_cores.clone(),
        client_threads: step.client_threads,
        conns: step.conns,
        rate: run.rate,
        ..StepRecord::default()
    };
    if let Some(why) = cannot_run_here(&step.server) {
        record.skipped = Some(why);
    } else if let Err(e) = run_into(programs, run, stop, &mut record) {
        record.error = Some(format!("{e:#}"));
    }
    record
}

/// Starts the server, measures with the step's client, stops the server, and
/// fills `record` in.
fn run_into(
    programs: &Programs,
    run: &StepRun<'_>,
    stop: &Arc<AtomicBool>,
    record: &mut StepRecord,
) -> anyhow::Result<()> {
    let (step, dir) = (run.step, run.dir);
    let stem = format!("{:02}-{}", record.index, slug(&step.scenario));
    let stats_file = dir.join("runs").join(format!("{stem}.echod-stats.json"));
    let build = programs.build(run.side)?;
    let cmd =
        server_command(programs, build, &step.server, run.port, &step.server_cores, &stats_file)?;
    let mut server = ServerProc::start(&cmd)?;
    std::thread::sleep(Duration::from_millis(100));
    record.server_rss_idle = server.rss_bytes();
    let calibration = (step.client == Client::Loadgen)
        .then(|| {
            let core = step.client_cores.first().copied();
            crate::calibrate::pingpong(Duration::from_millis(300), core).ok()
        })
        .flatten();
    let measured = measure(programs, run, stop, &server, &stem, record);
    if step.count_syscalls && matches!(measured, Ok(Some(_))) && !stop.load(Ordering::Relaxed) {
        record.syscalls = Some(syscall_sample(programs, run, stop, &server, &stem));
    }
    let stopping = Instant::now();
    let _ = server.stop();
    record.server_stop_s = stopping.elapsed().as_secs_f64();
    if let ServerKind::Echod { .. } = step.server {
        record.worker_accepted = read_accepted(&stats_file).unwrap_or_default();
    }
    let Some(json) = measured? else { return Ok(()) };
    if !json.exists() {
        bail!("loadgen wrote no result (exit {:?}); see {}", record.exit_code, stem + ".log");
    }
    // Record the calibration taken right before the run inside the result itself.
    let mut result: RunResult = serde_json::from_str(&std::fs::read_to_string(&json)?)
        .with_context(|| format!("{}: not a result", json.display()))?;
    result.calibration = calibration;
    result.host_bound = step.host_bound.map(str::to_string);
    std::fs::write(&json, serde_json::to_string_pretty(&result)?)?;
    if matches!(step.section, Section::Clients | Section::Floor) {
        record.client_figures = Some(clients::from_result(&result));
    }
    record.result_file = Some(format!("runs/{stem}.json"));
    Ok(())
}

/// Runs the step's client against the started `server` while sampling the
/// server's memory and descriptors; loadgen's result file, when loadgen ran.
fn measure(
    programs: &Programs,
    run: &StepRun<'_>,
    stop: &Arc<AtomicBool>,
    server: &ServerProc,
    stem: &str,
    record: &mut StepRecord,
) -> anyhow::Result<Option<std::path::PathBuf>> {
    let (step, runs) = (run.step, run.dir.join("runs"));
    let cpu_before = server.cpu_seconds();
    let sampler = Sampler::start(server.pid());
    let started = Instant::now();
    let log = runs.join(format!("{stem}.log"));
    let measured = match step.client {
        Client::Loadgen => {
            let json = runs.join(format!("{stem}.json"));
            let args = loadgen_args(step, (run.port, run.rate), &server.pids(), &json);
            run_loadgen(programs, &args, step, stop, &log).map(|status| {
                record.exit_code = status;
                Some(json)
            })
        }
        Client::Idle => {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], run.port));
            idle::measure(addr, step.conns, server.pid()).map(|figures| {
                record.idle = Some(figures);
                record.exit_code = Some(0);
                None
            })
        }
        _ => clients::run(programs, step, run.port, &log).map(|figures| {
            record.client_figures = Some(figures);
            record.exit_code = Some(0);
            None
        }),
    };
    record.client_wall_s = started.elapsed().as_secs_f64();
    record.server_cpu_s = server.cpu_seconds() - cpu_before;
    let (peaks, series) = sampler.finish();
    record.server_rss_peak = peaks.rss.max(record.server_rss_idle);
    record.server_fds_peak = peaks.fds;
    record.server_series = series;
    measured
}

/// loadgen's flags for `step` against 127.0.0.1:`port` (at `rate`) with `--json
/// json`, watching the server's processes `watch` (`--watch-pid`: its CPU per round
/// trip and the machine's noise go into the result). They go through loadgen's own
/// flag definitions (`to_args`), so the suite cannot ask for a flag loadgen does
/// not have.
fn loadgen_args(
    step: &Step,
    (port, rate): (u16, Option<f64>),
    watch: &[u32],
    json: &Path,
) -> Vec<String> {
    let mut run = RunArgs::defaults();
    run.watch_pid = watch.to_vec();
    run.disturbed_above = step.disturbed_above;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    run.targets = vec![Target { text: addr.to_string(), addr }];
    run.conns = step.conns;
    run.duration = step.duration;
    run.warmup = step.warmup;
    run.threads = Some(step.client_threads);
    run.scenario = Some(step.scenario.clone());
    run.quiet = true;
    run.json = Some(json.to_path_buf());
    run.cores = (!step.client_cores.is_empty()).then(|| CoreList(step.client_cores.clone()));
    run.rate = rate.map(f64::round);
    if let Some(churn) = step.churn {
        run.lifetime = Some(churn.lifetime);
        run.lifetime_jitter = (churn.jitter > 0.0).then_some(churn.jitter);
        run.close = Some(churn.close);
    }
    if step.server.udp() {
        run.proto = Proto::Udp;
        // The loss sweep offers more than a server can answer on purpose: its loss
        // (datagrams unanswered or never sent) is the figure, not a failure.
        if rate.is_some() {
            run.max_loss = Some(100.0);
        }
    }
    run.to_args()
}

/// Runs loadgen with `args` (for `step`), its output into `log`; waits at most the
/// step's length plus 90 s. Its exit code (None: killed).
fn run_loadgen(
    programs: &Programs,
    args: &[String],
    step: &Step,
    stop: &Arc<AtomicBool>,
    log: &Path,
) -> anyhow::Result<Option<i32>> {
    let log = std::fs::File::create(log)?;
    // Like the server, the run dies with the suite (and takes its own children along).
    let spec = Spec::new(&programs.loadgen)
        .name("loadgen")
        .args(args)
        .stdout(Out::File(log.try_clone()?))
        .stderr(Out::File(log));
    let mut child = Child::start(spec)?;
    let limit = step.duration + step.warmup + Duration::from_secs(90);
    let status = match child.wait_bounded(limit, Some(stop))? {
        Some(status) => status,
        // Ctrl-C reaches loadgen by itself (same process group); give it a moment to
        // write its interrupted result, then make sure it is gone.
        None => match child.wait_bounded(Duration::from_millis(1_500), None)? {
            Some(status) => status,
            None => child.kill()?,
        },
    };
    Ok(status.code())
}

/// Why a step cannot run on this machine at all, if it cannot: echod's io_uring
/// model where the kernel refuses io_uring (probed here, as echod would).
fn cannot_run_here(server: &ServerKind) -> Option<String> {
    match server {
        ServerKind::Echod { model: echod::server::Model::Uring, .. } => {
            echod::server::uring_probe()
                .err()
                .map(|why| format!("io_uring cannot be used here: {why}"))
        }
        _ => None,
    }
}

/// Runs the step's load again for a moment, without warm-up, while perf counts the
/// server's system calls ([`syscalls::sample`]); the sample's own result is read
/// for its round trips and removed (its rate is not a measurement: counting slows
/// every system call).
fn syscall_sample(
    programs: &Programs,
    run: &StepRun<'_>,
    stop: &Arc<AtomicBool>,
    server: &ServerProc,
    stem: &str,
) -> crate::suite_index::SyscallSample {
    let runs = run.dir.join("runs");
    let json = runs.join(format!("{stem}.syscalls-sample.tmp"));
    let log = runs.join(format!("{stem}.syscalls-sample.log"));
    let counts = runs.join(format!("{stem}.syscalls-perf.tmp"));
    let mut sample = run.step.clone();
    sample.duration = SYSCALL_SAMPLE;
    sample.warmup = Duration::ZERO;
    let args = loadgen_args(&sample, (run.port, None), &server.pids(), &json);
    let load = || -> anyhow::Result<u64> {
        let status = run_loadgen(programs, &args, &sample, stop, &log)?;
        let text = std::fs::read_to_string(&json)
            .with_context(|| format!("loadgen wrote no result (exit {status:?})"))?;
        let _ = std::fs::remove_file(&json);
        let result: RunResult = serde_json::from_str(&text)?;
        Ok(result.throughput.messages)
    };
    let counted = syscalls::sample(programs.perf.as_deref(), server.pid(), &counts, load);
    if counted.missing.is_none() {
        let _ = std::fs::remove_file(&log);
    }
    counted
}

fn read_accepted(path: &Path) -> Option<Vec<u64>> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v["workers"].as_array()?.iter().map(|w| w["accepted"].as_u64()).collect()
}

/// `scaling echod reuseport w=1 conns=10` -> `scaling-echod-reuseport-w1-conns10`.
pub fn slug(text: &str) -> String {
    let mut s = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if c == ' ' && !s.ends_with('-') {
            s.push('-');
        }
    }
    s.trim_matches('-').to_string()
}

/// Samples a process tree's RSS and open descriptors every 100 ms on its own
/// thread; keeps the peak of each, and one point a second for the time series.
struct Sampler {
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(Peaks, Vec<ServerSample>)>,
}

/// The most a server's process tree held while it was sampled.
#[derive(Clone, Copy, Debug, Default)]
struct Peaks {
    rss: u64,
    fds: u64,
}

impl Sampler {
    fn start(pid: u32) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut peaks = Peaks::default();
            let mut series = Vec::new();
            let mut next_point = Duration::ZERO;
            loop {
                let finished = flag.load(Ordering::Relaxed);
                let now = ServerSample {
                    t_s: started.elapsed().as_secs_f64(),
                    rss: procfs::tree_sum(pid, procfs::rss_bytes),
                    fds: procfs::tree_sum(pid, procfs::fd_count),
                };
                peaks = Peaks { rss: peaks.rss.max(now.rss), fds: peaks.fds.max(now.fds) };
                if started.elapsed() >= next_point || finished {
                    series.push(now);
                    next_point += SERIES_EVERY;
                }
                if finished {
                    return (peaks, series);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Sampler { done, thread }
    }

    fn finish(self) -> (Peaks, Vec<ServerSample>) {
        self.done.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scenario names become file-name-safe stems.
    #[test]
    fn slugs() {
        assert_eq!(
            slug("scaling echod reuseport w=1 conns=10"),
            "scaling-echod-reuseport-w1-conns10"
        );
        assert_eq!(slug("peers tokio-echo t=1 conns=5000"), "peers-tokioecho-t1-conns5000");
    }
}
