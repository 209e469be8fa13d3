//! The human-readable summary printed on stdout at the end of a run: what ran,
//! connections (with a hint per failing errno), throughput, latency percentiles (and
//! in open loop the uncorrected figures and the generator's lag, and what became
//! of the schedule: how far behind it ran, what was never sent), errors (UDP: the
//! datagrams' fate and the loss rule), loadgen's CPU time, a watched server's cost
//! per round trip and a disturbed machine. Units are chosen by magnitude with
//! `common::units`.

use std::fmt::Write as _;

use common::units::{fmt_bytes, fmt_count, fmt_micros};

use super::connect::hint;
use super::served;
use crate::result::{Percentiles, Proto, RunResult};

fn percentiles(p: &Percentiles) -> String {
    if p.count == 0 {
        return "no samples".to_string();
    }
    format!(
        "min {}  p50 {}  p90 {}  p99 {}  p99.9 {}  p99.99 {}  max {}  mean {}  ({} samples)",
        fmt_micros(p.min),
        fmt_micros(p.p50),
        fmt_micros(p.p90),
        fmt_micros(p.p99),
        fmt_micros(p.p999),
        fmt_micros(p.p9999),
        fmt_micros(p.max),
        fmt_micros(p.mean),
        fmt_count(p.count as f64)
    )
}

/// A rate: whole numbers from 10 on, one decimal below (never "0" for a few).
fn fmt_rate(per_s: f64) -> String {
    if per_s >= 10.0 {
        fmt_count(per_s.round())
    } else {
        format!("{per_s:.1}")
    }
}

/// The summary text; `first_mismatch` describes the first wrong byte, if any;
/// the generator's own CPU time in the measured phase is the result's
/// `client_cpu_s`.
pub fn render(r: &RunResult, first_mismatch: Option<&str>) -> String {
    let mut s = String::new();
    what_ran(&mut s, r);
    connections(&mut s, r);
    if let (Some(settings), Some(churn)) = (&r.config.churn, &r.churn) {
        for line in super::churn_outcome::lines(settings, churn) {
            let _ = writeln!(s, "  {line}");
        }
    }
    let t = &r.throughput;
    let _ = writeln!(
        s,
        "  throughput    {} msgs/s, {}/s ({} messages)",
        fmt_count(t.msgs_per_sec.round()),
        fmt_bytes(t.bytes_per_sec),
        fmt_count(t.messages as f64)
    );
    latency(&mut s, r);
    let e = &r.errors;
    match r.config.proto {
        Proto::Tcp => {
            let _ = writeln!(
                s,
                "  errors        mismatch {}, reset {}, eof {}, timeout {}",
                e.mismatch, e.reset, e.eof, e.timeout
            );
        }
        Proto::Udp => datagrams(&mut s, r),
    }
    if let Some(m) = first_mismatch {
        let _ = writeln!(s, "  first mismatch: {m}");
    }
    cpu(&mut s, r);
    watched(&mut s, r);
    kernel(&mut s, r);
    s
}

/// What the kernel counted that explains a shortfall (accept queues overflowed,
/// SYN cookies, memory pressure); nothing when no such counter rose.
fn kernel(s: &mut String, r: &RunResult) {
    let Some(k) = &r.kernel else { return };
    for (i, line) in k.risen().iter().enumerate() {
        let label = if i == 0 { "kernel" } else { "" };
        let _ = writeln!(s, "  {label:<14}{line}");
    }
}

