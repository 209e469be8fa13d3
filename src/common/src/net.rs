//! Building sockets with socket2, one call per syscall: the listeners echod's workers
//! own (SO_REUSEPORT so several sockets share one port and the kernel spreads
//! connections over them by four-tuple hash), and the probe that tells whether a port
//! is already taken before echod joins it.
//!
//! Why a probe: the kernel lets a second SO_REUSEPORT listener of the same user join a
//! port silently and split the traffic with it. A plain socket (SO_REUSEADDR, no
//! SO_REUSEPORT) cannot bind a port that has a listener of any kind, so binding one
//! first and closing it at once tells "free" from "taken" without joining anything.
//!
//! UDP (`--proto udp|both`): one SO_REUSEPORT socket per worker on the port, and
//! never SO_REUSEADDR, which on UDP lets every socket that sets it share a port
//! (the last one bound taking the unicast traffic). Its probe is a UDP socket with
//! neither option: a UDP socket of any kind on the port makes its bind fail.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// Creates a TCP socket for `addr`'s family, with SO_REUSEADDR so a restart is not
/// refused by connections of the previous run still in TIME_WAIT.
fn tcp_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    Ok(socket)
}

/// A non-blocking listener on `addr` with `backlog`; `reuse_port` sets SO_REUSEPORT
/// (every worker's listener joins the same port). Returns a std listener, ready for
/// `mio::net::TcpListener::from_std`.
pub fn listener(addr: SocketAddr, backlog: u32, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = tcp_socket(addr)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    // The kernel caps the backlog at net.core.somaxconn; i32::MAX means "the cap".
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

/// Binds `addr` with SO_REUSEPORT without listening, so the port is reserved for this
/// user's later SO_REUSEPORT listeners but receives no connections (a socket joins the
/// port's accept group only at `listen()`). `--processes` uses it to pick a port for
/// its children when `--port 0` asks the kernel for one.
pub fn reserve_port(addr: SocketAddr) -> io::Result<Socket> {
    let socket = tcp_socket(addr)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// Whether something already holds `addr`'s port: binds a plain socket (no
/// SO_REUSEPORT) and closes it. `Ok(())` means the port is free; the error is the
/// bind's (EADDRINUSE when taken, EADDRNOTAVAIL when the address is not local).
pub fn probe_port(addr: SocketAddr) -> io::Result<()> {
    let socket = tcp_socket(addr)?;
    socket.bind(&addr.into())?;
    Ok(())
}

/// The receive and send buffers asked for each UDP socket (the kernel caps them at
/// net.core.rmem_max / wmem_max): the default 208 KiB queue overflows within a
/// scheduling delay when small datagrams arrive at a million a second.
pub const UDP_BUFFER: usize = 4 << 20;

/// A non-blocking UDP socket bound to `addr` with SO_REUSEPORT (every worker's socket
/// joins the one port; the kernel picks one per datagram by four-tuple hash),
/// [`UDP_BUFFER`]-byte buffers asked for. Its drop count is read with
/// `sys::socket_drops` (SO_MEMINFO), not carried on every datagram (SO_RXQ_OVFL's
/// control message cost echod 3.6% of its CPU at 1,000 flows). Returns a std socket, ready for
/// `mio::net::UdpSocket::from_std`.
pub fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_port(true)?;
    socket.set_recv_buffer_size(UDP_BUFFER)?;
    socket.set_send_buffer_size(UDP_BUFFER)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Whether something already holds `addr`'s UDP port: binds a UDP socket without
/// SO_REUSEPORT or SO_REUSEADDR and closes it. `Ok(())`: free.
pub fn probe_udp_port(addr: SocketAddr) -> io::Result<()> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.bind(&addr.into())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two SO_REUSEPORT listeners share a port; the probe sees it taken.
    #[test]
    fn reuseport_listeners_share_a_port_and_the_probe_sees_them() {
        let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let first = listener(any, 16, true).expect("first");
        let addr = first.local_addr().expect("local_addr");
        let second = listener(addr, 16, true).expect("second joins the port");
        assert_eq!(second.local_addr().expect("local_addr"), addr);
        let err = probe_port(addr).expect_err("probe must see the port taken");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop((first, second));
        probe_port(addr).expect("free again once both are closed");
    }

    /// A reserved (bound, not listening) port refuses connections.
    #[test]
    fn reserved_port_receives_nothing() {
        let reserved = reserve_port("127.0.0.1:0".parse().expect("addr")).expect("reserve");
        let addr = reserved.local_addr().expect("local").as_socket().expect("inet");
        assert!(std::net::TcpStream::connect(addr).is_err());
    }

    /// Two SO_REUSEPORT UDP sockets share a port; the UDP probe sees it taken, and
    /// free again once they close.
    #[test]
    fn udp_sockets_share_a_port_and_the_probe_sees_them() {
        let first = udp_socket("127.0.0.1:0".parse().expect("addr")).expect("first");
        let addr = first.local_addr().expect("local_addr");
        let second = udp_socket(addr).expect("second joins the port");
        assert_eq!(crate::sys::socket_drops(&second).expect("SO_MEMINFO"), 0);
        let err = probe_udp_port(addr).expect_err("probe must see the port taken");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop((first, second));
        probe_udp_port(addr).expect("free again once both are closed");
    }
}
