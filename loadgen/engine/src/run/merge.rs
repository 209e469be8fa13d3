//! The exact merge of results: one result as if one client had made every
//! connection. `loadgen merge` uses it for agents on several hosts, and a split
//! run's parent for its processes on one host: the same code path.
//!
//! Each result is read back into the measurement it was built from
//! ([`Measurement::of_result`]); their tallies are added (histograms with
//! `Histogram::add`, lossless with equal settings, which [`merge_check`] makes
//! sure of; counts summed; errors by errno merged); their seconds are aligned by
//! the wall clock (each result's second 0 is shifted by the whole seconds its
//! measured phase began after the earliest one's) and added; the merged result is
//! built from that as any run's is. Its settings are the parts' with their counts
//! summed (connections, rate, threads, processes); its clock is the earliest
//! start and the latest lateness. Merging one result gives that result. Agents'
//! results that lack a shard are not hidden: that shard's connections count as
//! requested and failed ([`SHARD_MISSING`]), so the merged run is missing them
//! (exit 1) as one run would be. The watched server's cost and the machine's
//! noise (`server`, `machine`) are left out of a result merged from several
//! (kept from one merged alone): one host's
//! processes each saw only part of the load (a split run's parent reads them
//! itself), and several hosts' machines cannot be added into one figure honestly.

use std::collections::BTreeMap;

use crate::result::{AgentRecord, ClockRecord, RunConfig, RunResult};

use super::merge_check::{self, Input, MergeError};
use super::outcome::{build_from, Measurement};
use super::tally::{Interval, Tally};

/// The errno name counted for the connections of a shard whose result is missing.
pub const SHARD_MISSING: &str = "SHARD_MISSING";

/// The merged result and the measurement it was built from.
pub struct Merged {
    pub result: RunResult,
    pub measurement: Measurement,
    /// The shards (`I/N`) no part is, whose connections count as missing.
    pub missing_shards: Vec<String>,
    /// How far apart the parts' measured phases began, seconds (`None` without
    /// every part's clock); a second or more is worth a warning.
    pub window_spread_s: Option<f64>,
}

/// Merges `parts` (see the module doc); refuses parts that do not belong to one
/// run, naming the field.
pub fn combine(parts: &[Input]) -> Result<Merged, MergeError> {
    merge_check::compatible(parts)?;
    let window_spread_s = merge_check::windows_spread(parts)?;
    let mut measurement = add(parts)?;
    let missing_shards = count_missing_shards(parts, &mut measurement);
    let first = &parts[0].result;
    let mut result = build_from(settings(parts), first.scenario.clone(), &measurement)
        .map_err(|e| MergeError::new("histograms", e))?;
    result.tool.clone_from(&first.tool);
    result.command.clone_from(&first.command);
    result.environment = first.environment.clone();
    result.host_bound.clone_from(&first.host_bound);
    let same_calibration = parts.iter().all(|p| p.result.calibration == first.calibration);
    result.calibration = if same_calibration { first.calibration.clone() } else { None };
    // A part that could not do its job (2) or was interrupted (130, 143) says so.
    if let Some(code) =
        parts.iter().map(|p| p.result.exit_code).filter(|c| !(0..=1).contains(c)).max()
    {
        result.exit_code = code;
    }
    if parts.len() > 1 {
        let earliest = measurement.clock.as_ref().map(|c| c.measured_from_unix_s);
        result.agents = parts.iter().map(|p| agent(p, earliest)).collect();
    }
    Ok(Merged { result, measurement, missing_shards, window_spread_s })
}

