//! The run's histograms: one set of bounds for all of them (1 ns .. 60 s, 3
//! significant figures), recording, and their serde form. Invariant: every
//! histogram of a run has these bounds, also one read back from its serde form, so
//! `Histogram::add` between any two never fails.
//!
//! HdrHistogram has no serde on purpose; [`as_base64`] writes a histogram as base64
//! of its V2+DEFLATE serialization (what the result's JSON carries, see
//! [`crate::result::encode_histogram`]) and reads it back into the run's bounds.

use hdrhistogram::Histogram;

/// Highest latency a histogram tracks: 60 s in nanoseconds (larger values saturate).
pub const HIGHEST_NS: u64 = 60_000_000_000;
/// Significant figures kept by every histogram.
pub const SIGFIG: u8 = 3;

/// A fresh histogram with the run's bounds (1 ns .. 60 s, 3 significant figures).
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that HdrHistogram accepts; `expect` cannot fire.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, HIGHEST_NS, SIGFIG).expect("constant histogram bounds")
}

/// The bounds every histogram of a run has: lowest discernible value, highest
/// trackable value, significant figures (what a result's histograms must match to
/// be merged).
pub fn histogram_bounds() -> (u64, u64, u8) {
    let h = new_histogram();
    (h.low(), h.high(), h.sigfig())
}

/// Records `ns` (at least 1, at most [`HIGHEST_NS`]).
#[inline]
pub fn record(h: &mut Histogram<u64>, ns: u64) {
    h.saturating_record(ns.max(1));
}

/// `#[serde(with = "as_base64")]`: a histogram as base64 of HdrHistogram V2+DEFLATE,
/// read back into the run's bounds.
pub mod as_base64 {
    use hdrhistogram::Histogram;
    use serde::de::Error as _;
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::result::{decode_histogram, encode_histogram};

    /// Writes `h` as one base64 string.
    pub fn serialize<S: Serializer>(h: &Histogram<u64>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode_histogram(h).map_err(S::Error::custom)?)
    }

    /// Reads a histogram written by [`serialize`], re-bounded to the run's bounds so
    /// merges never fail.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Histogram<u64>, D::Error> {
        let text = String::deserialize(d)?;
        let read = decode_histogram(&text).map_err(D::Error::custom)?;
        let mut h = super::new_histogram();
        h.add(read).map_err(|e| D::Error::custom(format!("histogram out of bounds: {e:?}")))?;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Holder {
        #[serde(with = "as_base64")]
        h: Histogram<u64>,
    }

    /// A histogram goes through JSON and back exactly, in the run's bounds; a
    /// string that is not one is refused.
    #[test]
    fn round_trip_through_json() {
        let mut h = new_histogram();
        for ns in [1, 999, 1_000_000, HIGHEST_NS * 2] {
            record(&mut h, ns);
        }
        let text = serde_json::to_string(&Holder { h: h.clone() }).expect("serialize");
        let back: Holder = serde_json::from_str(&text).expect("deserialize");
        assert_eq!(back.h, h);
        assert_eq!((back.h.high(), back.h.sigfig()), (HIGHEST_NS, SIGFIG));
        assert!(serde_json::from_str::<Holder>(r#"{"h":"not base64!"}"#).is_err());
    }
}
