//! The only module allowed `unsafe`: the few syscalls that neither std, socket2 nor
//! mio wrap. Each block has a `// SAFETY:` comment and a test.
//!
//! - RLIMIT_NOFILE: read it, and raise the soft limit to the hard limit (a process
//!   may always do that without privileges).
//! - `IP_BIND_ADDRESS_NO_PORT`: lets a socket bind a source *address* while the
//!   kernel picks the source *port* at `connect()` time, so the port is shared across
//!   destinations instead of being reserved for every destination by `bind()`.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::AsRawFd;

/// The soft and hard RLIMIT_NOFILE of this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NofileLimit {
    /// What the process may open now.
    pub soft: u64,
    /// What the soft limit may be raised to without privileges.
    pub hard: u64,
}

/// Reads RLIMIT_NOFILE.
pub fn nofile_limit() -> io::Result<NofileLimit> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid, writable rlimit; getrlimit only writes into it.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(NofileLimit { soft: lim.rlim_cur, hard: lim.rlim_max })
}

/// Raises the RLIMIT_NOFILE soft limit to the hard limit and returns the new limits.
pub fn raise_nofile_limit() -> io::Result<NofileLimit> {
    let cur = nofile_limit()?;
    if cur.soft >= cur.hard {
        return Ok(cur);
    }
    let lim = libc::rlimit { rlim_cur: cur.hard, rlim_max: cur.hard };
    // SAFETY: `lim` is a valid rlimit read-only to setrlimit; soft <= hard holds.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    nofile_limit()
}

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

/// Sends SIGTERM to process `pid` (the suite stops servers as a user would).
pub fn terminate(pid: u32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    if pid <= 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to signal a process group",
        ));
    }
    // SAFETY: kill(2) takes plain integers; pid > 0 names exactly one process, never a group.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Raising the soft limit reaches the hard limit and never lowers either.
    #[test]
    fn raise_reaches_hard_limit() {
        let before = nofile_limit().expect("getrlimit");
        let after = raise_nofile_limit().expect("setrlimit");
        assert_eq!(after.soft, after.hard);
        assert_eq!(after.hard, before.hard);
        assert!(after.soft >= before.soft);
    }

    /// SIGTERM reaches a real child process; pid 0 (a process group) is refused.
    #[test]
    fn terminate_signals_one_process() {
        use std::os::unix::process::ExitStatusExt;
        let mut child = std::process::Command::new("sleep").arg("30").spawn().expect("spawn sleep");
        terminate(child.id()).expect("kill");
        assert_eq!(child.wait().expect("wait").signal(), Some(libc::SIGTERM));
        assert!(terminate(0).is_err());
    }

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
