//! How a run of the binary ends when it is told to, or killed: SIGINT and SIGTERM
//! interrupt it (exit 130 / 143, `interrupted` and the real exit code in the
//! JSON), and the children of a split run die with their parent, whose temporary
//! folder the next split run sweeps. Bounded waits that give up; no timing asserted.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::spawn;

use super::servers::Server;

/// A fresh folder for one test's files.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loadgen-life-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test folder");
    dir
}

/// The state letter and parent pid of process `pid` from /proc (None: gone).
fn proc_state(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether `pid` still runs (a zombie waiting for its reaper does not).
fn alive(pid: u32) -> bool {
    proc_state(pid).is_some_and(|(state, _)| state != 'Z')
}

/// The processes whose parent is `ppid`.
fn children_of(ppid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| proc_state(pid).is_some_and(|(s, parent)| parent == ppid && s != 'Z'))
        .collect()
}

/// The entries of folder `dir`, by name.
fn names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect()
}

/// `kill -9` of a split run's parent once its children are connected: both
/// children end within a bounded wait instead of generating load for the rest of
/// the 30 s, and the next split run removes the temporary folder the dead parent
/// left behind.
#[test]
fn split_children_die_with_a_killed_parent() {
    let server = Server::echo();
    let dir = folder("orphans");
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let target = server.addr.to_string();
    let args = ["--target", &target, "--processes", "2", "--conns", "20", "--warmup", "0s"];
    let mut long = args.to_vec();
    long.extend(["--duration", "30s"]);
    let mut lg = spawn(&long, &dir, Some(&tmp));
    let up = lg.wait_for_line("connections up across 2 processes", Duration::from_secs(30));
    let parent = lg.child.id();
    let children = children_of(parent);
    let _ = lg.child.kill();
    let _ = lg.child.wait();
    // Bounded wait that gives up: the children see their parent die.
    let deadline = Instant::now() + Duration::from_secs(10);
    while children.iter().any(|&pid| alive(pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<u32> = children.iter().copied().filter(|&pid| alive(pid)).collect();
    for pid in &left {
        // Leave nothing running, whatever the verdict.
        let _ = std::process::Command::new("kill").arg("-9").arg(pid.to_string()).status();
    }
    assert!(up, "the children did not connect: {:?}", lg.seen);
    assert_eq!(children.len(), 2, "children of {parent}: {children:?}");
    assert!(left.is_empty(), "children {left:?} outlived their killed parent {parent}");

    let mut short = args.to_vec();
    short.extend(["--duration", "200ms", "-q"]);
    let (code, _, stderr) = spawn(&short, &dir, Some(&tmp)).finish(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{stderr:?}");
    assert_eq!(names(&tmp), Vec::<String>::new(), "the dead parent's folder is still there");
    std::fs::remove_dir_all(&dir).ok();
}

/// SIGINT and SIGTERM interrupt a 60 s run once it measures (a split run too):
/// exit 130 and 143, "(INTERRUPTED)" in the summary, and the JSON says it was
/// interrupted, with the same exit code.
#[test]
fn interrupted_runs_exit_130_and_143() {
    let server = Server::echo();
    let target = server.addr.to_string();
    for (signal, code, processes) in [("INT", 130, "1"), ("TERM", 143, "1"), ("INT", 130, "2")] {
        let dir = folder(&format!("interrupt-{signal}-{processes}"));
        let args = ["--target", &target, "--conns", "4", "--processes", processes];
        let mut all = args.to_vec();
        all.extend(["--duration", "60s", "--warmup", "0s", "--json", "r.json"]);
        let mut lg = spawn(&all, &dir, None);
        // The first live line: the measured phase is under way.
        let measuring = lg.wait_for_line("s] conns ", Duration::from_secs(30));
        lg.signal(signal);
        let (exit, stdout, stderr) = lg.finish(Duration::from_secs(30));
        let case = format!("SIG{signal}, --processes {processes}");
        assert!(measuring, "{case}: {stderr:?}");
        assert_eq!(exit, Some(code), "{case}: {stderr:?}\n{stdout}");
        assert!(stdout.contains("(INTERRUPTED"), "{case}: {stdout}");
        let text = std::fs::read_to_string(dir.join("r.json")).expect("the JSON is written");
        let r: loadgen::result::RunResult = serde_json::from_str(&text).expect("a result");
        assert!(r.interrupted, "{case}");
        assert_eq!(r.exit_code, code, "{case}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