/// The connections of shards no part is: requested, and failed as [`SHARD_MISSING`].
/// Returns those shards (`I/N`). The shards were checked (`I < N <=
/// MAX_SHARDS`, `N <= conns <= MAX_CONNS`) and the sums leave room for `conns`.
fn count_missing_shards(parts: &[Input], m: &mut Measurement) -> Vec<String> {
    let Some(crate::result::Shard { count, conns: Some(whole), .. }) = parts[0].result.config.shard
    else {
        return Vec::new();
    };
    let have: std::collections::BTreeSet<u64> =
        parts.iter().filter_map(|p| p.result.config.shard).map(|s| s.index).collect();
    let missing: Vec<u64> = (0..count).filter(|i| !have.contains(i)).collect();
    let conns: u64 = missing.iter().map(|&i| super::values::share(whole, i, count)).sum();
    if conns > 0 {
        m.tally.requested += conns;
        *m.tally.failed_by_errno.entry(SHARD_MISSING.to_string()).or_default() += conns;
    }
    missing.iter().map(|i| format!("{i}/{count}")).collect()
}

/// The parts' measurements added up, their seconds aligned by the wall clock; one
/// part read back at a time, so a merge holds the merged seconds and one part's.
fn add(parts: &[Input]) -> Result<Measurement, MergeError> {
    let clocks: Vec<Option<&ClockRecord>> = parts.iter().map(|p| p.result.clock.as_ref()).collect();
    let froms: Vec<Option<f64>> =
        clocks.iter().map(|c| c.map(|c| c.measured_from_unix_s)).collect();
    // Without every part's clock (older results), seconds align by index.
    let origin = froms
        .iter()
        .copied()
        .collect::<Option<Vec<f64>>>()
        .and_then(|f| f.into_iter().reduce(f64::min));
    let mut tally = Tally::new(0);
    let mut seconds: BTreeMap<u64, Interval> = BTreeMap::new();
    let mut measured_s: f64 = 0.0;
    for (p, from) in parts.iter().zip(&froms) {
        let m = Measurement::of_result(&p.result).map_err(|e| {
            let field = e.split(':').next().unwrap_or("result").to_string();
            MergeError::new(field, format!("{}: {e}", p.label))
        })?;
        let shift = match (origin, from) {
            (Some(o), Some(f)) => f - o,
            _ => 0.0,
        };
        tally.merge(&m.tally);
        measured_s = measured_s.max(shift + m.measured_s);
        for mut iv in m.intervals {
            iv.index += shift.round() as u64;
            iv.end_s += shift;
            match seconds.get_mut(&iv.index) {
                Some(have) => {
                    if have.latency.len().checked_add(iv.latency.len()).is_none() {
                        return Err(MergeError::new(
                            "series.latency",
                            format!("{}: a second's samples add up past 2^64 - 1", p.label),
                        ));
                    }
                    have.merge(&iv);
                }
                None => {
                    seconds.insert(iv.index, iv);
                }
            }
        }
    }
    let results = || parts.iter().map(|p| &p.result);
    let only = match parts {
        [one] => Some(&one.result),
        _ => None,
    };
    Ok(Measurement {
        tally,
        intervals: seconds.into_values().collect(),
        measured_s,
        interrupted: results().any(|r| r.interrupted),
        cpu_s: results().map(|r| r.client_cpu_s).sum::<Option<f64>>(),
        // One part is kept whole; several cannot be added honestly.
        server: only.and_then(|r| r.server.clone()),
        machine: only.and_then(|r| r.machine.clone()),
        started_at: results().map(|r| r.started_at.clone()).min().unwrap_or_default(),
        clock: clock(&clocks.into_iter().flatten().collect::<Vec<_>>()),
    })
}

/// The merged clock: the earliest start, the latest lateness, synchronized only
/// if every part's clock was, the largest error estimates.
fn clock(clocks: &[&ClockRecord]) -> Option<ClockRecord> {
    let first = *clocks.first()?;
    let min =
        |f: fn(&ClockRecord) -> f64| clocks.iter().map(|c| f(c)).fold(f64::INFINITY, f64::min);
    let max_of = |f: fn(&ClockRecord) -> Option<i64>| clocks.iter().map(|c| f(c)).max().flatten();
    Some(ClockRecord {
        began_unix_s: min(|c| c.began_unix_s),
        measured_from_unix_s: min(|c| c.measured_from_unix_s),
        start_at: first.start_at.clone(),
        start_at_unix_s: first.start_at_unix_s,
        late_s: clocks.iter().filter_map(|c| c.late_s).reduce(f64::max),
        synchronized: clocks
            .iter()
            .map(|c| c.synchronized)
            .collect::<Option<Vec<bool>>>()
            .map(|all| all.into_iter().all(|s| s)),
        max_error_us: max_of(|c| c.max_error_us),
        est_error_us: max_of(|c| c.est_error_us),
    })
}

