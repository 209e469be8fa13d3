//! What the suite runs: the steps of each profile (`--quick`, default, `--full`) as
//! plain data, built before anything starts so the progress line can say "step 7 of
//! 23" and tests can check a plan without running it.
//!
//! Pinning: the allowed cores are split in two halves — the server on the upper
//! half, loadgen on the lower — so neither steals the other's core. On a 2-core
//! machine that is the server on CPU 1 and loadgen on CPU 0. The workers-scaling
//! step is the exception: it gives echod every core (pinned and unpinned) and says so.

use std::time::Duration;

mod kinds;
mod sections;

use crate::suite_index::Section;
pub use kinds::{Client, ServerKind, Tools};

/// How long and how wide the suite runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// About a minute: for CI.
    Quick,
    /// About five minutes.
    Default,
    /// Up to 50,000 connections.
    Full,
}

/// One loadgen run against one server.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub section: Section,
    pub server: ServerKind,
    /// Cores the server process is pinned to (taskset); empty = all.
    pub server_cores: Vec<usize>,
    pub conns: u64,
    /// Open loop: fraction of the closed-loop throughput that the step named
    /// `rate_from` measured earlier in the run (the rate is set when the step runs).
    pub rate_fraction: Option<f64>,
    /// The scenario whose closed-loop rate an open-loop step takes its fraction of.
    pub rate_from: Option<String>,
    /// Count the server's system calls per round trip in a sample after the run.
    pub count_syscalls: bool,
    pub duration: Duration,
    pub warmup: Duration,
    /// loadgen's `--disturbed-above`: cores busy outside loadgen and the server
    /// past which a run counts as disturbed (and the suite runs it again).
    pub disturbed_above: f64,
    /// loadgen's threads and cores.
    pub client_threads: usize,
    pub client_cores: Vec<usize>,
    /// Name stored in the result, the key compare matches on.
    pub scenario: String,
    /// Why this step's figure is mostly the host's rather than the code's, if it is
    /// (stored in the result; compare does not gate on it across machines).
    pub host_bound: Option<&'static str>,
    /// What drives the server (loadgen in every section but clients, floor, idle).
    pub client: Client,
    /// Churn (`--lifetime`, `--close`): connections that come and go.
    pub churn: Option<engine::run::churn::Churn>,
}

/// Why one connection measures the host: a closed loop with one message in flight
/// and the server on another core waits for a cross-core wake-up on every round trip.
pub const ONE_CONN_HOST_BOUND: &str = "one connection, server and client on different cores: \
    each round trip waits for a wake-up between two CPUs, which measures the host (its \
    kernel, its virtualisation) more than the server's code";

/// The whole plan.
#[derive(Clone, Debug)]
pub struct Plan {
    pub profile: Profile,
    pub steps: Vec<Step>,
    /// Run the four-tuple experiment (`loadgen ports`) too.
    pub ports_experiment: bool,
}

/// Splits the allowed cores: (server, client). With one core both share it.
pub fn split_cores(cores: &[usize]) -> (Vec<usize>, Vec<usize>) {
    if cores.len() < 2 {
        return (cores.to_vec(), cores.to_vec());
    }
    let half = cores.len() / 2;
    (cores[half..].to_vec(), cores[..half].to_vec())
}

/// Builds the plan for a profile on a machine with these allowed cores, holding
/// the steps whose programs `tools` says are there.
pub fn build(profile: Profile, cores: &[usize], tools: Tools) -> Plan {
    let b = sections::Builder::new(profile, cores, tools);
    let mut steps = Vec::new();
    steps.extend(b.scaling());
    steps.extend(b.open_loop());
    steps.extend(b.workers());
    steps.extend(b.models());
    steps.extend(b.peers());
    steps.extend(b.udp());
    steps.extend(b.churn());
    if profile != Profile::Quick {
        steps.extend(b.clients());
        steps.extend(b.floor());
        steps.extend(b.idle());
    }
    if profile == Profile::Full {
        steps.extend(b.soak());
    }
    Plan { profile, steps, ports_experiment: true }
}

