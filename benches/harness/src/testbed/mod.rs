//! `loadgen testbed`: several hosts on one machine, to see a sharded run end in one
//! exact result. It builds K+1 network namespaces on a bridge (`net`), each with an
//! address from 198.18.0.0/15, starts echod on the server's host, then K agents —
//! `loadgen --shard i/K --start-at T --run-id ID`, one per agent host, all starting
//! at one time T — merges their results with `loadgen merge`, and shows the
//! server's own view of the run (`view`): one peer address per agent, each with its
//! share of the four-tuples. It prints a short report and writes `testbed.json`
//! beside the agents' and the merged results (`report`); the run itself is `run`.
//!
//! Like `loadgen ports` it runs in a private network namespace (`netns`): as root
//! `unshare --net`, without root `unshare --user --map-root-user --net`; the inner
//! run (`--inner`) refuses to start anywhere else, so the machine's own network is
//! never touched. Every process it starts (the namespaces' holders, echod, the
//! agents) is stopped when it ends, fails or is interrupted, and dies with it.

mod net;
pub mod report;
mod run;
pub mod view;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};

use engine::run::RunArgs;

/// How long agents may take to connect, beyond [`LEAD_BASE`]: one second per this
/// many connections.
const CONNS_PER_LEAD_SECOND: u64 = 10_000;

/// The least time between starting the agents and their start time T.
const LEAD_BASE: Duration = Duration::from_secs(3);

/// Time allowed, beyond the agents' own phases, for building the hosts, starting
/// echod, the agents' connect timeout and drain, and the merge.
const SLACK: Duration = Duration::from_secs(60);

/// Flags of `loadgen testbed`.
#[derive(clap::Args, Debug, Clone, PartialEq)]
#[command(after_help = "Examples:\n  \
    loadgen testbed                          3 agents, 3000 connections, 5 s\n  \
    loadgen testbed --agents 5 --conns 20000 --duration 10s --out tb\n\n\
    Hosts: the server is 198.18.0.1, agent i (shard i) is 198.18.0.(i+2), on one bridge.\n\
    Files in --out: agent-I.json and agent-I.log per agent, merged.json, testbed.json.\n\n\
    Exit codes:\n  \
    0        every agent ran, and the merged result is clean\n  \
    1        an agent failed, or the merged result has wrong echoes or missing\n           \
    connections, or could not be made\n  \
    2        bad input, echod missing, or the namespaces cannot be made\n  \
    130/143  interrupted by SIGINT/SIGTERM (everything it started is stopped)")]
pub struct TestbedArgs {
    /// Agents: hosts that each run one shard of the load (1 to 50).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=50))]
    pub agents: u64,
    /// Connections in total, split over the agents.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub conns: u64,
    /// Length of the agents' measured phase (e.g. 5s).
    #[arg(long, default_value = "5s", value_parser = common::units::parse_duration)]
    pub duration: Duration,
    /// The agents' warm-up, not recorded.
    #[arg(long, default_value = "1s", value_parser = common::units::parse_duration)]
    pub warmup: Duration,
    /// Bytes per message (as the run's --size).
    #[arg(long, default_value = "64")]
    pub size: String,
    /// The server's port on 198.18.0.1.
    #[arg(long, default_value_t = 12000, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    /// Folder for the results (default: results/testbed-<UTC time> under the
    /// current folder).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// An extra flag for echod, e.g. --echod-arg=--model=shared (repeatable).
    #[arg(long = "echod-arg", value_name = "FLAG", allow_hyphen_values = true)]
    pub echod_args: Vec<String>,
    /// Internal: build and run the testbed (only inside the private namespace).
    #[arg(long, hide = true)]
    pub inner: bool,
    /// Internal: the parent's network namespace, which the inner run must not be in.
    #[arg(long, hide = true)]
    pub host_netns: Option<String>,
}

impl TestbedArgs {
    /// These flags as arguments of `loadgen testbed` (every field named, so a new
    /// flag does not compile until it says how it is written), `--out` made absolute.
    fn to_args(&self) -> Vec<OsString> {
        let TestbedArgs {
            agents,
            conns,
            duration,
            warmup,
            size,
            port,
            out,
            echod_args,
            inner,
            host_netns: _,
        } = self;
        let mut a: Vec<OsString> = vec!["testbed".into()];
        a.push(format!("--agents={agents}").into());
        a.push(format!("--conns={conns}").into());
        a.push(format!("--duration={}", humantime::format_duration(*duration)).into());
        a.push(format!("--warmup={}", humantime::format_duration(*warmup)).into());
        a.push(format!("--size={size}").into());
        a.push(format!("--port={port}").into());
        if let Some(out) = out {
            a.push("--out".into());
            a.push(std::path::absolute(out).unwrap_or_else(|_| out.clone()).into());
        }
        a.extend(echod_args.iter().map(|e| OsString::from(format!("--echod-arg={e}"))));
        if *inner {
            a.push("--inner".into());
        }
        a
    }
}

/// What a testbed run needs, checked before anything is built.
pub struct Plan {
    /// Agents (K).
    pub agents: usize,
    /// Connections in total.
    pub conns: u64,
    /// echod, beside loadgen.
    pub echod: PathBuf,
    /// loadgen itself (the agents and the merge run it).
    pub loadgen: PathBuf,
    /// The results' folder (absolute).
    pub out: PathBuf,
    /// Every agent's flags but those that differ per agent.
    pub agent: RunArgs,
    /// echod's flags.
    pub echod_args: Vec<OsString>,
    /// echod's worker threads (unpinned: the agents share the cores).
    pub echod_workers: usize,
    /// The server's port.
    pub port: u16,
    /// Between starting the agents and their start time T.
    pub lead: Duration,
}

