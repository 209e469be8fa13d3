//! Units shared by both command lines: parsing sizes (`64`, `1KiB`, `1MiB`) and
//! durations (`10s`, `500ms`), and printing counts, bytes and durations with a unit
//! chosen by magnitude (as hyperfine and oha do).

use std::time::Duration;

/// Why a size or a duration given as text was refused. Each message quotes the
/// text and says what to write instead (clap prints it after the flag's name).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum UnitError {
    /// No number in front.
    #[error("'{0}' is not a size: use a number with an optional unit, e.g. 64, 16KiB, 1MiB")]
    NotASize(String),
    /// More bytes than a u64 holds.
    #[error("'{0}' is too large a size")]
    TooLarge(String),
    /// A unit that is none of B, KiB, MiB, GiB, KB, MB, GB.
    #[error("'{text}' has an unknown unit '{unit}': use B, KiB, MiB or GiB")]
    UnknownUnit { text: String, unit: String },
    /// Not humantime's syntax.
    #[error("'{text}' is not a duration ({source}): use e.g. 10s, 500ms, 2m")]
    NotADuration { text: String, source: humantime::DurationError },
    /// Past [`MAX_DURATION`].
    #[error("'{0}' is longer than a year, the most any duration may be")]
    TooLong(String),
}

/// The value parsers that still return `String` (clap takes either) use `?` on
/// these; their message is the error's line.
impl From<UnitError> for String {
    fn from(e: UnitError) -> String {
        e.to_string()
    }
}

/// Parses a byte size: a plain number, or a number with `B`, `KiB`, `MiB`, `GiB`
/// (binary) or `KB`, `MB`, `GB` (decimal; `k`/`K` alone means KiB). Case-insensitive.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(UnitError::NotASize(text.to_string()));
    }
    let too_large = || UnitError::TooLarge(text.to_string());
    let n: u64 = num.parse().map_err(|_| too_large())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(UnitError::UnknownUnit { text: text.to_string(), unit: other.to_string() })
        }
    };
    n.checked_mul(mult).ok_or_else(too_large)
}

/// The longest duration any flag takes: a year. Longer ones are refused when
/// parsed, so no deadline (`Instant::now() + d`) or sum of durations can overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Parses a duration such as `10s`, `500ms`, `2m` or `1h 30m` (humantime's syntax),
/// at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|source| UnitError::NotADuration { text: text.to_string(), source })?;
    if d > MAX_DURATION {
        return Err(UnitError::TooLong(text.to_string()));
    }
    Ok(d)
}

/// `1234567` -> `1.23M`; below 10,000 the number is printed as it is.
pub fn fmt_count(n: f64) -> String {
    let a = n.abs();
    if a < 10_000.0 {
        if n.fract() == 0.0 {
            format!("{n:.0}")
        } else {
            format!("{n:.1}")
        }
    } else if a < 1e6 {
        format!("{:.1}k", n / 1e3)
    } else if a < 1e9 {
        format!("{:.2}M", n / 1e6)
    } else {
        format!("{:.2}G", n / 1e9)
    }
}

/// Bytes with a binary unit: `512 B`, `1.5 KiB`, `64.0 MiB`.
pub fn fmt_bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut i = 0;
    while v.abs() >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} {}", UNITS[0])
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// A duration given in microseconds, printed in ns, µs, ms or s by magnitude.
pub fn fmt_micros(us: f64) -> String {
    if us < 1.0 {
        format!("{:.0} ns", us * 1e3)
    } else if us < 1_000.0 {
        format!("{us:.1} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain numbers, binary and decimal units parse; junk names the fix.
    #[test]
    fn sizes() {
        assert_eq!(parse_size("64"), Ok(64));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("64kib"), Ok(64 << 10));
        assert_eq!(parse_size("2KB"), Ok(2000));
        assert!(parse_size("").unwrap_err().to_string().contains("not a size"));
        assert_eq!(
            parse_size("12XB").unwrap_err().to_string(),
            "'12XB' has an unknown unit 'xb': use B, KiB, MiB or GiB"
        );
        assert!(matches!(parse_size("-1"), Err(UnitError::NotASize(_))));
        assert!(matches!(parse_size("99999999999999999999GiB"), Err(UnitError::TooLarge(_))));
        assert!(matches!(parse_size("17179869184GiB"), Err(UnitError::TooLarge(_))));
    }

    /// Durations use humantime's syntax.
    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("ten").unwrap_err().to_string().contains("not a duration"));
        // Longer than a year (a deadline that far would overflow with larger
        // values): refused, not a panic later.
        assert_eq!(parse_duration("365days"), Ok(MAX_DURATION));
        assert!(parse_duration("500000000000y")
            .unwrap_err()
            .to_string()
            .contains("longer than a year"));
        assert_eq!(parse_duration("366days"), Err(UnitError::TooLong("366days".into())));
        // What the engine's String value parsers get from `?`: the same line.
        assert_eq!(
            String::from(UnitError::TooLong("1y".into())),
            "'1y' is longer than a year, the most any duration may be"
        );
    }

    /// Units are chosen by magnitude.
    #[test]
    fn formatting() {
        assert_eq!(fmt_count(950.0), "950");
        assert_eq!(fmt_count(12_345.0), "12.3k");
        assert_eq!(fmt_count(2_500_000.0), "2.50M");
        assert_eq!(fmt_bytes(512.0), "512 B");
        assert_eq!(fmt_bytes(1536.0), "1.5 KiB");
        assert_eq!(fmt_micros(0.5), "500 ns");
        assert_eq!(fmt_micros(21.34), "21.3 µs");
        assert_eq!(fmt_micros(2_500.0), "2.50 ms");
        assert_eq!(fmt_micros(3_000_000.0), "3.00 s");
    }
}
