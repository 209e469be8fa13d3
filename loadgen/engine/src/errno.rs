//! Connect and socket failures by errno name, each with a one-line hint on what to
//! change. Used for `connections.failed_by_errno` and the four-tuple experiment.

use std::io;

/// The errno's symbolic name (`EADDRNOTAVAIL`), or the error kind when it has none.
pub fn errno_name(err: &io::Error) -> String {
    let Some(code) = err.raw_os_error() else {
        return match err.kind() {
            io::ErrorKind::TimedOut => "ETIMEDOUT".to_string(),
            kind => format!("{kind:?}"),
        };
    };
    let name = match code {
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::ECONNRESET => "ECONNRESET",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::ENOBUFS => "ENOBUFS",
        libc::ENOMEM => "ENOMEM",
        libc::EAGAIN => "EAGAIN",
        libc::EINPROGRESS => "EINPROGRESS",
        libc::EPIPE => "EPIPE",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::EINVAL => "EINVAL",
        _ => return format!("errno {code}"),
    };
    name.to_string()
}

/// The OS's text for an error without the ` (os error N)` std adds, for messages
/// that say the reason once, in their own words around it.
pub fn os_reason(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// What a user changes when connects fail with this errno.
pub fn errno_hint(name: &str) -> &'static str {
    match name {
        "ECONNREFUSED" => "nothing listens there: start the server or fix --target",
        "ETIMEDOUT" => {
            "the server did not answer in time: its accept queue may be full (raise its \
             --backlog and net.core.somaxconn), or raise --connect-timeout / lower --connect-rate"
        }
        "EADDRNOTAVAIL" => {
            "out of ephemeral ports for this four-tuple family: add source addresses (--src) \
             or targets, widen net.ipv4.ip_local_port_range, or wait for TIME_WAIT to drain \
             (net.ipv4.tcp_tw_reuse; churning: --close rst leaves none)"
        }
        "EADDRINUSE" => {
            "a bind() reserved every port of the range: bind with IP_BIND_ADDRESS_NO_PORT \
             (loadgen does) or leave the source port to connect()"
        }
        "EMFILE" => {
            "out of descriptors in this process: raise RLIMIT_NOFILE or use more --processes"
        }
        "ENFILE" => "out of descriptors machine-wide: raise fs.file-max",
        "ENOBUFS" | "ENOMEM" => "the kernel is out of socket memory: lower --conns or --size",
        "ENETUNREACH" | "EHOSTUNREACH" => "no route to the target: check --target and --src",
        "ECONNRESET" => "the server reset the connection: check its logs and its --max-conns",
        _ => "see errno(3) for this error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known errnos have names and specific hints; unknown ones still print.
    #[test]
    fn names_and_hints() {
        let e = io::Error::from_raw_os_error(libc::EADDRNOTAVAIL);
        assert_eq!(errno_name(&e), "EADDRNOTAVAIL");
        assert!(errno_hint("EADDRNOTAVAIL").contains("--src"));
        assert_eq!(errno_name(&io::Error::from(io::ErrorKind::TimedOut)), "ETIMEDOUT");
        assert_eq!(errno_name(&io::Error::from_raw_os_error(9999)), "errno 9999");
        assert!(errno_hint("errno 9999").contains("errno(3)"));
        assert_eq!(
            os_reason(&io::Error::from_raw_os_error(libc::ENOENT)),
            "No such file or directory"
        );
    }
}
