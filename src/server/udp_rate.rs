//! `--udp-rate-limit`: a token bucket per source (address and port), so no sender
//! gets more than N answers a second from a worker. Its purpose is the loop: one
//! forged datagram between two echo services bounces with one datagram in flight,
//! as fast as the round trip allows; once a bucket is empty one datagram is not
//! answered and the loop is over. So a loop faster than N a second stops within
//! about the bucket's depth (N / 10, at least 1) of datagrams; a slower one is held
//! to N a second. A reflector's victim gets at most N answers a second per source
//! port it is forged from.
//!
//! Invariants: memory is fixed ([`SOURCES`] buckets per UDP worker, allocated at
//! start); a source maps to one bucket by hash, and a source that finds another
//! in its bucket takes it over with a full bucket (so a spray of sources cannot
//! grow the table: it only forgets). One clock reading per batch, not per datagram.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::time::Instant;

/// Buckets per UDP worker.
pub(crate) const SOURCES: usize = 1024;

/// One source's bucket.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// The source it counts (`None`: free).
    source: Option<SocketAddr>,
    /// Answers it may still send now.
    tokens: f64,
    /// When `tokens` was last brought up to date, in seconds since the limiter began.
    at: f64,
}

/// A worker's per-source limit.
#[derive(Debug)]
pub(crate) struct RateLimit {
    /// Answers per second per source.
    rate: f64,
    /// The bucket's depth: the most answers in a burst.
    depth: f64,
    /// The buckets, by source hash.
    buckets: Box<[Bucket]>,
    /// The hash (keyed per process, so a sender cannot aim at one bucket).
    hasher: RandomState,
    /// The limiter's time zero.
    start: Instant,
}

impl RateLimit {
    /// `rate` answers per second per source, in bursts of at most a tenth of it.
    pub(crate) fn new(rate: u32) -> RateLimit {
        let rate = f64::from(rate.max(1));
        let empty = Bucket { source: None, tokens: 0.0, at: 0.0 };
        RateLimit {
            rate,
            depth: (rate / 10.0).max(1.0),
            buckets: vec![empty; SOURCES].into_boxed_slice(),
            hasher: RandomState::new(),
            start: Instant::now(),
        }
    }

    /// Seconds since the limiter began, for [`Self::allow`]: read once per batch.
    pub(crate) fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Whether `source` may be answered at `now`; takes a token if so.
    pub(crate) fn allow(&mut self, source: SocketAddr, now: f64) -> bool {
        let i = (self.hasher.hash_one(source) as usize) % SOURCES;
        let b = &mut self.buckets[i];
        if b.source != Some(source) {
            *b = Bucket { source: Some(source), tokens: self.depth, at: now };
        }
        b.tokens = (b.tokens + (now - b.at).max(0.0) * self.rate).min(self.depth);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst gets the bucket's depth, then nothing until time refills it; another
    /// source has its own bucket.
    #[test]
    fn burst_then_refill() {
        let mut limit = RateLimit::new(100); // depth 10
        let a: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
        let b: SocketAddr = "127.0.0.1:40001".parse().expect("addr");
        let answered = (0..50).filter(|_| limit.allow(a, 1.0)).count();
        assert_eq!(answered, 10);
        assert!(limit.allow(b, 1.0));
        assert!(!limit.allow(a, 1.0));
        assert!(limit.allow(a, 1.05), "5 tokens back after 50 ms at 100/s");
    }

    /// A loop (one datagram in flight, as fast as the round trip) at 10 times the
    /// rate stops within the depth's worth of datagrams and a few more.
    #[test]
    fn a_fast_loop_stops() {
        let mut limit = RateLimit::new(1000); // depth 100
        let peer: SocketAddr = "127.0.0.1:12001".parse().expect("addr");
        let mut bounced = 0u32;
        while limit.allow(peer, f64::from(bounced) / 10_000.0) {
            bounced += 1;
            assert!(bounced < 1000, "the loop did not stop");
        }
        assert!((100..=112).contains(&bounced), "{bounced}");
    }
}
