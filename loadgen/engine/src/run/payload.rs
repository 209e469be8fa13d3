//! The message layout, and checking echoed bytes without storing what was sent.
//!
//! A message of `size` bytes (at least [`HEADER_LEN`]) is:
//!
//! | bytes  | content                                   |
//! |--------|-------------------------------------------|
//! | 0..4   | connection id, u32 little-endian          |
//! | 4..12  | sequence number on that connection, u64 LE |
//! | 12..16 | the message size, u32 LE                  |
//! | 16..   | `pattern[offset(id, seq)..]`              |
//!
//! The body is a window into one pseudo-random [`Pattern`] table shared by every
//! connection of a thread; the window's start depends on (id, seq), so a byte moved
//! between messages or connections, a lost byte or a flipped bit all show up. Any
//! byte range of any message can be produced or checked from (id, seq, offset)
//! alone: sending is a `writev` of the header and a slice of the table, checking is
//! a `memcmp` against the same slice. Nothing is allocated per message.

/// Bytes of the header (id, seq, size).
pub const HEADER_LEN: usize = 16;

/// How many distinct body offsets the pattern table provides.
const WINDOWS: usize = 251;

/// The header of message `seq` on connection `id`.
#[inline]
pub fn header(id: u32, seq: u64, size: usize) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(&id.to_le_bytes());
    h[4..12].copy_from_slice(&seq.to_le_bytes());
    h[12..16].copy_from_slice(&(size as u32).to_le_bytes());
    h
}

/// The (connection id, sequence number, size) a message's first bytes carry;
/// `None` when fewer than [`HEADER_LEN`] bytes are given. A UDP answer is read
/// this way to find which datagram it answers before its bytes are checked.
#[inline]
pub fn read_header(bytes: &[u8]) -> Option<(u32, u64, u32)> {
    let h = bytes.get(..HEADER_LEN)?;
    let id = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let seq = u64::from_le_bytes([h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11]]);
    let size = u32::from_le_bytes([h[12], h[13], h[14], h[15]]);
    Some((id, seq, size))
}

/// The pseudo-random body bytes every message is cut from; one per worker thread.
pub struct Pattern {
    /// `size - HEADER_LEN + WINDOWS` pseudo-random bytes (the same on every thread).
    bytes: Vec<u8>,
    /// Message size in bytes, header included.
    size: usize,
}

impl Pattern {
    /// Builds the table for messages of `size` bytes (`size >= HEADER_LEN`).
    pub fn new(size: usize) -> Self {
        let body = size.saturating_sub(HEADER_LEN);
        let mut bytes = vec![0u8; body + WINDOWS];
        // xorshift64*: deterministic, so every thread and process agrees.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for chunk in bytes.chunks_mut(8) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Self { bytes, size }
    }

    /// Message size in bytes.
    #[inline]
    pub fn size(&self) -> usize {
        self.size
    }

    /// The body of message (id, seq): `size - HEADER_LEN` bytes.
    #[inline]
    pub fn body(&self, id: u32, seq: u64) -> &[u8] {
        let mix = (u64::from(id).wrapping_mul(0x9E37_79B1)) ^ seq.wrapping_mul(0x85EB_CA6B);
        let start = (mix % WINDOWS as u64) as usize;
        &self.bytes[start..start + self.size - HEADER_LEN]
    }

    /// Checks `got`, which must be bytes `offset..offset + got.len()` of message
    /// (id, seq) and lie within it. Returns the offset of the first wrong byte.
    #[inline]
    pub fn check(&self, id: u32, seq: u64, offset: usize, got: &[u8]) -> Option<usize> {
        let end = offset + got.len();
        debug_assert!(end <= self.size);
        let mut pos = offset;
        if pos < HEADER_LEN {
            let h = header(id, seq, self.size);
            let upto = end.min(HEADER_LEN);
            if let Some(i) = first_diff(&h[pos..upto], &got[..upto - pos]) {
                return Some(pos + i);
            }
            pos = upto;
        }
        if pos < end {
            let body = &self.body(id, seq)[pos - HEADER_LEN..end - HEADER_LEN];
            if let Some(i) = first_diff(body, &got[pos - offset..]) {
                return Some(pos + i);
            }
        }
        None
    }

    /// Writes the whole message (id, seq) into `out` (`out.len() == size`); tests
    /// and the bench helpers use it, the hot path sends header and body directly.
    pub fn fill(&self, id: u32, seq: u64, out: &mut [u8]) {
        out[..HEADER_LEN].copy_from_slice(&header(id, seq, self.size));
        out[HEADER_LEN..].copy_from_slice(self.body(id, seq));
    }
}

/// Index of the first differing byte; the equal case is one `memcmp`.
#[inline]
fn first_diff(want: &[u8], got: &[u8]) -> Option<usize> {
    if want == got {
        return None;
    }
    want.iter().zip(got).position(|(a, b)| a != b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole message checks clean at every split point; any flipped byte is found
    /// at its offset.
    #[test]
    fn check_finds_every_flipped_byte() {
        for size in [16usize, 17, 64, 1000] {
            let p = Pattern::new(size);
            let mut msg = vec![0u8; size];
            p.fill(7, 42, &mut msg);
            for split in 0..=size {
                assert_eq!(p.check(7, 42, 0, &msg[..split]), None);
                assert_eq!(p.check(7, 42, split, &msg[split..]), None);
            }
            for i in 0..size {
                let mut bad = msg.clone();
                bad[i] ^= 0x01;
                assert_eq!(p.check(7, 42, 0, &bad), Some(i), "size {size} byte {i}");
            }
        }
    }

    /// A header reads back as it was written; a short one does not read.
    #[test]
    fn header_reads_back() {
        assert_eq!(read_header(&header(7, 1 << 40, 65_507)), Some((7, 1 << 40, 65_507)));
        assert_eq!(read_header(&[0u8; HEADER_LEN - 1]), None);
    }

    /// Messages of other connections or sequence numbers do not pass as this one.
    #[test]
    fn other_messages_do_not_match() {
        let p = Pattern::new(64);
        let mut a = vec![0u8; 64];
        p.fill(1, 5, &mut a);
        assert!(p.check(1, 6, 0, &a).is_some());
        assert!(p.check(2, 5, 0, &a).is_some());
        // The bodies alone differ too (a header-preserving mix-up is still caught).
        assert_ne!(p.body(1, 5), p.body(1, 6));
    }
}
