//! Which connection goes where: every connection's parameters ([`ConnSpec`]: its id,
//! target and, later, its source address) and the split of connections over worker
//! threads. Kept apart from the connect procedure so that fanning out over source
//! addresses or processes changes only this plan.

use std::net::SocketAddr;

use super::args::Config;

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

/// The connections of worker `worker` of `threads`: ids `worker, worker + threads,
/// ...` so every thread gets a fair share of every target.
pub fn worker_specs(config: &Config, worker: usize) -> Vec<ConnSpec> {
    let threads = config.threads.max(1) as u64;
    (worker as u64..config.conns)
        .step_by(threads as usize)
        .map(|i| {
            let t = (i % config.targets.len() as u64) as usize;
            ConnSpec {
                id: i as u32,
                target_index: t as u32,
                target: config.targets[t],
                source: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection is planned exactly once; targets alternate.
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
