//! The connection budget: pure arithmetic over the machine's limits, no I/O, so it
//! is unit-tested exhaustively.
//!
//! A TCP connection is told apart by its four-tuple. For one *family* — a fixed
//! (source IP, destination IP, destination port) — only the source port varies, so a
//! family holds at most one connection per ephemeral port (32768–60999: 28,232).
//! Families multiply: k source addresses × d destinations give k × d × the range,
//! provided the source port is chosen at connect time (IP_BIND_ADDRESS_NO_PORT);
//! a plain `bind()` reserves a port per socket whatever the destination.
//! Independently, one process holds at most RLIMIT_NOFILE descriptors, so past that
//! the run is split over processes.
//!
//! A UDP flow (a connected UDP socket) holds its port too, but the kernel picks a
//! UDP socket's port for its source address alone, before and whatever it connects
//! to: for UDP a family is a source address, and destinations add no ports.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::result::Proto;

/// Descriptors a loadgen process keeps for itself (stdio, polls, wakers, files).
pub const RESERVED_FDS: u64 = 64;
/// Share of a family's ports kept free: sockets in TIME_WAIT from earlier runs and
/// other programs use the same range.
pub const PORT_HEADROOM_PERCENT: u64 = 5;
/// Most source addresses loadgen spreads over by itself.
pub const MAX_AUTO_SOURCES: u64 = 254;
/// How full loadgen lets a family get when it picks loopback sources itself:
/// connect() searches the range for a free port, and that search slows as the
/// family fills (measured here: 15,000 connections reached 20k/s in one family,
/// 37k/s spread over four).
pub const FAST_FILL_PERCENT: u64 = 25;

/// The machine's limits that bound a connection count.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Limits {
    /// net.ipv4.ip_local_port_range, inclusive.
    pub port_range: (u16, u16),
    /// RLIMIT_NOFILE soft and hard of this process (before loadgen raises soft).
    pub nofile_soft: u64,
    pub nofile_hard: u64,
    /// fs.nr_open: the ceiling for any hard limit.
    pub nr_open: Option<u64>,
    /// fs.file-max: descriptors for the whole machine.
    pub file_max: Option<u64>,
    /// net.core.somaxconn: the ceiling of a listener's accept queue.
    pub somaxconn: Option<u64>,
    /// net.ipv4.tcp_max_syn_backlog: half-open connections a listener keeps.
    pub syn_backlog: Option<u64>,
    /// net.ipv4.tcp_tw_reuse (0 off, 1 on, 2 loopback only).
    pub tw_reuse: Option<u64>,
}

impl Limits {
    /// Ports in one four-tuple family.
    pub fn ports_per_family(&self) -> u64 {
        u64::from(self.port_range.1) - u64::from(self.port_range.0) + 1
    }

    /// Ports of one family loadgen plans to use (the headroom kept free).
    pub fn usable_ports_per_family(&self) -> u64 {
        let ports = self.ports_per_family();
        ports - ports * PORT_HEADROOM_PERCENT / 100
    }

    /// Connections one process can hold once its soft limit is raised to the hard one.
    pub fn conns_per_process(&self) -> u64 {
        self.nofile_hard.saturating_sub(RESERVED_FDS)
    }
}

/// How many processes the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Processes {
    /// As many as the descriptor limit requires.
    Auto,
    /// Exactly this many.
    Fixed(u64),
}

/// What the user asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub conns: u64,
    /// The destinations (`--target`, repeatable).
    pub targets: Vec<SocketAddr>,
    /// Source addresses chosen by hand (`--src`); None lets loadgen decide.
    pub sources: Option<Vec<IpAddr>>,
    pub processes: Processes,
    /// True when the server runs on this machine (loopback targets): each connection
    /// then costs two descriptors of fs.file-max, one on each side.
    pub server_is_local: bool,
    /// TCP connections or UDP flows.
    pub proto: Proto,
}

impl Request {
    /// The destinations that multiply a source address's ports: every target for
    /// TCP (connect() picks the port per destination), one for UDP (a UDP socket's
    /// port is picked for its source address, whatever its destination).
    pub fn port_destinations(&self) -> u64 {
        match self.proto {
            Proto::Tcp => self.targets.len() as u64,
            Proto::Udp => 1,
        }
    }
}

/// What loadgen will do.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Budget {
    pub ports_per_family: u64,
    pub usable_ports_per_family: u64,
    /// Source addresses to bind (IP_BIND_ADDRESS_NO_PORT); empty = kernel's choice.
    pub sources: Vec<IpAddr>,
    /// Families = max(1, sources) × destinations.
    pub families: u64,
    /// Connections the families can hold (usable ports × families).
    pub port_capacity: u64,
    /// Largest number of connections one family carries under this budget.
    pub conns_per_family: u64,
    pub conns_per_process_max: u64,
    pub processes: u64,
    /// True when loadgen chose the sources itself (a family ran out, or would be
    /// more than [`FAST_FILL_PERCENT`] full).
    pub auto_fanout: bool,
    /// True when one family could hold the run and the fan-out is for connect speed.
    pub fanout_for_speed: bool,
}

