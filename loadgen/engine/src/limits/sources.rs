//! Parsing `--src`: a comma-separated list of IPv4 addresses and ranges,
//! e.g. `127.0.0.2-127.0.0.9` or `127.0.0.2,127.0.0.5-127.0.0.6`; and checking that
//! each is an address of this machine, before anything connects (a bind to one
//! that is not fails with EADDRNOTAVAIL, which connects would report as running
//! out of ephemeral ports). Linear in the addresses named: duplicates are found
//! in a set, not by searching the list (a /16 is 65,536 addresses).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};

use crate::errno::os_reason;

/// Most addresses one `--src` may name.
pub const MAX_SOURCES: usize = 65_536;

/// Parses a source list; addresses keep their order, duplicates are dropped.
pub fn parse_sources(text: &str) -> Result<Vec<IpAddr>, String> {
    let bad = |part: &str| {
        format!("'{part}' is not a source address or range: use e.g. 127.0.0.2-127.0.0.9")
    };
    let mut out: Vec<IpAddr> = Vec::new();
    let mut seen: HashSet<IpAddr> = HashSet::new();
    for part in text.split(',').map(str::trim) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<Ipv4Addr>(), b.trim().parse::<Ipv4Addr>()),
            None => (part.parse::<Ipv4Addr>(), part.parse::<Ipv4Addr>()),
        };
        let (lo, hi) =
            (u32::from(lo.map_err(|_| bad(part))?), u32::from(hi.map_err(|_| bad(part))?));
        if lo > hi {
            return Err(format!(
                "'{part}' is a range that runs backwards: put the lower address first"
            ));
        }
        if (hi - lo) as usize >= MAX_SOURCES || out.len() + (hi - lo) as usize >= MAX_SOURCES {
            return Err(format!("'{text}' names more than {MAX_SOURCES} addresses"));
        }
        for a in lo..=hi {
            let ip = IpAddr::V4(Ipv4Addr::from(a));
            if seen.insert(ip) {
                out.push(ip);
            }
        }
    }
    Ok(out)
}

/// Checks that every address in `sources` belongs to this machine: binding a
/// socket to it (port 0) succeeds. The first that does not is named, with the OS's
/// reason and the fix.
pub fn check_local(sources: &[IpAddr]) -> Result<(), String> {
    for ip in sources {
        if let Err(e) = UdpSocket::bind((*ip, 0)) {
            return Err(format!(
                "{ip} is not an address of this machine ({}): use loopback sources such as \
                 127.0.0.2-127.0.0.9, or addresses assigned to a local interface",
                os_reason(&e)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lists and ranges expand in order; junk and backwards ranges name the fix.
    #[test]
    fn lists_and_ranges() {
        let v = parse_sources("127.0.0.2-127.0.0.4,127.0.0.9,127.0.0.3").unwrap();
        let want: Vec<IpAddr> = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.9"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(v, want);
        assert!(parse_sources("127.0.0.9-127.0.0.2").unwrap_err().contains("backwards"));
        assert!(parse_sources("localhost").unwrap_err().contains("not a source address"));
        assert!(parse_sources("10.0.0.0-10.255.255.255").unwrap_err().contains("more than"));
    }

    /// A /16 (the most one `--src` names) expands whole and in order, its
    /// duplicates dropped: linear by construction (a set of those seen; it was a
    /// search of the list per address, 2 × 10^9 comparisons for a /16).
    #[test]
    fn a_slash_16_expands() {
        let v = parse_sources("10.1.0.0-10.1.255.255").unwrap();
        assert_eq!(v.len(), MAX_SOURCES);
        let (first, last) = ("10.1.0.0".parse().unwrap(), "10.1.255.255".parse().unwrap());
        assert_eq!((v[0], v[MAX_SOURCES - 1]), (first, last));
        assert!(parse_sources("10.1.0.0-10.1.255.255,10.2.0.0").unwrap_err().contains("more than"));
        // Two overlapping halves: the overlap once.
        let v = parse_sources("10.1.0.0-10.1.127.255,10.1.64.0-10.1.191.255").unwrap();
        assert_eq!(v.len(), 3 * MAX_SOURCES / 4);
        assert_eq!(v.last(), Some(&"10.1.191.255".parse().unwrap()));
    }

    /// Loopback sources are this machine's; a documentation address (TEST-NET-3)
    /// is not, and is named.
    #[test]
    fn local_addresses_only() {
        check_local(&parse_sources("127.0.0.2-127.0.0.9").unwrap()).unwrap();
        let e = check_local(&parse_sources("127.0.0.2,203.0.113.7").unwrap()).unwrap_err();
        assert!(e.starts_with("203.0.113.7 is not an address of this machine ("), "{e}");
    }
}
