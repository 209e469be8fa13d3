//! What the suite runs: the steps of each profile (`--quick`, default, `--full`) as
//! plain data, built before anything starts so the progress line can say "step 7 of
//! 23" and tests can check a plan without running it.
//!
//! Pinning: the allowed cores are split in two halves — the server on the upper
//! half, loadgen on the lower — so neither steals the other's core. On a 2-core
//! machine that is the server on CPU 1 and loadgen on CPU 0. The workers-scaling
//! step is the exception: it gives echod every core (pinned and unpinned) and says so.

use std::time::Duration;

use crate::suite_index::Section;
use echod::server::Model;

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

/// Which server a step runs against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// echod with a model (`reuseport`, `shared`, `threads`), workers and pinning.
    Echod { model: Model, workers: usize, pin: bool, processes: usize },
    /// The project's tokio echo server (benches/tokio-echo).
    Tokio { threads: usize },
    /// The reference C epoll server from ../shared/peers.
    CEpoll { threads: usize },
    /// `sockperf server` (answers only sockperf's own messages: the floor's peer).
    Sockperf,
    /// A user's own server (`--server NAME=COMMAND`).
    Custom(super::custom::CustomServer),
}

impl ServerKind {
    /// Short name for tables: `echod`, `echod shared`, `tokio-echo`, `epoll_echo`.
    pub fn label(&self) -> String {
        match self {
            ServerKind::Echod { model, workers, pin, processes } => {
                let mut s = format!("echod {} w={workers}", model.name());
                if !pin {
                    s.push_str(" unpinned");
                }
                if *processes > 1 {
                    s.push_str(&format!(" p={processes}"));
                }
                s
            }
            ServerKind::Tokio { threads } => format!("tokio-echo t={threads}"),
            ServerKind::CEpoll { threads } => format!("epoll_echo t={threads}"),
            ServerKind::Sockperf => "sockperf-server".to_string(),
            ServerKind::Custom(c) => c.name.clone(),
        }
    }
}

/// Which client a step drives the server with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// loadgen: every byte verified, every latency recorded.
    Loadgen,
    /// The peers' bare client (`echoload`): mio, no verification.
    Echoload,
    /// A blocking thread per connection (the rust_echo_bench design): `tpc-client`.
    TpcClient,
    /// `sockperf ping-pong` against `sockperf server`: the latency floor's reference.
    Sockperf,
    /// No traffic: opens the connections, one exchange each, and holds them idle
    /// while the server's memory is read.
    Idle,
}

impl Client {
    /// The name in scenario names and tables.
    pub fn label(self) -> &'static str {
        match self {
            Client::Loadgen => "loadgen",
            Client::Echoload => "echoload",
            Client::TpcClient => "tpc-client",
            Client::Sockperf => "sockperf",
            Client::Idle => "idle",
        }
    }
}

/// The optional programs found on this machine: which steps the plan can hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tools {
    /// The reference C epoll server (../shared/peers, built with gcc).
    pub c_peer: bool,
    /// The reference client `echoload` (../shared/peers, built with cargo).
    pub echoload: bool,
    /// `tpc-client` beside loadgen.
    pub tpc_client: bool,
    /// `sockperf` on PATH (Debian's package).
    pub sockperf: bool,
}

