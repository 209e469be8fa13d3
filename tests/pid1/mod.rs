//! echod as PID 1, as a container's entrypoint runs it: `--processes 2` starts its
//! children (whose parent is pid 1 and alive) and serves. The namespace is made
//! with `unshare` (as root, or as a user where user namespaces are allowed); where
//! none can be made the test says so in one printed line and checks nothing.

use common::child::Spec;

use crate::common::process::{spawn_with, Echod};
use crate::common::{connect, echo, wait_for};

/// `unshare`'s flags for a new PID namespace on this machine, or why none can be made.
pub fn pid_namespace() -> Result<Vec<&'static str>, String> {
    let tries: [&[&str]; 2] = [
        &["--pid", "--fork", "--kill-child", "--mount-proc"],
        &["--user", "--map-root-user", "--pid", "--fork", "--kill-child", "--mount-proc"],
    ];
    let mut why = String::from("unshare not found");
    for flags in tries {
        match std::process::Command::new("unshare")
            .args(flags)
            .args(["sh", "-c", "echo $$"])
            .output()
        {
            Ok(out)
                if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "1" =>
            {
                return Ok(flags.to_vec());
            }
            Ok(out) => why = String::from_utf8_lossy(&out.stderr).trim().to_string(),
            Err(e) => why = format!("unshare: {e}"),
        }
    }
    Err(why)
}

/// Starts `program args` as PID 1 of a new PID namespace (sharing the network).
pub fn as_pid1(ns: &[&str], program: &str, args: &[&str]) -> Echod {
    let mut all: Vec<&str> = ns.to_vec();
    all.push(program);
    all.extend(args);
    spawn_with(Spec::new("unshare").name("unshare"), &all)
}

/// The process `unshare` started (PID 1 inside), seen from here.
pub fn pid1_of(unshare: u32) -> u32 {
    wait_for("the namespace's first process", || {
        let children = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"));
        children.ok()?.split_whitespace().next()?.parse().ok()
    })
}

/// `echod --processes 2` as PID 1: both children start, the server echoes on
/// loopback, and SIGTERM stops it with the merged stats (exit 0).
#[test]
fn processes_start_as_pid_1() {
    let ns = match pid_namespace() {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("skipped: no PID namespace can be made here: {why}");
            return;
        }
    };
    let exe = env!("CARGO_BIN_EXE_echod");
    let args =
        ["--processes", "2", "--workers", "2", "--bind", "127.0.0.1", "--port", "0", "--no-pin"];
    let mut echod = as_pid1(&ns, exe, &args);
    let addr = echod.ready();
    for i in 0..8 {
        let s = connect(addr);
        let msg = format!("as pid 1, connection {i}");
        assert_eq!(echo(&s, msg.as_bytes()), msg.as_bytes());
    }
    let pid1 = pid1_of(echod.pid());
    let kill = std::process::Command::new("kill").args(["-TERM", &pid1.to_string()]).status();
    assert!(kill.expect("kill").success());
    let status = echod.wait();
    let lines = echod.stderr_lines();
    assert!(status.success(), "{status:?}: {lines:?}");
    assert!(lines.iter().any(|l| l.contains("worker 1 ")), "both processes' stats: {lines:?}");
}
