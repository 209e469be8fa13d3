//! Helpers: an in-process server that stops when dropped, an echo client that writes
//! and reads concurrently (so payloads larger than the socket buffers cannot
//! deadlock), and bounded waits.

pub mod process;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use echod::server::{Config, Model, Server, ServerError, ServerStats, ShutdownHandle, StatsHandle};

/// The longest any single wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// A server running on its own thread; dropping it shuts it down.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Stops it.
    pub handle: ShutdownHandle,
    /// Reads its counters.
    pub stats: StatsHandle,
    /// The thread blocked in `Server::run`.
    thread: Option<JoinHandle<Result<ServerStats, ServerError>>>,
}

impl Running {
    /// Binds and runs `config`.
    pub fn start(config: Config) -> Running {
        let server = Server::bind(config).expect("bind");
        let (addr, handle, stats) =
            (server.local_addr(), server.shutdown_handle(), server.stats_handle());
        let thread = Some(std::thread::spawn(move || server.run()));
        Running { addr, handle, stats, thread }
    }

    /// Shuts down and returns the final stats.
    pub fn stop(mut self) -> ServerStats {
        self.handle.shutdown();
        let thread = self.thread.take().expect("running");
        thread.join().expect("server thread").expect("server run")
    }

    /// Waits (bounded) until `cond` holds for the live stats; returns them.
    pub fn wait_stats(&self, what: &str, cond: impl Fn(&ServerStats) -> bool) -> ServerStats {
        wait_for(what, || {
            let s = self.stats.snapshot();
            cond(&s).then_some(s)
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Every model this machine runs: [`Model::ALL`], less `uring` where io_uring is
/// refused (said in one printed line, never silently).
pub fn models() -> Vec<Model> {
    Model::ALL.into_iter().filter(|&m| runs_here(m)).collect()
}

/// Whether `model` runs on this machine; if not, prints one line saying why.
pub fn runs_here(model: Model) -> bool {
    if model != Model::Uring {
        return true;
    }
    match echod::server::uring_probe() {
        Ok(_) => true,
        Err(why) => {
            eprintln!("skipped: --model uring: {why}");
            false
        }
    }
}

/// Polls `f` every 10 ms until it returns `Some`, for at most [`WAIT`].
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            // A bound on the wait, not a speed check: WAIT is far beyond any normal run.
            panic!("gave up waiting for {what} after {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A connected client with bounded reads and writes.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s.set_write_timeout(Some(WAIT)).expect("timeout");
    s
}

/// `n` random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(n as u64);
    (0..n).map(|_| rng.u8(..)).collect()
}

/// Writes `payload` (from a second thread) while reading the echo; returns what came
/// back, exactly `payload.len()` bytes.
pub fn echo(stream: &TcpStream, payload: &[u8]) -> Vec<u8> {
    let mut writer = stream.try_clone().expect("clone");
    let out = payload.to_vec();
    let w = std::thread::spawn(move || writer.write_all(&out));
    let mut back = vec![0u8; payload.len()];
    (&*stream).read_exact(&mut back).expect("read the echo");
    w.join().expect("writer").expect("write");
    back
}

/// Reads until EOF (bounded by the stream's read timeout).
pub fn read_to_eof(stream: &TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    (&*stream).read_to_end(&mut all).expect("read to EOF");
    all
}
