//! The scratch folder of a split run, where its children leave their figures:
//! `loadgen-split-<parent pid>` in the temporary folder (`TMPDIR`), made at the
//! start and removed at the end. A parent killed with SIGKILL cannot remove its
//! own, so every split run first sweeps the folders whose parent is no longer a
//! running loadgen. Invariant: a folder is removed only when the pid in its name
//! is not a live process named `loadgen`, so a running split run's is never touched.

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
        let dir = tmp.join(format!("{PREFIX}{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| {
            format!("cannot create {} (set TMPDIR to a writable folder)", dir.display())
        })?;
        Ok(Self { dir })
    }
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
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else { continue };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if !is_running_loadgen(pid) && std::fs::remove_dir_all(entry.path()).is_ok() {
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
}
