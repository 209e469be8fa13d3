//! The steps of each section of the suite, for a profile on a machine: one method
//! per section, all built the same way ([`Builder::step`]: the profile's durations,
//! the server on the upper half of the cores, loadgen on the lower half).

use std::time::Duration;

use echod::server::Model;

use super::{
    split_cores, Client, Profile, ServerKind, Step, Tools, CHURN_CONNS, IDLE_CONNS,
    ONE_CONN_HOST_BOUND, SOAK_CONNS, UDP_LOSS_FLOWS,
};
use crate::suite_index::Section;

/// Builds the steps of one plan.
pub(super) struct Builder {
    profile: Profile,
    cores: Vec<usize>,
    tools: Tools,
    server_cores: Vec<usize>,
    client_cores: Vec<usize>,
    duration: Duration,
    warmup: Duration,
}

impl Builder {
    pub(super) fn new(profile: Profile, cores: &[usize], tools: Tools) -> Builder {
        let (server_cores, client_cores) = split_cores(cores);
        let (duration, warmup) = match profile {
            Profile::Quick => (Duration::from_secs(2), Duration::from_millis(500)),
            Profile::Default => (Duration::from_secs(5), Duration::from_secs(1)),
            Profile::Full => (Duration::from_secs(8), Duration::from_secs(2)),
        };
        Builder {
            profile,
            cores: cores.to_vec(),
            tools,
            server_cores,
            client_cores,
            duration,
            warmup,
        }
    }

    /// A loadgen step against `server` pinned to `server_cores`.
    fn step(
        &self,
        section: Section,
        server: ServerKind,
        server_cores: &[usize],
        conns: u64,
        tag: &str,
    ) -> Step {
        let client_threads = self.client_cores.len().max(1).min(conns as usize).max(1);
        Step {
            scenario: crate::scenario::format(tag, &server.label(), conns),
            host_bound: (conns == 1).then_some(ONE_CONN_HOST_BOUND),
            section,
            server,
            server_cores: server_cores.to_vec(),
            conns,
            rate_fraction: None,
            rate_from: None,
            count_syscalls: false,
            duration: self.duration,
            warmup: self.warmup,
            disturbed_above: engine::run::values::DISTURBED_ABOVE,
            client_threads,
            client_cores: self.client_cores.clone(),
            client: Client::Loadgen,
            churn: None,
        }
    }

    /// echod reuseport for `conns`: past one process's descriptors it splits itself
    /// (the nginx model).
    fn echod(&self, conns: u64) -> ServerKind {
        let split = conns > 19_000;
        ServerKind::Echod {
            model: Model::Reuseport,
            processes: if split { 3 } else { 1 },
            workers: self.server_cores.len().max(1).max(if split { 3 } else { 1 }),
            pin: true,
            udp: false,
        }
    }

    fn quick(&self) -> bool {
        self.profile == Profile::Quick
    }

    pub(super) fn scaling(&self) -> Vec<Step> {
        let conns: &[u64] = match self.profile {
            Profile::Quick => &[1, 100, 1_000],
            Profile::Default => &[1, 10, 100, 1_000, 10_000],
            Profile::Full => &[1, 10, 100, 1_000, 10_000, 50_000],
        };
        conns
            .iter()
            .map(|&c| self.step(Section::Scaling, self.echod(c), &self.server_cores, c, "scaling"))
            .collect()
    }

    pub(super) fn open_loop(&self) -> Vec<Step> {
        let conns: &[u64] = if self.quick() { &[100] } else { &[100, 1_000] };
        conns
            .iter()
            .map(|&c| {
                let mut s =
                    self.step(Section::OpenLoop, self.echod(c), &self.server_cores, c, "open-loop");
                s.rate_fraction = Some(0.5);
                s.rate_from = Some(crate::scenario::format("scaling", &self.echod(c).label(), c));
                s
            })
            .collect()
    }

    /// echod with 1..cores workers, pinned (and unpinned), every core to it and to
    /// loadgen alike.
    pub(super) fn workers(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        for pin in [true, false] {
            if self.quick() && !pin {
                continue;
            }
            for w in 1..=self.cores.len().max(1) {
                let server = ServerKind::Echod {
                    model: Model::Reuseport,
                    workers: w,
                    pin,
                    processes: 1,
                    udp: false,
                };
                let mut s = self.step(Section::Workers, server, &[], 1_000, "workers");
                s.client_cores.clone_from(&self.cores);
                s.client_threads = self.cores.len().max(1);
                steps.push(s);
            }
        }
        steps
    }

