//! The ephemeral-port limit in time (churn, `--lifetime`): a connection the client
//! closes first (`--close fin`) keeps its four-tuple in TIME_WAIT for 60 s on the
//! client's side, and its port with it, so one family (source address,
//! destination address and port) sustains at most `ports / 60 s` new connections
//! per second, unless the kernel reuses TIME_WAIT ports for new outgoing
//! connections: `net.ipv4.tcp_tw_reuse` 1 (always) or 2 (loopback only, Linux's
//! default), after `net.ipv4.tcp_tw_reuse_delay` (1 s by default). An RST close
//! (`--close rst`) leaves no TIME_WAIT: ports bound only what is open at once.
//!
//! [`predict`] is the arithmetic; [`render`] the preflight's lines with what to
//! change.

use std::fmt::Write as _;

use crate::run::churn::CloseMode;

/// How long Linux keeps a closed connection in TIME_WAIT (TCP_TIMEWAIT_LEN).
pub const TIME_WAIT_S: f64 = 60.0;
/// `net.ipv4.tcp_tw_reuse_delay` where the kernel has none (its default, ms).
pub const REUSE_DELAY_MS: u64 = 1000;

/// What limits the new-connection rate of a churning run.
#[derive(Clone, Debug, PartialEq)]
pub struct PortTime {
    /// How long a closed connection's port stays taken, seconds (0: not at all).
    pub held_s: f64,
    /// Why (the close mode and sysctls that decide it).
    pub why: String,
    /// New connections per second each family sustains (None: no port limit).
    pub per_family: Option<f64>,
    /// The same over every family.
    pub total: Option<f64>,
}

/// The sustainable rate of `families` families of `ports` usable ports each,
/// closing with `close`, under `tw_reuse` (`net.ipv4.tcp_tw_reuse`, None when
/// unreadable: taken as 0) and `reuse_delay_ms`, toward a loopback target or not.
pub fn predict(
    close: CloseMode,
    (tw_reuse, reuse_delay_ms): (Option<u64>, u64),
    loopback: bool,
    (ports, families): (u64, u64),
) -> PortTime {
    let (held_s, why) = match (close, tw_reuse.unwrap_or(0)) {
        (CloseMode::Rst, _) => (0.0, "--close rst: no TIME_WAIT".to_string()),
        (CloseMode::Fin, 1) => (
            reuse_delay_ms as f64 / 1000.0,
            format!("tcp_tw_reuse=1: a TIME_WAIT port is reused after {reuse_delay_ms} ms"),
        ),
        (CloseMode::Fin, 2) if loopback => (
            reuse_delay_ms as f64 / 1000.0,
            format!(
                "tcp_tw_reuse=2 on loopback: a TIME_WAIT port is reused after {reuse_delay_ms} ms"
            ),
        ),
        (CloseMode::Fin, reuse) => (
            TIME_WAIT_S,
            format!("--close fin with tcp_tw_reuse={reuse}: each port waits {TIME_WAIT_S:.0} s in TIME_WAIT"),
        ),
    };
    let per_family = (held_s > 0.0).then(|| ports as f64 / held_s);
    PortTime { held_s, why, per_family, total: per_family.map(|r| r * families as f64) }
}

/// The preflight's lines on churn: the rate the ports sustain and what to change
/// to go past it.
pub fn render(p: &PortTime, ports: u64, families: u64) -> String {
    let mut s = String::new();
    let Some(total) = p.total else {
        let _ = writeln!(
            s,
            "  churn: {}: ports bound only the connections open at once, not their rate",
            p.why
        );
        return s;
    };
    let _ = writeln!(
        s,
        "  churn: {}: at most {ports} / {} s = {:.0} new connections/s per family × {families} \
         = {total:.0}/s; past it connect() fails with EADDRNOTAVAIL",
        p.why,
        p.held_s,
        p.per_family.unwrap_or(0.0),
    );
    if p.held_s >= TIME_WAIT_S {
        let _ = writeln!(
            s,
            "  to go faster: --close rst (no TIME_WAIT), more families (--src 127.0.0.2-127.0.0.9 \
             or more --target), or sysctl net.ipv4.tcp_tw_reuse=1"
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The arithmetic: 28,232 ports / 60 s ≈ 470/s per family with FIN
    /// closes and no reuse; 28,232/s with reuse after 1 s; no limit with RST;
    /// tcp_tw_reuse=2 reuses on loopback only.
    #[test]
    fn the_rate_ports_sustain() {
        let fin = predict(CloseMode::Fin, (Some(0), 1000), true, (28_232, 1));
        assert_eq!(fin.held_s, 60.0);
        assert!((fin.per_family.expect("limited") - 470.53).abs() < 0.01);
        let eight = predict(CloseMode::Fin, (Some(0), 1000), true, (28_232, 8));
        assert!((eight.total.expect("limited") - 8.0 * 470.53).abs() < 0.1);
        let reuse = predict(CloseMode::Fin, (Some(1), 1000), false, (28_232, 1));
        assert_eq!(reuse.per_family, Some(28_232.0));
        let loopback = predict(CloseMode::Fin, (Some(2), 1000), true, (28_232, 1));
        assert_eq!(loopback.per_family, Some(28_232.0));
        let remote = predict(CloseMode::Fin, (Some(2), 1000), false, (28_232, 1));
        assert_eq!(remote.held_s, 60.0);
        let rst = predict(CloseMode::Rst, (Some(0), 1000), true, (28_232, 1));
        assert_eq!((rst.per_family, rst.total), (None, None));
        assert!(render(&fin, 28_232, 1).contains("--close rst"));
        assert!(render(&rst, 28_232, 1).contains("not their rate"));
    }
}
