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

/// Writes an executable script `name` in `dir`.
fn script(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// Two agents on fake hosts (ssh and scp replaced by local commands) against echod
/// on 127.0.0.1: one merged result holding every connection, no mismatch, exit 0,
/// and nothing of the agents left on the "hosts".
#[test]
fn ssh_agents_merges_two_fake_hosts() {
    use echod::child::{Child, Spec};
    use std::time::Duration;
    let loadgen = PathBuf::from(env!("CARGO_BIN_EXE_loadgen"));
    let echod = loadgen.with_file_name("echod");
    assert!(echod.exists(), "{} is missing: run `cargo build --workspace`", echod.display());
    let dir = std::env::temp_dir().join(format!("loadgen-ssh-agents-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("remote")).expect("mkdir");
    // ssh HOST COMMAND: runs COMMAND here; scp [HOST:]FROM [HOST:]TO: a local copy.
    let ssh = script(&dir, "fake-ssh", "#!/usr/bin/env bash\nshift\nexec bash -c \"$*\"\n");
    let scp = script(&dir, "fake-scp", "#!/usr/bin/env bash\nexec cp \"${1#*:}\" \"${2#*:}\"\n");
    let mut server = Child::start(Spec::new(&echod).args([
        "--bind=127.0.0.1",
        "--port=0",
        "--workers=1",
        "--no-pin",
    ]))
    .expect("start echod");
    let ready = server.wait_for_line("listening on", Duration::from_secs(20)).expect("echod ready");
    let addr = ready.split_whitespace().nth(2).expect("echod's address").to_string();
    let out = dir.join("out");
    let spec = Spec::new("bash")
        .args([top().join("scripts/deploy/ssh-agents").into_os_string()])
        .args([addr.as_str(), "40", "fake-a", "fake-b"])
        .env("SSH", &ssh)
        .env("SCP", &scp)
        .env("LOADGEN", &loadgen)
        .env("LEAD_S", "2")
        .env("MAX_S", "60")
        .env("REMOTE_DIR", dir.join("remote"))
        .env("OUT", &out)
        .env("LOADGEN_FLAGS", "--duration 1s --warmup 500ms");
    let mut run = Child::start(spec).expect("run ssh-agents");
    let status = run.wait_bounded(Duration::from_secs(90), None).expect("wait");
    let lines: Vec<String> =
        run.remaining_lines(Duration::from_secs(2)).iter().map(|l| l.text().to_string()).collect();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{lines:#?}");
    let merged: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("merged.json")).expect("merged.json"),
    )
    .expect("JSON");
    assert_eq!(merged["connections"]["established"], 40, "{lines:#?}");
    assert_eq!(merged["errors"]["mismatch"], 0);
    assert!(out.join("agent-0.json").is_file() && out.join("agent-1.json").is_file());
    let left: Vec<_> = std::fs::read_dir(dir.join("remote"))
        .expect("remote dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".json"))
        .collect();
    assert!(left.is_empty(), "left on the hosts: {left:?}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
