//! The thread-per-connection model (`--model threads`), kept to show what the
//! default saves: each accepted connection gets a blocking thread with its own buffer
//! that reads and writes back until EOF. Accepting still happens in the workers'
//! event loops; only serving differs.
//!
//! Shutdown: a blocking read cannot be woken, so each thread reads with a short
//! timeout and checks the stop flag between reads; the worker joins them all.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::limit::ConnLimit;
use super::stats::{self, LiveStats};

/// How often a blocked connection thread looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// One worker's connection threads.
#[derive(Debug)]
pub(crate) struct ConnThreads {
    /// The worker's counters, shared by its connection threads (atomics).
    live: Arc<LiveStats>,
    /// The server's stop flag.
    stop: Arc<AtomicBool>,
    /// Each thread's read buffer size (`--buffer`).
    buffer: usize,
    /// Running threads; finished ones are pruned as new ones start.
    handles: Vec<JoinHandle<()>>,
}

impl ConnThreads {
    /// No threads yet.
    pub(crate) fn new(live: Arc<LiveStats>, stop: Arc<AtomicBool>, buffer: usize) -> Self {
        ConnThreads { live, stop, buffer, handles: Vec::new() }
    }

    /// Serves `stream` on a new thread; the limit's place is released when it ends.
    pub(crate) fn spawn(&mut self, stream: mio::net::TcpStream, limit: ConnLimit) {
        self.handles.retain(|h| !h.is_finished());
        let std_stream = TcpStream::from(std::os::fd::OwnedFd::from(stream));
        let (live, stop, buffer) = (self.live.clone(), self.stop.clone(), self.buffer);
        let active = live.snapshot().active + 1;
        live.add(stats::ACTIVE, 1);
        live.raise(stats::ACTIVE_PEAK, active);
        let spawned = std::thread::Builder::new().name("echod-conn".into()).spawn({
            let live = live.clone();
            move || {
                if serve(std_stream, &live, &stop, buffer).is_err() {
                    live.add(stats::CLOSED_BY_ERROR, 1);
                }
                live.sub(stats::ACTIVE, 1);
                limit.release();
            }
        });
        match spawned {
            Ok(h) => self.handles.push(h),
            Err(e) => {
                eprintln!("echod: could not start a connection thread: {e}; closing it");
                live.sub(stats::ACTIVE, 1);
            }
        }
    }

    /// Waits for every connection thread (each sees the stop flag within
    /// [`STOP_CHECK`]).
    pub(crate) fn join_all(&mut self) {
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// Echoes until EOF, an error, or shutdown.
fn serve(
    mut stream: TcpStream,
    live: &LiveStats,
    stop: &AtomicBool,
    buffer: usize,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(STOP_CHECK))?;
    stream.set_write_timeout(Some(STOP_CHECK))?;
    let mut buf = vec![0u8; buffer];
    while !stop.load(Ordering::Acquire) {
        let n = match stream.read(&mut buf) {
            Ok(0) => return Ok(()), // EOF: everything read was written back
            Ok(n) => n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                continue
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        live.add(stats::BYTES_IN, n as u64);
        live.add(stats::READS, 1);
        let mut done = 0;
        while done < n {
            match stream.write(&buf[done..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => {
                    done += k;
                    live.add(stats::BYTES_OUT, k as u64);
                }
                // A peer that does not read: wait, but let shutdown through.
                Err(e)
                    if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
                {
                    if stop.load(Ordering::Acquire) {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}
