//! `loadgen build-base`: another revision's echod built from a git worktree into its
//! own target folder. Driven against a tiny git repository of its own (a crate
//! named echod with no dependencies), so a good build, a broken one and the choice
//! of revision are all real and quick.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::temp;
use crate::common::stderr;

fn git(repo: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .current_dir(repo)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .expect("git");
    assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// A repository on branch main whose one commit is a crate `echod` printing `main`
/// (`body` replaces main's body for a later commit).
fn repo(name: &str) -> PathBuf {
    let dir = temp(name);
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"echod\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .expect("write");
    std::fs::write(dir.join(".gitignore"), "/target\n").expect("write");
    git(&dir, &["init", "-q", "-b", "main"]);
    commit(&dir, "println!(\"main\");", "first");
    dir
}

fn commit(repo: &Path, body: &str, message: &str) -> String {
    std::fs::write(repo.join("src/main.rs"), format!("fn main() {{ {body} }}\n")).expect("write");
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", message]);
    git(repo, &["rev-parse", "--short", "HEAD"])
}

fn build_base(repo: &Path, rev: &str, out: &Path) -> std::process::Output {
    let (repo, out) = (repo.to_str().expect("utf-8"), out.to_str().expect("utf-8"));
    crate::common::loadgen(
        &["build-base", rev, "--out", out, "--repo", repo],
        Duration::from_secs(300),
    )
}

/// A revision that builds: its echod (the first commit's, not HEAD's) lands in
/// --out with revision.txt; HEAD's checkout is untouched.
#[test]
fn builds_a_revision_into_its_own_folder() {
    let repo = repo("bb-good");
    let first = git(&repo, &["rev-parse", "--short", "HEAD"]);
    commit(&repo, "println!(\"second\");", "second");
    let out = temp("bb-good-out");
    let o = build_base(&repo, &first, &out);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ran = Command::new(out.join("echod")).output().expect("run the base echod");
    assert_eq!(String::from_utf8_lossy(&ran.stdout).trim(), "main");
    let revision = std::fs::read_to_string(out.join("revision.txt")).expect("revision.txt");
    assert!(revision.starts_with(&format!("{first} first")), "{revision}");
    assert!(!out.join("tokio-echo").exists());
    let body = std::fs::read_to_string(repo.join("src/main.rs")).expect("read");
    assert!(body.contains("second"), "the checkout was not touched");
    for p in [repo, out] {
        let _ = std::fs::remove_dir_all(p);
    }
}

/// A revision that does not compile: exit 2, cargo's own output, and a last line
/// naming the revision; nothing is put in --out. A name that is no revision: exit 2
/// with one line.
#[test]
fn a_base_that_fails_to_build_is_a_clear_error() {
    let repo = repo("bb-broken");
    let broken = commit(&repo, "this is not rust", "broken");
    let out = temp("bb-broken-out");
    let o = build_base(&repo, "HEAD", &out);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("error"), "cargo's output is shown: {err}");
    let last = err.trim().lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("loadgen: the base build of {broken} failed (cargo exit")),
        "{last}"
    );
    assert!(!out.join("echod").exists());

    let o = build_base(&repo, "no-such-rev", &out);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("'no-such-rev' is not a revision of"), "{err}");
    for p in [repo, out] {
        let _ = std::fs::remove_dir_all(p);
    }
}

/// `auto`: on a branch, the merge-base with main; on main itself, the revision
/// results/baseline records (without -dirty); with neither, an error saying what
/// to give.
#[test]
fn auto_picks_the_merge_base_or_the_baseline_revision() {
    use harness::suite::base_build::resolve;
    let repo = repo("bb-auto");
    let first = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["checkout", "-q", "-b", "feature"]);
    commit(&repo, "println!(\"feature\");", "feature");
    let (sha, why) = resolve(&repo, "auto").expect("resolve");
    assert_eq!((sha.as_str(), why.as_str()), (first.as_str(), "merge-base of HEAD with main"));

    git(&repo, &["checkout", "-q", "main"]);
    commit(&repo, "println!(\"two\");", "two");
    let err = resolve(&repo, "auto").expect_err("no baseline");
    assert!(err.to_string().contains("results/baseline records no revision"), "{err}");
    let dir = repo.join("results/baseline/rep1");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut run = crate::compare::fixtures::result("s", 1.0, 1.0);
    let short = git(&repo, &["rev-parse", "--short", &first]);
    run.environment.git_revision = format!("{short}-dirty");
    std::fs::write(dir.join("r.json"), serde_json::to_string(&run).expect("json")).expect("write");
    let (sha, why) = resolve(&repo, "auto").expect("resolve");
    assert_eq!(sha, first);
    assert!(why.contains("results/baseline"), "{why}");
    let _ = std::fs::remove_dir_all(repo);
}
