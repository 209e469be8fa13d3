//! A folder of our own in the shared temporary folder, for the `--processes`
//! children's stats files: a random name, created new (an existing folder or link
//! of that name is never used) with mode 0700 (no other user can read, replace or
//! plant a file in it), removed with what is in it when dropped. Predictable names
//! in /tmp let another user read the stats, or plant a link that makes echod
//! overwrite one of its files.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

/// How many random names are tried before giving up.
const TRIES: usize = 8;

/// A private folder, removed when dropped.
#[derive(Debug)]
pub(crate) struct PrivateDir {
    /// Where it is.
    path: PathBuf,
}

impl PrivateDir {
    /// Creates `echod-PID-RANDOM` (mode 0700) in the temporary folder.
    pub(crate) fn create() -> io::Result<PrivateDir> {
        let mut last = io::Error::from(io::ErrorKind::AlreadyExists);
        for _ in 0..TRIES {
            // RandomState is keyed from the OS's randomness, per process and per call.
            let random = RandomState::new().hash_one(std::time::SystemTime::now());
            let path =
                std::env::temp_dir().join(format!("echod-{}-{random:016x}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(PrivateDir { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Where it is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    /// Two folders get different names, each mode 0700, and go when dropped.
    #[test]
    fn private_random_and_removed() {
        let (a, b) = (PrivateDir::create().expect("a"), PrivateDir::create().expect("b"));
        assert_ne!(a.path(), b.path());
        let mode = std::fs::metadata(a.path()).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::write(a.path().join("x.json"), b"{}").expect("write inside");
        let path = a.path().to_path_buf();
        drop(a);
        assert!(!path.exists());
    }
}
