//! The values of a run's flags as types, and the clap value parsers that make them
//! (`value_parser = ...` in [`RunArgs`](super::RunArgs)): a bad value is refused
//! while the flags are parsed, in one line that names the flag (clap's) and the
//! fix (ours), exit 2. Each value's rule is written once here, and
//! [`Config::check`](super::Config::check) applies the same rules to settings a
//! caller built by hand. What depends on this machine (which cores this process
//! may use, which addresses are its own) is checked by `RunArgs::validate`.
//!
//! Every value prints back as text its parser reads as the same value (`Display`,
//! or `fmt_*` here): `RunArgs::to_args` relies on it.

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::limits::budget::Processes;
use crate::result::Proto;

use super::payload::HEADER_LEN;

/// Most messages in flight per connection.
pub const MAX_PIPELINE: u32 = 1024;
/// Largest message.
pub const MAX_SIZE: u64 = 64 << 20;
/// Most processes a run splits into.
pub const MAX_PROCESSES: u64 = 256;
/// Largest UDP message: the most a datagram carries over IPv4 (65,535 less the IP
/// and UDP headers).
pub const MAX_UDP_SIZE: u64 = 65_507;
/// Longest `--udp-timeout` (a split run's parent waits a bounded time for its
/// children's drain).
pub const MAX_UDP_TIMEOUT: Duration = Duration::from_secs(20);

/// Longest `--duration` and `--warmup`: 30 days. The run clock counts u64
/// nanoseconds from the run's start (584 years), and the split run's parent adds
/// both to its own bounds: far from any overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 86_400);
/// Longest `--connect-timeout`: one hour (a split run's parent waits four times
/// it for its children's connect phase).
pub const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(3_600);
/// Highest `--rate` and `--connect-rate`: 10^9 per second, one per nanosecond, the
/// schedule's resolution (past it a schedule's message count leaves u64).
pub const MAX_RATE: f64 = 1e9;

/// A server address as given (`--target HOST:PORT`) and the address it resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// As the user wrote it (the JSON keeps it).
    pub text: String,
    /// What it resolves to (a loopback entry when a name has one).
    pub addr: SocketAddr,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Cores to pin worker threads to (`--cores 0,2-3`), in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreList(pub Vec<usize>);

impl fmt::Display for CoreList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&join(&self.0))
    }
}

/// Source addresses to spread connections over (`--src 127.0.0.2-127.0.0.9`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceList(pub Vec<IpAddr>);

impl fmt::Display for SourceList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&join(&self.0))
    }
}

/// Part `index` of `count`: an agent's share of a run over several hosts
/// (`--shard I/N`), or a process of a split run (`--child I/N`, internal: its
/// connection ids are `index, index + count, ...` of the whole run's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    /// Its index, below `count`.
    pub index: u64,
    /// How many parts the run is split into.
    pub count: u64,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The connections part `index` of `count` opens (ids `index, index + count, ...`
/// of the whole run's `conns`): as even as integers allow, the first parts one more.
pub fn share(conns: u64, index: u64, count: u64) -> u64 {
    (conns + count - 1 - index) / count
}

fn join<T: ToString>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

/// `--target`: resolves HOST:PORT, preferring the loopback entry a name like
/// `localhost` resolves to.
pub fn parse_target(text: &str) -> Result<Target, String> {
    let addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| format!("'{text}' is not HOST:PORT ({e}): use e.g. 127.0.0.1:12000"))?
        .collect();
    let addr = addrs.iter().find(|a| a.ip().is_loopback()).or(addrs.first()).copied();
    let addr = addr.ok_or_else(|| format!("'{text}' resolves to no address"))?;
    Ok(Target { text: text.to_string(), addr })
}

/// `--conns`: 1 to 2^32 - 1 (a connection id is 32 bits).
pub fn parse_conns(text: &str) -> Result<u64, String> {
    conns_rule(number(text)?)
}

/// The rule of `--conns`.
pub fn conns_rule(n: u64) -> Result<u64, String> {
    if (1..=u64::from(u32::MAX)).contains(&n) {
        Ok(n)
    } else {
        Err(format!("use 1 to {} connections", u32::MAX))
    }
}

/// `--size`: a byte size with an optional unit, header included.
pub fn parse_size(text: &str) -> Result<usize, String> {
    size_rule(common::units::parse_size(text)?)
}