/// Why a request cannot be carried; each names the limit and the fix.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BudgetError {
    #[error("--conns must be at least 1")]
    NoConnections,
    #[error("no --target given")]
    NoTargets,
    #[error(
        "{conns} connections need {needed} four-tuple families of {usable} usable ports, but --src \
         gives {sources} source address(es) × {dests} destination(s) = {have}: add source addresses \
         (e.g. --src 127.0.0.1-127.0.0.{needed_sources}) or leave --src out for loopback targets"
    )]
    TooFewSources {
        conns: u64,
        needed: u64,
        usable: u64,
        sources: u64,
        dests: u64,
        have: u64,
        needed_sources: u64,
    },
    #[error(
        "{conns} connections exceed one family's {usable} usable ports and the target is not on \
         loopback, so loadgen cannot add source addresses by itself: pass --src addresses this \
         machine owns (or, for TCP, more --target addresses)"
    )]
    CannotFanOut { conns: u64, usable: u64 },
    #[error(
        "{conns} connections need {needed} source addresses, more than the {max} loadgen spreads \
         over by itself: pass --src with a larger range, or more --target addresses"
    )]
    TooManySources { conns: u64, needed: u64, max: u64 },
    #[error(
        "--processes {processes} gives each process {per_process} connections, more than its \
         {fit} descriptors (RLIMIT_NOFILE hard {hard} less {RESERVED_FDS} kept): use --processes \
         {needed} or --processes auto, or raise the hard limit (limits.conf, systemd LimitNOFILE)"
    )]
    TooFewProcesses { processes: u64, per_process: u64, fit: u64, hard: u64, needed: u64 },
    #[error(
        "RLIMIT_NOFILE hard limit {hard} leaves no descriptors for connections: raise it \
         (ulimit -Hn, limits.conf, systemd LimitNOFILE)"
    )]
    NoDescriptors { hard: u64 },
    #[error(
        "{conns} connections need {need} descriptors on this machine (both ends are local), more \
         than fs.file-max {file_max}: raise it with sysctl -w fs.file-max=N"
    )]
    FileMax { conns: u64, need: u64, file_max: u64 },
}

/// Works out sources and processes for a request, or says why it cannot be done.
pub fn work_out(req: &Request, limits: &Limits) -> Result<Budget, BudgetError> {
    if req.conns == 0 {
        return Err(BudgetError::NoConnections);
    }
    if req.targets.is_empty() {
        return Err(BudgetError::NoTargets);
    }
    let dests = req.port_destinations();
    let usable = limits.usable_ports_per_family().max(1);
    let families_needed = req.conns.div_ceil(usable);
    let (sources, auto_fanout) = sources(req, limits)?;
    let families = sources.len().max(1) as u64 * dests;
    let (fit, processes) = processes(req, limits)?;
    check_file_max(req, limits)?;
    Ok(Budget {
        ports_per_family: limits.ports_per_family(),
        usable_ports_per_family: usable,
        sources,
        families,
        port_capacity: usable * families,
        conns_per_family: req.conns.div_ceil(families),
        conns_per_process_max: fit,
        processes,
        auto_fanout,
        fanout_for_speed: auto_fanout && families_needed.div_ceil(dests) <= 1,
    })
}

/// The source addresses of a request (those given, none, or loopback addresses
/// loadgen binds by itself) and whether loadgen chose them; or why there are not
/// enough.
fn sources(req: &Request, limits: &Limits) -> Result<(Vec<IpAddr>, bool), BudgetError> {
    let dests = req.port_destinations();
    let usable = limits.usable_ports_per_family().max(1);
    let families_needed = req.conns.div_ceil(usable);
    let sources_needed = families_needed.div_ceil(dests);
    let fast = (limits.ports_per_family() * FAST_FILL_PERCENT / 100).max(1);
    let sources_for_speed = req.conns.div_ceil(fast).div_ceil(dests);
    let all_loopback = req.targets.iter().all(|t| t.ip().is_loopback());
    Ok(match &req.sources {
        Some(given) => {
            let have = given.len().max(1) as u64 * dests;
            if have < families_needed {
                return Err(BudgetError::TooFewSources {
                    conns: req.conns,
                    needed: families_needed,
                    usable,
                    sources: given.len() as u64,
                    dests,
                    have,
                    needed_sources: sources_needed,
                });
            }
            (given.clone(), false)
        }
        None if sources_needed <= 1 && !all_loopback => (Vec::new(), false),
        None if sources_needed.max(sources_for_speed) <= 1 => (Vec::new(), false),
        None => {
            if !all_loopback {
                return Err(BudgetError::CannotFanOut { conns: req.conns, usable });
            }
            let sources_needed =
                sources_needed.max(sources_for_speed).min(MAX_AUTO_SOURCES.max(sources_needed));
            if sources_needed > MAX_AUTO_SOURCES {
                return Err(BudgetError::TooManySources {
                    conns: req.conns,
                    needed: sources_needed,
                    max: MAX_AUTO_SOURCES,
                });
            }
            (loopback_sources(sources_needed), true)
        }
    })
}

