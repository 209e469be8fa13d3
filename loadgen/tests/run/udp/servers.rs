//! Small UDP echo servers for the UDP run tests: one thread, one socket on
//! 127.0.0.1 port 0 (blocking, with a 20 ms read timeout so it sees `stop`), a
//! large receive buffer (so 1,000 flows' datagrams queue without loss), with a
//! configurable misbehaviour: drop every Nth datagram, flip one byte of the Nth (or
//! of every one),
//! send every Nth twice, or hold every Nth datagram of a peer back and send it
//! after that peer's next. It records every peer it answers (each flow's
//! four-tuple). Dropping a server stops it and joins its thread.

use std::collections::{HashMap, HashSet};
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the server misbehaves (default: a plain echo). Counts start at 1.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Drop every Nth datagram received (all peers counted together).
    pub drop_every: Option<u64>,
    /// Flip the byte at `.1` of the `.0`th datagram received.
    pub corrupt: Option<(u64, usize)>,
    /// Flip the byte at this offset of every datagram received.
    pub corrupt_all: Option<usize>,
    /// Send every Nth datagram received twice.
    pub duplicate_every: Option<u64>,
    /// Hold every Nth datagram of each peer back and send it right after that
    /// peer's next one.
    pub reorder_every: Option<u64>,
}

/// A running UDP test server.
pub struct UdpServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Tells the thread to end.
    stop: Arc<AtomicBool>,
    /// The serving thread.
    thread: Option<JoinHandle<()>>,
    /// Every peer (source address and port) it received from.
    peers: Arc<Mutex<HashSet<SocketAddr>>>,
    /// Datagrams received.
    received: Arc<AtomicU64>,
}

impl UdpServer {
    /// A plain UDP echo server.
    pub fn echo() -> UdpServer {
        UdpServer::start(Behaviour::default())
    }

    /// A server with `behaviour`.
    pub fn start(behaviour: Behaviour) -> UdpServer {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).expect("socket");
        // Capped by the kernel at net.core.rmem_max.
        socket.set_recv_buffer_size(8 << 20).expect("SO_RCVBUF");
        socket.set_send_buffer_size(8 << 20).expect("SO_SNDBUF");
        let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        socket.bind(&any.into()).expect("bind");
        let socket: UdpSocket = socket.into();
        socket.set_read_timeout(Some(Duration::from_millis(20))).expect("timeout");
        let addr = socket.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let peers = Arc::new(Mutex::new(HashSet::new()));
        let received = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, peers, received) = (stop.clone(), peers.clone(), received.clone());
            std::thread::spawn(move || serve(&socket, &behaviour, &stop, &peers, &received))
        };
        UdpServer { addr, stop, thread: Some(thread), peers, received }
    }

    /// The peers it received from (one per flow: each its own four-tuple).
    pub fn peers(&self) -> HashSet<SocketAddr> {
        self.peers.lock().expect("lock").clone()
    }

    /// Datagrams received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for UdpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The serving loop: receive, misbehave as told, send back.
fn serve(
    socket: &UdpSocket,
    b: &Behaviour,
    stop: &AtomicBool,
    peers: &Mutex<HashSet<SocketAddr>>,
    received: &AtomicU64,
) {
    let mut buf = vec![0u8; 65_536];
    let mut held: HashMap<SocketAddr, Vec<u8>> = HashMap::new();
    let mut per_peer: HashMap<SocketAddr, u64> = HashMap::new();
    while !stop.load(Ordering::Relaxed) {
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let count = received.fetch_add(1, Ordering::Relaxed) + 1;
        peers.lock().expect("lock").insert(peer);
        if b.drop_every.is_some_and(|every| count % every == 0) {
            continue;
        }
        if let Some((nth, at)) = b.corrupt {
            if count == nth && at < n {
                buf[at] ^= 0x5A;
            }
        }
        if let Some(at) = b.corrupt_all.filter(|at| *at < n) {
            buf[at] ^= 0x5A;
        }
        if let Some(every) = b.reorder_every {
            let k = per_peer.entry(peer).or_default();
            *k += 1;
            if let Some(earlier) = held.remove(&peer) {
                let _ = socket.send_to(&buf[..n], peer);
                let _ = socket.send_to(&earlier, peer);
                continue;
            }
            if *k % every == 0 {
                held.insert(peer, buf[..n].to_vec());
                continue;
            }
        }
        let _ = socket.send_to(&buf[..n], peer);
        if b.duplicate_every.is_some_and(|every| count % every == 0) {
            let _ = socket.send_to(&buf[..n], peer);
        }
    }
}
