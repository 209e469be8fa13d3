//! Reading one side of a comparison (a result file, or a folder of them) into runs
//! grouped by scenario. Every error names the file, and the field when one is wrong.
//!
//! A folder is searched recursively for `*.json` (in name order, symlinked folders
//! not followed). A `loadgen suite --base` folder (a `suite.json` beside `base/` and
//! `new/`) holds two builds: as one side it is its `new/` build (and the steps that
//! ran once), never both mixed; name `DIR/base` to read the other build. JSON without a `schema_version` field (echod stats, a suite index)
//! is not a result and is skipped; JSON with one must be a valid [`RunResult`] of
//! [`SCHEMA_VERSION`], anything else is an error. A file named directly must be a
//! result. A side with no result at all is an error too: nothing measured must not
//! compare as "nothing regressed".
//!
//! Each run keeps its path relative to the side's folder (`rel`: a `suite --base`
//! folder's `new/` left out), which pairs it with the other side's run of the same
//! repeat, and the server's cost and `machine.disturbed` read raw (`cost`).
//!
//! What a file may cost is bounded (results come from other hosts): at most
//! `result::MAX_RESULT_BYTES` (16 MiB) is read, more is refused; a file up to
//! [`VALUE_LIMIT`] is read as a JSON value first, for messages that name the
//! field exactly; a larger one only into the typed result (no value tree, whose
//! nodes take up to 16 times the text), its version probed first without
//! building anything.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::cost::{self, Cost};
use engine::result::{self, RunResult, SCHEMA_VERSION};

/// Why a side could not be read. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: cannot read: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// Too large, or unreadable: the message names the file.
    #[error(transparent)]
    Bounded(#[from] result::ReadError),
    #[error("{}: not valid JSON: {source}", path.display())]
    NotJson { path: PathBuf, source: serde_json::Error },
    #[error("{}: not a loadgen result: no `schema_version` field", path.display())]
    NotAResult { path: PathBuf },
    #[error(
        "{}: field `schema_version`: found {found}, expected {expected}: \
         compare results written by the same loadgen version",
        path.display()
    )]
    SchemaVersion { path: PathBuf, found: String, expected: u32 },
    #[error("{}: field `{field}`: {message}", path.display())]
    Field { path: PathBuf, field: String, message: String },
    #[error("{}: no loadgen results in this folder (no *.json with a `schema_version`)", path.display())]
    NoResults { path: PathBuf },
    #[error(
        "{}: --relative-to {peers}: no `peers echod` run has such a peer's run beside it \
         (in the same folder, at the same connection count); run the suite's peers steps",
        path.display()
    )]
    NoPeerRuns { path: PathBuf, peers: String },
}

/// One result and where it came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The file it was read from (for messages).
    pub path: PathBuf,
    /// Its path relative to the side's folder (a `suite --base` folder's `new/`
    /// left out), the key that pairs it with the other side's run of the same
    /// repeat; None for a file named directly (it pairs with nothing).
    pub rel: Option<PathBuf>,
    /// The server's cost and the machine's disturbance, read from the raw JSON.
    pub cost: Cost,
    /// Its content.
    pub result: RunResult,
}

/// The runs of one side, by `scenario`.
pub type Side = BTreeMap<String, Vec<Loaded>>;

/// Reads a result file or a folder of results into runs grouped by scenario.
pub fn load_side(path: &Path) -> Result<Side, LoadError> {
    let meta = std::fs::metadata(path).map_err(|source| read_error(path, source))?;
    let mut runs = Vec::new();
    if meta.is_dir() {
        let mut files = Vec::new();
        collect_json(path, &mut files)?;
        let root = if is_two_builds(path) { path.join("new") } else { path.to_path_buf() };
        for file in files {
            if let Some(mut loaded) = load_file(&file, true)? {
                // Compare reads no second of a run: a folder of results holds none.
                loaded.result.series = Vec::new();
                let rel = file.strip_prefix(&root).or_else(|_| file.strip_prefix(path));
                loaded.rel = rel.ok().map(Path::to_path_buf);
                runs.push(loaded);
            }
        }
        if runs.is_empty() {
            return Err(LoadError::NoResults { path: path.to_path_buf() });
        }
    } else if let Some(loaded) = load_file(path, false)? {
        runs.push(loaded);
    }
    Ok(group(runs))
}

