//! The flags of a run ([`RunArgs`], parsed by clap into typed values, see
//! `values`), and the one way a run's flags go to another loadgen process:
//! [`RunArgs::to_args`], which writes back only the flags that differ from their
//! defaults, as text the same parsers read back into the same [`RunArgs`] (a split
//! run's children get their share that way; the suite can start runs with it).
//! Validation into the settings a run uses is `config`'s.

use std::fmt::Display;
use std::path::PathBuf;
use std::time::Duration;

use crate::limits::budget::Processes;
use crate::result::Proto;

use super::churn::{CloseMode, Lifetime};
use super::start_at::{self, StartAt};
use super::values::{self, CoreList, Part, SourceList, Target};

/// Flags of a run (`loadgen [OPTIONS]`).
#[derive(clap::Args, Debug, Clone, PartialEq)]
#[command(after_help = "Examples:\n  \
    loadgen --conns 1000                        closed loop, 1 message in flight each\n  \
    loadgen --conns 100 --rate 50000 --json r.json   open loop, 50k msgs/s in total\n  \
    loadgen --cores 1 --conns 10 --hgrm lat.hgrm     pinned to CPU 1, percentile file\n  \
    loadgen --proto udp --conns 1000 --max-loss 1     1000 UDP flows, fail past 1% loss\n\n\
    Exit codes:\n  \
    0        every connection established and served, every echo right\n  \
    1        wrong or missing echoes, or missing connections (some or all),\n           \
    not established or never served; open loop (--rate): a message of the\n           \
    measured phase never sent (the sender could not keep its schedule);\n           \
    UDP: a corrupted datagram, a flow never answered, or loss above\n           \
    --max-loss, datagrams never sent included (without it, loss is a\n           \
    measurement, not a failure: lost, late, duplicated and reordered\n           \
    datagrams are counted)\n  \
    2        bad input (flags, output paths, an impossible plan; nothing was run),\n           \
    or an output file that could not be written (the result is saved elsewhere)\n  \
    130/143  interrupted by SIGINT/SIGTERM")]
