//! The preflight: reads this machine's limits and prints, before anything connects,
//! the connection budget — ports per four-tuple family × source addresses ×
//! destinations, descriptors per process, the machine-wide and accept-queue limits —
//! and, where the request exceeds one, the limit's name, the fix a user can apply and
//! what loadgen does about it by itself.

use std::fmt::Write as _;

use super::budget::{Budget, Limits, Request, RESERVED_FDS};
use crate::env::{port_range, sysctl_u64};
use crate::result::Proto;

/// Reads the limits of this machine and process (the soft RLIMIT_NOFILE as it is now,
/// before loadgen raises it).
pub fn read_limits() -> Limits {
    let nofile = common::sys::nofile_limit().ok();
    Limits {
        port_range: port_range().unwrap_or((32768, 60999)),
        nofile_soft: nofile.map_or(1024, |l| l.soft),
        nofile_hard: nofile.map_or(1024, |l| l.hard),
        nr_open: sysctl_u64("fs.nr_open"),
        file_max: sysctl_u64("fs.file-max"),
        somaxconn: sysctl_u64("net.core.somaxconn"),
        syn_backlog: sysctl_u64("net.ipv4.tcp_max_syn_backlog"),
        tw_reuse: sysctl_u64("net.ipv4.tcp_tw_reuse"),
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "unknown".to_string(), |v| v.to_string())
}

/// The preflight text (several lines, for stderr).
pub fn render(req: &Request, limits: &Limits, budget: &Budget) -> String {
    let mut s = String::new();
    ports(&mut s, req, limits, budget);
    descriptors(&mut s, req, limits, budget);
    machine(&mut s, req, limits);
    s
}

/// The request, the ports per family, the families and why loadgen fans out.
fn ports(s: &mut String, req: &Request, limits: &Limits, budget: &Budget) {
    let dests = req.port_destinations();
    let targets: Vec<String> = req.targets.iter().map(ToString::to_string).collect();
    let what = match req.proto {
        Proto::Tcp => "connections",
        Proto::Udp => "UDP flows (a connected UDP socket each, holding its port)",
    };
    let _ = writeln!(s, "preflight: {} {what} to {}", req.conns, targets.join(", "));
    let (lo, hi) = limits.port_range;
    let _ = writeln!(
        s,
        "  ephemeral ports per four-tuple family  {} (net.ipv4.ip_local_port_range {lo} {hi}); \
         {} planned, 5% kept for TIME_WAIT and others",
        budget.ports_per_family, budget.usable_ports_per_family
    );
    let src_text = if budget.sources.is_empty() {
        "1 source (kernel's choice)".to_string()
    } else {
        format!("{} source address(es) {}", budget.sources.len(), source_span(budget))
    };
    let dest_text = match req.proto {
        Proto::Tcp => format!("{dests} destination(s)"),
        Proto::Udp => "1 (UDP: a socket's port is picked for its source address, whatever \
                       its destination, so destinations add no ports)"
            .to_string(),
    };
    let _ = writeln!(
        s,
        "  families: {src_text} × {dest_text} = {} → capacity {} {}, {} per family",
        budget.families,
        budget.port_capacity,
        req.proto.units(),
        budget.conns_per_family
    );
    if budget.auto_fanout {
        fanout(s, req, budget);
    }
}

/// Why loadgen binds source addresses of its own, and what a user can do instead.
fn fanout(s: &mut String, req: &Request, budget: &Budget) {
    let why = if budget.fanout_for_speed {
        format!(
            "one family could hold {} connections, but connect() searches longer for a free \
                 port as a family fills, so loadgen keeps each under {}% of its ports",
            req.conns,
            super::budget::FAST_FILL_PERCENT
        )
    } else {
        format!(
            "limit: one family holds {} ports < {} connections",
            budget.usable_ports_per_family, req.conns
        )
    };
    let _ = writeln!(
        s,
        "    {why}. loadgen binds {} loopback source addresses with IP_BIND_ADDRESS_NO_PORT \
             (the port is picked at connect time, per destination). By hand: --src, or more \
             --target addresses if the server listens on 0.0.0.0.",
        budget.sources.len()
    );
}

/// The descriptors per process, the split into processes, and the local server's
/// same limit.
fn descriptors(s: &mut String, req: &Request, limits: &Limits, budget: &Budget) {
    let _ = writeln!(
        s,
        "  RLIMIT_NOFILE soft {} hard {} → soft raised to hard: {} connections per process \
         ({RESERVED_FDS} descriptors kept)",
        limits.nofile_soft, limits.nofile_hard, budget.conns_per_process_max
    );
    if budget.processes > 1 && req.conns <= budget.conns_per_process_max {
        let _ = writeln!(s, "    --processes {}: loadgen splits into {} processes as asked and merges their histograms.", budget.processes, budget.processes);
    } else if budget.processes > 1 {
        let _ = writeln!(
            s,
            "    limit: {} connections > {} per process. loadgen splits into {} processes and \
             merges their histograms. Fix: raise the hard limit (limits.conf nofile, systemd \
             LimitNOFILE; at most fs.nr_open {}).",
            req.conns,
            budget.conns_per_process_max,
            budget.processes,
            opt(limits.nr_open)
        );
    }
    let tcp = req.proto == Proto::Tcp;
    if tcp && req.server_is_local && req.conns > budget.conns_per_process_max {
        let _ = writeln!(
            s,
            "    the server on this machine has the same limit: one process of it holds at most \
             {} connections, so it needs {} processes too (echod --processes {} --workers {})",
            budget.conns_per_process_max, budget.processes, budget.processes, budget.processes
        );
    }
}

