//! The run's layout, which connection goes where: every connection's parameters
//! ([`ConnSpec`]: its id, target and source address) and the split of connections
//! over worker threads. Kept apart from the connect procedure so that fanning out
//! over source addresses or processes changes only this layout.

use std::net::SocketAddr;

use super::config::Config;
use crate::limits::budget::family_of;

/// One connection's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnSpec {
    /// Id carried in every message header; unique within the run.
    pub id: u32,
    /// Index into the run's targets.
    pub target_index: u32,
    /// The address to connect to.
    pub target: SocketAddr,
    /// Source address to bind before connecting; `None`: the kernel chooses.
    pub source: Option<SocketAddr>,
}

/// The connections of worker `worker` of `threads`: this process's connections
/// `worker, worker + threads, ...`, so every thread gets a fair share of every
/// family. A connection's global id (unique across the processes of a split run:
/// `id_base + k * id_step`) picks its (source, target) family round-robin, so every
/// family carries an equal share ([`family_of`]).
pub fn worker_specs(config: &Config, worker: usize) -> Vec<ConnSpec> {
    let threads = config.threads.max(1) as u64;
    (worker as u64..config.conns)
        .step_by(threads as usize)
        .map(|k| {
            let id = config.id_base + k * config.id_step.max(1);
            let (s, t) = family_of(id, config.sources.len(), config.targets.len());
            ConnSpec {
                id: id as u32,
                target_index: t as u32,
                target: config.targets[t],
                source: config.sources.get(s).map(|ip| SocketAddr::new(*ip, 0)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection is laid out exactly once; targets alternate.
    #[test]
    fn split_covers_every_connection() {
        let a: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let b: SocketAddr = "127.0.0.2:2".parse().expect("addr");
        let mut c = Config::local_test(a, 7);
        c.targets = vec![a, b];
        c.threads = 3;
        let mut ids: Vec<u32> = (0..3).flat_map(|w| worker_specs(&c, w)).map(|s| s.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..7).collect::<Vec<_>>());
        let w1 = worker_specs(&c, 1);
        assert_eq!(w1.iter().map(|s| s.target).collect::<Vec<_>>(), vec![b, a]);
    }
}
