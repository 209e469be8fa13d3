//! Churn (`--lifetime`): connections that live N messages or a duration, close the
//! way `--close` says and are replaced, counted once each; the close modes seen
//! in /proc/net/tcp (TIME_WAIT on the client's side after `fin`, none after
//! `rst`); bad input refused with one line and exit 2.

use std::time::Duration;

use engine::run::churn::{Churn, CloseMode, Lifetime};
use engine::run::Config;

use super::go;
use super::servers::Server;

/// echod on loopback (the test servers here keep a clone of every socket they
/// accept, so a client's close would never see the server's FIN) and its address.
fn echod() -> (common::child::Child, std::net::SocketAddr) {
    let (child, addr) = crate::common::echod_on_loopback();
    (child, addr.parse().expect("echod's address"))
}

fn churning(
    addr: std::net::SocketAddr,
    conns: u64,
    lifetime: Lifetime,
    close: CloseMode,
) -> Config {
    let mut config = Config::local_test(addr, conns);
    config.churn = Some(Churn { lifetime, jitter: 0.0, close });
    config.scenario = config.default_scenario();
    config
}

/// Sockets in TIME_WAIT (state 06) whose remote end is `port` on loopback: the
/// client's side of connections to the server at `port` that the client closed.
fn time_wait_to(port: u16) -> usize {
    let table = common::procfs::net::net_tcp().expect("/proc/net/tcp");
    table.iter().filter(|e| e.state == 0x06 && e.remote.port() == port).count()
}

/// Connect, one echo, close (FIN): every connection lives exactly one message, so
/// the replacements opened in the measured phase are about its messages (each
/// counted once: opened ≥ served, every message on a connection of its own), no
/// error, exit 0; the client's closed ends wait in TIME_WAIT; the series and the
/// summary carry the churn.
#[test]
fn one_echo_per_connection_with_fin() {
    let (_echod, addr) = echod();
    let out = go(&churning(addr, 4, Lifetime::Messages(1), CloseMode::Fin));
    let r = &out.result;
    let churn = r.churn.as_ref().expect("churn in the result");
    assert_eq!(r.errors, Default::default(), "{r:?}");
    assert!(churn.opened > 0 && churn.closed > 0, "{churn:?}");
    assert!(churn.served <= churn.opened && churn.unserved == 0, "{churn:?}");
    assert_eq!(churn.failed(), 0, "{churn:?}");
    // One message per connection: each message of the measured phase was echoed on
    // a connection that then closed; closes and messages differ only at the edges.
    let (msgs, closed) = (r.throughput.messages, churn.closed);
    assert!(closed + 8 >= msgs && msgs + 8 >= closed, "messages {msgs}, closed {closed}");
    assert_eq!(churn.connect_us.count, churn.opened);
    assert_eq!(churn.first_echo_us.count, churn.served);
    assert_eq!(r.config.churn.as_ref().map(|c| c.close.as_str()), Some("fin"));
    assert!(r.scenario.ends_with("lifetime=1 close=fin"), "{}", r.scenario);
    let opened: u64 = r.series.iter().map(|s| s.opened.expect("opened per second")).sum();
    assert!(opened <= churn.opened, "{opened} {}", churn.opened);
    assert_eq!(out.exit_code, common::cli::EXIT_OK);
    assert!(time_wait_to(addr.port()) > 0, "fin leaves TIME_WAIT on the client");
    let summary = engine::run::render_summary(r, None);
    assert!(summary.contains("new connections/s sustained"), "{summary}");
}

/// RST closes (SO_LINGER 0) leave no TIME_WAIT on either side; a lifetime of 3
/// messages closes after the third echo.
#[test]
fn rst_leaves_no_time_wait() {
    let (_echod, addr) = echod();
    let out = go(&churning(addr, 3, Lifetime::Messages(3), CloseMode::Rst));
    let r = &out.result;
    let churn = r.churn.as_ref().expect("churn");
    assert!(churn.closed > 0 && churn.failed() == 0, "{churn:?}");
    assert_eq!(r.errors, Default::default(), "{r:?}");
    let (msgs, closed) = (r.throughput.messages, churn.closed);
    assert!(msgs + 12 >= 3 * closed && 3 * closed + 12 >= msgs, "{msgs} {closed}");
    assert_eq!(time_wait_to(addr.port()), 0, "rst leaves no TIME_WAIT");
}

/// A lifetime by time: each connection lives about 50 ms, so a 300 ms measured
/// phase of 2 connections replaces some and not thousands.
#[test]
fn a_lifetime_by_time() {
    let (_echod, addr) = echod();
    let life = Lifetime::Time(Duration::from_millis(50));
    let out = go(&churning(addr, 2, life, CloseMode::Rst));
    let churn = out.result.churn.clone().expect("churn");
    assert!(churn.closed >= 2, "{churn:?}");
    assert!(churn.closed <= 2 * 300 / 50 + 4, "{churn:?}");
    assert!(out.result.throughput.messages > churn.closed, "several messages per life");
}

/// A replacement that cannot connect (the server went away) is counted by errno,
/// retried, and fails the run.
#[test]
fn replacements_that_fail_are_counted() {
    let server = Server::echo();
    let life = Lifetime::Time(Duration::from_millis(100));
    let mut config = churning(server.addr, 2, life, CloseMode::Rst);
    config.duration = Duration::from_millis(600);
    let addr = server.addr;
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(250));
        drop(server);
    });
    let out = go(&config);
    stopper.join().expect("stopper");
    let churn = out.result.churn.clone().expect("churn");
    assert!(churn.failed_by_errno.contains_key("ECONNREFUSED"), "{churn:?} {addr}");
    assert_eq!(out.exit_code, common::cli::EXIT_FAILED);
}

/// Bad churn input: one line naming the flag, exit 2, nothing run.
#[test]
fn bad_churn_flags_exit_2_with_one_line() {
    let cases: [(&[&str], &str); 7] = [
        (&["--lifetime", "0"], "--lifetime"),
        (&["--lifetime", "soon"], "--lifetime"),
        (&["--lifetime", "5", "--proto", "udp"], "--lifetime"),
        (&["--lifetime", "5", "--rate", "100"], "--lifetime"),
        (&["--close", "rst"], "--close"),
        (&["--lifetime-jitter", "20%"], "--lifetime-jitter"),
        (&["--lifetime", "5", "--close", "server"], "--close"),
    ];
    for (args, flag) in cases {
        let o = crate::common::loadgen(args, Duration::from_secs(30));
        let err = crate::common::stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
    }
}