/// The machine-wide limits, and the notes on the accept queue, a remote server and
/// TIME_WAIT.
fn machine(s: &mut String, req: &Request, limits: &Limits) {
    let tcp = req.proto == Proto::Tcp;
    let _ = writeln!(
        s,
        "  fs.nr_open {}  fs.file-max {}  net.core.somaxconn {}  \
         net.ipv4.tcp_max_syn_backlog {}  net.ipv4.tcp_tw_reuse {}",
        opt(limits.nr_open),
        opt(limits.file_max),
        opt(limits.somaxconn),
        opt(limits.syn_backlog),
        opt(limits.tw_reuse)
    );
    if let Some(backlog) = limits.somaxconn.into_iter().chain(limits.syn_backlog).min() {
        if tcp && req.conns > backlog {
            let _ = writeln!(
                s,
                "    note: connects arrive in bursts; the server's accept queue is capped at {backlog} \
                 (min of somaxconn and tcp_max_syn_backlog), so loadgen connects in batches no \
                 larger. Fix for faster connects: sysctl -w net.core.somaxconn=65535 \
                 net.ipv4.tcp_max_syn_backlog=65535 and a larger server --backlog."
            );
        }
    }
    if !req.server_is_local {
        let _ = writeln!(
            s,
            "  remote server: loadgen sees this host only. Source addresses must be this host's \
             own (--src is checked; it cannot add addresses for a remote target by itself). The \
             server's descriptor limit, accept queue (somaxconn, --backlog) and port range are \
             the server's business: check them there. More connections than one host's ports or \
             cores allow: run agents on several hosts (--shard I/N, --start-at, loadgen merge)."
        );
    }
    if tcp && req.server_is_local && limits.tw_reuse == Some(0) {
        let _ = writeln!(
            s,
            "    note: tcp_tw_reuse is 0: ports of connections closed by loadgen stay in \
             TIME_WAIT for 60 s and are not reused; back-to-back runs can hit EADDRNOTAVAIL. \
             Fix: sysctl -w net.ipv4.tcp_tw_reuse=2 (loopback only)."
        );
    }
}

fn source_span(budget: &Budget) -> String {
    match budget.sources.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        [first, .., last] => format!("{first}-{last}"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::budget::{work_out, Processes};
    use super::*;

    /// The machine's limits are read; the port range matches the sysctl.
    #[test]
    fn reads_this_machine() {
        let l = read_limits();
        assert!(l.ports_per_family() > 0);
        assert!(l.nofile_hard >= l.nofile_soft);
    }

    /// The preflight names each limit it hits and what loadgen does about it.
    #[test]
    fn render_names_limits_and_actions() {
        let limits = Limits {
            port_range: (32768, 60999),
            nofile_soft: 1024,
            nofile_hard: 20000,
            nr_open: Some(1048576),
            file_max: Some(1 << 40),
            somaxconn: Some(4096),
            syn_backlog: Some(4096),
            tw_reuse: Some(0),
        };
        let req = Request {
            conns: 50_000,
            targets: vec!["127.0.0.1:12000".parse().unwrap()],
            sources: None,
            processes: Processes::Auto,
            server_is_local: true,
            proto: Proto::Tcp,
        };
        let p = work_out(&req, &limits).unwrap();
        let text = render(&req, &limits, &p);
        assert!(text.contains("ephemeral ports per four-tuple family  28232"), "{text}");
        assert!(text.contains("8 source address(es) 127.0.0.1-127.0.0.8"), "{text}");
        assert!(text.contains("limit: one family holds 26821 ports < 50000"), "{text}");
        assert!(text.contains("IP_BIND_ADDRESS_NO_PORT"), "{text}");
        assert!(text.contains("splits into 3 processes"), "{text}");
        assert!(text.contains("echod --processes 3"), "{text}");
        assert!(text.contains("tcp_tw_reuse is 0"), "{text}");
        assert!(text.contains("somaxconn=65535"), "{text}");
        let udp = Request { proto: Proto::Udp, ..req };
        let p = work_out(&udp, &limits).unwrap();
        let text = render(&udp, &limits, &p);
        assert!(text.starts_with("preflight: 50000 UDP flows"), "{text}");
        assert!(text.contains("destinations add no ports"), "{text}");
        assert!(text.contains("splits into 3 processes"), "{text}");
        assert!(!text.contains("echod --processes") && !text.contains("somaxconn=65535"), "{text}");
        assert!(!text.contains("remote server"), "{text}");
        let remote = Request {
            conns: 1_000,
            targets: vec!["198.18.0.1:7".parse().unwrap()],
            server_is_local: false,
            ..udp
        };
        let p = work_out(&remote, &limits).unwrap();
        let text = render(&remote, &limits, &p);
        assert!(text.contains("remote server: loadgen sees this host only"), "{text}");
        assert!(text.contains("--shard I/N"), "{text}");
    }
}
