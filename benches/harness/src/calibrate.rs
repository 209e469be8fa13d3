//! The calibration figure recorded right before each suite run: a one-connection
//! loopback ping-pong of 64-byte messages against a plain blocking echo thread inside
//! this process — never the server under test — so it measures the machine's state
//! (a noisy neighbour, a throttled CPU) and `loadgen compare --normalize` can divide
//! it out without cancelling a real server regression. Both threads are pinned to
//! one core, where a wake-up is cheapest and steadiest.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;

use engine::result::Calibration;

/// Bytes per ping.
const SIZE: usize = 64;

/// Ping-pongs for `duration` (at least 100 round trips) with both ends on `core`.
pub fn pingpong(duration: Duration, core: Option<usize>) -> anyhow::Result<Calibration> {
    let listener = TcpListener::bind("127.0.0.1:0").context("calibration: bind")?;
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let echo = std::thread::Builder::new().name("calibrate-echo".into()).spawn(move || {
        if let Some(c) = core {
            common::pin::pin_current_thread(c);
        }
        // Bounded: if the client never connects, the thread ends after 2 s.
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut s = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
                Err(_) => return,
            }
        };
        let _ = s.set_nonblocking(false);
        let _ = s.set_nodelay(true);
        let mut buf = [0u8; SIZE];
        while s.read_exact(&mut buf).is_ok() {
            if s.write_all(&buf).is_err() {
                return;
            }
        }
    })?;
    // The client runs on a thread of its own too: pinning the caller would pin the
    // suite's main thread, and every process it starts afterwards would inherit that.
    let client = std::thread::Builder::new().name("calibrate-ping".into()).spawn(move || {
        if let Some(c) = core {
            common::pin::pin_current_thread(c);
        }
        let mut s = TcpStream::connect(addr).context("calibration: connect")?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3)?;
        let (ping, mut pong) = ([7u8; SIZE], [0u8; SIZE]);
        let start = Instant::now();
        let mut n = 0u64;
        while n < 100 || start.elapsed() < duration {
            let t = Instant::now();
            s.write_all(&ping)?;
            s.read_exact(&mut pong).context("calibration: the echo thread stopped")?;
            h.record(t.elapsed().as_nanos().max(1) as u64)?;
            n += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        anyhow::Ok(Calibration {
            method: format!("pingpong-1conn-{SIZE}B-same-core"),
            round_trips_per_sec: n as f64 / secs,
            p50_us: h.value_at_quantile(0.5) as f64 / 1_000.0,
        })
    })?;
    let measured =
        client.join().map_err(|_| anyhow::anyhow!("calibration: the ping thread panicked"));
    let _ = echo.join();
    measured?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A short ping-pong yields a positive rate and median, and leaves the calling
    /// thread's affinity alone.
    #[test]
    fn measures_something() {
        let before = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let allowed =
            |s: &str| s.lines().find(|l| l.starts_with("Cpus_allowed_list")).map(String::from);
        let c = pingpong(Duration::from_millis(50), Some(0)).unwrap();
        let after = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        assert_eq!(allowed(&before), allowed(&after));
        assert!(c.round_trips_per_sec > 0.0 && c.p50_us > 0.0);
        assert!(c.method.starts_with("pingpong-1conn-64B"));
    }
}
