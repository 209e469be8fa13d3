//! A run split over processes, for connection counts past one process's descriptor
//! limit (RLIMIT_NOFILE): the parent's side (the child's, and the wire between
//! them, are in `child`). The parent starts N children of itself, each with its
//! share of the connections (global ids `i, i + N, ...`, so every four-tuple family
//! stays balanced) and of the threads and cores. Every child connects, says so on
//! stdout and waits; when all have, the parent says `go` on their stdin, so every
//! process measures the same window. The parent prints one live line per second
//! from the children's seconds, says once that connections are unserved when a
//! child first does, and merges the children's figures exactly (`Histogram::add`)
//! into one result and one exit code, through the same merge as `loadgen merge`
//! of several hosts' agents (`merge`); it reads the watched server's CPU and the
//! machine's noise itself over the measured window (its children's CPU counted as
//! loadgen's own). With `--start-at` the parent gives the word
//! at that time. Every wait is bounded; a child that dies
//! counts as failed connections. A child dies with its parent: it gets SIGTERM
//! (PR_SET_PDEATHSIG) when the parent is killed, even with SIGKILL, and the
//! parent's scratch folder is swept by the next split run (`scratch`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use common::child::{Child, Out, Spec};

use super::args::RunArgs;
use super::child::{parse_line, read_figures, ChildLine};
use super::config::Config;
use super::live::Live;
use super::merge_check::Input;
use super::scratch::Scratch;
use super::values::{CoreList, Part};
use super::watch::Meter;
use super::worker::WorkerMsg;
use super::RunOutcome;
use super::{merge, served, start_at};
use crate::limits::budget::Processes;

/// The errno name counted for connections of a child that died before reporting.
pub const CHILD_FAILED: &str = "CHILD_FAILED";
/// How often the parent looks at its children.
const TICK: Duration = Duration::from_millis(20);

/// Merges the children's results into one outcome for `config` (the whole
/// run's), as `loadgen merge` merges agents; `lost`: connections of children that
/// left no result.
pub fn merge(config: &Config, children: Vec<Input>, lost: u64) -> anyhow::Result<RunOutcome> {
    let merged = merge::combine(&children)
        .map_err(|e| anyhow::anyhow!("cannot merge the child processes' results: {e}"))?;
    let mut m = merged.measurement;
    // Connections of children that died before reporting never came up.
    m.tally.requested = config.conns;
    if lost > 0 {
        *m.tally.failed_by_errno.entry(CHILD_FAILED.to_string()).or_default() += lost;
        m.interrupted = true;
    }
    // The children began on the parent's word: the start time is the parent's.
    if let Some(c) = m.clock.as_mut() {
        *c =
            start_at::record(c.began_unix_s, config.warmup.as_secs_f64(), config.start_at.as_ref());
    }
    RunOutcome::of(config, m).map_err(anyhow::Error::msg)
}

pub use super::values::share;

/// The flags child `index` of `count` runs with: the whole run's settings with
/// this child's share of the connections, rates, threads and cores, written as
/// flags by [`RunArgs::to_args`].
pub fn child_args(config: &Config, index: u64, count: u64, out: &Path) -> RunArgs {
    let per = count as f64;
    let threads = (config.threads as u64).div_ceil(count).max(1) as usize;
    let mut args = RunArgs::of(config);
    args.conns = share(config.conns, index, count);
    args.threads = Some(threads);
    args.cores = (!config.cores.is_empty()).then(|| {
        let n = config.cores.len();
        CoreList(
            (0..threads.min(n)).map(|j| config.cores[(index as usize * threads + j) % n]).collect(),
        )
    });
    args.rate = config.rate.map(|r| r / per);
    args.connect_rate = config.connect_rate.map(|r| r / per);
    args.processes = Processes::Fixed(1);
    // Inside an agent (--shard), the agent's ids are base + step * k: child
    // `index` of `count` takes k = index, index + count, ...
    args.child = Some(Part {
        index: config.id_base + config.id_step * index,
        count: config.id_step * count,
    });
    (args.shard, args.start_at, args.run_id) = (None, None, None);
    // The parent watches the server (`watch::Meter`): no child sees the whole load.
    args.watch_pid = Vec::new();
    args.quiet = true;
    args.child_out = Some(out.to_path_buf());
    args
}

