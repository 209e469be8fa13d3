//! A private network namespace for the commands that change network settings or
//! make interfaces: `loadgen ports` narrows the port range there, `loadgen testbed`
//! builds its hosts there. The command re-executes itself inside `unshare --net`
//! (as root), or `unshare --user --map-root-user --net` (without root: a user
//! namespace makes the caller root of its own network namespace), with `--inner`
//! and the host's namespace id; the inner run refuses to start anywhere but in a
//! fresh private namespace, so the host's network is never touched.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt as _;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use common::child::{Child, Out, Spec, Stop};
use common::signals::{self, Signals};

/// How often the wait for the inner run looks at signals.
const TICK: Duration = Duration::from_millis(50);

/// How long the inner run may take to tear down once told to stop.
const GRACE: Duration = Duration::from_secs(10);

/// How to enter a private namespace on this machine, probed.
pub struct Private {
    how: &'static [&'static str],
    host: String,
}

impl Private {
    /// Probes `unshare` (as root, or through a user namespace); the error says why a
    /// namespace cannot be made, naming `purpose` (what needs it) and `tool`.
    pub fn probe(tool: &str, purpose: &str) -> anyhow::Result<Private> {
        let host = netns_id().context("cannot read /proc/self/ns/net")?;
        let root = effective_uid() == Some(0);
        let how: &'static [&'static str] =
            if root { &["--net"] } else { &["--user", "--map-root-user", "--net"] };
        let shown = format!("unshare {}", how.join(" "));
        let probe = Command::new("unshare").args(how).arg("true").output().with_context(|| {
            format!("cannot run `{shown}` (util-linux): install it — {purpose}")
        })?;
        if !probe.status.success() {
            let why = String::from_utf8_lossy(&probe.stderr).trim().to_string();
            if root {
                bail!("cannot make a private network namespace (`{shown}`): {why}");
            }
            bail!(
                "cannot make a private network namespace (`{shown}`): {why}: without root \
                 this needs unprivileged user namespaces (sysctl user.max_user_namespaces > 0, \
                 and kernel.unprivileged_userns_clone = 1 where it exists); or run {tool} as root"
            );
        }
        Ok(Private { how, host })
    }

    /// Runs this program again inside the namespace with `args` (a subcommand and
    /// its flags; `--host-netns` is added) and returns its exit code. The inner run
    /// prints its own errors (one line), so its exit codes 0, 1 and 2 are passed on
    /// as they are. SIGINT and SIGTERM sent to this process go to the inner run, which tears
    /// down what it built and exits 130 or 143; this process waits for that. The
    /// wait is bounded by `limit` (then the inner run is stopped: SIGTERM, a grace,
    /// SIGKILL), and the inner run dies with this process (`PR_SET_PDEATHSIG`).
    pub fn run_inside(&self, args: &[OsString], limit: Duration) -> anyhow::Result<u8> {
        let exe = std::env::current_exe().context("cannot find loadgen's own executable")?;
        let shown = format!("unshare {}", self.how.join(" "));
        let signals = Signals::install().context("cannot install a signal handler")?;
        let spec = Spec::new("unshare")
            .name(format!("`{shown}`"))
            .args(self.how)
            .args([OsString::from("--"), exe.into_os_string()])
            .args(args)
            .args(["--host-netns", &self.host])
            .stdout(Out::Inherit)
            .stderr(Out::Inherit);
        let mut inner = Child::start(spec).with_context(|| format!("cannot run `{shown}`"))?;
        let deadline = Instant::now() + limit;
        let mut forwarded = 0;
        let status = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some(status) = inner.wait_bounded(left.min(TICK), None)? {
                break status;
            }
            if let Some(sig) = signals.caught().filter(|&sig| sig != forwarded) {
                // The inner run tears down and exits 128 + sig; keep waiting for it.
                let _ = common::sys::signal(inner.pid(), sig);
                forwarded = sig;
            }
            if left.is_zero() {
                inner.stop(Stop::Term, GRACE)?;
                bail!("the private namespace's run (`{shown}`) did not end within {limit:?}");
            }
        };
        match (status.code(), status.signal()) {
            (Some(code @ (0..=2 | 130 | 143)), _) => Ok(code as u8),
            (Some(code), _) => bail!("the private namespace's run (`{shown}`) exited with {code}"),
            (None, Some(sig @ (libc::SIGINT | libc::SIGTERM))) => Ok(signals::exit_code(sig)),
            (None, _) => bail!("the private namespace's run was killed by a signal"),
        }
    }
}

/// The effective user id: the owner of `/proc/self`.
fn effective_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

fn netns_id() -> Option<String> {
    Some(std::fs::read_link("/proc/self/ns/net").ok()?.to_string_lossy().into_owned())
}

/// True only on positive evidence that this process is in a fresh private network
/// namespace: its namespace differs from the parent's, and it has no interface but
/// `lo`. Anything unreadable counts as "not private": the callers change settings.
pub fn in_private_namespace(host: Option<&str>) -> bool {
    let (Some(own), Some(host)) = (netns_id(), host) else { return false };
    let Ok(dev) = std::fs::read_to_string("/proc/self/net/dev") else { return false };
    let ifaces: Vec<&str> =
        dev.lines().skip(2).filter_map(|l| l.split(':').next()).map(str::trim).collect();
    own != host && ifaces == ["lo"]
}

/// Brings `lo` up in the current namespace.
pub fn loopback_up() -> anyhow::Result<()> {
    let up = Command::new("ip").args(["link", "set", "lo", "up"]).status();
    if !up.is_ok_and(|s| s.success()) {
        bail!("cannot bring up loopback in the namespace: install iproute2 (`ip`)");
    }
    Ok(())
}
