//! One testbed run, inside the private namespace: the hosts, echod on the server's
//! host, one agent per agent host all starting at one time T, the server's view
//! while they are connected, the merge, the report.
//!
//! Invariants: every wait is bounded (the agents by the plan's limit, each stop by
//! a grace, the merge by [`MERGE_WAIT`]); every process started here is stopped
//! before the run returns, on every path — the agents, then echod, then the hosts'
//! holders (the order of the locals' drops) — and SIGINT or SIGTERM ends the run
//! the same way, with 128 + the signal.

use std::fs::File;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use common::child::{Child, Out, Spec, Stop};
use common::signals::{self, Signals};

use super::net::Testbed;
use super::report::{self, AgentEntry, HostEntry, StartSkew, Summary, TestbedReport};
use super::view::ServerView;
use super::Plan;
use engine::result::RunResult;
use engine::run::{now_unix_s, CoreList, Part, StartAt};

/// How long echod may take to print its ready line.
const READY_WAIT: Duration = Duration::from_secs(20);

/// How long a process may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How long `loadgen merge` may take.
const MERGE_WAIT: Duration = Duration::from_secs(60);

/// How often the agents are looked at.
const TICK: Duration = Duration::from_millis(50);

/// How often the server's view is read until it shows every connection.
const VIEW_EVERY: Duration = Duration::from_millis(250);

/// Four-tuples kept in the server's view.
const VIEW_SAMPLE: usize = 6;

/// One agent process and how it ended.
struct Agent {
    /// Its shard index.
    index: usize,
    /// The process (`nsenter ... loadgen`).
    child: Child,
    /// How it ended, once it has.
    status: Option<ExitStatus>,
}

/// Runs the testbed (the caller checked that this is the private namespace).
pub fn run(plan: &Plan) -> anyhow::Result<u8> {
    let signals = Signals::install().context("cannot install a signal handler")?;
    crate::netns::loopback_up()?;
    // Dropped last: the hosts outlive every process run on them.
    let bed = Testbed::build(plan.agents).context("cannot build the testbed's network")?;
    let mut echod = start_echod(plan, &bed)?;
    let run_id = format!("testbed-{}-{}", now_unix_s() as u64, std::process::id());
    let start_at = (now_unix_s() + plan.lead.as_secs_f64()).ceil() as u64;
    let mut agents = Vec::with_capacity(plan.agents);
    for i in 0..plan.agents {
        agents.push(start_agent(plan, &bed, i, start_at, &run_id)?);
    }
    let watched = watch(plan, &bed, &mut agents, &signals, start_at)?;
    let _ = echod.stop(Stop::Term, STOP_GRACE);
    if let Some(sig) = watched.signal {
        eprintln!("loadgen testbed: interrupted; every agent, echod and host stopped");
        return Ok(signals::exit_code(sig));
    }
    let mut problems = watched.problems;
    let agent_entries: Vec<AgentEntry> =
        agents.iter().map(|a| agent_entry(plan, &bed, a, &mut problems)).collect();
    let merged = merge(plan, &mut problems).map(|r| Summary::of(&r));
    if let Some(m) = &merged {
        problems.extend(report::merged_problems(m, plan.conns));
    }
    let report = TestbedReport {
        run_id,
        start_at,
        server: format!("{}:{}", bed.server().addr, plan.port),
        echod_args: plan.echod_args.iter().map(|a| a.to_string_lossy().into_owned()).collect(),
        hosts: bed
            .hosts
            .iter()
            .map(|h| HostEntry { name: h.name.clone(), addr: h.addr.to_string() })
            .collect(),
        start_skew: StartSkew::of(&agent_entries),
        agents: agent_entries,
        merged: merged.as_ref().map(|_| plan.merged_json()),
        merged_summary: merged,
        server_view: watched.view,
        problems,
    };
    common::cli::print(&report::render(&report));
    let path = plan.out.join("testbed.json");
    let text = serde_json::to_string_pretty(&report)?;
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(if report.problems.is_empty() { common::cli::EXIT_OK } else { common::cli::EXIT_FAILED })
}

/// Starts echod on the server's host and waits for its ready line.
fn start_echod(plan: &Plan, bed: &Testbed) -> anyhow::Result<Child> {
    let spec = bed.server().spec(&plan.echod, "echod").args(&plan.echod_args);
    let mut child = Child::start(spec)?;
    child.wait_for_line("listening on", READY_WAIT)?;
    Ok(child)
}

