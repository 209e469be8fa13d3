//! `echod --processes`: the whole server's `--max-conns` across its processes; a
//! child killed with SIGKILL is restarted while the others keep serving; a child that
//! keeps dying makes the parent give up (exit 1); a killed parent takes its children
//! with it.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;

use crate::common::process::{echod_spec, read_stats, spawn, spawn_with, temp_json, LOCAL};
use crate::common::{connect, echo, random_bytes, wait_for};

/// The processes `pid` started (echod's children start none of their own).
fn children(pid: u32) -> Vec<u32> {
    common::procfs::tree(pid).split_off(1)
}

/// Which of `pids` holds the server side (`server`) of the connection from `client`:
/// the kernel's socket inode (/proc/net/tcp) among each process's descriptors.
fn owner(server: SocketAddr, client: SocketAddr, pids: &[u32]) -> Option<u32> {
    let table = common::procfs::net::net_tcp().ok()?;
    // Both ends: the client's port may also be in use toward another server.
    let inode = table.iter().find(|e| e.local == server && e.remote == client)?.inode;
    let link = format!("socket:[{inode}]");
    pids.iter().copied().find(|pid| {
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).into_iter().flatten();
        fds.map_while(Result::ok)
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t.to_string_lossy() == link))
    })
}

/// Whether echod serves `c`: a byte comes back (a refused connection reads EOF, or a
/// reset if our byte raced the close).
fn served(c: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    (&*c).write_all(b"?").is_ok() && matches!((&*c).read(&mut byte), Ok(1))
}

/// `--max-conns` caps the whole server whatever the kernel's hashing: over three
/// processes, 10 of 30 connections are held (not 12) and 1 of 9 (not 3); the rest are
/// accepted, closed and counted.
#[test]
fn max_conns_caps_the_whole_server() {
    for (max, tries) in [(10usize, 30usize), (1, 9)] {
        let json = temp_json(&format!("max-conns-{max}"));
        let (max_s, path) = (max.to_string(), json.to_str().expect("utf-8").to_string());
        let mut args = LOCAL.to_vec();
        args.extend(["--workers", "3", "--processes", "3", "--max-conns", &max_s]);
        args.extend(["--stats-json", &path]);
        let mut echod = spawn(&args);
        let addr = echod.ready();
        let mut held = Vec::new();
        for _ in 0..tries {
            let c = connect(addr);
            if served(&c) {
                held.push(c);
            }
        }
        assert_eq!(held.len(), max, "--max-conns {max} over 3 processes");
        echod.signal("-TERM");
        assert!(echod.wait().success(), "{:?}", echod.stderr_lines());
        let stats = read_stats(&json);
        assert_eq!(stats.total().accepted, max as u64, "{stats:?}");
        assert_eq!(stats.total().rejected_max_conns, (tries - max) as u64, "{stats:?}");
    }
}

