//! What the kernel counted over a run (`kernel` in the result): the network
//! namespace's TCP counters before and after, the reasons a connection is
//! established on the client's side but never served — the server's accept queue
//! overflowed (ListenOverflows, ListenDrops), the handshake finished with a SYN
//! cookie (SyncookiesSent), memory pressure (TCPMemoryPressures, TCPAbortOnMemory)
//! — and the sockets in TIME_WAIT and orphaned at the end. Machine-wide within the
//! namespace: with a local server, both sides' counts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The TcpExt counters a run reports, with what each one means.
pub const COUNTERS: [(&str, &str); 6] = [
    ("ListenOverflows", "a connection completed while the server's accept queue was full"),
    ("ListenDrops", "a SYN or completed connection dropped at a listener"),
    ("SyncookiesSent", "the SYN queue was full: the handshake went on with a SYN cookie"),
    ("SyncookiesFailed", "a SYN cookie came back invalid"),
    ("TCPMemoryPressures", "TCP entered memory pressure (net.ipv4.tcp_mem)"),
    ("TCPAbortOnMemory", "a connection was aborted for lack of memory (or orphans)"),
];

/// The kernel's counts over one run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct KernelCounts {
    /// Each of [`COUNTERS`]: its increase from the start of the run to its end.
    pub tcp_ext: BTreeMap<String, u64>,
    /// Sockets in TIME_WAIT at the end (/proc/net/sockstat).
    pub time_wait_at_end: u64,
    /// Orphaned sockets at the end (closed by their process, still finishing).
    pub orphans_at_end: u64,
}

impl KernelCounts {
    /// The increases between two TcpExt readings, for the counters run reports.
    pub fn between(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> Self {
        let tcp_ext = COUNTERS
            .iter()
            .filter_map(|(name, _)| {
                let (a, b) = (before.get(*name)?, after.get(*name)?);
                Some((name.to_string(), b.saturating_sub(*a)))
            })
            .collect();
        Self { tcp_ext, ..Default::default() }
    }

    /// The counters that rose, each with what it means: the summary's lines.
    pub fn risen(&self) -> Vec<String> {
        COUNTERS
            .iter()
            .filter_map(|(name, meaning)| {
                let n = *self.tcp_ext.get(*name)?;
                (n > 0).then(|| format!("{name} +{n}: {meaning}"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Increases only, of the counters reported; the risen ones say what they mean.
    #[test]
    fn increases_and_meanings() {
        let before: BTreeMap<String, u64> =
            [("ListenOverflows", 10), ("SyncookiesSent", 5), ("TW", 1)]
                .map(|(k, v)| (k.into(), v))
                .into();
        let after: BTreeMap<String, u64> =
            [("ListenOverflows", 9708), ("SyncookiesSent", 5), ("TW", 9)]
                .map(|(k, v)| (k.into(), v))
                .into();
        let k = KernelCounts::between(&before, &after);
        assert_eq!(k.tcp_ext.get("ListenOverflows"), Some(&9698));
        assert_eq!(k.tcp_ext.get("SyncookiesSent"), Some(&0));
        assert!(!k.tcp_ext.contains_key("TW"));
        let lines = k.risen();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("ListenOverflows +9698: a connection completed"), "{lines:?}");
    }
}