pub struct RunArgs {
    /// Transport: tcp, or udp (--conns flows, each a connected UDP socket from its own
    /// port; one message per datagram, at most 65507 bytes).
    #[arg(long, default_value = "tcp", value_parser = values::parse_proto)]
    pub proto: Proto,
    /// UDP: a datagram not answered within this is lost (default: 4 × the p99 so
    /// far, 100 ms to 5 s; 1 s before the first answer).
    #[arg(long, value_parser = values::parse_udp_timeout)]
    pub udp_timeout: Option<Duration>,
    /// UDP: exit 1 when more than PCT percent of the datagrams are lost (default:
    /// loss is a measurement, not a failure).
    #[arg(long, value_name = "PCT", value_parser = values::parse_max_loss)]
    pub max_loss: Option<f64>,
    /// Server address HOST:PORT (an address or a name); repeat to spread connections.
    #[arg(
        long = "target",
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:12000",
        value_parser = values::parse_target
    )]
    pub targets: Vec<Target>,
    /// Connections to open.
    #[arg(long, default_value = "10", value_parser = values::parse_conns)]
    pub conns: u64,
    /// Bytes per message, at least 16 (e.g. 64, 1KiB, 1MiB).
    #[arg(long, default_value = "64", value_parser = values::parse_size)]
    pub size: usize,
    /// Messages in flight per connection.
    #[arg(long, default_value = "1", value_parser = values::parse_pipeline)]
    pub pipeline: u32,
    /// Open loop: messages per second in total on a fixed schedule (default: closed
    /// loop); latency from each message's intended time. Messages of the measured
    /// phase never sent (the sender fell behind) are counted, and fail the run. At
    /// most 1e9.
    #[arg(long, value_parser = values::parse_rate)]
    pub rate: Option<f64>,
    /// Length of the measured phase (e.g. 10s, 500ms; at most 30days).
    #[arg(long, default_value = "10s", value_parser = values::parse_duration)]
    pub duration: Duration,
    /// Traffic before the measured phase, not recorded (at most 30days).
    #[arg(long, default_value = "2s", value_parser = values::parse_warmup)]
    pub warmup: Duration,
    /// Worker threads (default: one per allowed core, at most one per connection).
    #[arg(long, value_parser = values::parse_threads)]
    pub threads: Option<usize>,
    /// Cores to pin the worker threads to, e.g. 0 or 0,2-3 (default: every allowed core).
    #[arg(long, value_name = "LIST", value_parser = values::parse_cores)]
    pub cores: Option<CoreList>,
    /// New connections per second in total, at most 1e9 (default: as fast as the
    /// machine allows).
    #[arg(long, value_parser = values::parse_connect_rate)]
    pub connect_rate: Option<f64>,
    /// How long one connect may take before it counts as ETIMEDOUT (at most 1h).
    #[arg(long, default_value = "5s", value_parser = values::parse_connect_timeout)]
    pub connect_timeout: Duration,
    /// Churn: each connection lives for N messages (1: connect, one echo, close) or a
    /// duration (e.g. 500ms), then closes and a new one from the same source to the
    /// same target takes its place, so --conns stay open (TCP, closed loop).
    #[arg(long, value_name = "N|DURATION", value_parser = super::churn::parse_lifetime)]
    pub lifetime: Option<Lifetime>,
    /// Churn: each lifetime drawn uniformly within ± PCT percent of --lifetime.
    #[arg(long, value_name = "PCT", value_parser = super::churn::parse_jitter)]
    pub lifetime_jitter: Option<f64>,
    /// Churn: how a connection closes at the end of its life: fin (the client
    /// closes first: its port waits in TIME_WAIT for 60 s) or rst (SO_LINGER 0: a
    /// reset, no TIME_WAIT). Default fin.
    #[arg(long, value_enum)]
    pub close: Option<CloseMode>,
    /// Write the result as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the latency percentile distribution (HdrHistogram text, µs) to FILE.
    #[arg(long, value_name = "FILE")]
    pub hgrm: Option<PathBuf>,
    /// Scenario name stored in the JSON (default: derived from the settings).
    #[arg(long)]
    pub scenario: Option<String>,
    /// No live line per second on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Source addresses to spread connections over, e.g. 127.0.0.2-127.0.0.9 or a
    /// comma list (default: the kernel's choice, or 127.0.0.x when one four-tuple
    /// family's ports run out).
    #[arg(long, value_name = "LIST", value_parser = values::parse_sources)]
    pub src: Option<SourceList>,
    /// Processes to split the run into: `auto` (as many as RLIMIT_NOFILE requires) or N.
    #[arg(long, default_value = "auto", value_parser = values::parse_processes)]
    pub processes: Processes,
    /// This agent's part of a run over several hosts, I of N (0-based): its share of
    /// --conns and --rate, and connection ids of its own. `auto`: from the
    /// scheduler's environment (Kubernetes Indexed Job, Nomad, Slurm, AWS Batch).
    #[arg(long, value_name = "I/N|auto", value_parser = super::scheduler::parse_shard)]
    pub shard: Option<Part>,
    /// Connect first, then begin the warm-up at TIME (RFC 3339 or Unix seconds), so
    /// agents on several hosts measure the same seconds.
    #[arg(long, value_name = "TIME", value_parser = start_at::parse_start_at)]
    pub start_at: Option<StartAt>,
    /// What the agents of one run share (default with --start-at: start-<its Unix
    /// seconds>); `loadgen merge` refuses results of different runs.
    #[arg(long, value_name = "ID", value_parser = values::parse_run_id)]
    pub run_id: Option<String>,
    /// A server process to measure over the measured phase (repeat for each
    /// process: children are not followed, give each pid, e.g. from `pgrep
    /// echod`): its CPU time over every thread (exact, from schedstat), user and
    /// system time, context switches, and per round trip, in the summary and the
    /// JSON (`server`); a split run's parent measures it over the common window.
    #[arg(long, value_name = "PID", value_parser = values::parse_pid)]
    pub watch_pid: Vec<u32>,
    /// Mark the run disturbed when more than CORES cores were busy outside loadgen
    /// and the watched server during the measured phase (the JSON's `machine`).
    #[arg(long, value_name = "CORES", default_value_t = values::DISTURBED_ABOVE, value_parser = values::parse_disturbed_above)]
    pub disturbed_above: f64,
    /// Internal: this process is child I of N of a split run (`I/N`).
    #[arg(long, hide = true, value_parser = values::parse_child)]
    pub child: Option<Part>,
    /// Internal: where a child writes its figures for the parent to merge.
    #[arg(long, hide = true)]
    pub child_out: Option<PathBuf>,
}

