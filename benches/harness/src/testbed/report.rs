//! What a testbed run reports: `testbed.json` ([`TestbedReport`]: the hosts and
//! their addresses, each agent's exit and figures, the paths of the agents' and the
//! merged results, the server's own view) and the short text printed at the end.
//! The figures are the results' own ([`Summary::of`] copies a few of them for the
//! reader); the results themselves stay in their files.

use std::fmt::Write as _;
use std::path::PathBuf;

use common::units::{fmt_count, fmt_micros};
use serde::{Deserialize, Serialize};

use super::view::ServerView;
use engine::result::RunResult;

/// `testbed.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestbedReport {
    /// The run id every agent was given (`--run-id`).
    pub run_id: String,
    /// The agents' common start time T, in Unix seconds (`--start-at`).
    pub start_at: u64,
    /// echod's address.
    pub server: String,
    /// echod's flags.
    pub echod_args: Vec<String>,
    /// Every host: the server first, then agent 0, 1, ...
    pub hosts: Vec<HostEntry>,
    /// Each agent's exit and figures.
    pub agents: Vec<AgentEntry>,
    /// The merged result's file (None: it could not be made).
    pub merged: Option<PathBuf>,
    /// The merged result's headline figures.
    pub merged_summary: Option<Summary>,
    /// How late the agents began their warm-up against the start time T.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_skew: Option<StartSkew>,
    /// The server's view while the agents were connected (the fullest seen).
    pub server_view: Option<ServerView>,
    /// What went wrong (empty: exit 0).
    pub problems: Vec<String>,
}

/// One host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEntry {
    /// `server`, `agent-0`, ...
    pub name: String,
    /// Its address on the bridge.
    pub addr: String,
}

/// One agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentEntry {
    /// Its shard index.
    pub index: usize,
    /// Its host's name.
    pub host: String,
    /// Its host's address (the server sees its connections come from there).
    pub addr: String,
    /// Its share of the connections.
    pub conns: u64,
    /// Its exit code (None: killed by a signal, or it did not end).
    pub exit_code: Option<i32>,
    /// Its result file (None: it wrote none).
    pub result: Option<PathBuf>,
    /// Its output.
    pub log: PathBuf,
    /// Its result's headline figures.
    pub summary: Option<Summary>,
}

/// A result's headline figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Connections asked for.
    pub requested: u64,
    /// Connections established.
    pub established: u64,
    /// Round trips per second in the measured phase.
    pub round_trips_per_sec: f64,
    /// Latency percentiles, µs.
    pub p50_us: f64,
    pub p99_us: f64,
    /// Echoed bytes that differed from what was sent.
    pub mismatches: u64,
    /// The exit code the result records.
    pub exit_code: i32,
    /// How late its warm-up began against `--start-at`, ms (its clock's record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_ms: Option<f64>,
}

/// How late the agents began against the start time T, over the agents that wrote
/// a result: what "every agent measures the same seconds" holds to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StartSkew {
    /// Agents whose lateness is known.
    pub agents: usize,
    /// The earliest agent's lateness, ms.
    pub min_ms: f64,
    /// The median agent's, ms.
    pub p50_ms: f64,
    /// The latest agent's (p100), ms.
    pub max_ms: f64,
}

impl StartSkew {
    /// The skew of `agents`' lateness (None: no agent's is known).
    pub fn of(agents: &[AgentEntry]) -> Option<StartSkew> {
        let mut late: Vec<f64> =
            agents.iter().filter_map(|a| a.summary.as_ref()?.late_ms).collect();
        late.sort_by(f64::total_cmp);
        let (min_ms, max_ms) = (*late.first()?, *late.last()?);
        Some(StartSkew { agents: late.len(), min_ms, p50_ms: late[(late.len() - 1) / 2], max_ms })
    }
}

impl Summary {
    /// The figures of `r`.
    pub fn of(r: &RunResult) -> Summary {
        Summary {
            requested: r.connections.requested,
            established: r.connections.established,
            round_trips_per_sec: r.throughput.msgs_per_sec,
            p50_us: r.latency_us.p50,
            p99_us: r.latency_us.p99,
            mismatches: r.errors.mismatch,
            exit_code: r.exit_code,
            late_ms: r.clock.as_ref().and_then(|c| c.late_s).map(|l| l * 1e3),
        }
    }
}

/// What is wrong with the merged result of `conns` connections: echoes that
/// differed, connections missing, or an exit code that says so.
pub fn merged_problems(m: &Summary, conns: u64) -> Vec<String> {
    let mut p = Vec::new();
    if m.mismatches > 0 {
        p.push(format!("the merged result has {} mismatched echoes", m.mismatches));
    }
    if m.established < conns || m.requested != conns {
        p.push(format!(
            "the merged result has {} of {conns} connections established ({} requested)",
            m.established, m.requested
        ));
    }
    if m.exit_code != 0 && p.is_empty() {
        p.push(format!("the merged result records exit code {}", m.exit_code));
    }
    p
}

