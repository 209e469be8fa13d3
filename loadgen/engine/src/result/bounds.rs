//! What reading a result file may cost, bounded before anything is allocated:
//! results come from other hosts (a shared volume, a pull request's folder), so
//! `merge`, `compare` and the report read them through here.
//!
//! - A result file holds at most [`MAX_RESULT_BYTES`] (16 MiB; an hour's run with
//!   its per-second histograms is about 4 MB): read through a `take`, so
//!   `/dev/zero` or a pipe that never ends costs at most that much.
//! - A histogram (base64 of HdrHistogram V2+DEFLATE) is checked header first: its
//!   compressed length must be what the text holds, it inflates to at most the
//!   bytes a histogram of the run's bounds can take ([`max_payload`]), and its own
//!   bounds are no wider than the run's (1 ns .. 60 s, 3 significant figures), so
//!   the counts array HdrHistogram allocates is never larger than a run's. Its
//!   counts must add up in 64 bits.
//!
//! Invariant: nothing here allocates more than a small multiple of the input's
//! bytes, or of the run's histogram size (about 220 kB of counts).

use std::io::Read as _;
use std::path::Path;

use base64::Engine as _;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

use crate::run::histogram_bounds;

/// The most bytes a result file may hold.
pub const MAX_RESULT_BYTES: u64 = 16 << 20;

/// HdrHistogram's V2 cookie (uncompressed), as its serializer writes it.
const V2_COOKIE: u32 = 0x1c84_9313;
/// HdrHistogram's V2+DEFLATE cookie.
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9314;
/// The V2 header: cookie, payload length, offset, digits, low, high, ratio.
const V2_HEADER: usize = 40;
/// The longest encoding of one count (HdrHistogram's LEB128 of a zig-zag i64).
const MAX_VARINT: usize = 9;

/// A file too large, or one that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: cannot read: {reason}")]
    Read { path: String, reason: String },
    #[error(
        "{path}: larger than {max} MiB, the most a loadgen result holds: give a result written \
         by loadgen --json",
        max = MAX_RESULT_BYTES >> 20
    )]
    TooLarge { path: String },
}

/// The text of the file at `path`, at most [`MAX_RESULT_BYTES`] long; never reads
/// more than one byte past it.
pub fn read_bounded(path: &Path) -> Result<String, ReadError> {
    let shown = path.display().to_string();
    let fail = |e: std::io::Error| ReadError::Read {
        path: shown.clone(),
        reason: crate::errno::os_reason(&e),
    };
    let file = std::fs::File::open(path).map_err(fail)?;
    if file.metadata().map_err(fail)?.len() > MAX_RESULT_BYTES {
        return Err(ReadError::TooLarge { path: shown });
    }
    let mut bytes = Vec::new();
    file.take(MAX_RESULT_BYTES + 1).read_to_end(&mut bytes).map_err(fail)?;
    if bytes.len() as u64 > MAX_RESULT_BYTES {
        return Err(ReadError::TooLarge { path: shown });
    }
    String::from_utf8(bytes).map_err(|e| ReadError::Read {
        path: shown.clone(),
        reason: format!("not UTF-8 text ({e})"),
    })
}

/// The entries of a counts array of the run's histograms (1 ns .. 60 s, 3
/// significant figures): what every bound here is computed from.
fn run_counts_len() -> usize {
    static LEN: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *LEN.get_or_init(|| {
        let (low, high, sigfig) = histogram_bounds();
        Histogram::<u64>::new_with_bounds(low, high, sigfig).map_or(0, |h| h.distinct_values())
    })
}

/// The most bytes a V2 payload of a histogram within the run's bounds holds.
pub fn max_payload() -> usize {
    V2_HEADER + run_counts_len() * MAX_VARINT
}

/// Reads a histogram written by `encode_histogram` (see the module doc for
/// what is checked before anything is allocated).
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, String> {
    let text = text.trim();
    // Deflate never grows data by more than a few bytes per 16 kB block.
    let max_compressed = max_payload() + max_payload() / 1_000 + 64;
    if text.len() > max_compressed.div_ceil(3) * 4 {
        return Err(format!(
            "histogram is {} bytes of base64, more than a histogram of the run's bounds takes",
            text.len()
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("histogram is not base64: {e}"))?;
    let payload = match be_u32(&bytes, 0) {
        Some(V2_DEFLATE_COOKIE) => inflate(&bytes)?,
        Some(V2_COOKIE) => bytes,
        _ => return Err("histogram does not decode: not HdrHistogram V2".to_string()),
    };
    check_header(&payload)?;
    let h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut payload.as_slice())
        .map_err(|e| format!("histogram does not decode: {e:?}"))?;
    let mut total: u64 = 0;
    for v in h.iter_recorded() {
        total = total
            .checked_add(v.count_at_value())
            .ok_or("histogram's counts add up past 2^64: not a histogram loadgen wrote")?;
    }
    Ok(h)
}

/// The V2 payload inside a V2+DEFLATE histogram, inflated no further than
/// [`max_payload`] bytes.
fn inflate(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let declared = be_u32(bytes, 4).ok_or("histogram is cut short")? as usize;
    let body = &bytes[8..];
    if declared > body.len() {
        return Err(format!(
            "histogram declares {declared} compressed bytes but holds {}: cut short or forged",
            body.len()
        ));
    }
    let limit = max_payload();
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(&body[..declared])
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("histogram does not inflate: {e}"))?;
    if out.len() > limit {
        return Err(format!(
            "histogram inflates past {limit} bytes, more than a histogram of the run's bounds \
             holds"
        ));
    }
    Ok(out)
}