/// The rule of `--size`: at least the header, at most [`MAX_SIZE`].
pub fn size_rule(bytes: u64) -> Result<usize, String> {
    if (HEADER_LEN as u64..=MAX_SIZE).contains(&bytes) {
        Ok(bytes as usize)
    } else {
        Err(format!(
            "{bytes} bytes: use {HEADER_LEN} B to 64 MiB (each message carries a \
             {HEADER_LEN}-byte header)"
        ))
    }
}

/// The rule of `--size` for UDP: at most [`MAX_UDP_SIZE`] (the lower bound is
/// [`size_rule`]'s).
pub fn udp_size_rule(bytes: u64) -> Result<(), String> {
    if bytes <= MAX_UDP_SIZE {
        Ok(())
    } else {
        Err(format!(
            "{bytes} bytes: a UDP datagram carries at most {MAX_UDP_SIZE} bytes: use --size \
             {MAX_UDP_SIZE} or less with --proto udp"
        ))
    }
}

/// `--proto`: `tcp` or `udp`.
pub fn parse_proto(text: &str) -> Result<Proto, String> {
    match text.trim() {
        "tcp" => Ok(Proto::Tcp),
        "udp" => Ok(Proto::Udp),
        _ => Err(format!("'{text}': use tcp or udp")),
    }
}

/// `--udp-timeout`: more than 0, at most [`MAX_UDP_TIMEOUT`].
pub fn parse_udp_timeout(text: &str) -> Result<Duration, String> {
    udp_timeout_rule(common::units::parse_duration(text)?)
}

/// The rule of `--udp-timeout`.
pub fn udp_timeout_rule(d: Duration) -> Result<Duration, String> {
    if d.is_zero() || d > MAX_UDP_TIMEOUT {
        Err(format!("use more than 0 and at most {}, e.g. 200ms", fmt_duration(MAX_UDP_TIMEOUT)))
    } else {
        Ok(d)
    }
}

/// `--max-loss`: a percentage, 0 to 100 (`1`, `0.5`, `1%`).
pub fn parse_max_loss(text: &str) -> Result<f64, String> {
    max_loss_rule(real(text.trim().trim_end_matches('%'))?)
}

/// The rule of `--max-loss`.
pub fn max_loss_rule(pct: f64) -> Result<f64, String> {
    if (0.0..=100.0).contains(&pct) {
        Ok(pct)
    } else {
        Err("use a percentage from 0 to 100, e.g. 1 (1% of the datagrams may be lost)".into())
    }
}

/// `--pipeline`: 1 to [`MAX_PIPELINE`].
pub fn parse_pipeline(text: &str) -> Result<u32, String> {
    let n = number(text)?;
    pipeline_rule(u32::try_from(n).unwrap_or(u32::MAX))
}

/// The rule of `--pipeline`.
pub fn pipeline_rule(n: u32) -> Result<u32, String> {
    if (1..=MAX_PIPELINE).contains(&n) {
        Ok(n)
    } else {
        Err(format!("use 1 to {MAX_PIPELINE}"))
    }
}

/// `--rate`: messages per second in total, more than 0.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    rate_rule(real(text)?, "messages")
}

/// `--connect-rate`: connections per second in total, more than 0.
pub fn parse_connect_rate(text: &str) -> Result<f64, String> {
    rate_rule(real(text)?, "connections")
}

/// The rule of a rate of `what` per second: more than 0, at most [`MAX_RATE`].
pub fn rate_rule(per_s: f64, what: &str) -> Result<f64, String> {
    if per_s > 0.0 && per_s <= MAX_RATE {
        Ok(per_s)
    } else {
        Err(format!("use a positive number of {what} per second, at most {MAX_RATE:e}"))
    }
}

/// `--duration`: the measured phase, more than 0, at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    duration_rule(common::units::parse_duration(text)?)
}

/// The rule of `--duration`.
pub fn duration_rule(d: Duration) -> Result<Duration, String> {
    at_most_rule(nonzero_rule(d, "10s")?, MAX_DURATION, "10s")
}

/// `--warmup`: any duration, 0 included, at most [`MAX_DURATION`].
pub fn parse_warmup(text: &str) -> Result<Duration, String> {
    warmup_rule(common::units::parse_duration(text)?)
}

/// The rule of `--warmup`.
pub fn warmup_rule(d: Duration) -> Result<Duration, String> {
    at_most_rule(d, MAX_DURATION, "2s")
}

