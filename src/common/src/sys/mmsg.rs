//! Batched datagram I/O: `recvmmsg` and `sendmmsg`, which neither std, socket2 nor
//! mio wrap, over one preallocated [`Datagrams`] batch, so a busy UDP worker reads
//! and answers up to [`BATCH`] datagrams per system call.
//!
//! Invariants: a batch owns every buffer the kernel reads or writes (a
//! [`DATAGRAM_SLOT`]-byte payload slot and a peer address per datagram), allocated
//! once in [`Datagrams::new`]; a call only builds the message
//! headers on the stack (pointers into those buffers: nothing allocated per call, and
//! no pointer is kept between calls). After a receive, slots `0..received()` hold
//! what came, exactly as many bytes as each datagram had; `send_back` sends a slot's
//! bytes to the address it came from and nothing else.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use super::pktinfo::{self, Control};

/// Datagrams per system call, at most.
pub const BATCH: usize = 32;

/// Bytes per payload slot: the largest UDP payload (65,507 bytes over IPv4, 65,527
/// over IPv6) fits, so no datagram is cut.
pub const DATAGRAM_SLOT: usize = 64 * 1024;

/// What the kernel said about one received datagram.
#[derive(Clone, Copy, Debug, Default)]
struct Received {
    /// Its payload's length.
    len: usize,
    /// How many bytes of its peer's address the kernel wrote.
    peer_len: libc::socklen_t,
    /// `MSG_TRUNC`: it was longer than its slot (cannot happen with
    /// [`DATAGRAM_SLOT`]-byte slots; checked all the same).
    truncated: bool,
    /// With destinations asked for ([`Datagrams::with_destinations`]): it was sent
    /// to a unicast address of this host. Without: true.
    unicast: bool,
}

/// Up to [`BATCH`] datagrams: the buffers one `recvmmsg` fills and one `sendmmsg`
/// sends back from.
pub struct Datagrams {
    /// [`BATCH`] payload slots of [`DATAGRAM_SLOT`] bytes, back to back.
    payload: Box<[u8]>,
    /// Each slot's peer address, as the kernel wrote it.
    peers: Box<[libc::sockaddr_storage]>,
    /// What the last receive put in each slot.
    received: Box<[Received]>,
    /// How many slots the last receive filled.
    count: usize,
    /// One control buffer per slot where each datagram's destination is asked for
    /// (a socket that may receive broadcasts or multicasts); `None`: not read.
    control: Option<Box<[Control]>>,
}

impl std::fmt::Debug for Datagrams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datagrams").field("received", &self.count).finish_non_exhaustive()
    }
}

impl Default for Datagrams {
    fn default() -> Datagrams {
        Datagrams::new()
    }
}

impl Datagrams {
    /// A batch of [`BATCH`] slots: 2 MiB of payload (touched only as datagrams fill
    /// it), allocated here once.
    pub fn new() -> Datagrams {
        // SAFETY: sockaddr_storage is a C struct of integers; all zeros is a valid
        // value (family AF_UNSPEC). Only its bytes are ever read, never a pointer.
        let empty_peer: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        Datagrams {
            payload: vec![0; BATCH * DATAGRAM_SLOT].into_boxed_slice(),
            peers: vec![empty_peer; BATCH].into_boxed_slice(),
            received: vec![Received::default(); BATCH].into_boxed_slice(),
            count: 0,
            control: None,
        }
    }

    /// A batch that also reads each datagram's destination (the socket must have
    /// [`set_recv_destination`](super::set_recv_destination) on): see [`Self::unicast`].
    pub fn with_destinations() -> Datagrams {
        let control = vec![Control::default(); BATCH].into_boxed_slice();
        Datagrams { control: Some(control), ..Datagrams::new() }
    }

    /// Whether slot `i`'s datagram was sent to a unicast address of this host
    /// (always true for a batch that does not read destinations).
    pub fn unicast(&self, i: usize) -> bool {
        self.slot(i).is_some_and(|r| r.unicast)
    }

    /// How many datagrams the last receive took (slots `0..received()`).
    pub fn received(&self) -> usize {
        self.count
    }

    /// Slot `i`'s datagram, byte for byte (empty past `received()`).
    pub fn payload(&self, i: usize) -> &[u8] {
        let len = self.slot(i).map_or(0, |r| r.len.min(DATAGRAM_SLOT));
        let start = i.min(BATCH - 1) * DATAGRAM_SLOT;
        &self.payload[start..start + len]
    }

