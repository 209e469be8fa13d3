//! Small echo servers for the run tests: a thread per connection (std, blocking, with
//! read timeouts so every thread sees `stop` within 20 ms), with a configurable
//! misbehaviour: delay every echo, corrupt one byte per connection, echo in small
//! fragments, stall for a while, close each connection after so many bytes, accept
//! only the first K connections (the rest wait in a large accept queue, completed by
//! the kernel and never served), or be killed mid-run. Dropping a server stops it
//! and joins every thread.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the server misbehaves (default: a plain echo).
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Sleep this long before echoing each chunk read.
    pub delay: Duration,
    /// Flip the byte at this offset of each connection's stream.
    pub corrupt_at: Option<u64>,
    /// Echo in writes of at most this many bytes (forces partial reads).
    pub fragment: Option<usize>,
    /// From `.0` after the server started, hold every echo until `.0 + .1`.
    pub stall: Option<(Duration, Duration)>,
    /// Echo this many bytes of each connection, then close it (FIN).
    pub close_after: Option<u64>,
    /// Accept this many connections and never more; the listener's queue (4096)
    /// keeps the others, whose handshakes the kernel completes.
    pub accept_only: Option<usize>,
    /// The listener's queue instead of 4096 (0 holds one connection: with nothing
    /// accepted, the kernel drops later SYNs and their connects time out).
    pub backlog: Option<i32>,
}

/// Accept queue of every test server: large, so `accept_only` leaves the extra
/// connections established (as a server at its descriptor limit does).
const BACKLOG: i32 = 4096;

/// A running test server.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Tells every thread to end.
    stop: Arc<AtomicBool>,
    /// The accepted connections (clones), so `kill` can shut them down.
    conns: Arc<Mutex<Vec<TcpStream>>>,
    /// The accept thread and its connection threads.
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// Connections this server closed on purpose (`close_after`).
    closed: Arc<AtomicU64>,
}

impl Server {
    /// A plain echo server on 127.0.0.1 port 0.
    pub fn echo() -> Server {
        Server::start(Behaviour::default())
    }

    /// A server with `behaviour`.
    pub fn start(behaviour: Behaviour) -> Server {
        let listener = listen(behaviour.backlog.unwrap_or(BACKLOG));
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let threads: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let accept = {
            let (stop, conns, threads) = (stop.clone(), conns.clone(), threads.clone());
            let closed = closed.clone();
            let mut left = behaviour.accept_only.unwrap_or(usize::MAX);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if left == 0 {
                        // Accepts no more; the queue holds the rest until the end.
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    }
                    match listener.accept() {
                        Ok((s, _)) => {
                            left -= 1;
                            s.set_nonblocking(false).expect("blocking");
                            let _ = s.set_nodelay(true);
                            conns.lock().expect("lock").push(s.try_clone().expect("clone"));
                            let (stop, b, closed) =
                                (stop.clone(), behaviour.clone(), closed.clone());
                            let h = std::thread::spawn(move || serve(s, b, started, stop, &closed));
                            threads.lock().expect("lock").push(h);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2))
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            })
        };
        threads.lock().expect("lock").push(accept);
        Server { addr, stop, conns, threads, closed }
    }

    /// Connections this server closed on purpose (`close_after`).
    pub fn closed(&self) -> u64 {
        self.closed.load(Ordering::Relaxed)
    }

    /// Every accepted connection as the server sees it: (local, peer) addresses.
    pub fn accepted(&self) -> Vec<(SocketAddr, SocketAddr)> {
        let conns = self.conns.lock().expect("lock");
        conns.iter().filter_map(|s| Some((s.local_addr().ok()?, s.peer_addr().ok()?))).collect()
    }

    /// Kills the server as a crash would: stops accepting and closes every
    /// connection at once.
    pub fn kill(&self) {
        self.stop.store(true, Ordering::Relaxed);
        for s in self.conns.lock().expect("lock").iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let handles: Vec<_> = self.threads.lock().expect("lock").drain(..).collect();
        for h in handles {
            let _ = h.join();
        }
    }
}

/// A non-blocking listener on 127.0.0.1 port 0 with a `backlog`-deep queue.
fn listen(backlog: i32) -> TcpListener {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    socket.bind(&addr.into()).expect("bind");
    socket.listen(backlog).expect("listen");
    socket.set_nonblocking(true).expect("nonblocking");
    socket.into()
}

/// One connection: read, misbehave as told, write back.
fn serve(
    mut s: TcpStream,
    b: Behaviour,
    started: Instant,
    stop: Arc<AtomicBool>,
    closed: &AtomicU64,
) {
    let _ = s.set_read_timeout(Some(Duration::from_millis(20)));
    let mut buf = vec![0u8; 64 << 10];
    let mut offset = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let n = match s.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        if let Some(at) = b.corrupt_at {
            if at >= offset && at < offset + n as u64 {
                buf[(at - offset) as usize] ^= 0x5A;
            }
        }
        offset += n as u64;
        if !b.delay.is_zero() {
            std::thread::sleep(b.delay);
        }
        if let Some((from, len)) = b.stall {
            let (begin, end) = (started + from, started + from + len);
            let now = Instant::now();
            if now >= begin && now < end {
                std::thread::sleep(end - now);
            }
        }
        // The bytes to echo: all, or up to the close-after limit.
        let echoed_before = offset - n as u64;
        let echo = match b.close_after {
            Some(limit) => n.min(limit.saturating_sub(echoed_before) as usize),
            None => n,
        };
        let chunk = b.fragment.unwrap_or(echo).max(1);
        for piece in buf[..echo].chunks(chunk) {
            if s.write_all(piece).is_err() {
                return;
            }
        }
        if b.close_after.is_some_and(|limit| offset >= limit) {
            // Everything read was consumed, so the close sends FIN, not RST.
            let _ = s.shutdown(Shutdown::Both);
            closed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
}
