//! Where the suite finds what it runs: loadgen itself, this build's echod and
//! tokio-echo beside it, the other build of `--base`, and the reference C epoll
//! server, compiled from ../shared/peers beside the checkout when gcc is there.
//! That peer code is outside this repository, so the suite says what it builds,
//! from which file, into which, before it builds it (and then runs it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context as _};
use common::child::{Child, Out, Spec};

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
    /// The reference C UDP server, when ../shared/peers was found and built.
    pub udp_echo: Option<PathBuf>,
    /// The reference client, when ../shared/peers was found and it built.
    pub echoload: Option<PathBuf>,
    /// The thread-per-connection client beside loadgen.
    pub tpc_client: Option<PathBuf>,
    /// `sockperf` on PATH.
    pub sockperf: Option<PathBuf>,
    /// `perf` on PATH: counts the servers' system calls.
    pub perf: Option<PathBuf>,
    /// Extra flags for every echod (`loadgen suite --echod-arg`), of either build.
    pub echod_args: Vec<String>,
}

impl Programs {
    /// Which optional programs are there, for the plan.
    pub fn tools(&self) -> super::plan::Tools {
        super::plan::Tools {
            c_peer: self.epoll_echo.is_some(),
            c_udp: self.udp_echo.is_some(),
            echoload: self.echoload.is_some(),
            tpc_client: self.tpc_client.is_some(),
            sockperf: self.sockperf.is_some(),
        }
    }

    /// The build a run on `side` uses (no side: the only one there is).
    pub fn build(&self, side: Option<Side>) -> anyhow::Result<&Build> {
        match side {
            Some(Side::Base) => self.base.as_ref().context("no --base build was given"),
            _ => Ok(&self.new),
        }
    }
}

/// Finds loadgen (this program); echod, tokio-echo and tpc-client beside it or on
/// PATH (so `cargo install` works; tokio-echo is checked later, only when a chosen
/// step needs it); sockperf on PATH; and the reference peers: the C epoll server
/// always (gcc, a second), the reference client echoload only when `with_echoload`
/// (cargo, a minute the first time: the quick profile has no step for it).
pub fn find_programs(peers: Option<&Path>, with_echoload: bool) -> anyhow::Result<Programs> {
    let loadgen = std::env::current_exe().context("cannot find loadgen's own path")?;
    let dir = loadgen.parent().context("loadgen has no folder")?.to_path_buf();
    let Some(echod) = beside_or_on_path(&dir, "echod") else {
        bail!(
            "echod is neither beside loadgen ({}) nor on PATH: build the workspace \
             (cargo build --release --workspace, or scripts/bench), or install it \
             (cargo install --path .)",
            dir.display()
        );
    };
    // Needed only by the peers steps: checked once the steps are chosen.
    let tokio_echo = beside_or_on_path(&dir, "tokio-echo");
    let peers = peers.map(Path::to_path_buf).or_else(default_peers_dir);
    let epoll_echo = peers.as_deref().and_then(|p| build_c(p, &dir, "c_epoll_echo/epoll_echo.c"));
    let udp_echo = peers.as_deref().and_then(|p| build_c(p, &dir, "c_udp_echo/udp_echo.c"));
    let echoload =
        if with_echoload { peers.as_deref().and_then(|p| build_echoload(p, &dir)) } else { None };
    let revision = Some(engine::env::capture().git_revision).filter(|r| r != "unknown");
    Ok(Programs {
        loadgen,
        new: Build { echod, tokio_echo, revision, echod_help: None },
        base: None,
        epoll_echo,
        udp_echo,
        echoload,
        tpc_client: beside_or_on_path(&dir, "tpc-client"),
        sockperf: on_path("sockperf"),
        perf: on_path("perf"),
        echod_args: Vec::new(),
    })
}

/// `../shared/peers` beside the top of the git checkout loadgen runs in.
fn default_peers_dir() -> Option<PathBuf> {
    let top = Command::new("git").args(["rev-parse", "--show-toplevel"]).output().ok()?;
    let top = PathBuf::from(String::from_utf8_lossy(&top.stdout).trim());
    Some(top.parent()?.join("shared/peers")).filter(|p| p.is_dir())
}

/// `name` in `dir` (beside loadgen: a build's target folder), else on $PATH (an
/// installed one).
fn beside_or_on_path(dir: &Path, name: &str) -> Option<PathBuf> {
    Some(dir.join(name)).filter(|p| p.is_file()).or_else(|| on_path(name))
}

/// `name` in a folder of $PATH, if it is there.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// How long compiling one C peer may take (a second, usually).
const GCC_LIMIT: Duration = Duration::from_secs(300);

/// Compiles a C peer (`source`, relative to PEERS) into `<bin dir>/peers/` when the
/// source is there and gcc works; None otherwise (the suite runs without it).
fn build_c(peers: &Path, bin_dir: &Path, source: &str) -> Option<PathBuf> {
    let src = peers.join(source);
    if !src.exists() {
        return None;
    }
    let out_dir = bin_dir.join("peers");
    std::fs::create_dir_all(&out_dir).ok()?;
    let bin = out_dir.join(src.file_stem()?);
    eprintln!(
        "suite: building {} from {} (outside this repository; --peers DIR chooses) with gcc \
         into {}",
        src.file_name()?.to_string_lossy(),
        src.display(),
        bin.display()
    );
    // Through the child module: it dies with the suite, and the wait is bounded.
    let spec = Spec::new("gcc")
        .args(["-O2", "-pthread", "-o"])
        .args([bin.as_os_str(), src.as_os_str()])
        .stdout(Out::Inherit)
        .stderr(Out::Inherit);
    let status = Child::start(spec).ok()?.wait_bounded(GCC_LIMIT, None).ok()??;
    status.success().then_some(bin)
}

/// Builds PEERS/echoload with cargo into `<bin dir>/peers/` (its own target folder,
/// kept, so later runs are quick); None when the source is not there or it does not
/// build (the clients section then runs without it and says so).
fn build_echoload(peers: &Path, bin_dir: &Path) -> Option<PathBuf> {
    let manifest = peers.join("echoload/Cargo.toml");
    if !manifest.exists() {
        return None;
    }
    let target = bin_dir.join("peers/target");
    eprintln!(
        "suite: building the reference client echoload from {} (outside this repository; \
         --peers DIR chooses) with cargo into {} ...",
        manifest.display(),
        target.display()
    );
    let spec = Spec::new("cargo")
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .args([&manifest])
        .args(["--target-dir"])
        .args([&target])
        .stdout(Out::Inherit)
        .stderr(Out::Inherit);
    let mut cargo = Child::start(spec).ok()?;
    let status = cargo.wait_bounded(Duration::from_secs(20 * 60), None).ok()??;
    let bin = target.join("release/echoload");
    (status.success() && bin.exists()).then_some(bin)
}