/// One child of the split run.
struct Running {
    /// The process ([`common::child`]): stdin a pipe for the word, stdout its lines.
    child: Child,
    /// Its index among the children.
    index: u64,
    /// Where it writes its figures at the end.
    out: PathBuf,
    /// Connections it has up, once its connect phase is over.
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
    let mut kids = start_children(config, count, &exe, &scratch.dir)?;
    let all = await_connected(config, &mut kids, stop);
    let mut go = all && !stop.load(Ordering::Relaxed);
    if let (Some(at), true) = (&config.start_at, go) {
        if config.live {
            eprintln!("loadgen: waiting for --start-at {at}");
        }
        go = start_at::wait_until(at, stop);
    }
    give_word(config, &mut kids, go);
    let mut meter = Meter::start(config, go);
    let statuses = watch(config, &mut kids, stop, &mut meter);
    let spent = meter.finish();
    let (figures, lost) = collect(config, &kids, &statuses, count);
    if figures.is_empty() {
        bail!("no child process of the split run reported figures");
    }
    let mut outcome = merge(config, figures, lost)?;
    // The parent's own readings of the common window: the children each saw a
    // share of the load, and the machine's others are the others of them all.
    let messages = outcome.result.throughput.messages;
    outcome.result.server = spent.server.map(|s| s.per_round_trip(messages));
    outcome.result.machine = spent.machine;
    Ok(outcome)
}

/// Starts the `count` children of `exe`, each writing its figures into `dir`. A
/// parent killed with SIGKILL leaves no load behind: a child gets SIGTERM (its
/// Ctrl-C path) when the thread that started it dies, and this is the thread that
/// waits for them, so it outlives them.
fn start_children(
    config: &Config,
    count: u64,
    exe: &Path,
    dir: &Path,
) -> anyhow::Result<Vec<Running>> {
    let mut kids = Vec::new();
    for index in 0..count {
        let out = dir.join(format!("child-{index}.json"));
        let spec = Spec::new(exe)
            .name(format!("child process {index}"))
            .args(child_args(config, index, count, &out).to_args())
            .stdin_pipe()
            .stdout(Out::Lines)
            .stderr(Out::Inherit);
        let child = Child::start(spec)?;
        kids.push(Running { child, index, out, connected: None });
    }
    Ok(kids)
}

/// Waits until every child has connected (bounded by the connect timeout and the
/// connection count), or one died, or the run is stopped; whether all connected.
fn await_connected(config: &Config, kids: &mut [Running], stop: &AtomicBool) -> bool {
    let bound = config.connect_timeout * 4 + Duration::from_secs(30 + config.conns / 2_000);
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        let mut waiting = false;
        for k in kids.iter_mut().filter(|k| k.connected.is_none()) {
            while let Some(line) = k.child.next_line_of(true, Duration::ZERO) {
                if let ChildLine::Connected(n) = parse_line(&line) {
                    k.connected = Some(n);
                }
            }
            waiting |= k.connected.is_none() && k.child.running();
        }
        if !waiting {
            break;
        }
        std::thread::sleep(TICK);
    }
    kids.iter().all(|k| k.connected.is_some())
}

/// Tells every child to go (or to stop), and closes its stdin.
fn give_word(config: &Config, kids: &mut [Running], go: bool) {
    if config.live {
        let up: u64 = kids.iter().filter_map(|k| k.connected).sum();
        eprintln!(
            "loadgen: {up}/{} connections up across {} processes; {}",
            config.conns,
            kids.len(),
            if go {
                format!("warm-up {:?}, then {:?} measured", config.warmup, config.duration)
            } else {
                "stopping".to_string()
            }
        );
    }
    for k in kids.iter_mut() {
        if let Some(stdin) = k.child.stdin() {
            let _ = writeln!(stdin, "{}", if go { "go" } else { "stop" });
        }
        k.child.close_stdin();
    }
}

/// Follows the children through warm-up, measured phase and drain (bounded, with a
/// margin): merges their seconds into the live line as they arrive, says once that
/// connections are unserved, passes a stop on, and `meter` reads the watched
/// server and the machine at the measured phase's boundaries. Each child's exit
/// code (None: killed).
fn watch(
    config: &Config,
    kids: &mut [Running],
    stop: &AtomicBool,
    meter: &mut Meter<'_>,
) -> Vec<Option<i32>> {
    let bound = config.warmup + config.duration + config.drain_timeout + Duration::from_secs(30);
    let deadline = Instant::now() + bound;
    // A child counts as done when its stdout has ended, so none of its seconds is
    // left behind.
    let mut live = Live::new(kids.len(), config.live, config.conns, config.proto);
    let mut done = vec![false; kids.len()];
    let (mut forwarded, mut unserved_said) = (false, false);
    loop {
        if stop.load(Ordering::Relaxed) && !forwarded {
            kids.iter_mut().for_each(|k| k.child.terminate());
            forwarded = true;
        }
        for (i, k) in kids.iter_mut().enumerate() {
            while let Some(line) = k.child.next_line_of(true, Duration::ZERO) {
                match parse_line(&line) {
                    ChildLine::Interval(iv) => live.on_msg(WorkerMsg::Interval(i, *iv)),
                    ChildLine::Unserved if !unserved_said => {
                        served::say(config.connect_timeout);
                        unserved_said = true;
                    }
                    _ => {}
                }
            }
            if !done[i] && k.child.lines_done() {
                done[i] = true;
                live.on_msg(WorkerMsg::Done(i));
            }
        }
        let ended = kids.iter_mut().all(|k| !k.child.running());
        if (ended && live.all_done()) || Instant::now() > deadline {
            break;
        }
        meter.tick();
        std::thread::sleep(TICK.min(meter.until_next()).max(Duration::from_millis(1)));
        meter.tick();
    }
    live.finish();
    kids.iter_mut()
        .map(|k| match k.child.try_wait() {
            Ok(Some(status)) => status.code(),
            _ => k.child.kill().ok().and_then(|s| s.code()),
        })
        .collect()
}