/// SIGKILL one child of three: the others' connections keep echoing byte-exact, the
/// parent gives the dead child's `--max-conns` places back and restarts it, the port
/// serves new connections (the new child among them), and at SIGTERM the stats JSON
/// counts 1 restart and every worker.
#[test]
fn killed_child_is_restarted_while_the_others_serve() {
    let json = temp_json("restart");
    let mut args = LOCAL.to_vec();
    args.extend(["--workers", "3", "--processes", "3", "--max-conns", "1000", "--stats-json"]);
    args.push(json.to_str().expect("utf-8"));
    let mut echod = spawn(&args);
    let addr = echod.ready();
    let first = children(echod.pid());
    assert_eq!(first.len(), 3, "{first:?}");
    let clients: Vec<_> = (0..30).map(|_| connect(addr)).collect();
    for c in &clients {
        assert_eq!(echo(c, b"before"), b"before");
    }
    let owners: Vec<u32> = clients
        .iter()
        .map(|c| {
            let local = c.local_addr().expect("local");
            // Re-read: one read of /proc/net/tcp may skip a line while others churn.
            wait_for("the child holding a connection", || owner(addr, local, &first))
        })
        .collect();
    // The victim: a child that holds some of the connections, and not all of them.
    let victim = *first
        .iter()
        .find(|p| (1..30).contains(&owners.iter().filter(|o| o == p).count()))
        .expect("a child holding some connections");
    assert!(Command::new("kill")
        .args(["-KILL", &victim.to_string()])
        .status()
        .expect("kill")
        .success());
    let died = echod.stderr_line_with("died");
    let held = owners.iter().filter(|&&o| o == victim).count();
    // Its --max-conns places came back: exactly the connections it held.
    assert!(died.contains(&format!("; {held} connections closed)")), "{died}");
    let line = echod.stderr_line_with("restarted");
    assert!(line.starts_with("echod: worker process "), "{line}");
    let payload = random_bytes(100_000);
    for (c, o) in clients.iter().zip(&owners) {
        if *o == victim {
            let mut byte = [0u8; 1];
            let _ = (&*c).write_all(b"x");
            assert!(matches!((&*c).read(&mut byte), Ok(0) | Err(_)), "died with its child");
        } else {
            assert!(echo(c, &payload) == payload, "a healthy child's connection broke");
        }
    }
    let fresh: Vec<_> = (0..30).map(|_| connect(addr)).collect();
    for c in &fresh {
        assert_eq!(echo(c, b"after"), b"after");
    }
    echod.signal("-TERM");
    assert!(echod.wait().success());
    let report = echod.stderr_lines();
    assert!(report.iter().any(|l| l.starts_with("echod: restarts 1 ")), "{report:?}");
    let stats = read_stats(&json);
    assert_eq!(stats.restarts, 1, "{stats:?}");
    assert_eq!(stats.workers.iter().map(|w| w.id).collect::<Vec<_>>(), [0, 1, 2]);
    let pids: BTreeSet<u32> = stats.workers.iter().map(|w| w.pid).collect();
    assert!(!pids.contains(&victim), "{stats:?}");
    let reborn = stats.workers.iter().find(|w| !first.contains(&w.pid)).expect("the new child");
    assert!(reborn.counters.accepted > 0, "the restarted child served nothing: {stats:?}");
}

/// A child that dies right after its ready line (a test-only hook) is restarted
/// with a back-off until the limit; then the parent stops everything, exits 1 with
/// a one-line reason, and still writes --stats-json.
#[test]
fn child_dying_repeatedly_makes_the_parent_give_up() {
    let json = temp_json("give-up");
    let command = echod_spec().env("ECHOD_TEST_ONLY_CHILD_EXITS_AFTER_READY", "1");
    let mut args = LOCAL.to_vec();
    args.extend(["--workers", "2", "--processes", "2", "--stats-json"]);
    args.push(json.to_str().expect("utf-8"));
    let mut echod = spawn_with(command, &args);
    echod.ready();
    assert_eq!(echod.wait().code(), Some(1));
    let err = echod.stderr_lines();
    let gave_up: Vec<_> = err.iter().filter(|l| l.contains("gave up")).collect();
    assert_eq!(gave_up.len(), 1, "{err:?}");
    assert!(gave_up[0].starts_with("echod: worker process "), "{err:?}");
    assert!(gave_up[0].contains("times within"), "{err:?}");
    let stats = read_stats(&json);
    assert!(stats.restarts >= 3, "{stats:?}");
}

/// SIGKILL the parent: its children see their stdin close and stop by themselves.
#[test]
fn children_stop_when_the_parent_is_killed() {
    let mut args = LOCAL.to_vec();
    args.extend(["--workers", "2", "--processes", "2"]);
    let mut echod = spawn(&args);
    echod.ready();
    let kids = children(echod.pid());
    assert_eq!(kids.len(), 2, "{kids:?}");
    echod.kill();
    wait_for("the children to stop", || {
        kids.iter().all(|&k| !common::procfs::alive(k)).then_some(())
    });
}