    /// A step whose server's system calls are counted after it (not in quick: the
    /// sample adds two seconds a step).
    fn counted(&self, mut step: Step) -> Step {
        step.count_syscalls = !self.quick();
        step
    }

    /// echod's model `model` on the server cores, one process, TCP.
    fn model(&self, model: Model) -> ServerKind {
        let workers = self.server_cores.len().max(1);
        ServerKind::Echod { model, workers, pin: true, processes: 1, udp: false }
    }

    pub(super) fn models(&self) -> Vec<Step> {
        let conns: &[u64] = if self.quick() { &[100] } else { &[10, 1_000, 5_000] };
        let mut steps = Vec::new();
        for &c in conns {
            // A thread per connection at 5,000 connections on a small machine leaves
            // half of them unanswered past the connect timeout (thousands of runnable
            // threads; measured on 2 cores): that row would fail the suite, not
            // measure the model.
            let models = Model::ALL.into_iter().filter(|&m| m != Model::Threads || c <= 1_000);
            for model in models {
                let s =
                    self.step(Section::Models, self.model(model), &self.server_cores, c, "models");
                steps.push(self.counted(s));
            }
        }
        steps
    }

    pub(super) fn peers(&self) -> Vec<Step> {
        let conns: &[u64] = if self.quick() { &[1_000] } else { &[10, 1_000, 5_000] };
        let threads = self.server_cores.len().max(1);
        let mut steps = Vec::new();
        for &c in conns {
            let mut servers =
                vec![self.echod(c), self.model(Model::Uring), ServerKind::Tokio { threads }];
            if self.tools.c_peer {
                servers.push(ServerKind::CEpoll { threads });
            }
            for server in servers {
                let s = self.step(Section::Peers, server, &self.server_cores, c, "peers");
                steps.push(self.counted(s));
            }
        }
        steps
    }

    /// Churn: [`CHURN_CONNS`] connections kept open, each living for one echo
    /// (connect, one echo, close: the client closes first, as an HTTP/1.0 client
    /// does), so the figure is the accept path: echod's models on the server cores
    /// and, beyond quick, the shared listener and reuseport with every core (where
    /// one accept queue wakes every worker), tokio-echo and the C server beside
    /// them. Quick runs echod's reuseport alone, so CI sees a regression in the
    /// accept path.
    pub(super) fn churn(&self) -> Vec<Step> {
        use engine::run::churn::{Churn, CloseMode, Lifetime};
        let threads = self.server_cores.len().max(1);
        let mut servers = vec![self.model(Model::Reuseport)];
        if !self.quick() {
            servers.extend([Model::Shared, Model::Threads, Model::Uring].map(|m| self.model(m)));
            servers.push(ServerKind::Tokio { threads });
            if self.tools.c_peer {
                servers.push(ServerKind::CEpoll { threads });
            }
        }
        let churn = Churn { lifetime: Lifetime::Messages(1), jitter: 0.0, close: CloseMode::Fin };
        let mut steps: Vec<Step> = servers
            .into_iter()
            .map(|server| {
                let mut s =
                    self.step(Section::Churn, server, &self.server_cores, CHURN_CONNS, "churn");
                s.churn = Some(churn);
                s
            })
            .collect();
        if !self.quick() && self.cores.len() > 1 {
            for model in [Model::Reuseport, Model::Shared] {
                let workers = self.cores.len();
                let server =
                    ServerKind::Echod { model, workers, pin: true, processes: 1, udp: false };
                let mut s = self.step(Section::Churn, server, &self.cores, CHURN_CONNS, "churn");
                s.churn = Some(churn);
                steps.push(s);
            }
        }
        steps
    }

