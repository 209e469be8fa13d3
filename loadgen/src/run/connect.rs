//! The connect phase of one worker thread: non-blocking connects in a bounded window
//! (at most [`CONNECT_WINDOW`] outstanding), optionally paced to a rate, each
//! finished by mio's documented procedure (WRITABLE event, then `take_error()`, then
//! `peer_addr()`), each bounded by the connect timeout. Failures are counted by errno
//! name; [`hint`] says what to change for each. The phase itself is bounded: when a
//! connect has timed out and none has come up for a whole timeout, the connections
//! not yet started are counted as `NOT_STARTED` instead of being tried.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, Socket, Type};

use super::clock::Clock;
use super::conn::{Conn, State};
use super::layout::ConnSpec;
use super::tally::{record, Tally};
use crate::errno::{errno_hint, errno_name};

/// Connects outstanding at once per thread (a SYN burst that fits common backlogs).
pub const CONNECT_WINDOW: usize = 256;

/// Pacing and bounds of the connect phase, per thread.
#[derive(Clone, Copy, Debug)]
pub struct ConnectLimits {
    /// This thread's share of `--connect-rate`; `None`: as fast as possible.
    pub rate_per_s: Option<f64>,
    /// Longest wait for one connect, in nanoseconds.
    pub timeout_ns: u64,
}

/// The key counted for connections never tried because the phase stalled.
pub const NOT_STARTED: &str = "NOT_STARTED";

/// One line on what to change when connects fail with `errno` (crate::errno's
/// hints, plus the stalled phase).
pub fn hint(errno: &str) -> &'static str {
    match errno {
        NOT_STARTED => "the connect phase stalled (connects timed out and none came up for --connect-timeout): check the server",
        other => errno_hint(other),
    }
}

/// Creates a non-blocking socket and starts connecting it.
fn start(spec: &ConnSpec) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(spec.target),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    socket.set_nodelay(true)?;
    if let Some(src) = spec.source {
        // Bind the source address only: the port is chosen at connect() time, per
        // destination, so a family's ports are not reserved by bind() (tcpkali's cap).
        if src.is_ipv4() && src.port() == 0 {
            echod::sys::set_bind_address_no_port(&socket, true)?;
        }
        socket.bind(&src.into())?;
    }
    match socket.connect(&spec.target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

/// Checks a connection that reported readiness: `Ok(true)` established,
/// `Ok(false)` not yet (a spurious event), `Err` failed.
fn finish(stream: &TcpStream) -> io::Result<bool> {
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Opens this thread's connections; returns one [`Conn`] per spec (token = index),
/// each `Up` or `Dead`. Counts go to `tally`; `stop` ends the phase early.
pub fn connect_all(
    poll: &mut Poll,
    events: &mut Events,
    specs: &[ConnSpec],
    limits: ConnectLimits,
    clock: &Clock,
    stop: &AtomicBool,
    tally: &mut Tally,
) -> Vec<Conn> {
    let began = clock.now_ns();
    let mut conns: Vec<Conn> = Vec::with_capacity(specs.len());
    let mut pending: Vec<usize> = Vec::with_capacity(CONNECT_WINDOW);
    let mut last_up = began;
    let mut timed_out = false;
    let mut stalled = false;
    while (!stalled && conns.len() < specs.len()) || !pending.is_empty() {
        let now = clock.now_ns();
        if stop.load(Ordering::Relaxed) {
            break;
        }
        // Bounded phase: start no more when the server stopped accepting.
        stalled |= timed_out && now.saturating_sub(last_up) > limits.timeout_ns;
        // Start connects while the window and the rate allow.
        let allowed = match limits.rate_per_s {
            Some(r) => ((now - began) as f64 * r / 1e9) as usize + 1,
            None => usize::MAX,
        };
        while !stalled
            && conns.len() < specs.len()
            && pending.len() < CONNECT_WINDOW
            && conns.len() < allowed
        {
            let i = conns.len();
            let spec = &specs[i];
            let t = clock.now_ns();
            match start(spec).and_then(|mut s| {
                poll.registry().register(
                    &mut s,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                Ok(s)
            }) {
                Ok(s) => {
                    conns.push(Conn::connecting(s, spec.id, t));
                    pending.push(i);
                }
                Err(e) => {
                    tally.connect_failed(&errno_name(&e));
                    conns.push(Conn::dead(spec.id));
                }
            }
        }
        let wait = match limits.rate_per_s {
            Some(_) if conns.len() < specs.len() => Duration::from_millis(1),
            _ => Duration::from_millis(10),
        };
        if let Err(e) = poll.poll(events, Some(wait)) {
            if e.kind() != io::ErrorKind::Interrupted {
                // The poll itself failed: count what is pending as failed and stop.
                for &i in &pending {
                    tally.connect_failed(&errno_name(&e));
                    conns[i].close();
                }
                pending.clear();
                break;
            }
        }
        let now = clock.now_ns();
        for ev in events.iter() {
            let i = ev.token().0;
            let Some(c) = conns.get_mut(i) else { continue };
            if c.state != State::Connecting {
                continue;
            }
            let Some(stream) = c.stream.as_ref() else { continue };
            match finish(stream) {
                Ok(true) => {
                    c.state = State::Up;
                    record(&mut tally.connect, now - c.connect_started_ns);
                    tally.established += 1;
                    if let Some(src) = specs.get(i).and_then(|s| s.source) {
                        tally.established_from(src.ip());
                    }
                    last_up = now;
                }
                Ok(false) => {}
                Err(e) => {
                    tally.connect_failed(&errno_name(&e));
                    c.close();
                }
            }
        }
        // Time out connects that took too long.
        pending.retain(|&i| {
            let c = &mut conns[i];
            if c.state != State::Connecting {
                return false;
            }
            if now.saturating_sub(c.connect_started_ns) >= limits.timeout_ns {
                tally.connect_failed("ETIMEDOUT");
                c.close();
                timed_out = true;
                return false;
            }
            true
        });
    }
    // Whatever did not finish (stop, stall) is closed and counted.
    for c in conns.iter_mut().filter(|c| c.state == State::Connecting) {
        tally.connect_failed("ETIMEDOUT");
        c.close();
    }
    let not_started = specs.len() - conns.len();
    if not_started > 0 && !stop.load(Ordering::Relaxed) {
        *tally.failed_by_errno.entry(NOT_STARTED.into()).or_default() += not_started as u64;
    }
    for spec in &specs[conns.len()..] {
        conns.push(Conn::dead(spec.id));
    }
    tally.connect_s = (clock.now_ns() - began) as f64 / 1e9;
    tally.connect_up_s = (last_up - began) as f64 / 1e9;
    conns
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stalled phase has its own hint; errnos use the crate's.
    #[test]
    fn hints() {
        assert!(hint(NOT_STARTED).contains("stalled"));
        assert!(hint("EMFILE").contains("RLIMIT_NOFILE"));
    }
}
