//! The programs `loadgen exact` drives and where it finds them: echod of each build
//! (beside loadgen, or `--echod PATH`; `DIR/echod` of `--base DIR`), loadgen itself
//! (the load of every measurement), valgrind and callgrind_control (instructions)
//! and perf (system calls), with their versions for the record. A missing tool is
//! an error naming the Debian package that brings it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use common::child::{Child, Out, Spec};
use serde::Serialize;

/// The tools that count, found.
#[derive(Clone, Debug)]
pub struct Tools {
    /// `loadgen` itself: the load.
    pub loadgen: PathBuf,
    /// `valgrind` (`--tool=callgrind`).
    pub valgrind: PathBuf,
    /// `callgrind_control`: asks the running callgrind for a dump.
    pub callgrind_control: PathBuf,
    /// `perf`: system calls through the suite's counter.
    pub perf: PathBuf,
}

/// The versions written into exact.json.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Versions {
    pub valgrind: String,
    pub perf: String,
    pub kernel: String,
}

/// A tool that is not there, and the package that brings it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{tool} not found: apt-get install {package}")]
pub struct Missing {
    pub tool: &'static str,
    pub package: &'static str,
}

impl Tools {
    /// Finds every tool beside `loadgen` (this program); the first missing one is
    /// the error.
    pub fn find(loadgen: PathBuf) -> Result<Tools, Missing> {
        let need = |tool: &'static str, package: &'static str| {
            on_path(tool).ok_or(Missing { tool, package })
        };
        Ok(Tools {
            loadgen,
            valgrind: need("valgrind", "valgrind")?,
            callgrind_control: need("callgrind_control", "valgrind")?,
            perf: need("perf", "linux-perf")?,
        })
    }

    /// The versions of valgrind, perf and the kernel (`?` where one does not say).
    pub fn versions(&self) -> Versions {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "?".into(), |k| k.trim().to_string());
        Versions {
            valgrind: first_line(&self.valgrind, "--version"),
            perf: first_line(&self.perf, "--version"),
            kernel,
        }
    }
}

/// This build's echod: `--echod PATH`, else the one beside loadgen, else on PATH.
pub fn new_echod(given: Option<&Path>, loadgen: &Path) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        if !path.is_file() {
            bail!("--echod {}: no such file (give the path of an echod binary)", path.display());
        }
        return Ok(path.to_path_buf());
    }
    let beside = loadgen.parent().map(|d| d.join("echod")).filter(|p| p.is_file());
    beside.or_else(|| on_path("echod")).with_context(|| {
        format!(
            "echod is neither beside loadgen ({}) nor on PATH: build the workspace \
             (cargo build --release --workspace) or give --echod PATH",
            loadgen.display()
        )
    })
}

/// The other build's echod: `DIR/echod`, as `loadgen build-base --out DIR` leaves it.
pub fn base_echod(dir: &Path) -> anyhow::Result<PathBuf> {
    let echod = dir.join("echod");
    if !echod.is_file() {
        bail!(
            "--base {}: no echod in that folder (make it with `loadgen build-base REV --out {}`)",
            dir.display(),
            dir.display()
        );
    }
    Ok(echod)
}

/// `name` in a folder of $PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// The first line `program flag` prints, or `?`.
fn first_line(program: &Path, flag: &str) -> String {
    let spec = Spec::new(program).args([flag]).stderr(Out::Null);
    let Ok(mut child) = Child::start(spec) else { return "?".into() };
    child
        .next_line_of(true, Duration::from_secs(5))
        .map_or_else(|| "?".into(), |l| l.trim().to_string())
}
