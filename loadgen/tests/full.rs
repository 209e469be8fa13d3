//! Output that cannot be written is never a silent success: `loadgen merge` and
//! `loadgen compare` with standard output on a full disk (`> /dev/full`) exit
//! non-zero with one line; `merge --out` on a full disk keeps the merged result
//! in a fallback file and says where.

use std::time::Duration;

use common::child::{Child, Line, Out, Spec};

use crate::compare::fixtures::{result, TempDir};
use crate::hostile::{a_result, write};

/// Runs `loadgen args` in `dir` with stdout on /dev/full; exit code and stderr.
fn to_full(args: &[&str], dir: &std::path::Path) -> (Option<i32>, String) {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
    let spec = Spec::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .current_dir(dir)
        .stdout(Out::File(full));
    let mut child = Child::start(spec).expect("spawn");
    let status = match child.wait_bounded(Duration::from_secs(60), None).expect("wait") {
        Some(s) => s,
        None => child.kill().expect("kill"),
    };
    let err: Vec<String> = child
        .remaining_lines(Duration::from_secs(5))
        .into_iter()
        .filter_map(|l| if let Line::Err(l) = l { Some(l) } else { None })
        .collect();
    (status.code(), err.join("\n"))
}

/// merge and compare exit non-zero, one line, when stdout is a full disk.
#[test]
fn stdout_on_a_full_disk_is_an_error() {
    let dir = TempDir::new("full-stdout");
    let r = write(dir.path(), "r.json", &a_result(dir.path()));
    let (code, err) = to_full(&["merge", "-q", &r], dir.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("standard output") && err.trim().lines().count() == 1, "{err}");
    let base = dir.write("base.json", &result("s", 1000.0, 50.0)).display().to_string();
    let (code, err) = to_full(&["compare", &base, &base], dir.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("standard output") && err.trim().lines().count() == 1, "{err}");
}

/// `merge --out /dev/full`: exit non-zero, one line naming --out and the fallback,
/// which holds the whole merged result.
#[test]
fn merge_out_on_a_full_disk_keeps_a_fallback() {
    let dir = TempDir::new("full-out");
    let r = write(dir.path(), "r.json", &a_result(dir.path()));
    let (code, err) = to_full(&["merge", "-q", &r, "--out", "/dev/full"], dir.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--out /dev/full: cannot write") && err.contains("saved in"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let saved: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("loadgen-result-"))
        .collect();
    assert_eq!(saved.len(), 1, "one fallback in the current folder");
    let text = std::fs::read_to_string(saved[0].path()).expect("read");
    let back: engine::result::RunResult = serde_json::from_str(&text).expect("a whole result");
    assert_eq!(back.connections.requested, 1);
}
