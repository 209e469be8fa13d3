//! The kernel's IPv4 socket tables, /proc/net/tcp (and /proc/net/udp, same
//! layout): the one parser of them in the project. A line is
//! `sl local_address rem_address st tx_queue:rx_queue tr:when retrnsmt uid timeout
//! inode ...`; an address is `0100007F:A028` (the IPv4 address as a host-order u32
//! in hex, the port in hex). A line that does not parse is skipped: the table is
//! read while sockets come and go.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;

/// `st` of an established TCP socket.
pub const ESTABLISHED: u8 = 0x01;
/// `st` of a socket in TIME_WAIT.
pub const TIME_WAIT: u8 = 0x06;
/// `st` of a socket in CLOSE_WAIT (the peer closed, we have not).
pub const CLOSE_WAIT: u8 = 0x08;

/// One socket of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetEntry {
    /// `local_address`.
    pub local: SocketAddr,
    /// `rem_address`.
    pub remote: SocketAddr,
    /// `st`, the TCP state (see [`ESTABLISHED`]).
    pub state: u8,
    /// Bytes in the send queue (`tx_queue`).
    pub tx_queue: u64,
    /// Bytes in the receive queue (`rx_queue`).
    pub rx_queue: u64,
    /// The socket's inode (`socket:[inode]` among a process's descriptors).
    pub inode: u64,
}

/// The entries of /proc/net/tcp (this process's network namespace).
pub fn net_tcp() -> io::Result<Vec<NetEntry>> {
    net_table("/proc/net/tcp")
}

/// The entries of a table in /proc/net/tcp's layout (`/proc/PID/net/tcp`,
/// `/proc/net/udp`).
pub fn net_table(path: impl AsRef<Path>) -> io::Result<Vec<NetEntry>> {
    Ok(parse_net_table(&std::fs::read_to_string(path)?))
}

/// The entries of `text`, a table in /proc/net/tcp's layout (its header skipped).
pub fn parse_net_table(text: &str) -> Vec<NetEntry> {
    text.lines().skip(1).filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<NetEntry> {
    let mut f = line.split_whitespace().skip(1);
    let (local, remote) = (parse_addr(f.next()?)?, parse_addr(f.next()?)?);
    let state = u8::from_str_radix(f.next()?, 16).ok()?;
    let (tx, rx) = f.next()?.split_once(':')?;
    let (tx_queue, rx_queue) =
        (u64::from_str_radix(tx, 16).ok()?, u64::from_str_radix(rx, 16).ok()?);
    // tr:when, retrnsmt, uid, timeout, then the inode.
    let inode = f.nth(4)?.parse().ok()?;
    Some(NetEntry { local, remote, state, tx_queue, rx_queue, inode })
}

/// `0100007F:A028` -> 127.0.0.1:41000.
pub fn parse_addr(text: &str) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let addr = u32::from_str_radix(addr, 16).ok()?;
    let port = u16::from_str_radix(port, 16).ok()?;
    Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(addr.swap_bytes()), port)))
}

/// 127.0.0.1:41000 -> `0100007F:A028`, as the table prints it (None for IPv6).
pub fn format_addr(addr: SocketAddr) -> Option<String> {
    match addr {
        SocketAddr::V4(v4) => {
            Some(format!("{:08X}:{:04X}", u32::from(*v4.ip()).swap_bytes(), v4.port()))
        }
        SocketAddr::V6(_) => None,
    }
}

/// The `TcpExt:` counters of /proc/net/netstat (this network namespace's), by name:
/// a header line of names, then a line of values.
pub fn tcp_ext() -> io::Result<std::collections::BTreeMap<String, u64>> {
    Ok(parse_tcp_ext(&std::fs::read_to_string("/proc/net/netstat")?))
}

/// The `TcpExt:` counters of a netstat text (empty without them).
pub fn parse_tcp_ext(text: &str) -> std::collections::BTreeMap<String, u64> {
    let mut lines = text.lines().filter_map(|l| l.strip_prefix("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return Default::default();
    };
    let values = values.split_whitespace().map(|v| v.parse::<u64>().ok());
    names.split_whitespace().zip(values).filter_map(|(n, v)| Some((n.to_string(), v?))).collect()
}

/// The TCP line of /proc/net/sockstat (this network namespace's totals):
/// `TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpSockStat {
    /// Sockets in use (not TIME_WAIT).
    pub inuse: u64,
    /// Orphaned sockets (closed by their process, still finishing).
    pub orphan: u64,
    /// Sockets in TIME_WAIT.
    pub tw: u64,
    /// Sockets allocated.
    pub alloc: u64,
    /// Pages of memory the TCP stack holds.
    pub mem_pages: u64,
}