/// The text printed at the end of a run.
pub fn render(r: &TestbedReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "testbed: {} agents, run {}, start time {} (Unix s); echod on {}",
        r.agents.len(),
        r.run_id,
        r.start_at,
        r.server
    );
    let _ = writeln!(
        s,
        "{:<9} {:<12} {:>7} {:>11} {:>13} {:>9} {:>9} {:>5}",
        "host", "address", "conns", "established", "round trips/s", "p50", "p99", "exit"
    );
    let _ = writeln!(s, "{:<9} {:<12} {:>7}", "server", r.hosts[0].addr, "echod");
    for a in &r.agents {
        render_agent(&mut s, a);
    }
    match &r.merged_summary {
        Some(m) => {
            let _ = writeln!(
                s,
                "merged: {} of {} connections, {} round trips/s, p50 {}, p99 {}, {} mismatches",
                m.established,
                m.requested,
                fmt_count(m.round_trips_per_sec),
                fmt_micros(m.p50_us),
                fmt_micros(m.p99_us),
                m.mismatches
            );
        }
        None => s.push_str("merged: none\n"),
    }
    if let Some(k) = &r.start_skew {
        let _ = writeln!(
            s,
            "start: {} agents began their warm-up {:.2} to {:.2} ms after the start time (median {:.2} ms)",
            k.agents, k.min_ms, k.max_ms, k.p50_ms
        );
    }
    render_view(&mut s, r.server_view.as_ref());
    for p in &r.problems {
        let _ = writeln!(s, "problem: {p}");
    }
    if let Some(m) = &r.merged {
        let dir = m.parent().map_or(String::new(), |d| d.display().to_string());
        let _ = writeln!(s, "files: {dir}/ (testbed.json, merged.json, agent-I.json, agent-I.log)");
    }
    s
}

/// One agent's row, as printed.
fn render_agent(s: &mut String, a: &AgentEntry) {
    let exit = a.exit_code.map_or("-".to_string(), |c| c.to_string());
    match &a.summary {
        Some(m) => {
            let _ = writeln!(
                s,
                "{:<9} {:<12} {:>7} {:>11} {:>13} {:>9} {:>9} {:>5}",
                a.host,
                a.addr,
                a.conns,
                m.established,
                fmt_count(m.round_trips_per_sec),
                fmt_micros(m.p50_us),
                fmt_micros(m.p99_us),
                exit
            );
        }
        None => {
            let _ = writeln!(
                s,
                "{:<9} {:<12} {:>7} {:>11}  no result  {exit}",
                a.host, a.addr, a.conns, "-"
            );
        }
    }
}

/// The server's view, as printed.
fn render_view(s: &mut String, view: Option<&ServerView>) {
    let Some(v) = view else {
        s.push_str("server view: none (no established socket seen)\n");
        return;
    };
    let _ = writeln!(
        s,
        "server view (its /proc/net/tcp, {:+.1} s from the start time): {} established \
         four-tuples on port {}, {} local port(s), {} peer addresses",
        v.at_s,
        v.established,
        v.port,
        v.distinct_local_ports,
        v.peers.len()
    );
    for p in &v.peers {
        let _ = writeln!(s, "  from {:<12} {} four-tuples", p.addr.to_string(), p.tuples);
    }
    for t in &v.sample {
        let _ = writeln!(s, "  e.g. {t}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(requested: u64, established: u64, mismatches: u64, exit_code: i32) -> Summary {
        Summary {
            requested,
            established,
            round_trips_per_sec: 1000.0,
            p50_us: 50.0,
            p99_us: 90.0,
            mismatches,
            exit_code,
            late_ms: None,
        }
    }

    /// A clean merged result has no problem; mismatches, missing connections and a
    /// failing exit code each are one.
    #[test]
    fn merged_problems_name_what_is_wrong() {
        assert!(merged_problems(&summary(200, 200, 0, 0), 200).is_empty());
        assert_eq!(merged_problems(&summary(200, 200, 3, 1), 200).len(), 1);
        assert_eq!(merged_problems(&summary(200, 150, 0, 1), 200).len(), 1);
        assert_eq!(merged_problems(&summary(100, 100, 0, 0), 200).len(), 1);
        assert_eq!(merged_problems(&summary(200, 200, 0, 1), 200).len(), 1);
    }

    /// The skew is over the agents whose lateness is known: min, median, max.
    #[test]
    fn start_skew_is_over_the_known_agents() {
        let agent = |late_ms: Option<f64>, with_result: bool| AgentEntry {
            index: 0,
            host: "agent-0".into(),
            addr: "198.18.0.2".into(),
            conns: 1,
            exit_code: Some(0),
            result: None,
            log: PathBuf::new(),
            summary: with_result.then(|| Summary { late_ms, ..summary(1, 1, 0, 0) }),
        };
        assert_eq!(StartSkew::of(&[agent(None, true), agent(None, false)]), None);
        let k = StartSkew::of(&[
            agent(Some(3.0), true),
            agent(Some(0.5), true),
            agent(None, false),
            agent(Some(1.0), true),
        ])
        .expect("three known");
        assert_eq!((k.agents, k.min_ms, k.p50_ms, k.max_ms), (3, 0.5, 1.0, 3.0));
    }
}
