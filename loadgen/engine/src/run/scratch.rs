//! The scratch folder of a split run, where its children leave their figures:
//! `loadgen-split-<parent pid>-<random>` in the temporary folder (`TMPDIR`), made
//! at the start and removed at the end. The temporary folder is shared with other
//! users, so the folder is private: a new name each time, made with `mkdir` mode
//! 0700 (which fails on anything already there, a planted symlink included, and
//! then another name is tried), never an existing one reused. A parent killed
//! with SIGKILL cannot remove its own, so every split run first sweeps the
//! folders whose parent is no longer a running loadgen. Invariant: a folder is
//! removed only when the pid in its name is not a live process named `loadgen`,
//! so a running split run's is never touched; a symlink is removed, never followed.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The prefix of every scratch folder's name.
const PREFIX: &str = "loadgen-split-";

/// A scratch folder, removed when dropped (also on an early return or an error).
#[derive(Debug)]
pub struct Scratch {
    /// Its path.
    pub dir: PathBuf,
}

impl Scratch {
    /// Sweeps the folders of dead parents in the temporary folder, then makes this
    /// process's own.
    pub fn create() -> anyhow::Result<Self> {
        let tmp = std::env::temp_dir();
        sweep(&tmp);
        create_in(&tmp)
    }
}

/// Makes a new private scratch folder in `tmp` (see the module doc).
fn create_in(tmp: &Path) -> anyhow::Result<Scratch> {
    use std::os::unix::fs::DirBuilderExt as _;
    let mut last = None;
    for _ in 0..16 {
        let dir = tmp.join(format!("{PREFIX}{}-{:016x}", std::process::id(), fastrand::u64(..)));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(Scratch { dir }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot create {} (set TMPDIR to a writable folder)", dir.display())
                })
            }
        }
    }
    Err(anyhow::anyhow!(
        "cannot create a scratch folder in {}: 16 new names were all taken ({:?}); set TMPDIR to \
         a private folder",
        tmp.display(),
        last.map(|e| e.to_string())
    ))
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes the scratch folders in `tmp` whose parent is gone; returns how many.
pub fn sweep(tmp: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(tmp) else { return 0 };
    let mut swept = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else { continue };
        let Ok(pid) = rest.split('-').next().unwrap_or("").parse::<u32>() else { continue };
        // Only real folders (not a symlink to one); `remove_dir_all` follows none inside.
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && !is_running_loadgen(pid) && std::fs::remove_dir_all(entry.path()).is_ok() {
            swept += 1;
        }
    }
    swept
}

/// Whether `pid` is a live (not zombie) process named `loadgen`.
fn is_running_loadgen(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // `pid (comm) state ...`: the name is in parentheses and may hold spaces.
    let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { return false };
    let state = stat[close + 1..].split_whitespace().next();
    &stat[open + 1..close] == "loadgen" && state != Some("Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch folder named after a pid that cannot run is swept with what it
    /// holds; other folders are left alone; a process not named loadgen (this test
    /// binary) does not count as a running parent.
    #[test]
    fn sweeps_dead_parents_only() {
        let tmp = std::env::temp_dir().join(format!("loadgen-scratch-test-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        // Pids above the kernel's pid_max (4194304 at most) never run.
        let dead = tmp.join(format!("{PREFIX}4294967295"));
        let other = tmp.join("not-a-scratch-folder");
        std::fs::create_dir_all(dead.join("inside")).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        assert_eq!(sweep(&tmp), 1);
        assert!(!dead.exists() && other.exists());
        assert!(!is_running_loadgen(std::process::id()), "a test binary is not loadgen");
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    /// A scratch folder is new and private each time: a symlink planted at the old
    /// predictable name (and at this pid's prefix) is neither used nor followed,
    /// and the sweep removes the link, never what it points to.
    #[test]
    fn scratch_folders_are_private_and_new() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = std::env::temp_dir().join(format!("loadgen-scratch-priv-{}", std::process::id()));
        let victim = tmp.join("victim");
        std::fs::create_dir_all(&victim).unwrap();
        std::fs::write(victim.join("keep"), "x").unwrap();
        let planted = tmp.join(format!("{PREFIX}{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let (a, b) = (create_in(&tmp).unwrap(), create_in(&tmp).unwrap());
        assert_ne!(a.dir, b.dir);
        for s in [&a, &b] {
            let meta = std::fs::symlink_metadata(&s.dir).unwrap();
            assert!(meta.is_dir() && meta.permissions().mode() & 0o777 == 0o700);
            assert_ne!(s.dir, planted);
        }
        drop((a, b));
        let dead = tmp.join(format!("{PREFIX}4294967295-0"));
        std::os::unix::fs::symlink(&victim, &dead).unwrap();
        sweep(&tmp);
        assert!(victim.join("keep").exists(), "nothing followed");
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