/// UDP: the datagrams' fate, the loss rule when `--max-loss` is given, and the
/// flows ended by an error.
fn datagrams(s: &mut String, r: &RunResult) {
    let e = &r.errors;
    let n = |v: Option<u64>| v.unwrap_or(0);
    let loss = e.loss_percent.map_or(String::new(), |p| format!(" ({p:.2}%)"));
    let udp = r.config.udp.clone().unwrap_or_default();
    let timeout = match udp.timeout_s {
        Some(t) => format!("--udp-timeout {}", fmt_micros(t * 1e6)),
        None => "adaptive timeout".to_string(),
    };
    let unsent = match e.unsent.filter(|u| *u > 0) {
        Some(u) => format!(", never sent {u}"),
        None => String::new(),
    };
    let _ = writeln!(
        s,
        "  datagrams     lost {}{unsent}{loss}, late {}, duplicated {}, reordered {}, corrupted {} ({timeout})",
        n(e.lost),
        n(e.late),
        n(e.duplicated),
        n(e.reordered),
        n(e.corrupted)
    );
    if let (Some(max), Some(loss)) = (udp.max_loss_percent, e.loss_percent) {
        let verdict = if loss > max { "above it: exit 1" } else { "within it" };
        let _ = writeln!(s, "  loss          {loss:.2}% against --max-loss {max}%: {verdict}");
    }
    let refused = match n(e.refused) {
        0 => "0".to_string(),
        r => format!("{r} (ECONNREFUSED: the target's UDP port closed while in use)"),
    };
    let _ = writeln!(
        s,
        "  errors        corrupted {}, refused {refused}, flows ended by another error {}",
        n(e.corrupted),
        e.reset
    );
}

/// The first line: connections, targets, message size, mode, time measured.
fn what_ran(s: &mut String, r: &RunResult) {
    let c = &r.config;
    let mode = match c.rate {
        Some(rate) => format!("open loop at {} msgs/s (pipeline {})", fmt_count(rate), c.pipeline),
        None => format!("closed loop (pipeline {})", c.pipeline),
    };
    let (what, messages) = match c.proto {
        Proto::Tcp => ("connections", "messages"),
        Proto::Udp => ("UDP flows", "datagrams"),
    };
    let _ = writeln!(
        s,
        "loadgen: {} {what} to {}, {} {messages}, {mode}, {:.2} s measured{}",
        c.conns,
        c.targets.join(", "),
        fmt_bytes(c.size as f64),
        r.throughput.duration_s,
        if r.interrupted { " (INTERRUPTED)" } else { "" }
    );
}

/// Connections established, served and unserved, connect times, and a hint per
/// failing errno.
fn connections(s: &mut String, r: &RunResult) {
    let k = &r.connections;
    let served = match (k.served, k.unserved) {
        (Some(n), Some(0)) => format!(", {n} served"),
        (Some(n), Some(u)) => format!(", {n} served, {u} unserved"),
        _ => String::new(),
    };
    let (label, up, connect) = match r.config.proto {
        Proto::Tcp => ("connections", "established", "connect"),
        Proto::Udp => ("flows", "open", "open"),
    };
    let _ = writeln!(
        s,
        "  {label:<13} {}/{} {up} ({}/s){served}; {connect} p50 {}, p99 {}, max {}",
        k.established,
        k.requested,
        fmt_rate(k.connect_rate_per_sec),
        fmt_micros(r.connect_latency_us.p50),
        fmt_micros(r.connect_latency_us.p99),
        fmt_micros(r.connect_latency_us.max)
    );
    for (errno, n) in &k.failed_by_errno {
        let _ = writeln!(s, "    failed      {n} x {errno}: {}", hint(errno));
    }
    if let Some(u) = k.unserved.filter(|u| *u > 0) {
        let why = match r.config.proto {
            Proto::Tcp => {
                let timeout = std::time::Duration::from_secs_f64(r.config.connect_timeout_s);
                format!("established, never served: {}", served::why(timeout))
            }
            Proto::Udp => "flows sent and were never answered: every datagram of theirs was \
                           lost (is the server answering?)"
                .to_string(),
        };
        let _ = writeln!(s, "    unserved    {u} {why}");
    }
}

