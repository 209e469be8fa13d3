//! Results in the shapes that benchmark trackers read, written beside `suite.json`:
//!
//! - `bmf.json`, Bencher Metric Format: `{ scenario: { measure: { value,
//!   lower_value, upper_value } } }`, measures `throughput` (round trips/s),
//!   `latency` (p50, ns: Bencher's built-in latency unit), `latency-p99`,
//!   `latency-p999` (ns) and `connect-rate` (connections/s).
//! - `benchmark-bigger.json` and `benchmark-smaller.json`, github-action-benchmark's
//!   `customBiggerIsBetter` and `customSmallerIsBetter`: arrays of `{ name, unit,
//!   value, range, extra }`, one entry per scenario and measure.
//!
//! One entry per scenario of the build under test. The value is the scenario's best
//! run (the highest throughput, the lowest latency: the least disturbed figure on a
//! shared machine, the one `loadgen compare` judges); the bounds are the lowest and
//! highest of its runs.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::suite_index::{Side, SuiteIndex};
use engine::result::RunResult;

/// One measure of one scenario over its runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Measure {
    /// The Bencher measure slug (`throughput`, `latency`, ...).
    pub slug: &'static str,
    /// The unit, for github-action-benchmark.
    pub unit: &'static str,
    /// Whether more is better.
    pub bigger_is_better: bool,
    /// The best run's figure.
    pub value: f64,
    /// The lowest and highest run.
    pub lower: f64,
    pub upper: f64,
}

type Reader = fn(&RunResult) -> f64;

/// The measures tracked, with how each is read from a result.
const MEASURES: [(&str, &str, bool, Reader); 5] = [
    ("throughput", "round trips/s", true, |r| r.throughput.msgs_per_sec),
    ("latency", "ns", false, |r| r.latency_us.p50 * 1e3),
    ("latency-p99", "ns", false, |r| r.latency_us.p99 * 1e3),
    ("latency-p999", "ns", false, |r| r.latency_us.p999 * 1e3),
    ("connect-rate", "connections/s", true, |r| r.connections.connect_rate_per_sec),
];

/// Every scenario's measures over `runs` (scenario -> its results).
pub fn measures(runs: &BTreeMap<String, Vec<RunResult>>) -> BTreeMap<String, Vec<Measure>> {
    runs.iter()
        .map(|(scenario, results)| {
            let list = MEASURES
                .iter()
                .map(|&(slug, unit, bigger_is_better, read)| {
                    let values: Vec<f64> = results.iter().map(read).collect();
                    let lower = values.iter().copied().fold(f64::INFINITY, f64::min);
                    let upper = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let value = if bigger_is_better { upper } else { lower };
                    Measure { slug, unit, bigger_is_better, value, lower, upper }
                })
                .collect();
            (scenario.clone(), list)
        })
        .collect()
}

/// The Bencher Metric Format document.
pub fn bmf(measures: &BTreeMap<String, Vec<Measure>>) -> Value {
    let mut doc = Map::new();
    for (scenario, list) in measures {
        let mut m = Map::new();
        for x in list {
            m.insert(
                x.slug.into(),
                json!({ "value": x.value, "lower_value": x.lower, "upper_value": x.upper }),
            );
        }
        doc.insert(scenario.clone(), Value::Object(m));
    }
    Value::Object(doc)
}

/// One entry of github-action-benchmark's custom formats.
#[derive(Clone, Debug, Serialize)]
pub struct ActionEntry {
    pub name: String,
    pub unit: String,
    pub value: f64,
    pub range: String,
    pub extra: String,
}

/// The `customBiggerIsBetter` (`bigger` true) or `customSmallerIsBetter` entries.
pub fn action(measures: &BTreeMap<String, Vec<Measure>>, bigger: bool) -> Vec<ActionEntry> {
    measures
        .iter()
        .flat_map(|(scenario, list)| {
            list.iter().filter(move |x| x.bigger_is_better == bigger).map(move |x| ActionEntry {
                name: format!("{scenario} / {}", x.slug),
                unit: x.unit.into(),
                value: x.value,
                range: format!("± {}", (x.upper - x.lower) / 2.0),
                extra: format!("best run; runs ranged {} to {}", x.lower, x.upper),
            })
        })
        .collect()
}

/// Writes the three files into `out` from the build under test's results.
pub fn write(out: &Path, index: &SuiteIndex) -> anyhow::Result<()> {
    let mut runs: BTreeMap<String, Vec<RunResult>> = BTreeMap::new();
    for s in index.steps.iter().filter(|s| s.side != Some(Side::Base)) {
        let Some(file) = &s.record.result_file else { continue };
        if let Ok(r) = engine::result::read(out, file) {
            runs.entry(r.scenario.clone()).or_default().push(r);
        }
    }
    let m = measures(&runs);
    let files = [
        ("bmf.json", bmf(&m)),
        ("benchmark-bigger.json", serde_json::to_value(action(&m, true))?),
        ("benchmark-smaller.json", serde_json::to_value(action(&m, false))?),
    ];
    for (name, doc) in files {
        let path = out.join(name);
        std::fs::write(&path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
