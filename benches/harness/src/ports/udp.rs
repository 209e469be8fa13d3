//! The UDP half of the four-tuple experiment. TCP hands a segment to the socket of
//! its whole four-tuple (every accepted connection its own socket, all on the
//! listening port); UDP hands a datagram to the socket bound to its destination port,
//! whoever sent it. So:
//!
//! - (f) connected UDP sockets from one source to one destination run out at the
//!   port range, as TCP does;
//! - (g) but k destinations do not multiply them: a UDP socket takes its port at
//!   connect() (autobind) from the whole range, whatever the destination, the way
//!   TCP's plain bind() does (case c), not the way TCP's connect() does (case d);
//! - (h) one unconnected socket reaches any number of peers from its one port;
//! - the server side: one socket on the port receives from every flow (recvfrom
//!   names each peer), where TCP needs one socket per connection;
//! - SO_REUSEPORT: datagrams of one flow always reach the same socket of the group
//!   (the kernel hashes the four-tuple), and flows spread over the sockets as a
//!   binomial draw predicts.
//!
//! Every loop is bounded by the prediction plus a margin, and every wait by a
//! timeout, so a wrong prediction ends a case instead of running on.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use serde::Serialize;
use socket2::{Domain, Socket, Type};

use super::cases::{loopback, CaseResult, Setup};
use engine::errno::errno_name;

/// How long a datagram may take to arrive on loopback before it counts as lost.
const RECV_TIMEOUT: Duration = Duration::from_millis(500);

/// What the server saw of the UDP flows, and the kernel's socket tables.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct UdpServerSide {
    /// Flows (connected client sockets) that each sent one datagram.
    pub flows: usize,
    /// Their source addresses.
    pub sources: usize,
    /// Datagrams the server's one socket received.
    pub received: usize,
    /// Distinct peers recvfrom named.
    pub distinct_peers: usize,
    /// Sockets whose local port is the server's, in /proc/net/udp.
    pub udp_sockets_on_port: usize,
    /// For comparison, TCP: sockets whose local port is case (b)'s listener's, in
    /// /proc/net/tcp while its connections were up.
    pub tcp_sockets_on_port: usize,
}

impl UdpServerSide {
    /// What the kernel's rule predicts: every datagram received, every flow a
    /// distinct peer of the one socket, and no other socket on the port.
    pub fn as_predicted(&self) -> bool {
        self.received == self.flows
            && self.distinct_peers == self.flows
            && self.udp_sockets_on_port == 1
    }
}

/// SO_REUSEPORT with UDP: how flows spread over a group of sockets on one port.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReuseportSpread {
    /// Sockets in the group.
    pub sockets: usize,
    /// Flows, each sending `per_flow` datagrams.
    pub flows: usize,
    pub per_flow: usize,
    /// Flows each socket received.
    pub flows_per_socket: Vec<usize>,
    /// Flows whose datagrams reached more than one socket (the kernel keeps 0).
    pub flows_split: usize,
    /// Flows expected per socket, and one standard deviation (binomial).
    pub expected: f64,
    pub sigma: f64,
}

/// A client socket, not bound, connected to `dst`: connect() binds it to a port of
/// the range (autobind), which is what (f) and (g) measure.
fn connected(dst: SocketAddr) -> io::Result<UdpSocket> {
    let s = UdpSocket::from(Socket::new(Domain::IPV4, Type::DGRAM, None)?);
    s.connect(dst)?;
    Ok(s)
}

/// Connects UDP sockets with `dst(i)` until the first failure or `limit`.
fn connect_until_refused(limit: u64, dst: impl Fn(u64) -> SocketAddr) -> (Vec<UdpSocket>, String) {
    let mut held = Vec::new();
    for i in 0..limit {
        match connected(dst(i)) {
            Ok(s) => held.push(s),
            Err(e) => return (held, errno_name(&e)),
        }
    }
    (held, "none (bound reached)".to_string())
}

fn margin(ports: u64) -> u64 {
    ports / 10 + 10
}

fn row(id: &str, name: &str, predicted: u64, measured: u64, stop: String) -> CaseResult {
    CaseResult {
        id: id.into(),
        name: name.into(),
        predicted,
        measured,
        stopped_by: stop,
        expected_errno: "EAGAIN".into(),
    }
}

