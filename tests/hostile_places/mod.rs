//! Places echod runs where it must not fall over: a stderr nobody reads (a closed
//! pipe), values too large to add up, and a shared temporary folder (the
//! `--processes` children's stats go to a private folder, never a predictable name).

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::process::spawn;
use crate::common::{connect, echo, wait_for, WAIT};

/// echod with its stderr a pipe whose reader has gone (`echod ... 2>&1 | head`):
/// the start-up lines, `--stats-interval` lines and the stats at exit meet EPIPE;
/// echod serves all the same and SIGTERM ends it with exit 0.
#[test]
fn closed_stderr_is_not_a_panic() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_echod"))
        .args(["--bind", "127.0.0.1", "--port", "0", "--no-pin", "--workers", "1"])
        .args(["--stats-interval", "10ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn echod");
    drop(child.stderr.take()); // the reader goes: every line to stderr is EPIPE
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut ready = String::new();
    out.read_line(&mut ready).expect("the ready line");
    let addr: std::net::SocketAddr = ready
        .strip_prefix("listening on ")
        .and_then(|r| r.split(' ').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("ready line: {ready:?}"));
    std::thread::sleep(Duration::from_millis(100)); // a few interval lines meet EPIPE
    let s = connect(addr);
    assert_eq!(echo(&s, b"still serving"), b"still serving");
    drop(s);
    common::sys::terminate(child.id()).expect("SIGTERM");
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("echod did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
}

/// Durations and limits too large to add up are refused with one line, exit 2,
/// naming the flag: `--stats-interval 500000000000y`, and the hidden
/// `--max-conns-shared` with a process count past the largest.
#[test]
fn overflowing_values_exit_2_with_one_line() {
    let cases: [(&[&str], &str); 3] = [
        (&["--stats-interval", "500000000000y", "--port", "0"], "--stats-interval"),
        (&["--idle-timeout", "400days", "--port", "0"], "--idle-timeout"),
        (
            &["--max-conns", "5", "--max-conns-shared", "3:0:18446744073709551615", "--port", "0"],
            "--max-conns-shared",
        ),
    ];
    for (args, flag) in cases {
        let mut echod = spawn(args);
        assert_eq!(echod.wait().code(), Some(2), "{args:?}");
        let err = echod.stderr_lines();
        assert_eq!(err.len(), 1, "{args:?}: {err:?}");
        assert!(err[0].starts_with("echod: ") && err[0].contains(flag), "{args:?}: {err:?}");
    }
}

/// `--processes 2`: each child writes its stats into a folder of the run's own
/// (not the shared temporary folder itself), mode 0700; it is gone after the run.
#[test]
fn child_stats_go_to_a_private_folder() {
    let mut echod = spawn(&[
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--no-pin",
        "--processes",
        "2",
        "--workers",
        "2",
    ]);
    echod.ready();
    let children = wait_for("both children", || {
        let kids = common::procfs::tree(echod.pid());
        (kids.len() >= 3).then_some(kids)
    });
    let mut folders = Vec::new();
    for pid in children.iter().skip(1) {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<String> =
            cmdline.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let Some(file) = args.iter().find_map(|a| a.strip_prefix("--child-stats=")) else {
            continue;
        };
        let folder = std::path::Path::new(file).parent().expect("a folder").to_path_buf();
        assert_ne!(folder, std::env::temp_dir(), "{file}");
        let mode = std::fs::metadata(&folder).expect("the folder").permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{}", folder.display());
        folders.push(folder);
    }
    assert_eq!(folders.len(), 2, "{children:?}");
    echod.signal("-TERM");
    assert!(echod.wait().success());
    assert!(folders.iter().all(|f| !f.exists()), "{folders:?}");
}
