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

/// A process as /proc shows it: its state letter, parent pid and start time (in
/// clock ticks since boot: with the pid, it names one process even if the pid is
/// reused later).
fn proc_state(pid: u32) -> Option<(char, u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // After the name: state (field 3), ppid (4), ..., starttime (22).
    let state = fields.first()?.chars().next()?;
    Some((state, fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

/// Whether the process `(pid, start time)` still runs (a zombie does not).
fn alive((pid, started): (u32, u64)) -> bool {
    proc_state(pid).is_some_and(|(state, _, s)| state != 'Z' && s == started)
}

/// The live processes whose parent is `ppid`, as (pid, start time).
fn children_of(ppid: u32) -> Vec<(u32, u64)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| match proc_state(pid)? {
            (state, parent, started) if parent == ppid && state != 'Z' => Some((pid, started)),
            _ => None,
        })
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
    let parent = lg.child.pid();
    let children = children_of(parent);
    let _ = lg.child.kill();
    // Bounded wait that gives up: the children see their parent die.
    let deadline = Instant::now() + Duration::from_secs(10);
    while children.iter().any(|&c| alive(c)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<(u32, u64)> = children.iter().copied().filter(|&c| alive(c)).collect();
    for &(pid, _) in &left {
        // Leave nothing running, whatever the verdict (checked alive, with its start
        // time, just before).
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
        let r: engine::result::RunResult = serde_json::from_str(&text).expect("a result");
        assert!(r.interrupted, "{case}");
        assert_eq!(r.exit_code, code, "{case}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
