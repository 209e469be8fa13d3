//! `--stats-json FILE`: checked before the server starts, written once at exit, never
//! lost. A path echod cannot write (a missing folder, a directory, a read-only
//! place) is refused before anything binds, so a long run never ends in "cannot
//! write the stats". Checking leaves nothing behind: an existing file is opened for
//! writing without truncating it; a new one is created and removed again.
//!
//! If the write still fails at exit (the folder went away, the disk filled), the
//! stats go to a fallback file in the current folder, else the temporary folder, and
//! the error names it; if even that fails, the error carries the JSON itself.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};

use super::ServerStats;

/// Why the stats file cannot be, or was not, written. Messages name `--stats-json`.
#[derive(Debug, thiserror::Error)]
pub enum StatsFileError {
    /// Refused before starting.
    #[error(
        "--stats-json {path}: cannot write there ({cause}): name a file in an existing, \
         writable folder"
    )]
    Unwritable {
        /// The path asked for.
        path: PathBuf,
        /// What the check met (printed inside the message, so not also a source).
        cause: String,
    },
    /// The write at exit failed; the stats are in `fallback`.
    #[error(
        "--stats-json {path}: writing the stats failed ({cause}); wrote them to {fallback} \
         instead"
    )]
    WroteFallback {
        /// The path asked for.
        path: PathBuf,
        /// Why the write failed.
        cause: io::Error,
        /// Where the stats are now.
        fallback: PathBuf,
    },
    /// Neither the path nor a fallback could be written: the stats are in the message.
    #[error(
        "--stats-json {path}: writing the stats failed ({cause}), and so did every \
         fallback; the stats: {json}"
    )]
    Lost {
        /// The path asked for.
        path: PathBuf,
        /// Why the write failed.
        cause: io::Error,
        /// The stats, on one line.
        json: String,
    },
}

/// Proves `path` writable without changing what is there: refuses a directory, opens
/// an existing file for writing (no truncation), or creates the file and removes it.
pub fn check_writable(path: &Path) -> Result<(), StatsFileError> {
    let refuse = |cause: String| StatsFileError::Unwritable { path: path.to_path_buf(), cause };
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(refuse("it is a directory".into())),
        Ok(_) => match OpenOptions::new().write(true).open(path) {
            Ok(_) => Ok(()),
            Err(e) => Err(refuse(e.to_string())),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            match OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(file) => {
                    drop(file);
                    let _ = std::fs::remove_file(path); // written for real at exit
                    Ok(())
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    Err(refuse("its folder does not exist".into()))
                }
                Err(e) => Err(refuse(e.to_string())),
            }
        }
        Err(e) => Err(refuse(e.to_string())),
    }
}

/// Writes `stats` as pretty JSON to `path`; if that fails, to a fallback file
/// (`echod-stats-PID.json` in the current folder, else the temporary folder) and
/// returns the error naming it.
pub fn write(path: &Path, stats: &ServerStats) -> Result<(), StatsFileError> {
    let json = match serde_json::to_vec_pretty(stats) {
        Ok(json) => json,
        Err(e) => {
            let cause = io::Error::other(e);
            return Err(StatsFileError::Lost { path: path.into(), cause, json: String::new() });
        }
    };
    let cause = match std::fs::write(path, &json) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    let name = format!("echod-stats-{}.json", std::process::id());
    let folders = [std::env::current_dir().ok(), Some(std::env::temp_dir())];
    for fallback in folders.into_iter().flatten().map(|dir| dir.join(&name)) {
        // A new file only: a name in a shared folder may be someone else's link.
        let new = std::fs::OpenOptions::new().write(true).create_new(true).open(&fallback);
        if new.and_then(|mut f| io::Write::write_all(&mut f, &json)).is_ok() {
            return Err(StatsFileError::WroteFallback { path: path.into(), cause, fallback });
        }
    }
    let json = serde_json::to_string(stats).unwrap_or_default();
    Err(StatsFileError::Lost { path: path.into(), cause, json })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An existing file is checked without being truncated; a new one is not left
    /// behind; a directory and a missing folder are refused.
    #[test]
    fn check_leaves_things_as_they_were() {
        let dir = std::env::temp_dir().join(format!("echod-stats-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let existing = dir.join("old.json");
        std::fs::write(&existing, b"previous").expect("write");
        check_writable(&existing).expect("writable");
        assert_eq!(std::fs::read(&existing).expect("read"), b"previous");
        let new = dir.join("new.json");
        check_writable(&new).expect("writable");
        assert!(!new.exists(), "the check left a file behind");
        assert!(check_writable(&dir).is_err());
        let e = check_writable(&dir.join("no/such.json")).expect_err("missing folder");
        assert!(e.to_string().contains("its folder does not exist"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
