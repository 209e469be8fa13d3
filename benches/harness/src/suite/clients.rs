//! Clients other than loadgen, for the sections that set loadgen beside them: the
//! peers' bare client `echoload`, `tpc-client` (a blocking thread per connection,
//! rust_echo_bench's design) and `sockperf ping-pong` (the latency floor). Each runs
//! pinned with taskset, bounded in time, and prints one summary that is parsed here
//! into [`ClientFigures`], the same figures a loadgen result gives.
//!
//! Each tool reports its own CPU time over its measured window (echoload from
//! getrusage, tpc-client and loadgen from /proc/self/stat), so "round trips per
//! client CPU-second" means the same thing for all three.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _};
use common::child::{Child, Spec};

use super::plan::{Client, Step};
use super::programs::Programs;
use crate::suite_index::ClientFigures;
use engine::result::RunResult;

/// Runs `step`'s client against 127.0.0.1:`port`; its output goes to `log` too.
pub fn run(
    programs: &Programs,
    step: &Step,
    port: u16,
    log: &Path,
) -> anyhow::Result<ClientFigures> {
    let (program, args) = command(programs, step, port)?;
    let spec = Spec::new(&program)
        .args(&args)
        .pinned(&step.client_cores[..1.min(step.client_cores.len())]);
    let mut child = Child::start(spec)?;
    let limit = step.duration + step.warmup + Duration::from_secs(60);
    let status = match child.wait_bounded(limit, None)? {
        Some(status) => status,
        None => child.kill()?,
    };
    let lines = child.remaining_lines(Duration::from_secs(2));
    let text: String = lines.iter().map(|l| format!("{}\n", l.text())).collect();
    std::fs::write(log, &text).with_context(|| format!("cannot write {}", log.display()))?;
    let figures = match step.client {
        Client::Echoload => parse_echoload(&text),
        Client::TpcClient => parse_tpc_client(&text),
        Client::Sockperf => parse_sockperf(&text),
        other => bail!("{} is not an outside client", other.label()),
    };
    figures.with_context(|| {
        let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output");
        format!("{} printed no figures ({status}): {last}", step.client.label())
    })
}

/// The program and arguments of `step`'s client.
fn command(
    programs: &Programs,
    step: &Step,
    port: u16,
) -> anyhow::Result<(std::path::PathBuf, Vec<String>)> {
    let secs = |d: Duration| format!("{}", d.as_secs_f64());
    let addr = format!("127.0.0.1:{port}");
    let missing = |what: &str| anyhow::anyhow!("{what} was not found on this machine");
    Ok(match step.client {
        Client::Echoload => (
            programs.echoload.clone().ok_or_else(|| missing("echoload"))?,
            vec![
                "-a".into(),
                addr,
                "-c".into(),
                step.conns.to_string(),
                "-t".into(),
                "1".into(),
                "-s".into(),
                "64".into(),
                "-w".into(),
                secs(step.warmup),
                "-d".into(),
                secs(step.duration),
            ],
        ),
        Client::TpcClient => (
            programs.tpc_client.clone().ok_or_else(|| missing("tpc-client"))?,
            vec![addr, step.conns.to_string(), "64".into(), secs(step.warmup), secs(step.duration)],
        ),
        Client::Sockperf => (
            programs.sockperf.clone().ok_or_else(|| missing("sockperf"))?,
            vec![
                "ping-pong".into(),
                "--tcp".into(),
                "-i".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string(),
                "-m".into(),
                "64".into(),
                "--full-rtt".into(),
                "-t".into(),
                format!("{}", step.duration.as_secs().max(1)),
            ],
        ),
        other => bail!("{} is not an outside client", other.label()),
    })
}

/// The value of `key=` on a `key=value ...` line.
fn kv(text: &str, key: &str) -> Option<f64> {
    let prefix = format!("{key}=");
    text.split_whitespace().find_map(|w| w.strip_prefix(&prefix)?.parse().ok())
}

