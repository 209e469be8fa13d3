//! The thread-per-connection model (`--model threads`), kept to show what the
//! default saves: each accepted connection gets a blocking thread with its own buffer
//! that reads and writes back until EOF. Accepting still happens in the workers'
//! event loops; only serving differs.
//!
//! Limits: at most `--max-threads` connection threads per process (one count shared
//! by its workers; the default and the ceiling come from `thread_budget`), each with
//! a [`THREAD_STACK`] stack. A connection past the cap, or one whose thread the OS
//! refuses, is accepted and closed at once, counted in `rejected_resources`, with a
//! hint printed once: never an abort, never a retry loop.
//!
//! Shutdown: a blocking read or write cannot be woken, so each thread reads and
//! writes with a [`STOP_CHECK`] timeout and looks at the stop flag between calls (a
//! peer that never reads leaves its thread in `write` at most that long). The workers
//! then wait at most [`EXIT_WAIT`] for the threads; any still running (a machine too
//! busy to schedule them) are left to end with the process, so a stop is bounded
//! whatever the peers do.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::accept::NoRoom;
use super::counters::Counter;
use super::limit::ConnLimit;
use super::stats::LiveStats;
use super::thread_budget::THREAD_STACK;

/// How often a blocked connection thread looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// How long shutdown waits for connection threads before leaving them to the exit.
const EXIT_WAIT: Duration = Duration::from_secs(1);

/// Set once the "threads left running" line was printed (every worker waits for the
/// same threads).
static LEFT_PRINTED: AtomicBool = AtomicBool::new(false);

/// One worker's way of starting connection threads.
#[derive(Debug)]
pub(crate) struct ConnThreads {
    /// The worker's counters, shared by its connection threads (atomics).
    live: Arc<LiveStats>,
    /// The server's stop flag.
    stop: Arc<AtomicBool>,
    /// Each thread's read buffer size (`--buffer`).
    buffer: usize,
    /// `--max-threads`: the running threads of this process, shared by its workers.
    cap: ConnLimit,
    /// The cap's value, for the hint.
    max: usize,
}

impl ConnThreads {
    /// No threads yet; `cap` counts this process's threads, at most `max`.
    pub(crate) fn new(
        live: Arc<LiveStats>,
        stop: Arc<AtomicBool>,
        buffer: usize,
        cap: ConnLimit,
        max: usize,
    ) -> Self {
        ConnThreads { live, stop, buffer, cap, max }
    }

    /// Serves `stream` on a new thread, which gives back `limit`'s place and its own
    /// when it ends. Past the cap, or when the OS refuses the thread, `stream` is
    /// closed and the caller keeps `limit`'s place to give back.
    pub(crate) fn spawn(
        &mut self,
        stream: mio::net::TcpStream,
        limit: ConnLimit,
    ) -> Result<(), NoRoom> {
        if !self.cap.admit() {
            return Err(NoRoom::MaxThreads(self.max)); // `stream` closes here
        }
        let std_stream = TcpStream::from(std::os::fd::OwnedFd::from(stream));
        let (live, stop, buffer, cap) =
            (self.live.clone(), self.stop.clone(), self.buffer, self.cap.clone());
        let spawned = std::thread::Builder::new()
            .name("echod-conn".into())
            .stack_size(THREAD_STACK)
            .spawn(move || {
                // Made inside the thread: if the spawn fails, nothing is given back twice.
                let _running = Running::start(&live, limit, cap);
                if serve(std_stream, &live, &stop, buffer).is_err() {
                    live.add(Counter::ClosedByError, 1);
                }
            });
        match spawned {
            Ok(_detached) => Ok(()), // waited for through `cap`, not joined
            Err(e) => {
                self.cap.release(); // the closure (and the stream) were dropped unrun
                Err(NoRoom::Spawn(e))
            }
        }
    }

    /// Waits until every connection thread of this process ended, at most
    /// [`EXIT_WAIT`] (each sees the stop flag within [`STOP_CHECK`] once scheduled);
    /// says so once if some are left to end with the process.
    pub(crate) fn wait_all(&self) {
        let deadline = Instant::now() + EXIT_WAIT;
        while self.cap.open() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let left = self.cap.open();
        if left > 0 && !LEFT_PRINTED.swap(true, Ordering::Relaxed) {
            eprintln!(
                "echod: {left} connection threads still running {EXIT_WAIT:?} after shutdown \
                 began; leaving them to end with the process"
            );
        }
    }
}

/// A running connection thread's places and counts, given back when it ends (also
/// by a panic's unwinding).
struct Running<'a> {
    /// The worker's counters.
    live: &'a LiveStats,
    /// `--max-conns`'s place.
    limit: ConnLimit,
    /// `--max-threads`'s place.
    cap: ConnLimit,
}

impl<'a> Running<'a> {
    fn start(live: &'a LiveStats, limit: ConnLimit, cap: ConnLimit) -> Running<'a> {
        let active = live.add(Counter::Active, 1);
        live.raise(Counter::ActivePeak, active);
        Running { live, limit, cap }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.live.sub(Counter::Active, 1);
        self.limit.release();
        self.cap.release();
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
        live.add(Counter::BytesIn, n as u64);
        live.add(Counter::Reads, 1);
        let mut done = 0;
        while done < n {
            match stream.write(&buf[done..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => {
                    done += k;
                    live.add(Counter::BytesOut, k as u64);
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

#[cfg(test)]
mod tests {
    use super::super::thread_budget::MAPS_PER_THREAD;
    use super::*;

    fn maps() -> u64 {
        let text = std::fs::read_to_string("/proc/self/maps").expect("maps");
        text.lines().count() as u64
    }

    /// A connection thread adds about `MAPS_PER_THREAD` mappings (the figure the
    /// `--max-threads` ceiling divides `vm.max_map_count` by): 32 parked threads built
    /// like connection threads add at most 4 each, plus slack for malloc arenas.
    #[test]
    fn maps_per_thread_is_what_the_budget_assumes() {
        let before = maps();
        let barrier = Arc::new(std::sync::Barrier::new(33));
        let threads: Vec<_> = (0..32)
            .map(|_| {
                let b = barrier.clone();
                std::thread::Builder::new()
                    .stack_size(THREAD_STACK)
                    .spawn(move || {
                        let buf = vec![1u8; 64 * 1024];
                        b.wait(); // all alive: counted
                        b.wait();
                        drop(buf);
                    })
                    .expect("spawn")
            })
            .collect();
        barrier.wait();
        let added = maps().saturating_sub(before);
        barrier.wait();
        for t in threads {
            t.join().expect("join");
        }
        assert!(added >= 32, "threads added only {added} mappings");
        assert!(added <= 32 * MAPS_PER_THREAD + 64, "32 threads added {added} mappings");
    }
}
