//! The suite's sections on the measuring tools, run for real with short steps: a
//! client other than loadgen (tpc-client, built with loadgen) against echod, and
//! the memory echod keeps per idle connection. `--peers` points nowhere, so echod
//! is the reference server and nothing else is built.

use super::{free_port, index, loadgen, temp};
use crate::common::stderr;

/// tpc-client's figures and echod's idle memory land in the index and the report.
#[test]
fn outside_client_and_idle_memory() {
    let out = temp("tools");
    let port = free_port();
    let clients = "clients tpc-client → echod reuseport w=1 conns=10";
    let idle = "idle echod reuseport w=1 conns=10000";
    let o = loadgen(&[
        "suite",
        "--peers",
        "/nonexistent",
        "--no-ports",
        "--duration",
        "1s",
        "--warmup",
        "200ms",
        "--port",
        &port,
        "--out",
        out.to_str().expect("utf-8"),
        "--only",
        clients,
        "--only",
        idle,
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let idx = index(&out);
    let tpc = idx.steps.iter().find(|s| s.record.scenario == clients).expect("clients step");
    let f = tpc.record.client_figures.as_ref().expect("tpc-client's figures");
    assert_eq!(f.tool, "tpc-client");
    assert!(f.msgs_per_sec > 0.0 && f.rt_per_cpu_s.is_some(), "{f:?}");
    assert!(f.line.contains("ok=10"), "every connection ran: {}", f.line);
    let held = idx.steps.iter().find(|s| s.record.scenario == idle).expect("idle step");
    let i = held.record.idle.as_ref().expect("idle figures");
    assert_eq!(i.conns, 10_000);
    assert!(i.rss_after >= i.rss_before && i.rss_before > 0, "{i:?}");
    let report = std::fs::read_to_string(out.join("report.md")).expect("report");
    assert!(report.contains("## What loadgen costs"), "{report}");
    assert!(report.contains("| 10 | tpc-client |"), "{report}");
    assert!(report.contains("## Memory per idle connection"), "{report}");
    assert!(report.contains("| echod reuseport w=1 | 10.0k |"), "{report}");
    let _ = std::fs::remove_dir_all(out);
}

/// `--server NAME=COMMAND`: a server of the user's own (here echod, started by its
/// command, ready once its port accepts) gets a peers row under NAME; a command that
/// exits before listening fails its step with its last line of stderr, and the suite
/// goes on.
#[test]
fn a_server_of_your_own() {
    let out = temp("own-server");
    let port = free_port();
    let echod = std::path::PathBuf::from(env!("CARGO_BIN_EXE_loadgen")).with_file_name("echod");
    let mine =
        format!("mine={} --bind 127.0.0.1 --port {{port}} --workers 1 --no-pin", echod.display());
    let broken = "broken=echo no such flag >&2; exit 3; {port}";
    let o = loadgen(&[
        "suite",
        "--quick",
        "--no-ports",
        "--duration",
        "1s",
        "--warmup",
        "200ms",
        "--port",
        &port,
        "--out",
        out.to_str().expect("utf-8"),
        "--server",
        &mine,
        "--server",
        broken,
        "--only",
        "peers mine conns=1000",
        "--only",
        "peers broken conns=1000",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "a step failed: {err}");
    let idx = index(&out);
    let step = |name: &str| idx.steps.iter().find(|s| s.record.scenario == name).expect(name);
    let ran = step("peers mine conns=1000");
    assert_eq!(ran.record.exit_code, Some(0), "{:?}", ran.record.error);
    assert!(ran.record.server_cpu_s > 0.0 && ran.record.server_rss_peak > 0);
    let failed = step("peers broken conns=1000");
    let why = failed.record.error.as_deref().unwrap_or("");
    assert!(why.contains("broken exited (exit status: 3) before port"), "{why}");
    assert!(why.ends_with("its last line: no such flag"), "{why}");
    let report = std::fs::read_to_string(out.join("report.md")).expect("report");
    assert!(report.contains("| 1000 | mine |"), "{report}");
    let _ = std::fs::remove_dir_all(out);
}

/// A `--server` without a name or without {port}: exit 2, one line, nothing run.
#[test]
fn bad_server_exits_2_before_running() {
    let out = temp("bad-server");
    for bad in ["./myecho --port {port}", "mine=./myecho --port 7"] {
        let o =
            loadgen(&["suite", "--quick", "--out", out.to_str().expect("utf-8"), "--server", bad]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.starts_with("loadgen: --server '"), "{err}");
        assert!(!out.exists(), "nothing was written");
    }
}

/// Installed binaries (`cargo install`): a loadgen with no echod beside it finds
/// the one on PATH; with none anywhere it says where it looked, exit 2.
#[test]
fn installed_loadgen_finds_echod_on_path() {
    let home = temp("installed");
    let (bin, elsewhere) = (home.join("bin"), home.join("elsewhere"));
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    let built = std::path::PathBuf::from(env!("CARGO_BIN_EXE_loadgen"));
    std::fs::copy(&built, elsewhere.join("loadgen")).expect("copy loadgen");
    let lonely = elsewhere.join("loadgen");
    let run = |path: &str| {
        let out = home.join("out");
        let _ = std::fs::remove_dir_all(&out);
        let spec = common::child::Spec::new(&lonely)
            .args(["suite", "--quick", "--no-ports", "--peers", "/nonexistent"])
            .args(["--duration", "500ms", "--warmup", "100ms", "--port", &free_port()])
            .args(["--only", "scaling echod reuseport w=1 conns=1", "--out"])
            .args([out.as_os_str()])
            .env("PATH", path);
        let mut child = common::child::Child::start(spec).expect("start");
        let status = child.wait_bounded(std::time::Duration::from_secs(120), None).expect("wait");
        let lines = child.remaining_lines(std::time::Duration::from_secs(5));
        let text: Vec<String> = lines.iter().map(|l| l.text().to_string()).collect();
        (status.and_then(|s| s.code()), text.join("\n"))
    };
    let (code, text) = run("/usr/bin:/bin");
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("echod is neither beside loadgen") && text.contains("on PATH"), "{text}");
    std::fs::copy(built.with_file_name("echod"), bin.join("echod")).expect("install echod");
    let (code, text) = run(&format!("{}:/usr/bin:/bin", bin.display()));
    assert_eq!(code, Some(0), "{text}");
    let _ = std::fs::remove_dir_all(home);
}
