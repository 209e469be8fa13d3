//! `loadgen ports`: the four-tuple experiment. It measures, against the prediction,
//! how many connections the kernel lets through when one four-tuple family runs out
//! of ephemeral ports, and how source addresses, destination addresses, bind() with
//! and without IP_BIND_ADDRESS_NO_PORT, and TIME_WAIT change that; and it shows from
//! the server's side that every accepted socket shares the listening port.
//!
//! It runs in a private network namespace (`unshare --net` as root; without root,
//! `unshare --user --map-root-user --net`: a user namespace makes the caller root of
//! its own network namespace) whose ip_local_port_range is narrowed, so a run takes
//! seconds and never touches the host's settings or connections. The inner process
//! refuses to run in the host's namespace.

mod cases;
mod holder;
pub mod time;
pub mod tuples;
pub mod udp;

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use serde::Serialize;

pub use cases::CaseResult;
pub use tuples::{TupleRow, TupleSample};

/// Flags of `loadgen ports`.
#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "Examples:\n  loadgen ports\n  loadgen ports --range 40000-40499 --k 4 --json ports.json"
)]
pub struct PortsArgs {
    /// The ephemeral port range set inside the private namespace (LO-HI).
    #[arg(long, default_value = "40000-40999", value_parser = parse_range)]
    pub range: (u16, u16),
    /// Source addresses in case (b), destination addresses in (c) and (d).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(2..=50))]
    pub k: u64,
    /// First listening port; cases use consecutive ports.
    #[arg(long, default_value_t = 12100)]
    pub port: u16,
    /// Rows in the server-side four-tuple sample.
    #[arg(long, default_value_t = 6)]
    pub sample: usize,
    /// Skip the cases in time (connect–close for about 75 s: the sustained rate
    /// against ports ÷ TIME_WAIT).
    #[arg(long)]
    pub no_time: bool,
    /// Internal: the length of the TIME_WAIT case in time (60s: one TIME_WAIT).
    #[arg(long, hide = true, default_value = "60s", value_parser = common::units::parse_duration)]
    pub time_long: std::time::Duration,
    /// Ports of the cases in time (the first of --range's; fewer: shorter bursts).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(10..=5000))]
    pub time_ports: u64,
    /// Write the table and the sample as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Internal: run the cases (only inside the private namespace).
    #[arg(long, hide = true)]
    pub inner: bool,
    /// Internal: the parent's network namespace, which the inner run must not be in.
    #[arg(long, hide = true)]
    pub host_netns: Option<String>,
}

