//! One worker's UDP loop (`--proto udp|both`): a thread with its own mio `Poll`, one
//! SO_REUSEPORT UDP socket on the server's port (the kernel picks a worker's socket
//! per datagram by four-tuple hash) and one preallocated batch
//! ([`Datagrams`](common::sys::Datagrams): 32 slots of 64 KiB). It runs beside the
//! TCP worker of the same id (`--proto both`), on the same core; the TCP loop has no
//! UDP branch.
//!
//! The loop: poll; while the socket may hold datagrams, read a batch with one
//! `recvmmsg`, decide each datagram's fate, send the answered ones back with
//! `sendmmsg`; publish the counters once per turn. Invariants:
//!
//! - Nothing is queued: a datagram the socket cannot send now (EAGAIN) or refuses is
//!   counted in `datagrams_dropped`; memory stays the batch's whatever the peers do.
//! - A datagram from a port below 1024 or from echod's own port is never answered
//!   (counted in `datagrams_refused`): a forged datagram between two echo services
//!   would otherwise bounce between them forever. Other echo services on high ports
//!   are stopped by `--udp-rate-limit` (`udp_rate`: counted in
//!   `datagrams_rate_limited`).
//! - On a socket that may receive them (any address but loopback) each datagram's
//!   destination is read (IP_PKTINFO), and one sent to a broadcast or multicast
//!   address is never answered (counted in `datagrams_not_unicast`).
//! - Readiness is edge-triggered, so the socket is read until `WouldBlock` or a
//!   batch that is not full (recvmmsg stops when the queue is empty); a turn
//!   takes at most [`BATCHES_PER_TURN`] batches, then the loop polls without waiting
//!   ([`Queue::Pending`]) so the stop flag and the published stats stay current
//!   under a flood.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mio::{Events, Interest, Poll, Token, Waker};

use super::base::{self, WAKER};
use super::counters::Counters;
use super::stats::LiveStats;
use super::udp_rate::RateLimit;
use super::ServerError;
use common::sys::{Datagrams, BATCH};

/// The UDP socket's token.
const SOCKET: Token = Token(0);

/// Batches one turn reads at most (32 datagrams each) before it looks at the stop
/// flag and publishes the counters.
const BATCHES_PER_TURN: usize = 64;

/// Turns between two readings of the socket's drop count (SO_MEMINFO, one system
/// call): kept off the per-datagram path.
const TURNS_PER_DROP_READ: u64 = 64;

/// Whether the socket may hold datagrams not yet read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Queue {
    /// Read until `WouldBlock`: the next edge says when more came.
    Drained,
    /// A turn ended before `WouldBlock` (or an edge came): read on without waiting.
    Pending,
}

/// What happens to one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// Sent back to its sender.
    Echo,
    /// Not answered: the loop guard ([`fate`]).
    Refuse,
    /// Cut by the kernel (longer than a slot): not sent back half.
    Drop,
    /// Sent to a broadcast or multicast address: not answered.
    NotUnicast,
    /// Its source used up its `--udp-rate-limit`: not answered.
    RateLimited,
}

/// What a worker's UDP loop answers: built from the config by the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UdpPolicy {
    /// `--udp-rate-limit` in force (answers per second per source), or none.
    pub(crate) rate: Option<u32>,
    /// Read each datagram's destination and answer only unicast ones.
    pub(crate) check_destination: bool,
}

/// The loop guard: a datagram from a privileged port (below 1024: another service,
/// such as echo on 7 or a DNS server) or from echod's own port (another echod, or
/// this one through a forged source) is not answered; one whose sender is not an IP
/// address is not either.
fn fate(source: Option<SocketAddr>, own_port: u16, truncated: bool) -> Fate {
    match source {
        _ if truncated => Fate::Drop,
        Some(s) if s.port() >= 1024 && s.port() != own_port => Fate::Echo,
        _ => Fate::Refuse,
    }
}

/// A worker's UDP loop before its thread starts: built and bound by `Server::bind`.
#[derive(Debug)]
pub(crate) struct UdpWorker {
    /// Worker id: the same as the TCP worker beside it (`--proto both`).
    pub(crate) id: usize,
    /// This loop's poll; the socket and the waker are registered in it.
    poll: Poll,
    /// The SO_REUSEPORT socket.
    socket: mio::net::UdpSocket,
    /// The port echod serves: datagrams from it are refused.
    own_port: u16,
    /// The one batch every read and write of this loop goes through.
    datagrams: Datagrams,
    /// Where the counters are published (merged with the TCP worker's of the same id
    /// in the snapshots).
    pub(crate) live: Arc<LiveStats>,
    /// Set by the shutdown handle before it wakes the poll.
    stop: Arc<AtomicBool>,
    /// This loop's counters (plain integers: only this thread writes them).
    counters: Counters,
    /// `--udp-rate-limit`, per source; `None`: no limit.
    rate: Option<RateLimit>,
    /// The socket's last drop count (a 32-bit counter that wraps): `kernel_drops`
    /// adds the differences.
    last_drops: Option<u32>,
}

