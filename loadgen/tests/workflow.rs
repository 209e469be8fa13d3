//! The workflow users can copy (.github/workflows/bench.yml) is valid YAML, and it
//! runs the same gate as this project's CI: both call `.ci/gate`, which holds every
//! command of the gate, so the two cannot drift. The gate writes the Markdown
//! verdict to the job summary the workflow names, and the results are uploaded.

use std::path::PathBuf;

use yaml_rust2::{Yaml, YamlLoader};

fn top() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(top().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Valid YAML; one job whose steps build, run `.ci/gate` with the job summary, and
/// upload results/tmp whatever the gate said; .ci/run runs the same gate.
#[test]
fn workflow_runs_the_ci_gate() {
    let docs = YamlLoader::load_from_str(&read(".github/workflows/bench.yml")).expect("valid YAML");
    let wf = &docs[0];
    let jobs = wf["jobs"].as_hash().expect("jobs");
    assert_eq!(jobs.len(), 1);
    let steps = jobs.values().next().expect("a job")["steps"].as_vec().expect("steps");
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    assert!(runs.iter().any(|r| r.contains("cargo build --release --workspace")), "{runs:?}");
    let gate: Vec<&&str> = runs.iter().filter(|r| r.contains("bash .ci/gate")).collect();
    assert_eq!(gate.len(), 1, "{runs:?}");
    assert!(gate[0].contains("GATE_SUMMARY=\"$GITHUB_STEP_SUMMARY\""), "{}", gate[0]);
    let checkout = steps
        .iter()
        .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("actions/checkout")));
    assert_eq!(
        checkout.expect("checkout")["with"]["fetch-depth"],
        Yaml::Integer(0),
        "the base needs history"
    );
    let upload = steps
        .iter()
        .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("actions/upload-artifact")))
        .expect("an upload step");
    assert_eq!(upload["with"]["path"].as_str(), Some("results/tmp"));
    assert_eq!(upload["if"].as_str(), Some("always()"));

    let ci = read(".ci/run");
    assert!(ci.lines().any(|l| l.trim() == "bash .ci/gate"), "CI runs the same gate");
    let gate = read(".ci/gate");
    for needle in
        ["loadgen build-base auto", "--base target/base-bin", "--format markdown >>\"$summary\""]
    {
        assert!(gate.contains(needle), "the gate: {needle}");
    }
}