/// Groups runs by their `scenario` field, keeping the order they were read in.
pub fn group(runs: Vec<Loaded>) -> Side {
    let mut side = Side::new();
    for run in runs {
        side.entry(run.result.scenario.clone()).or_default().push(run);
    }
    side
}

/// Every `*.json` under `dir`, recursively, sorted by path.
fn collect_json(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|source| read_error(dir, source))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| read_error(dir, source))?;
        let kind = entry.file_type().map_err(|source| read_error(&entry.path(), source))?;
        paths.push((entry.path(), kind.is_dir()));
    }
    paths.sort();
    let two_builds = is_two_builds(dir);
    for (path, is_dir) in paths {
        if two_builds && path.file_name().is_some_and(|n| n == "base") {
            continue;
        }
        if is_dir {
            collect_json(&path, files)?;
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
            files.push(path);
        }
    }
    Ok(())
}

/// Whether `dir` is a `suite --base` folder: `suite.json` beside `base/` and `new/`.
fn is_two_builds(dir: &Path) -> bool {
    ["suite.json", "base", "new"].iter().all(|p| dir.join(p).exists())
}

/// The largest file read as a JSON value (for exact field names in messages).
pub const VALUE_LIMIT: usize = 1 << 20;

/// Reads one file; None when `skip_non_results` and it is JSON but not a result.
fn load_file(path: &Path, skip_non_results: bool) -> Result<Option<Loaded>, LoadError> {
    let text = result::read_bounded(path)?;
    if text.len() > VALUE_LIMIT {
        return load_large(path, &text, skip_non_results);
    }
    let value: Value = serde_json::from_str(&text)
        .map_err(|source| LoadError::NotJson { path: path.to_path_buf(), source })?;
    let Some(version) = value.get("schema_version") else {
        return if skip_non_results {
            Ok(None)
        } else {
            Err(LoadError::NotAResult { path: path.to_path_buf() })
        };
    };
    if version.as_u64() != Some(u64::from(SCHEMA_VERSION)) {
        return Err(LoadError::SchemaVersion {
            path: path.to_path_buf(),
            found: version.to_string(),
            expected: SCHEMA_VERSION,
        });
    }
    let field_error = |(field, message): (String, String)| LoadError::Field {
        path: path.to_path_buf(),
        field,
        message,
    };
    check_compared_fields(&value).map_err(field_error)?;
    let result = match serde_json::from_value::<RunResult>(value.clone()) {
        Ok(result) => result,
        Err(e) => return Err(field_error(locate(&value, &e))),
    };
    let cost = cost::read(&text).map_err(field_error)?;
    Ok(Some(Loaded { path: path.to_path_buf(), rel: None, cost, result }))
}

/// Whether a JSON document is an object with a `schema_version` field: every
/// value skipped unbuilt (`IgnoredAny`); anything but an object is a data error.
struct Probe {
    has_version: bool,
}

impl<'de> serde::Deserialize<'de> for Probe {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = Probe;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Probe, A::Error> {
                let mut has_version = false;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    has_version |= key == "schema_version";
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
                Ok(Probe { has_version })
            }
        }
        d.deserialize_map(Keys)
    }
}

/// [`load_file`] for a file past [`VALUE_LIMIT`]: probed, then read typed.
fn load_large(
    path: &Path,
    text: &str,
    skip_non_results: bool,
) -> Result<Option<Loaded>, LoadError> {
    let at = || path.to_path_buf();
    let has_version = match serde_json::from_str::<Probe>(text) {
        Ok(p) => p.has_version,
        // Valid JSON that is not an object: not a result.
        Err(e) if e.classify() == serde_json::error::Category::Data => false,
        Err(source) => return Err(LoadError::NotJson { path: at(), source }),
    };
    if !has_version {
        return if skip_non_results { Ok(None) } else { Err(LoadError::NotAResult { path: at() }) };
    }
    let result: RunResult = serde_json::from_str(text).map_err(|e| LoadError::Field {
        path: at(),
        field: "(top level)".to_string(),
        message: e.to_string(),
    })?;
    if result.schema_version != SCHEMA_VERSION {
        return Err(LoadError::SchemaVersion {
            path: at(),
            found: result.schema_version.to_string(),
            expected: SCHEMA_VERSION,
        });
    }
    let numbers = [
        ("throughput.msgs_per_sec", result.throughput.msgs_per_sec),
        ("latency_us.p50", result.latency_us.p50),
        ("latency_us.p99", result.latency_us.p99),
        ("latency_us.p999", result.latency_us.p999),
        ("connections.connect_rate_per_sec", result.connections.connect_rate_per_sec),
    ];
    if let Some((field, n)) = numbers.into_iter().find(|(_, n)| n.is_nan() || *n < 0.0) {
        return Err(LoadError::Field {
            path: at(),
            field: field.to_string(),
            message: format!("expected a number >= 0, found {n}"),
        });
    }
    let cost = cost::read(text).map_err(|(field, message)| LoadError::Field {
        path: at(),
        field,
        message,
    })?;
    Ok(Some(Loaded { path: at(), rel: None, cost, result }))
}

