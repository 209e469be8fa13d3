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

/// The agents are an Indexed Job of N pods, N the ConfigMap's JOB_COMPLETIONS (what
/// `--shard auto` reads beside the Job's JOB_COMPLETION_INDEX), loadgen itself the
/// container's command (no shell in front), all sharing START_AT and RUN_ID; the
/// merge Job reads the same volume and runs `loadgen merge`.
#[test]
fn k8s_job_shards_agree() {
    let text = std::fs::read_to_string(top().join("scripts/deploy/k8s-agents.yaml")).expect("read");
    let docs = YamlLoader::load_from_str(&text).expect("valid YAML");
    let config = docs_of(&docs, "ConfigMap", None)[0];
    let agents: i64 = config["data"]["JOB_COMPLETIONS"]
        .as_str()
        .expect("JOB_COMPLETIONS")
        .parse()
        .expect("a number");
    assert!(config["data"]["START_AT"].as_str().is_some());
    assert!(config["data"]["RUN_ID"].as_str().is_some());
    let claim = docs_of(&docs, "PersistentVolumeClaim", None)[0]["metadata"]["name"].as_str();
    assert!(claim.is_some(), "a claim for the results");

    let job = docs_of(&docs, "Job", Some("loadgen-agents"))[0];
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    assert_eq!(spec["completions"].as_i64(), Some(agents), "completions = JOB_COMPLETIONS");
    assert_eq!(spec["parallelism"].as_i64(), Some(agents), "parallelism = JOB_COMPLETIONS");
    assert!(spec["activeDeadlineSeconds"].as_i64().is_some(), "bounded");
    let pod = &spec["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["command"][0].as_str(), Some("loadgen"), "loadgen is PID 1");
    assert_eq!(container["command"].as_vec().map(Vec::len), Some(1));
    let args: Vec<&str> =
        container["args"].as_vec().expect("args").iter().filter_map(Yaml::as_str).collect();
    for part in [
        "--shard=auto",
        "--start-at=$(START_AT)",
        "--run-id=$(RUN_ID)",
        "--json=/results/$(RUN_ID)-agent-$(JOB_COMPLETION_INDEX).json",
    ] {
        assert!(args.contains(&part), "{part}: {args:?}");
    }
    assert_eq!(claim_of(pod), claim, "the agents write to the claim");

    let merge = docs_of(&docs, "Job", Some("loadgen-merge"))[0];
    let pod = &merge["spec"]["template"]["spec"];
    let script = pod["containers"][0]["command"][2].as_str().expect("a script");
    assert!(script.contains(
        "loadgen merge /results/\"$RUN_ID\"-agent-*.json --out /results/\"$RUN_ID\"-merged.json"
    ));
    assert!(script.contains("$JOB_COMPLETIONS"), "waits for every agent");
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
        // A host that ssh and scp would read as an option.
        &["127.0.0.1:12000", "10", "-oProxyCommand=touch /tmp/x"][..],
        &["127.0.0.1:12000", "10", "h1", ""][..],
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

/// MAX_S of each test that runs ssh-agents: a value no other process sleeps for, so
/// a leftover watchdog (`sleep 3517`) can be found; one per test, as tests run at
/// once.
const WATCHDOG_S: &str = "3517";
const WATCHDOG_COPY_S: &str = "3518";

/// The `sleep MAX_S` processes running on this machine.
fn watchdogs_left(max_s: &str) -> usize {
    let Ok(procs) = std::fs::read_dir("/proc") else { return 0 };
    procs
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| c == format!("sleep\0{max_s}\0").as_bytes())
        .count()
}

/// Fake `ssh HOST COMMAND` (runs COMMAND here) and `scp [HOST:]FROM [HOST:]TO` (a
/// local copy), both taking the `--` that ends the options.
fn fake_ssh(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let ssh = script(
        dir,
        "fake-ssh",
        "#!/usr/bin/env bash\n[ \"$1\" = -- ] && shift\nshift\nexec bash -c \"$*\"\n",
    );
    let scp = script(
        dir,
        "fake-scp",
        "#!/usr/bin/env bash\n[ \"$1\" = -- ] && shift\nexec cp \"${1#*:}\" \"${2#*:}\"\n",
    );
    (ssh, scp)
}

/// A copy that fails: one line naming the host and what failed, exit 1, no agent
/// started, the host's private folder removed and no watchdog left behind.
#[test]
fn ssh_agents_says_when_a_copy_fails() {
    let loadgen = PathBuf::from(env!("CARGO_BIN_EXE_loadgen"));
    let dir = std::env::temp_dir().join(format!("loadgen-ssh-copy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("remote")).expect("mkdir");
    let (ssh, _) = fake_ssh(&dir);
    let scp = script(&dir, "failing-scp", "#!/usr/bin/env bash\nexit 1\n");
    // stderr to a file and a bounded wait: a leftover watchdog holding a pipe open
    // must fail the test, not hang it.
    let log = dir.join("stderr");
    let spec = common::child::Spec::new("bash")
        .args([top().join("scripts/deploy/ssh-agents").into_os_string()])
        .args(["127.0.0.1:9", "10", "fake-a", "fake-b"])
        .env("SSH", &ssh)
        .env("SCP", &scp)
        .env("LOADGEN", &loadgen)
        .env("MAX_S", WATCHDOG_COPY_S)
        .env("REMOTE_DIR", dir.join("remote"))
        .env("OUT", dir.join("out"))
        .stderr(common::child::Out::File(std::fs::File::create(&log).expect("a log file")));
    let mut child = common::child::Child::start(spec).expect("run ssh-agents");
    let status = child
        .wait_bounded(std::time::Duration::from_secs(60), None)
        .expect("wait")
        .expect("ssh-agents exits by itself");
    let err = std::fs::read_to_string(&log).expect("read the log");
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("cannot copy") && err.contains("fake-a"), "{err}");
    let left = std::fs::read_dir(dir.join("remote")).expect("remote dir").count();
    assert_eq!(left, 0, "the private folder stays on the host");
    assert_eq!(watchdogs_left(WATCHDOG_COPY_S), 0, "the watchdog's sleep outlived the run");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two agents on fake hosts (ssh and scp replaced by local commands) against echod
/// on 127.0.0.1: one merged result holding every connection, no mismatch, exit 0,
/// and nothing of the agents left on the "hosts".
#[test]
fn ssh_agents_merges_two_fake_hosts() {
    use common::child::{Child, Spec};
    use std::time::Duration;
    let loadgen = PathBuf::from(env!("CARGO_BIN_EXE_loadgen"));
    let echod = loadgen.with_file_name("echod");
    assert!(echod.exists(), "{} is missing: run `cargo build --workspace`", echod.display());
    let dir = std::env::temp_dir().join(format!("loadgen-ssh-agents-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("remote")).expect("mkdir");
    // ssh HOST COMMAND: runs COMMAND here; scp [HOST:]FROM [HOST:]TO: a local copy.
    let (ssh, scp) = fake_ssh(&dir);
    let (server, addr) = crate::common::echod_on_loopback();
    let out = dir.join("out");
    let spec = Spec::new("bash")
        .args([top().join("scripts/deploy/ssh-agents").into_os_string()])
        .args([addr.as_str(), "40", "fake-a", "fake-b"])
        .env("SSH", &ssh)
        .env("SCP", &scp)
        .env("LOADGEN", &loadgen)
        .env("LEAD_S", "2")
        .env("MAX_S", WATCHDOG_S)
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
    assert_eq!(watchdogs_left(WATCHDOG_S), 0, "the watchdog's sleep outlived the run");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every pod of the Kubernetes file runs unprivileged (non-root, no privilege
/// escalation, no capability, a read-only root) with limits on CPU and memory.
#[test]
fn k8s_pods_are_unprivileged_and_bounded() {
    let text = std::fs::read_to_string(top().join("scripts/deploy/k8s-agents.yaml")).expect("read");
    let docs = YamlLoader::load_from_str(&text).expect("valid YAML");
    let jobs = docs_of(&docs, "Job", None);
    assert_eq!(jobs.len(), 2, "the agents and the merge");
    for job in jobs {
        let name = job["metadata"]["name"].as_str().unwrap_or("?");
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true), "{name}");
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"].as_str(),
            Some("RuntimeDefault")
        );
        for c in pod["containers"].as_vec().expect("containers") {
            let sc = &c["securityContext"];
            assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false), "{name}");
            assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true), "{name}");
            assert_eq!(sc["capabilities"]["drop"][0].as_str(), Some("ALL"), "{name}");
            for r in ["cpu", "memory"] {
                assert!(c["resources"]["limits"][r].as_str().is_some(), "{name}: limits.{r}");
                assert!(c["resources"]["requests"][r].as_str().is_some(), "{name}: requests.{r}");
            }
        }
    }
}

