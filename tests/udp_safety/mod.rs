//! UDP echo must not be a weapon: a loop between two echo services, started by one
//! forged datagram, stops within a bounded number of datagrams (`--udp-rate-limit`,
//! counted); a datagram sent to a broadcast or multicast address is not answered
//! (counted). The forged datagram needs a raw socket (root); the broadcast case a
//! network namespace of our own (`unshare --net`). Where either cannot be had, the
//! test says so in one printed line and checks nothing.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::child::Spec;
use echod::server::{Config, Proto};
use socket2::{Domain, Protocol, Socket, Type};

use crate::common::process::{read_stats, spawn_with, temp_json};
use crate::common::{wait_for, Running, WAIT};

/// Sends one UDP datagram to `to` that claims to come from `from` (both on
/// 127.0.0.1), through a raw socket; `Err` where raw sockets are refused.
fn forge(from: SocketAddr, to: SocketAddr, payload: &[u8]) -> std::io::Result<()> {
    let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP))?;
    raw.bind(&SocketAddr::new(from.ip(), 0).into())?;
    let len = (8 + payload.len()) as u16;
    let mut packet = Vec::with_capacity(len as usize);
    packet.extend(from.port().to_be_bytes());
    packet.extend(to.port().to_be_bytes());
    packet.extend(len.to_be_bytes());
    packet.extend([0, 0]); // no checksum: allowed over IPv4
    packet.extend(payload);
    raw.send_to(&packet, &SocketAddr::new(to.ip(), 0).into())?;
    Ok(())
}

/// One forged datagram from echod A's port to echod B (both `--udp-rate-limit
/// 1000`, depth 100) starts a loop; it stops, each side having answered at most a
/// second's worth (about 100 here), and the stop is counted.
#[test]
fn a_loop_between_two_echo_services_stops() {
    let config = Config { proto: Proto::Udp, udp_rate_limit: Some(1000), ..Config::local_test(1) };
    let (a, b) = (Running::start(config.clone()), Running::start(config));
    if let Err(e) = forge(a.addr, b.addr, b"one forged datagram") {
        eprintln!("skipped: a forged datagram needs a raw socket (root): {e}");
        return;
    }
    let limited = |s: &Running| s.stats.snapshot().total().datagrams_rate_limited;
    wait_for("the loop to be cut", || (limited(&a) + limited(&b) >= 1).then_some(()));
    // Stopped: the counts no longer move (bounded: a few looks).
    let totals = || (a.stats.snapshot().total(), b.stats.snapshot().total());
    let mut last = totals();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let now = totals();
        if now == last {
            break;
        }
        last = now;
    }
    let (sa, sb) = (a.stop().total(), b.stop().total());
    eprintln!(
        "loop: A answered {}, B answered {}, {} cut by the rate limit",
        sa.datagrams_out,
        sb.datagrams_out,
        sa.datagrams_rate_limited + sb.datagrams_rate_limited
    );
    assert_eq!((sa.datagrams_in, sb.datagrams_in), (last.0.datagrams_in, last.1.datagrams_in));
    assert!(sa.datagrams_out <= 1000 && sb.datagrams_out <= 1000, "{sa:?} {sb:?}");
    assert_eq!(sa.datagrams_rate_limited + sb.datagrams_rate_limited, 1, "{sa:?} {sb:?}");
}

