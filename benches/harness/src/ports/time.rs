//! The four-tuple experiment in time: the ephemeral-port limit that hurts in
//! production is a rate, not a count. Connect–close at full speed against one
//! destination, the client closing first, for a fixed time in each of four settings,
//! and compare the connections per second sustained with what
//! [`engine::limits::port_time::predict`] says:
//!
//! - `fin`, `tcp_tw_reuse` 0, 60 s: each port waits 60 s in TIME_WAIT, so the range
//!   sustains `ports / 60` per second and connect() fails with EADDRNOTAVAIL once
//!   the range is spent (over exactly one TIME_WAIT the count is the range);
//! - `fin`, `tcp_tw_reuse` 1 and 2 (2: loopback only, Linux's default), 5 s: a
//!   TIME_WAIT port is reused after `tcp_tw_reuse_delay` (1 s), so `ports / 1 s`,
//!   measured after the first delay (the first burst takes the whole range at once);
//! - `rst` (SO_LINGER 0), `tcp_tw_reuse` 0, 5 s: no TIME_WAIT, no port limit: no
//!   EADDRNOTAVAIL at all.
//!
//! Each setting has its own listening port (its own four-tuple family), so one's
//! TIME_WAIT never limits the next. Inside the private namespace only (the sysctls
//! are the namespace's own); each loop is bounded by its time.

use std::io::Read as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use socket2::{Domain, Socket, Type};

use engine::errno::errno_name;
use engine::limits::port_time::{predict, REUSE_DELAY_MS};
use engine::run::churn::CloseMode;

/// How close the measured rate must come to the predicted one.
pub const TOLERANCE: f64 = 0.10;

/// One setting's row.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TimeCase {
    /// `fin` or `rst`.
    pub close: String,
    /// `net.ipv4.tcp_tw_reuse` during the case.
    pub tw_reuse: u64,
    /// Seconds the loop ran.
    pub seconds: f64,
    /// Seconds of it left out of the rate (the first burst takes the whole range).
    pub skipped_s: f64,
    /// New connections per second the ports sustain (None: no port limit).
    pub predicted_per_s: Option<f64>,
    /// Connections per second completed after `skipped_s`.
    pub measured_per_s: f64,
    /// Connections completed in all.
    pub connections: u64,
    /// connect() calls refused with EADDRNOTAVAIL.
    pub eaddrnotavail: u64,
    /// Other failures, by errno name (none expected).
    pub other_failures: Vec<String>,
    /// Whether the measurement matches: within [`TOLERANCE`] of the prediction, and
    /// EADDRNOTAVAIL exactly where the ports limit the rate.
    pub as_predicted: bool,
}

/// The four settings, on `ports` ports, listening from `base_port` on; `long` is the
/// TIME_WAIT case's length (60 s: one TIME_WAIT; shorter in tests, where the range
/// is spent once in the window and the prediction is `ports / long`).
pub fn cases(ports: u64, base_port: u16, long: Duration) -> std::io::Result<Vec<TimeCase>> {
    let short = Duration::from_secs(5);
    let delay = engine::env::sysctl_u64("net.ipv4.tcp_tw_reuse_delay").unwrap_or(REUSE_DELAY_MS);
    let delay_s = Duration::from_millis(delay);
    let settings = [
        (CloseMode::Fin, 0, long, Duration::ZERO),
        (CloseMode::Fin, 1, short, delay_s),
        (CloseMode::Fin, 2, short, delay_s),
        (CloseMode::Rst, 0, short, Duration::ZERO),
    ];
    let mut rows = Vec::new();
    for (i, (close, reuse, seconds, skip)) in settings.into_iter().enumerate() {
        std::fs::write("/proc/sys/net/ipv4/tcp_tw_reuse", reuse.to_string())?;
        let port = base_port + i as u16;
        let p = predict(close, (Some(reuse), delay), true, (ports, 1));
        let mut row = churn_for(port, close, seconds, skip)?;
        row.tw_reuse = reuse;
        // Over a window shorter than one TIME_WAIT no port comes back: the range
        // once, so ports / window; over one TIME_WAIT that is ports / 60 s.
        let window = (seconds - skip).as_secs_f64();
        row.predicted_per_s = match p.per_family {
            Some(_) if p.held_s >= window => Some(ports as f64 / window),
            other => other,
        };
        row.as_predicted = judge(&row);
        rows.push(row);
    }
    std::fs::write("/proc/sys/net/ipv4/tcp_tw_reuse", "2")?;
    Ok(rows)
}

/// Within the tolerance where the ports limit the rate (and EADDRNOTAVAIL seen);
/// no EADDRNOTAVAIL where they do not.
fn judge(row: &TimeCase) -> bool {
    let clean = row.other_failures.is_empty();
    match row.predicted_per_s {
        Some(p) => {
            clean && row.eaddrnotavail > 0 && (row.measured_per_s - p).abs() <= TOLERANCE * p
        }
        None => clean && row.eaddrnotavail == 0 && row.connections > 0,
    }
}