/// `loadgen [OPTIONS]` alone: how [`RunArgs::defaults`] asks clap for the defaults.
#[derive(clap::Parser, Debug)]
#[command(name = "loadgen")]
struct RunOnly {
    #[command(flatten)]
    run: RunArgs,
}

impl RunArgs {
    /// The flags as clap gives them when none is given (the `default_value`s above).
    pub fn defaults() -> Self {
        use clap::Parser as _;
        // Constant defaults that their own parsers accept: this cannot fail.
        #[allow(clippy::expect_used)]
        RunOnly::try_parse_from(["loadgen"]).expect("the flags' defaults parse").run
    }

    /// Parses `args` (without the program name) as a run's flags, as the binary does.
    pub fn parse_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::Parser as _;
        let argv = std::iter::once(std::ffi::OsString::from("loadgen"))
            .chain(args.into_iter().map(Into::into));
        RunOnly::try_parse_from(argv).map(|only| only.run)
    }

    /// These flags as `--flag=value` arguments, only those that differ from the
    /// defaults; [`RunArgs::parse_from`] reads them back into `self`. Every field
    /// is named here (a new flag does not compile until it is written back).
    pub fn to_args(&self) -> Vec<String> {
        let d = Self::defaults();
        let Self {
            proto,
            udp_timeout,
            max_loss,
            targets,
            conns,
            size,
            pipeline,
            rate,
            duration,
            warmup,
            threads,
            cores,
            connect_rate,
            connect_timeout,
            lifetime,
            lifetime_jitter,
            close,
            json,
            hgrm,
            scenario,
            quiet,
            src,
            processes,
            shard,
            start_at,
            run_id,
            child,
            child_out,
            watch_pid,
            disturbed_above,
        } = self;
        let mut a = Args(Vec::new());
        a.differs("proto", proto, &d.proto);
        a.given("udp-timeout", udp_timeout.map(values::fmt_duration).as_ref());
        a.given("max-loss", max_loss.as_ref());
        if *targets != d.targets {
            targets.iter().for_each(|t| a.set("target", t));
        }
        a.differs("conns", conns, &d.conns);
        a.differs("size", size, &d.size);
        a.differs("pipeline", pipeline, &d.pipeline);
        a.given("rate", rate.as_ref());
        a.duration("duration", *duration, d.duration);
        a.duration("warmup", *warmup, d.warmup);
        a.given("threads", threads.as_ref());
        a.given("cores", cores.as_ref());
        a.given("connect-rate", connect_rate.as_ref());
        a.duration("connect-timeout", *connect_timeout, d.connect_timeout);
        a.given("lifetime", lifetime.as_ref());
        a.given("lifetime-jitter", lifetime_jitter.map(|j| format!("{}%", j * 100.0)).as_ref());
        a.given("close", close.as_ref());
        a.given("json", json.as_ref().map(|p| p.display()).as_ref());
        a.given("hgrm", hgrm.as_ref().map(|p| p.display()).as_ref());
        a.given("scenario", scenario.as_ref());
        a.switch("quiet", *quiet);
        a.given("src", src.as_ref());
        let fmt = values::fmt_processes;
        a.differs("processes", &fmt(*processes), &fmt(d.processes));
        a.given("shard", shard.as_ref());
        a.given("start-at", start_at.as_ref());
        a.given("run-id", run_id.as_ref());
        a.given("child", child.as_ref());
        a.given("child-out", child_out.as_ref().map(|p| p.display()).as_ref());
        watch_pid.iter().for_each(|p| a.set("watch-pid", p));
        a.differs("disturbed-above", disturbed_above, &d.disturbed_above);
        a.0
    }
}