/// `--connect-timeout`: more than 0, at most [`MAX_CONNECT_TIMEOUT`].
pub fn parse_connect_timeout(text: &str) -> Result<Duration, String> {
    connect_timeout_rule(common::units::parse_duration(text)?)
}

/// The rule of `--connect-timeout`.
pub fn connect_timeout_rule(d: Duration) -> Result<Duration, String> {
    at_most_rule(nonzero_rule(d, "5s")?, MAX_CONNECT_TIMEOUT, "5s")
}

/// The rule of a duration that must be at most `max` (`example`: one that is).
fn at_most_rule(d: Duration, max: Duration, example: &str) -> Result<Duration, String> {
    if d > max {
        Err(format!("use at most {}, e.g. {example}", fmt_duration(max)))
    } else {
        Ok(d)
    }
}

/// The rule of a duration that must be more than 0 (`example`: one that is).
pub fn nonzero_rule(d: Duration, example: &str) -> Result<Duration, String> {
    if d.is_zero() {
        Err(format!("use more than 0, e.g. {example}"))
    } else {
        Ok(d)
    }
}

/// A duration as text [`common::units::parse_duration`] reads back exactly.
pub fn fmt_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// `--threads`: 1 or more.
pub fn parse_threads(text: &str) -> Result<usize, String> {
    threads_rule(usize::try_from(number(text)?).unwrap_or(usize::MAX))
}

/// The rule of `--threads`.
pub fn threads_rule(n: usize) -> Result<usize, String> {
    if n == 0 {
        Err("use 1 or more".to_string())
    } else {
        Ok(n)
    }
}

/// `--cores`: ids and ranges, e.g. `0` or `0,2-3`.
pub fn parse_cores(text: &str) -> Result<CoreList, String> {
    common::pin::parse_core_list(text).map(CoreList)
}

/// `--src`: addresses and ranges, e.g. `127.0.0.2-127.0.0.9`.
pub fn parse_sources(text: &str) -> Result<SourceList, String> {
    crate::limits::sources::parse_sources(text).map(SourceList)
}

/// `--processes`: `auto` or 1 to [`MAX_PROCESSES`].
pub fn parse_processes(text: &str) -> Result<Processes, String> {
    match text.trim() {
        "auto" => Ok(Processes::Auto),
        n => match n.parse::<u64>() {
            Ok(p) if (1..=MAX_PROCESSES).contains(&p) => Ok(Processes::Fixed(p)),
            _ => Err(format!("'{text}' is not auto or a number from 1 to {MAX_PROCESSES}")),
        },
    }
}

/// `--processes` as text [`parse_processes`] reads back.
pub fn fmt_processes(p: Processes) -> String {
    match p {
        Processes::Auto => "auto".to_string(),
        Processes::Fixed(n) => n.to_string(),
    }
}

/// `--run-id`: 1 to 64 letters, digits, `.`, `_` or `-`, not `.` or `..` (it
/// names files and folders: `results/RUN_ID/`, so it must stay one name inside).
pub fn parse_run_id(text: &str) -> Result<String, String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || ".-_".contains(c);
    if (1..=64).contains(&text.len()) && text.chars().all(ok) && text != "." && text != ".." {
        Ok(text.to_string())
    } else {
        Err(format!(
            "'{text}': use 1 to 64 letters, digits, '.', '_' or '-' (not '.' or '..'), e.g. \
             bench-20260101T120000Z"
        ))
    }
}

/// `--disturbed-above`'s default: cores busy outside loadgen and the server over
/// the measured phase. Measured on a 2-core VM (echod and loadgen, 10
/// connections, 2 s): quiet, 0.00-0.02 (6 runs, no other process forked); beside
/// `sh -c 'while :; do :; done'`, 0.56-0.60; beside other users' compilers,
/// 0.5-1.3.
pub const DISTURBED_ABOVE: f64 = 0.15;

/// `--watch-pid`: a process id (that it runs is checked with the other flags).
pub fn parse_pid(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(format!("'{text}': give a process id, a positive number (pgrep echod)")),
    }
}

/// `--disturbed-above`: cores, from 0 to 1024.
pub fn parse_disturbed_above(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(c) if (0.0..=1024.0).contains(&c) => Ok(c),
        _ => Err(format!("'{text}': give a number of cores from 0 to 1024, e.g. 0.15")),
    }
}

/// `--child I/N` (internal): the index below the count.
pub fn parse_child(text: &str) -> Result<Part, String> {
    let bad = || format!("'{text}': use I/N with I below N");
    let (a, b) = text.split_once('/').ok_or_else(bad)?;
    let (index, count) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if index >= count {
        return Err(bad());
    }
    Ok(Part { index, count })
}

