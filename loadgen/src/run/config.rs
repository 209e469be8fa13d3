//! The settings a run uses ([`Config`]) and the way between them and the flags:
//! [`RunArgs::validate`] (flags -> settings, with what depends on this machine:
//! the cores this process may use, the source addresses that are its own) and
//! [`RunArgs::of`] (settings -> the flags that give them, for another process).
//! Every refusal is a [`ConfigError`] whose message names the flag and the fix;
//! the binary turns it into exit code 2. [`Config::check`] applies the flags' own
//! rules (`values`) to settings a caller built by hand.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::limits::budget::Processes;
use crate::limits::sources::check_local;
use crate::result::Proto;

use super::args::RunArgs;
use super::values::{self, ChildOf, CoreList, SourceList, Target};

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
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// TCP connections, or UDP flows (a connected UDP socket each).
    pub proto: Proto,
    /// UDP: how long a datagram may go unanswered before it counts as lost;
    /// `None`: adaptive (see `udp::loss`).
    pub udp_timeout: Option<Duration>,
    /// UDP: the loss, in percent, above which the run fails; `None`: loss is a
    /// measurement, never a failure.
    pub max_loss: Option<f64>,
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
    pub sources: Vec<IpAddr>,
    /// Processes to split into (`--processes`; the preflight resolves `auto`).
    pub processes: Processes,
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
            proto: Proto::Tcp,
            udp_timeout: None,
            max_loss: None,
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
            processes: Processes::Fixed(1),
            id_base: 0,
            id_step: 1,
            forward_intervals: false,
        };
        c.scenario = c.default_scenario();
        c
    }

    /// UDP settings for tests: `flows` flows to `target`, as [`Config::local_test`].
    pub fn local_udp_test(target: SocketAddr, flows: u64) -> Self {
        let mut c = Self::local_test(target, flows);
        c.proto = Proto::Udp;
        c.scenario = c.default_scenario();
        c
    }

    /// `conns=1000 size=64 pipeline=1 closed` (or `rate=50000`; ` udp` at the end
    /// for UDP flows, so compare never pairs a UDP run with a TCP one).
    pub fn default_scenario(&self) -> String {
        let mode = match self.rate {
            Some(r) => format!("rate={r}"),
            None => "closed".to_string(),
        };
        let proto = match self.proto {
            Proto::Tcp => "",
            Proto::Udp => " udp",
        };
        format!("conns={} size={} pipeline={} {mode}{proto}", self.conns, self.size, self.pipeline)
    }

    /// Checks the settings a test or caller built by hand against the flags' rules
    /// (the flags go through them as they are parsed; [`RunArgs::validate`] calls
    /// this too, for the rules across flags).
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.targets.is_empty() {
            return Err(invalid("--target", "give at least one HOST:PORT"));
        }
        if let Some(bad) = self.targets.iter().find(|a| !values::target_allowed(a.ip())) {
            return Err(invalid(
                "--target",
                format!(
                    "{bad} is neither a loopback address nor in 198.18.0.0/15: this project \
                     sends traffic only to 127.0.0.0/8, ::1, or the benchmark range that \
                     `loadgen testbed` gives its network namespaces"
                ),
            ));
        }
        let flag = |flag: &'static str| move |reason: String| invalid(flag, reason);
        values::conns_rule(self.conns).map_err(flag("--conns"))?;
        values::size_rule(self.size as u64).map_err(flag("--size"))?;
        values::pipeline_rule(self.pipeline).map_err(flag("--pipeline"))?;
        if let Some(r) = self.rate {
            values::rate_rule(r, "messages").map_err(flag("--rate"))?;
        }
        if let Some(r) = self.connect_rate {
            values::rate_rule(r, "connections").map_err(flag("--connect-rate"))?;
        }
        self.check_udp()?;
        values::nonzero_rule(self.duration, "10s").map_err(flag("--duration"))?;
        values::nonzero_rule(self.connect_timeout, "5s").map_err(flag("--connect-timeout"))?;
        values::threads_rule(self.threads).map_err(flag("--threads"))?;
        Ok(())
    }
}

