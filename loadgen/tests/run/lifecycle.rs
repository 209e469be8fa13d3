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
