//! The flags of a run ([`RunArgs`], parsed by clap) and their validation into a
//! [`Config`], the settings the run uses. Every refusal is a [`ConfigError`] whose
//! message names the flag and the fix; the binary turns it into exit code 2.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use echod::units::{parse_duration, parse_size};

use super::payload::HEADER_LEN;

/// Most messages in flight per connection.
pub const MAX_PIPELINE: u32 = 1024;
/// Largest message.
pub const MAX_SIZE: u64 = 64 << 20;

/// Flags of a run (`loadgen [OPTIONS]`).
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
    loadgen --conns 1000                        closed loop, 1 message in flight each\n  \
    loadgen --conns 100 --rate 50000 --json r.json   open loop, 50k msgs/s in total\n  \
    loadgen --cores 1 --conns 10 --hgrm lat.hgrm     pinned to CPU 1, percentile file\n\n\
    Exit codes:\n  \
    0        every connection established and served, every echo right\n  \
    1        wrong or missing echoes, or missing connections (some or all),\n           \
    not established or never served\n  \
    2        bad input (flags, output paths, an impossible plan; nothing was run),\n           \
    or an output file that could not be written (the result is saved elsewhere)\n  \
    130/143  interrupted by SIGINT/SIGTERM")]
pub struct RunArgs {
    /// Server address HOST:PORT (loopback only); repeat to spread connections.
    #[arg(long = "target", value_name = "HOST:PORT", default_value = "127.0.0.1:12000")]
    pub targets: Vec<String>,
    /// Connections to open.
    #[arg(long, default_value_t = 10)]
    pub conns: u64,
    /// Bytes per message, at least 16 (e.g. 64, 1KiB, 1MiB).
    #[arg(long, default_value = "64")]
    pub size: String,
    /// Messages in flight per connection.
    #[arg(long, default_value_t = 1)]
    pub pipeline: u32,
    /// Open loop: messages per second in total on a fixed schedule (default: closed loop).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Length of the measured phase (e.g. 10s, 500ms).
    #[arg(long, default_value = "10s")]
    pub duration: String,
    /// Traffic before the measured phase, not recorded.
    #[arg(long, default_value = "2s")]
    pub warmup: String,
    /// Worker threads (default: one per allowed core, at most one per connection).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Cores to pin the worker threads to, e.g. 0 or 0,2-3 (default: every allowed core).
    #[arg(long, value_name = "LIST")]
    pub cores: Option<String>,
    /// New connections per second in total (default: as fast as the machine allows).
    #[arg(long)]
    pub connect_rate: Option<f64>,
    /// How long one connect may take before it counts as ETIMEDOUT.
    #[arg(long, default_value = "5s")]
    pub connect_timeout: String,
    /// Write the result as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<std::path::PathBuf>,
    /// Write the latency percentile distribution (HdrHistogram text, µs) to FILE.
    #[arg(long, value_name = "FILE")]
    pub hgrm: Option<std::path::PathBuf>,
    /// Scenario name stored in the JSON (default: derived from the settings).
    #[arg(long)]
    pub scenario: Option<String>,
    /// No live line per second on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Source addresses to spread connections over, e.g. 127.0.0.2-127.0.0.9 or a
    /// comma list (default: the kernel's choice, or 127.0.0.x when one four-tuple
    /// family's ports run out).
    #[arg(long, value_name = "LIST")]
    pub src: Option<String>,
    /// Processes to split the run into: `auto` (as many as RLIMIT_NOFILE requires) or N.
    #[arg(long, default_value = "auto")]
    pub processes: String,
    /// Internal: this process is child I of N of a split run (`I/N`).
    #[arg(long, hide = true, value_parser = parse_child)]
    pub child: Option<(u64, u64)>,
    /// Internal: where a child writes its figures for the parent to merge.
    #[arg(long, hide = true)]
    pub child_out: Option<std::path::PathBuf>,
}

fn parse_child(text: &str) -> Result<(u64, u64), String> {
    let bad = || "use I/N".to_string();
    let (a, b) = text.split_once('/').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
}

fn parse_processes(text: &str) -> Result<crate::limits::budget::Processes, ConfigError> {
    use crate::limits::budget::Processes;
    match text.trim() {
        "auto" => Ok(Processes::Auto),
        n => match n.parse::<u64>() {
            Ok(p) if (1..=256).contains(&p) => Ok(Processes::Fixed(p)),
            _ => Err(invalid(
                "--processes",
                format!("'{text}' is not auto or a number from 1 to 256"),
            )),
        },
    }
}

/// A flag whose value cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// The flag and what is wrong with its value, with the fix.
    #[error("{flag}: {reason}")]
    Invalid {
        /// The flag, e.g. `--size`.
        flag: &'static str,
        /// What is wrong and what to use instead.
        reason: String,
    },
}

fn invalid(flag: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { flag, reason: reason.into() }
}