fn read_error(path: &Path, source: io::Error) -> LoadError {
    LoadError::Read { path: path.to_path_buf(), source }
}

/// The fields compare reads, with their exact paths, so a bad one is named exactly.
const COMPARED: [(&str, Kind); 10] = [
    ("scenario", Kind::Text),
    ("interrupted", Kind::Bool),
    ("throughput.msgs_per_sec", Kind::Number),
    ("latency_us.p50", Kind::Number),
    ("latency_us.p99", Kind::Number),
    ("latency_us.p999", Kind::Number),
    ("connections.requested", Kind::Count),
    ("connections.established", Kind::Count),
    ("connections.connect_rate_per_sec", Kind::Number),
    ("errors.mismatch", Kind::Count),
];

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Bool,
    Number,
    Count,
}

/// Checks the fields compare reads: present, and of the right type.
fn check_compared_fields(value: &Value) -> Result<(), (String, String)> {
    for (path, kind) in COMPARED {
        let found = path.split('.').try_fold(value, |v, key| v.get(key));
        let Some(found) = found else {
            return Err((path.to_string(), "missing".to_string()));
        };
        let (ok, expected) = match kind {
            Kind::Text => (found.is_string(), "a string"),
            Kind::Bool => (found.is_boolean(), "true or false"),
            Kind::Number => (found.as_f64().is_some_and(|x| x >= 0.0), "a number >= 0"),
            Kind::Count => (found.is_u64(), "a whole number >= 0"),
        };
        if !ok {
            return Err((path.to_string(), format!("expected {expected}, found {found}")));
        }
    }
    Ok(())
}

/// Names the field a [`RunResult`] failed on: the top-level section that fails on
/// its own, plus the inner field when serde names a missing one.
fn locate(value: &Value, whole: &serde_json::Error) -> (String, String) {
    let Some(object) = value.as_object() else {
        return ("(top level)".to_string(), whole.to_string());
    };
    for (key, section) in object {
        let Err(e) = check_section(key, section) else { continue };
        let message = e.to_string();
        let inner = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .map(|name| format!("{key}.{name}"));
        return (inner.unwrap_or_else(|| key.clone()), message);
    }
    let message = whole.to_string();
    let field = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
        .unwrap_or("(top level)")
        .to_string();
    (field, message)
}

/// Deserializes one top-level section of a result into its own type.
fn check_section(key: &str, section: &Value) -> Result<(), serde_json::Error> {
    fn check<T: DeserializeOwned>(v: &Value) -> Result<(), serde_json::Error> {
        serde_json::from_value::<T>(v.clone()).map(drop)
    }
    match key {
        "schema_version" => check::<u32>(section),
        "tool" | "started_at" | "scenario" => check::<String>(section),
        "command" => check::<Vec<String>>(section),
        "interrupted" => check::<bool>(section),
        "exit_code" => check::<i32>(section),
        "environment" => check::<result::Environment>(section),
        "calibration" => check::<Option<result::Calibration>>(section),
        "config" => check::<result::RunConfig>(section),
        "connections" => check::<result::Connections>(section),
        "connect_latency_us" | "latency_us" => check::<result::Percentiles>(section),
        "latency_uncorrected_us" | "schedule_lag_us" => {
            check::<Option<result::Percentiles>>(section)
        }
        "throughput" => check::<result::Throughput>(section),
        "errors" => check::<result::Errors>(section),
        "histograms" => check::<result::Histograms>(section),
        "series" => check::<Vec<result::SecondSample>>(section),
        _ => Ok(()),
    }
}
