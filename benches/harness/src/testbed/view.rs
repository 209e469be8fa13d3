//! The server's own view of a testbed run: the established TCP sockets on the
//! server's port as its kernel lists them in `/proc/PID/net/tcp`, PID being a
//! process in the server's namespace (the same table `ss` or `netstat` would print
//! there), grouped by peer address. Every agent is a host of its own, so the view
//! should show one peer address per agent, each with that agent's share of the
//! four-tuples, all on the one listening port.

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use common::procfs::net::{parse_net_table, ESTABLISHED};

/// What the server's kernel showed at one moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerView {
    /// The server's listening port.
    pub port: u16,
    /// Seconds after the agents' start time when it was taken (negative: before).
    pub at_s: f64,
    /// Established sockets whose local port is `port` (distinct four-tuples).
    pub established: usize,
    /// Distinct local ports among them (1: they all share the listener's).
    pub distinct_local_ports: usize,
    /// Four-tuples per peer address, by address.
    pub peers: Vec<PeerTuples>,
    /// A few four-tuples, `local peer`, one per peer address first.
    pub sample: Vec<String>,
}

/// One peer address and its four-tuples.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerTuples {
    /// The peer's address (an agent's host).
    pub addr: IpAddr,
    /// Established four-tuples from it.
    pub tuples: usize,
}

impl ServerView {
    /// Reads `/proc/{pid}/net/tcp` (pid in the server's namespace) for `port`,
    /// keeping `sample` four-tuples; None when it cannot be read.
    pub fn read(pid: u32, port: u16, sample: usize, at_s: f64) -> Option<ServerView> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).ok()?;
        Some(ServerView { at_s, ..ServerView::parse(&text, port, sample) })
    }

    /// The view in `text`, a /proc/net/tcp table.
    pub fn parse(text: &str, port: u16, sample: usize) -> ServerView {
        let mut seen = HashSet::new();
        let tuples: Vec<(SocketAddr, SocketAddr)> = parse_net_table(text)
            .into_iter()
            .filter(|e| e.state == ESTABLISHED && e.local.port() == port)
            .map(|e| (e.local, e.remote))
            .filter(|tuple| seen.insert(*tuple))
            .collect();
        let mut per_peer: BTreeMap<IpAddr, usize> = BTreeMap::new();
        for (_, peer) in &tuples {
            *per_peer.entry(peer.ip()).or_default() += 1;
        }
        let local_ports: HashSet<u16> = tuples.iter().map(|(l, _)| l.port()).collect();
        ServerView {
            port,
            at_s: 0.0,
            established: tuples.len(),
            distinct_local_ports: local_ports.len(),
            peers: per_peer.into_iter().map(|(addr, tuples)| PeerTuples { addr, tuples }).collect(),
            sample: pick_sample(&tuples, sample),
        }
    }
}

/// `rows` four-tuples as `local peer`: the first of each peer address, then the
/// next ones in table order.
fn pick_sample(tuples: &[(SocketAddr, SocketAddr)], rows: usize) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut chosen: Vec<usize> =
        (0..tuples.len()).filter(|&i| seen.insert(tuples[i].1.ip())).take(rows).collect();
    let more: Vec<usize> =
        (0..tuples.len()).filter(|i| !chosen.contains(i)).take(rows - chosen.len()).collect();
    chosen.extend(more);
    chosen.into_iter().map(|i| format!("{} {}", tuples[i].0, tuples[i].1)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A /proc/net/tcp table: a listener, three established sockets on port 12000
    /// (0x2EE0) from two peers (one listed twice), one to another port, one in
    /// TIME_WAIT.
    const TABLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 010012C6:2EE0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1
   1: 010012C6:2EE0 020012C6:9C41 01 00000000:00000000 00:00000000 00000000     0        0 2
   2: 010012C6:2EE0 020012C6:9C42 01 00000000:00000000 00:00000000 00000000     0        0 3
   3: 010012C6:2EE0 030012C6:9C41 01 00000000:00000000 00:00000000 00000000     0        0 4
   3: 010012C6:2EE0 030012C6:9C41 01 00000000:00000000 00:00000000 00000000     0        0 4
   4: 010012C6:1F90 030012C6:9C43 01 00000000:00000000 00:00000000 00000000     0        0 5
   5: 010012C6:2EE0 030012C6:9C44 06 00000000:00000000 00:00000000 00000000     0        0 6
";

    /// Established sockets on the port are counted per peer, a four-tuple listed
    /// twice once; the listener, other ports and TIME_WAIT are not; the sample
    /// names each peer first.
    #[test]
    fn groups_established_sockets_by_peer() {
        let v = ServerView::parse(TABLE, 12000, 3);
        assert_eq!((v.established, v.distinct_local_ports), (3, 1));
        let peers: Vec<(String, usize)> =
            v.peers.iter().map(|p| (p.addr.to_string(), p.tuples)).collect();
        assert_eq!(peers, [("198.18.0.2".to_string(), 2), ("198.18.0.3".to_string(), 1)]);
        assert_eq!(
            v.sample,
            [
                "198.18.0.1:12000 198.18.0.2:40001",
                "198.18.0.1:12000 198.18.0.3:40001",
                "198.18.0.1:12000 198.18.0.2:40002"
            ]
        );
    }

    /// An empty table is an empty view, and a sample larger than the table is all of it.
    #[test]
    fn empty_and_short_tables() {
        assert_eq!(ServerView::parse("header\n", 12000, 4).established, 0);
        assert_eq!(ServerView::parse(TABLE, 12000, 10).sample.len(), 3);
    }
}
