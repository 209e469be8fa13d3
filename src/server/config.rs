//! The server's validated settings: what the command line (or a test) asks for, checked
//! once so the workers never meet a nonsensical value. `Default` is the CLI's defaults;
//! `local_test` is what in-process tests and loadgen's tests start.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::{Proto, ServerError};

/// How connections reach the workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// One SO_REUSEPORT listener per worker; the kernel spreads connections by
    /// four-tuple hash (the default, and the reason echod exists).
    #[default]
    Reuseport,
    /// One listener registered in every worker's poll: the classic shared accept
    /// queue, where every worker wakes for every new connection.
    Shared,
    /// One blocking thread per connection (the seed articles' Python server's model).
    Threads,
    /// The shape of `Reuseport`, each worker with its own io_uring instead of epoll:
    /// multishot accept and receive into provided buffers, sends submitted together.
    Uring,
}

impl Model {
    /// Every model.
    pub const ALL: [Model; 4] = [Model::Reuseport, Model::Shared, Model::Threads, Model::Uring];

    /// The name `--model` takes, the ready line and the JSON use.
    pub fn name(self) -> &'static str {
        match self {
            Model::Reuseport => "reuseport",
            Model::Shared => "shared",
            Model::Threads => "threads",
            Model::Uring => "uring",
        }
    }
}

/// `--model NAME` takes [`Model::name`].
impl clap::ValueEnum for Model {
    fn value_variants<'a>() -> &'a [Self] {
        &Model::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

/// Where a `--processes` child counts its `--max-conns` places: the descriptor of the
/// memory its parent shares with every child, and this child's slot in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedLimit {
    /// The inherited memfd (see [`common::sys::SharedCounters`]).
    pub fd: i32,
    /// This child's index among the parent's children.
    pub slot: usize,
    /// How many children share it.
    pub processes: usize,
}

/// Written as `FD:SLOT:PROCESSES` (`--max-conns-shared`).
impl std::fmt::Display for SharedLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.fd, self.slot, self.processes)
    }
}

impl std::str::FromStr for SharedLimit {
    type Err = String;

    fn from_str(text: &str) -> Result<SharedLimit, String> {
        let mut parts = text.split(':').map(str::parse::<usize>);
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Ok(fd)), Some(Ok(slot)), Some(Ok(processes)), None) => {
                let fd =
                    i32::try_from(fd).map_err(|_| format!("'{text}': descriptor too large"))?;
                // As --processes allows; the slot is one of them.
                if !(1..=256).contains(&processes) || slot >= processes {
                    return Err(format!("'{text}': PROCESSES must be 1 to 256 and SLOT below it"));
                }
                Ok(SharedLimit { fd, slot, processes })
            }
            _ => Err(format!("'{text}': expected FD:SLOT:PROCESSES")),
        }
    }
}

/// Everything a [`Server`](super::Server) needs to bind and run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Address to listen on (`--bind`); must be assigned to this machine. Loopback by
    /// default: nothing is reachable from another host unless asked.
    pub bind: IpAddr,
    /// Port to listen on (`--port`); 0 lets the kernel pick one, shared by all workers.
    pub port: u16,
    /// Number of worker threads (`--workers`), each with its own event loop.
    pub workers: usize,
    /// Listen backlog per listener (`--backlog`); the kernel caps it at somaxconn.
    pub backlog: u32,
    /// Size of each worker's read buffer (`--buffer`), and so the most bytes one
    /// connection can have pending toward a peer that does not read.
    pub buffer: usize,
    /// Connections above this many (whole server: every worker of every process) are
    /// accepted and closed at once (`--max-conns`), so the backlog does not fill with
    /// connections nobody serves.
    pub max_conns: Option<usize>,
    /// Set in `--processes` children only: `max_conns` is counted in memory shared
    /// with the other children, so it caps all of them together.
    pub max_conns_shared: Option<SharedLimit>,
    /// How connections reach workers (`--model`).
    pub model: Model,
    /// TCP, UDP or both on the one port (`--proto`).
    pub proto: Proto,
    /// `--model threads` only: at most this many connection threads in the whole
    /// server (`--max-threads`); past it connections are accepted and closed. `None`:
    /// what this machine allows (see `thread_budget`), worked out at bind.
    pub max_threads: Option<usize>,
    /// Pin worker `i` to the `i`-th allowed core (`--no-pin` turns it off).
    pub pin: bool,
    /// Join a port that another SO_REUSEPORT listener already holds
    /// (`--allow-shared-port`); off, echod refuses to split traffic by accident.
    pub allow_shared_port: bool,
    /// Print a stats line per interval (`--stats-interval`).
    pub stats_interval: Option<Duration>,
    /// Id of this server's first worker: 0, except in `--processes` children, whose
    /// workers continue the parent's numbering (and its core assignment).
    pub first_worker: usize,
    /// Close a TCP connection that neither read nor wrote a byte for this long
    /// (`--idle-timeout`), counted in `closed_idle`; `None`: never.
    pub idle_timeout: Option<Duration>,
    /// The most bytes one process holds toward peers that do not read, over every
    /// connection (`--max-held-bytes`); past it every worker stops reading until the
    /// total is under it again (counted in `held_pauses`).
    pub max_held_bytes: u64,
    /// `--udp-rate-limit`: answers per second per source; `Some(0)`: off; `None`: the
    /// default for the bind address ([`Config::udp_rate`]).
    pub udp_rate_limit: Option<u32>,
}

