//! `loadgen exact`: bad input is one line and exit 2; one real round against this
//! build's echod gives finite instruction, system-call and context-switch figures
//! (skipped, with the reason printed, where valgrind or perf is missing).

use std::path::PathBuf;
use std::time::Duration;

use crate::common::{loadgen, stderr};

/// How long a bad-input run may take (it should end at once).
const QUICK: Duration = Duration::from_secs(30);

/// A fresh scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("exact-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

/// Asserts exit 2 and a single stderr line containing `needle`.
fn refused(args: &[&str], needle: &str) {
    let out = loadgen(args, QUICK);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
}

/// A zero or negative tolerance, an unknown metric, no echod at --echod and a base
/// folder without echod are each one line naming the flag, and exit 2.
#[test]
fn exact_refuses_bad_input() {
    let dir = scratch("bad");
    let out = dir.to_string_lossy().into_owned();
    refused(&["exact", "--tolerance", "0", "--out", &out], "--tolerance 0");
    refused(&["exact", "--tolerance=-1%", "--out", &out], "--tolerance -1%");
    refused(&["exact", "--tolerance-for", "cycles=1%", "--out", &out], "no metric 'cycles'");
    let missing = dir.join("no-such-echod");
    let missing = missing.to_string_lossy();
    refused(&["exact", "--echod", &missing, "--out", &out], "no such file");
    refused(&["exact", "--base", &out, "--out", &out], "no echod in that folder");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One round against this build's echod: instructions per message are finite and
/// positive, and the system-call and context-switch figures are there.
#[test]
fn exact_measures_this_build() {
    for tool in ["valgrind", "callgrind_control", "perf"] {
        if !on_path(tool) {
            println!("skipped: {tool} is not on PATH (apt-get install valgrind linux-perf)");
            return;
        }
    }
    let echod = PathBuf::from(env!("CARGO_BIN_EXE_loadgen")).with_file_name("echod");
    if !echod.is_file() {
        println!("skipped: no echod beside loadgen (cargo build --workspace)");
        return;
    }
    let dir = scratch("run");
    let out = dir.to_string_lossy().into_owned();
    let run = loadgen(&["exact", "--rounds", "1", "--out", &out], Duration::from_secs(300));
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let text = std::fs::read_to_string(dir.join("exact.json")).expect("exact.json");
    let report: serde_json::Value = serde_json::from_str(&text).expect("json");
    let records = report["records"].as_array().expect("records");
    assert_eq!(records.len(), 3, "one record per workload: {text}");
    for r in records {
        let ir = r["instructions_per_msg"].as_f64().expect("instructions");
        assert!(ir.is_finite() && ir > 0.0, "{r}");
        let syscalls = r["syscalls_per_rt"].as_f64().expect("syscalls");
        assert!(syscalls.is_finite() && syscalls > 0.0, "{r}");
        assert!(r["ctx_switches_per_rt"].as_f64().is_some(), "{r}");
    }
    assert!(report["tools"]["valgrind"].as_str().is_some_and(|v| v.contains("valgrind")));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether `name` is in a folder of $PATH.
fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}