fn parse_range(text: &str) -> Result<(u16, u16), String> {
    let bad = || format!("'{text}' is not a port range: use LO-HI, e.g. 40000-40999");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let (lo, hi): (u16, u16) =
        (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
    if lo < 1024 || hi < lo || hi - lo < 9 {
        return Err(format!("'{text}' must be at least 10 ports at or above 1024, low end first"));
    }
    Ok((lo, hi))
}

/// The experiment's output.
#[derive(Debug, Serialize)]
pub struct PortsReport {
    /// ip_local_port_range inside the namespace.
    pub range: (u16, u16),
    pub ports: u64,
    pub k: u64,
    pub cases: Vec<CaseResult>,
    /// The server's side, from case (b).
    pub sample: Option<TupleSample>,
    /// UDP, the server's side: one socket for every flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp_server: Option<udp::UdpServerSide>,
    /// UDP with SO_REUSEPORT: flows over a group of sockets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp_reuseport: Option<udp::ReuseportSpread>,
    /// The cases in time: the sustained connect–close rate against ports ÷ TIME_WAIT.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub time: Vec<time::TimeCase>,
    /// Ports of the cases in time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_ports: Option<u64>,
}

/// Runs the experiment; exit 0 when every case measured what was predicted, 1 when
/// one did not.
pub fn execute(args: PortsArgs) -> anyhow::Result<u8> {
    if !args.inner {
        return reexec_in_namespace(&args);
    }
    let report = run_inner(&args)?;
    common::cli::print(&render(&report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text).with_context(|| format!("--json {}", path.display()))?;
    }
    let all_match = report.cases.iter().all(|c| c.measured == c.predicted)
        && report.udp_server.as_ref().map_or(true, udp::UdpServerSide::as_predicted)
        && report.udp_reuseport.as_ref().map_or(true, |r| r.flows_split == 0)
        && report.time.iter().all(|t| t.as_predicted);
    Ok(if all_match { common::cli::EXIT_OK } else { common::cli::EXIT_FAILED })
}

fn reexec_in_namespace(args: &PortsArgs) -> anyhow::Result<u8> {
    let ns = crate::netns::Private::probe(
        "loadgen ports",
        "the experiment narrows ip_local_port_range inside a private network namespace",
    )?;
    let mut inner: Vec<std::ffi::OsString> = vec!["ports".into(), "--inner".into()];
    inner.push(format!("--range={}-{}", args.range.0, args.range.1).into());
    inner.push(format!("--k={}", args.k).into());
    inner.push(format!("--port={}", args.port).into());
    inner.push(format!("--sample={}", args.sample).into());
    inner.push(format!("--time-ports={}", args.time_ports).into());
    inner.push(format!("--time-long={}ms", args.time_long.as_millis()).into());
    if args.no_time {
        inner.push("--no-time".into());
    }
    if let Some(p) = &args.json {
        inner.push("--json".into());
        inner.push(std::path::absolute(p).unwrap_or_else(|_| p.clone()).into());
    }
    // The cases take seconds; the bound only keeps a stuck run from waiting forever.
    ns.run_inside(&inner, std::time::Duration::from_secs(600))
}

fn run_inner(args: &PortsArgs) -> anyhow::Result<PortsReport> {
    if !crate::netns::in_private_namespace(args.host_netns.as_deref()) {
        bail!("--inner runs only inside a private network namespace (use `loadgen ports`)");
    }
    crate::netns::loopback_up()?;
    let (lo, hi) = args.range;
    std::fs::write("/proc/sys/net/ipv4/ip_local_port_range", format!("{lo} {hi}"))
        .context("cannot set ip_local_port_range in the namespace")?;
    let ports = u64::from(hi - lo) + 1;
    let limit = common::sys::raise_nofile_limit().context("cannot raise RLIMIT_NOFILE")?;
    let needed = 2 * args.k * ports + 64;
    if needed > limit.soft {
        bail!(
            "--range {lo}-{hi} with --k {} needs {needed} descriptors, more than RLIMIT_NOFILE \
             {}: narrow --range or lower --k",
            args.k,
            limit.soft
        );
    }
    let setup = cases::Setup { ports, k: args.k, base_port: args.port };
    let mut sample = None;
    let mut rows = vec![cases::case_a(&setup).context("case (a)")?];
    let mut tcp_on_port = 0;
    rows.push(
        cases::case_b(&setup, |acc| {
            sample = Some(tuples::sample(acc, args.sample));
            tcp_on_port = udp::sockets_on_local_port("/proc/net/tcp", setup.base_port + 1);
        })
        .context("case (b)")?,
    );
    rows.push(cases::case_c(&setup).context("case (c)")?);
    rows.push(cases::case_d(&setup).context("case (d)")?);
    rows.extend(cases::case_e(&setup).context("case (e)")?);
    rows.push(udp::case_f(&setup));
    rows.push(udp::case_g(&setup));
    rows.push(udp::case_h(&setup).context("case (h)")?);
    let flows = (args.k * ports) as usize;
    let udp_server = udp::server_side(&setup, flows, tcp_on_port).context("UDP server side")?;
    // Flows from the k sources, within what their ports allow.
    let spread_flows = ((args.k * ports * 9 / 10) as usize).min(1_000);
    let udp_reuseport =
        udp::reuseport_spread(&setup, 2, spread_flows, 5).context("UDP with SO_REUSEPORT")?;
    let time = if args.no_time {
        Vec::new()
    } else {
        let n = args.time_ports.min(ports);
        std::fs::write(
            "/proc/sys/net/ipv4/ip_local_port_range",
            format!("{lo} {}", lo as u64 + n - 1),
        )
        .context("cannot narrow ip_local_port_range for the cases in time")?;
        let first = args.port + 40;
        time::cases(n, first, args.time_long).context("the cases in time")?
    };
    Ok(PortsReport {
        range: args.range,
        ports,
        k: args.k,
        cases: rows,
        sample,
        udp_server: Some(udp_server),
        udp_reuseport: Some(udp_reuseport),
        time_ports: (!time.is_empty()).then(|| args.time_ports.min(ports)),
        time,
    })
}

/// The table and the sample, as printed.
pub fn render(r: &PortsReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "four-tuple experiment: private network namespace, ip_local_port_range {} {} = {} ports per family",
        r.range.0, r.range.1, r.ports
    );
    let _ = writeln!(
        s,
        "{:<3} {:<62} {:>9} {:>9}  {:<14} verdict",
        "", "case", "predicted", "measured", "stopped by"
    );
    for c in &r.cases {
        let verdict = if c.measured == c.predicted { "ok" } else { "DIFFERS" };
        let _ = writeln!(
            s,
            "({}) {:<62} {:>9} {:>9}  {:<14} {verdict}",
            c.id, c.name, c.predicted, c.measured, c.stopped_by
        );
    }
    udp_lines(&mut s, r);
    if let (false, Some(n)) = (r.time.is_empty(), r.time_ports) {
        s.push_str(&time::render(&r.time, n));
    }
    if let Some(t) = &r.sample {
        sample_lines(&mut s, t);
    }
    s
}

