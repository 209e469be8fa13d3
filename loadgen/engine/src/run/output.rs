//! The files a run writes: `--json` (the [`RunResult`] contract, pretty JSON) and
//! `--hgrm` (the percentile distribution in HdrHistogram's text layout, the one the
//! HdrHistogram plotter reads and wrk2 prints: a `Value Percentile TotalCount
//! 1/(1-Percentile)` table, five ticks per half distance, then the `#[Mean = ...]`
//! footer; values in microseconds).
//!
//! A result is never lost to its output path: [`check_writable`] proves every path
//! writable before any work (an existing file opens for appending, untouched; a new
//! one is created and removed again), and when a write still fails at the end,
//! [`save_fallback`] puts the text in `loadgen-result-<pid>-<random>.<ext>` in the
//! current folder, or else in the temporary folder: a new file (`create_new`, so a
//! planted symlink is never followed), readable by its owner only.
//!
//! Nor is a file left half written: [`write_file`] writes a regular file through a
//! new temporary file beside it, flushed to disk, then renamed over the path, so
//! on a full disk the path keeps what it held (a device such as `/dev/stdout` is
//! written directly). Standard output is flushed and checked ([`print_stdout`]).

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use hdrhistogram::Histogram;

use crate::errno::os_reason;
use crate::result::RunResult;

/// An output path that cannot be written, found before the run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OutputError {
    /// The folder it names is not there.
    #[error(
        "{flag} {path}: the folder {folder} does not exist: create it first or choose another path"
    )]
    NoFolder {
        /// `--json` or `--hgrm`.
        flag: &'static str,
        /// The path given.
        path: String,
        /// Its folder.
        folder: String,
    },
    /// It names a folder.
    #[error("{flag} {path} is a folder: give a file name, e.g. {example}")]
    IsFolder {
        /// `--json` or `--hgrm`.
        flag: &'static str,
        /// The path given.
        path: String,
        /// A file in that folder.
        example: String,
    },
    /// It cannot be opened for writing.
    #[error("{flag} {path}: cannot write there ({reason}): choose a path in a writable folder")]
    NotWritable {
        /// `--json` or `--hgrm`.
        flag: &'static str,
        /// The path given.
        path: String,
        /// The OS's reason.
        reason: String,
    },
}

/// Checks, before any work, that the file `path` given to `flag` can be written:
/// an existing file is opened for appending (its content untouched), a new one is
/// created and removed again.
pub fn check_writable(flag: &'static str, path: &Path) -> Result<(), OutputError> {
    let shown = path.display().to_string();
    let not_writable = |e: io::Error| OutputError::NotWritable {
        flag,
        path: shown.clone(),
        reason: os_reason(&e),
    };
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(OutputError::IsFolder {
            flag,
            path: shown.clone(),
            example: path
                .join(format!("result.{}", flag.trim_start_matches('-')))
                .display()
                .to_string(),
        }),
        Ok(_) => OpenOptions::new().append(true).open(path).map(drop).map_err(not_writable),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let folder = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            if !folder.exists() {
                return Err(OutputError::NoFolder {
                    flag,
                    path: shown.clone(),
                    folder: folder.display().to_string(),
                });
            }
            OpenOptions::new().write(true).create_new(true).open(path).map_err(not_writable)?;
            // Only proving the path: the file is written at the end.
            let _ = std::fs::remove_file(path);
            Ok(())
        }
        Err(e) => Err(not_writable(e)),
    }
}

/// Saves `text`, which could not be written where asked, as a new
/// `loadgen-result-<pid>-<random>.<ext>` in the current folder, or else in the
/// temporary folder; returns where, or `None` when neither could be written.
pub fn save_fallback(ext: &str, text: &str) -> Option<PathBuf> {
    let folders = [std::env::current_dir().ok(), Some(std::env::temp_dir())];
    save_fallback_in(folders.into_iter().flatten(), ext, text)
}

/// [`save_fallback`] into the first of `folders` that takes it.
fn save_fallback_in(
    folders: impl Iterator<Item = PathBuf>,
    ext: &str,
    text: &str,
) -> Option<PathBuf> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    for folder in folders {
        let name =
            format!("loadgen-result-{}-{:016x}.{ext}", std::process::id(), fastrand::u64(..));
        let path = folder.join(name);
        let file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path);
        let Ok(mut file) = file else { continue };
        if file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).is_ok() {
            return Some(path);
        }
        let _ = std::fs::remove_file(&path);
    }
    None
}

/// Writes `text` to `path` whole or not at all (see the module doc).
pub fn write_file(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write as _;
    write_with(path, |file| file.write_all(text.as_bytes()))
}