/// The Kubernetes version the manifests are validated against.
const K8S_VERSION: &str = "1.37.0";

/// Runs `kubernetes-validate --strict` (PyPI's package, which carries the API
/// schemas: nothing is fetched) on `file`; None, with the reason printed, where the
/// package is missing.
fn kubernetes_validate(file: &std::path::Path) -> Option<std::process::Output> {
    let probe = Command::new("python3").args(["-c", "import kubernetes_validate"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: the Python package kubernetes-validate is missing (pip install kubernetes-validate)");
        return None;
    }
    let o = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict", "-k", K8S_VERSION])
        .arg(file)
        .output()
        .expect("run kubernetes-validate");
    Some(o)
}

/// Every manifest under scripts/deploy/ passes the real Kubernetes API schemas,
/// strictly (no unknown field), and the validator does refuse a broken copy.
#[test]
fn k8s_manifests_pass_the_api_schemas() {
    let deploy = top().join("scripts/deploy");
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(&deploy)
        .expect("scripts/deploy")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "yaml") && p.to_string_lossy().contains("k8s")
        })
        .collect();
    manifests.sort();
    assert!(!manifests.is_empty());
    for file in &manifests {
        let Some(o) = kubernetes_validate(file) else { return };
        let out =
            String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{}: {out}", file.display());
        assert!(out.contains("passed"), "{out}");
    }
    // The check is real: a field the API does not know fails it.
    let dir = std::env::temp_dir().join(format!("loadgen-k8s-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let broken = dir.join("broken.yaml");
    let text = std::fs::read_to_string(&manifests[0]).expect("read");
    std::fs::write(
        &broken,
        text.replacen("completionMode: Indexed", "completionMode: Indexed\n  completionz: 4", 1),
    )
    .expect("write");
    let o = kubernetes_validate(&broken).expect("the package was there a moment ago");
    assert!(!o.status.success(), "an unknown field passed");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--shard auto` against echod on 127.0.0.1: Slurm's variables give shard 1 of 2,
/// said on stderr and recorded in the result (its share of the connections); with
/// no scheduler's variables, or two that disagree, one line and exit 2.
#[test]
fn shard_auto_reads_the_schedulers_environment() {
    let loadgen = PathBuf::from(env!("CARGO_BIN_EXE_loadgen"));
    let (server, addr) = crate::common::echod_on_loopback();
    let dir = std::env::temp_dir().join(format!("loadgen-shard-auto-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let json = dir.join("agent.json");
    let run = |vars: &[(&str, &str)]| {
        let mut c = Command::new(&loadgen);
        c.args(["--target", &addr, "--conns", "6", "--duration", "300ms", "--warmup", "100ms"])
            .args(["--shard", "auto", "--quiet", "--json"])
            .arg(&json);
        for v in [
            "JOB_COMPLETION_INDEX",
            "NOMAD_ALLOC_INDEX",
            "SLURM_PROCID",
            "AWS_BATCH_JOB_NODE_INDEX",
        ] {
            c.env_remove(v);
        }
        c.envs(vars.iter().copied()).output().expect("run loadgen")
    };
    let o = run(&[("SLURM_PROCID", "1"), ("SLURM_NTASKS", "2")]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("--shard auto: shard 1/2 from Slurm (SLURM_PROCID=1, SLURM_NTASKS=2)"),
        "{err}"
    );
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the result")).expect("JSON");
    assert_eq!(result["config"]["shard"]["index"], 1, "{result}");
    assert_eq!(result["config"]["shard"]["count"], 2);
    assert_eq!(result["connections"]["established"], 3, "its share of 6");

    for vars in [
        &[][..],
        &[
            ("SLURM_PROCID", "1"),
            ("SLURM_NTASKS", "2"),
            ("JOB_COMPLETION_INDEX", "0"),
            ("JOB_COMPLETIONS", "2"),
        ][..],
    ] {
        let o = run(vars);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{vars:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("--shard"), "{err}");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Kubernetes' `$(VAR)` expansion of one of the agents' args from `env`, with
/// /results moved to `results` and the run shortened to a second.
fn expand(arg: &str, env: &[(String, String)], results: &std::path::Path) -> String {
    let mut a = arg.replace("/results/", &format!("{}/", results.display()));
    for (k, v) in env {
        a = a.replace(&format!("$({k})"), v);
    }
    match a.split_once('=') {
        Some(("--duration", _)) => "--duration=1s".to_string(),
        Some(("--warmup", _)) => "--warmup=200ms".to_string(),
        _ => a,
    }
}

/// Two agents pods' loadgen, each with its `args` expanded from `env(index)` (no
/// shell, nothing else in the environment): both exit 0 having read their shard
/// from Kubernetes' variables.
fn run_k8s_agents(
    args: &[String],
    env: &dyn Fn(usize) -> Vec<(String, String)>,
    results: &std::path::Path,
) {
    let loadgen = PathBuf::from(env!("CARGO_BIN_EXE_loadgen"));
    let agents: Vec<std::process::Child> = (0..2)
        .map(|i| {
            let env = env(i);
            let argv: Vec<String> = args.iter().map(|a| expand(a, &env, results)).collect();
            assert!(argv.iter().all(|a| !a.contains("$(")), "unexpanded: {argv:?}");
            Command::new(&loadgen)
                .args(&argv)
                .env_clear()
                .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start an agent")
        })
        .collect();
    for (i, a) in agents.into_iter().enumerate() {
        let o = a.wait_with_output().expect("agent ends");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "agent {i}: {err}");
        assert!(err.contains(&format!("shard {i}/2 from Kubernetes")), "{err}");
    }
}

/// The Indexed Job run as Kubernetes would run it, on this machine: each pod's
/// `args` with `$(VAR)` expanded from the ConfigMap and JOB_COMPLETION_INDEX (no
/// shell), TARGET an echod on 127.0.0.1, /results a temporary folder, the run
/// shortened to a second; then the merge Job's script. Every agent finds its shard
/// by `--shard auto` and the merge holds every connection.
#[test]
fn k8s_job_runs_as_written() {
    let text = std::fs::read_to_string(top().join("scripts/deploy/k8s-agents.yaml")).expect("read");
    let docs = YamlLoader::load_from_str(&text).expect("valid YAML");
    let job = docs_of(&docs, "Job", Some("loadgen-agents"))[0];
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<String> = container["args"]
        .as_vec()
        .expect("args")
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    let merge_job = docs_of(&docs, "Job", Some("loadgen-merge"))[0];
    let merge_script = merge_job["spec"]["template"]["spec"]["containers"][0]["command"][2]
        .as_str()
        .expect("script");

    let loadgen = PathBuf::from(env!("CARGO_BIN_EXE_loadgen"));
    let (server, addr) = crate::common::echod_on_loopback();
    let dir = std::env::temp_dir().join(format!("loadgen-k8s-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bin")).expect("mkdir");
    std::os::unix::fs::symlink(&loadgen, dir.join("bin/loadgen")).expect("loadgen on PATH");
    let results = dir.join("results");
    std::fs::create_dir_all(&results).expect("mkdir");
    let start_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3;
    let env = |index: usize| -> Vec<(String, String)> {
        [
            ("TARGET", addr.clone()),
            ("CONNS", "10".to_string()),
            ("JOB_COMPLETIONS", "2".to_string()),
            ("START_AT", start_at.to_string()),
            ("RUN_ID", "k8s-test".to_string()),
            ("JOB_COMPLETION_INDEX", index.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    };
    run_k8s_agents(&args, &env, &results);
    let script = merge_script.replace("/results/", &format!("{}/", results.display()));
    let path =
        format!("{}:{}", dir.join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let o = Command::new("sh")
        .args(["-c", &script])
        .env("PATH", path)
        .envs(env(0))
        .output()
        .expect("run the merge script");
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let merged: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(results.join("k8s-test-merged.json")).expect("merged"),
    )
    .expect("JSON");
    assert_eq!(merged["connections"]["established"], 10, "{merged}");
    assert_eq!(merged["errors"]["mismatch"], 0);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The Slurm batch script under a stand-in `srun` that starts SLURM_NTASKS tasks
/// here, each with its SLURM_PROCID (as srun does): every agent finds its shard by
/// `--shard auto`, and the script's merge holds every connection.
#[test]
fn slurm_script_runs_every_task_and_merges() {
    let loadgen = PathBuf::from(env!("CARGO_BIN_EXE_loadgen"));
    let (server, addr) = crate::common::echod_on_loopback();
    let dir = std::env::temp_dir().join(format!("loadgen-slurm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bin")).expect("mkdir");
    // srun [OPTIONS] COMMAND...: COMMAND once per task, in the background, then the
    // worst exit code.
    script(
        &dir.join("bin"),
        "srun",
        "#!/usr/bin/env bash\nwhile [[ $1 == -* ]]; do shift; done\nrc=0\n\
         for ((i = 0; i < SLURM_NTASKS; i++)); do SLURM_PROCID=$i \"$@\" & done\n\
         for ((i = 0; i < SLURM_NTASKS; i++)); do wait -n || rc=$?; done\nexit $rc\n",
    );
    let path =
        format!("{}:{}", dir.join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let out = dir.join("out");
    let o = Command::new("bash")
        .arg(top().join("scripts/deploy/slurm-agents.sbatch"))
        .env("PATH", path)
        .env("SLURM_NTASKS", "3")
        .env("SLURM_JOB_ID", "77")
        .env("TARGET", &addr)
        .env("CONNS", "12")
        .env("LEAD_S", "2")
        .env("LOADGEN", &loadgen)
        .env("LOADGEN_FLAGS", "--duration 1s --warmup 200ms")
        .env("OUT", &out)
        .output()
        .expect("run the script");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    for i in 0..3 {
        assert!(err.contains(&format!("shard {i}/3 from Slurm")), "{err}");
        assert!(out.join(format!("agent-{i}.json")).is_file());
    }
    let merged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("merged.json")).expect("merged"))
            .expect("JSON");
    assert_eq!(merged["connections"]["established"], 12, "{merged}");
    assert_eq!(merged["config"]["run_id"], "slurm-77");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The Nomad job file parses as HCL (with PyPI's python-hcl2, where it is
/// installed), its group's `count` equals the NOMAD_GROUP_COUNT it sets for
/// `--shard auto`, and each task runs loadgen itself with its shard read from Nomad.
#[test]
fn nomad_job_counts_agree() {
    let file = top().join("scripts/deploy/nomad-agents.nomad.hcl");
    let probe = Command::new("python3").args(["-c", "import hcl2"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        println!("skipped: the Python package python-hcl2 is missing (pip install python-hcl2)");
        return;
    }
    // Labels and strings without python-hcl2 8's quotes and bookkeeping keys.
    let to_json = "import hcl2, json, sys\n\
        def bare(v):\n\
        \x20   if isinstance(v, dict):\n\
        \x20       return {k.strip('\"'): bare(x) for k, x in v.items() if not k.startswith('__')}\n\
        \x20   if isinstance(v, list):\n\
        \x20       return [bare(x) for x in v]\n\
        \x20   return v.strip('\"') if isinstance(v, str) else v\n\
        print(json.dumps(bare(hcl2.load(open(sys.argv[1])))))";
    let o = Command::new("python3").args(["-c", to_json]).arg(&file).output().expect("python3");
    assert!(o.status.success(), "not HCL: {}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let job = &doc["job"][0]["loadgen-agents"];
    assert_eq!(job["type"], "batch", "{doc}");
    let group = &job["group"][0]["agents"];
    let count = group["count"].as_i64().expect("a count");
    let task = &group["task"][0]["loadgen"];
    let env_count = task["env"][0]["NOMAD_GROUP_COUNT"].as_str().expect("NOMAD_GROUP_COUNT");
    assert_eq!(env_count.parse::<i64>().ok(), Some(count), "count = NOMAD_GROUP_COUNT");
    assert_eq!(task["config"][0]["command"], "loadgen");
    let args = task["config"][0]["args"].to_string();
    for part in ["--shard=auto", "--start-at=${var.start_at}", "--run-id=${var.run_id}"] {
        assert!(args.contains(part), "{part}: {args}");
    }
    assert_eq!(group["restart"][0]["attempts"], 0, "a retried agent would miss START_AT");
}
