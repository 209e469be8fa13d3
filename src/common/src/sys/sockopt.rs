//! The socket options socket2 lacks: `IP_BIND_ADDRESS_NO_PORT`, which lets a
//! socket bind a source *address* while the kernel picks the source *port* at
//! `connect()` time, so the port is shared across destinations instead of being
//! reserved for every destination by `bind()`; and `SO_MEMINFO`'s drop count, the
//! datagrams the kernel dropped on a socket's full receive queue.

use std::io;
use std::os::fd::AsRawFd;

/// Sets `IP_BIND_ADDRESS_NO_PORT` on an IPv4 socket (Linux 4.2+).
pub fn set_bind_address_no_port(socket: &impl AsRawFd, on: bool) -> io::Result<()> {
    let value: libc::c_int = on.into();
    // SAFETY: the fd is owned by `socket` and open for this call; the option value is
    // a c_int living on the stack for the duration of the call, its size passed exactly.
    syscall!(setsockopt(
        socket.as_raw_fd(),
        libc::IPPROTO_IP,
        libc::IP_BIND_ADDRESS_NO_PORT,
        (&value as *const libc::c_int).cast(),
        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
    ))?;
    Ok(())
}

/// Reads `IP_BIND_ADDRESS_NO_PORT` back (used by tests and by the ports experiment).
pub fn bind_address_no_port(socket: &impl AsRawFd) -> io::Result<bool> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len are valid, writable, and len holds value's exact size.
    syscall!(getsockopt(
        socket.as_raw_fd(),
        libc::IPPROTO_IP,
        libc::IP_BIND_ADDRESS_NO_PORT,
        (&mut value as *mut libc::c_int).cast(),
        &mut len,
    ))?;
    Ok(value != 0)
}

/// `SO_MEMINFO` (asm-generic/socket.h: 55 on x86_64, aarch64 and riscv; libc does not
/// define it).
const SO_MEMINFO: libc::c_int = 55;

/// The socket's drop count: `SO_MEMINFO`'s `SK_MEMINFO_DROPS`, the datagrams the
/// kernel dropped on its full receive queue since it was made — the counter
/// `SO_RXQ_OVFL` would carry on every received datagram, read here once, when
/// wanted, without a control message per datagram.
pub fn socket_drops(socket: &impl AsRawFd) -> io::Result<u32> {
    // SK_MEMINFO_VARS is 9 today; room for a kernel that reports more.
    let mut info = [0u32; 16];
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: `info` and `len` are valid and writable, and `len` holds `info`'s exact
    // size: the kernel writes at most that many bytes and says how many in `len`.
    syscall!(getsockopt(
        socket.as_raw_fd(),
        libc::SOL_SOCKET,
        SO_MEMINFO,
        info.as_mut_ptr().cast(),
        &mut len,
    ))?;
    let drops = libc::SK_MEMINFO_DROPS as usize;
    if (len as usize) < (drops + 1) * std::mem::size_of::<u32>() {
        return Err(io::Error::other("SO_MEMINFO has no drop count on this kernel"));
    }
    Ok(info[drops])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option is set on a real socket and reads back.
    #[test]
    fn bind_address_no_port_round_trips() {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        assert!(!bind_address_no_port(&s).expect("get"));
        set_bind_address_no_port(&s, true).expect("set");
        assert!(bind_address_no_port(&s).expect("get"));
    }

    /// A UDP socket flooded past its receive buffer reports what it dropped: the
    /// datagrams sent less those queued.
    #[test]
    fn socket_drops_counts_a_flood() {
        let server = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
            .expect("socket");
        server.set_recv_buffer_size(4096).expect("small buffer");
        server.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).expect("bind");
        let server: std::net::UdpSocket = server.into();
        let addr = server.local_addr().expect("addr");
        assert_eq!(socket_drops(&server).expect("SO_MEMINFO"), 0);
        let client = std::net::UdpSocket::bind("127.0.0.1:0").expect("client");
        for _ in 0..200 {
            client.send_to(&[7u8; 64], addr).expect("send");
        }
        server.set_nonblocking(true).expect("nonblocking");
        let mut queued = 0;
        let mut buf = [0u8; 128];
        while server.recv(&mut buf).is_ok() {
            queued += 1;
        }
        assert!(queued < 200, "a 4 KiB queue cannot hold 200 datagrams");
        assert_eq!(socket_drops(&server).expect("SO_MEMINFO") as usize, 200 - queued);
    }
}