/// Reads every child's figures; the connections of a child that left none count
/// as failed. The figures and how many connections were lost.
fn collect(
    config: &Config,
    kids: &[Running],
    statuses: &[Option<i32>],
    count: u64,
) -> (Vec<Input>, u64) {
    let mut figures = Vec::new();
    let mut lost = 0;
    for k in kids {
        match read_figures(k.index, &k.out) {
            Some(f) => figures.push(f),
            None => {
                let conns = share(config.conns, k.index, count);
                eprintln!(
                    "loadgen: child process {} ended ({:?}) without figures: its {conns} \
                     connections count as {CHILD_FAILED}",
                    k.index, statuses[k.index as usize]
                );
                lost += conns;
            }
        }
    }
    (figures, lost)
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

    /// Children's results travel through JSON whole and merge exactly, through
    /// the merge of `loadgen merge`: counts add, the histograms hold every
    /// sample, per-second series add; a lost child's connections count as failed.
    #[test]
    fn merge_is_exact_across_processes() {
        use crate::run::merge::tests::{measurement, result_of};
        let addr = "127.0.0.1:9".parse().unwrap();
        let (a, b) = (measurement(2, &[1_000, 2_000]), measurement(3, &[3_000, 4_000, 5_000_000]));
        let wire = |i: u64, m: &crate::run::Measurement| -> Input {
            let mut child = Config::local_test(addr, m.tally.requested);
            child.scenario = "the parent's".into();
            let r = result_of(&child, m);
            let back: crate::result::RunResult =
                serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
            Input { label: format!("child process {i}"), result: back }
        };
        let total = Config::local_test(addr, 5);
        let m = merge(&total, vec![wire(0, &a), wire(1, &b)], 0).unwrap();
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
        assert_eq!(m.result.client_cpu_s, Some(0.5));
        assert_eq!(m.exit_code, 0);
        let lost = merge(&Config::local_test(addr, 8), vec![wire(0, &a), wire(1, &b)], 3).unwrap();
        assert_eq!(lost.result.connections.failed_by_errno[CHILD_FAILED], 3);
        assert!(lost.result.interrupted);
        assert_eq!(lost.exit_code, 1);
    }

    /// A child's share is a RunArgs: its flags parse back into it, and validate
    /// into the whole run's settings with the child's part of the connections
    /// (ids `index, index + count, ...`), rates, threads and cores.
    #[test]
    fn child_flags_round_trip_to_their_share() {
        let addr = "127.0.0.1:9".parse().unwrap();
        let mut whole = Config::local_test(addr, 50_000);
        whole.threads = 4;
        whole.rate = Some(50_000.0);
        whole.connect_rate = Some(9_000.0);
        whole.cores = common::pin::allowed_cores();
        whole.sources = vec!["127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap()];
        whole.processes = Processes::Fixed(3);
        let out = Path::new("/tmp/loadgen-split-1/child-2.json");
        for index in 0..3 {
            let share_args = child_args(&whole, index, 3, out);
            let text = share_args.to_args();
            assert_eq!(RunArgs::parse_from(&text).unwrap(), share_args, "{text:?}");
            let c = share_args.validate().unwrap();
            assert_eq!(c.conns, share(50_000, index, 3));
            assert_eq!((c.id_base, c.id_step, c.forward_intervals), (index, 3, true));
            assert_eq!((c.threads, c.processes, c.live), (2, Processes::Fixed(1), false));
            assert_eq!((c.rate, c.connect_rate), (Some(50_000.0 / 3.0), Some(3_000.0)));
            assert!(c.cores.iter().all(|core| whole.cores.contains(core)) && !c.cores.is_empty());
            assert_eq!(
                (c.sources.clone(), c.scenario.clone()),
                (whole.sources.clone(), whole.scenario.clone())
            );
            assert_eq!(
                (c.targets.clone(), c.size, c.duration),
                (whole.targets.clone(), 64, whole.duration)
            );
        }
    }
}