impl UdpWorker {
    /// Worker `id`'s loop over `socket`: a new poll with the socket and a waker
    /// registered. Returns the waker for the shutdown handle.
    pub(crate) fn new(
        id: usize,
        socket: UdpSocket,
        stop: Arc<AtomicBool>,
        policy: UdpPolicy,
    ) -> Result<(UdpWorker, Waker), ServerError> {
        let poll_err = |source| ServerError::Poll { worker: id, source };
        let local = socket.local_addr().map_err(poll_err)?;
        let own_port = local.port();
        let datagrams = if policy.check_destination {
            common::sys::set_recv_destination(&socket, local.is_ipv6()).map_err(poll_err)?;
            Datagrams::with_destinations()
        } else {
            Datagrams::new()
        };
        let poll = Poll::new().map_err(poll_err)?;
        let mut socket = mio::net::UdpSocket::from_std(socket);
        poll.registry().register(&mut socket, SOCKET, Interest::READABLE).map_err(poll_err)?;
        let waker = Waker::new(poll.registry(), WAKER).map_err(poll_err)?;
        let worker = UdpWorker {
            id,
            poll,
            socket,
            own_port,
            datagrams,
            live: Arc::new(LiveStats::new(id)),
            stop,
            counters: Counters::default(),
            rate: policy.rate.map(RateLimit::new),
            last_drops: None,
        };
        Ok((worker, waker))
    }

    /// Runs the loop until shutdown; pins first when `core` is given.
    pub(crate) fn run(mut self, core: Option<usize>) -> io::Result<()> {
        base::pin_worker(self.id, &self.live, core);
        let result = self.serve();
        self.read_kernel_drops();
        self.live.publish(&self.counters);
        result
    }

    /// The socket's drop count (one getsockopt), into the counters.
    fn read_kernel_drops(&mut self) {
        if let Ok(drops) = common::sys::socket_drops(&self.socket) {
            add_drops(&mut self.counters.kernel_drops, &mut self.last_drops, drops);
        }
    }

    fn serve(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(4);
        let mut queue = Queue::Pending;
        let mut turns: u64 = 0;
        while !self.stop.load(Ordering::Acquire) {
            let timeout = match queue {
                Queue::Pending => Some(Duration::ZERO),
                Queue::Drained => None,
            };
            base::wait_on(&mut self.poll, &mut events, timeout)?;
            if events.iter().any(|e| e.token() == SOCKET) {
                queue = Queue::Pending;
            }
            if queue == Queue::Pending {
                queue = self.drain()?;
            }
            turns = turns.wrapping_add(1);
            // Drops happen when the queue is full, that is when turns come fast.
            if turns % TURNS_PER_DROP_READ == 0 {
                self.read_kernel_drops();
            }
            self.live.publish(&self.counters);
        }
        Ok(())
    }

