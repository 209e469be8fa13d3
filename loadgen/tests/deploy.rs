//! The deployment files of scripts/deploy/: the Kubernetes Indexed Job is valid
//! YAML whose shards, start time and run id agree, and `ssh-agents` refuses bad
//! arguments with its usage line, exit 2.

use std::path::PathBuf;
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

/// The top of the checkout.
fn top() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The documents of `kind` (and `name`, when given) in the k8s file.
fn docs_of<'a>(docs: &'a [Yaml], kind: &str, name: Option<&str>) -> Vec<&'a Yaml> {
    docs.iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .filter(|d| name.map_or(true, |n| d["metadata"]["name"].as_str() == Some(n)))
        .collect()
}

/// The claim a pod's first volume names.
fn claim_of(pod: &Yaml) -> Option<&str> {
    pod["volumes"][0]["persistentVolumeClaim"]["claimName"].as_str()
}

/// The agents are an Indexed Job of N pods whose shard is `$JOB_COMPLETION_INDEX/N`
/// with N from the ConfigMap, all sharing START_AT and RUN_ID; the merge Job reads
/// the same volume and runs `loadgen merge`.
#[test]
fn k8s_job_shards_agree() {
    let text = std::fs::read_to_string(top().join("scripts/deploy/k8s-agents.yaml")).expect("read");
    let docs = YamlLoader::load_from_str(&text).expect("valid YAML");
    let config = docs_of(&docs, "ConfigMap", None)[0];
    let agents: i64 = config["data"]["AGENTS"].as_str().expect("AGENTS").parse().expect("a number");
    assert!(config["data"]["START_AT"].as_str().is_some());
    assert!(config["data"]["RUN_ID"].as_str().is_some());
    let claim = docs_of(&docs, "PersistentVolumeClaim", None)[0]["metadata"]["name"].as_str();
    assert!(claim.is_some(), "a claim for the results");

    let job = docs_of(&docs, "Job", Some("loadgen-agents"))[0];
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    assert_eq!(spec["completions"].as_i64(), Some(agents), "completions = AGENTS");
    assert_eq!(spec["parallelism"].as_i64(), Some(agents), "parallelism = AGENTS");
    assert!(spec["activeDeadlineSeconds"].as_i64().is_some(), "bounded");
    let pod = &spec["template"]["spec"];
    let script = pod["containers"][0]["command"][2].as_str().expect("a script");
    for part in [
        "--shard \"$JOB_COMPLETION_INDEX/$AGENTS\"",
        "--start-at \"$START_AT\"",
        "--run-id \"$RUN_ID\"",
        "agent-$JOB_COMPLETION_INDEX.json",
    ] {
        assert!(script.contains(part), "{part}: {script}");
    }
    assert_eq!(claim_of(pod), claim, "the agents write to the claim");

    let merge = docs_of(&docs, "Job", Some("loadgen-merge"))[0];
    let pod = &merge["spec"]["template"]["spec"];
    let script = pod["containers"][0]["command"][2].as_str().expect("a script");
    assert!(script.contains("loadgen merge \"$dir\"/agent-*.json --out \"$dir/merged.json\""));
    assert!(merge["spec"]["activeDeadlineSeconds"].as_i64().is_some(), "bounded");
    assert_eq!(claim_of(pod), claim, "the merge reads the same claim");
}

/// Bad arguments: the usage line, exit 2, nothing started.
#[test]
fn ssh_agents_refuses_bad_arguments() {
    let script = top().join("scripts/deploy/ssh-agents");
    for args in [
        &[][..],
        &["127.0.0.1:12000", "10"][..],
        &["127.0.0.1:12000", "x", "h"][..],
        &["127.0.0.1:12000", "1", "h1", "h2"][..],
    ] {
        let o = Command::new("bash").arg(&script).args(args).output().expect("run bash");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("usage: ssh-agents TARGET CONNS HOST..."), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}
