//! The `loadgen` binary: bad flags exit 2 with one line naming the flag; nothing
//! listening exits 1 (every connection missing) naming the address; wrong echoes
//! exit 1; `--help` states the exit codes; `--json` and `--hgrm` files read back. Every spawned process is bounded by `--duration` and killed if
//! it outlives a generous deadline.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use crate::common::stderr;

use engine::result::{decode_histogram, RunResult};

use super::servers::{Behaviour, Server};

/// Runs the binary with `args`; kills it after 30 s.
fn loadgen(args: &[&str]) -> Output {
    crate::common::loadgen(args, Duration::from_secs(30))
}

/// A temp path unique to this process and name.
fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("loadgen-run-{}-{name}", std::process::id()))
}

/// Each bad flag: exit 2 and a single stderr line that names the flag.
#[test]
fn bad_flags_exit_2_with_one_line() {
    let cases: [(&[&str], &str); 7] = [
        (&["--size", "8"], "--size"),
        (&["--size", "12XB"], "--size"),
        (&["--target", "127.0.0.1:notaport"], "--target"),
        (&["--duration", "ten"], "--duration"),
        (&["--conns", "0"], "--conns"),
        (&["--pipeline", "0"], "--pipeline"),
        (&["--no-such-flag"], "--no-such-flag"),
    ];
    for (args, flag) in cases {
        let o = loadgen(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(err.starts_with("loadgen: "), "{err}");
    }
}

/// A duration or a rate past its documented maximum is refused before anything
/// runs: exit 2, one line naming the flag and the maximum (`--rate 1e20`
/// overflowed the schedule, `--duration 500000000000y` wrapped the run clock, a
/// split run's parent panicked adding it to its bounds).
#[test]
fn durations_and_rates_past_their_maximum_exit_2() {
    // Past a year the shared duration parser refuses first; past the flag's own
    // maximum, the flag's rule.
    let huge = "500000000000y";
    let cases: [(&[&str], &str, &str); 9] = [
        (&["--duration", huge], "--duration", "longer than a year"),
        (&["--warmup", huge], "--warmup", "longer than a year"),
        (&["--connect-timeout", huge], "--connect-timeout", "longer than a year"),
        (&["--duration", "31days"], "--duration", "at most 30days"),
        (&["--warmup", "31days"], "--warmup", "at most 30days"),
        (&["--connect-timeout", "2h"], "--connect-timeout", "at most 1h"),
        (&["--rate", "1e20"], "--rate", "at most 1e9"),
        (&["--connect-rate", "1e20"], "--connect-rate", "at most 1e9"),
        (&["--rate", "inf"], "--rate", "at most 1e9"),
    ];
    for (args, flag, max) in cases {
        let o = loadgen(&[args, &["--target", "127.0.0.1:9", "--processes", "2"]].concat());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("loadgen: ") && err.contains(flag) && err.contains(max), "{err}");
    }
}

/// Nothing listening: every connection is missing, so exit 1 (the rule for some
/// missing connections too), within the connect timeout, naming the address and
/// the errno with its hint.
#[test]
fn nothing_listening_exits_1_naming_the_address() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("a");
    let target = addr.to_string();
    let o = loadgen(&["--target", &target, "--conns", "3", "--connect-timeout", "2s", "-q"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let last = err.lines().last().expect("a line");
    assert!(last.contains(&target) && last.contains("ECONNREFUSED"), "{err}");
}

/// `--help` states the one rule for exit codes.
#[test]
fn help_states_the_exit_codes() {
    let o = loadgen(&["--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0));
    assert!(help.contains("Exit codes:"), "{help}");
    assert!(help.contains("missing connections (some or all)"), "{help}");
    assert!(help.contains("130/143"), "{help}");
}

/// Wrong echoes: exit 1, and the summary says so.
#[test]
fn corrupted_echo_exits_1() {
    let server = Server::start(Behaviour { corrupt_at: Some(20), ..Default::default() });
    let target = server.addr.to_string();
    let o = loadgen(&[
        "--target",
        &target,
        "--conns",
        "2",
        "--duration",
        "300ms",
        "--warmup",
        "0s",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("mismatch 2"), "{out}");
    assert!(out.contains("first mismatch"), "{out}");
}

/// `--json` holds the contract (config, counts, decodable histograms, series) and
/// `--hgrm` the percentile table with its footer; a clean run exits 0.
#[test]
fn json_and_hgrm_read_back() {
    let server = Server::echo();
    let target = server.addr.to_string();
    let (json, hgrm) = (temp("out.json"), temp("out.hgrm"));
    let args = [
        "--target",
        &target,
        "--conns",
        "3",
        "--size",
        "100",
        "--duration",
        "1200ms",
        "--warmup",
        "100ms",
        "--threads",
        "2",
    ];
    let mut all: Vec<&str> = args.to_vec();
    let (js, hs) = (json.to_string_lossy().into_owned(), hgrm.to_string_lossy().into_owned());
    all.extend(["--json", &js, "--hgrm", &hs]);
    let o = loadgen(&all);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The live line came once per second on stderr.
    assert!(stderr(&o).contains("msgs/s"), "{}", stderr(&o));
    let text = std::fs::read_to_string(&json).expect("json written");
    let r: RunResult = serde_json::from_str(&text).expect("json parses as RunResult");
    assert_eq!(r.command[1..], all[..]);
    assert_eq!((r.config.conns, r.config.size, r.config.threads), (3, 100, 2));
    assert_eq!(r.config.targets, vec![target.clone()]);
    assert_eq!((r.connections.requested, r.connections.established), (3, 3));
    assert_eq!(r.exit_code, 0);
    assert!(r.throughput.messages > 0 && r.throughput.msgs_per_sec > 0.0);
    assert!(!r.environment.kernel.is_empty());
    let h = decode_histogram(&r.histograms.latency).expect("latency histogram");
    assert_eq!(h.len(), r.latency_us.count);
    assert_eq!(decode_histogram(&r.histograms.connect).expect("connect").len(), 3);
    assert!(!r.series.is_empty() && r.series.len() <= 2, "{:?}", r.series);
    assert!(r.series.iter().map(|s| s.msgs).sum::<u64>() > 0);
    let table = std::fs::read_to_string(&hgrm).expect("hgrm written");
    assert!(table.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"));
    assert!(table.contains("#[Mean    ="));
    assert!(table.contains(&format!("Total count    = {:>12}]", r.latency_us.count)));
    let _ = std::fs::remove_file(&json);
    let _ = std::fs::remove_file(&hgrm);
}

/// `--generate` prints a man page and shell completions of loadgen and its
/// subcommands, made from the flag definitions; exit 0.
#[test]
fn generates_man_page_and_completions() {
    for (kind, marker) in [
        ("man", ".TH loadgen 1"),
        ("complete-bash", "_loadgen()"),
        ("complete-zsh", "#compdef loadgen"),
        ("complete-fish", "complete -c loadgen"),
    ] {
        let o = loadgen(&["--generate", kind]);
        // roff escapes the dashes of a man page: read it without the escapes.
        let text = String::from_utf8_lossy(&o.stdout).replace('\\', "");
        assert_eq!(o.status.code(), Some(0), "{kind}: {}", stderr(&o));
        assert!(text.contains(marker), "{kind}: {text}");
        assert!(text.contains("conns") && text.contains("suite"), "{kind}: {text}");
    }
}