/// Idle connections held while a server's memory is read.
pub const IDLE_CONNS: u64 = 10_000;
/// Connections of the soak: past one process's descriptors on both sides.
pub const SOAK_CONNS: u64 = 50_000;
/// Flows of the UDP section's loss-against-offered-rate steps.
pub const UDP_LOSS_FLOWS: u64 = 1_000;
/// Connections kept open by the churn section (each lives for one echo).
pub const CHURN_CONNS: u64 = 100;

/// Adds a peers step for each custom server at every connection count the plan's
/// peers section measures, after that count's own peers.
pub fn add_custom(plan: &mut Plan, servers: &[crate::suite::custom::CustomServer]) {
    if servers.is_empty() {
        return;
    }
    let mut steps = Vec::new();
    let peers = |s: &Step| s.section == Section::Peers;
    for (i, step) in plan.steps.iter().enumerate() {
        steps.push(step.clone());
        let last_of_its_count = peers(step)
            && !plan.steps.get(i + 1).is_some_and(|n| peers(n) && n.conns == step.conns);
        if last_of_its_count {
            for custom in servers {
                let server = ServerKind::Custom(custom.clone());
                let mut s = step.clone();
                s.scenario = crate::scenario::format("peers", &server.label(), step.conns);
                s.server = server;
                steps.push(s);
            }
        }
    }
    plan.steps = steps;
}

/// The indices of the steps to run: every step when `only` is empty; otherwise the
/// steps whose scenario is named in `only`, plus the scaling step at the same
/// connection count that an open-loop step takes its rate from (it runs first, as in
/// the full plan). An unknown name is an error that lists the plan's scenarios.
pub fn select(plan: &Plan, only: &[String]) -> Result<Vec<usize>, String> {
    if only.is_empty() {
        return Ok((0..plan.steps.len()).collect());
    }
    let mut chosen = vec![false; plan.steps.len()];
    for name in only {
        let Some(i) = plan.steps.iter().position(|s| s.scenario == name.trim()) else {
            let names: Vec<&str> = plan.steps.iter().map(|s| s.scenario.as_str()).collect();
            return Err(format!(
                "--only '{name}': no such scenario in the {:?} profile; use one of: {}",
                plan.profile,
                names.join(", ")
            ));
        };
        chosen[i] = true;
        let step = &plan.steps[i];
        if let Some(from) = &step.rate_from {
            if let Some(j) = plan.steps.iter().position(|s| &s.scenario == from) {
                chosen[j] = true;
            }
        }
    }
    Ok((0..plan.steps.len()).filter(|&i| chosen[i]).collect())
}

/// Whether a `selected` step of `plan` runs tokio-echo.
pub fn runs_tokio(plan: &Plan, selected: &[usize]) -> bool {
    selected.iter().any(|&i| matches!(plan.steps[i].server, ServerKind::Tokio { .. }))
}

