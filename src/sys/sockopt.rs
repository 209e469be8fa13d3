//! The one socket option socket2 lacks: `IP_BIND_ADDRESS_NO_PORT`, which lets a
//! socket bind a source *address* while the kernel picks the source *port* at
//! `connect()` time, so the port is shared across destinations instead of being
//! reserved for every destination by `bind()`.

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
}
