//! The testbed's network: K+1 hosts, each a network namespace held open by a
//! sleeping process, each joined by a veth pair to one bridge in the private
//! namespace the testbed runs in, each with an address from 198.18.0.0/15 (the
//! range RFC 2544 sets aside for benchmark tests): host 0, the server, is
//! 198.18.0.1; host i is 198.18.0.(i+1); all in 198.18.0.0/24. A command runs on a
//! host through `nsenter -t PID -n` (its network namespace only: it keeps the
//! testbed's files, users and processes).
//!
//! Invariants: everything here is made inside the private namespace (the caller
//! checks it is one), so the machine's own network is never touched. A host's
//! namespace and its veth pair live as long as its holder process; the bridge lives
//! as long as the private namespace, that is the testbed's process. Dropping the
//! [`Testbed`] stops the holders, so a failure or an interruption leaves nothing
//! behind; and the holders die with the testbed's process in any case
//! (`PR_SET_PDEATHSIG`, through [`common::child`]).

use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use common::child::{Child, Out, Spec, Stop};

/// The bridge every host's veth joins.
const BRIDGE: &str = "tb0";

/// The hosts' prefix length: 198.18.0.0/24 holds the server and up to 253 agents.
const PREFIX: u8 = 24;

/// How long `unshare` may take to put a holder in its own namespace.
const UNSHARE_WAIT: Duration = Duration::from_secs(5);

/// How long a holder may take to exit after SIGTERM.
const HOLDER_GRACE: Duration = Duration::from_secs(1);

/// The address of host `index` (0: the server).
pub fn host_addr(index: usize) -> Ipv4Addr {
    // The caller caps the agents at 50: index + 1 fits in the last octet.
    Ipv4Addr::new(198, 18, 0, (index + 1) as u8)
}

/// One host of the testbed: a network namespace with one interface on the bridge.
pub struct Host {
    /// `server`, `agent-0`, `agent-1`, ... (agent i runs shard i).
    pub name: String,
    /// Its address on the bridge (`eth0` inside).
    pub addr: Ipv4Addr,
    /// The process holding its namespace open (`sleep`, after `unshare --net`).
    holder: Child,
}

impl Host {
    /// A command to run in this host's network namespace:
    /// `nsenter -t PID -n -- program`, named `name`; add its arguments with
    /// [`Spec::args`]. `nsenter` execs the program, so the child's pid is the
    /// program's and stopping the child stops it.
    pub fn spec(&self, program: impl AsRef<OsStr>, name: impl Into<String>) -> Spec {
        let pid = self.holder.pid().to_string();
        Spec::new("nsenter")
            .name(name)
            .args([OsStr::new("-t"), OsStr::new(&pid), OsStr::new("-n"), OsStr::new("--")])
            .args([program.as_ref()])
    }

    /// The pid of a process in this host's namespace (its holder): its
    /// `/proc/PID/net/` files show the host's sockets.
    pub fn pid(&self) -> u32 {
        self.holder.pid()
    }

    /// A namespace held by `sleep`, a veth pair from the bridge into it (`tbvN`
    /// outside, `eth0` inside), its address, `lo` and `eth0` up.
    fn start(name: String, index: usize) -> anyhow::Result<Host> {
        let spec = Spec::new("unshare")
            .name(format!("{name}'s namespace (unshare --net sleep)"))
            .args(["--net", "sleep", "86400"])
            .stdout(Out::Null)
            .stderr(Out::Null);
        let holder = Child::start(spec)?;
        // From here the holder is stopped on every return (Host's drop).
        let host = Host { name, addr: host_addr(index), holder };
        wait_for_own_namespace(host.holder.pid())?;
        let pid = host.holder.pid().to_string();
        let veth = format!("tbv{index}");
        run("ip", &["link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &pid])?;
        run("ip", &["link", "set", &veth, "master", BRIDGE])?;
        run("ip", &["link", "set", &veth, "up"])?;
        host.ip(&["addr", "add", &format!("{}/{PREFIX}", host.addr), "dev", "eth0"])?;
        host.ip(&["link", "set", "eth0", "up"])?;
        host.ip(&["link", "set", "lo", "up"])?;
        Ok(host)
    }

    /// Runs `ip args` in this host's namespace.
    fn ip(&self, args: &[&str]) -> anyhow::Result<()> {
        let pid = self.holder.pid().to_string();
        let mut all = vec!["-t", pid.as_str(), "-n", "--", "ip"];
        all.extend_from_slice(args);
        run("nsenter", &all)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // Its namespace and veth pair go with it.
        let _ = self.holder.stop(Stop::Term, HOLDER_GRACE);
    }
}

/// The hosts on their bridge.
pub struct Testbed {
    /// Host 0 is the server; host i + 1 runs agent i.
    pub hosts: Vec<Host>,
}

impl Testbed {
    /// Builds the bridge and `agents` + 1 hosts on it. Must run in the private
    /// namespace (the bridge is made in the current one).
    pub fn build(agents: usize) -> anyhow::Result<Testbed> {
        run("ip", &["link", "add", BRIDGE, "type", "bridge"])?;
        run("ip", &["link", "set", BRIDGE, "up"])?;
        let mut bed = Testbed { hosts: Vec::with_capacity(agents + 1) };
        for index in 0..=agents {
            let name =
                if index == 0 { "server".to_string() } else { format!("agent-{}", index - 1) };
            bed.hosts.push(Host::start(name, index)?);
        }
        Ok(bed)
    }

    /// The server's host.
    pub fn server(&self) -> &Host {
        &self.hosts[0]
    }

    /// The host of agent `i`.
    pub fn agent(&self, i: usize) -> &Host {
        &self.hosts[i + 1]
    }
}

/// Waits (bounded) until process `pid` is in a network namespace of its own
/// (`unshare` has made it), so a veth moved to it lands there and not in ours.
fn wait_for_own_namespace(pid: u32) -> anyhow::Result<()> {
    let ours = std::fs::read_link("/proc/self/ns/net").context("cannot read /proc/self/ns/net")?;
    let deadline = Instant::now() + UNSHARE_WAIT;
    while Instant::now() < deadline {
        if let Ok(theirs) = std::fs::read_link(format!("/proc/{pid}/ns/net")) {
            if theirs != ours {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    bail!(
        "`unshare --net` (pid {pid}) did not enter a namespace of its own within {UNSHARE_WAIT:?}"
    )
}

/// Runs `program args` to the end; an error with its stderr when it fails.
fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {program}: install iproute2 and util-linux"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!("`{program} {}` failed: {}", args.join(" "), err.trim());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server is 198.18.0.1 and agent i's host is 198.18.0.(i + 2), all in
    /// the benchmark range.
    #[test]
    fn addresses_are_in_the_benchmark_range() {
        assert_eq!(host_addr(0), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(host_addr(50), Ipv4Addr::new(198, 18, 0, 51));
        assert!((0..=50).all(|i| host_addr(i).octets()[..3] == [198, 18, 0]));
    }
}