/// The scenarios of the section named `name` (`peers`, `idle_memory`, ... as in
/// suite.json) in `plan`; an error naming the valid sections when there is none.
pub fn section_scenarios(plan: &Plan, name: &str) -> Result<Vec<String>, String> {
    let all = [
        Section::Scaling,
        Section::OpenLoop,
        Section::Workers,
        Section::Models,
        Section::Peers,
        Section::Clients,
        Section::Floor,
        Section::IdleMemory,
        Section::Soak,
        Section::Udp,
        Section::Churn,
    ];
    let key = |s: Section| serde_json::to_value(s).ok().and_then(|v| v.as_str().map(String::from));
    let names: Vec<String> = all.iter().filter_map(|s| key(*s)).collect();
    let Some(section) = all.into_iter().find(|s| key(*s).as_deref() == Some(name.trim())) else {
        return Err(format!(
            "--section '{name}': no such section; use one of: {}",
            names.join(", ")
        ));
    };
    let scenarios: Vec<String> =
        plan.steps.iter().filter(|s| s.section == section).map(|s| s.scenario.clone()).collect();
    if scenarios.is_empty() {
        return Err(format!(
            "--section '{name}': the {:?} profile has no step in it (try the default profile)",
            plan.profile
        ));
    }
    Ok(scenarios)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--section` names every step of a section; a wrong or empty one says why.
    #[test]
    fn sections_select_their_steps() {
        let plan = build(Profile::Default, &[0, 1], ALL);
        let idle = section_scenarios(&plan, "idle_memory").expect("idle");
        assert_eq!(idle.len(), 3);
        assert!(idle.iter().all(|s| s.starts_with("idle ")));
        let err = section_scenarios(&plan, "peer").unwrap_err();
        assert!(err.contains("no such section") && err.contains("peers, clients"), "{err}");
        let quick = build(Profile::Quick, &[0, 1], ALL);
        assert!(section_scenarios(&quick, "clients").unwrap_err().contains("no step in it"));
    }

    const ALL: Tools =
        Tools { c_peer: true, c_udp: true, echoload: true, tpc_client: true, sockperf: true };
    const NONE: Tools =
        Tools { c_peer: false, c_udp: false, echoload: false, tpc_client: false, sockperf: false };

    /// Two cores: server on CPU 1, client on CPU 0; one core: shared.
    #[test]
    fn cores_split_in_halves() {
        assert_eq!(split_cores(&[0, 1]), (vec![1], vec![0]));
        assert_eq!(split_cores(&[0, 1, 2, 3]), (vec![2, 3], vec![0, 1]));
        assert_eq!(split_cores(&[3]), (vec![3], vec![3]));
    }

    /// Scenario names are unique, so compare can match every step.
    #[test]
    fn scenarios_are_unique() {
        for profile in [Profile::Quick, Profile::Default, Profile::Full] {
            let plan = build(profile, &[0, 1], ALL);
            let mut names: Vec<&str> = plan.steps.iter().map(|s| s.scenario.as_str()).collect();
            let n = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), n, "{profile:?}");
        }
    }

    /// Full goes to 50,000 connections with echod split over processes; quick stays small.
    #[test]
    fn profiles_differ_in_reach() {
        let full = build(Profile::Full, &[0, 1], NONE);
        let big = full.steps.iter().find(|s| s.conns == 50_000).expect("50k step");
        assert!(matches!(big.server, ServerKind::Echod { processes: 3, .. }));
        let quick = build(Profile::Quick, &[0, 1], NONE);
        assert!(quick.steps.iter().all(|s| s.conns <= 1_000));
        assert!(quick.steps.len() < build(Profile::Default, &[0, 1], NONE).steps.len());
        assert!(!quick.steps.iter().any(|s| matches!(s.server, ServerKind::CEpoll { .. })));
        assert!(build(Profile::Quick, &[0, 1], ALL)
            .steps
            .iter()
            .any(|s| matches!(s.server, ServerKind::CEpoll { .. })));
    }

    /// Every section is present in the default plan.
    #[test]
    fn default_covers_every_section() {
        let plan = build(Profile::Default, &[0, 1], ALL);
        for section in [
            Section::Scaling,
            Section::OpenLoop,
            Section::Workers,
            Section::Models,
            Section::Peers,
            Section::Churn,
        ] {
            assert!(plan.steps.iter().any(|s| s.section == section), "{section:?}");
        }
    }

    /// The UDP section: three servers closed loop at 10, 1,000 and 10,000 flows,
    /// then the loss curve at 1,000 flows taking its rates from echod UDP's closed
    /// loop (a step that runs before it); quick keeps echod UDP at 1,000 alone.
    /// Models, peers and closed UDP steps count system calls, except in quick.
    #[test]
    fn udp_section_and_counted_steps() {
        let plan = build(Profile::Default, &[0, 1], ALL);
        let udp: Vec<&Step> = plan.steps.iter().filter(|s| s.section == Section::Udp).collect();
        let closed: Vec<&&Step> = udp.iter().filter(|s| s.rate_fraction.is_none()).collect();
        assert_eq!(closed.len(), 9);
        assert!(closed.iter().all(|s| s.server.udp() && s.count_syscalls));
        assert!(closed.iter().any(|s| s.scenario == "udp udp_echo t=1 b=1 conns=10000"));
        let open: Vec<&&Step> = udp.iter().filter(|s| s.rate_fraction.is_some()).collect();
        assert_eq!(open.len(), 6);
        for s in &open {
            let from = s.rate_from.as_deref().expect("a source");
            assert_eq!(from, "udp echod reuseport w=1 udp conns=1000");
            let at = |name: &str| plan.steps.iter().position(|x| x.scenario == name);
            assert!(at(from) < at(&s.scenario), "{from} runs first");
            assert!(!s.count_syscalls && s.conns == UDP_LOSS_FLOWS);
        }
        let picked = select(&plan, &[open[0].scenario.clone()]).expect("select");
        assert_eq!(plan.steps[picked[0]].scenario, "udp echod reuseport w=1 udp conns=1000");
        // io_uring in the models (10, 1,000, 5,000) and the peers.
        for (tag, conns) in [("models", 10), ("models", 5_000), ("peers", 1_000)] {
            let name = format!("{tag} echod uring w=1 conns={conns}");
            let s = plan.steps.iter().find(|s| s.scenario == name).expect(&name);
            assert!(s.count_syscalls, "{name}");
        }
        let quick = build(Profile::Quick, &[0, 1], ALL);
        let quick_udp: Vec<&str> = quick
            .steps
            .iter()
            .filter(|s| s.section == Section::Udp)
            .map(|s| s.scenario.as_str())
            .collect();
        assert_eq!(quick_udp, ["udp echod reuseport w=1 udp conns=1000"]);
        assert!(quick.steps.iter().all(|s| !s.count_syscalls));
    }

    /// The churn section: every server at 100 connections that live one echo each;
    /// with two cores, reuseport and the shared listener also with every core (one
    /// accept queue waking both workers); quick keeps echod reuseport alone, so CI
    /// sees the accept path.
    #[test]
    fn churn_section() {
        use engine::run::churn::Lifetime;
        let names = |plan: &Plan| -> Vec<String> {
            let churn = plan.steps.iter().filter(|s| s.section == Section::Churn);
            churn.map(|s| s.scenario.clone()).collect()
        };
        let plan = build(Profile::Default, &[0, 1], ALL);
        assert_eq!(
            names(&plan),
            [
                "churn echod reuseport w=1 conns=100",
                "churn echod shared w=1 conns=100",
                "churn echod threads w=1 conns=100",
                "churn echod uring w=1 conns=100",
                "churn tokio-echo t=1 conns=100",
                "churn epoll_echo t=1 conns=100",
                "churn echod reuseport w=2 conns=100",
                "churn echod shared w=2 conns=100",
            ]
        );
        let churned = plan.steps.iter().filter(|s| s.section == Section::Churn);
        assert!(churned
            .clone()
            .all(|s| s.churn.is_some_and(|c| c.lifetime == Lifetime::Messages(1))));
        assert!(plan
            .steps
            .iter()
            .filter(|s| s.section != Section::Churn)
            .all(|s| s.churn.is_none()));
        let quick = build(Profile::Quick, &[0, 1], ALL);
        assert_eq!(names(&quick), ["churn echod reuseport w=1 conns=100"]);
        assert_eq!(section_scenarios(&quick, "churn").expect("churn").len(), 1);
    }

    /// `--only` keeps the named steps in plan order, brings the closed-loop step an
    /// open-loop step takes its rate from, and names the choices on a typo.
    #[test]
    fn only_selects_named_steps() {
        let plan = build(Profile::Quick, &[0, 1], NONE);
        assert_eq!(select(&plan, &[]).expect("all"), (0..plan.steps.len()).collect::<Vec<_>>());
        let name = |i: usize| plan.steps[i].scenario.clone();
        let last = plan.steps.len() - 1;
        assert_eq!(select(&plan, &[name(last), name(0)]).expect("two"), vec![0, last]);
        let open = plan.steps.iter().position(|s| s.section == Section::OpenLoop).expect("open");
        let picked = select(&plan, &[name(open)]).expect("open loop");
        assert_eq!(picked.len(), 2);
        let source = &plan.steps[picked[0]];
        assert_eq!((source.section, source.conns), (Section::Scaling, plan.steps[open].conns));
        assert_eq!(picked[1], open);
        let err = select(&plan, &["scaling echod conns=7".into()]).unwrap_err();
        assert!(err.starts_with("--only 'scaling echod conns=7': no such scenario"), "{err}");
        assert!(err.contains(&name(0)), "{err}");
    }
}
