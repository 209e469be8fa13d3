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
use super::churn::{Churn, CloseMode};
use super::start_at::StartAt;
use super::values::{self, share, CoreList, Part, SourceList, Target};

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
    /// `--watch-pid` names no running process.
    #[error("--watch-pid {0}: no such process; give the server's process id (pgrep echod)")]
    NoSuchProcess(u32),
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
    /// Churn (`--lifetime`): connections that come and go; `None`: they stay.
    pub churn: Option<Churn>,
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
    /// `--shard I/N`: this agent's part of a run over several hosts, with the whole
    /// run's figures (`conns`, `rate`, `connect_rate` above are this agent's share).
    pub shard: Option<ShardOf>,
    /// `--start-at`: when the warm-up begins, on the wall clock.
    pub start_at: Option<StartAt>,
    /// `--run-id`, or `start-<unix seconds>` of `--start-at`: what agents of one
    /// run share.
    pub run_id: Option<String>,
    /// `--watch-pid`: server processes whose CPU time (every thread) is measured
    /// over the measured phase; empty: none.
    pub watch_pids: Vec<u32>,
    /// `--disturbed-above`: cores busy outside loadgen and the server past which a
    /// run is marked disturbed.
    pub disturbed_above: f64,
}

/// An agent's part of a run over several hosts, and the whole run's figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShardOf {
    /// Which part: its connection ids are `index, index + count, ...`.
    pub part: Part,
    /// The whole run's connections (flows).
    pub conns: u64,
    /// The whole run's open-loop rate.
    pub rate: Option<f64>,
    /// The whole run's connect rate.
    pub connect_rate: Option<f64>,
}

impl ShardOf {
    /// This part's connections.
    pub fn conns(&self) -> u64 {
        share(self.conns, self.part.index, self.part.count)
    }

    /// This part's share of a whole-run rate: in proportion to its connections.
    pub fn rate(&self, whole: Option<f64>) -> Option<f64> {
        whole.map(|r| r * self.conns() as f64 / self.conns as f64)
    }
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
            churn: None,
            drain_timeout: Duration::from_secs(1),
            live: false,
            scenario: String::new(),
            sources: Vec::new(),
            processes: Processes::Fixed(1),
            id_base: 0,
            id_step: 1,
            forward_intervals: false,
            shard: None,
            start_at: None,
            run_id: None,
            watch_pids: Vec::new(),
            disturbed_above: values::DISTURBED_ABOVE,
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
    /// for UDP flows, so compare never pairs a UDP run with a TCP one). An agent
    /// (`--shard`) names the whole run, so every agent's result has one name.
    pub fn default_scenario(&self) -> String {
        let (conns, rate) = match self.shard {
            Some(s) => (s.conns, s.rate),
            None => (self.conns, self.rate),
        };
        let mode = match rate {
            Some(r) => format!("rate={r}"),
            None => "closed".to_string(),
        };
        let proto = match self.proto {
            Proto::Tcp => "",
            Proto::Udp => " udp",
        };
        let churn = match self.churn {
            Some(c) => format!(" lifetime={} close={}", c.lifetime, c.close),
            None => String::new(),
        };
        format!("conns={conns} size={} pipeline={} {mode}{proto}{churn}", self.size, self.pipeline)
    }

    /// Checks the settings a test or caller built by hand against the flags' rules
    /// (the flags go through them as they are parsed; [`RunArgs::validate`] calls
    /// this too, for the rules across flags).
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.targets.is_empty() {
            return Err(invalid("--target", "give at least one HOST:PORT"));
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
        self.check_churn()?;
        values::duration_rule(self.duration).map_err(flag("--duration"))?;
        values::warmup_rule(self.warmup).map_err(flag("--warmup"))?;
        values::connect_timeout_rule(self.connect_timeout).map_err(flag("--connect-timeout"))?;
        values::threads_rule(self.threads).map_err(flag("--threads"))?;
        Ok(())
    }
}

