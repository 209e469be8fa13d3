//! Connection churn (`--lifetime`): a TCP connection lives for N messages or a
//! duration (each drawn within `--lifetime-jitter`), then closes the way `--close`
//! says and a new connection from the same source to the same target takes its
//! slot, so `--conns` stay open while connections come and go. These are the
//! settings and their flags' rules; a worker's churn state is `churn_book`.
//!
//! - `fin`: the client closes first (close(): FIN), so the client's side of the
//!   four-tuple waits in TIME_WAIT (60 s on Linux) and its port stays taken.
//! - `rst`: the client sets SO_LINGER 0 before close(): an RST, no TIME_WAIT on
//!   either side, the port free at once.
//!
//! Churn runs a closed loop over TCP: `config` refuses it with `--rate` or
//! `--proto udp`.

use std::time::Duration;

/// How long a connection lives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lifetime {
    /// This many messages echoed, then it closes (1: connect, one echo, close).
    Messages(u64),
    /// This long from established, then it closes after the echo in flight.
    Time(Duration),
}

impl std::fmt::Display for Lifetime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lifetime::Messages(n) => write!(f, "{n}"),
            Lifetime::Time(d) => f.write_str(&super::values::fmt_duration(*d)),
        }
    }
}

/// Who closes a connection at the end of its life, and how.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseMode {
    /// The client closes first (FIN): TIME_WAIT on the client's side.
    #[default]
    Fin,
    /// The client resets (SO_LINGER 0, then close: RST): no TIME_WAIT.
    Rst,
}

impl std::fmt::Display for CloseMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CloseMode::Fin => "fin",
            CloseMode::Rst => "rst",
        })
    }
}

/// The churn settings of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Churn {
    /// How long a connection lives.
    pub lifetime: Lifetime,
    /// Each lifetime is drawn uniformly within ± this fraction of it (0 to 1).
    pub jitter: f64,
    /// How a connection closes at the end of its life.
    pub close: CloseMode,
}

/// Longest lifetime by time.
const MAX_LIFETIME: Duration = Duration::from_secs(3600);

/// Parses `--lifetime`: a number of messages (`100`; `1` = connect, one echo,
/// close) or a duration (`500ms`, `2s`).
pub fn parse_lifetime(text: &str) -> Result<Lifetime, String> {
    let t = text.trim();
    let fix = "use a number of messages (e.g. 100; 1 = connect, one echo, close) or a \
               duration (e.g. 500ms)";
    if let Ok(n) = t.parse::<u64>() {
        return lifetime_rule(Lifetime::Messages(n));
    }
    let d = common::units::parse_duration(t).map_err(|e| format!("{e}; {fix}"))?;
    lifetime_rule(Lifetime::Time(d))
}

/// The rule of `--lifetime`: at least one message, or 1 ms to 1 h.
pub fn lifetime_rule(l: Lifetime) -> Result<Lifetime, String> {
    match l {
        Lifetime::Messages(0) => {
            Err("a connection lives for at least 1 message (1 = connect, one echo, close)".into())
        }
        Lifetime::Time(d) if d < Duration::from_millis(1) || d > MAX_LIFETIME => {
            Err("use a duration from 1ms to 1h (or a number of messages)".into())
        }
        ok => Ok(ok),
    }
}

/// Parses `--lifetime-jitter`: a percentage from 0 to 100 (`20%` or `20`).
pub fn parse_jitter(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let pct: f64 = t.strip_suffix('%').unwrap_or(t).trim().parse().map_err(|_| {
        format!("'{text}' is not a percentage: use 0 to 100, e.g. 20% (lifetimes ±20%)")
    })?;
    jitter_rule(pct / 100.0)
}

/// The rule of `--lifetime-jitter`, as a fraction.
pub fn jitter_rule(fraction: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&fraction) {
        Ok(fraction)
    } else {
        Err("use a percentage from 0 to 100, e.g. 20% (lifetimes ±20%)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lifetimes parse as messages or durations; 0, junk and out-of-range
    /// durations name the fix; jitter is a percentage.
    #[test]
    fn parsing() {
        assert_eq!(parse_lifetime("100"), Ok(Lifetime::Messages(100)));
        assert_eq!(parse_lifetime(" 1 "), Ok(Lifetime::Messages(1)));
        assert_eq!(parse_lifetime("500ms"), Ok(Lifetime::Time(Duration::from_millis(500))));
        assert!(parse_lifetime("0").unwrap_err().contains("at least 1 message"));
        assert!(parse_lifetime("2h").unwrap_err().contains("1ms to 1h"));
        assert!(parse_lifetime("soon").unwrap_err().contains("number of messages"));
        assert_eq!(parse_jitter("20%"), Ok(0.2));
        assert_eq!(parse_jitter("0"), Ok(0.0));
        assert!(parse_jitter("150%").is_err() && parse_jitter("x").is_err());
        assert_eq!(Lifetime::Messages(5).to_string(), "5");
    }
}
