//! `--stats-json`: a path echod cannot write is refused before anything starts; a
//! write that still fails at exit goes to a fallback file, named on stderr.

use std::path::{Path, PathBuf};
use std::time::Duration;

use echod::server::ServerStats;

use crate::common::process::{echod_spec, spawn, spawn_with, temp_json, LOCAL};
use crate::common::{connect, echo};

/// A fresh, empty folder under the temporary folder.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = temp_json(name).with_extension("d");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

/// A path in a folder this process cannot write: a folder with mode 0555, or, where
/// that does not stop us (root), a file in sysfs, which never takes new files.
fn read_only_path(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let ro = dir.join("read-only");
    std::fs::create_dir_all(&ro).expect("mkdir");
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    if std::fs::write(ro.join("probe"), b"").is_ok() {
        return PathBuf::from("/sys/echod-test-stats.json");
    }
    ro.join("stats.json")
}

/// A missing folder, a directory, and a read-only place: exit 2 at once (no ready
/// line, nothing served), one line naming --stats-json and the fix.
#[test]
fn unwritable_stats_json_is_refused_before_starting() {
    let dir = fresh_dir("unwritable");
    let cases = [dir.join("missing").join("stats.json"), dir.clone(), read_only_path(&dir)];
    for path in cases {
        let mut args = LOCAL.to_vec();
        args.extend(["--stats-json", path.to_str().expect("utf-8")]);
        let mut echod = spawn(&args);
        assert_eq!(echod.wait().code(), Some(2), "{path:?}");
        assert!(echod.stdout_line(Duration::ZERO).is_none(), "{path:?}: it started serving");
        let err = echod.stderr_lines();
        assert_eq!(err.len(), 1, "{path:?}: {err:?}");
        assert!(err[0].starts_with("echod: --stats-json "), "{err:?}");
        assert!(err[0].contains("writable folder"), "names the fix: {err:?}");
        assert!(err[0].matches("os error").count() <= 1, "{err:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The folder disappears while echod runs: at SIGTERM the stats go to a fallback file
/// in the current folder, stderr says where, and echod exits 1.
#[test]
fn stats_json_falls_back_when_the_write_fails() {
    let dir = fresh_dir("fallback");
    let (gone, cwd) = (dir.join("gone"), dir.join("cwd"));
    std::fs::create_dir_all(&gone).expect("mkdir");
    std::fs::create_dir_all(&cwd).expect("mkdir");
    let command = echod_spec().current_dir(&cwd);
    let target = gone.join("stats.json");
    let mut args = LOCAL.to_vec();
    args.extend(["--workers", "1", "--stats-json", target.to_str().expect("utf-8")]);
    let mut echod = spawn_with(command, &args);
    let addr = echod.ready();
    let c = connect(addr);
    assert_eq!(echo(&c, b"counted"), b"counted");
    drop(c);
    std::fs::remove_dir_all(&gone).expect("remove the folder under echod");
    echod.signal("-TERM");
    assert_eq!(echod.wait().code(), Some(1));
    let line = echod.stderr_line_with("--stats-json");
    let fallback = line.rsplit_once("wrote them to ").expect("names the fallback").1;
    let fallback = PathBuf::from(fallback.trim_end_matches(" instead"));
    assert!(fallback.starts_with(&cwd), "{line}");
    let stats: ServerStats =
        serde_json::from_slice(&std::fs::read(&fallback).expect("fallback")).expect("parse");
    assert_eq!(stats.total().accepted, 1);
    let _ = std::fs::remove_dir_all(&dir);
}
