//! What a server answers, and who can reach it: the one start-up line that says so.
//! echod listens on loopback unless `--bind` names another address, so nothing it
//! answers is reachable from another host by default; the line says which case this
//! is and how to change it.

use std::net::SocketAddr;

use super::Proto;

/// `answering TCP on 127.0.0.1:12000: loopback only ...` or, past loopback, who
/// can reach it and what bounds a peer.
pub fn line(proto: Proto, addr: SocketAddr) -> String {
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

    /// Loopback says so; another address says who can reach it.
    #[test]
    fn loopback_or_not() {
        let local = line(Proto::Tcp, "127.0.0.1:12000".parse().expect("addr"));
        assert!(local.starts_with("answering TCP on 127.0.0.1:12000: loopback only"), "{local}");
        let any = line(Proto::Both, "0.0.0.0:7".parse().expect("addr"));
        assert!(any.starts_with("answering TCP and UDP on 0.0.0.0:7: reachable"), "{any}");
    }
}