/// Starts agent `i` on its host: `loadgen --target SERVER --conns N --shard i/K
/// --start-at T --run-id ID ... --json DIR/agent-i.json --quiet`, its output in
/// DIR/agent-i.log.
fn start_agent(
    plan: &Plan,
    bed: &Testbed,
    i: usize,
    start_at: u64,
    run_id: &str,
) -> anyhow::Result<Agent> {
    let mut args = plan.agent.clone();
    args.shard = Some(Part { index: i as u64, count: plan.agents as u64 });
    args.start_at = Some(StartAt { text: start_at.to_string(), unix_s: start_at as f64 });
    args.run_id = Some(run_id.to_string());
    args.json = Some(plan.agent_json(i));
    let cores = agent_cores(plan.echod_workers, plan.agents, i);
    args.threads = Some(cores.len());
    args.cores = Some(CoreList(cores));
    let log_path = plan.agent_log(i);
    let log =
        File::create(&log_path).with_context(|| format!("cannot create {}", log_path.display()))?;
    let err = log.try_clone().with_context(|| format!("cannot share {}", log_path.display()))?;
    let spec = bed
        .agent(i)
        .spec(&plan.loadgen, format!("agent {i}"))
        .args(args.to_args())
        .stdout(Out::File(log))
        .stderr(Out::File(err));
    Ok(Agent { index: i, child: Child::start(spec)?, status: None })
}

/// Agent `i`'s share of the connections (as its `--shard` computes it).
fn share(plan: &Plan, i: usize) -> u64 {
    engine::run::processes::share(plan.conns, i as u64, plan.agents as u64)
}

/// The cores agent `i` pins its threads to: the cores left beside echod's workers,
/// split over the agents, at least one each (agents share cores when there are
/// more agents than cores), round the allowed cores from after echod's.
fn agent_cores(echod_workers: usize, agents: usize, i: usize) -> Vec<usize> {
    let allowed = common::pin::allowed_cores();
    let per_agent = (allowed.len().saturating_sub(echod_workers) / agents).max(1);
    (0..per_agent).map(|k| allowed[(echod_workers + i * per_agent + k) % allowed.len()]).collect()
}

/// What watching the agents found.
struct Watched {
    /// The signal that ended the run early, if one did.
    signal: Option<i32>,
    /// The fullest view the server gave while the agents ran.
    view: Option<ServerView>,
    /// Agents that failed or overstayed.
    problems: Vec<String>,
}

/// Waits for every agent to end (bounded by the plan's limit), reading the
/// server's view until one taken after the start time shows every connection; stops every agent on a signal,
/// at the bound, or when one fails to run (exit 2 and above, or a signal).
fn watch(
    plan: &Plan,
    bed: &Testbed,
    agents: &mut [Agent],
    signals: &Signals,
    start_at: u64,
) -> anyhow::Result<Watched> {
    let deadline = Instant::now() + plan.limit();
    let mut watched = Watched { signal: None, view: None, problems: Vec::new() };
    let mut next_look = Instant::now();
    let mut stopped = false;
    loop {
        if let Some(sig) = signals.caught() {
            watched.signal = Some(sig);
            stop_all(agents);
            return Ok(watched);
        }
        let mut running = 0;
        let mut broken = None;
        for a in agents.iter_mut() {
            if a.status.is_none() {
                a.status = a.child.try_wait()?;
            }
            match a.status {
                None => running += 1,
                // Killed by a signal (an OOM kill, an operator): its shard is
                // missing from the merge, the others go on measuring.
                Some(s) if s.code().is_none() => {}
                Some(s) if !matches!(s.code(), Some(0 | 1)) => broken = Some(a.index),
                Some(_) => {}
            }
        }
        if running == 0 {
            return Ok(watched);
        }
        if let (Some(i), false) = (broken, stopped) {
            watched.problems.push(format!("agent {i} could not run: the others were stopped"));
            stop_all(agents);
            stopped = true;
        }
        if Instant::now() >= deadline {
            watched.problems.push(format!("the agents overstayed {:?}: stopped", plan.limit()));
            stop_all(agents);
            return Ok(watched);
        }
        if Instant::now() >= next_look && !view_done(watched.view.as_ref(), plan.conns) {
            let at_s = now_unix_s() - start_at as f64;
            let view = ServerView::read(bed.server().pid(), plan.port, VIEW_SAMPLE, at_s);
            if let Some(view) = view.filter(|v| better(v, watched.view.as_ref())) {
                watched.view = Some(view);
            }
            next_look = Instant::now() + VIEW_EVERY;
        }
        std::thread::sleep(TICK);
    }
}

