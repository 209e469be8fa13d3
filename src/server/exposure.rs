//! What a server answers, and who can reach it: the one start-up line that says so.
//! echod listens on loopback unless `--bind` names another address, so nothing it
//! answers is reachable from another host by default; the line says which case this
//! is and how to change it.

use std::net::SocketAddr;

use super::{Config, Proto};

/// `answering TCP on 127.0.0.1:12000: loopback only ...` or, past loopback, who
/// can reach it and what bounds a peer; with UDP, what bounds the answers.
pub fn line(config: &Config, addr: SocketAddr) -> String {
    let mut line = reach(config.proto, addr);
    if config.proto.udp() {
        let rate = match config.udp_rate() {
            Some(n) => format!("at most {n} answers a second per source (--udp-rate-limit)"),
            None => "no per-source rate limit (--udp-rate-limit N sets one)".to_string(),
        };
        let to = if config.udp_check_destination() {
            "datagrams to a broadcast or multicast address are not answered"
        } else {
            "loopback receives no broadcast or multicast"
        };
        line.push_str(&format!("; UDP: {rate}; {to}"));
    }
    line
}

/// Who can reach `addr`.
fn reach(proto: Proto, addr: SocketAddr) -> String {
    let what = match proto {
        Proto::Tcp => "TCP",
        Proto::Udp => "UDP",
        Proto::Both => "TCP and UDP",
    };
    if addr.ip().is_loopback() {
        format!(
            "answering {what} on {addr}: loopback only, no other host can reach it (--bind \
             ADDRESS to serve beyond this machine; see README, Security)"
        )
    } else {
        format!(
            "answering {what} on {addr}: reachable from every host that can reach this \
             address; bound by --max-conns, --idle-timeout and --max-held-bytes (see README, \
             Security)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loopback says so; another address says who can reach it; UDP says its rate
    /// limit and what it does with broadcasts.
    #[test]
    fn loopback_or_not() {
        let tcp = Config::default();
        let local = line(&tcp, "127.0.0.1:12000".parse().expect("addr"));
        assert!(local.starts_with("answering TCP on 127.0.0.1:12000: loopback only"), "{local}");
        assert!(!local.contains("UDP"), "{local}");
        let any = Config { proto: Proto::Both, bind: "0.0.0.0".parse().expect("ip"), ..tcp };
        let text = line(&any, "0.0.0.0:7".parse().expect("addr"));
        assert!(text.starts_with("answering TCP and UDP on 0.0.0.0:7: reachable"), "{text}");
        assert!(text.contains("at most 1000 answers a second per source"), "{text}");
        assert!(text.ends_with("broadcast or multicast address are not answered"), "{text}");
    }
}