/// The parts' settings with their counts summed (connections, rates, threads,
/// processes) and their cores and sources listed once each, in order.
fn settings(parts: &[Input]) -> RunConfig {
    let mut rc = parts[0].result.config.clone();
    for p in &parts[1..] {
        let c = &p.result.config;
        rc.conns += c.conns;
        rc.rate = rc.rate.zip(c.rate).map(|(a, b)| a + b);
        rc.connect_rate = rc.connect_rate.zip(c.connect_rate).map(|(a, b)| a + b);
        rc.threads += c.threads;
        rc.processes += c.processes;
        for core in &c.cores {
            if !rc.cores.contains(core) {
                rc.cores.push(*core);
            }
        }
        for source in &c.sources {
            if !rc.sources.contains(source) {
                rc.sources.push(source.clone());
            }
        }
    }
    if parts.len() > 1 {
        rc.shard = None;
    }
    rc
}

/// One part's own figures, for the merged result's list of agents; `earliest`:
/// when the earliest part's measured phase began.
fn agent(p: &Input, earliest: Option<f64>) -> AgentRecord {
    let r = &p.result;
    let e = &r.errors;
    AgentRecord {
        file: p.label.clone(),
        hostname: r.environment.hostname.clone(),
        shard: r.config.shard.map(|s| s.to_string()),
        command: r.command.clone(),
        exit_code: r.exit_code,
        requested: r.connections.requested,
        established: r.connections.established,
        msgs_per_sec: r.throughput.msgs_per_sec,
        p50_us: r.latency_us.p50,
        p99_us: r.latency_us.p99,
        errors: e.mismatch + e.reset + e.eof + e.timeout,
        client_cpu_s: r.client_cpu_s,
        clock: r.clock.clone(),
        measured_after_first_s: earliest
            .zip(r.clock.as_ref())
            .map(|(first, c)| c.measured_from_unix_s - first),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::result::{MachineNoise, ServerCost};
    use crate::run::histogram::{new_histogram, record};
    use crate::run::Config;

    /// A measurement of `conns` connections, all up and served, whose one second
    /// recorded `values` (ns), measured from Unix second 1,796,000,000.
    pub(crate) fn measurement(conns: u64, values: &[u64]) -> Measurement {
        let mut t = Tally::new(conns);
        (t.established, t.served, t.connect_up_s) = (conns, conns, 0.01);
        let mut iv = Interval {
            index: 0,
            end_s: 1.0,
            conns_up: conns,
            served: conns,
            unserved: 0,
            latency: new_histogram(),
            msgs: values.len() as u64,
            errors: 0,
            datagrams: Default::default(),
            churn: Default::default(),
        };
        for &v in values {
            record(&mut t.latency, v);
            record(&mut iv.latency, v);
            record(&mut t.connect, v / 2);
        }
        t.messages = values.len() as u64;
        t.bytes = t.messages * 64;
        Measurement {
            tally: t,
            intervals: vec![iv],
            measured_s: 1.0,
            interrupted: false,
            cpu_s: Some(0.25),
            server: None,
            machine: None,
            started_at: "2026-01-01T00:00:00Z".into(),
            clock: Some(ClockRecord {
                began_unix_s: 1_796_000_000.0,
                measured_from_unix_s: 1_796_000_000.0,
                ..Default::default()
            }),
        }
    }

    /// The result a run under `c` writes for `m` (as `--json` does).
    pub(crate) fn result_of(c: &Config, m: &Measurement) -> RunResult {
        crate::run::outcome::build(c, m).expect("builds")
    }

    pub(crate) fn input(label: &str, r: RunResult) -> Input {
        Input { label: label.into(), result: r }
    }

    /// Agent `index` of `count`'s result: `conns` of the whole run's, with these
    /// samples, its measured phase `shift_s` after the first agent's.
    pub(crate) fn agent(index: u64, count: u64, values: &[u64], shift_s: f64) -> RunResult {
        let addr = "127.0.0.1:9".parse().expect("addr");
        let mut c = Config::local_test(addr, 2);
        c.shard = Some(crate::run::ShardOf {
            part: crate::run::Part { index, count },
            conns: 2 * count,
            rate: None,
            connect_rate: None,
        });
        c.run_id = Some("run-1".into());
        c.scenario = c.default_scenario();
        let mut m = measurement(2, values);
        if let Some(clock) = m.clock.as_mut() {
            clock.measured_from_unix_s += shift_s;
            clock.began_unix_s += shift_s;
        }
        result_of(&c, &m)
    }

    /// Merging is exact: the merged histogram is the one recorded from every
    /// sample, counts and errors add, the seconds line up by the wall clock (an
    /// agent 3 ms late lands in the same second, one a second late in the next),
    /// every agent is listed, the watched server and the machine are left out; a
    /// merge of one result is that result (its server and machine kept).
    #[test]
    fn merge_is_exact() {
        let (s0, s1, s2) = (vec![1_000, 2_000], vec![3_000, 4_000, 5_000_000], vec![7_777]);
        let mut one = new_histogram();
        for &v in s0.iter().chain(&s1).chain(&s2) {
            record(&mut one, v);
        }
        let mut a = agent(0, 3, &s0, 0.0);
        a.errors.timeout = 2;
        a.connections.failed_by_errno.insert("ECONNREFUSED".into(), 1);
        a.exit_code = 1;
        let server = ServerCost { pids: vec![7], cpu_s: 0.5, ..Default::default() };
        a.server = Some(server.per_round_trip(a.throughput.messages));
        a.machine = Some(MachineNoise { window_s: 1.0, cores: 2, ..Default::default() });
        let b = agent(1, 3, &s1, 0.003);
        let mut c = agent(2, 3, &s2, 1.0);
        c.connections.failed_by_errno.insert("ECONNREFUSED".into(), 2);
        let merged =
            combine(&[input("a", a.clone()), input("b", b), input("c", c)]).expect("merges");
        let r = &merged.result;
        assert_eq!(merged.measurement.tally.latency, one, "one histogram from all samples");
        assert_eq!(crate::result::decode_histogram(&r.histograms.latency).expect("hist"), one);
        assert_eq!(r.latency_us, crate::result::Percentiles::from_nanos(&one));
        assert_eq!((r.config.conns, r.connections.established, r.throughput.messages), (6, 6, 6));
        assert_eq!((r.errors.timeout, r.connections.failed_by_errno["ECONNREFUSED"]), (2, 3));
        assert_eq!(r.exit_code, 1, "timeouts and refused connects fail the merged run too");
        let seconds: Vec<(u64, u64)> = r.series.iter().map(|s| (s.msgs, s.conns_up)).collect();
        assert_eq!(seconds, vec![(5, 4), (1, 2)], "a and b share second 0, c is a second late");
        assert_eq!(r.throughput.duration_s, 2.0);
        assert_eq!(r.client_cpu_s, Some(0.75));
        assert!(r.server.is_none() && r.machine.is_none(), "several cannot be added");
        assert_eq!(r.agents.len(), 3);
        assert_eq!(r.agents[1].shard.as_deref(), Some("1/3"));
        // Unix seconds as f64: a millisecond is kept to within a microsecond.
        let after: Vec<f64> = r.agents.iter().filter_map(|a| a.measured_after_first_s).collect();
        let want = [0.0, 0.003, 1.0];
        assert!(
            after.len() == 3 && after.iter().zip(want).all(|(a, w)| (a - w).abs() < 1e-6),
            "each agent's start is kept: {after:?}"
        );
        assert_eq!(merged.window_spread_s, Some(1.0));
        assert_eq!(r.config.shard, None);
        assert_eq!(r.scenario, a.scenario);
        let mut whole = a.clone();
        whole.config.shard = None;
        let alone = combine(&[input("a", whole.clone())]).expect("one merges");
        assert_eq!(
            serde_json::to_value(&alone.result).expect("json"),
            serde_json::to_value(&whole).expect("json"),
            "a merge of one result is that result"
        );
    }

    /// A merge that lacks a shard does not hide it: the missing shard's connections
    /// are requested and failed (SHARD_MISSING), and the merged run fails (exit 1).
    #[test]
    fn a_missing_shard_counts_as_missing_connections() {
        let (a, c) = (agent(0, 3, &[1_000], 0.0), agent(2, 3, &[2_000], 0.0));
        let merged = combine(&[input("a", a), input("c", c)]).expect("merges");
        assert_eq!(merged.missing_shards, vec!["1/3"]);
        let r = merged.result;
        assert_eq!((r.connections.requested, r.connections.established), (6, 4));
        assert_eq!(r.connections.failed_by_errno[SHARD_MISSING], 2);
        assert_eq!(r.exit_code, 1);
        let all = combine(&[
            input("a", agent(0, 2, &[1_000], 0.0)),
            input("b", agent(1, 2, &[1_000], 0.0)),
        ])
        .expect("merges")
        .result;
        assert_eq!((all.connections.requested, all.exit_code), (4, 0));
        assert!(all.connections.failed_by_errno.is_empty());
    }

    /// Results that do not belong together are refused, naming the field.
    #[test]
    fn incompatible_results_are_refused() {
        let a = agent(0, 2, &[1_000], 0.0);
        let refused = |b: RunResult| {
            combine(&[input("a.json", a.clone()), input("b.json", b)]).err().expect("refused")
        };
        let mut b = agent(1, 2, &[1_000], 0.0);
        b.config.size = 128;
        let e = refused(b);
        assert_eq!(e.field, "config.size");
        assert!(e.to_string().contains("a.json has 64, b.json has 128"), "{e}");
        let mut b = agent(1, 2, &[1_000], 0.0);
        b.config.run_id = Some("run-2".into());
        assert_eq!(refused(b).field, "config.run_id");
        let mut b = agent(1, 2, &[1_000], 0.0);
        b.config.targets = vec!["127.0.0.1:10".into()];
        assert_eq!(refused(b).field, "config.targets");
        let mut b = agent(1, 2, &[1_000], 0.0);
        b.config.rate = Some(100.0);
        assert_eq!(refused(b).field, "config.rate (mode)");
        let mut b = agent(1, 2, &[1_000], 0.0);
        b.config.pipeline = 4;
        assert_eq!(refused(b).field, "config.pipeline");
        let mut b = agent(1, 2, &[1_000], 0.0);
        let other = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 2)
            .expect("bounds");
        b.histograms.latency = crate::result::encode_histogram(&other).expect("encodes");
        assert_eq!(refused(b).field, "histograms.latency");
        let e = refused(agent(0, 2, &[1_000], 0.0));
        assert_eq!(e.field, "config.shard");
        assert!(e.to_string().contains("both shard 0/2"), "{e}");
        assert_eq!(refused(agent(1, 3, &[1_000], 0.0)).field, "config.shard");
        let mut old = agent(1, 2, &[1_000], 0.0);
        old.series[0].latency = None;
        let e = refused(old);
        assert!(e.field == "series" && e.to_string().contains("older"), "{e}");
        assert_eq!(combine(&[]).err().expect("refused").field, "files");
    }
}