    /// Reads and answers batches until `WouldBlock` or the turn's budget ends.
    fn drain(&mut self) -> io::Result<Queue> {
        for _ in 0..BATCHES_PER_TURN {
            match self.datagrams.recv(&self.socket) {
                Ok(received) => {
                    self.answer(received);
                    // A short batch: recvmmsg found the queue empty before the batch
                    // was full, so every datagram from then on comes with an edge of
                    // its own (each arrival wakes the poll): drained, without the call
                    // that would only say WouldBlock.
                    if received < BATCH {
                        return Ok(Queue::Drained);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Queue::Drained),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // An unconnected UDP socket reports no peer's errors: this is the
                // socket's own failure, and the worker's.
                Err(e) => return Err(e),
            }
        }
        Ok(Queue::Pending)
    }

    /// Counts the batch's `received` datagrams and sends back those that may be.
    fn answer(&mut self, received: usize) {
        let mut echo = [0u8; BATCH];
        let mut count = 0;
        let (d, c) = (&self.datagrams, &mut self.counters);
        let now = self.rate.as_ref().map_or(0.0, RateLimit::now);
        for i in 0..received {
            c.datagrams_in += 1;
            c.datagram_bytes_in += d.payload(i).len() as u64;
            let peer = d.peer(i);
            let fate = match fate(peer, self.own_port, d.truncated(i)) {
                Fate::Echo if !d.unicast(i) => Fate::NotUnicast,
                Fate::Echo => match (&mut self.rate, peer) {
                    (Some(rate), Some(p)) => {
                        if rate.allow(p, now) {
                            Fate::Echo
                        } else {
                            Fate::RateLimited
                        }
                    }
                    _ => Fate::Echo,
                },
                other => other,
            };
            match fate {
                Fate::Echo => {
                    echo[count] = i as u8; // i < BATCH = 32
                    count += 1;
                }
                Fate::Refuse => c.datagrams_refused += 1,
                Fate::Drop => c.datagrams_dropped += 1,
                Fate::NotUnicast => c.datagrams_not_unicast += 1,
                Fate::RateLimited => c.datagrams_rate_limited += 1,
            }
        }
        self.send_back(&echo[..count]);
    }

    /// Sends `slots` back, each to its sender. Bounded: every call either sends at
    /// least one datagram or gives at least one up; an EINTR is retried at most once
    /// per datagram.
    fn send_back(&mut self, slots: &[u8]) {
        let (mut from, mut interrupted) = (0, 0);
        while from < slots.len() {
            let rest = &slots[from..];
            match self.datagrams.send_back(&self.socket, rest) {
                Ok(sent) if sent > 0 => {
                    let sent = sent.min(rest.len());
                    self.counters.datagrams_out += sent as u64;
                    for &s in &rest[..sent] {
                        let len = self.datagrams.payload(usize::from(s)).len();
                        self.counters.datagram_bytes_out += len as u64;
                    }
                    from += sent;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted && interrupted < slots.len() => {
                    interrupted += 1;
                }
                // The send buffer is full (or the kernel sent none): drop the rest.
                Ok(_) => self.drop_rest(rest.len(), &mut from),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.drop_rest(rest.len(), &mut from);
                }
                // This datagram's sender cannot be sent to (EPERM from a firewall,
                // ENETUNREACH for a forged source...): give it up, send the others.
                Err(_) => {
                    self.counters.datagrams_dropped += 1;
                    from += 1;
                }
            }
        }
    }

    fn drop_rest(&mut self, rest: usize, from: &mut usize) {
        self.counters.datagrams_dropped += rest as u64;
        *from += rest;
    }
}

/// Adds the growth of the socket's 32-bit drop count since `last` to `total`: the
/// kernel's counter wraps, the total does not go down.
fn add_drops(total: &mut u64, last: &mut Option<u32>, now: u32) {
    let before = last.unwrap_or(0);
    *total += u64::from(now.wrapping_sub(before));
    *last = Some(now);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The drop count adds what the socket's counter grew by, across its wrap.
    #[test]
    fn kernel_drops_survive_the_wrap() {
        let (mut total, mut last) = (0u64, None);
        add_drops(&mut total, &mut last, 10);
        add_drops(&mut total, &mut last, u32::MAX - 5);
        assert_eq!(total, u64::from(u32::MAX - 5));
        add_drops(&mut total, &mut last, 4); // wrapped: 10 more
        assert_eq!(total, u64::from(u32::MAX - 5) + 10);
        add_drops(&mut total, &mut last, 4);
        assert_eq!(total, u64::from(u32::MAX - 5) + 10);
    }

    fn from(addr: &str) -> Option<SocketAddr> {
        Some(addr.parse().expect("addr"))
    }

    /// The loop guard: ports below 1024 and echod's own port are refused, the rest
    /// answered; a cut datagram is dropped, not sent back half.
    #[test]
    fn fate_of_a_datagram() {
        assert_eq!(fate(from("127.0.0.1:40000"), 12000, false), Fate::Echo);
        assert_eq!(fate(from("[::1]:1024"), 12000, false), Fate::Echo);
        assert_eq!(fate(from("127.0.0.2:12000"), 12000, false), Fate::Refuse);
        assert_eq!(fate(from("127.0.0.1:7"), 12000, false), Fate::Refuse);
        assert_eq!(fate(from("127.0.0.1:1023"), 12000, false), Fate::Refuse);
        assert_eq!(fate(from("127.0.0.1:0"), 12000, false), Fate::Refuse);
        assert_eq!(fate(None, 12000, false), Fate::Refuse);
        assert_eq!(fate(from("127.0.0.1:40000"), 12000, true), Fate::Drop);
    }

    /// A worker's loop echoes a datagram, refuses one from its own port, counts
    /// both, and stops when the flag is set and the waker fires.
    #[test]
    fn loop_echoes_refuses_and_stops() {
        let socket = common::net::udp_socket("127.0.0.1:0".parse().expect("addr")).expect("udp");
        let addr = socket.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let policy = UdpPolicy { rate: None, check_destination: false };
        let (worker, waker) = UdpWorker::new(4, socket, stop.clone(), policy).expect("worker");
        let live = worker.live.clone();
        let thread = std::thread::spawn(move || worker.run(None));
        let client = UdpSocket::bind("127.0.0.1:0").expect("client");
        client.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        client.send_to(b"ping", addr).expect("send");
        let mut buf = [0u8; 16];
        let (n, src) = client.recv_from(&mut buf).expect("the echo");
        assert_eq!((&buf[..n], src), (&b"ping"[..], addr));
        // From echod's own port, on another loopback address.
        let twin = UdpSocket::bind(("127.0.0.2", addr.port()));
        if let Ok(twin) = &twin {
            twin.send_to(b"loop", addr).expect("send");
        }
        // Bounded: the refusal is counted within a few turns.
        for _ in 0..2000 {
            if twin.is_err() || live.snapshot().counters.datagrams_refused == 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::Release);
        waker.wake().expect("wake");
        thread.join().expect("joined").expect("clean exit");
        let c = live.snapshot().counters;
        assert_eq!((c.datagrams_out, c.datagram_bytes_out), (1, 4));
        if twin.is_ok() {
            assert_eq!((c.datagrams_in, c.datagrams_refused), (2, 1));
        }
        assert_eq!(live.snapshot().id, 4);
    }
}