impl Plan {
    /// Checks the flags and finds echod; every error names the flag or the fix.
    pub fn new(args: &TestbedArgs) -> anyhow::Result<Plan> {
        let loadgen = std::env::current_exe().context("cannot find loadgen's own executable")?;
        let echod = loadgen.with_file_name("echod");
        if !echod.is_file() {
            bail!(
                "echod is not beside loadgen ({}): build it: cargo build --release --workspace",
                echod.display()
            );
        }
        if args.conns < args.agents {
            bail!(
                "--conns {} is fewer than --agents {}: every agent needs a connection",
                args.conns,
                args.agents
            );
        }
        let out = match &args.out {
            Some(dir) => dir.clone(),
            None => default_out(),
        };
        let out = std::path::absolute(&out).with_context(|| format!("--out {}", out.display()))?;
        let cores = common::pin::allowed_cores().len();
        let echod_workers = (cores / 2).max(1);
        let server = format!("{}:{}", net::host_addr(0), args.port);
        let agent = RunArgs::parse_from([
            format!("--target={server}"),
            format!("--conns={}", args.conns),
            format!("--size={}", args.size),
            format!("--duration={}", humantime::format_duration(args.duration)),
            format!("--warmup={}", humantime::format_duration(args.warmup)),
            "--quiet".to_string(),
        ])
        .map_err(|e| anyhow::anyhow!("{}", first_line(&e.to_string())))?;
        agent.validate()?;
        let mut flags = echod::server::Flags {
            bind: net::host_addr(0).into(),
            port: args.port,
            workers: Some(echod_workers as u64),
            no_pin: true,
            ..echod::server::Flags::default()
        }
        .to_args();
        flags.extend(args.echod_args.iter().map(OsString::from));
        let lead = LEAD_BASE + Duration::from_secs(args.conns.div_ceil(CONNS_PER_LEAD_SECOND));
        Ok(Plan {
            agents: args.agents as usize,
            conns: args.conns,
            echod,
            loadgen,
            out,
            agent,
            echod_args: flags,
            echod_workers,
            port: args.port,
            lead,
        })
    }

    /// The longest the whole run may take: the lead, the agents' phases, slack.
    pub fn limit(&self) -> Duration {
        self.lead + self.agent.warmup + self.agent.duration + self.agent.connect_timeout + SLACK
    }

    /// Agent `i`'s result file.
    pub fn agent_json(&self, i: usize) -> PathBuf {
        self.out.join(format!("agent-{i}.json"))
    }

    /// Agent `i`'s output (stdout and stderr).
    pub fn agent_log(&self, i: usize) -> PathBuf {
        self.out.join(format!("agent-{i}.log"))
    }

    /// The merged result.
    pub fn merged_json(&self) -> PathBuf {
        self.out.join("merged.json")
    }
}

/// `results/testbed-<UTC time>`.
fn default_out() -> PathBuf {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    PathBuf::from("results").join(format!("testbed-{}", now.replace(':', "").trim_end_matches('Z')))
}

/// The first line of a (clap) error, without its `error: ` prefix.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim_start_matches("error: ").to_string()
}

/// Runs the testbed: exit 0 when every agent ran and the merged result is clean,
/// 1 when not, 130/143 when interrupted; an error (exit 2) on bad input or when the
/// namespaces cannot be made.
pub fn execute(args: TestbedArgs) -> anyhow::Result<u8> {
    let plan = Plan::new(&args)?;
    if args.inner {
        if !crate::netns::in_private_namespace(args.host_netns.as_deref()) {
            bail!("--inner runs only inside a private network namespace (use `loadgen testbed`)");
        }
        return run::run(&plan);
    }
    let ns = crate::netns::Private::probe(
        "loadgen testbed",
        "the testbed builds its hosts' namespaces inside a private network namespace",
    )?;
    create_out(&plan.out)?;
    let inner = TestbedArgs { out: Some(plan.out.clone()), inner: true, ..args };
    ns.run_inside(&inner.to_args(), plan.limit())
}

/// Makes the results' folder (where the inner run, maybe as another user id in its
/// user namespace, writes).
fn create_out(out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("--out {}: cannot create the folder", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    /// `loadgen testbed` alone, for parsing tests.
    #[derive(clap::Parser)]
    struct Only {
        #[command(flatten)]
        args: TestbedArgs,
    }

    fn parse(args: &[&str]) -> Result<TestbedArgs, clap::Error> {
        Only::try_parse_from(std::iter::once("testbed").chain(args.iter().copied())).map(|o| o.args)
    }

    /// The flags written for the inner run parse back into the same flags.
    #[test]
    fn to_args_round_trips() {
        let args = parse(&[
            "--agents=4",
            "--conns=123",
            "--duration=1500ms",
            "--size=1KiB",
            "--out=/tmp/tb",
            "--echod-arg=--model=shared",
            "--inner",
        ])
        .expect("parse");
        let written = args.to_args();
        let text: Vec<String> =
            written.iter().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
        let again = parse(&text.iter().map(String::as_str).collect::<Vec<_>>()).expect("reparse");
        assert_eq!(again, args);
    }

    /// Agents outside 1..=50 are refused by the parser.
    #[test]
    fn agents_are_bounded() {
        assert!(parse(&["--agents=0"]).is_err());
        assert!(parse(&["--agents=51"]).is_err());
        assert!(parse(&["--agents=50"]).is_ok());
    }
}
