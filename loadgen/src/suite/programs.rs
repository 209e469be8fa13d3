//! Where the suite finds what it runs: loadgen itself, this build's echod and
//! tokio-echo beside it, the other build of `--base`, and the reference C epoll
//! server, compiled from ../shared/peers beside the checkout when gcc is there.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};

use super::builds::Build;
use crate::suite_index::Side;

/// The programs the suite drives.
#[derive(Clone, Debug)]
pub struct Programs {
    pub loadgen: PathBuf,
    /// The build under test: echod and tokio-echo beside loadgen.
    pub new: Build,
    /// The other build (`--base DIR`), measured side by side with `new`.
    pub base: Option<Build>,
    /// The reference C server, when ../shared/peers was found and built.
    pub epoll_echo: Option<PathBuf>,
    /// Extra flags for every echod (`loadgen suite --echod-arg`), of either build.
    pub echod_args: Vec<String>,
}

impl Programs {
    /// The build a run on `side` uses (no side: the only one there is).
    pub fn build(&self, side: Option<Side>) -> anyhow::Result<&Build> {
        match side {
            Some(Side::Base) => self.base.as_ref().context("no --base build was given"),
            _ => Ok(&self.new),
        }
    }
}

/// Finds loadgen (this program), echod and tokio-echo beside it (tokio-echo is
/// checked later, only when a chosen step needs it), and the C peer.
pub fn find_programs(peers: Option<&Path>) -> anyhow::Result<Programs> {
    let loadgen = std::env::current_exe().context("cannot find loadgen's own path")?;
    let dir = loadgen.parent().context("loadgen has no folder")?.to_path_buf();
    let sibling = |name: &str| -> anyhow::Result<PathBuf> {
        let p = dir.join(name);
        if !p.exists() {
            bail!(
                "{} is missing: build the workspace first (cargo build --release --workspace), \
                 or run scripts/bench",
                p.display()
            );
        }
        Ok(p)
    };
    let echod = sibling("echod")?;
    // Needed only by the peers steps: checked once the steps are chosen.
    let tokio_echo = Some(dir.join("tokio-echo")).filter(|p| p.exists());
    let epoll_echo = build_c_peer(peers, &dir);
    let revision = Some(crate::env::capture().git_revision).filter(|r| r != "unknown");
    Ok(Programs {
        loadgen,
        new: Build { echod, tokio_echo, revision },
        base: None,
        epoll_echo,
        echod_args: Vec::new(),
    })
}

/// Compiles ../shared/peers/c_epoll_echo/epoll_echo.c into `<bin dir>/peers/` when
/// the source is there and gcc works; None otherwise (the suite runs without it).
fn build_c_peer(peers: Option<&Path>, bin_dir: &Path) -> Option<PathBuf> {
    let peers = match peers {
        Some(p) => p.to_path_buf(),
        None => {
            let top = Command::new("git").args(["rev-parse", "--show-toplevel"]).output().ok()?;
            let top = PathBuf::from(String::from_utf8_lossy(&top.stdout).trim());
            top.parent()?.join("shared/peers")
        }
    };
    let src = peers.join("c_epoll_echo/epoll_echo.c");
    if !src.exists() {
        return None;
    }
    let out_dir = bin_dir.join("peers");
    std::fs::create_dir_all(&out_dir).ok()?;
    let bin = out_dir.join("epoll_echo");
    let status =
        Command::new("gcc").args(["-O2", "-pthread", "-o"]).arg(&bin).arg(&src).status().ok()?;
    status.success().then_some(bin)
}
