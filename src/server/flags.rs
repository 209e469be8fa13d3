//! echod's command line, defined once: [`Flags`] is what `echod` parses (its
//! `--help`), what [`Flags::config`] turns into the server's settings, and what
//! [`Flags::to_args`] turns back into a command line, for the `--processes`
//! children and for any program that starts echod (loadgen's suite).
//!
//! Invariants: `Flags::try_parse_from(["echod"] + flags.to_args()) == flags` for every
//! `flags` (tested); `to_args` names only the flags whose value differs from the
//! default, so an older echod, which may lack a newer flag, understands a command
//! line that does not use it. `to_args` destructures every field, so a new flag does
//! not compile until it says how it is written back.

use std::ffi::{OsStr, OsString};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use super::{Config, Model, Proto, SharedLimit};

/// Multi-core TCP echo server: one pinned worker per core, each with its own mio
/// event loop and its own SO_REUSEPORT listener on the one port.
///
/// Examples:
///   echod --workers 8 --port 12000               (loopback only: the default)
///   echod --bind 0.0.0.0 --idle-timeout 60s       (every host that can reach it)
///   echod --port 12000 --stats-interval 1s --stats-json stats.json
///   echod --workers 4 --processes 4 --port 12000   (4 processes, 1 worker each)
///   echod --proto both --port 12000                (TCP and UDP echo on one port)
#[derive(Parser, Clone, Debug, PartialEq, Eq)]
#[command(version, verbatim_doc_comment)]
pub struct Flags {
    /// Worker threads (default: one per allowed core).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub workers: Option<u64>,
    /// Port to listen on; 0 lets the kernel pick one.
    #[arg(long, default_value_t = 12000)]
    pub port: u16,
    /// Address to listen on; must be assigned to this machine. The default answers
    /// this machine only; 0.0.0.0 (or a host address) answers every host that can
    /// reach it.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Listen backlog per listener (capped by net.core.somaxconn).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub backlog: u32,
    /// Each worker's read buffer, e.g. 64KiB; also the most bytes held for one peer.
    #[arg(long, default_value = "64KiB", value_parser = parse_buffer)]
    pub buffer: usize,
    /// Accept connections beyond this many (whole server, all processes), close them at
    /// once and count them.
    #[arg(long)]
    pub max_conns: Option<usize>,
    /// How connections reach workers: reuseport (default), shared, threads, or uring.
    #[arg(long, value_enum, default_value_t = Model::Reuseport)]
    pub model: Model,
    /// Protocols to serve on the port: tcp (default), udp, or both. With udp or both,
    /// each worker also owns one SO_REUSEPORT UDP socket, served by its own loop on
    /// the worker's core (needs --model reuseport).
    #[arg(long, value_enum, default_value_t = Proto::Tcp)]
    pub proto: Proto,
    /// With --model threads: at most N connection threads (whole server); past that,
    /// connections are accepted and closed. Default: what this machine allows.
    #[arg(long, value_name = "N")]
    pub max_threads: Option<usize>,
    /// Do not pin workers to cores.
    #[arg(long)]
    pub no_pin: bool,
    /// Join a port another SO_REUSEPORT listener already holds (traffic is split).
    #[arg(long)]
    pub allow_shared_port: bool,
    /// Print connections and messages per worker every interval, e.g. 1s.
    #[arg(long, value_parser = common::units::parse_duration)]
    pub stats_interval: Option<Duration>,
    /// Write per-worker stats as JSON to FILE at exit.
    #[arg(long, value_name = "FILE")]
    pub stats_json: Option<PathBuf>,
    /// Run the workers in P processes sharing the port (each its own fd limit).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub processes: u64,
    /// Close a TCP connection idle (no byte read or written) this long, e.g. 60s
    /// (counted in closed_idle). Default: never.
    #[arg(long, value_name = "DURATION", value_parser = common::units::parse_duration)]
    pub idle_timeout: Option<Duration>,
    /// The most bytes one process holds toward peers that do not read, e.g. 256MiB;
    /// past it echod stops reading from every connection until it is under again
    /// (counted in held_pauses).
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = parse_held)]
    pub max_held_bytes: u64,
    /// UDP answers per second per source (address and port), or off: a loop between
    /// two echo services stops at it. Default: 1000 when --bind is not loopback,
    /// off on loopback.
    #[arg(long, value_name = "N|off", value_parser = parse_udp_rate)]
    pub udp_rate_limit: Option<u32>,
    /// (internal, --processes children) id of this process's first worker.
    #[arg(long, hide = true, default_value_t = 0)]
    pub first_worker: usize,
    /// (internal, --processes children) FD:SLOT:PROCESSES of the shared --max-conns count.
    #[arg(long, hide = true, value_parser = parse_shared_limit)]
    pub max_conns_shared: Option<SharedLimit>,
    /// (internal, --processes children) where to write stats; stdin EOF stops.
    #[arg(long, hide = true, value_name = "FILE")]
    pub child_stats: Option<PathBuf>,
}

