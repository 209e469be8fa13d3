//! The socket options socket2 lacks: `IP_BIND_ADDRESS_NO_PORT`, which lets a
//! socket bind a source *address* while the kernel picks the source *port* at
//! `connect()` time, so the port is shared across destinations instead of being
//! reserved for every destination by `bind()`; and `SO_RXQ_OVFL`, which makes the
//! kernel attach a socket's receive-queue drop count to the datagrams it delivers.

use std::io;
use std::os::fd::AsRawFd;

/// Sets `IP_BIND_ADDRESS_NO_PORT` on an IPv4 socket (Linux 4.2+).
pub fn set_bind_address_no_port(socket: &impl AsRawFd, on: bool) -> io::Result<()> {
    let value: libc::c_int = on.into();
    // SAFETY: the fd is owned by `socket` and open for this call; the option value is
    // a c_int living on the stack for the duration of the call, its size passed exactly.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads `IP_BIND_ADDRESS_NO_PORT` back (used by tests and by the ports experiment).
pub fn bind_address_no_port(socket: &impl AsRawFd) -> io::Result<bool> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len are valid, writable, and len holds value's exact size.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value != 0)
}

/// Sets `SO_RXQ_OVFL`: every datagram received afterwards carries, in a control
/// message, how many datagrams the kernel dropped on this socket's full receive queue
/// (see `mmsg::Datagrams::kernel_drops`).
pub fn set_rxq_ovfl(socket: &impl AsRawFd, on: bool) -> io::Result<()> {
    let value: libc::c_int = on.into();
    // SAFETY: as in `set_bind_address_no_port`: an open fd, a c_int on the stack, its
    // exact size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RXQ_OVFL,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads `SO_RXQ_OVFL` back.
pub fn rxq_ovfl(socket: &impl AsRawFd) -> io::Result<bool> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len are valid, writable, and len holds value's exact size.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RXQ_OVFL,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value != 0)
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

    /// SO_RXQ_OVFL is set on a real UDP socket and reads back.
    #[test]
    fn rxq_ovfl_round_trips() {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
            .expect("socket");
        assert!(!rxq_ovfl(&s).expect("get"));
        set_rxq_ovfl(&s, true).expect("set");
        assert!(rxq_ovfl(&s).expect("get"));
    }
}