/// Latency percentiles; in open loop also the uncorrected ones and the schedule lag.
fn latency(s: &mut String, r: &RunResult) {
    let label = if r.config.rate.is_some() { "latency (CO-corrected)" } else { "latency" };
    let _ = writeln!(s, "  {label:<13} {}", percentiles(&r.latency_us));
    if let Some(u) = &r.latency_uncorrected_us {
        let _ = writeln!(s, "  uncorrected   {}", percentiles(u));
    }
    if let Some(lag) = &r.schedule_lag_us {
        let _ = writeln!(s, "  schedule lag  {}", percentiles(lag));
    }
    if let Some(line) = schedule(r) {
        let _ = writeln!(s, "  schedule      {line}");
    }
}

/// Open loop: what became of the messages scheduled for the measured phase.
fn schedule(r: &RunResult) -> Option<String> {
    let e = &r.errors;
    let (scheduled, unsent) = (e.scheduled?, e.unsent.unwrap_or(0));
    let what = match r.config.proto {
        Proto::Tcp => "messages",
        Proto::Udp => "datagrams",
    };
    let behind = match (e.behind_messages.unwrap_or(0), e.behind_s.unwrap_or(0.0)) {
        (0, _) => String::new(),
        (n, s) => format!(
            "; {} behind when the measured phase ended ({} due, not yet sent)",
            fmt_micros(s * 1e6),
            fmt_count(n as f64)
        ),
    };
    if unsent == 0 {
        return Some(format!("{} {what} scheduled, all sent{behind}", fmt_count(scheduled as f64)));
    }
    let pct = 100.0 * unsent as f64 / scheduled.max(1) as f64;
    let verdict = match r.config.udp.as_ref().and_then(|u| u.max_loss_percent) {
        Some(_) => "counted as lost",
        None => "the sender could not keep its schedule: exit 1",
    };
    Some(format!(
        "{} of {} {what} scheduled never sent ({pct:.1}%){behind}: {verdict}",
        fmt_count(unsent as f64),
        fmt_count(scheduled as f64)
    ))
}

/// The generator's own CPU time in the measured phase, and round trips per CPU-second.
fn cpu(s: &mut String, r: &RunResult) {
    let t = &r.throughput;
    if let Some(cpu) = r.client_cpu_s.filter(|_| t.duration_s > 0.0) {
        let per_cpu =
            if cpu > 0.0 { fmt_count((t.messages as f64 / cpu).round()) } else { "-".into() };
        let _ = writeln!(
            s,
            "  loadgen cpu   {cpu:.2} s in {:.2} s measured ({:.0}% of one core), {per_cpu} round trips per CPU-second",
            t.duration_s,
            100.0 * cpu / t.duration_s
        );
    }
}

