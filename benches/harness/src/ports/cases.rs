//! The five cases of the four-tuple experiment, each with its prediction from the
//! budget arithmetic and its measurement: connect until the kernel refuses, count,
//! and name the errno that stopped it. Every loop is bounded by the prediction plus
//! a margin, so a wrong prediction ends the case instead of running on.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use serde::Serialize;
use socket2::{Domain, Socket, Type};

use super::holder::Holder;
use super::tuples::count_state;
use engine::errno::errno_name;

/// One row of the table.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CaseResult {
    /// `a` .. `e`.
    pub id: String,
    /// What the case does.
    pub name: String,
    /// Connections the arithmetic predicts.
    pub predicted: u64,
    /// Connections the kernel let through.
    pub measured: u64,
    /// The errno of the first refused connect (or `none`).
    pub stopped_by: String,
    /// The errno the explanation expects.
    pub expected_errno: String,
}

/// How a client socket is made before connect().
#[derive(Clone, Copy)]
enum Bind {
    /// No bind: connect() picks the source address and port.
    None,
    /// bind(src, 0) with IP_BIND_ADDRESS_NO_PORT: the port is picked at connect().
    NoPort(IpAddr),
    /// bind(src, 0) alone: the port is reserved at bind(), whatever the destination.
    Plain(IpAddr),
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

fn connect_one(bind: Bind, dst: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    match bind {
        Bind::None => {}
        Bind::NoPort(src) => {
            common::sys::set_bind_address_no_port(&socket, true)?;
            socket.bind(&SocketAddr::new(src, 0).into())?;
        }
        Bind::Plain(src) => socket.bind(&SocketAddr::new(src, 0).into())?,
    }
    socket.connect_timeout(&dst.into(), CONNECT_TIMEOUT)?;
    Ok(socket.into())
}

/// Connects with `plan(i)` until the first failure or `limit` connections.
fn connect_until_refused(
    limit: u64,
    mut plan: impl FnMut(u64) -> (Bind, SocketAddr),
) -> (Vec<TcpStream>, String) {
    let mut held = Vec::new();
    for i in 0..limit {
        let (bind, dst) = plan(i);
        match connect_one(bind, dst) {
            Ok(s) => held.push(s),
            Err(e) => return (held, errno_name(&e)),
        }
    }
    (held, "none (bound reached)".to_string())
}

/// Addresses 127.0.0.1 .. 127.0.0.k.
pub fn loopback(k: u64) -> Vec<IpAddr> {
    engine::limits::budget::loopback_sources(k)
}

/// Closes a case's connections with the *server* closing first, so TIME_WAIT lands
/// on the server's side (the listener's port) and the client's ephemeral ports are
/// free for the next case.
fn close_server_first(clients: Vec<TcpStream>, holder: Holder) {
    let accepted = holder.finish();
    drop(accepted);
    std::thread::sleep(Duration::from_millis(50));
    drop(clients);
}

/// The experiment's settings.
pub struct Setup {
    /// Ports in the namespace's ip_local_port_range.
    pub ports: u64,
    /// Source addresses for (b), destinations for (c) and (d).
    pub k: u64,
    /// The first listening port; each case uses its own (its own families).
    pub base_port: u16,
}

/// (a) one source, one destination: the family holds `ports` connections.
pub fn case_a(s: &Setup) -> io::Result<CaseResult> {
    let holder = Holder::start(s.base_port)?;
    let dst = SocketAddr::from((Ipv4Addr::LOCALHOST, s.base_port));
    let (clients, stop) = connect_until_refused(s.ports + margin(s.ports), |_| (Bind::None, dst));
    let measured = clients.len() as u64;
    close_server_first(clients, holder);
    Ok(row(
        "a",
        "1 source, 1 destination (connect picks the port)",
        s.ports,
        measured,
        stop,
        "EADDRNOTAVAIL",
    ))
}

/// (b) k sources bound with IP_BIND_ADDRESS_NO_PORT: k families, k × the range.
/// Returns the server's accepted sockets too, for the four-tuple sample.
pub fn case_b(s: &Setup, sample: impl FnOnce(&[TcpStream])) -> io::Result<CaseResult> {
    let port = s.base_port + 1;
    let holder = Holder::start(port)?;
    let dst = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let sources = loopback(s.k);
    let mut clients = Vec::new();
    let mut stop = String::new();
    for src in &sources {
        let (mut held, why) =
            connect_until_refused(s.ports + margin(s.ports), |_| (Bind::NoPort(*src), dst));
        clients.append(&mut held);
        stop = why;
    }
    let measured = clients.len() as u64;
    let accepted = holder.finish();
    sample(&accepted);
    drop(accepted);
    std::thread::sleep(Duration::from_millis(50));
    drop(clients);
    let name = format!("{} sources with IP_BIND_ADDRESS_NO_PORT, 1 destination", s.k);
    Ok(row("b", &name, s.k * s.ports, measured, stop, "EADDRNOTAVAIL"))
}

/// (c) bind(127.0.0.1, 0) without IP_BIND_ADDRESS_NO_PORT, k destinations: bind
/// reserves a port per socket whatever the destination, so the range caps the total.
pub fn case_c(s: &Setup) -> io::Result<CaseResult> {
    let port = s.base_port + 2;
    let holder = Holder::start(port)?;
    let dsts: Vec<SocketAddr> =
        loopback(s.k).into_iter().map(|ip| SocketAddr::new(ip, port)).collect();
    let src = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let limit = s.k * s.ports + margin(s.ports);
    let (clients, stop) =
        connect_until_refused(limit, |i| (Bind::Plain(src), dsts[(i % s.k) as usize]));
    let measured = clients.len() as u64;
    close_server_first(clients, holder);
    let name = format!("bind() without IP_BIND_ADDRESS_NO_PORT, {} destinations", s.k);
    Ok(row("c", &name, s.ports, measured, stop, "EADDRINUSE"))
}

/// (d) k destination addresses (the server listens on 0.0.0.0), no bind: k families.
pub fn case_d(s: &Setup) -> io::Result<CaseResult> {
    let port = s.base_port + 3;
    let holder = Holder::start(port)?;
    let dsts: Vec<SocketAddr> =
        loopback(s.k).into_iter().map(|ip| SocketAddr::new(ip, port)).collect();
    let mut clients = Vec::new();
    let mut stop = String::new();
    for dst in &dsts {
        let (mut held, why) =
            connect_until_refused(s.ports + margin(s.ports), |_| (Bind::None, *dst));
        clients.append(&mut held);
        stop = why;
    }
    let measured = clients.len() as u64;
    close_server_first(clients, holder);
    let name = format!("1 source, {} destination addresses (server on 0.0.0.0)", s.k);
    Ok(row("d", &name, s.k * s.ports, measured, stop, "EADDRNOTAVAIL"))
}

/// (e) TIME_WAIT: half the family's ports are left in TIME_WAIT by a client that
/// closed first; then the family is filled again. With tcp_tw_reuse 0 those ports
/// stay taken; with reuse on (2: loopback) connect() takes them back once the
/// TIME_WAIT sockets are older than a second. Returns one row per setting.
pub fn case_e(s: &Setup) -> io::Result<Vec<CaseResult>> {
    let mut rows = Vec::new();
    for (i, reuse) in [0u8, 2].into_iter().enumerate() {
        std::fs::write("/proc/sys/net/ipv4/tcp_tw_reuse", reuse.to_string())?;
        let port = s.base_port + 4 + i as u16;
        let holder = Holder::start(port)?;
        let dst = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let half = s.ports / 2;
        let (first, _) = connect_until_refused(half, |_| (Bind::None, dst));
        // The client closes first: its side goes FIN_WAIT2, then TIME_WAIT once the
        // server closes too.
        drop(first);
        std::thread::sleep(Duration::from_millis(50));
        drop(holder.finish());
        // TIME_WAIT reuse needs the old socket's last timestamp to be over a second old.
        std::thread::sleep(Duration::from_millis(1_100));
        let waiting = count_state(common::procfs::net::TIME_WAIT, port) as u64;
        let holder = Holder::start(port)?;
        let (again, stop) = connect_until_refused(s.ports + margin(s.ports), |_| (Bind::None, dst));
        let measured = again.len() as u64;
        close_server_first(again, holder);
        let (predicted, expected) = if reuse == 0 {
            (s.ports - waiting, "EADDRNOTAVAIL")
        } else {
            (s.ports, "EADDRNOTAVAIL")
        };
        let name = format!("{waiting} ports in TIME_WAIT, then refill; tcp_tw_reuse={reuse}");
        rows.push(row("e", &name, predicted, measured, stop, expected));
    }
    Ok(rows)
}

fn margin(ports: u64) -> u64 {
    ports / 10 + 10
}

fn row(
    id: &str,
    name: &str,
    predicted: u64,
    measured: u64,
    stop: String,
    expected: &str,
) -> CaseResult {
    CaseResult {
        id: id.to_string(),
        name: name.to_string(),
        predicted,
        measured,
        stopped_by: stop,
        expected_errno: expected.to_string(),
    }
}