impl Config {
    /// The UDP rules: a datagram's size; the UDP flags only with `--proto udp`.
    fn check_udp(&self) -> Result<(), ConfigError> {
        let flag = |flag: &'static str| move |reason: String| invalid(flag, reason);
        match self.proto {
            Proto::Udp => {
                values::udp_size_rule(self.size as u64).map_err(flag("--size"))?;
                if let Some(t) = self.udp_timeout {
                    values::udp_timeout_rule(t).map_err(flag("--udp-timeout"))?;
                }
                if let Some(pct) = self.max_loss {
                    values::max_loss_rule(pct).map_err(flag("--max-loss"))?;
                }
                Ok(())
            }
            Proto::Tcp => {
                let only_udp = "applies to --proto udp only: add --proto udp or leave it out";
                match (self.udp_timeout, self.max_loss) {
                    (Some(_), _) => Err(invalid("--udp-timeout", only_udp)),
                    (_, Some(_)) => Err(invalid("--max-loss", only_udp)),
                    _ => Ok(()),
                }
            }
        }
    }
}

impl RunArgs {
    /// Validates the flags into a [`Config`].
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let cores = self.usable_cores()?;
        let threads = self.threads.unwrap_or(cores.len().max(1));
        let (id_base, id_step, processes) = match self.child {
            Some(ChildOf { index, count }) => (index, count, Processes::Fixed(1)),
            None => (0, 1, self.processes),
        };
        let mut config = Config {
            proto: self.proto,
            udp_timeout: self.udp_timeout,
            max_loss: self.max_loss,
            targets: self.targets.iter().map(|t| t.addr).collect(),
            target_text: self.targets.iter().map(|t| t.text.clone()).collect(),
            conns: self.conns,
            size: self.size,
            pipeline: self.pipeline,
            rate: self.rate,
            duration: self.duration,
            warmup: self.warmup,
            threads: threads.min(self.conns.clamp(1, 1 << 16) as usize),
            cores,
            connect_rate: self.connect_rate,
            connect_timeout: self.connect_timeout,
            drain_timeout: Duration::from_secs(1),
            live: !self.quiet,
            scenario: String::new(),
            sources: self.own_sources()?,
            processes,
            id_base,
            id_step,
            forward_intervals: self.child.is_some(),
        };
        config.check()?;
        config.scenario = self.scenario.clone().unwrap_or_else(|| config.default_scenario());
        Ok(config)
    }

    /// `--cores`, each available to this process (default: every allowed core).
    fn usable_cores(&self) -> Result<Vec<usize>, ConfigError> {
        let allowed = echod::pin::allowed_cores();
        let Some(CoreList(cores)) = &self.cores else { return Ok(allowed) };
        match cores.iter().find(|c| !allowed.contains(c)) {
            Some(bad) => Err(invalid(
                "--cores",
                format!("core {bad} is not available to this process (allowed: {allowed:?})"),
            )),
            None => Ok(cores.clone()),
        }
    }

    /// `--src`, each an address of this machine.
    fn own_sources(&self) -> Result<Vec<IpAddr>, ConfigError> {
        let Some(SourceList(sources)) = &self.src else { return Ok(Vec::new()) };
        check_local(sources).map_err(|e| invalid("--src", e))?;
        Ok(sources.clone())
    }

    /// The flags that give `config` on this machine: validating them gives it back.
    /// Unpinned settings (no cores) give no `--cores`, which pins to every allowed
    /// core; the output files are not settings and are left out.
    pub fn of(config: &Config) -> RunArgs {
        let targets = config.target_text.iter().zip(&config.targets);
        RunArgs {
            proto: config.proto,
            udp_timeout: config.udp_timeout,
            max_loss: config.max_loss,
            targets: targets.map(|(text, &addr)| Target { text: text.clone(), addr }).collect(),
            conns: config.conns,
            size: config.size,
            pipeline: config.pipeline,
            rate: config.rate,
            duration: config.duration,
            warmup: config.warmup,
            threads: Some(config.threads),
            cores: (!config.cores.is_empty()).then(|| CoreList(config.cores.clone())),
            connect_rate: config.connect_rate,
            connect_timeout: config.connect_timeout,
            json: None,
            hgrm: None,
            scenario: Some(config.scenario.clone()),
            quiet: !config.live,
            src: (!config.sources.is_empty()).then(|| SourceList(config.sources.clone())),
            processes: config.processes,
            child: config
                .forward_intervals
                .then_some(ChildOf { index: config.id_base, count: config.id_step }),
            child_out: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags as the binary parses them, validated.
    fn validate(args: &[&str]) -> Result<Config, String> {
        let flags = RunArgs::parse_from(args).map_err(|e| e.to_string())?;
        flags.validate().map_err(|e| e.to_string())
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
        assert_eq!((c.proto, c.udp_timeout, c.max_loss), (Proto::Tcp, None, None));
        let c = validate(&["--proto", "udp", "--size", "65507", "--max-loss", "1%"]).expect("ok");
        assert_eq!((c.proto, c.size, c.max_loss), (Proto::Udp, 65_507, Some(1.0)));
        assert!(c.scenario.ends_with(" udp"), "{}", c.scenario);
    }

    /// A UDP datagram past 65,507 bytes is refused in one line naming --size and
    /// the largest size; below the header, the size rule of every run says so.
    #[test]
    fn udp_size_refusals() {
        let e = validate(&["--proto", "udp", "--size", "65508"]).expect_err("refused");
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.starts_with("--size: 65508 bytes") && e.contains("--size 65507"), "{e}");
        let e = validate(&["--proto", "udp", "--size", "15"]).expect_err("refused");
        assert!(e.contains("use 16 B to 64 MiB"), "{e}");
    }

    /// Each bad value is refused naming its flag: while the flags are parsed, or,
    /// for what depends on this machine or on several flags, when validated.
    #[test]
    fn refusals_name_the_flag() {
        let refused = |args: &[&str]| validate(args).expect_err("refused");
        for (args, flag) in [
            (&["--size", "8"][..], "--size"),
            (&["--target", "10.1.2.3:80"], "--target"),
            (&["--target", "nonsense"], "--target"),
            (&["--conns", "0"], "--conns"),
            (&["--pipeline", "0"], "--pipeline"),
            (&["--rate", "0"], "--rate"),
            (&["--duration", "ten"], "--duration"),
            (&["--cores", "4000"], "--cores"),
            (&["--src", "203.0.113.7"], "--src"),
            (&["--child", "3/3"], "--child"),
            (&["--proto", "udp", "--size", "65508"], "--size"),
            (&["--proto", "udp", "--size", "8"], "--size"),
            (&["--proto", "quic"], "--proto"),
            (&["--max-loss", "1"], "--max-loss"),
            (&["--udp-timeout", "1s"], "--udp-timeout"),
            (&["--proto", "udp", "--max-loss", "200"], "--max-loss"),
        ] {
            let e = refused(args);
            assert!(e.contains(flag), "{args:?}: {e}");
        }
    }

    /// Settings -> flags -> settings: the same config, for a plain run, a pinned
    /// open-loop run over sources, and a split run's child.
    #[test]
    fn of_validates_back_to_the_config() {
        let core = echod::pin::allowed_cores()[0].to_string();
        for args in [
            vec!["--conns", "7"],
            vec!["--rate", "100.5", "--cores", &core, "--src", "127.0.0.2-127.0.0.3", "-q"],
            vec!["--conns", "5", "--child", "1/3", "--warmup", "0s", "--scenario", "s"],
            vec!["--proto", "udp", "--size", "65507", "--udp-timeout", "300ms", "--max-loss", "1"],
        ] {
            let config = validate(&args).expect("valid");
            let back = RunArgs::of(&config);
            assert_eq!(back.validate().as_ref(), Ok(&config), "{args:?}");
            assert_eq!(RunArgs::parse_from(back.to_args()).expect("parses"), back, "{args:?}");
        }
    }
}
