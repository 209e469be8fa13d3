//! `--proto udp|both`: datagrams echoed byte for byte at every size, many flows
//! spread over the workers' SO_REUSEPORT sockets, the loop guard (echod's own port,
//! ports below 1024), TCP and UDP on one port, the stats, `--processes`, and bad
//! input (exit 2, one line).
//!
//! UDP may lose a datagram even on loopback (a full queue), so a client sends again
//! what got no answer, a bounded number of times; answers are checked byte for byte.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use echod::server::{Config, Proto};

use crate::common::process::{read_stats, spawn, temp_json, LOCAL};
use crate::common::{connect, echo, random_bytes, wait_for, Running, WAIT};

/// How long a client waits for one answer before it sends again.
const RESEND_AFTER: Duration = Duration::from_millis(500);

/// An in-process server of `workers` workers on 127.0.0.1 serving `proto`.
fn server(proto: Proto, workers: usize) -> Running {
    Running::start(Config { proto, ..Config::local_test(workers) })
}

/// A client socket on `ip`, port picked by the kernel.
fn client(ip: &str) -> UdpSocket {
    UdpSocket::bind((ip, 0)).expect("bind a client")
}

/// Sends `payload` from `socket` to `to` until an answer comes (bounded by
/// [`WAIT`]); returns the answer and where it came from.
fn echo_datagram(socket: &UdpSocket, to: SocketAddr, payload: &[u8]) -> (Vec<u8>, SocketAddr) {
    socket.set_read_timeout(Some(RESEND_AFTER)).expect("timeout");
    let mut buf = vec![0u8; 65_536];
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        socket.send_to(payload, to).expect("send");
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => return (buf[..n].to_vec(), from),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("recv: {e}"),
        }
    }
    panic!("no answer to a {}-byte datagram within {WAIT:?}", payload.len());
}

/// Datagrams of 1 B, 64 B, 1,400 B, 9,000 B and 65,507 B (the largest over IPv4)
/// come back byte for byte, from the port they were sent to.
#[test]
fn every_size_comes_back_byte_for_byte() {
    let srv = server(Proto::Udp, 2);
    let socket = client("127.0.0.1");
    for size in [1, 64, 1400, 9000, 65_507] {
        let payload = random_bytes(size);
        let (back, from) = echo_datagram(&socket, srv.addr, &payload);
        assert_eq!(from, srv.addr, "{size} B");
        assert!(back == payload, "{size} B: {} bytes came back, not the same", back.len());
    }
    let stats = srv.stop();
    let t = stats.total();
    assert!(t.datagrams_out >= 5, "{t:?}");
    assert_eq!((t.datagrams_dropped, t.datagrams_refused), (0, 0), "{t:?}");
    assert!(t.datagram_bytes_out >= 1 + 64 + 1400 + 9000 + 65_507, "{t:?}");
}

