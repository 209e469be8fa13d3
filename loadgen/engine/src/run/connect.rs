//! The connect phase of one worker thread: non-blocking connects in a bounded window
//! (at most [`CONNECT_WINDOW`] outstanding), optionally paced to a rate, each
//! finished by mio's documented procedure (WRITABLE event, then `take_error()`, then
//! `peer_addr()`), each bounded by the connect timeout. Failures are counted by errno
//! name; [`hint`] says what to change for each. The phase itself is bounded: when a
//! connect has timed out and none has come up for a whole timeout, the connections
//! not yet started are counted as `NOT_STARTED` instead of being tried.

use std::io;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, Socket, Type};

use super::clock::Clock;
use super::conn::{Conn, State};
use super::histogram::record;
use super::layout::ConnSpec;
use super::tally::Tally;
use super::transport::OpenPlan;
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
pub(super) fn start(spec: &ConnSpec) -> io::Result<TcpStream> {
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
            common::sys::set_bind_address_no_port(&socket, true)?;
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
pub(super) fn finish(stream: &TcpStream) -> io::Result<bool> {
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

/// How far the connect phase has got with connects that time out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Progress {
    /// No connect has timed out: connects are started as the window and rate allow.
    Starting,
    /// A connect has timed out; connects go on being started while others come up.
    TimingOut,
    /// Connects timed out and none came up for a whole timeout: the server stopped
    /// accepting, so no more are started (the rest count as [`NOT_STARTED`]).
    Stalled,
}

/// One thread's connect phase under way.
struct ConnectPhase<'a> {
    /// Every connection's parameters; connection `i` is started from `specs[i]`.
    specs: &'a [ConnSpec],
    /// Pacing and bounds.
    limits: ConnectLimits,
    /// One per spec started so far (token = index), each connecting, up or dead.
    conns: Vec<Conn>,
    /// Indices of the connections still connecting (at most [`CONNECT_WINDOW`]).
    pending: Vec<usize>,
    /// Run-clock nanoseconds when the phase began.
    began: u64,
    /// When the last connection came up (`began` until one does).
    last_up: u64,
    /// Whether connects are timing out, or the phase stalled.
    progress: Progress,
}

impl<'a> ConnectPhase<'a> {
    fn new(specs: &'a [ConnSpec], limits: ConnectLimits, began: u64) -> Self {
        Self {
            specs,
            limits,
            conns: Vec::with_capacity(specs.len()),
            pending: Vec::with_capacity(CONNECT_WINDOW),
            began,
            last_up: began,
            progress: Progress::Starting,
        }
    }

    /// Whether connects are left to start or to finish.
    fn goes_on(&self) -> bool {
        (self.progress != Progress::Stalled && self.conns.len() < self.specs.len())
            || !self.pending.is_empty()
    }

    /// Bounded phase: start no more when the server stopped accepting.
    fn check_stall(&mut self, now: u64) {
        if self.progress == Progress::TimingOut
            && now.saturating_sub(self.last_up) > self.limits.timeout_ns
        {
            self.progress = Progress::Stalled;
        }
    }