/// Whether the view needs no other look: taken after the start time T (the agents
/// are connected and sending) and showing every connection.
fn view_done(view: Option<&ServerView>, conns: u64) -> bool {
    view.is_some_and(|v| v.at_s >= 0.0 && v.established as u64 >= conns)
}

/// Whether `new` is a better view than `old`: one taken after T over one before,
/// then more connections.
fn better(new: &ServerView, old: Option<&ServerView>) -> bool {
    let rank = |v: &ServerView| (v.at_s >= 0.0, v.established);
    old.map_or(true, |old| rank(new) > rank(old))
}

/// Asks every agent still running to stop, then waits for each (a grace, then
/// SIGKILL); each keeps how it ended.
fn stop_all(agents: &mut [Agent]) {
    for a in agents.iter_mut().filter(|a| a.status.is_none()) {
        a.child.terminate();
    }
    for a in agents.iter_mut().filter(|a| a.status.is_none()) {
        a.status = a.child.stop(Stop::Term, STOP_GRACE).ok();
    }
}

/// Runs `loadgen merge` over the agents' results into merged.json and reads it;
/// None (with the reason in `problems`) when it cannot be made.
fn merge(plan: &Plan, problems: &mut Vec<String>) -> Option<RunResult> {
    let files: Vec<_> =
        (0..plan.agents).map(|i| plan.agent_json(i)).filter(|p| p.is_file()).collect();
    if files.is_empty() {
        problems.push("no agent wrote a result: nothing to merge".to_string());
        return None;
    }
    let spec = Spec::new(&plan.loadgen)
        .name("loadgen merge")
        .args(
            ["merge".into(), "--quiet".into()]
                .into_iter()
                .chain(files.into_iter().map(|p| p.into_os_string())),
        )
        .args([std::ffi::OsString::from("--out"), plan.merged_json().into_os_string()]);
    let ended = Child::start(spec).map_err(anyhow::Error::from).and_then(|mut child| {
        let status = child.wait_bounded(MERGE_WAIT, None)?;
        let lines = child.remaining_lines(Duration::from_secs(1));
        let last = lines.last().map(|l| l.text().to_string()).unwrap_or_default();
        match status {
            Some(s) if s.success() || s.code() == Some(1) => Ok(()),
            Some(s) => anyhow::bail!("loadgen merge exited ({s}): {last}"),
            None => anyhow::bail!("loadgen merge did not end within {MERGE_WAIT:?}"),
        }
    });
    if let Err(e) = ended {
        problems.push(format!("{e:#}"));
        return None;
    }
    match read_result(&plan.merged_json()) {
        Ok(r) => Some(r),
        Err(e) => {
            problems.push(format!("{e:#}"));
            None
        }
    }
}

/// Agent `a`'s entry in the report; its failures go to `problems`.
fn agent_entry(plan: &Plan, bed: &Testbed, a: &Agent, problems: &mut Vec<String>) -> AgentEntry {
    let host = bed.agent(a.index);
    let json = plan.agent_json(a.index);
    let result = match read_result(&json) {
        Ok(r) => Some(r),
        Err(e) => {
            problems.push(format!("agent {}: {e:#}", a.index));
            None
        }
    };
    let exit = a.status.and_then(|s| s.code());
    let killed = a.status.and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s));
    if let Some(sig) = killed {
        problems.push(format!(
            "agent {} was killed by signal {sig}: its shard is missing from the merged result",
            a.index
        ));
    } else if exit != Some(0) {
        let how = a.status.map_or("did not end".to_string(), |s| s.to_string());
        problems.push(format!(
            "agent {} {how}; see {}",
            a.index,
            plan.agent_log(a.index).display()
        ));
    }
    AgentEntry {
        index: a.index,
        host: host.name.clone(),
        addr: host.addr.to_string(),
        conns: share(plan, a.index),
        exit_code: exit,
        result: result.as_ref().map(|_| json),
        log: plan.agent_log(a.index),
        summary: result.as_ref().map(Summary::of),
    }
}

/// A result file, read.
fn read_result(path: &std::path::Path) -> anyhow::Result<RunResult> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("no result in {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a result", path.display()))
}