/// Refuses a V2 header whose payload or bounds exceed the run's (1 ns .. 60 s,
/// 3 significant figures).
fn check_header(p: &[u8]) -> Result<(), String> {
    let u64_at =
        |at: usize| p.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes);
    let (Some(V2_COOKIE), Some(len), Some(digits), Some(low), Some(high)) =
        (be_u32(p, 0), be_u32(p, 4), be_u32(p, 12), u64_at(16), u64_at(24))
    else {
        return Err("histogram does not decode: its V2 header is cut short".to_string());
    };
    let len = len as usize;
    if len > p.len() - V2_HEADER || len > max_payload() - V2_HEADER {
        return Err(format!(
            "histogram declares a {len}-byte payload, holds {} (at most {} for the run's \
             bounds): cut short or forged",
            p.len() - V2_HEADER,
            max_payload() - V2_HEADER
        ));
    }
    let (run_low, run_high, run_sigfig) = histogram_bounds();
    if digits > u32::from(run_sigfig) || low < run_low || high > run_high {
        return Err(format!(
            "histogram has bounds {low} ns..{high} ns at {digits} significant figures, wider \
             than a run's ({run_low} ns..{run_high} ns at {run_sigfig}): not a histogram loadgen \
             wrote"
        ));
    }
    Ok(())
}

/// The big-endian u32 at `at`, if `b` holds it.
fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).and_then(|s| s.try_into().ok()).map(u32::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::encode_histogram;

    /// The run's highest trackable value.
    const HIGHEST_NS: u64 = 60_000_000_000;
    use hdrhistogram::serialization::{Serializer as _, V2Serializer};
    use std::io::Write as _;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// A V2+DEFLATE histogram around `payload` (the V2 bytes).
    fn deflated(payload: &[u8]) -> String {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(payload).expect("deflate");
        let body = z.finish().expect("deflate");
        let mut out = V2_DEFLATE_COOKIE.to_be_bytes().to_vec();
        out.extend((body.len() as u32).to_be_bytes());
        out.extend(body);
        b64(&out)
    }

    /// A V2 header declaring `len` payload bytes and these bounds.
    fn header(len: u32, digits: u32, low: u64, high: u64) -> Vec<u8> {
        let mut h = V2_COOKIE.to_be_bytes().to_vec();
        h.extend(len.to_be_bytes());
        h.extend(0u32.to_be_bytes());
        h.extend(digits.to_be_bytes());
        h.extend(low.to_be_bytes());
        h.extend(high.to_be_bytes());
        h.extend(1f64.to_be_bytes());
        h
    }

    /// The run's histograms decode exactly, deflated or not; forged headers, a
    /// deflate bomb and bounds wider than a run's are refused by message.
    #[test]
    fn forged_histograms_are_refused_before_allocating() {
        let (low, high, sigfig) = histogram_bounds();
        assert_eq!(high, HIGHEST_NS);
        let mut h = Histogram::<u64>::new_with_bounds(low, high, sigfig).expect("bounds");
        for v in [1, 1_000, 5_000_000, HIGHEST_NS] {
            h.record(v).expect("in bounds");
        }
        assert_eq!(decode_histogram(&encode_histogram(&h).expect("enc")).expect("dec"), h);
        let mut plain = Vec::new();
        V2Serializer::new().serialize(&h, &mut plain).expect("v2");
        assert_eq!(decode_histogram(&b64(&plain)).expect("plain v2"), h);
        let refused = |text: &str, what: &str| {
            let e = decode_histogram(text).expect_err("refused");
            assert!(e.contains(what), "{e}");
        };
        // A payload of 2^31 bytes declared in a header of 40.
        refused(&deflated(&header(1 << 31, 3, 1, HIGHEST_NS)), "declares a 2147483648-byte");
        // 64 MiB of zeros behind a valid header: inflation stops at the bound.
        let mut bomb = header(64 << 20, 3, 1, HIGHEST_NS);
        bomb.resize(bomb.len() + (64 << 20), 0);
        refused(&deflated(&bomb), "inflates past");
        refused(&deflated(&header(0, 5, 1, HIGHEST_NS)), "wider than a run's");
        refused(&deflated(&header(0, 3, 1, u64::MAX / 2)), "wider than a run's");
        let mut lying = V2_DEFLATE_COOKIE.to_be_bytes().to_vec();
        lying.extend(u32::MAX.to_be_bytes());
        lying.extend([0x78, 0x9c]);
        refused(&b64(&lying), "declares 4294967295 compressed bytes");
        refused(&"A".repeat(4 << 20), "bytes of base64");
        refused(&b64(&[0, 1, 2]), "not HdrHistogram V2");
        // Three counts of i64::MAX each add up past 2^64.
        let mut counts = header(3 * 9, 3, 1, HIGHEST_NS);
        for _ in 0..3 {
            // zig-zag of i64::MAX is u64::MAX - 1: nine bytes of LEB128.
            counts.extend([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        }
        refused(&deflated(&counts), "add up past 2^64");
    }
}