    /// Starts connects while the window and the rate allow.
    fn start_more(&mut self, poll: &Poll, clock: &Clock, now: u64, tally: &mut Tally) {
        let allowed = match self.limits.rate_per_s {
            Some(r) => ((now - self.began) as f64 * r / 1e9) as usize + 1,
            None => usize::MAX,
        };
        while self.progress != Progress::Stalled
            && self.conns.len() < self.specs.len()
            && self.pending.len() < CONNECT_WINDOW
            && self.conns.len() < allowed
        {
            let i = self.conns.len();
            let spec = &self.specs[i];
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
                    self.conns.push(Conn::connecting(s, spec.id, t));
                    self.pending.push(i);
                }
                Err(e) => {
                    tally.connect_failed(&errno_name(&e));
                    self.conns.push(Conn::dead(spec.id));
                }
            }
        }
    }

    /// How long to poll: short while a rate paces the starts.
    fn wait(&self) -> Duration {
        match self.limits.rate_per_s {
            Some(_) if self.conns.len() < self.specs.len() => Duration::from_millis(1),
            _ => Duration::from_millis(10),
        }
    }

    /// The poll itself failed: what is pending counts as failed.
    fn fail_pending(&mut self, e: &io::Error, tally: &mut Tally) {
        for &i in &self.pending {
            tally.connect_failed(&errno_name(e));
            self.conns[i].close();
        }
        self.pending.clear();
    }

    /// Finishes the connects the events report ready: up, or failed.
    fn on_events(&mut self, events: &Events, now: u64, tally: &mut Tally) {
        for ev in events.iter() {
            let i = ev.token().0;
            let Some(c) = self.conns.get_mut(i) else { continue };
            let State::Connecting { stream, started_ns } = &c.state else { continue };
            let started_ns = *started_ns;
            match finish(stream) {
                Ok(true) => {
                    c.establish();
                    record(&mut tally.connect, now - started_ns);
                    tally.established += 1;
                    if let Some(src) = self.specs.get(i).and_then(|s| s.source) {
                        tally.established_from(src.ip());
                    }
                    self.last_up = now;
                }
                Ok(false) => {}
                Err(e) => {
                    tally.connect_failed(&errno_name(&e));
                    c.close();
                }
            }
        }
    }

    /// Times out the connects that took too long; forgets those finished.
    fn time_out(&mut self, now: u64, tally: &mut Tally) {
        let (conns, timeout_ns) = (&mut self.conns, self.limits.timeout_ns);
        let mut timed_out = false;
        self.pending.retain(|&i| {
            let c = &mut conns[i];
            let State::Connecting { started_ns, .. } = c.state else { return false };
            if now.saturating_sub(started_ns) >= timeout_ns {
                tally.connect_failed("ETIMEDOUT");
                c.close();
                timed_out = true;
                return false;
            }
            true
        });
        if timed_out && self.progress == Progress::Starting {
            self.progress = Progress::TimingOut;
        }
    }

    /// Ends the phase: whatever did not finish (stop, stall) is closed and counted,
    /// connections never started are dead; one [`Conn`] per spec.
    fn end(mut self, stopped: bool, end_ns: u64, tally: &mut Tally) -> Vec<Conn> {
        for c in self.conns.iter_mut().filter(|c| matches!(c.state, State::Connecting { .. })) {
            tally.connect_failed("ETIMEDOUT");
            c.close();
        }
        let not_started = self.specs.len() - self.conns.len();
        if not_started > 0 && !stopped {
            *tally.failed_by_errno.entry(NOT_STARTED.into()).or_default() += not_started as u64;
        }
        for spec in &self.specs[self.conns.len()..] {
            self.conns.push(Conn::dead(spec.id));
        }
        tally.connect_s = (end_ns - self.began) as f64 / 1e9;
        tally.connect_up_s = (self.last_up - self.began) as f64 / 1e9;
        self.conns
    }
}

/// Opens this thread's connections; returns one [`Conn`] per spec (token = index),
/// each `Up` or `Dead`. Counts go to `tally`; `stop` ends the phase early.
pub fn connect_all(
    poll: &mut Poll,
    events: &mut Events,
    plan: OpenPlan<'_>,
    limits: ConnectLimits,
    tally: &mut Tally,
) -> Vec<Conn> {
    let OpenPlan { specs, clock, stop } = plan;
    let mut phase = ConnectPhase::new(specs, limits, clock.now_ns());
    while phase.goes_on() {
        let now = clock.now_ns();
        if stop.load(Ordering::Relaxed) {
            break;
        }
        phase.check_stall(now);
        phase.start_more(poll, clock, now, tally);
        if let Err(e) = poll.poll(events, Some(phase.wait())) {
            if e.kind() != io::ErrorKind::Interrupted {
                phase.fail_pending(&e, tally);
                break;
            }
        }
        let now = clock.now_ns();
        phase.on_events(events, now, tally);
        phase.time_out(now, tally);
    }
    phase.end(stop.load(Ordering::Relaxed), clock.now_ns(), tally)
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