/// `--udp-rate-limit`'s default where echod answers beyond loopback: answers per
/// second per source (address and port).
pub const DEFAULT_UDP_RATE: u32 = 1000;

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 12000,
            workers: common::pin::allowed_cores().len(),
            backlog: 4096,
            buffer: 64 * 1024,
            max_conns: None,
            max_conns_shared: None,
            model: Model::Reuseport,
            proto: Proto::Tcp,
            max_threads: None,
            pin: true,
            allow_shared_port: false,
            stats_interval: None,
            first_worker: 0,
            idle_timeout: None,
            max_held_bytes: super::held::DEFAULT_MAX_HELD_BYTES,
            udp_rate_limit: None,
        }
    }
}

impl Config {
    /// 127.0.0.1, a port the kernel picks, no pinning, a 16 KiB buffer: what tests
    /// start in-process.
    pub fn local_test(workers: usize) -> Config {
        Config {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            workers,
            backlog: 1024,
            buffer: 16 * 1024,
            pin: false,
            ..Config::default()
        }
    }

    /// The per-source UDP rate limit in force: `--udp-rate-limit N` (0: none); by
    /// default none on loopback (only this machine's processes reach it, and a
    /// benchmark's flow there must not be held back), [`DEFAULT_UDP_RATE`] on any
    /// other address.
    pub fn udp_rate(&self) -> Option<u32> {
        match self.udp_rate_limit {
            Some(0) => None,
            Some(n) => Some(n),
            None if self.bind.is_loopback() => None,
            None => Some(DEFAULT_UDP_RATE),
        }
    }

    /// Whether the UDP sockets may receive datagrams sent to a broadcast or
    /// multicast address, so each datagram's destination must be read (IP_PKTINFO):
    /// on every address but loopback.
    pub fn udp_check_destination(&self) -> bool {
        !self.bind.is_loopback()
    }

