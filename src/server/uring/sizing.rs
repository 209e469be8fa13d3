//! The sizes of a `--model uring` worker's ring and buffers for a `--buffer`, the
//! bounds on what one connection makes it hold, and the start-up line that says
//! them. Numbers only: `ring` builds with them, `conn` keeps to them.

use super::conn::Bounds;
use super::ring::Sizes;
use super::setup::Features;

/// Bytes per provided buffer (at most `--buffer`).
pub(crate) const BUFFER_SIZE: usize = 4096;
/// Provided buffers per worker: buffers are held only while their bytes are on the
/// way back, so this bounds bytes in flight, not connections.
pub(crate) const BUFFERS: u16 = 2048;
/// The most buffers one connection may hold (a sixteenth of the pool, 512 KiB of
/// 4 KiB buffers): a larger `--buffer` is bounded by this too.
pub(crate) const MOST_HELD: u8 = 128;

/// The ring's sizes for a `--buffer` of `buffer` bytes.
pub(crate) fn sizes(buffer: usize) -> Sizes {
    let buffer_size = buffer.clamp(1, BUFFER_SIZE) as u32;
    Sizes { sq: 4096, cq: 16384, buffers: BUFFERS, buffer_size }
}

/// The multishot receive's byte limit for `--buffer` (`None` without the
/// kernel's limit): after it, the last receive adds at most one buffer less one
/// byte, so the bytes held for a peer never pass `--buffer`.
pub(crate) fn recv_limit(features: &Features, buffer: usize) -> Option<u32> {
    let buffer = u32::try_from(buffer).unwrap_or(u32::MAX);
    let size = sizes(buffer as usize).buffer_size;
    features.recv_limit.then(|| buffer - size + 1)
}

/// How many buffers one connection may hold for `--buffer`: as many as `--buffer`
/// bytes fill (so a peer whose bytes come in whole buffers is bounded by bytes as
/// before), at least 1, at most [`MOST_HELD`].
pub(crate) fn held_cap(buffer: usize) -> u8 {
    let size = sizes(buffer).buffer_size as usize;
    let fill = buffer.div_ceil(size).clamp(1, usize::from(MOST_HELD));
    u8::try_from(fill).unwrap_or(MOST_HELD)
}

/// Both bounds on what one connection makes the worker hold.
pub(crate) fn bounds(features: &Features, buffer: usize) -> Bounds {
    Bounds { limit: recv_limit(features, buffer), cap: held_cap(buffer), paused: false }
}

/// The start-up line: what io_uring gives the workers, and their buffers.
pub fn line(features: &Features, buffer: usize) -> String {
    let s = sizes(buffer);
    let pool = common::units::fmt_bytes(f64::from(s.buffers) * f64::from(s.buffer_size));
    features.line(&format!(
        "{} provided buffers of {} bytes per worker ({pool}), at most {} held per connection",
        s.buffers,
        s.buffer_size,
        held_cap(buffer)
    ))
}

#[cfg(test)]
mod tests {
    use super::super::setup::Setup;
    use super::*;

    /// The limit plus one last buffer (less a byte) is `--buffer`: the most bytes a
    /// connection can hold; no limit without the kernel's.
    #[test]
    fn receive_limit_keeps_the_buffer_bound() {
        let with = Features {
            setup: Setup::DeferTaskrun,
            recv_limit: true,
            ring_fd: true,
            fixed_listener: true,
        };
        for buffer in [1usize, 100, 4096, 16 * 1024, 64 * 1024, 1 << 30] {
            let size = sizes(buffer).buffer_size;
            let limit = recv_limit(&with, buffer).expect("a limit");
            assert!(limit >= 1);
            assert_eq!(u64::from(limit) - 1 + u64::from(size), buffer as u64, "{buffer}");
        }
        let without = Features { recv_limit: false, ..with };
        assert_eq!(recv_limit(&without, 64 * 1024), None);
    }

    /// The buffer cap is what `--buffer` fills, at least one buffer, at most
    /// [`MOST_HELD`]; it fits the pool many times over.
    #[test]
    fn buffer_cap_follows_the_buffer_within_the_pool() {
        assert_eq!(held_cap(1), 1);
        assert_eq!(held_cap(4096), 1);
        assert_eq!(held_cap(4097), 2);
        assert_eq!(held_cap(64 * 1024), 16);
        assert_eq!(held_cap(1 << 30), MOST_HELD);
        assert!(usize::from(MOST_HELD) * 8 <= usize::from(BUFFERS));
    }
}