/// In a network namespace of our own, echod `--bind 0.0.0.0 --proto udp` answers a
/// datagram to 127.0.0.1, not one to 127.255.255.255 (loopback's broadcast) or to a
/// multicast group, and counts those in `datagrams_not_unicast`.
#[test]
fn broadcast_and_multicast_are_not_answered() {
    let probe = std::process::Command::new("unshare").args(["--net", "true"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: no network namespace can be made here (unshare --net)");
        return;
    }
    let json = temp_json("not-unicast");
    let script = format!(
        "ip link set lo up && ip link set lo multicast on && exec {} --bind 0.0.0.0 \
         --proto udp --port 0 --workers 1 --no-pin --stats-json {}",
        env!("CARGO_BIN_EXE_echod"),
        json.display()
    );
    let spec = Spec::new("unshare").name("echod in a netns");
    let mut echod = spawn_with(spec, &["--net", "sh", "-c", &script]);
    let port = echod.ready().port();
    let line = echod.stderr_line_with("answering UDP on 0.0.0.0");
    assert!(line.contains("broadcast or multicast address are not answered"), "{line}");
    let exe = std::env::current_exe().expect("exe");
    let ns = format!("--net=/proc/{}/ns/net", echod.pid());
    let out = std::process::Command::new("nsenter")
        .arg(ns)
        .arg(exe)
        .args(["--exact", "udp_safety::sender", "--nocapture", "--ignored"])
        .env("ECHOD_TEST_SENDER_PORT", port.to_string())
        .output()
        .expect("run the sender in the namespace");
    let said = String::from_utf8_lossy(&out.stdout);
    echod.signal("-TERM");
    assert!(echod.wait().success());
    let stats = read_stats(&json).total();
    let lines: Vec<&str> = said.lines().filter(|l| l.starts_with("sender: ")).collect();
    assert!(lines.contains(&"sender: unicast answered"), "{said}");
    assert!(lines.contains(&"sender: broadcast not answered"), "{said}");
    let multicast = lines.contains(&"sender: multicast not answered");
    if !multicast {
        eprintln!("multicast not checked here: {lines:?}");
    }
    let expected = 1 + u64::from(multicast);
    assert_eq!(stats.datagrams_not_unicast, expected, "{stats:?}");
    assert_eq!(stats.datagrams_out, 3, "the unicast datagram and the markers: {stats:?}");
}

/// Sends `what` to `to`, then a unicast marker; says whether the first answer was the
/// marker's (so `what` was not answered).
fn unanswered(s: &UdpSocket, what: &[u8], to: SocketAddr, echod: SocketAddr) -> bool {
    s.send_to(what, to).expect("send");
    s.send_to(b"marker", echod).expect("send the marker");
    let mut buf = [0u8; 64];
    let (n, _) = s.recv_from(&mut buf).expect("an answer");
    &buf[..n] == b"marker"
}

/// Not a test on its own: `broadcast_and_multicast_are_not_answered`'s sender, run
/// inside the namespace.
#[test]
#[ignore = "run by broadcast_and_multicast_are_not_answered"]
fn sender() {
    let Some(port) = std::env::var("ECHOD_TEST_SENDER_PORT").ok() else { return };
    let port: u16 = port.parse().expect("port");
    let echod = SocketAddr::from(([127, 0, 0, 1], port));
    let s = UdpSocket::bind("0.0.0.0:0").expect("bind");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s.set_broadcast(true).expect("SO_BROADCAST");
    s.send_to(b"unicast", echod).expect("send");
    let mut buf = [0u8; 64];
    let (n, _) = s.recv_from(&mut buf).expect("the unicast answer");
    assert_eq!(&buf[..n], b"unicast");
    println!("sender: unicast answered");
    let broadcast = SocketAddr::from(([127, 255, 255, 255], port));
    if unanswered(&s, b"broadcast", broadcast, echod) {
        println!("sender: broadcast not answered");
    }
    let group = std::net::Ipv4Addr::new(239, 1, 2, 3);
    let sock = Socket::from(s);
    let joined = sock
        .join_multicast_v4(&group, &std::net::Ipv4Addr::LOCALHOST)
        .and_then(|()| sock.set_multicast_if_v4(&std::net::Ipv4Addr::LOCALHOST))
        .and_then(|()| sock.set_multicast_loop_v4(true));
    let s: UdpSocket = sock.into();
    match joined {
        Ok(()) => {
            if unanswered(&s, b"multicast", SocketAddr::from((group, port)), echod) {
                println!("sender: multicast not answered");
            }
        }
        Err(e) => println!("sender: multicast skipped: {e}"),
    }
}