/// The watched server's cost per round trip (`--watch-pid`), and a line when the
/// machine was disturbed during the measured phase.
fn watched(s: &mut String, r: &RunResult) {
    if let Some(c) = &r.server {
        let per_cpu = c.rt_per_cpu_s.map_or("-".into(), |v| fmt_count(v.round()));
        let us = c.cpu_us_per_rt.map_or("-".into(), |v| format!("{v:.2} µs"));
        let switches = c.context_switches_per_rt.map_or("-".into(), |v| format!("{v:.2}"));
        let _ = writeln!(
            s,
            "  server: {us} CPU per round trip ({per_cpu} round trips per CPU-second), {switches} context switches per round trip"
        );
    }
    if let Some(reason) = r.machine.as_ref().filter(|m| m.disturbed).and_then(|m| m.reason.as_ref())
    {
        let _ = writeln!(s, "  disturbed: {reason}; repeat the run on a quiet machine");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{MachineNoise, ServerCost};
    use crate::run::histogram::record;
    use crate::run::outcome::{build, Measurement};
    use crate::run::{Config, Tally};

    /// The summary's lines come in their order, each section when it applies:
    /// what ran, connections (a failing errno, the unserved), throughput, the open
    /// loop's three latency lines, errors, the first mismatch, the CPU line, the
    /// watched server's cost and the machine's disturbance.
    #[test]
    fn lines_in_order() {
        let mut c = Config::local_test("127.0.0.1:9".parse().expect("addr"), 4);
        c.rate = Some(1000.0);
        let mut t = Tally::new(4);
        (t.established, t.served, t.unserved, t.messages) = (3, 2, 1, 500);
        t.connect_failed("ECONNREFUSED");
        t.schedule = crate::run::tally::ScheduleCounts {
            scheduled: 600,
            unsent: 100,
            behind_messages: 150,
            behind_ns: 250_000_000,
        };
        for ns in [10_000, 20_000] {
            record(&mut t.latency, ns);
            record(&mut t.latency_uncorrected, ns);
            record(&mut t.schedule_lag, ns);
        }
        let m = Measurement {
            tally: t,
            intervals: Vec::new(),
            measured_s: 1.0,
            interrupted: true,
            cpu_s: Some(0.5),
            server: Some(ServerCost { cpu_s: 0.25, context_switches: 5, ..Default::default() }),
            machine: Some(MachineNoise {
                disturbed: true,
                reason: Some("0.62 cores busy outside loadgen and the server".into()),
                ..Default::default()
            }),
            started_at: String::new(),
            clock: None,
        };
        let text = render(&build(&c, &m).expect("result"), Some("conn 1 message 2: ..."));
        let starts = [
            "loadgen: 4 connections to 127.0.0.1:9",
            "  connections   3/4 established",
            "    failed      1 x ECONNREFUSED: ",
            "    unserved    1 established, never served: ",
            "  throughput    500 msgs/s",
            "  latency (CO-corrected) min 10.0",
            "  uncorrected   min ",
            "  schedule lag  min ",
            "  schedule      100 of 600 messages scheduled never sent (16.7%); 250.00 ms behind \
             when the measured phase ended (150 due, not yet sent): the sender could not keep \
             its schedule: exit 1",
            "  errors        mismatch 0, reset 0, eof 0, timeout 0",
            "  first mismatch: conn 1 message 2",
            "  loadgen cpu   0.50 s in 1.00 s measured (50% of one core), 1000 round trips",
            "  server: 500.00 µs CPU per round trip (2000 round trips per CPU-second), 0.01 \
             context switches per round trip",
            "  disturbed: 0.62 cores busy outside loadgen and the server; repeat",
        ];
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), starts.len(), "{text}");
        for (line, start) in lines.iter().zip(starts) {
            assert!(line.starts_with(start), "{line:?} should start with {start:?}\n{text}");
        }
        assert!(
            lines[0].contains("open loop at 1000 msgs/s") && lines[0].ends_with("(INTERRUPTED)")
        );
    }

    /// A UDP run's summary speaks of flows and datagrams, counts their fate, and
    /// says where the loss stands against --max-loss.
    #[test]
    fn udp_lines() {
        let mut c = Config::local_udp_test("127.0.0.1:9".parse().expect("addr"), 4);
        c.max_loss = Some(1.0);
        let mut t = Tally::new(4);
        (t.established, t.served, t.messages) = (4, 4, 90);
        t.datagrams.answered = 90;
        t.datagrams.lost = 10;
        t.datagrams.duplicated = 3;
        let m = Measurement {
            tally: t,
            intervals: Vec::new(),
            measured_s: 1.0,
            interrupted: false,
            cpu_s: None,
            server: None,
            machine: None,
            started_at: String::new(),
            clock: None,
        };
        let text = render(&build(&c, &m).expect("result"), None);
        for want in [
            "loadgen: 4 UDP flows to 127.0.0.1:9, 64 B datagrams, closed loop",
            "  flows         4/4 open (",
            "  datagrams     lost 10 (10.00%), late 0, duplicated 3, reordered 0, corrupted 0 \
             (adaptive timeout)",
            "  loss          10.00% against --max-loss 1%: above it: exit 1",
            "  errors        corrupted 0, refused 0, flows ended by another error 0",
        ] {
            assert!(text.lines().any(|l| l.starts_with(want)), "{want:?} in\n{text}");
        }
    }
}