fn parse_buffer(text: &str) -> Result<usize, String> {
    match common::units::parse_size(text)? {
        0 => Err("the buffer must hold at least one byte, e.g. 64KiB".into()),
        n => usize::try_from(n).map_err(|_| format!("'{text}' is too large")),
    }
}

fn parse_held(text: &str) -> Result<u64, String> {
    match common::units::parse_size(text)? {
        0 => Err("echod could never write back a short write: use e.g. 256MiB".into()),
        n => Ok(n),
    }
}

/// `off` (or 0) is 0: no limit; else answers per second.
fn parse_udp_rate(text: &str) -> Result<u32, String> {
    match text.trim() {
        "off" => Ok(0),
        t => t.parse().map_err(|_| {
            format!("'{text}': expected answers per second (at most {}) or off", u32::MAX)
        }),
    }
}

fn parse_shared_limit(text: &str) -> Result<SharedLimit, String> {
    text.parse()
}

impl Default for Flags {
    /// What `echod` alone means: every flag at its default.
    fn default() -> Flags {
        // Infallible: no flag is required and no default fails its own parser (tested).
        Flags::try_parse_from(["echod"]).unwrap_or_else(|e| panic!("echod's defaults: {e}"))
    }
}

impl Flags {
    /// The server's settings these flags ask for (checked when the server binds).
    pub fn config(&self) -> Config {
        Config {
            bind: self.bind,
            port: self.port,
            workers: self.workers.map_or_else(|| Config::default().workers, |w| w as usize),
            backlog: self.backlog,
            buffer: self.buffer,
            max_conns: self.max_conns,
            max_conns_shared: self.max_conns_shared,
            model: self.model,
            proto: self.proto,
            max_threads: self.max_threads,
            pin: !self.no_pin,
            allow_shared_port: self.allow_shared_port,
            stats_interval: self.stats_interval,
            first_worker: self.first_worker,
            idle_timeout: self.idle_timeout,
            max_held_bytes: self.max_held_bytes,
            udp_rate_limit: self.udp_rate_limit,
        }
    }

    /// The command line (without the program) that parses back into these flags:
    /// `--name=value` for each flag whose value differs from the default, in the
    /// order of the definitions; nothing for a default.
    pub fn to_args(&self) -> Vec<OsString> {
        let Flags {
            workers,
            port,
            bind,
            backlog,
            buffer,
            max_conns,
            model,
            proto,
            max_threads,
            no_pin,
            allow_shared_port,
            stats_interval,
            stats_json,
            processes,
            idle_timeout,
            max_held_bytes,
            udp_rate_limit,
            first_worker,
            max_conns_shared,
            child_stats,
        } = self;
        let d = Flags::default();
        let mut args = Args(Vec::new());
        args.value("--workers", workers, &d.workers);
        args.value("--port", port, &d.port);
        args.value("--bind", bind, &d.bind);
        args.value("--backlog", backlog, &d.backlog);
        args.value("--buffer", buffer, &d.buffer);
        args.value("--max-conns", max_conns, &d.max_conns);
        args.value("--model", model, &d.model);
        args.value("--proto", proto, &d.proto);
        args.value("--max-threads", max_threads, &d.max_threads);
        args.switch("--no-pin", *no_pin, d.no_pin);
        args.switch("--allow-shared-port", *allow_shared_port, d.allow_shared_port);
        args.value("--stats-interval", stats_interval, &d.stats_interval);
        args.value("--stats-json", stats_json, &d.stats_json);
        args.value("--processes", processes, &d.processes);
        args.value("--idle-timeout", idle_timeout, &d.idle_timeout);
        args.value("--max-held-bytes", max_held_bytes, &d.max_held_bytes);
        args.value("--udp-rate-limit", udp_rate_limit, &d.udp_rate_limit);
        args.value("--first-worker", first_worker, &d.first_worker);
        args.value("--max-conns-shared", max_conns_shared, &d.max_conns_shared);
        args.value("--child-stats", child_stats, &d.child_stats);
        args.0
    }
}

/// A command line being written back.
struct Args(Vec<OsString>);

impl Args {
    /// `--name=value` when `value` differs from `default` (and is there at all).
    fn value<T: ArgText + PartialEq>(&mut self, name: &str, value: &T, default: &T) {
        if value == default {
            return;
        }
        if let Some(text) = value.arg_text() {
            let mut arg = OsString::from(format!("{name}="));
            arg.push(text);
            self.0.push(arg);
        }
    }

    /// `--name` when on and the default is off.
    fn switch(&mut self, name: &str, on: bool, default: bool) {
        if on && !default {
            self.0.push(name.into());
        }
    }
}