/// A whole number.
fn number(text: &str) -> Result<u64, String> {
    text.trim().parse().map_err(|_| format!("'{text}' is not a whole number"))
}

/// A number, fractions allowed.
fn real(text: &str) -> Result<f64, String> {
    text.trim().parse().map_err(|_| format!("'{text}' is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value prints back as text that parses to the same value.
    #[test]
    fn values_print_back() {
        let t = parse_target("127.0.0.1:9").unwrap();
        assert_eq!(parse_target(&t.to_string()).unwrap(), t);
        let c = parse_cores("3,0-1").unwrap();
        assert_eq!((c.0.clone(), parse_cores(&c.to_string()).unwrap()), (vec![3, 0, 1], c));
        let s = parse_sources("127.0.0.3-127.0.0.4,127.0.0.2").unwrap();
        assert_eq!(parse_sources(&s.to_string()).unwrap(), s);
        for d in ["1500ms", "0s", "2m 3s 4ns", "10s"] {
            let d = parse_warmup(d).unwrap();
            assert_eq!(parse_warmup(&fmt_duration(d)).unwrap(), d);
        }
        for p in [Processes::Auto, Processes::Fixed(3)] {
            assert_eq!(parse_processes(&fmt_processes(p)).unwrap(), p);
        }
        let child = parse_child("2/3").unwrap();
        assert_eq!(parse_child(&child.to_string()).unwrap(), child);
        let r = 50_000.0 / 3.0;
        assert_eq!(parse_rate(&r.to_string()).unwrap(), r);
        for p in [Proto::Tcp, Proto::Udp] {
            assert_eq!(parse_proto(&p.to_string()).unwrap(), p);
        }
        let t = parse_udp_timeout("250ms").unwrap();
        assert_eq!(parse_udp_timeout(&fmt_duration(t)).unwrap(), t);
        let pct = 0.1 + 0.2;
        assert_eq!(parse_max_loss(&pct.to_string()).unwrap(), pct);
    }

    /// Each rule refuses what it must, saying what to use instead.
    #[test]
    fn rules_refuse_with_the_fix() {
        assert!(parse_size("8").unwrap_err().contains("use 16 B to 64 MiB"));
        assert!(parse_size("12XB").unwrap_err().contains("unknown unit"));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert!(parse_conns("0").unwrap_err().contains("use 1 to"));
        assert!(parse_pipeline("0").is_err() && parse_pipeline("1025").is_err());
        assert!(parse_rate("0").unwrap_err().contains("messages per second"));
        assert!(parse_connect_rate("NaN").unwrap_err().contains("connections per second"));
        assert!(parse_duration("0s").unwrap_err().contains("more than 0"));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("31days").unwrap_err().contains("at most 30days"));
        assert_eq!(parse_duration("30days"), Ok(MAX_DURATION));
        assert!(parse_warmup("500000000000y").unwrap_err().contains("longer than a year"));
        assert!(parse_warmup("31days").unwrap_err().contains("at most 30days"));
        assert!(parse_connect_timeout("2h").unwrap_err().contains("at most 1h"));
        assert!(parse_rate("1e20").unwrap_err().contains("at most 1e9"));
        assert!(parse_connect_rate("inf").is_err() && parse_rate("-1").is_err());
        assert_eq!(parse_rate("1e9"), Ok(MAX_RATE));
        assert_eq!(parse_warmup("0s"), Ok(Duration::ZERO));
        assert!(parse_threads("0").is_err());
        assert!(parse_processes("zero").unwrap_err().contains("auto or a number"));
        assert!(parse_processes("257").is_err());
        assert!(parse_child("3/3").is_err() && parse_child("1").is_err());
        assert!(parse_target("nonsense").unwrap_err().contains("not HOST:PORT"));
        assert!(parse_proto("sctp").unwrap_err().contains("use tcp or udp"));
        assert!(udp_size_rule(65_507).is_ok());
        assert!(udp_size_rule(65_508).unwrap_err().contains("at most 65507 bytes"));
        assert!(parse_udp_timeout("0s").is_err() && parse_udp_timeout("21s").is_err());
        assert_eq!(parse_max_loss("1%"), Ok(1.0));
        assert!(parse_max_loss("101").unwrap_err().contains("0 to 100"));
        assert!(parse_max_loss("-1").is_err());
    }
}