/// (f) connected UDP sockets, 1 source, 1 destination: the range caps them.
pub fn case_f(s: &Setup) -> CaseResult {
    let dst = SocketAddr::from((Ipv4Addr::LOCALHOST, s.base_port + 10));
    let (held, stop) = connect_until_refused(s.ports + margin(s.ports), |_| dst);
    let name = "UDP: connected sockets, 1 source, 1 destination";
    row("f", name, s.ports, held.len() as u64, stop)
}

/// (g) connected UDP sockets to k destinations: still the range, not k × the range.
pub fn case_g(s: &Setup) -> CaseResult {
    let dsts: Vec<SocketAddr> =
        loopback(s.k).into_iter().map(|ip| SocketAddr::new(ip, s.base_port + 11)).collect();
    let limit = s.k * s.ports + margin(s.ports);
    let (held, stop) = connect_until_refused(limit, |i| dsts[(i % s.k) as usize]);
    let name = format!("UDP: connected sockets, {} destinations (port taken at connect)", s.k);
    row("g", &name, s.ports, held.len() as u64, stop)
}

/// (h) one unconnected socket exchanges a datagram with every one of k × `per`
/// peers (k addresses, `per` ports each, at most 200): one local port, any number
/// of peers, each told apart by recvfrom.
pub fn case_h(s: &Setup) -> io::Result<CaseResult> {
    let per = s.ports.min(200);
    let mut peers = Vec::new();
    for ip in loopback(s.k) {
        for j in 0..per {
            let sock = UdpSocket::bind(SocketAddr::new(ip, s.base_port + 20 + j as u16))?;
            sock.set_nonblocking(true)?;
            peers.push(sock);
        }
    }
    let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    client.set_read_timeout(Some(RECV_TIMEOUT))?;
    let mut heard = HashSet::new();
    let mut buf = [0u8; 64];
    for peer in &peers {
        client.send_to(b"x", peer.local_addr()?)?;
        let Ok((_, from)) = echo_once(peer, &mut buf) else { continue };
        peer.send_to(b"x", from)?;
        if let Ok((_, back)) = client.recv_from(&mut buf) {
            heard.insert(back);
        }
    }
    let n = peers.len() as u64;
    let name = format!("UDP: 1 unconnected socket, {n} peers on {} addresses", s.k);
    let mut result = row("h", &name, n, heard.len() as u64, "none".into());
    result.expected_errno = "none".into();
    Ok(result)
}

/// Every datagram waiting on a non-blocking socket, each sender given to `seen`.
fn drain(sock: &UdpSocket, buf: &mut [u8], mut seen: impl FnMut(SocketAddr)) -> usize {
    let mut n = 0;
    while let Ok((_, from)) = sock.recv_from(buf) {
        seen(from);
        n += 1;
    }
    n
}

/// One datagram on a non-blocking socket, waiting (bounded) for it.
fn echo_once(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    let deadline = std::time::Instant::now() + RECV_TIMEOUT;
    loop {
        match sock.recv_from(buf) {
            Ok(got) => return Ok(got),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if std::time::Instant::now() > deadline {
                    return Err(e);
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(e) => return Err(e),
        }
    }
}

/// The server side: `flows` connected flows from k sources each send one datagram
/// to one server socket, which names every peer; then the socket tables.
pub fn server_side(
    s: &Setup,
    flows: usize,
    tcp_sockets_on_port: usize,
) -> io::Result<UdpServerSide> {
    let port = s.base_port + 12;
    let server = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port))?;
    server.set_nonblocking(true)?;
    let dst = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let sources = loopback(s.k);
    let mut clients = Vec::with_capacity(flows);
    let mut peers = HashSet::new();
    let mut received = 0;
    let mut buf = [0u8; 64];
    for i in 0..flows {
        let sock = UdpSocket::bind((sources[i % sources.len()], 0))?;
        sock.connect(dst)?;
        sock.send(b"flow")?;
        clients.push(sock);
        // Read as it goes: the socket's receive buffer holds a few hundred datagrams.
        if i % 32 == 31 || i + 1 == flows {
            received += drain(&server, &mut buf, |from| {
                peers.insert(from);
            });
        }
    }
    while received < flows {
        let Ok((_, from)) = echo_once(&server, &mut buf) else { break };
        received += 1;
        peers.insert(from);
    }
    let udp_sockets_on_port = sockets_on_local_port("/proc/net/udp", port);
    Ok(UdpServerSide {
        flows,
        sources: sources.len(),
        received,
        distinct_peers: peers.len(),
        udp_sockets_on_port,
        tcp_sockets_on_port,
    })
}