/// How a flag's value is written so that its parser reads back the same value.
trait ArgText {
    /// The text; `None` for an absent optional value.
    fn arg_text(&self) -> Option<OsString>;
}

macro_rules! arg_text_by_display {
    ($($t:ty),*) => {$(
        impl ArgText for $t {
            fn arg_text(&self) -> Option<OsString> {
                Some(self.to_string().into())
            }
        }
    )*};
}

// `--buffer` as plain bytes; `SharedLimit` as FD:SLOT:PROCESSES.
arg_text_by_display!(u16, u32, u64, usize, IpAddr, SharedLimit);

impl ArgText for Model {
    fn arg_text(&self) -> Option<OsString> {
        Some(self.name().into())
    }
}

impl ArgText for Proto {
    fn arg_text(&self) -> Option<OsString> {
        Some(self.name().into())
    }
}

impl ArgText for Duration {
    fn arg_text(&self) -> Option<OsString> {
        // humantime writes what `units::parse_duration` reads back exactly: `1s 500ms`.
        Some(humantime::format_duration(*self).to_string().into())
    }
}

impl ArgText for PathBuf {
    fn arg_text(&self) -> Option<OsString> {
        Some(OsStr::to_owned(self.as_os_str()))
    }
}

impl<T: ArgText> ArgText for Option<T> {
    fn arg_text(&self) -> Option<OsString> {
        self.as_ref()?.arg_text()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::CommandFactory;

    use super::*;

    /// Parses `args` after the program name.
    fn parse(args: &[OsString]) -> Flags {
        let argv = std::iter::once(OsString::from("echod")).chain(args.iter().cloned());
        Flags::try_parse_from(argv).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// Every flag away from its default at once.
    fn everything() -> Flags {
        Flags {
            workers: Some(7),
            port: 0,
            bind: "::1".parse().expect("ip"),
            backlog: 17,
            buffer: 65_537,
            max_conns: Some(1000),
            model: Model::Threads,
            proto: Proto::Both,
            max_threads: Some(33),
            no_pin: true,
            allow_shared_port: true,
            stats_interval: Some(Duration::from_millis(1500)),
            stats_json: Some(PathBuf::from("/tmp/a b/stats=1.json")),
            processes: 3,
            idle_timeout: Some(Duration::from_millis(2500)),
            max_held_bytes: 1 << 20,
            udp_rate_limit: Some(0),
            first_worker: 4,
            max_conns_shared: Some(SharedLimit { fd: 9, slot: 2, processes: 3 }),
            child_stats: Some(PathBuf::from("child.json")),
        }
    }

    /// Flags -> to_args -> parse gives the same flags, for the defaults, every flag
    /// changed, and a few configurations between.
    #[test]
    fn round_trip() {
        let d = Flags::default();
        let cases = [
            d.clone(),
            everything(),
            Flags { port: 0, workers: Some(1), no_pin: true, ..d.clone() },
            Flags { model: Model::Shared, buffer: 16 * 1024, ..d.clone() },
            Flags { proto: Proto::Udp, processes: 2, ..d.clone() },
            Flags { stats_interval: Some(Duration::new(2, 7)), ..d.clone() },
            Flags { bind: "127.0.0.1".parse().expect("ip"), processes: 2, ..d.clone() },
            Flags { max_conns: Some(1), stats_json: Some("s.json".into()), ..d },
        ];
        for flags in cases {
            let args = flags.to_args();
            assert_eq!(parse(&args), flags, "{args:?}");
        }
    }

    /// The defaults write nothing; one changed flag writes one argument.
    #[test]
    fn only_what_differs_is_written() {
        assert!(Flags::default().to_args().is_empty());
        let one = Flags { port: 0, ..Flags::default() };
        assert_eq!(one.to_args(), ["--port=0"]);
        let args = Flags { model: Model::Threads, no_pin: true, ..Flags::default() }.to_args();
        assert_eq!(args, ["--model=threads", "--no-pin"]);
    }

    /// `to_args` names every flag the command defines (and only those): with every
    /// flag changed, the names written are exactly the command's long flags.
    #[test]
    fn every_flag_is_written_back() {
        let command = Flags::command();
        let defined: BTreeSet<String> = command
            .get_arguments()
            .filter_map(|a| a.get_long())
            .filter(|l| !["help", "version"].contains(l))
            .map(|l| format!("--{l}"))
            .collect();
        let written: BTreeSet<String> = everything()
            .to_args()
            .iter()
            .map(|a| a.to_string_lossy().split('=').next().unwrap_or_default().to_string())
            .collect();
        assert_eq!(written, defined);
    }

    /// The flags' defaults are the server's defaults.
    #[test]
    fn defaults_are_the_config_defaults() {
        assert_eq!(Flags::default().config(), Config::default());
    }
}