/// 1,000 flows (1,000 client sockets, each its own four-tuple) each get their own
/// datagram back; the kernel spread them over both workers' sockets.
#[test]
fn a_thousand_flows_each_echoed() {
    common::sys::raise_nofile_limit().expect("descriptors for 1,000 sockets");
    let srv = server(Proto::Udp, 2);
    let clients: Vec<UdpSocket> = (0..1000).map(|_| client("127.0.0.1")).collect();
    for c in &clients {
        c.set_nonblocking(true).expect("nonblocking");
    }
    let payload = |i: usize| format!("flow {i} of 1000").into_bytes();
    let mut waiting: Vec<usize> = (0..clients.len()).collect();
    let mut buf = [0u8; 64];
    // Bounded: at most WAIT / RESEND_AFTER rounds; a round sends to every flow still
    // waiting, then collects answers until none came for RESEND_AFTER.
    let deadline = Instant::now() + WAIT;
    while !waiting.is_empty() && Instant::now() < deadline {
        for &i in &waiting {
            let _ = clients[i].send_to(&payload(i), srv.addr); // a full buffer: next round
        }
        let mut quiet_since = Instant::now();
        while !waiting.is_empty() && quiet_since.elapsed() < RESEND_AFTER {
            let before = waiting.len();
            waiting.retain(|&i| match clients[i].recv_from(&mut buf) {
                Ok((n, from)) => {
                    assert_eq!((&buf[..n], from), (&payload(i)[..], srv.addr), "flow {i}");
                    false
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
                Err(e) => panic!("flow {i}: {e}"),
            });
            if waiting.len() < before {
                quiet_since = Instant::now();
            } else {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
    assert!(waiting.is_empty(), "{} flows got no answer", waiting.len());
    let stats = srv.stop();
    assert!(stats.total().datagrams_out >= 1000, "{:?}", stats.total());
    for w in &stats.workers {
        assert!(w.counters.datagrams_in > 0, "the kernel gave worker {} no flow: {w:?}", w.id);
    }
}

/// The loop guard: a datagram from echod's own port (sent from 127.0.0.2:P to
/// 127.0.0.1:P) or from a port below 1024 (127.0.0.2:7) gets no answer and is
/// counted; a datagram from an ordinary port sent after each still does.
#[test]
fn loop_guard_refuses_own_port_and_low_ports() {
    let srv = server(Proto::Udp, 1);
    let ordinary = client("127.0.0.1");
    let twin = UdpSocket::bind(("127.0.0.2", srv.addr.port())).expect("bind echod's port");
    let mut senders = vec![("echod's own port", twin)];
    match UdpSocket::bind("127.0.0.2:7") {
        Ok(low) => senders.push(("port 7", low)),
        Err(e) => eprintln!("skipped the port-7 half: binding 127.0.0.2:7 is not allowed ({e})"),
    }
    for (refused, (what, sender)) in senders.iter().enumerate() {
        sender.send_to(b"bounce me", srv.addr).expect("send");
        srv.wait_stats("the refusal counted", |s| s.total().datagrams_refused > refused as u64);
        // Answered datagrams go back before the count is published: one sent after
        // the refused one and answered shows the loop is past it.
        assert_eq!(echo_datagram(&ordinary, srv.addr, b"still here").0, b"still here");
        sender.set_nonblocking(true).expect("nonblocking");
        let mut buf = [0u8; 64];
        let got = sender.recv_from(&mut buf);
        assert!(got.is_err(), "{what}: an answer came: {got:?}");
    }
    let t = srv.stop().total();
    assert_eq!(t.datagrams_refused, senders.len() as u64, "{t:?}");
}

/// `--proto both`: one port number serves a TCP connection and datagrams at once;
/// each worker id is one entry of the stats, both protocols' counters in it.
#[test]
fn both_serves_tcp_and_udp_on_one_port() {
    let srv = server(Proto::Both, 2);
    let stream = connect(srv.addr);
    let socket = client("127.0.0.1");
    let payload = random_bytes(3000);
    assert_eq!(echo(&stream, &payload), payload);
    assert_eq!(echo_datagram(&socket, srv.addr, &payload).0, payload);
    assert_eq!(echo(&stream, b"tcp again"), b"tcp again");
    drop(stream);
    let stats = srv.stop();
    assert_eq!(stats.workers.iter().map(|w| w.id).collect::<Vec<_>>(), [0, 1]);
    let t = stats.total();
    assert_eq!((t.accepted, t.bytes_out), (1, 3009), "{t:?}");
    assert!(t.datagrams_out >= 1 && t.datagram_bytes_out >= 3000, "{t:?}");
}

/// The binary with `--proto udp`: the ready line says so, the interval lines count
/// datagrams, the exit lines and `--stats-json` hold the datagram counters.
#[test]
fn binary_counts_datagrams_in_its_stats() {
    let json = temp_json("udp-stats");
    let path = json.to_str().expect("utf-8 path");
    let mut args = LOCAL.to_vec();
    args.extend(["--proto", "udp", "--workers", "2", "--stats-interval", "50ms"]);
    args.extend(["--stats-json", path]);
    let mut echod = spawn(&args);
    let addr = echod.ready();
    let socket = client("127.0.0.1");
    for i in 0..20u8 {
        assert_eq!(echo_datagram(&socket, addr, &[i; 100]).0, [i; 100]);
    }
    let line = wait_for("a stats line with datagrams", || {
        echod.stderr_line(WAIT).filter(|l| l.starts_with("echod: stats: w0 dgrams/s="))
    });
    assert!(line.contains("kernel_drops="), "{line}");
    echod.signal("-TERM");
    assert!(echod.wait().success());
    let report = echod.stderr_lines();
    let workers: Vec<&String> = report.iter().filter(|l| l.starts_with("echod: worker ")).collect();
    assert_eq!(workers.len(), 2, "{report:?}");
    assert!(workers.iter().any(|l| l.contains(" datagrams_in ")), "{report:?}");
    let t = read_stats(&json).total();
    assert!(t.datagrams_in >= 20 && t.datagrams_out >= 20, "{t:?}");
    assert_eq!(t.datagram_bytes_in, 100 * t.datagrams_in, "{t:?}");
    assert_eq!(t.datagrams_in, t.datagrams_out + t.datagrams_dropped, "{t:?}");
}

/// The ready line names the protocol, after the model.
#[test]
fn ready_line_names_the_protocol() {
    let mut args = LOCAL.to_vec();
    args.extend(["--proto", "both", "--workers", "1"]);
    let mut echod = spawn(&args);
    let line = echod.stdout_line(WAIT).expect("a ready line");
    assert!(line.starts_with("listening on 127.0.0.1:"), "{line}");
    assert!(line.ends_with(" workers=1 model=reuseport proto=both"), "{line}");
    echod.signal("-TERM");
    assert!(echod.wait().success());
}

/// `--processes 2 --proto udp`: both processes join the UDP port (their flags
/// written back by `Flags::to_args`), serve, and their stats are merged.
#[test]
fn processes_serve_udp() {
    let json = temp_json("udp-processes");
    let path = json.to_str().expect("utf-8 path");
    let mut args = LOCAL.to_vec();
    args.extend(["--proto", "udp", "--workers", "2", "--processes", "2", "--stats-json", path]);
    let mut echod = spawn(&args);
    let addr = echod.ready();
    let clients: Vec<UdpSocket> = (0..50).map(|_| client("127.0.0.1")).collect();
    for (i, c) in clients.iter().enumerate() {
        let payload = format!("process flow {i}").into_bytes();
        assert_eq!(echo_datagram(c, addr, &payload).0, payload);
    }
    echod.signal("-TERM");
    assert!(echod.wait().success(), "{:?}", echod.stderr_lines());
    let stats = read_stats(&json);
    assert_eq!(stats.workers.len(), 2);
    assert_ne!(stats.workers[0].pid, stats.workers[1].pid, "two processes");
    assert!(stats.total().datagrams_out >= 50, "{:?}", stats.total());
}

/// Bad input: an unknown `--proto`, UDP with a model other than reuseport, and
/// `--max-conns` with UDP alone: exit 2 and one line naming the flag.
#[test]
fn bad_proto_exits_2_with_one_line() {
    let cases: [(&[&str], &[&str]); 5] = [
        (&["--proto", "quic"], &["--proto"]),
        (&["--proto", "udp", "--model", "threads"], &["--proto udp", "--model threads"]),
        (&["--proto", "both", "--model", "shared"], &["--proto both", "--model shared"]),
        (&["--proto", "udp", "--model", "threads", "--processes", "2"], &["--model threads"]),
        (&["--proto", "udp", "--max-conns", "5"], &["--max-conns", "--proto udp"]),
    ];
    for (flags, names) in cases {
        let mut args = LOCAL.to_vec();
        args.extend(["--workers", "2"]);
        args.extend(flags);
        let mut echod = spawn(&args);
        assert_eq!(echod.wait().code(), Some(2), "{flags:?}");
        let err = echod.stderr_lines();
        assert_eq!(err.len(), 1, "{flags:?}: {err:?}");
        assert!(err[0].starts_with("echod: "), "{flags:?}: {err:?}");
        for name in names {
            assert!(err[0].contains(name), "{flags:?}: {err:?}");
        }
    }
}