/// Reads the TCP totals of /proc/net/sockstat.
pub fn tcp_sockstat() -> io::Result<TcpSockStat> {
    let text = std::fs::read_to_string("/proc/net/sockstat")?;
    parse_tcp_sockstat(&text)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no TCP line in sockstat"))
}

/// The TCP line of a sockstat text; None without one.
pub fn parse_tcp_sockstat(text: &str) -> Option<TcpSockStat> {
    let line = text.lines().find_map(|l| l.strip_prefix("TCP:"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let field = |name: &str| -> u64 {
        let at = words.iter().position(|w| *w == name);
        at.and_then(|i| words.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    Some(TcpSockStat {
        inuse: field("inuse"),
        orphan: field("orphan"),
        tw: field("tw"),
        alloc: field("alloc"),
        mem_pages: field("mem"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The TCP line of sockstat parses by name; the machine's own reads.
    #[test]
    fn sockstat() {
        let text =
            "sockets: used 120\nTCP: inuse 5 orphan 1 tw 2 alloc 7 mem 3\nUDP: inuse 1 mem 0\n";
        let t = parse_tcp_sockstat(text).expect("TCP line");
        assert_eq!((t.inuse, t.orphan, t.tw, t.alloc, t.mem_pages), (5, 1, 2, 7, 3));
        assert_eq!(parse_tcp_sockstat("UDP: inuse 1"), None);
        assert!(tcp_sockstat().is_ok());
    }

    /// TcpExt's names pair with the values of the next TcpExt line.
    #[test]
    fn tcp_ext_counters() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 3 9698 9700\n\
                    IpExt: InNoRoutes\nIpExt: 0\n";
        let c = parse_tcp_ext(text);
        assert_eq!((c["SyncookiesSent"], c["ListenOverflows"], c["ListenDrops"]), (3, 9698, 9700));
        assert!(parse_tcp_ext("IpExt: A\nIpExt: 1\n").is_empty());
        assert!(tcp_ext().is_ok_and(|c| c.contains_key("ListenOverflows")));
    }

    /// The kernel's hex layout decodes both ways; bad text is None.
    #[test]
    fn addresses_decode_and_encode() {
        let a: SocketAddr = "127.0.0.1:41000".parse().expect("addr");
        assert_eq!(parse_addr("0100007F:A028"), Some(a));
        assert_eq!(format_addr(a).as_deref(), Some("0100007F:A028"));
        assert_eq!(parse_addr("0300007F:0050"), Some("127.0.0.3:80".parse().expect("addr")));
        assert_eq!(parse_addr("zz:1"), None);
        assert_eq!(format_addr("[::1]:1".parse().expect("addr")), None);
    }

    /// A table line gives every field; a header or a torn line is skipped.
    #[test]
    fn a_table_parses_field_by_field() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
            0: 0100007F:2EE0 0200007F:A028 01 0000000A:00000010 00:00000000 00000000  1000        0 4242 1 0\n   \
            1: 0100007F:2EE0 0200007F\n";
        let rows = parse_net_table(text);
        assert_eq!(rows.len(), 1);
        let e = rows[0];
        assert_eq!(
            (e.local, e.remote),
            ("127.0.0.1:12000".parse().expect("a"), "127.0.0.2:41000".parse().expect("a"))
        );
        assert_eq!((e.state, e.tx_queue, e.rx_queue, e.inode), (ESTABLISHED, 10, 16, 4242));
    }

    /// A real connection on 127.0.0.1 is in this process's table, both sides
    /// established, each with a socket inode.
    #[test]
    fn a_real_connection_is_listed() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let client =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        let (c, s) = (client.local_addr().expect("addr"), server.local_addr().expect("addr"));
        let table = net_tcp().expect("/proc/net/tcp");
        let find = |l, r| table.iter().find(|e| e.local == l && e.remote == r);
        assert!(find(c, s).is_some_and(|e| e.state == ESTABLISHED && e.inode > 0), "{table:?}");
        assert!(find(s, c).is_some_and(|e| e.state == ESTABLISHED && e.inode > 0), "{table:?}");
    }
}