/// The connections one process holds and how many processes the request needs (or
/// asks for); or why it cannot be done.
fn processes(req: &Request, limits: &Limits) -> Result<(u64, u64), BudgetError> {
    let fit = limits.conns_per_process();
    if fit == 0 {
        return Err(BudgetError::NoDescriptors { hard: limits.nofile_hard });
    }
    let needed_processes = req.conns.div_ceil(fit);
    let processes = match req.processes {
        Processes::Auto => needed_processes,
        Processes::Fixed(p) => {
            let per_process = req.conns.div_ceil(p.max(1));
            if per_process > fit {
                return Err(BudgetError::TooFewProcesses {
                    processes: p,
                    per_process,
                    fit,
                    hard: limits.nofile_hard,
                    needed: needed_processes,
                });
            }
            p.max(1)
        }
    };
    Ok((fit, processes))
}

/// Whether the machine's file table holds the run's sockets (both ends, when the
/// server is local and holds one per connection).
fn check_file_max(req: &Request, limits: &Limits) -> Result<(), BudgetError> {
    if let Some(file_max) = limits.file_max {
        // A UDP server holds no socket per flow.
        let per_conn = if req.server_is_local && req.proto == Proto::Tcp { 2 } else { 1 };
        let need = req.conns * per_conn;
        if need > file_max {
            return Err(BudgetError::FileMax { conns: req.conns, need, file_max });
        }
    }
    Ok(())
}

/// `n` loopback source addresses: 127.0.0.1, 127.0.0.2, ...
pub fn loopback_sources(n: u64) -> Vec<IpAddr> {
    (1..=n.min(MAX_AUTO_SOURCES)).map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i as u8))).collect()
}

