//! Reading inputs: folders searched recursively, non-results skipped, and every
//! unreadable input an error naming the file and the field.

use harness::compare::{compare_paths, LoadError, Options};

use super::fixtures::{result, TempDir};

/// Compares BASE and NEW under `dir` and returns the error's one-line message.
fn error(dir: &TempDir, options: &Options) -> String {
    let err: LoadError = compare_paths(&dir.path().join("base"), &dir.path().join("new"), options)
        .expect_err("input should be refused");
    err.to_string()
}

/// JSON without schema_version (echod stats, an index) in a folder is skipped.
#[test]
fn non_results_are_skipped() {
    let dir = TempDir::new("skip");
    dir.write("base/a.json", &result("s", 100_000.0, 200.0));
    dir.write_text("base/echod-stats.json", r#"{"workers": [1, 2]}"#);
    dir.write_text("base/index.json", "[1, 2, 3]");
    dir.write_text("base/notes.txt", "not json at all");
    dir.write("new/deep/er/a.json", &result("s", 100_000.0, 200.0));
    let c = compare_paths(&dir.path().join("base"), &dir.path().join("new"), &Options::default())
        .expect("compare");
    assert_eq!((c.scenarios.len(), c.scenarios[0].base_runs), (1, 1));
    assert!(c.passed);
}

/// A corrupt .json is an error naming the file.
#[test]
fn corrupt_file_is_an_error() {
    let dir = TempDir::new("corrupt");
    dir.write("base/a.json", &result("s", 100_000.0, 200.0));
    dir.write("new/a.json", &result("s", 100_000.0, 200.0));
    let bad = dir.write_text("new/b.json", r#"{"schema_version": 1, "scenario": "#);
    let message = error(&dir, &Options::default());
    assert!(message.contains(&bad.display().to_string()), "{message}");
    assert!(message.contains("not valid JSON"), "{message}");
}

/// A result of another schema version is refused, naming expected and found.
#[test]
fn schema_version_mismatch_is_an_error() {
    let dir = TempDir::new("version");
    let mut old = result("s", 100_000.0, 200.0);
    old.schema_version = 99;
    let path = dir.write("base/old.json", &old);
    dir.write("new/a.json", &result("s", 100_000.0, 200.0));
    let message = error(&dir, &Options::default());
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("schema_version`: found 99, expected 1"), "{message}");
}

/// A field of the wrong type or missing is named by its path.
#[test]
fn bad_field_is_named() {
    let dir = TempDir::new("field");
    dir.write("base/a.json", &result("s", 100_000.0, 200.0));
    let mut value = serde_json::to_value(result("s", 100_000.0, 200.0)).expect("value");
    value["latency_us"]["p99"] = serde_json::json!("fast");
    dir.write_text("new/a.json", &value.to_string());
    let message = error(&dir, &Options::default());
    assert!(message.contains("field `latency_us.p99`: expected a number"), "{message}");

    value["latency_us"]["p99"] = serde_json::json!(1.0);
    value["environment"].as_object_mut().expect("object").remove("kernel");
    dir.write_text("new/a.json", &value.to_string());
    let message = error(&dir, &Options::default());
    assert!(message.contains("field `environment.kernel`: missing field `kernel`"), "{message}");
}

/// A file named directly must be a result; a folder must hold at least one.
#[test]
fn not_a_result_or_empty_folder() {
    let dir = TempDir::new("empty");
    let stats = dir.write_text("stats.json", r#"{"workers": []}"#);
    let err = compare_paths(&stats, &stats, &Options::default()).expect_err("not a result");
    assert!(err.to_string().contains("no `schema_version` field"), "{err}");
    dir.write_text("base/index.json", "{}");
    dir.write("new/a.json", &result("s", 1.0, 1.0));
    assert!(error(&dir, &Options::default()).contains("no loadgen results in this folder"));
    let missing = dir.path().join("nowhere");
    let err = compare_paths(&missing, &missing, &Options::default()).expect_err("missing");
    assert!(err.to_string().contains("cannot read"), "{err}");
}

/// --normalize needs a calibration in every result, all of one method.
#[test]
fn normalize_needs_calibration() {
    let dir = TempDir::new("calibration");
    let options = Options { normalize: true, ..Options::default() };
    dir.write("base/a.json", &result("s", 100_000.0, 200.0));
    let mut bare = result("s", 100_000.0, 200.0);
    bare.calibration = None;
    let path = dir.write("new/a.json", &bare);
    let message = error(&dir, &options);
    assert!(message.contains(&format!("{}: field `calibration`", path.display())), "{message}");

    let mut other = result("s", 100_000.0, 200.0);
    other.calibration.as_mut().expect("calibration").method = "other".to_string();
    dir.write("new/a.json", &other);
    assert!(error(&dir, &options).contains("field `calibration.method`"));
    assert!(
        compare_paths(&dir.path().join("base"), &dir.path().join("new"), &Options::default())
            .is_ok(),
        "without --normalize the method does not matter"
    );
}