    /// Who sent slot `i`'s datagram (`None` past `received()`, or for an address
    /// that is not IPv4 or IPv6).
    pub fn peer(&self, i: usize) -> Option<SocketAddr> {
        let r = self.slot(i)?;
        let len = r.peer_len.min(std::mem::size_of::<libc::sockaddr_storage>() as u32);
        // SAFETY: recvmmsg wrote a socket address of `peer_len` bytes (at most the
        // storage's size, clamped all the same) into `peers[i]`; SockAddr::new needs
        // the storage and the length of what is in it, which these are.
        let addr = unsafe { socket2::SockAddr::new(self.peers[i], len) };
        addr.as_socket()
    }

    /// Whether slot `i`'s datagram was longer than its slot and was cut.
    pub fn truncated(&self, i: usize) -> bool {
        self.slot(i).is_some_and(|r| r.truncated)
    }

    fn slot(&self, i: usize) -> Option<&Received> {
        self.received[..self.count].get(i)
    }

    /// Receives what is queued on `socket`, up to [`BATCH`] datagrams, without
    /// waiting (`MSG_DONTWAIT`): `WouldBlock` when nothing is. Returns how many came.
    pub fn recv(&mut self, socket: &impl AsRawFd) -> io::Result<usize> {
        self.count = 0;
        let mut iov = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; BATCH];
        // SAFETY: mmsghdr is a C struct of integers and pointers; all zeros (null
        // pointers, zero lengths) is a valid value, filled in below before use.
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        let slots = self.payload.chunks_exact_mut(DATAGRAM_SLOT);
        for (i, slot) in slots.enumerate() {
            iov[i] = libc::iovec { iov_base: slot.as_mut_ptr().cast(), iov_len: slot.len() };
        }
        for (i, msg) in msgs.iter_mut().enumerate() {
            let hdr = &mut msg.msg_hdr;
            hdr.msg_iov = iov.as_mut_ptr().wrapping_add(i);
            hdr.msg_iovlen = 1;
            hdr.msg_name = (&mut self.peers[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            if let Some(control) = &mut self.control {
                hdr.msg_control = (&mut control[i] as *mut Control).cast();
                hdr.msg_controllen = std::mem::size_of::<Control>() as _;
            }
        }
        // SAFETY: every header points into buffers this batch owns and borrows
        // mutably for the call (a payload slot, a peer address, a control buffer) or
        // into `iov` on this stack frame, each with its exact size; `msgs` has BATCH
        // headers and BATCH is passed; no timeout pointer.
        let rc = syscall!(recvmmsg(
            socket.as_raw_fd(),
            msgs.as_mut_ptr(),
            BATCH as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        ))?;
        let count = (rc as usize).min(BATCH);
        let destinations = self.control.is_some();
        for (msg, r) in msgs[..count].iter().zip(self.received.iter_mut()) {
            *r = Received {
                len: msg.msg_len as usize,
                peer_len: msg.msg_hdr.msg_namelen,
                truncated: msg.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
                unicast: !destinations || pktinfo::unicast_destination(&msg.msg_hdr),
            };
        }
        self.count = count;
        Ok(count)
    }

    /// Sends the datagrams of `slots` (indices below `received()`, at most
    /// [`BATCH`]), each back to its sender, in one `sendmmsg` without waiting.
    /// Returns how many went, from the first: fewer than asked when the kernel
    /// stopped early (the next one's error comes from the next call). `WouldBlock`:
    /// the send buffer is full and none went.
    pub fn send_back(&mut self, socket: &impl AsRawFd, slots: &[u8]) -> io::Result<usize> {
        let slots = &slots[..slots.len().min(BATCH)];
        if let Some(&bad) = slots.iter().find(|&&s| usize::from(s) >= self.count) {
            let msg = format!("slot {bad} holds no datagram ({} received)", self.count);
            return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        }
        let mut iov = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; BATCH];
        // SAFETY: as in `recv`: all zeros is a valid mmsghdr, filled in below.
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for (k, &s) in slots.iter().enumerate() {
            let s = usize::from(s);
            let r = self.received[s];
            let slot = &mut self.payload[s * DATAGRAM_SLOT..][..r.len.min(DATAGRAM_SLOT)];
            iov[k] = libc::iovec { iov_base: slot.as_mut_ptr().cast(), iov_len: slot.len() };
            let hdr = &mut msgs[k].msg_hdr;
            hdr.msg_iov = iov.as_mut_ptr().wrapping_add(k);
            hdr.msg_iovlen = 1;
            hdr.msg_name = (&mut self.peers[s] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = r.peer_len;
        }
        // SAFETY: the first `slots.len()` headers point into this batch's payload
        // slots (each cut to its datagram's length) and peer addresses (each with the
        // length the kernel gave it), borrowed for the call, or into `iov` on this
        // stack frame; the kernel only reads them; no control data.
        let rc = syscall!(sendmmsg(
            socket.as_raw_fd(),
            msgs.as_mut_ptr(),
            slots.len() as libc::c_uint,
            libc::MSG_DONTWAIT,
        ))?;
        Ok(rc as usize)
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::time::{Duration, Instant};

    use super::*;

    /// Receives (bounded: 5 s) until `want` datagrams came in all, answering none;
    /// returns (payload, peer) of each.
    fn recv_all(
        batch: &mut Datagrams,
        socket: &UdpSocket,
        want: usize,
    ) -> Vec<(Vec<u8>, SocketAddr)> {
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.len() < want && Instant::now() < deadline {
            match batch.recv(socket) {
                Ok(n) => got
                    .extend((0..n).map(|i| {
                        (batch.payload(i).to_vec(), batch.peer(i).expect("an inet peer"))
                    })),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("recvmmsg: {e}"),
            }
        }
        got
    }

    fn bound() -> UdpSocket {
        UdpSocket::bind("127.0.0.1:0").expect("bind")
    }

    /// recvmmsg fills several slots at once with each datagram byte for byte and its
    /// sender; sendmmsg sends chosen slots back to their senders, and only those.
    #[test]
    fn receives_a_batch_and_sends_chosen_slots_back() {
        let server = bound();
        let (a, b) = (bound(), bound());
        for s in [&a, &b] {
            s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        }
        let addr = server.local_addr().expect("addr");
        a.send_to(b"one", addr).expect("send");
        b.send_to(&[7u8; 1400], addr).expect("send");
        a.send_to(b"three", addr).expect("send");
        let mut batch = Datagrams::new();
        assert!(batch.peer(0).is_none(), "nothing received yet");
        let got = recv_all(&mut batch, &server, 3);
        assert_eq!(got.len(), 3);
        assert_eq!(batch.received(), 3, "one batch took all three");
        assert_eq!(got[0], (b"one".to_vec(), a.local_addr().expect("a")));
        assert_eq!(got[1], (vec![7u8; 1400], b.local_addr().expect("b")));
        assert_eq!(got[2], (b"three".to_vec(), a.local_addr().expect("a")));
        assert!(!batch.truncated(1));
        assert_eq!(batch.send_back(&server, &[2, 1]).expect("sendmmsg"), 2);
        let mut buf = [0u8; 2000];
        let (n, from) = a.recv_from(&mut buf).expect("a's echo");
        assert_eq!((&buf[..n], from), (&b"three"[..], addr));
        let (n, _) = b.recv_from(&mut buf).expect("b's echo");
        assert_eq!(&buf[..n], &[7u8; 1400][..]);
        a.set_nonblocking(true).expect("nonblocking");
        assert!(a.recv_from(&mut buf).is_err(), "slot 0 was not sent");
        let e = batch.send_back(&server, &[3]).expect_err("slot 3 is empty");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    /// The largest IPv4 datagram (65,507 bytes) fits a slot, uncut.
    #[test]
    fn largest_datagram_fits() {
        let (server, client) = (bound(), bound());
        let payload: Vec<u8> = (0..65_507u32).map(|i| (i % 251) as u8).collect();
        client.send_to(&payload, server.local_addr().expect("addr")).expect("send");
        let mut batch = Datagrams::new();
        let got = recv_all(&mut batch, &server, 1);
        assert_eq!(got[0].0, payload);
        assert!(!batch.truncated(0));
    }

    /// A receive queue that overflowed: the batch reads what was queued, and the
    /// socket's drop count (SO_MEMINFO) is the rest, also after more datagrams.
    #[test]
    fn kernel_drop_count_matches_what_the_batch_missed() {
        let server = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
            .expect("socket");
        server.set_recv_buffer_size(4096).expect("a small queue");
        server.bind(&"127.0.0.1:0".parse::<SocketAddr>().expect("addr").into()).expect("bind");
        let server: UdpSocket = server.into();
        let client = bound();
        let addr = server.local_addr().expect("addr");
        // Far more than a 4 KiB queue holds: the kernel drops the rest, counting them.
        for _ in 0..200 {
            client.send_to(&[1u8; 1000], addr).expect("send");
        }
        // Empty the queue, then send one more.
        let mut batch = Datagrams::new();
        let mut queued = 0;
        while let Ok(n) = batch.recv(&server) {
            queued += n;
        }
        assert!(queued > 0 && queued < 200, "{queued}");
        client.send_to(b"after", addr).expect("send");
        let got = recv_all(&mut batch, &server, 1);
        assert_eq!(got[0].0, b"after");
        let drops = crate::sys::socket_drops(&server).expect("a drop count");
        assert_eq!(drops as usize, 200 - queued);
    }

    /// Nothing queued: WouldBlock, at once.
    #[test]
    fn empty_queue_would_block() {
        let server = bound();
        let e = Datagrams::new().recv(&server).expect_err("nothing queued");
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }
}
