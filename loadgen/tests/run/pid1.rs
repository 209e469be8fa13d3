//! loadgen as PID 1 (a container's entrypoint): a run split over `--processes 2`
//! starts its shares through `echod::child` (whose parent-death check must take a
//! parent of pid 1 for a live one). Where no PID namespace can be made here, the
//! test says so in one printed line and checks nothing.

use std::process::Command;
use std::time::Duration;

use echod::child::{Child, Line, Spec};

use super::servers::Server;

/// `unshare`'s flags for a new PID namespace on this machine, or why none can be made.
fn pid_namespace() -> Result<Vec<&'static str>, String> {
    let tries: [&[&str]; 2] = [
        &["--pid", "--fork", "--kill-child", "--mount-proc"],
        &["--user", "--map-root-user", "--pid", "--fork", "--kill-child", "--mount-proc"],
    ];
    let mut why = String::from("unshare not found");
    for flags in tries {
        match Command::new("unshare").args(flags).args(["sh", "-c", "echo $$"]).output() {
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

/// `loadgen --processes 2` as PID 1 runs both shares against a loopback echo server
/// and exits 0 with every connection up.
#[test]
fn split_run_as_pid_1() {
    let ns = match pid_namespace() {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("skipped: no PID namespace can be made here: {why}");
            return;
        }
    };
    let server = Server::echo();
    let target = format!("--target={}", server.addr);
    let mut args: Vec<&str> = ns;
    args.push(env!("CARGO_BIN_EXE_loadgen"));
    args.extend([&target, "--conns", "4", "--processes", "2", "--duration", "500ms"]);
    args.extend(["--warmup", "0s"]);
    // A temporary folder of this test's own: loadgen names its split run's scratch
    // folder by its pid, 1 in every PID namespace, so two runs as PID 1 sharing
    // /tmp would take each other's.
    let tmp = std::env::temp_dir().join(format!("loadgen-pid1-test-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("a temporary folder");
    let spec = Spec::new("unshare").args(&args).env("TMPDIR", &tmp);
    let mut child = Child::start(spec).expect("spawn unshare");
    // Bounded: a half-second run ends well within a minute; past it, killed.
    let status = child.wait_bounded(Duration::from_secs(60), None).expect("wait");
    if status.is_none() {
        let _ = child.kill();
    }
    let lines = child.remaining_lines(Duration::from_secs(5));
    let stderr: Vec<&str> = lines
        .iter()
        .filter_map(|l| if let Line::Err(e) = l { Some(e.as_str()) } else { None })
        .collect();
    let _ = std::fs::remove_dir_all(&tmp);
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{stderr:?}");
    assert!(stderr.iter().any(|l| l.contains("splits into 2 processes")), "{stderr:?}");
}