/// Sockets of a /proc/net table whose local port is `port`, told apart by their
/// (local, remote) pair. One read can skip or repeat rows while sockets of *other*
/// namespaces come and go (the file walks the kernel's one hash table by position),
/// so the table is read until two reads in a row add nothing (at most ten).
pub fn sockets_on_local_port(table: &str, port: u16) -> usize {
    let read = || -> HashSet<(SocketAddr, SocketAddr)> {
        let entries = common::procfs::net::net_table(table).unwrap_or_default();
        entries
            .into_iter()
            .map(|e| (e.local, e.remote))
            .filter(|(local, _)| local.port() == port)
            .collect()
    };
    let mut seen = read();
    let mut quiet = 0;
    for _ in 0..10 {
        let before = seen.len();
        seen.extend(read());
        quiet = if seen.len() == before { quiet + 1 } else { 0 };
        if quiet == 2 {
            break;
        }
    }
    seen.len()
}

/// SO_REUSEPORT: `sockets` sockets on one port, `flows` flows of `per_flow`
/// datagrams each; which socket got each flow's datagrams.
pub fn reuseport_spread(
    s: &Setup,
    sockets: usize,
    flows: usize,
    per_flow: usize,
) -> io::Result<ReuseportSpread> {
    let port = s.base_port + 13;
    let group = reuseport_group(port, sockets)?;
    let dst = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let sources = loopback(s.k);
    let clients: Vec<UdpSocket> = (0..flows)
        .map(|i| {
            let c = UdpSocket::bind((sources[i % sources.len()], 0))?;
            c.connect(dst)?;
            Ok(c)
        })
        .collect::<io::Result<_>>()?;
    // Which sockets each flow (by its source address) reached.
    let mut reached: HashMap<SocketAddr, HashSet<usize>> = HashMap::new();
    let mut buf = [0u8; 64];
    let mut got = 0;
    let mut sent = 0;
    for _ in 0..per_flow {
        for c in &clients {
            c.send(b"d")?;
            sent += 1;
            // Read as it goes: each socket's receive buffer holds a few hundred.
            if sent % 32 == 0 {
                got += drain_group(&group, &mut buf, &mut reached);
            }
        }
    }
    let deadline = std::time::Instant::now() + RECV_TIMEOUT;
    while got < sent && std::time::Instant::now() < deadline {
        got += drain_group(&group, &mut buf, &mut reached);
        std::thread::sleep(Duration::from_micros(200));
    }
    let mut flows_per_socket = vec![0; sockets];
    let mut flows_split = 0;
    for set in reached.values() {
        if set.len() > 1 {
            flows_split += 1;
        }
        if let Some(&first) = set.iter().next() {
            flows_per_socket[first] += 1;
        }
    }
    let (n, w) = (flows as f64, sockets as f64);
    Ok(ReuseportSpread {
        sockets,
        flows,
        per_flow,
        flows_per_socket,
        flows_split,
        expected: n / w,
        sigma: (n * (1.0 / w) * (1.0 - 1.0 / w)).sqrt(),
    })
}

/// `sockets` non-blocking UDP sockets bound to 127.0.0.1:`port` with SO_REUSEPORT.
fn reuseport_group(port: u16, sockets: usize) -> io::Result<Vec<UdpSocket>> {
    (0..sockets)
        .map(|_| {
            let sock = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
            sock.set_reuse_port(true)?;
            sock.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())?;
            sock.set_nonblocking(true)?;
            Ok(UdpSocket::from(sock))
        })
        .collect()
}

/// Reads what every socket of `group` holds now, noting in `reached` which
/// sockets each source reached; how many datagrams were read.
fn drain_group(
    group: &[UdpSocket],
    buf: &mut [u8],
    reached: &mut HashMap<SocketAddr, HashSet<usize>>,
) -> usize {
    let mut got = 0;
    for (i, sock) in group.iter().enumerate() {
        got += drain(sock, buf, |from| {
            reached.entry(from).or_default().insert(i);
        });
    }
    got
}
