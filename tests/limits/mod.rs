//! Start-up refusals and limits, through the library: a port already in use (by a
//! plain listener or by another SO_REUSEPORT listener), an address that is not local,
//! and `--max-conns`.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};

use echod::server::{Config, Model, Server, ServerError};

use crate::common::{connect, echo, models, Running};

fn on_port(port: u16) -> Config {
    Config { port, ..Config::local_test(2) }
}

/// A plain listener on the port: refused, naming --port and the opt-out.
#[test]
fn refuses_port_held_by_plain_listener() {
    let occupant = TcpListener::bind("127.0.0.1:0").expect("occupant");
    let port = occupant.local_addr().expect("addr").port();
    let err = Server::bind(on_port(port)).expect_err("must refuse");
    assert!(matches!(err, ServerError::PortInUse { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("--port") && msg.contains("--allow-shared-port"), "{msg}");
}

/// Another SO_REUSEPORT listener (which the kernel would let us join): refused too;
/// `--allow-shared-port` joins it on purpose.
#[test]
fn refuses_port_held_by_reuseport_listener() {
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let occupant = common::net::listener(any, 16, true).expect("occupant");
    let port = occupant.local_addr().expect("addr").port();
    let err = Server::bind(on_port(port)).expect_err("must refuse");
    assert!(matches!(err, ServerError::PortInUse { .. }), "{err:?}");
    let joined = Server::bind(Config { allow_shared_port: true, ..on_port(port) });
    assert!(joined.is_ok(), "--allow-shared-port joins: {:?}", joined.err());
}

/// An address not assigned to this machine: refused, naming --bind.
#[test]
fn refuses_non_local_bind_address() {
    let config = Config { bind: "192.0.2.1".parse().expect("ip"), ..Config::local_test(1) };
    let err = Server::bind(config).expect_err("must refuse");
    assert!(matches!(err, ServerError::NotLocal { .. }), "{err:?}");
    assert!(err.to_string().contains("--bind"));
}

/// Connections over --max-conns are accepted, closed at once, and counted; a place
/// freed serves a new one. Every model.
#[test]
fn max_conns_closes_the_excess() {
    for model in models() {
        max_conns(model);
    }
}

fn max_conns(model: Model) {
    let srv = Running::start(Config { max_conns: Some(3), model, ..Config::local_test(1) });
    let kept: Vec<_> = (0..3).map(|_| connect(srv.addr)).collect();
    for c in &kept {
        assert_eq!(echo(c, b"in"), b"in");
    }
    for _ in 0..2 {
        let extra = connect(srv.addr);
        let mut byte = [0u8; 1];
        // Closed at once: EOF (or a reset if our bytes raced the close).
        assert!(matches!((&extra).read(&mut byte), Ok(0) | Err(_)));
    }
    let stats = srv.wait_stats("2 rejected", |s| s.total().rejected_max_conns == 2);
    assert_eq!(stats.total().accepted, 3);
    drop(kept);
    srv.wait_stats("all closed", |s| s.total().active == 0);
    let again = connect(srv.addr);
    assert_eq!(echo(&again, b"room again"), b"room again");
}
