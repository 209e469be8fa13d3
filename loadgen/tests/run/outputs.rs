//! The output files of a run (`--json`, `--hgrm`) are never the reason a result is
//! lost: a path that cannot be written is refused before any work (one line naming
//! the flag and the fix, exit 2, nothing connected), and a write that still fails at
//! the end leaves the result in a fallback file whose path is said (exit 2).

use std::path::PathBuf;
use std::time::Duration;

use engine::result::RunResult;

use crate::common::{spawn, stderr};

use super::servers::Server;

/// A fresh folder for one test's files.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loadgen-out-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test folder");
    dir
}

/// A folder that does not exist, a path that is a folder, a folder inside a file:
/// exit 2 with one line naming the flag, before the preflight and before any
/// connection reaches the server.
#[test]
fn unwritable_paths_are_refused_before_any_work() {
    let server = Server::echo();
    let dir = folder("refused");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").expect("a file");
    let (d, f) = (dir.display().to_string(), file.display().to_string());
    let cases: [(&str, String, &str); 5] = [
        ("--json", "/nonexistent/dir/r.json".into(), "does not exist"),
        ("--hgrm", "/nonexistent/dir/r.hgrm".into(), "does not exist"),
        ("--json", d.clone(), "is a folder"),
        ("--hgrm", d, "is a folder"),
        ("--json", format!("{f}/r.json"), "cannot write"),
    ];
    let target = server.addr.to_string();
    for (flag, path, what) in cases {
        let args = ["--target", &target, "--conns", "3", "--duration", "2s", flag, &path];
        let o = crate::common::loadgen(&args, Duration::from_secs(30));
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{flag} {path}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{flag} {path}: {err}");
        assert!(err.starts_with(&format!("loadgen: {flag} ")), "{err}");
        assert!(err.contains(what), "{flag} {path}: {err}");
    }
    assert_eq!(server.accepted().len(), 0, "a refused run connected");
    assert_eq!(std::fs::read_to_string(&file).ok().as_deref(), Some("x"));
    std::fs::remove_dir_all(&dir).ok();
}

/// `--json /dev/full` and `--hgrm /dev/full` pass the check (the device opens for
/// writing) and fail at the end (ENOSPC): each result is in a fallback file in
/// the current folder, named on stderr; exit 2, and the JSON says so.
#[test]
fn a_write_that_fails_at_the_end_leaves_a_fallback_file() {
    let server = Server::echo();
    let dir = folder("fallback");
    let target = server.addr.to_string();
    let args = ["--target", &target, "--conns", "2", "--duration", "300ms", "--warmup", "0s"];
    let mut all = args.to_vec();
    all.extend(["-q", "--json", "/dev/full", "--hgrm", "/dev/full"]);
    let (code, stdout, stderr) = spawn(&all, &dir, None).finish(Duration::from_secs(30));
    assert_eq!(code, Some(2), "{stderr:?}");
    assert!(stdout.contains("connections"), "the summary is printed: {stdout}");
    let mut saved = Vec::new();
    for (flag, ext) in [("--json", "json"), ("--hgrm", "hgrm")] {
        let line = stderr
            .iter()
            .find(|l| l.starts_with(&format!("loadgen: {flag} ")))
            .unwrap_or_else(|| panic!("no line for {flag}: {stderr:?}"));
        assert!(line.contains("/dev/full") && line.contains("saved in"), "{line}");
        let path = line.rsplit("saved in ").next().expect("a path").trim();
        let path = dir.join(path.trim_end_matches('.'));
        assert_eq!(path.extension().and_then(|e| e.to_str()), Some(ext), "{line}");
        saved.push(std::fs::read_to_string(&path).expect("the fallback file"));
    }
    let r: RunResult = serde_json::from_str(&saved[0]).expect("a result");
    assert_eq!((r.connections.established, r.exit_code), (2, 2));
    assert!(saved[1].contains("#[Mean    ="), "{}", saved[1]);
    std::fs::remove_dir_all(&dir).ok();
}
