//! The port is free the moment echod has exited, in every model: a plain listener
//! (no SO_REUSEPORT) binds it right after the exit status is reaped. `--model
//! uring` used to keep it bound for tens of milliseconds more (the kernel tore the
//! ring, which still held the listener, down after the process), so a restart on
//! the same port failed with "already in use".

use std::net::{SocketAddr, TcpListener};

use echod::server::Model;

use crate::common::process::{spawn, LOCAL};
use crate::common::{connect, echo, models};

/// Starts echod of `model`, echoes once on a client kept open, stops it with
/// SIGTERM and waits for its exit; returns the address it listened on.
fn run_and_stop(model: Model, processes: &str) -> SocketAddr {
    let mut args = LOCAL.to_vec();
    args.extend(["--model", model.name(), "--workers", "2", "--processes", processes]);
    let mut echod = spawn(&args);
    let addr = echod.ready();
    let client = connect(addr);
    assert_eq!(echo(&client, b"port"), b"port");
    echod.signal("-TERM");
    assert!(echod.wait().success(), "{model:?}: {:?}", echod.stderr_lines());
    drop(client);
    addr
}

/// Right after echod's exit is reaped, a plain listener binds its port (every
/// model; uring several times, as its release used to race the exit, and once
/// with `--processes 2`).
#[test]
fn port_is_free_once_echod_has_exited() {
    for model in models() {
        let tries = if model == Model::Uring { 6 } else { 1 };
        for attempt in 0..tries {
            let addr = run_and_stop(model, "1");
            let bound = TcpListener::bind(addr);
            assert!(bound.is_ok(), "{model:?} try {attempt}: {addr} still bound: {bound:?}");
        }
    }
    if models().contains(&Model::Uring) {
        let addr = run_and_stop(Model::Uring, "2");
        let bound = TcpListener::bind(addr);
        assert!(bound.is_ok(), "uring, 2 processes: {addr} still bound: {bound:?}");
    }
}
