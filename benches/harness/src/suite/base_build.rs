//! `loadgen build-base [REV] --out DIR`: builds another revision's servers for
//! `loadgen suite --base DIR`, so a change is measured against the code it changes,
//! on the same machine, in the same run (rustc-perf's and Bencher's way, not a
//! number recorded on some other host).
//!
//! REV `auto` (the default) is what CI compares with: the merge-base of HEAD with
//! main when HEAD is not main itself; otherwise the revision `results/baseline` was
//! measured at (its results record it). The revision is checked out in a git
//! worktree under `target/base-src` (HEAD's checkout is never touched), built in
//! release into its own target folder `target/base` (kept, so building the same
//! base again is quick), and echod — and tokio-echo when that revision has it — are
//! copied into DIR with `revision.txt` saying what they were built from.
//!
//! Every failure is an error (exit 2) that says what failed: a revision that is not
//! one, a checkout that is not git, a build that does not compile (cargo's own
//! output above the line). CI falls back to comparing with results/baseline then.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context as _};
use common::child::{Child, Out, Spec};

/// Flags of `loadgen build-base`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
    loadgen build-base main --out /tmp/main-build && loadgen suite --quick --base /tmp/main-build\n  \
    loadgen build-base --out target/base-bin      (auto: merge-base with main, else results/baseline's revision)")]
pub struct BuildBaseArgs {
    /// The revision to build: a commit, branch or tag; `auto` picks the merge-base
    /// with main, or the revision results/baseline was measured at.
    #[arg(default_value = "auto")]
    pub rev: String,
    /// Folder to put the base build's echod (and tokio-echo) in.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The git checkout to build from (default: the one the current folder is in).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
}

/// Builds the base and returns exit code 0; every failure is an error (exit 2).
pub fn execute(args: BuildBaseArgs) -> anyhow::Result<u8> {
    let repo = toplevel(&args.repo)?;
    let (sha, why) = resolve(&repo, &args.rev)?;
    let short = git(&repo, &["rev-parse", "--short", &sha])?;
    let subject = git(&repo, &["log", "-1", "--format=%s", &sha]).unwrap_or_default();
    eprintln!("build-base: {short} ({why}): {subject}");
    let tree = repo.join("target/base-src");
    checkout(&repo, &tree, &sha)?;
    let built = build(&repo, &tree, &short);
    let _ = git(&repo, &["worktree", "remove", "--force", &tree.display().to_string()]);
    let release = built?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("--out {}: cannot create the folder", args.out.display()))?;
    for name in ["echod", "tokio-echo"] {
        let from = release.join(name);
        if from.exists() {
            let to = args.out.join(name);
            std::fs::copy(&from, &to)
                .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
        }
    }
    std::fs::write(args.out.join("revision.txt"), format!("{short} {subject}\nchosen: {why}\n"))
        .with_context(|| format!("--out {}: cannot write revision.txt", args.out.display()))?;
    eprintln!("build-base: {} holds the base build of {short}", args.out.display());
    Ok(common::cli::EXIT_OK)
}

/// The top folder of the git checkout `dir` is in.
fn toplevel(dir: &Path) -> anyhow::Result<PathBuf> {
    let top = git(dir, &["rev-parse", "--show-toplevel"]).map_err(|_| {
        anyhow::anyhow!("--repo {}: not inside a git checkout; run it in one", dir.display())
    })?;
    Ok(PathBuf::from(top))
}

/// The full commit id REV names, and why it was chosen.
pub fn resolve(repo: &Path, rev: &str) -> anyhow::Result<(String, String)> {
    if rev != "auto" {
        let sha = commit(repo, rev).map_err(|_| {
            anyhow::anyhow!(
                "'{rev}' is not a revision of {}: give a commit, branch or tag",
                repo.display()
            )
        })?;
        return Ok((sha, format!("{rev} as given")));
    }
    let head = commit(repo, "HEAD").context("this checkout has no commit yet")?;
    for main in ["origin/main", "main"] {
        let Ok(main_sha) = commit(repo, main) else { continue };
        let Ok(merge_base) = git(repo, &["merge-base", &head, &main_sha]) else { continue };
        if merge_base != head {
            return Ok((merge_base, format!("merge-base of HEAD with {main}")));
        }
    }
    let Some(recorded) = baseline_revision(&repo.join("results/baseline")) else {
        bail!(
            "auto: HEAD is main itself and results/baseline records no revision: \
             give the revision to compare with (e.g. HEAD~1)"
        );
    };
    let sha = commit(repo, &recorded).map_err(|_| {
        anyhow::anyhow!(
            "auto: results/baseline was measured at {recorded}, which this clone does not have \
             (a shallow clone?): give the revision to compare with"
        )
    })?;
    Ok((sha, "the revision results/baseline was measured at".to_string()))
}

/// The git revision the first result under `dir` was measured at (without `-dirty`).
fn baseline_revision(dir: &Path) -> Option<String> {
    let side = crate::compare::load::load_side(dir).ok()?;
    let run = side.values().flatten().next()?;
    let rev = run.result.environment.git_revision.trim_end_matches("-dirty").trim();
    (!rev.is_empty() && rev != "unknown").then(|| rev.to_string())
}

/// A fresh detached worktree of `sha` at `tree` (one left from an earlier run is
/// removed first).
fn checkout(repo: &Path, tree: &Path, sha: &str) -> anyhow::Result<()> {
    let path = tree.display().to_string();
    if tree.exists() {
        let _ = git(repo, &["worktree", "remove", "--force", &path]);
        let _ = std::fs::remove_dir_all(tree);
    }
    let _ = git(repo, &["worktree", "prune"]);
    git(repo, &["worktree", "add", "--detach", "--force", &path, sha])
        .with_context(|| format!("cannot check {sha} out into {path}"))?;
    Ok(())
}

/// `cargo build --release` of echod (and tokio-echo when the revision has it) in
/// `tree` into `repo/target/base`; returns the folder the binaries are in. Cargo's
/// output goes to our stderr, so a failure shows the compiler's reasons.
fn build(repo: &Path, tree: &Path, short: &str) -> anyhow::Result<PathBuf> {
    let target = repo.join("target/base");
    // --target-dir wins over CARGO_TARGET_DIR, so the caller's setting cannot send
    // the base build elsewhere.
    let mut spec = Spec::new("cargo")
        .current_dir(tree)
        .args(["build", "--release", "-p", "echod", "--target-dir"])
        .args([&target])
        .stdout(Out::Inherit)
        .stderr(Out::Inherit);
    if tree.join("benches/tokio-echo/Cargo.toml").exists() {
        spec = spec.args(["-p", "tokio-echo"]);
    }
    let mut cargo = Child::start(spec).context("cannot run cargo")?;
    let status = cargo
        .wait_bounded(BUILD_LIMIT, None)
        .context("waiting for cargo")?
        .with_context(|| format!("the base build of {short} ran past {BUILD_LIMIT:?}"))?;
    if !status.success() {
        bail!(
            "the base build of {short} failed (cargo exit {}): see cargo's output above",
            status.code().map_or("by a signal".to_string(), |c| c.to_string())
        );
    }
    Ok(target.join("release"))
}

/// The longest a base build may take (a cold build here takes a few minutes).
const BUILD_LIMIT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// The full commit id of `rev`.
fn commit(repo: &Path, rev: &str) -> anyhow::Result<String> {
    git(repo, &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")])
}

/// Runs git in `dir`; its trimmed stdout, or an error with its stderr's first line.
fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run git")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!("git {}: {}", args.join(" "), err.lines().next().unwrap_or("failed").trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