/// The validated settings of one run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where connections go; connection `i` uses `targets[i % len]`.
    pub targets: Vec<SocketAddr>,
    /// The targets as the user wrote them (for the JSON).
    pub target_text: Vec<String>,
    /// Connections to open.
    pub conns: u64,
    /// Bytes per message, header included.
    pub size: usize,
    /// Messages in flight per connection (closed loop: always; open loop: at most).
    pub pipeline: u32,
    /// Open loop: messages per second in total; `None` = closed loop.
    pub rate: Option<f64>,
    /// Length of the measured phase.
    pub duration: Duration,
    /// Unrecorded traffic before it.
    pub warmup: Duration,
    /// Worker threads (each with its own poll and its share of the connections).
    pub threads: usize,
    /// Cores the threads are pinned to, worker `i` on `cores[i % len]`; empty: unpinned.
    pub cores: Vec<usize>,
    /// Connections per second in total; `None` = as fast as the machine allows.
    pub connect_rate: Option<f64>,
    /// Longest wait for one connect.
    pub connect_timeout: Duration,
    /// Longest wait, after the measured phase, for echoes still in flight.
    pub drain_timeout: Duration,
    /// Print a line per second on stderr.
    pub live: bool,
    /// Scenario name for the JSON.
    pub scenario: String,
    /// Source addresses to bind (IP_BIND_ADDRESS_NO_PORT), by hand (`--src`) or
    /// chosen by the preflight when one four-tuple family runs out; empty: the
    /// kernel's choice.
    pub sources: Vec<std::net::IpAddr>,
    /// Processes to split into (`--processes`; the preflight resolves `auto`).
    pub processes: crate::limits::budget::Processes,
    /// This process's first connection id and the step between its ids (0 and 1,
    /// except in a child of a split run: its index and the process count).
    pub id_base: u64,
    /// See `id_base`.
    pub id_step: u64,
    /// A child of a split run: print each completed second on stdout, for the
    /// parent's live line.
    pub forward_intervals: bool,
}

impl Config {
    /// Settings for tests: `conns` connections to `target`, 64-byte messages,
    /// 300 ms measured after 100 ms of warm-up, 2 threads, unpinned, quiet.
    pub fn local_test(target: SocketAddr, conns: u64) -> Self {
        let mut c = Self {
            targets: vec![target],
            target_text: vec![target.to_string()],
            conns,
            size: 64,
            pipeline: 1,
            rate: None,
            duration: Duration::from_millis(300),
            warmup: Duration::from_millis(100),
            threads: 2.min(conns.max(1) as usize),
            cores: Vec::new(),
            connect_rate: None,
            connect_timeout: Duration::from_secs(2),
            drain_timeout: Duration::from_secs(1),
            live: false,
            scenario: String::new(),
            sources: Vec::new(),
            processes: crate::limits::budget::Processes::Fixed(1),
            id_base: 0,
            id_step: 1,
            forward_intervals: false,
        };
        c.scenario = c.default_scenario();
        c
    }

    /// `conns=1000 size=64 pipeline=1 closed` (or `rate=50000`).
    pub fn default_scenario(&self) -> String {
        let mode = match self.rate {
            Some(r) => format!("rate={r}"),
            None => "closed".to_string(),
        };
        format!("conns={} size={} pipeline={} {mode}", self.conns, self.size, self.pipeline)
    }

    /// Checks the settings a test or caller built by hand (the flags go through
    /// [`RunArgs::validate`], which calls this too).
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.targets.is_empty() {
            return Err(invalid("--target", "give at least one HOST:PORT"));
        }
        if let Some(bad) = self.targets.iter().find(|a| !a.ip().is_loopback()) {
            return Err(invalid(
                "--target",
                format!("{bad} is not a loopback address: this project sends traffic only to 127.0.0.0/8 or ::1"),
            ));
        }
        if self.conns == 0 || self.conns > u64::from(u32::MAX) {
            return Err(invalid("--conns", "use 1 or more"));
        }
        if self.size < HEADER_LEN || self.size as u64 > MAX_SIZE {
            return Err(invalid(
                "--size",
                format!("{} bytes: use {HEADER_LEN} B to 64 MiB (each message carries a {HEADER_LEN}-byte header)", self.size),
            ));
        }
        if self.pipeline == 0 || self.pipeline > MAX_PIPELINE {
            return Err(invalid("--pipeline", format!("use 1 to {MAX_PIPELINE}")));
        }
        if let Some(r) = self.rate {
            if !(r.is_finite() && r > 0.0) {
                return Err(invalid("--rate", "use a positive number of messages per second"));
            }
        }
        if let Some(r) = self.connect_rate {
            if !(r.is_finite() && r > 0.0) {
                return Err(invalid(
                    "--connect-rate",
                    "use a positive number of connections per second",
                ));
            }
        }
        if self.duration.is_zero() {
            return Err(invalid("--duration", "use more than 0, e.g. 10s"));
        }
        if self.connect_timeout.is_zero() {
            return Err(invalid("--connect-timeout", "use more than 0, e.g. 5s"));
        }
        if self.threads == 0 {
            return Err(invalid("--threads", "use 1 or more"));
        }
        Ok(())
    }
}