/// Connect–close against 127.0.0.1:`port` for `seconds`, closing with `close`; the
/// rate counts the connections after `skip`.
fn churn_for(
    port: u16,
    close: CloseMode,
    seconds: Duration,
    skip: Duration,
) -> std::io::Result<TimeCase> {
    let server = Closer::start(port)?;
    let dst = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let (mut connections, mut after_skip, mut eaddrnotavail) = (0u64, 0u64, 0u64);
    let mut other = Vec::new();
    let began = Instant::now();
    while began.elapsed() < seconds {
        match connect_close(dst, close) {
            Ok(()) => {
                connections += 1;
                if began.elapsed() >= skip {
                    after_skip += 1;
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {
                eaddrnotavail += 1;
                // The range is spent: wait a little rather than spin on connect().
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => {
                if other.len() < 8 {
                    other.push(errno_name(&e));
                }
            }
        }
    }
    drop(server);
    let window = (seconds - skip).as_secs_f64();
    Ok(TimeCase {
        close: close.to_string(),
        tw_reuse: 0,
        seconds: seconds.as_secs_f64(),
        skipped_s: skip.as_secs_f64(),
        predicted_per_s: None,
        measured_per_s: after_skip as f64 / window,
        connections,
        eaddrnotavail,
        other_failures: other,
        as_predicted: false,
    })
}

/// One connection: connect, then close first (FIN) or reset (SO_LINGER 0: RST).
fn connect_close(dst: SocketAddr, close: CloseMode) -> std::io::Result<()> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.connect_timeout(&dst.into(), Duration::from_secs(2))?;
    if close == CloseMode::Rst {
        socket.set_linger(Some(Duration::ZERO))?;
    }
    drop(socket);
    Ok(())
}

/// The server of a time case: accepts each connection and reads it to its end
/// before closing, so the client always closes first (TIME_WAIT on its side).
struct Closer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Closer {
    fn start(port: u16) -> std::io::Result<Closer> {
        let listener = super::holder::listen([127, 0, 0, 1], port)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(format!("ports-close-{port}"))
            .spawn(move || serve(&listener, &flag))?;
        Ok(Closer { stop, thread: Some(thread) })
    }
}

impl Drop for Closer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Accepts until told to stop; each connection is read to EOF (or reset), then closed.
fn serve(listener: &TcpListener, stop: &AtomicBool) {
    let mut buf = [0u8; 64];
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((mut s, _)) => {
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
                drop::<TcpStream>(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// The table's lines.
pub fn render(rows: &[TimeCase], ports: u64) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nports over time: connect–close at full speed, the client closing first, {ports} ports, \
         one destination"
    );
    let _ = writeln!(
        s,
        "  {:<5} {:<13} {:>6} {:>14} {:>14} {:>12} {:>14}  verdict",
        "close",
        "tcp_tw_reuse",
        "secs",
        "predicted/s",
        "measured/s",
        "connections",
        "EADDRNOTAVAIL"
    );
    for r in rows {
        let predicted = r.predicted_per_s.map_or("no limit".to_string(), |p| format!("{p:.1}"));
        let verdict = if r.as_predicted { "ok" } else { "DIFFERS" };
        let _ = writeln!(
            s,
            "  {:<5} {:<13} {:>6.0} {:>14} {:>14.1} {:>12} {:>14}  {verdict}",
            r.close,
            r.tw_reuse,
            r.seconds,
            predicted,
            r.measured_per_s,
            r.connections,
            r.eaddrnotavail
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(predicted: Option<f64>, measured: f64, eaddrnotavail: u64) -> TimeCase {
        TimeCase {
            close: "fin".into(),
            tw_reuse: 0,
            seconds: 60.0,
            skipped_s: 0.0,
            predicted_per_s: predicted,
            measured_per_s: measured,
            connections: 100,
            eaddrnotavail,
            other_failures: Vec::new(),
            as_predicted: false,
        }
    }

    /// Within 10% with EADDRNOTAVAIL seen matches; past it, or without the errno,
    /// differs; no limit means no EADDRNOTAVAIL at all.
    #[test]
    fn verdicts() {
        assert!(judge(&row(Some(3.33), 3.35, 1000)));
        assert!(!judge(&row(Some(3.33), 4.0, 1000)));
        assert!(!judge(&row(Some(3.33), 3.33, 0)));
        assert!(judge(&row(None, 5000.0, 0)));
        assert!(!judge(&row(None, 5000.0, 3)));
        assert!(render(&[row(None, 5000.0, 0)], 200).contains("no limit"));
    }
}
