//! The listeners each model gives its workers. `reuseport` and `threads`: one
//! SO_REUSEPORT listener per worker on the same port, the kernel choosing a worker per
//! connection by four-tuple hash. `shared` (the classic model, kept for comparison):
//! one listener, duplicated into every worker's poll, so every worker wakes for every
//! new connection and all but one find the queue empty.

use std::net::{SocketAddr, TcpListener};

use super::{Config, Model, ServerError};
use common::net;

/// Binds the listeners for `config`: one per worker, all listening on return.
pub(crate) fn bind_listeners(config: &Config) -> Result<Vec<TcpListener>, ServerError> {
    let addr = config.addr();
    if addr.port() != 0 && !config.allow_shared_port {
        // Refuse a port someone holds, even with SO_REUSEPORT (which would let us in).
        net::probe_port(addr).map_err(|e| ServerError::from_bind(addr, e))?;
    }
    let bind = |a: SocketAddr, reuse_port: bool| {
        net::listener(a, config.backlog, reuse_port).map_err(|e| ServerError::from_bind(a, e))
    };
    match config.model {
        Model::Reuseport | Model::Threads | Model::Uring => {
            let first = bind(addr, true)?;
            // With --port 0 the kernel picked the port; the others join that one.
            let port = first.local_addr().map_err(|e| ServerError::Bind { addr, source: e })?;
            let mut all = vec![first];
            for _ in 1..config.workers {
                all.push(bind(port, true)?);
            }
            Ok(all)
        }
        Model::Shared => {
            // Across --processes children the one listener per process still shares.
            let one = bind(addr, config.allow_shared_port)?;
            let mut all = Vec::with_capacity(config.workers);
            for _ in 1..config.workers {
                all.push(one.try_clone().map_err(|e| ServerError::Bind { addr, source: e })?);
            }
            all.push(one);
            Ok(all)
        }
    }
}