impl RunArgs {
    /// Validates the flags into a [`Config`].
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let mut targets = Vec::new();
        for text in &self.targets {
            let addrs: Vec<SocketAddr> = text
                .to_socket_addrs()
                .map_err(|e| invalid("--target", format!("'{text}' is not HOST:PORT ({e})")))?
                .collect();
            // Prefer the loopback entry a name like `localhost` resolves to.
            let addr =
                addrs.iter().find(|a| a.ip().is_loopback()).or(addrs.first()).copied().ok_or_else(
                    || invalid("--target", format!("'{text}' resolves to no address")),
                )?;
            targets.push(addr);
        }
        let size = parse_size(&self.size).map_err(|e| invalid("--size", e))?;
        let duration = parse_duration(&self.duration).map_err(|e| invalid("--duration", e))?;
        let warmup = parse_duration(&self.warmup).map_err(|e| invalid("--warmup", e))?;
        let connect_timeout =
            parse_duration(&self.connect_timeout).map_err(|e| invalid("--connect-timeout", e))?;
        let cores = match &self.cores {
            Some(text) => echod::pin::parse_core_list(text).map_err(|e| invalid("--cores", e))?,
            None => echod::pin::allowed_cores(),
        };
        if let Some(bad) = cores.iter().find(|c| !echod::pin::allowed_cores().contains(c)) {
            return Err(invalid(
                "--cores",
                format!(
                    "core {bad} is not available to this process (allowed: {:?})",
                    echod::pin::allowed_cores()
                ),
            ));
        }
        let threads = match self.threads {
            Some(0) => return Err(invalid("--threads", "use 1 or more")),
            Some(n) => n,
            None => cores.len().max(1),
        };
        let threads = threads.min(self.conns.clamp(1, 1 << 16) as usize);
        let mut config = Config {
            targets,
            target_text: self.targets.clone(),
            conns: self.conns,
            size: usize::try_from(size).unwrap_or(usize::MAX),
            pipeline: self.pipeline,
            rate: self.rate,
            duration,
            warmup,
            threads,
            cores,
            connect_rate: self.connect_rate,
            connect_timeout,
            drain_timeout: Duration::from_secs(1),
            live: !self.quiet,
            scenario: String::new(),
            sources: match &self.src {
                Some(text) => {
                    use crate::limits::sources::{check_local, parse_sources};
                    let sources = parse_sources(text).map_err(|e| invalid("--src", e))?;
                    check_local(&sources).map_err(|e| invalid("--src", e))?;
                    sources
                }
                None => Vec::new(),
            },
            processes: parse_processes(&self.processes)?,
            id_base: 0,
            id_step: 1,
            forward_intervals: false,
        };
        if let Some((index, count)) = self.child {
            if count == 0 || index >= count {
                return Err(invalid("--child", "index must be below the count"));
            }
            config.id_base = index;
            config.id_step = count;
            config.forward_intervals = true;
            config.processes = crate::limits::budget::Processes::Fixed(1);
        }
        config.check()?;
        config.scenario = self.scenario.clone().unwrap_or_else(|| config.default_scenario());
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn validate(args: &[&str]) -> Result<Config, ConfigError> {
        let mut argv = vec!["loadgen"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).expect("clap").run.validate()
    }

    /// The defaults validate; sizes and durations take units.
    #[test]
    fn defaults_and_units() {
        let c = validate(&[]).expect("defaults");
        assert_eq!(c.targets, vec!["127.0.0.1:12000".parse().expect("addr")]);
        assert_eq!((c.conns, c.size, c.pipeline), (10, 64, 1));
        assert_eq!(c.duration, Duration::from_secs(10));
        assert_eq!(c.warmup, Duration::from_secs(2));
        let c = validate(&["--size", "1KiB", "--duration", "500ms", "--conns", "1"]).expect("ok");
        assert_eq!((c.size, c.duration, c.threads), (1024, Duration::from_millis(500), 1));
    }

    /// Each bad value is refused naming its flag.
    #[test]
    fn refusals_name_the_flag() {
        let flag = |args: &[&str]| match validate(args) {
            Err(ConfigError::Invalid { flag, .. }) => flag,
            Ok(_) => "accepted",
        };
        assert_eq!(flag(&["--size", "8"]), "--size");
        assert_eq!(flag(&["--target", "10.1.2.3:80"]), "--target");
        assert_eq!(flag(&["--target", "nonsense"]), "--target");
        assert_eq!(flag(&["--conns", "0"]), "--conns");
        assert_eq!(flag(&["--pipeline", "0"]), "--pipeline");
        assert_eq!(flag(&["--rate", "0"]), "--rate");
        assert_eq!(flag(&["--duration", "ten"]), "--duration");
        assert_eq!(flag(&["--cores", "4000"]), "--cores");
    }
}
