//! The built `echod` binary: the ready line, SIGTERM, `--stats-json`,
//! `--stats-interval`, refusals and bad flags (exit 2, one line), and `--processes`.

use std::net::{SocketAddr, TcpListener};
use std::process::Command;

use echod::server::Model;

use crate::common::process::{echod_spec, read_stats, spawn, spawn_with, temp_json, LOCAL};
use crate::common::{connect, echo, WAIT};

/// The start-up line states the descriptor limit, what one process holds, and how
/// many `--processes` 50,000 connections need on this machine.
#[test]
fn startup_line_names_the_descriptor_limit_and_processes() {
    let mut echod = spawn(&LOCAL);
    echod.ready();
    let line = crate::common::wait_for("the descriptor line", || {
        echod.stderr_line(WAIT).filter(|l| l.starts_with("echod: descriptor limit"))
    });
    assert!(line.contains("this process can hold about"), "{line}");
    assert!(line.contains("--processes N"), "{line}");
    assert!(line.contains("50,000 connections need"), "{line}");
    echod.signal("-TERM");
    assert!(echod.wait().success());
}

/// SIGTERM: echod exits 0, prints per-worker stats, writes --stats-json, and printed
/// --stats-interval lines while running.
#[test]
fn sigterm_exits_cleanly_with_stats() {
    let json = temp_json("sigterm");
    let path = json.to_str().expect("utf-8 path");
    let mut args = LOCAL.to_vec();
    args.extend(["--workers", "2", "--stats-interval", "50ms", "--stats-json", path]);
    let mut echod = spawn(&args);
    let addr = echod.ready();
    let clients: Vec<_> = (0..10).map(|_| connect(addr)).collect();
    for c in &clients {
        assert_eq!(echo(c, b"hello"), b"hello");
    }
    let line = crate::common::wait_for("a stats line", || {
        echod.stderr_line(WAIT).filter(|l| l.starts_with("echod: stats: w0"))
    });
    assert!(line.contains("conns="), "{line}");
    echod.signal("-TERM");
    assert!(echod.wait().success());
    let report: Vec<String> = echod.stderr_lines();
    assert_eq!(report.iter().filter(|l| l.starts_with("echod: worker ")).count(), 2, "{report:?}");
    let stats = read_stats(&json);
    assert_eq!(stats.workers.len(), 2);
    assert_eq!(stats.total().accepted, 10);
    assert_eq!(stats.total().bytes_out, 50);
}

/// Flags written back by `Flags::to_args` (as loadgen's suite starts echod) start
/// the binary as asked: the ready line names the workers and the model.
#[test]
fn flags_written_back_start_the_binary() {
    let flags = echod::server::Flags {
        workers: Some(2),
        port: 0,
        bind: "127.0.0.1".parse().expect("ip"),
        no_pin: true,
        model: echod::server::Model::Shared,
        ..echod::server::Flags::default()
    };
    let mut echod = spawn_with(echod_spec().args(flags.to_args()), &[]);
    let line = echod.stdout_line(WAIT).expect("a ready line");
    assert!(line.starts_with("listening on 127.0.0.1:"), "{line}");
    assert!(line.ends_with(" workers=2 model=shared proto=tcp"), "{line}");
    echod.signal("-TERM");
    assert!(echod.wait().success());
}

/// SIGTERM (and SIGINT) work in every state: while a graceful stop hangs (a
/// test-only stall stands in for a worker stuck on a blocked pipe), a second signal
/// ends echod at once with 128 + the signal (143, 130) and one line saying it did
/// not wait.
#[test]
fn second_signal_exits_at_once() {
    for (signal, code) in [("-TERM", 143), ("-INT", 130)] {
        let command = echod_spec().env("ECHOD_TEST_ONLY_STALL_STOP_MS", "60000");
        let mut echod = spawn_with(command, &LOCAL);
        echod.ready();
        echod.signal(signal);
        // Bounded: the first signal was taken (the stop began) before the second is sent.
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(echod.try_wait().is_none(), "the stall holds the stop");
        echod.signal(signal);
        assert_eq!(echod.wait().code(), Some(code), "{signal}");
        let line = echod.stderr_line_with("second signal");
        assert!(line.starts_with("echod: a second signal: exiting now"), "{line}");
    }
}

/// A port held by a plain listener or by another SO_REUSEPORT listener: exit 2 and
/// one line naming --port.
#[test]
fn binary_refuses_port_in_use() {
    let plain = TcpListener::bind("127.0.0.1:0").expect("occupant");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let reuse = common::net::listener(any, 16, true).expect("occupant");
    for occupant in [plain.local_addr(), reuse.local_addr()] {
        let port = occupant.expect("addr").port().to_string();
        let mut echod = spawn(&["--bind", "127.0.0.1", "--port", &port, "--no-pin"]);
        assert_eq!(echod.wait().code(), Some(2));
        let err = echod.stderr_lines();
        assert_eq!(err.len(), 1, "{err:?}");
        assert!(err[0].starts_with("echod: --port") && err[0].contains("in use"), "{err:?}");
    }
}

