//! Resource limits: RLIMIT_NOFILE (read it, and raise the soft limit to the hard
//! limit, which a process may always do without privileges) and RLIMIT_NPROC (read).

use std::io;

/// The soft and hard RLIMIT_NOFILE of this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NofileLimit {
    /// What the process may open now.
    pub soft: u64,
    /// What the soft limit may be raised to without privileges.
    pub hard: u64,
}

/// Reads one resource limit.
fn rlimit(resource: libc::__rlimit_resource_t) -> io::Result<libc::rlimit> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid, writable rlimit; getrlimit only writes into it.
    syscall!(getrlimit(resource, &mut lim))?;
    Ok(lim)
}

/// Reads RLIMIT_NOFILE.
pub fn nofile_limit() -> io::Result<NofileLimit> {
    let lim = rlimit(libc::RLIMIT_NOFILE)?;
    Ok(NofileLimit { soft: lim.rlim_cur, hard: lim.rlim_max })
}

/// The soft RLIMIT_NPROC: how many processes and threads this user may run (`None`:
/// unlimited). The kernel does not apply it to root (CAP_SYS_RESOURCE).
pub fn nproc_limit() -> io::Result<Option<u64>> {
    let lim = rlimit(libc::RLIMIT_NPROC)?;
    Ok((lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur))
}

/// Raises the RLIMIT_NOFILE soft limit to the hard limit and returns the new limits.
pub fn raise_nofile_limit() -> io::Result<NofileLimit> {
    let cur = nofile_limit()?;
    if cur.soft >= cur.hard {
        return Ok(cur);
    }
    let lim = libc::rlimit { rlim_cur: cur.hard, rlim_max: cur.hard };
    // SAFETY: `lim` is a valid rlimit read-only to setrlimit; soft <= hard holds.
    syscall!(setrlimit(libc::RLIMIT_NOFILE, &lim))?;
    nofile_limit()
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

    /// RLIMIT_NPROC reads back as the kernel reports it in /proc/self/limits.
    #[test]
    fn nproc_limit_matches_proc() {
        let limits = std::fs::read_to_string("/proc/self/limits").expect("limits");
        let line = limits.lines().find(|l| l.starts_with("Max processes")).expect("a line");
        let soft = line.split_whitespace().nth(2).expect("soft");
        let expected = soft.parse::<u64>().ok(); // "unlimited" reads as None
        assert_eq!(nproc_limit().expect("getrlimit"), expected);
    }
}