/// The UDP lines of `r`: the server side, and the SO_REUSEPORT spread.
fn udp_lines(s: &mut String, r: &PortsReport) {
    use std::fmt::Write as _;
    if let Some(u) = &r.udp_server {
        let verdict = if u.as_predicted() { "ok" } else { "DIFFERS" };
        let _ = writeln!(
            s,
            "\nserver side, UDP: {} flows from {} sources sent one datagram each to one socket: \
             {} received, {} distinct peers named by recvfrom; sockets on the port: {} in \
             /proc/net/udp, against {} in /proc/net/tcp for case (b)'s {} TCP connections  {verdict}",
            u.flows, u.sources, u.received, u.distinct_peers, u.udp_sockets_on_port,
            u.tcp_sockets_on_port, r.k * r.ports
        );
    }
    if let Some(p) = &r.udp_reuseport {
        let list: Vec<String> = p.flows_per_socket.iter().map(ToString::to_string).collect();
        let worst = p
            .flows_per_socket
            .iter()
            .map(|&f| (f as f64 - p.expected).abs() / p.sigma.max(1e-9))
            .fold(0.0, f64::max);
        let verdict = if p.flows_split == 0 { "ok" } else { "DIFFERS" };
        let _ = writeln!(
            s,
            "UDP with SO_REUSEPORT: {} sockets on one port, {} flows × {} datagrams: flows per \
             socket {} (expected {:.0} ± {:.1}, worst {worst:.1}σ); flows split over sockets: {}  {verdict}",
            p.sockets,
            p.flows,
            p.per_flow,
            list.join(" / "),
            p.expected,
            p.sigma,
            p.flows_split
        );
    }
}

/// The server's own view of case (b): counts, then one line per accepted socket.
fn sample_lines(s: &mut String, t: &TupleSample) {
    use std::fmt::Write as _;
    let _ = writeln!(
        s,
        "\nserver side (case b): {} accepted sockets, {} distinct local port(s), {} distinct four-tuples, \
         {} peer addresses, {} peer ports",
        t.accepted, t.distinct_local_ports, t.distinct_tuples, t.distinct_peer_addrs, t.distinct_peer_ports
    );
    let _ = writeln!(
        s,
        "  {:<21} {:<21} {:<15} {:<15} st",
        "getsockname", "getpeername", "/proc local", "/proc remote"
    );
    for row in &t.rows {
        let _ = writeln!(
            s,
            "  {:<21} {:<21} {:<15} {:<15} {}",
            row.local, row.peer, row.proc_local, row.proc_remote, row.proc_state
        );
    }
}