/// Bad input: exit 2 and one line naming the flag, the OS's cause at most once.
#[test]
fn bad_flags_exit_2_with_one_line() {
    let cases: [(&[&str], &str); 8] = [
        (&["--bogus"], "--bogus"),
        (&["--workers", "0"], "--workers"),
        (&["--port", "70000"], "--port"),
        (&["--bind", "192.0.2.1", "--port", "0"], "--bind"),
        (&["--bind", "10.9.9.9", "--port", "0"], "--bind"),
        (&["--buffer", "0"], "--buffer"),
        (&["--model", "fork"], "--model"),
        (&["--max-conns", "0", "--port", "0"], "--max-conns"),
    ];
    for (args, flag) in cases {
        let mut echod = spawn(args);
        assert_eq!(echod.wait().code(), Some(2), "{args:?}");
        let err = echod.stderr_lines();
        assert_eq!(err.len(), 1, "{args:?}: {err:?}");
        assert!(err[0].starts_with("echod: ") && err[0].contains(flag), "{args:?}: {err:?}");
        assert!(err[0].matches("os error").count() <= 1, "the cause twice: {err:?}");
    }
}

/// `--processes 2`: the parent states the capacity of both processes together; two
/// processes share the port, serve, shut down on SIGTERM, and the parent merges
/// both processes' stats.
#[test]
fn processes_serve_and_shut_down() {
    let json = temp_json("processes");
    let path = json.to_str().expect("utf-8 path");
    let mut args = LOCAL.to_vec();
    args.extend(["--workers", "2", "--processes", "2", "--stats-json", path]);
    let mut echod = spawn(&args);
    let addr = echod.ready();
    let line = echod.stderr_line_with("connections in all");
    assert!(line.starts_with("echod: 2 processes, each with its own descriptor limit ("), "{line}");
    let clients: Vec<_> = (0..60).map(|_| connect(addr)).collect();
    for c in &clients {
        assert_eq!(echo(c, b"many"), b"many");
    }
    echod.signal("-TERM");
    assert!(echod.wait().success(), "{:?}", echod.stderr_lines());
    let stats = read_stats(&json);
    assert_eq!(stats.workers.len(), 2);
    assert_eq!(stats.workers.iter().map(|w| w.id).collect::<Vec<_>>(), [0, 1]);
    assert_ne!(stats.workers[0].pid, stats.workers[1].pid, "two processes");
    assert_eq!(stats.total().accepted, 60);
}

/// Out of descriptors (a hard limit of 40 via prlimit): echod pauses accepting instead
/// of spinning, counts it, prints one hint, and accepts the queued connections once
/// closed ones free descriptors. The default model and `uring` (whose accepts are
/// the ring's).
#[test]
fn emfile_pauses_accepting_then_resumes() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("skipped: prlimit (util-linux) is not installed");
        return;
    }
    for model in [Model::Reuseport, Model::Uring] {
        if crate::common::runs_here(model) {
            emfile(model);
        }
    }
}

fn emfile(model: Model) {
    let json = temp_json(&format!("emfile-{}", model.name()));
    let path = json.to_str().expect("utf-8 path");
    let prlimit = common::child::Spec::new("prlimit").args([
        "--nofile=40:40",
        "--",
        env!("CARGO_BIN_EXE_echod"),
    ]);
    let mut args = LOCAL.to_vec();
    args.extend(["--workers", "1", "--model", model.name(), "--stats-json", path]);
    let mut echod = spawn_with(prlimit, &args);
    let addr = echod.ready();
    // More connections than descriptors: the kernel completes them all into the backlog.
    let mut clients: Vec<_> = (0..60).map(|_| connect(addr)).collect();
    let hint = crate::common::wait_for("the EMFILE hint", || {
        echod.stderr_line(WAIT).filter(|l| l.contains("out of file descriptors"))
    });
    assert!(hint.contains("--max-conns"), "{hint}");
    let last = clients.split_off(40);
    drop(clients); // frees the server's descriptors as it sees EOF
    for c in &last {
        assert_eq!(echo(c, b"late"), b"late", "accepting resumed");
    }
    echod.signal("-TERM");
    assert!(echod.wait().success());
    let err = echod.stderr_lines();
    assert!(!err.iter().any(|l| l.contains("out of file descriptors")), "one hint: {err:?}");
    let stats = read_stats(&json);
    assert!(stats.total().accept_errors >= 1, "{stats:?}");
    assert_eq!(stats.total().accepted, 60);
}

/// `--generate` prints a man page and bash, zsh and fish completions made from the
/// flag definitions, and exits 0; they name echod's flags.
#[test]
fn generates_man_page_and_completions() {
    for (kind, marker) in [
        ("man", ".TH echod 1"),
        ("complete-bash", "_echod()"),
        ("complete-zsh", "#compdef echod"),
        ("complete-fish", "complete -c echod"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_echod"))
            .args(["--generate", kind])
            .output()
            .expect("run echod");
        // roff escapes the dashes of a man page: read it without the escapes.
        let text = String::from_utf8_lossy(&out.stdout).replace('\\', "");
        assert_eq!(out.status.code(), Some(0), "{kind}");
        assert!(text.contains(marker), "{kind}: {text}");
        assert!(text.contains("workers") && text.contains("stats-json"), "{kind}: {text}");
    }
}