/// Arguments being written back.
struct Args(Vec<String>);

impl Args {
    fn set(&mut self, flag: &str, value: impl Display) {
        self.0.push(format!("--{flag}={value}"));
    }

    /// `--flag` when `on`.
    fn switch(&mut self, flag: &str, on: bool) {
        if on {
            self.0.push(format!("--{flag}"));
        }
    }

    /// A duration flag, written as the CLI reads it, when it differs from `default`.
    fn duration(&mut self, flag: &str, value: Duration, default: Duration) {
        let (value, default) = (values::fmt_duration(value), values::fmt_duration(default));
        self.differs(flag, &value, &default);
    }

    fn differs<T: PartialEq + Display>(&mut self, flag: &str, value: &T, default: &T) {
        if value != default {
            self.set(flag, value);
        }
    }

    fn given<T: Display>(&mut self, flag: &str, value: Option<&T>) {
        if let Some(v) = value {
            self.set(flag, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> RunArgs {
        RunArgs::parse_from(args).expect("the flags parse")
    }

    /// Every run's flags set, none left at its default.
    fn all_set() -> RunArgs {
        let start = format!("{}", crate::run::now_unix_s().ceil() + 600.0);
        parse(&[
            "--shard",
            "1/4",
            "--start-at",
            &start,
            "--run-id",
            "bench-7",
            "--proto",
            "udp",
            "--udp-timeout",
            "150ms",
            "--max-loss",
            "2.5",
            "--target",
            "127.0.0.1:9",
            "--target",
            "127.0.0.2:10",
            "--conns",
            "1000",
            "--size",
            "1KiB",
            "--pipeline",
            "4",
            "--rate",
            "16666.666666666668",
            "--duration",
            "1500ms",
            "--warmup",
            "0s",
            "--threads",
            "3",
            "--cores",
            "0,2-3",
            "--connect-rate",
            "250.5",
            "--connect-timeout",
            "750ms",
            "--lifetime",
            "250ms",
            "--lifetime-jitter",
            "20%",
            "--close",
            "rst",
            "--json",
            "r.json",
            "--hgrm",
            "/tmp/a b.hgrm",
            "--scenario",
            "conns=1000 my scenario",
            "--quiet",
            "--src",
            "127.0.0.2-127.0.0.4",
            "--processes",
            "3",
            "--child",
            "1/3",
            "--child-out",
            "/tmp/child-1.json",
            "--watch-pid",
            "1",
            "--watch-pid",
            "4242",
            "--disturbed-above",
            "0.3",
        ])
    }

    /// RunArgs -> to_args -> clap -> the same RunArgs, for the defaults, for every
    /// flag set, and for a few mixes; the defaults write back as nothing.
    #[test]
    fn to_args_round_trips() {
        assert_eq!(RunArgs::defaults().to_args(), Vec::<String>::new());
        let cases = [
            RunArgs::defaults(),
            all_set(),
            parse(&["--conns", "50000", "--processes", "auto", "-q"]),
            parse(&["--rate", "0.5", "--duration", "1h 2m", "--warmup", "3s"]),
            parse(&["--target", "127.0.0.1:12000", "--target", "127.0.0.1:12001"]),
            parse(&["--scenario=-odd name", "--size", "64MiB", "--processes", "1"]),
            parse(&["--proto", "udp", "--conns", "1000", "--max-loss", "0.1"]),
        ];
        for args in cases {
            let text = args.to_args();
            assert_eq!(RunArgs::parse_from(&text).expect("parses back"), args, "{text:?}");
        }
    }

    /// Every flag the clap definitions hold is written back by `to_args` when set:
    /// a flag added to RunArgs without a way back fails here.
    #[test]
    fn every_flag_is_written_back() {
        use clap::CommandFactory as _;
        let text = all_set().to_args();
        for arg in RunOnly::command().get_arguments() {
            let Some(long) = arg.get_long().filter(|l| !["help"].contains(l)) else { continue };
            let flag = format!("--{long}");
            assert!(
                text.iter().any(|a| a == &flag || a.starts_with(&format!("{flag}="))),
                "{flag} is not written back: {text:?}"
            );
        }
    }
}