/// Which source and target connection `index` uses, so every family carries an equal
/// share: families are walked round-robin, destinations fastest.
pub fn family_of(index: u64, sources: usize, targets: usize) -> (usize, usize) {
    let families = sources.max(1) as u64 * targets.max(1) as u64;
    let family = index % families;
    ((family / targets.max(1) as u64) as usize, (family % targets.max(1) as u64) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            port_range: (32768, 60999),
            nofile_soft: 1024,
            nofile_hard: 20000,
            nr_open: Some(1 << 20),
            file_max: Some(1 << 40),
            somaxconn: Some(4096),
            syn_backlog: Some(4096),
            tw_reuse: Some(2),
        }
    }

    fn req(conns: u64) -> Request {
        Request {
            conns,
            targets: vec!["127.0.0.1:12000".parse().unwrap()],
            sources: None,
            processes: Processes::Auto,
            server_is_local: true,
            proto: Proto::Tcp,
        }
    }

    /// The default range gives 28,232 ports per family; 5% is kept free.
    #[test]
    fn ports_per_family() {
        let l = limits();
        assert_eq!(l.ports_per_family(), 28_232);
        assert_eq!(l.usable_ports_per_family(), 28_232 - 1_411);
        assert_eq!(l.conns_per_process(), 19_936);
    }

    /// A small run needs one family and one process, and binds no source.
    #[test]
    fn small_run_is_plain() {
        let p = work_out(&req(1000), &limits()).unwrap();
        assert_eq!((p.families, p.processes, p.auto_fanout), (1, 1, false));
        assert!(p.sources.is_empty());
    }

    /// 50,000 connections to one loopback destination: eight sources (no family more
    /// than a quarter full: 7,058 ports), three processes.
    #[test]
    fn fifty_thousand_fans_out_and_splits() {
        let p = work_out(&req(50_000), &limits()).unwrap();
        assert!(p.auto_fanout && !p.fanout_for_speed);
        assert_eq!(p.sources, loopback_sources(8));
        assert_eq!(p.families, 8);
        assert_eq!(p.port_capacity, 8 * 26_821);
        assert_eq!(p.conns_per_family, 6_250);
        assert_eq!(p.processes, 3);
    }

    /// 10,000 connections fit one family, but loadgen spreads them for connect speed;
    /// a remote target past a quarter of the range is left alone.
    #[test]
    fn fan_out_for_speed_on_loopback_only() {
        let p = work_out(&req(10_000), &limits()).unwrap();
        assert!(p.auto_fanout && p.fanout_for_speed);
        assert_eq!(p.sources.len(), 2);
        let mut r = req(10_000);
        r.targets = vec!["10.1.1.1:12000".parse().unwrap()];
        let p = work_out(&r, &limits()).unwrap();
        assert!(p.sources.is_empty() && !p.auto_fanout);
    }

    /// Destinations multiply families as sources do.
    #[test]
    fn destinations_count_as_families() {
        let mut r = req(50_000);
        r.targets.push("127.0.0.2:12000".parse().unwrap());
        let p = work_out(&r, &limits()).unwrap();
        assert_eq!((p.families, p.sources.len(), p.auto_fanout), (8, 4, true));
        r.conns = 20_000;
        let p = work_out(&r, &limits()).unwrap();
        assert_eq!((p.families, p.sources.len()), (4, 2), "3 families needed, 2 sources × 2");
    }

    /// Hand-picked sources that cannot hold the run are refused with the fix.
    #[test]
    fn too_few_sources_refused() {
        let mut r = req(60_000);
        r.sources = Some(vec!["127.0.0.5".parse().unwrap()]);
        let e = work_out(&r, &limits()).unwrap_err();
        assert!(matches!(e, BudgetError::TooFewSources { needed: 3, .. }), "{e:?}");
        assert!(e.to_string().contains("--src 127.0.0.1-127.0.0.3"), "{e}");
    }

    /// A fixed process count that overflows the descriptor limit is refused.
    #[test]
    fn too_few_processes_refused() {
        let mut r = req(50_000);
        r.processes = Processes::Fixed(2);
        let e = work_out(&r, &limits()).unwrap_err();
        assert!(matches!(e, BudgetError::TooFewProcesses { needed: 3, per_process: 25_000, .. }));
        r.processes = Processes::Fixed(4);
        assert_eq!(work_out(&r, &limits()).unwrap().processes, 4);
    }

    /// A non-loopback target past one family cannot be fanned out automatically.
    #[test]
    fn remote_target_cannot_fan_out() {
        let mut r = req(30_000);
        r.targets = vec!["10.1.1.1:12000".parse().unwrap()];
        assert!(matches!(work_out(&r, &limits()), Err(BudgetError::CannotFanOut { .. })));
    }

    /// fs.file-max counts both ends of a loopback connection.
    #[test]
    fn file_max_counts_both_ends() {
        let mut l = limits();
        l.file_max = Some(150_000);
        assert!(work_out(&req(70_000), &l).is_ok());
        assert!(matches!(
            work_out(&req(80_000), &l),
            Err(BudgetError::FileMax { need: 160_000, .. })
        ));
    }

    /// Zero connections, no targets, and a hard limit below the reserve are refused.
    #[test]
    fn degenerate_requests_refused() {
        assert_eq!(work_out(&req(0), &limits()), Err(BudgetError::NoConnections));
        let mut r = req(10);
        r.targets.clear();
        assert_eq!(work_out(&r, &limits()), Err(BudgetError::NoTargets));
        let mut l = limits();
        l.nofile_hard = 10;
        assert!(matches!(work_out(&req(10), &l), Err(BudgetError::NoDescriptors { hard: 10 })));
    }

    /// UDP: destinations add no ports (a family is a source address), and the
    /// server holds no descriptor per flow.
    #[test]
    fn udp_families_are_source_addresses() {
        let mut r = req(50_000);
        r.proto = Proto::Udp;
        r.targets.push("127.0.0.2:12000".parse().unwrap());
        let p = work_out(&r, &limits()).unwrap();
        assert_eq!((p.families, p.sources.len(), p.processes), (8, 8, 3), "not 4 × 2");
        r.conns = 1000;
        let p = work_out(&r, &limits()).unwrap();
        assert!(p.sources.is_empty() && p.families == 1);
        let mut l = limits();
        l.file_max = Some(100_000);
        r.conns = 80_000;
        assert!(work_out(&r, &l).is_ok(), "80,000 descriptors, one per flow");
    }

    /// Round-robin assignment gives every family an equal share.
    #[test]
    fn families_are_balanced() {
        let mut counts = [[0u32; 3]; 2];
        for i in 0..600 {
            let (s, t) = family_of(i, 2, 3);
            counts[s][t] += 1;
        }
        assert!(counts.iter().flatten().all(|&c| c == 100));
        assert_eq!(family_of(7, 0, 1), (0, 0));
    }
}
