//! The server's side of the four-tuple story, taken from the sockets themselves:
//! every accepted socket's local address (getsockname) carries the listener's port,
//! and what tells connections apart is the peer (getpeername). The same rows are
//! looked up in /proc/net/tcp, which is what netstat and ss read.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, TcpStream};

use common::procfs::{
    self,
    net::{format_addr, NetEntry},
};

use serde::Serialize;

/// One accepted socket, seen two ways.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TupleRow {
    /// getsockname() of the accepted socket.
    pub local: String,
    /// getpeername() of the accepted socket.
    pub peer: String,
    /// The matching /proc/net/tcp line's local_address, rem_address and st fields.
    pub proc_local: String,
    pub proc_remote: String,
    pub proc_state: String,
}

/// What the whole set of accepted sockets shows.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TupleSample {
    /// Accepted sockets examined.
    pub accepted: usize,
    /// Distinct local ports among them (1: they all share the listener's).
    pub distinct_local_ports: usize,
    /// Distinct four-tuples (equals `accepted`: the kernel keeps them apart).
    pub distinct_tuples: usize,
    /// Distinct peer addresses and peer ports.
    pub distinct_peer_addrs: usize,
    pub distinct_peer_ports: usize,
    /// A few rows, spread over the peers.
    pub rows: Vec<TupleRow>,
}

/// Examines the accepted sockets and keeps `rows` sample rows, one per peer address
/// first, so a fan-out over sources shows.
pub fn sample(accepted: &[TcpStream], rows: usize) -> TupleSample {
    let pairs: Vec<(SocketAddr, SocketAddr)> =
        accepted.iter().filter_map(|s| Some((s.local_addr().ok()?, s.peer_addr().ok()?))).collect();
    let tuples: HashSet<_> = pairs.iter().collect();
    let local_ports: HashSet<u16> = pairs.iter().map(|(l, _)| l.port()).collect();
    let peer_addrs: HashSet<_> = pairs.iter().map(|(_, p)| p.ip()).collect();
    let peer_ports: HashSet<u16> = pairs.iter().map(|(_, p)| p.port()).collect();

    let proc = read_proc_net_tcp();
    let mut chosen: Vec<&(SocketAddr, SocketAddr)> = Vec::new();
    let mut seen_peers = HashSet::new();
    for pair in &pairs {
        if chosen.len() < rows && seen_peers.insert(pair.1.ip()) {
            chosen.push(pair);
        }
    }
    for pair in &pairs {
        if chosen.len() >= rows {
            break;
        }
        if !chosen.contains(&pair) {
            chosen.push(pair);
        }
    }
    let rows = chosen
        .into_iter()
        .map(|(local, peer)| {
            let (pl, pr, st) = proc
                .get(&(*local, *peer))
                .cloned()
                .unwrap_or_else(|| ("-".into(), "-".into(), "-".into()));
            TupleRow {
                local: local.to_string(),
                peer: peer.to_string(),
                proc_local: pl,
                proc_remote: pr,
                proc_state: st,
            }
        })
        .collect();
    TupleSample {
        accepted: pairs.len(),
        distinct_local_ports: local_ports.len(),
        distinct_tuples: tuples.len(),
        distinct_peer_addrs: peer_addrs.len(),
        distinct_peer_ports: peer_ports.len(),
        rows,
    }
}

type ProcRow = (String, String, String);

/// /proc/net/tcp keyed by (local, remote), values as the file prints them.
fn read_proc_net_tcp() -> HashMap<(SocketAddr, SocketAddr), ProcRow> {
    let table = procfs::net::net_tcp().unwrap_or_default();
    let row = |e: &NetEntry| {
        Some((format_addr(e.local)?, format_addr(e.remote)?, format!("{:02X}", e.state)))
    };
    table.iter().filter_map(|e| Some(((e.local, e.remote), row(e)?))).collect()
}

/// Counts /proc/net/tcp sockets in `state` (e.g. [`procfs::net::TIME_WAIT`]) whose
/// remote port is `remote_port`.
pub fn count_state(state: u8, remote_port: u16) -> usize {
    let table = procfs::net::net_tcp().unwrap_or_default();
    table.iter().filter(|e| e.state == state && e.remote.port() == remote_port).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepted sockets share the listener's port and differ by peer (real sockets).
    #[test]
    fn accepted_sockets_share_the_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let clients: Vec<_> =
            (0..5).map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
        let accepted: Vec<_> = (0..5).map(|_| listener.accept().unwrap().0).collect();
        let s = sample(&accepted, 3);
        assert_eq!(s.accepted, 5);
        assert_eq!(s.distinct_local_ports, 1);
        assert_eq!(s.distinct_tuples, 5);
        assert_eq!(s.distinct_peer_ports, 5);
        assert_eq!(s.rows.len(), 3);
        assert!(s.rows.iter().all(|r| r.local.ends_with(&format!(":{port}"))));
        assert!(s.rows.iter().all(|r| r.proc_state == "01"), "{:?}", s.rows);
        drop(clients);
    }
}