/// One loadgen run against one server.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub section: Section,
    pub server: ServerKind,
    /// Cores the server process is pinned to (taskset); empty = all.
    pub server_cores: Vec<usize>,
    pub conns: u64,
    /// Open loop: fraction of the closed-loop throughput measured at the same
    /// connection count earlier in the run (the rate is set when the step runs).
    pub rate_fraction: Option<f64>,
    pub duration: Duration,
    pub warmup: Duration,
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
    let with_c_peer = tools.c_peer;
    let (server_cores, client_cores) = split_cores(cores);
    let sw = server_cores.len().max(1);
    let cw = client_cores.len().max(1);
    let (dur, warm) = match profile {
        Profile::Quick => (Duration::from_secs(2), Duration::from_millis(500)),
        Profile::Default => (Duration::from_secs(5), Duration::from_secs(1)),
        Profile::Full => (Duration::from_secs(8), Duration::from_secs(2)),
    };
    let scaling: &[u64] = match profile {
        Profile::Quick => &[1, 100, 1_000],
        Profile::Default => &[1, 10, 100, 1_000, 10_000],
        Profile::Full => &[1, 10, 100, 1_000, 10_000, 50_000],
    };
    let echod = |conns: u64| ServerKind::Echod {
        model: Model::Reuseport,
        // Past one process's descriptors, echod splits itself (the nginx model).
        processes: if conns > 19_000 { 3 } else { 1 },
        workers: sw.max(if conns > 19_000 { 3 } else { 1 }),
        pin: true,
    };
    let step =
        |section, server: ServerKind, server_cores: Vec<usize>, conns: u64, tag: &str| Step {
            scenario: crate::scenario::format(tag, &server.label(), conns),
            host_bound: (conns == 1).then_some(ONE_CONN_HOST_BOUND),
            section,
            server,
            server_cores,
            conns,
            rate_fraction: None,
            duration: dur,
            warmup: warm,
            client_threads: cw.min(conns as usize).max(1),
            client_cores: client_cores.clone(),
            client: Client::Loadgen,
        };
    let mut steps = Vec::new();
    for &c in scaling {
        steps.push(step(Section::Scaling, echod(c), server_cores.clone(), c, "scaling"));
    }
    let open_at: &[u64] = if profile == Profile::Quick { &[100] } else { &[100, 1_000] };
    for &c in open_at {
        let mut s = step(Section::OpenLoop, echod(c), server_cores.clone(), c, "open-loop");
        s.rate_fraction = Some(0.5);
        steps.push(s);
    }
    let all: Vec<usize> = cores.to_vec();
    let worker_counts: Vec<usize> = (1..=cores.len().max(1)).collect();
    let workers_conns = 1_000;
    for pin in [true, false] {
        if profile == Profile::Quick && !pin {
            continue;
        }
        for &w in &worker_counts {
            let server =
                ServerKind::Echod { model: Model::Reuseport, workers: w, pin, processes: 1 };
            let mut s = step(Section::Workers, server, Vec::new(), workers_conns, "workers");
            s.client_cores = all.clone();
            s.client_threads = cores.len().max(1);
            steps.push(s);
        }
    }
    let model_conns: &[u64] = if profile == Profile::Quick { &[100] } else { &[100, 1_000] };
    for &c in model_conns {
        for model in Model::ALL {
            let server = ServerKind::Echod { model, workers: sw, pin: true, processes: 1 };
            steps.push(step(Section::Models, server, server_cores.clone(), c, "models"));
        }
    }
    let peer_conns: &[u64] = match profile {
        Profile::Quick => &[1_000],
        _ => &[10, 1_000, 5_000],
    };
    for &c in peer_conns {
        let mut servers = vec![echod(c), ServerKind::Tokio { threads: sw }];
        if with_c_peer {
            servers.push(ServerKind::CEpoll { threads: sw });
        }
        for server in servers {
            steps.push(step(Section::Peers, server, server_cores.clone(), c, "peers"));
        }
    }
    if profile != Profile::Quick {
        let reference = if with_c_peer { ServerKind::CEpoll { threads: 1 } } else { echod(1) };
        let clients_conns: &[u64] =
            if profile == Profile::Full { &[10, 1_000, 5_000] } else { &[10, 1_000] };
        let mut clients = vec![Client::Loadgen];
        clients.extend(tools.echoload.then_some(Client::Echoload));
        clients.extend(tools.tpc_client.then_some(Client::TpcClient));
        for &c in clients_conns {
            for &client in &clients {
                let mut s = step(Section::Clients, reference.clone(), server_cores.clone(), c, "");
                s.client = client;
                s.client_threads = 1;
                s.client_cores = client_cores[..1].to_vec();
                s.scenario = client_scenario("clients", client, &reference, "", c);
                steps.push(s);
            }
        }
        // One connection, server and client on one core, then on two.
        let one_core = client_cores[..1].to_vec();
        for (pinning, server_at) in
            [("same-core", one_core.clone()), ("cross-core", server_cores.clone())]
        {
            let mut pairs = vec![(Client::Loadgen, reference.clone())];
            if tools.sockperf {
                pairs.push((Client::Sockperf, ServerKind::Sockperf));
            }
            for (client, server) in pairs {
                let mut s = step(Section::Floor, server.clone(), server_at.clone(), 1, "");
                s.client = client;
                s.client_cores = one_core.clone();
                s.scenario = client_scenario("floor", client, &server, pinning, 1);
                steps.push(s);
            }
        }
        let mut idle_servers = vec![echod(1), ServerKind::Tokio { threads: 1 }];
        if with_c_peer {
            idle_servers.push(ServerKind::CEpoll { threads: 1 });
        }
        for server in idle_servers {
            let mut s = step(Section::IdleMemory, server, server_cores.clone(), IDLE_CONNS, "idle");
            s.client = Client::Idle;
            s.host_bound = None;
            steps.push(s);
        }
    }
    if profile == Profile::Full {
        // A minute here; `--section soak --duration 10m` for the real soak.
        let mut s =
            step(Section::Soak, echod(SOAK_CONNS), server_cores.clone(), SOAK_CONNS, "soak");
        s.duration = Duration::from_secs(60);
        steps.push(s);
    }
    Plan { profile, steps, ports_experiment: true }
}

/// Idle connections held while a server's memory is read.
pub const IDLE_CONNS: u64 = 10_000;
/// Connections of the soak: past one process's descriptors on both sides.
pub const SOAK_CONNS: u64 = 50_000;

/// `clients tpc-client → epoll_echo t=1 conns=1000`, `floor sockperf → sockperf-server
/// same-core conns=1`: the client, the server, and the pinning when it varies.
fn client_scenario(
    tag: &str,
    client: Client,
    server: &ServerKind,
    pinning: &str,
    conns: u64,
) -> String {
    let mut who = format!("{} → {}", client.label(), server.label());
    if !pinning.is_empty() {
        who.push(' ');
        who.push_str(pinning);
    }
    crate::scenario::format(tag, &who, conns)
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
        if step.rate_fraction.is_some() {
            let source = plan
                .steps
                .iter()
                .position(|s| s.section == Section::Scaling && s.conns == step.conns);
            if let Some(j) = source {
                chosen[j] = true;
            }
        }
    }
    Ok((0..plan.steps.len()).filter(|&i| chosen[i]).collect())
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

    const ALL: Tools = Tools { c_peer: true, echoload: true, tpc_client: true, sockperf: true };
    const NONE: Tools =
        Tools { c_peer: false, echoload: false, tpc_client: false, sockperf: false };

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
        for section in
            [Section::Scaling, Section::OpenLoop, Section::Workers, Section::Models, Section::Peers]
        {
            assert!(plan.steps.iter().any(|s| s.section == section), "{section:?}");
        }
    }

    /// `--only` keeps the named steps in plan order, brings the scaling step an
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