    /// The address every listener binds.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    /// Checks what the types cannot; each message names the flag and the fix.
    pub fn validate(&self) -> Result<(), ServerError> {
        let bad = |msg: &str| Err(ServerError::Invalid(msg.to_string()));
        if self.workers == 0 {
            return bad("--workers 0: a server needs at least one worker, e.g. --workers 2");
        }
        if self.workers > 4096 {
            return bad("--workers: at most 4096 workers");
        }
        if self.buffer == 0 {
            return bad("--buffer 0: the read buffer must hold at least one byte, e.g. 64KiB");
        }
        if self.buffer > 1 << 30 {
            return bad("--buffer: at most 1GiB");
        }
        if self.backlog == 0 {
            return bad("--backlog 0: use at least 1, e.g. 4096");
        }
        if self.max_conns == Some(0) {
            return bad("--max-conns 0: the server could hold no connection; use at least 1, \
                        or leave the flag out for no cap");
        }
        if self.max_threads == Some(0) {
            return bad("--max-threads 0: no connection could be served; use at least 1, or \
                        leave the flag out for what this machine allows");
        }
        if self.max_threads.is_some() && self.model != Model::Threads {
            return bad("--max-threads: only --model threads starts a thread per connection; \
                        add --model threads, or drop --max-threads");
        }
        if self.proto.udp() && self.model != Model::Reuseport {
            return Err(ServerError::Invalid(format!(
                "--proto {}: UDP is served only by --model reuseport (one SO_REUSEPORT \
                 socket and loop per worker), not --model {}: drop --model, or use --proto tcp",
                self.proto.name(),
                self.model.name()
            )));
        }
        if self.proto == Proto::Udp && self.max_conns.is_some() {
            return bad("--max-conns: caps TCP connections, and --proto udp serves none: drop \
                        --max-conns, or use --proto both");
        }
        if self.stats_interval == Some(Duration::ZERO) {
            return bad("--stats-interval 0: use a positive interval, e.g. 1s");
        }
        if self.idle_timeout.is_some_and(|t| t < Duration::from_millis(10)) {
            return bad("--idle-timeout: use at least 10ms (a worker sweeps its connections \
                        every quarter of it), e.g. 60s, or leave the flag out to keep idle \
                        connections open");
        }
        let group = match self.bind {
            IpAddr::V4(a) => a.is_multicast() || a.is_broadcast(),
            IpAddr::V6(a) => a.is_multicast(),
        };
        if group {
            return Err(ServerError::Invalid(format!(
                "--bind {}: a broadcast or multicast address would answer datagrams sent to \
                 a whole network; use one of this machine's own addresses, e.g. 127.0.0.1",
                self.bind
            )));
        }
        if self.max_held_bytes == 0 {
            return bad("--max-held-bytes 0: echod could never write back a short write; use \
                        at least one --buffer, e.g. 256MiB");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zero workers, buffer, backlog or `--max-conns` are refused, naming the flag.
    #[test]
    fn validation_names_the_flag() {
        assert!(Config::local_test(2).validate().is_ok());
        let e = Config { workers: 0, ..Config::local_test(1) }.validate().expect_err("0");
        assert!(e.to_string().contains("--workers"));
        let e = Config { buffer: 0, ..Config::local_test(1) }.validate().expect_err("0");
        assert!(e.to_string().contains("--buffer"));
        let e = Config { backlog: 0, ..Config::local_test(1) }.validate().expect_err("0");
        assert!(e.to_string().contains("--backlog"));
        let e = Config { max_conns: Some(0), ..Config::local_test(1) }.validate().expect_err("0");
        assert!(e.to_string().contains("--max-conns"));
    }

    /// UDP with a model other than reuseport, or `--max-conns` with UDP alone, is
    /// refused, naming the flags.
    #[test]
    fn udp_needs_reuseport_and_no_max_conns() {
        let udp = Config { proto: Proto::Udp, ..Config::local_test(1) };
        assert!(udp.validate().is_ok());
        assert!(Config { proto: Proto::Both, max_conns: Some(5), ..udp.clone() }
            .validate()
            .is_ok());
        for model in [Model::Shared, Model::Threads] {
            for proto in [Proto::Udp, Proto::Both] {
                let e = Config { model, proto, ..udp.clone() }.validate().expect_err("refused");
                let line = e.to_string();
                assert!(line.starts_with(&format!("--proto {}: ", proto.name())), "{line}");
                assert!(line.contains(&format!("--model {}", model.name())), "{line}");
            }
        }
        let e = Config { max_conns: Some(5), ..udp }.validate().expect_err("refused");
        assert!(e.to_string().starts_with("--max-conns: "), "{e}");
    }

    /// The UDP rate limit: none on loopback by default, `DEFAULT_UDP_RATE` on any
    /// other address; `--udp-rate-limit` decides when given (0: none). Destinations
    /// are read everywhere but on loopback.
    #[test]
    fn udp_rate_by_bind_address() {
        let local = Config::local_test(1);
        assert_eq!((local.udp_rate(), local.udp_check_destination()), (None, false));
        let any = Config { bind: "0.0.0.0".parse().expect("ip"), ..local.clone() };
        assert_eq!((any.udp_rate(), any.udp_check_destination()), (Some(DEFAULT_UDP_RATE), true));
        assert_eq!(Config { udp_rate_limit: Some(0), ..any }.udp_rate(), None);
        assert_eq!(Config { udp_rate_limit: Some(50), ..local }.udp_rate(), Some(50));
    }

    /// A model has one name: `--model`'s, the ready line's and the JSON's.
    #[test]
    fn one_name_per_model() {
        use clap::ValueEnum as _;
        for model in Model::ALL {
            let json = serde_json::to_string(&model).expect("json");
            assert_eq!(json, format!("\"{}\"", model.name()));
            assert_eq!(Model::from_str(model.name(), false), Ok(model));
        }
    }

    /// `FD:SLOT:PROCESSES` reads back; anything else is refused.
    #[test]
    fn shared_limit_text() {
        let limit = SharedLimit { fd: 7, slot: 1, processes: 3 };
        assert_eq!(limit.to_string().parse::<SharedLimit>(), Ok(limit));
        assert!("7:1".parse::<SharedLimit>().is_err());
        assert!("7:1:3:4".parse::<SharedLimit>().is_err());
        assert!("99999999999:1:3".parse::<SharedLimit>().is_err());
        assert!("3:0:18446744073709551615".parse::<SharedLimit>().is_err());
        assert!("3:3:3".parse::<SharedLimit>().is_err());
        assert!("3:0:0".parse::<SharedLimit>().is_err());
    }
}