    /// UDP echo: echod `--proto udp` and the C UDP server (batched, and a datagram
    /// per call) closed loop at 10, 1,000 and 10,000 flows (echod TCP at the same
    /// counts is the scaling section's), then loss against offered rate at 1,000
    /// flows: open loop at fractions of echod UDP's closed-loop rate, the same
    /// offered rates for each server.
    pub(super) fn udp(&self) -> Vec<Step> {
        let threads = self.server_cores.len().max(1);
        let echod = ServerKind::Echod {
            model: Model::Reuseport,
            workers: threads,
            pin: true,
            processes: 1,
            udp: true,
        };
        let mut servers = vec![echod.clone()];
        if self.tools.c_udp && !self.quick() {
            servers.push(ServerKind::CUdp { threads, batch: 32 });
            servers.push(ServerKind::CUdp { threads, batch: 1 });
        }
        let conns: &[u64] = if self.quick() { &[1_000] } else { &[10, 1_000, 10_000] };
        let mut steps = Vec::new();
        for &c in conns {
            for server in &servers {
                let s = self.step(Section::Udp, server.clone(), &self.server_cores, c, "udp");
                steps.push(self.counted(s));
            }
        }
        let fractions: &[f64] = match self.profile {
            Profile::Quick => &[],
            Profile::Default => &[0.5, 1.0, 1.5],
            Profile::Full => &[0.25, 0.5, 0.75, 1.0, 1.25, 1.5],
        };
        let from = crate::scenario::format("udp", &echod.label(), UDP_LOSS_FLOWS);
        for &f in fractions {
            for server in servers.iter().filter(|s| !matches!(s, ServerKind::CUdp { batch: 1, .. }))
            {
                let tag = format!("udp-open-{:.0}%", f * 100.0);
                let mut s = self.step(
                    Section::Udp,
                    server.clone(),
                    &self.server_cores,
                    UDP_LOSS_FLOWS,
                    &tag,
                );
                s.rate_fraction = Some(f);
                s.rate_from = Some(from.clone());
                steps.push(s);
            }
        }
        steps
    }

    /// The server the clients and the latency floor run against: the C server when
    /// it is there (the one every client sees alike), else echod.
    fn reference(&self) -> ServerKind {
        if self.tools.c_peer {
            ServerKind::CEpoll { threads: 1 }
        } else {
            self.echod(1)
        }
    }

    /// loadgen, echoload and tpc-client against one server, one client thread each.
    pub(super) fn clients(&self) -> Vec<Step> {
        let conns: &[u64] =
            if self.profile == Profile::Full { &[10, 1_000, 5_000] } else { &[10, 1_000] };
        let mut clients = vec![Client::Loadgen];
        clients.extend(self.tools.echoload.then_some(Client::Echoload));
        clients.extend(self.tools.tpc_client.then_some(Client::TpcClient));
        let reference = self.reference();
        let mut steps = Vec::new();
        for &c in conns {
            for &client in &clients {
                let mut s =
                    self.step(Section::Clients, reference.clone(), &self.server_cores, c, "");
                s.client = client;
                s.client_threads = 1;
                s.client_cores = self.client_cores[..1].to_vec();
                s.scenario = client_scenario("clients", client, &reference, "", c);
                steps.push(s);
            }
        }
        steps
    }

    /// One connection, server and client on one core, then on two: loadgen, and
    /// sockperf when it is there.
    pub(super) fn floor(&self) -> Vec<Step> {
        let one_core = self.client_cores[..1].to_vec();
        let mut steps = Vec::new();
        for (pinning, server_at) in [("same-core", &one_core), ("cross-core", &self.server_cores)] {
            let mut pairs = vec![(Client::Loadgen, self.reference())];
            if self.tools.sockperf {
                pairs.push((Client::Sockperf, ServerKind::Sockperf));
            }
            for (client, server) in pairs {
                let mut s = self.step(Section::Floor, server.clone(), server_at, 1, "");
                s.client = client;
                s.client_cores.clone_from(&one_core);
                s.scenario = client_scenario("floor", client, &server, pinning, 1);
                steps.push(s);
            }
        }
        steps
    }

    /// Each server holding [`IDLE_CONNS`] idle connections.
    pub(super) fn idle(&self) -> Vec<Step> {
        let mut servers = vec![self.echod(1), ServerKind::Tokio { threads: 1 }];
        if self.tools.c_peer {
            servers.push(ServerKind::CEpoll { threads: 1 });
        }
        servers
            .into_iter()
            .map(|server| {
                let mut s =
                    self.step(Section::IdleMemory, server, &self.server_cores, IDLE_CONNS, "idle");
                s.client = Client::Idle;
                s.host_bound = None;
                s
            })
            .collect()
    }

    /// [`SOAK_CONNS`] held a minute (`--section soak --duration 10m` for the real soak).
    pub(super) fn soak(&self) -> Vec<Step> {
        let mut s = self.step(
            Section::Soak,
            self.echod(SOAK_CONNS),
            &self.server_cores,
            SOAK_CONNS,
            "soak",
        );
        s.duration = Duration::from_secs(60);
        vec![s]
    }
}

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
