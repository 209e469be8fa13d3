//! The suite's output folder and what `--force` may delete in it. A suite run
//! leaves a marker file ([`MARKER`]) in its folder listing every top-level entry
//! it wrote (written when the run starts, with no entry yet, and again with them
//! when it ends, also on an error). `--force` deletes only the entries a marker
//! lists, and only plain names (no `/`, not `.` or `..`; a symlink is removed,
//! never followed); a folder without the marker is never emptied, and when
//! entries the marker does not list remain, the run is refused (one line, exit
//! 2) and they stay where they are.

use std::path::{Path, PathBuf};

/// The marker file a suite run leaves in its output folder.
pub const MARKER: &str = ".loadgen-suite";
/// The marker's first line.
const HEADER: &str = "loadgen suite output: --force deletes the entries listed below";

/// Why `--out` cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OutError {
    #[error(
        "--out {out}: the folder is not empty ({count} entries): stale runs in it would be \
         compared with this run's; choose a new folder, or add --force to empty it first"
    )]
    NotEmpty { out: String, count: usize },
    #[error(
        "--out {out} --force: no {MARKER} marker, so not a suite's folder: nothing deleted; \
         choose a new folder"
    )]
    NoMarker { out: String },
    #[error(
        "--out {out} --force: {} not written by a suite (e.g. {first}) left in place; choose \
         a new folder", if *count == 1 { "1 entry".to_string() } else { format!("{count} entries") }
    )]
    Foreign { out: String, count: usize, first: String },
    #[error("--out {out}: {what}: {reason}")]
    Io { out: String, what: String, reason: String },
}

/// Makes sure `out` is new or empty; with `force`, the entries a previous suite
/// run listed in its marker are deleted first (see the module doc). Checked
/// before anything runs; [`begin`] then makes the folder and its marker.
pub fn prepare(out: &Path, force: bool) -> Result<(), OutError> {
    let shown = out.display().to_string();
    let io = |what: &str, e: std::io::Error| OutError::Io {
        out: shown.clone(),
        what: what.to_string(),
        reason: engine::errno::os_reason(&e),
    };
    let names = entries(out).map_err(|e| io("cannot list it", e))?;
    if !names.is_empty() {
        if !force {
            return Err(OutError::NotEmpty { out: shown, count: names.len() });
        }
        let listed = std::fs::read_to_string(out.join(MARKER))
            .map_err(|_| OutError::NoMarker { out: shown.clone() })?;
        for name in listed.lines().skip(1).filter(|n| is_plain(n) && names.iter().any(|e| e == n)) {
            remove(&out.join(name)).map_err(|e| io(&format!("cannot delete {name}"), e))?;
        }
        let _ = std::fs::remove_file(out.join(MARKER));
        let left = entries(out).map_err(|e| io("cannot list it", e))?;
        if let Some(first) = left.first() {
            return Err(OutError::Foreign { out: shown, count: left.len(), first: first.clone() });
        }
    }
    Ok(())
}

/// Makes the (new or emptied) folder `out` with a fresh marker, listing nothing
/// yet; the returned guard lists what the run wrote when dropped.
pub fn begin(out: &Path) -> Result<Sealed, OutError> {
    let io = |what: &str, e: std::io::Error| OutError::Io {
        out: out.display().to_string(),
        what: what.to_string(),
        reason: engine::errno::os_reason(&e),
    };
    std::fs::create_dir_all(out).map_err(|e| io("cannot create it", e))?;
    std::fs::write(out.join(MARKER), format!("{HEADER}\n")).map_err(|e| io("cannot write", e))?;
    Ok(Sealed(out.to_path_buf()))
}

/// Rewrites the marker with every top-level entry of `out` (the folder was
/// empty when the run began, so each is the run's own).
pub fn seal(out: &Path) {
    let Ok(names) = entries(out) else { return };
    let mut text = format!("{HEADER}\n");
    for n in names.iter().filter(|n| *n != MARKER) {
        text.push_str(n);
        text.push('\n');
    }
    let _ = std::fs::write(out.join(MARKER), text);
}

/// Seals the marker when dropped: whichever way the run ends.
pub struct Sealed(pub PathBuf);

impl Drop for Sealed {
    fn drop(&mut self) {
        seal(&self.0);
    }
}

/// The names in `out`, sorted (none when it does not exist).
fn entries(out: &Path) -> std::io::Result<Vec<String>> {
    let read = match std::fs::read_dir(out) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for e in read {
        names.push(e?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// One plain name: no separator, not `.`, `..` or empty.
fn is_plain(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

/// Deletes an entry: a folder with what it holds, a file or a symlink itself.
fn remove(path: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("loadgen-out-dir-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

    /// `--force` deletes what a suite's marker lists and nothing else: a folder
    /// without the marker keeps everything; entries the marker does not list (and
    /// names that climb out) stay, and the run is refused; a suite's own folder is
    /// emptied and gets a fresh marker.
    #[test]
    fn force_deletes_only_what_a_suite_wrote() {
        let d = temp("force");
        std::fs::create_dir_all(d.join("new")).expect("mkdir");
        std::fs::write(d.join("notes.txt"), "mine").expect("write");
        assert!(matches!(prepare(&d, false), Err(OutError::NotEmpty { count: 2, .. })));
        assert!(matches!(prepare(&d, true), Err(OutError::NoMarker { .. })));
        assert!(d.join("new").exists() && d.join("notes.txt").exists());
        let outside = temp("outside");
        std::fs::write(outside.join("keep"), "x").expect("write");
        std::fs::create_dir_all(d.join("runs")).expect("mkdir");
        let climb = format!("../{}", outside.file_name().expect("name").to_string_lossy());
        std::fs::write(d.join(MARKER), format!("{HEADER}\nruns\n..\n{climb}\n")).expect("marker");
        let e = prepare(&d, true).expect_err("foreign entries");
        assert!(matches!(&e, OutError::Foreign { count: 2, first, .. } if first == "new"), "{e}");
        assert!(!d.join("runs").exists(), "listed: deleted");
        assert!(d.join("new").exists() && d.join("notes.txt").exists(), "not listed: kept");
        assert!(outside.join("keep").exists(), "a name that climbs out is ignored");
        let suite = temp("suite");
        prepare(&suite, false).expect("a new folder");
        drop(begin(&suite).expect("marker"));
        std::fs::create_dir_all(suite.join("runs")).expect("mkdir");
        std::fs::write(suite.join("suite.json"), "{}").expect("write");
        seal(&suite);
        prepare(&suite, true).expect("a suite's own folder");
        assert!(entries(&suite).expect("ls").is_empty());
        for dir in [d, outside, suite] {
            std::fs::remove_dir_all(dir).expect("clean");
        }
    }
}