/// [`write_file`] with the writing given (tests make it fail half way).
fn write_with(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> io::Result<()>,
) -> io::Result<()> {
    match std::fs::metadata(path) {
        // A device or a pipe (`/dev/stdout`) cannot be replaced: written directly.
        Ok(m) if !m.is_file() => {
            let mut file = OpenOptions::new().write(true).open(path)?;
            return write(&mut file).and_then(|()| file.sync_all().or(Ok(())));
        }
        _ => {}
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().map_or("out".into(), |n| n.to_string_lossy());
    let temp = folder.join(format!(".{name}.{}-{:08x}.tmp", std::process::id(), fastrand::u32(..)));
    let mut file = OpenOptions::new().write(true).create_new(true).open(&temp)?;
    let written = write(&mut file).and_then(|()| file.sync_all());
    drop(file);
    match written.and_then(|()| std::fs::rename(&temp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Writes `text` on standard output and flushes it; a failure (a full disk:
/// `> /dev/full`) is an error naming stdout. A reader that went away (a closed
/// pipe, `| head`) chose to read no more: not an error.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(anyhow::anyhow!("cannot write to standard output ({})", os_reason(&e)))
        }
        _ => Ok(()),
    }
}

/// Writes `text` to `path` for `flag`; when that fails, saves `text_if_lost` with
/// [`save_fallback`] and returns the one line that says what failed and where the
/// text is.
pub fn write_or_save(
    flag: &str,
    path: &Path,
    text: &str,
    text_if_lost: &str,
    ext: &str,
) -> Result<(), String> {
    let Err(e) = write_file(path, text) else { return Ok(()) };
    let saved = match save_fallback(ext, text_if_lost) {
        Some(p) => format!("saved in {}", p.display()),
        None => "it could not be saved in the current or the temporary folder either".to_string(),
    };
    Err(format!("{flag} {}: cannot write ({}); {saved}", path.display(), os_reason(&e)))
}

/// The JSON text of `result` (pretty, with a final newline).
pub fn json_text(result: &RunResult) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(result).context("cannot serialize the result")? + "\n")
}

/// Writes `result` as pretty JSON to `path`.
pub fn write_json(path: &Path, result: &RunResult) -> anyhow::Result<()> {
    write_file(path, &json_text(result)?)
        .with_context(|| format!("--json: cannot write {}", path.display()))
}

/// HdrHistogram's `outputPercentileDistribution` layout, values divided by `scale`.
pub fn hgrm(h: &Histogram<u64>, scale: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    if !h.is_empty() {
        for v in h.iter_quantiles(5) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / scale;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10} {:14.2}", 1.0 / (1.0 - q));
            } else {
                let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10}");
            }
        }
    }
    let (mean, stdev, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (h.mean() / scale, h.stdev() / scale, h.max() as f64 / scale)
    };
    let _ = writeln!(out, "#[Mean    = {mean:12.3}, StdDeviation   = {stdev:12.3}]");
    let _ = writeln!(out, "#[Max     = {max:12.3}, Total count    = {:12}]", h.len());
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        sub_buckets(h.sigfig())
    );
    out
}

/// HdrHistogram's sub-bucket count for `sigfig` significant figures.
fn sub_buckets(sigfig: u8) -> u64 {
    let single_unit = 2.0 * 10f64.powi(i32::from(sigfig));
    1u64 << (single_unit.log2().ceil() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::histogram::{new_histogram, record};

    /// A missing folder, a folder, and a file inside a file are refused naming the
    /// flag; an existing file is left as it was, a new one is not left behind.
    #[test]
    fn paths_are_checked_before_the_run() {
        let dir = std::env::temp_dir().join(format!("loadgen-output-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("kept.json");
        std::fs::write(&file, "old").unwrap();
        let is = |path: &Path, what: &str| {
            let e = check_writable("--json", path).unwrap_err().to_string();
            assert!(e.starts_with("--json ") && e.contains(what), "{e}");
        };
        is(&dir.join("no/such/folder/r.json"), "does not exist");
        is(&dir, "is a folder");
        is(&file.join("r.json"), "cannot write there");
        check_writable("--json", &file).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "old");
        let new = dir.join("new.json");
        check_writable("--json", &new).unwrap();
        assert!(!new.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A write that fails half way (a full disk) leaves the path as it was and no
    /// temporary file; a fallback is a new private file each time, never a planted
    /// symlink's target.
    #[test]
    fn writes_are_whole_or_nothing_and_fallbacks_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("loadgen-output-whole-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.json");
        std::fs::write(&path, "previous").unwrap();
        let e = write_with(&path, |f| {
            use std::io::Write as _;
            f.write_all(b"{\"half\":")?;
            Err(io::Error::from_raw_os_error(libc::ENOSPC))
        })
        .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "previous", "not truncated");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left");
        write_file(&path, "whole").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "whole");
        let a = save_fallback_in([dir.clone()].into_iter(), "json", "x").unwrap();
        let b = save_fallback_in([dir.clone()].into_iter(), "json", "y").unwrap();
        assert_ne!(a, b, "a new name each time");
        let meta = std::fs::symlink_metadata(&a).unwrap();
        assert!(meta.is_file() && meta.permissions().mode() & 0o777 == 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The table has the header, ascending percentiles ending at 1.0, and the footer.
    #[test]
    fn hgrm_layout() {
        let mut h = new_histogram();
        for us in 1..=1000u64 {
            record(&mut h, us * 1_000);
        }
        let text = hgrm(&h, 1_000.0);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
        );
        assert!(lines[1].is_empty());
        let rows: Vec<Vec<f64>> = lines[2..]
            .iter()
            .take_while(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().map(|x| x.parse().expect("number")).collect())
            .collect();
        assert!(rows.len() > 10);
        assert!(rows.windows(2).all(|w| w[0][1] <= w[1][1] && w[0][0] <= w[1][0]));
        let last = rows.last().expect("rows");
        assert_eq!((last[1], last[2]), (1.0, 1000.0));
        assert!((last[0] - 1000.0).abs() < 1.0);
        assert!(
            text.contains("#[Mean    =      500.")
                && text.contains("Total count    =         1000]")
        );
        assert!(text.contains("SubBuckets     =         2048]"));
    }
}
