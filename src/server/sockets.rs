//! Every socket a config asks for, on one port number: the TCP listeners of its
//! model (`shared::bind_listeners`) when `--proto` serves TCP, and one SO_REUSEPORT
//! UDP socket per worker when it serves UDP.
//!
//! Invariants: a port that something else holds is refused for each protocol served
//! (unless `--allow-shared-port`), so echod never joins another SO_REUSEPORT group by
//! accident; with `--proto both` TCP and UDP share the port number, also with
//! `--port 0` (the kernel picks the TCP port, and a port whose UDP side is taken is
//! given back and another one tried, at most [`PORT_TRIES`] times).

use std::net::{SocketAddr, TcpListener, UdpSocket};

use super::{shared, Config, Proto, ServerError};
use common::net;

/// How many kernel-picked ports `--proto both --port 0` tries before it gives up.
pub(crate) const PORT_TRIES: usize = 16;

/// The sockets of one server, bound.
#[derive(Debug)]
pub(crate) struct Sockets {
    /// One TCP listener per worker (none with `--proto udp`).
    pub(crate) listeners: Vec<TcpListener>,
    /// One UDP socket per worker (none with `--proto tcp`).
    pub(crate) udp: Vec<UdpSocket>,
    /// The address they are bound to (the real port when 0 was asked).
    pub(crate) local_addr: SocketAddr,
}

/// Binds every socket `config` asks for.
pub(crate) fn bind(config: &Config) -> Result<Sockets, ServerError> {
    let addr = config.addr();
    match config.proto {
        Proto::Tcp => {
            let listeners = shared::bind_listeners(config)?;
            let local_addr = tcp_addr(&listeners, addr)?;
            Ok(Sockets { listeners, udp: Vec::new(), local_addr })
        }
        Proto::Udp => {
            let udp = bind_udp(config, addr, !config.allow_shared_port)?;
            let local_addr =
                udp[0].local_addr().map_err(|e| ServerError::Bind { addr, source: e })?;
            Ok(Sockets { listeners: Vec::new(), udp, local_addr })
        }
        Proto::Both if addr.port() != 0 => {
            // UDP first: a UDP refusal then leaves no TCP listener behind.
            let udp = bind_udp(config, addr, !config.allow_shared_port)?;
            let listeners = shared::bind_listeners(config)?;
            let local_addr = tcp_addr(&listeners, addr)?;
            Ok(Sockets { listeners, udp, local_addr })
        }
        Proto::Both => both_on_a_free_port(config),
    }
}

/// `--proto both --port 0`: the kernel picks the TCP port; its UDP side is probed
/// (a UDP socket of someone else's must never be joined) and bound, or the TCP
/// listeners are given back and another port tried.
fn both_on_a_free_port(config: &Config) -> Result<Sockets, ServerError> {
    for _ in 0..PORT_TRIES {
        let listeners = shared::bind_listeners(config)?;
        let local_addr = tcp_addr(&listeners, config.addr())?;
        match bind_udp(config, local_addr, true) {
            Ok(udp) => return Ok(Sockets { listeners, udp, local_addr }),
            Err(ServerError::PortInUse { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ServerError::Invalid(format!(
        "--proto both --port 0: {PORT_TRIES} ports the kernel picked for TCP were taken for \
         UDP: choose a --port free for both"
    )))
}

/// One UDP socket per worker on `addr`; `probe`: first refuse a port something holds.
fn bind_udp(config: &Config, addr: SocketAddr, probe: bool) -> Result<Vec<UdpSocket>, ServerError> {
    if probe && addr.port() != 0 {
        net::probe_udp_port(addr).map_err(|e| ServerError::from_bind(addr, e))?;
    }
    let bind = |a: SocketAddr| net::udp_socket(a).map_err(|e| ServerError::from_bind(a, e));
    let first = bind(addr)?;
    // With --port 0 the kernel picked the port; the others join that one.
    let port = first.local_addr().map_err(|e| ServerError::Bind { addr, source: e })?;
    let mut all = vec![first];
    for _ in 1..config.workers {
        all.push(bind(port)?);
    }
    Ok(all)
}

/// The address the first TCP listener is bound to (`addr` if there is none).
fn tcp_addr(listeners: &[TcpListener], addr: SocketAddr) -> Result<SocketAddr, ServerError> {
    match listeners.first() {
        Some(l) => l.local_addr().map_err(|e| ServerError::Bind { addr, source: e }),
        None => Ok(addr),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(proto: Proto) -> Config {
        Config { proto, ..Config::local_test(2) }
    }

    /// Each protocol gets its sockets, one per worker; `both` puts TCP and UDP on
    /// one port number, also when the kernel picks it.
    #[test]
    fn sockets_per_proto() {
        let tcp = bind(&config(Proto::Tcp)).expect("tcp");
        assert_eq!((tcp.listeners.len(), tcp.udp.len()), (2, 0));
        let udp = bind(&config(Proto::Udp)).expect("udp");
        assert_eq!((udp.listeners.len(), udp.udp.len()), (0, 2));
        assert_eq!(udp.udp[1].local_addr().expect("addr"), udp.local_addr);
        let both = bind(&config(Proto::Both)).expect("both");
        assert_eq!((both.listeners.len(), both.udp.len()), (2, 2));
        let port = both.local_addr.port();
        assert_ne!(port, 0);
        for u in &both.udp {
            assert_eq!(u.local_addr().expect("addr").port(), port);
        }
    }

    /// A UDP port someone holds is refused (naming --port), as a TCP one is; with
    /// `--proto both` no TCP listener is left behind.
    #[test]
    fn udp_port_in_use_is_refused() {
        // A UDP port whose TCP side is free (other tests' connections take TCP
        // ports too): a few tries at most.
        let (occupant, addr) = (0..16)
            .find_map(|_| {
                let occupant = UdpSocket::bind("127.0.0.1:0").expect("occupant");
                let addr = occupant.local_addr().expect("addr");
                net::probe_port(addr).is_ok().then_some((occupant, addr))
            })
            .expect("a UDP port whose TCP side is free");
        for proto in [Proto::Udp, Proto::Both] {
            let e = bind(&Config { port: addr.port(), ..config(proto) }).expect_err("taken");
            assert!(matches!(e, ServerError::PortInUse { .. }), "{e}");
            assert!(e.to_string().starts_with(&format!("--port {}: ", addr.port())), "{e}");
        }
        net::probe_port(addr).expect("no TCP listener left on the port");
        drop(occupant);
    }
}
