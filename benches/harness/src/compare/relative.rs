//! `--relative-to PEER`: echod as a ratio to a peer measured in the same run, so
//! results from different machines can be compared at all. A faster host speeds
//! up echod and its peer alike and the ratio stays; a slower echod moves the ratio
//! whatever the host. (An unchanged build compared by raw figures with a baseline
//! from another host "regressed" 0.33x in one scenario and "improved" 2x in the
//! others; an echod handicapped to 0.37x of its peers read as noise.)
//!
//! Each run of a `peers echod … conns=N` scenario is divided by the run of a
//! `peers PEER… conns=N` scenario in the same folder (one repeat of the suite
//! writes one folder, so the two ran minutes apart on one machine): throughput,
//! latencies and connect rate become ratios, and the run is renamed
//! `peers echod … conns=N ÷ PEER`. Runs without such a partner are left out. The
//! correctness fields stay echod's own.

use std::path::Path;

use super::load::{group, LoadError, Loaded, Side};
use crate::scenario;
use engine::result::RunResult;

/// The derived side: every `peers echod` run of `side` divided by each PEER in
/// `peers` measured beside it. An error when nothing pairs up (named by `path`).
pub fn relative_to(side: &Side, peers: &[String], path: &Path) -> Result<Side, LoadError> {
    let runs: Vec<&Loaded> = side.values().flatten().collect();
    let mut derived = Vec::new();
    for run in &runs {
        let Some(name) = scenario::parse(&run.result.scenario) else { continue };
        if name.tag != "peers" || !name.server.starts_with("echod") {
            continue;
        }
        for peer in peers {
            let partner = runs.iter().find(|other| {
                other.path.parent() == run.path.parent()
                    && scenario::parse(&other.result.scenario).is_some_and(|o| {
                        o.tag == "peers"
                            && o.server.starts_with(peer.as_str())
                            && o.conns == name.conns
                    })
            });
            if let Some(partner) = partner {
                derived.push(Loaded {
                    path: run.path.clone(),
                    rel: run.rel.clone(),
                    cost: run.cost,
                    result: divide(&run.result, &partner.result, peer),
                });
            }
        }
    }
    if derived.is_empty() {
        return Err(LoadError::NoPeerRuns { path: path.to_path_buf(), peers: peers.join(", ") });
    }
    Ok(group(derived))
}

/// `echod` with its compared figures divided by `peer`'s (0 where the peer's is 0).
fn divide(echod: &RunResult, peer: &RunResult, peer_name: &str) -> RunResult {
    let over = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let mut r = echod.clone();
    r.scenario = format!("{} ÷ {peer_name}", echod.scenario);
    r.throughput.msgs_per_sec = over(echod.throughput.msgs_per_sec, peer.throughput.msgs_per_sec);
    let (l, p) = (&mut r.latency_us, &peer.latency_us);
    l.p50 = over(l.p50, p.p50);
    l.p99 = over(l.p99, p.p99);
    l.p999 = over(l.p999, p.p999);
    r.connections.connect_rate_per_sec =
        over(echod.connections.connect_rate_per_sec, peer.connections.connect_rate_per_sec);
    r
}
