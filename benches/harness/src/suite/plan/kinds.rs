//! What a step runs: which server ([`ServerKind`]), driven by which client
//! ([`Client`]), and which of the optional programs this machine has ([`Tools`]).

use echod::server::Model;

/// Which server a step runs against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// echod with a model (`reuseport`, `shared`, `threads`, `uring`), workers and
    /// pinning; `udp`: it serves UDP (`--proto udp`) instead of TCP.
    Echod { model: Model, workers: usize, pin: bool, processes: usize, udp: bool },
    /// The project's tokio echo server (benches/tokio-echo).
    Tokio { threads: usize },
    /// The reference C epoll server from ../shared/peers.
    CEpoll { threads: usize },
    /// `sockperf server` (answers only sockperf's own messages: the floor's peer).
    Sockperf,
    /// The reference C UDP server from ../shared/peers: batched recvmmsg/sendmmsg
    /// (`batch` 32), or a datagram per call (`batch` 1).
    CUdp { threads: usize, batch: usize },
    /// A user's own server (`--server NAME=COMMAND`).
    Custom(crate::suite::custom::CustomServer),
}

impl ServerKind {
    /// Whether it serves UDP (loadgen drives it with `--proto udp`).
    pub fn udp(&self) -> bool {
        matches!(self, ServerKind::Echod { udp: true, .. } | ServerKind::CUdp { .. })
    }

    /// Short name for tables: `echod`, `echod shared`, `tokio-echo`, `epoll_echo`.
    pub fn label(&self) -> String {
        match self {
            ServerKind::Echod { model, workers, pin, processes, udp } => {
                let mut s = format!("echod {} w={workers}", model.name());
                if *udp {
                    s.push_str(" udp");
                }
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
            ServerKind::CUdp { threads, batch } => format!("udp_echo t={threads} b={batch}"),
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
    /// The reference C UDP server (../shared/peers, built with gcc).
    pub c_udp: bool,
    /// The reference client `echoload` (../shared/peers, built with cargo).
    pub echoload: bool,
    /// `tpc-client` beside loadgen.
    pub tpc_client: bool,
    /// `sockperf` on PATH (Debian's package).
    pub sockperf: bool,
}