/// echoload's one line: `... rps=N p50_us=N p99_us=N ... rt_per_cpu_s=N ...`.
pub fn parse_echoload(text: &str) -> Option<ClientFigures> {
    let line = text.lines().find(|l| l.contains("rt_per_cpu_s="))?;
    Some(ClientFigures {
        tool: "echoload".into(),
        msgs_per_sec: kv(line, "rps")?,
        rt_per_cpu_s: kv(line, "rt_per_cpu_s"),
        p50_us: kv(line, "p50_us"),
        p99_us: kv(line, "p99_us"),
        line: line.trim().to_string(),
    })
}

/// tpc-client's one line: `conns=N ok=N ... rps=N cpu_s=N rt_per_cpu_s=N`.
pub fn parse_tpc_client(text: &str) -> Option<ClientFigures> {
    let line = text.lines().find(|l| l.contains("rt_per_cpu_s="))?;
    Some(ClientFigures {
        tool: "tpc-client".into(),
        msgs_per_sec: kv(line, "rps")?,
        rt_per_cpu_s: kv(line, "rt_per_cpu_s"),
        p50_us: None,
        p99_us: None,
        line: line.trim().to_string(),
    })
}

/// sockperf ping-pong's statistics: the valid duration's received messages over its
/// run time, and the full round trip's 50th and 99th percentiles (µs).
pub fn parse_sockperf(text: &str) -> Option<ClientFigures> {
    let valid = text.lines().find(|l| l.contains("[Valid Duration]"))?;
    let field = |key: &str| -> Option<f64> {
        let rest = valid.split(key).nth(1)?;
        rest.trim_start_matches('=').split([' ', ';']).next()?.parse().ok()
    };
    let run_time = field("RunTime")?;
    let received = field("ReceivedMessages")?;
    let percentile = |p: &str| -> Option<f64> {
        let line = text.lines().find(|l| l.contains(&format!("percentile {p} =")))?;
        line.rsplit('=').next()?.trim().parse().ok()
    };
    Some(ClientFigures {
        tool: "sockperf".into(),
        msgs_per_sec: if run_time > 0.0 { received / run_time } else { 0.0 },
        rt_per_cpu_s: None,
        p50_us: percentile("50.000"),
        p99_us: percentile("99.000"),
        line: valid.trim().to_string(),
    })
}

/// The same figures from a loadgen result (its measured window's CPU time).
pub fn from_result(r: &RunResult) -> ClientFigures {
    ClientFigures {
        tool: "loadgen".into(),
        msgs_per_sec: r.throughput.msgs_per_sec,
        rt_per_cpu_s: r.client_cpu_s.filter(|c| *c > 0.0).map(|c| r.throughput.messages as f64 / c),
        p50_us: Some(r.latency_us.p50),
        p99_us: Some(r.latency_us.p99),
        line: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each tool's real output format reads into the figures.
    #[test]
    fn parses_each_tool() {
        let e = "conns=10 connected=10 failed=0 errors=0 threads=1 size=64 connect_s=0.001 \
                 window_s=5.000 rts=700000 rps=140000 p50_us=70.1 p90_us=80.0 p99_us=120.5 \
                 p999_us=300.0 max_us=900.0 mean_us=71.0 cpu_s=4.9 rt_per_cpu_s=142857 \
                 cpu_total_s=6.0 rts_all=840000\n";
        let f = parse_echoload(e).expect("echoload");
        assert_eq!(
            (f.msgs_per_sec, f.rt_per_cpu_s, f.p99_us),
            (140000.0, Some(142857.0), Some(120.5))
        );
        let t = "conns=10 ok=10 spawn_failed=0 rts=500 rps=100 cpu_s=0.01 rt_per_cpu_s=50000\n";
        let f = parse_tpc_client(t).expect("tpc");
        assert_eq!((f.msgs_per_sec, f.rt_per_cpu_s, f.p50_us), (100.0, Some(50000.0), None));
        let s = "sockperf: [Valid Duration] RunTime=1.550 sec; SentMessages=94559; ReceivedMessages=94559\n\
                 sockperf: ---> percentile 99.000 =   67.128\n\
                 sockperf: ---> percentile 50.000 =   13.650\n";
        let f = parse_sockperf(s).expect("sockperf");
        assert!((f.msgs_per_sec - 94559.0 / 1.55).abs() < 1e-6);
        assert_eq!((f.p50_us, f.p99_us), (Some(13.65), Some(67.128)));
        assert!(parse_echoload("connect failed").is_none());
    }
}