impl Config {
    /// The churn rules: a lifetime and a jitter in range; TCP in a closed loop.
    fn check_churn(&self) -> Result<(), ConfigError> {
        let Some(churn) = self.churn else { return Ok(()) };
        let flag = |flag: &'static str| move |reason: String| invalid(flag, reason);
        super::churn::lifetime_rule(churn.lifetime).map_err(flag("--lifetime"))?;
        super::churn::jitter_rule(churn.jitter).map_err(flag("--lifetime-jitter"))?;
        if self.proto == Proto::Udp {
            return Err(invalid(
                "--lifetime",
                "churns TCP connections: UDP flows have no connection to close; leave out \
                 --proto udp or --lifetime",
            ));
        }
        if self.rate.is_some() {
            return Err(invalid(
                "--lifetime",
                "churn runs a closed loop: leave out --rate (or --lifetime)",
            ));
        }
        Ok(())
    }

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
        let shard = self.shard_of()?;
        // A child's --conns and rates are its own share already; an agent's are the
        // whole run's.
        let (conns, rate, connect_rate) = match shard {
            Some(s) => (s.conns(), s.rate(self.rate), s.rate(self.connect_rate)),
            None => (self.conns, self.rate, self.connect_rate),
        };
        let threads = self.threads.unwrap_or(cores.len().max(1));
        let (id_base, id_step, processes) = match (self.child, shard) {
            (Some(Part { index, count }), _) => (index, count, Processes::Fixed(1)),
            (None, Some(s)) => (s.part.index, s.part.count, self.processes),
            (None, None) => (0, 1, self.processes),
        };
        if let Some(&pid) = self.watch_pid.iter().find(|&&p| !common::procfs::alive(p)) {
            return Err(ConfigError::NoSuchProcess(pid));
        }
        let run_id = self
            .run_id
            .clone()
            .or_else(|| self.start_at.as_ref().map(|s| format!("start-{}", s.unix_s)));
        let mut config = Config {
            proto: self.proto,
            udp_timeout: self.udp_timeout,
            max_loss: self.max_loss,
            targets: self.targets.iter().map(|t| t.addr).collect(),
            target_text: self.targets.iter().map(|t| t.text.clone()).collect(),
            conns,
            size: self.size,
            pipeline: self.pipeline,
            rate,
            duration: self.duration,
            warmup: self.warmup,
            threads: threads.min(conns.clamp(1, 1 << 16) as usize),
            cores,
            connect_rate,
            connect_timeout: self.connect_timeout,
            churn: self.churn()?,
            drain_timeout: Duration::from_secs(1),
            live: !self.quiet,
            scenario: String::new(),
            sources: self.own_sources()?,
            processes,
            id_base,
            id_step,
            forward_intervals: self.child.is_some(),
            shard,
            start_at: self.start_at.clone(),
            run_id,
            // A pid given twice is watched once (its CPU counted once).
            watch_pids: self
                .watch_pid
                .iter()
                .enumerate()
                .filter(|(i, p)| !self.watch_pid[..*i].contains(p))
                .map(|(_, &p)| p)
                .collect(),
            disturbed_above: self.disturbed_above,
        };
        config.check()?;
        config.scenario = self.scenario.clone().unwrap_or_else(|| config.default_scenario());
        Ok(config)
    }

    /// `--lifetime` with its jitter and close mode; those two alone are refused.
    fn churn(&self) -> Result<Option<Churn>, ConfigError> {
        let Some(lifetime) = self.lifetime else {
            let alone = "applies with --lifetime (churn): add --lifetime N or leave it out";
            return match (self.lifetime_jitter, self.close) {
                (Some(_), _) => Err(invalid("--lifetime-jitter", alone)),
                (_, Some(_)) => Err(invalid("--close", alone)),
                _ => Ok(None),
            };
        };
        Ok(Some(Churn {
            lifetime,
            jitter: self.lifetime_jitter.unwrap_or(0.0),
            close: self.close.unwrap_or_default(),
        }))
    }

    /// `--shard`: this agent's part, which must hold a connection at least.
    fn shard_of(&self) -> Result<Option<ShardOf>, ConfigError> {
        let Some(part) = self.shard.filter(|_| self.child.is_none()) else { return Ok(None) };
        let s =
            ShardOf { part, conns: self.conns, rate: self.rate, connect_rate: self.connect_rate };
        if s.conns() == 0 {
            return Err(invalid(
                "--shard",
                format!(
                    "part {part} of --conns {} holds no connection: give --conns {} or more",
                    self.conns, part.count
                ),
            ));
        }
        Ok(Some(s))
    }

    /// `--cores`, each available to this process (default: every allowed core).
    fn usable_cores(&self) -> Result<Vec<usize>, ConfigError> {
        let allowed = common::pin::allowed_cores();
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
        // An agent's flags give the whole run's figures; --shard takes its part.
        let whole = config.shard.unwrap_or(ShardOf {
            part: Part { index: 0, count: 1 },
            conns: config.conns,
            rate: config.rate,
            connect_rate: config.connect_rate,
        });
        RunArgs {
            proto: config.proto,
            udp_timeout: config.udp_timeout,
            max_loss: config.max_loss,
            targets: targets.map(|(text, &addr)| Target { text: text.clone(), addr }).collect(),
            conns: whole.conns,
            size: config.size,
            pipeline: config.pipeline,
            rate: whole.rate,
            duration: config.duration,
            warmup: config.warmup,
            threads: Some(config.threads),
            cores: (!config.cores.is_empty()).then(|| CoreList(config.cores.clone())),
            connect_rate: whole.connect_rate,
            connect_timeout: config.connect_timeout,
            lifetime: config.churn.map(|c| c.lifetime),
            lifetime_jitter: config.churn.map(|c| c.jitter).filter(|j| *j > 0.0),
            close: config.churn.map(|c| c.close).filter(|c| *c != CloseMode::Fin),
            json: None,
            hgrm: None,
            scenario: Some(config.scenario.clone()),
            quiet: !config.live,
            src: (!config.sources.is_empty()).then(|| SourceList(config.sources.clone())),
            processes: config.processes,
            child: config
                .forward_intervals
                .then_some(Part { index: config.id_base, count: config.id_step }),
            child_out: None,
            shard: config.shard.map(|s| s.part),
            start_at: config.start_at.clone(),
            run_id: config.run_id.clone(),
            watch_pid: config.watch_pids.clone(),
            disturbed_above: config.disturbed_above,
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

    /// `--shard I/N`: the parts' connections sum to the whole, their connection ids
    /// never overlap (and a split agent's children keep inside its ids), the rate
    /// divides with the connections, and every agent names the whole run.
    #[test]
    fn shards_sum_to_the_whole_and_never_overlap() {
        use std::collections::HashSet;
        for (conns, count) in [(50_000u64, 3u64), (7, 3), (3, 3), (1_000, 1), (10, 4)] {
            let mut ids = HashSet::new();
            let mut rate = 0.0;
            for index in 0..count {
                let shard = format!("{index}/{count}");
                let c =
                    validate(&["--conns", &conns.to_string(), "--shard", &shard, "--rate", "900"])
                        .expect("valid");
                assert_eq!(c.scenario, format!("conns={conns} size=64 pipeline=1 rate=900"));
                rate += c.rate.expect("open loop");
                for k in 0..c.conns {
                    assert!(ids.insert(c.id_base + c.id_step * k), "id used twice");
                }
                // A split agent's children: their ids are the agent's, each once.
                let children = 2.min(c.conns);
                let mut theirs = HashSet::new();
                for child in 0..children {
                    let args =
                        super::super::processes::child_args(&c, child, children, "/x".as_ref());
                    let cc = args.validate().expect("child valid");
                    for k in 0..cc.conns {
                        assert!(theirs.insert(cc.id_base + cc.id_step * k));
                    }
                }
                let own: HashSet<u64> = (0..c.conns).map(|k| c.id_base + c.id_step * k).collect();
                assert_eq!(theirs, own, "shard {shard}'s children");
            }
            assert_eq!(ids, (0..conns).collect::<HashSet<_>>(), "{conns} over {count}");
            assert!((rate - 900.0).abs() < 1e-6, "{rate}");
        }
        let e = validate(&["--conns", "2", "--shard", "2/3"]).expect_err("empty part");
        assert!(e.starts_with("--shard: part 2/3 of --conns 2 holds no connection"), "{e}");
        for bad in ["3/3", "1", "a/b", "1/0"] {
            let e = validate(&["--shard", bad]).expect_err("refused");
            assert!(e.contains("--shard") && e.contains("I/N"), "{e}");
        }
    }

    /// Any target is accepted, addresses and names: where a run may send traffic
    /// is the user's business (this project's tests send it to loopback only,
    /// and this test sends none).
    #[test]
    fn remote_targets_validate() {
        let c = validate(&["--target", "198.18.0.1:7", "--target", "localhost:9"]).expect("ok");
        assert_eq!(c.targets[0], "198.18.0.1:7".parse().expect("addr"));
        assert!(c.targets[1].ip().is_loopback());
        assert_eq!(c.target_text, vec!["198.18.0.1:7", "localhost:9"]);
    }

    /// Settings -> flags -> settings: the same config, for a plain run, a pinned
    /// open-loop run over sources, a split run's child, a watching run; a pid given
    /// twice is watched once, one that runs nowhere is refused.
    #[test]
    fn of_validates_back_to_the_config() {
        let core = common::pin::allowed_cores()[0].to_string();
        let start = format!("{}", crate::run::now_unix_s().ceil() + 600.0);
        let me = std::process::id().to_string();
        for args in [
            vec!["--watch-pid", &me, "--watch-pid", "1", "--disturbed-above", "0.3"],
            vec!["--conns", "7"],
            vec!["--rate", "100.5", "--cores", &core, "--src", "127.0.0.2-127.0.0.3", "-q"],
            vec!["--conns", "5", "--child", "1/3", "--warmup", "0s", "--scenario", "s"],
            vec!["--proto", "udp", "--size", "65507", "--udp-timeout", "300ms", "--max-loss", "1"],
            vec!["--conns", "10", "--shard", "2/3", "--rate", "100", "--start-at", &start],
        ] {
            let config = validate(&args).expect("valid");
            let back = RunArgs::of(&config);
            assert_eq!(back.validate().as_ref(), Ok(&config), "{args:?}");
            assert_eq!(RunArgs::parse_from(back.to_args()).expect("parses"), back, "{args:?}");
        }
        let twice = validate(&["--watch-pid", &me, "--watch-pid", &me]).expect("valid");
        assert_eq!(twice.watch_pids, vec![std::process::id()], "watched once");
        let gone = validate(&["--watch-pid", "999999999"]);
        assert!(gone.is_err_and(|e| e.starts_with("--watch-pid 999999999: no such process")));
    }
}
