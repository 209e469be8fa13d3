//! The only module allowed `unsafe`: the few syscalls that neither std, socket2 nor
//! mio wrap. Each block has a `// SAFETY:` comment and a test.
//!
//! - RLIMIT_NOFILE: read it, and raise the soft limit to the hard limit (a process
//!   may always do that without privileges); RLIMIT_NPROC: read it.
//! - `IP_BIND_ADDRESS_NO_PORT`: lets a socket bind a source *address* while the
//!   kernel picks the source *port* at `connect()` time, so the port is shared across
//!   destinations instead of being reserved for every destination by `bind()`.
//! - `PR_SET_PDEATHSIG`: a child process started by one of our programs (a server
//!   under the suite, a split run's share) gets a signal when the thread that started
//!   it dies, so a `kill -9` of the parent leaves nothing running.
//! - [`SharedCounters`]: atomic counters in memory shared with child processes (a
//!   memfd mapped `MAP_SHARED`), so `--processes` children count `--max-conns` places
//!   in one total.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

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
    let rc = unsafe { libc::getrlimit(resource, &mut lim) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
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

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`): the unit of the CPU times in
/// /proc/PID/stat. 100 on most Linux systems, but not promised; never 0.
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf takes a plain integer name and returns a value; no memory is
    // shared with it.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
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

/// Makes the child that `command` starts receive `signal` when the thread that
/// spawns it exits (`PR_SET_PDEATHSIG`), so a parent killed with SIGKILL leaves no
/// child behind. The setting survives `exec` of an ordinary program (taskset, a
/// server), not of a set-user-ID one. Spawn from a thread that lives as long as the
/// child should (the main thread, or the thread that waits for the child).
pub fn die_with_parent(command: &mut std::process::Command, signal: libc::c_int) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: the closure runs in the forked child before exec and calls only
    // prctl(2) and getppid(2), both async-signal-safe; it touches no memory the parent
    // could hold locked (no allocation, no locks).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl: then nobody would
            // ever send the signal, so stop now (we were re-parented to init).
            if libc::getppid() == 1 {
                return Err(io::Error::other("parent already gone"));
            }
            Ok(())
        });
    }
}

/// The memfd's name, which `open_inherited` checks before mapping a descriptor.
const COUNTERS_NAME: &str = "echod-counters";

/// `len` 64-bit atomic counters, zero at creation, in memory that child processes
/// share: a memfd mapped `MAP_SHARED`. The memfd is made without close-on-exec, so
/// every child started while it is open inherits the descriptor and can map the same
/// memory with [`SharedCounters::open_inherited`].
#[derive(Debug)]
pub struct SharedCounters {
    /// The first counter of the mapping (page-aligned, `len` counters long).
    ptr: NonNull<AtomicU64>,
    /// How many counters.
    len: usize,
    /// The memory's descriptor: kept open so children started later inherit it.
    file: File,
}

// SAFETY: the mapping is reachable only as `&AtomicU64`, which any thread may use;
// it is unmapped once, in `drop`, when no reference can be left.
unsafe impl Send for SharedCounters {}
// SAFETY: as above: shared references give atomics only.
unsafe impl Sync for SharedCounters {}

impl SharedCounters {
    /// `len` new counters, all zero.
    pub fn create(len: usize) -> io::Result<SharedCounters> {
        let name = std::ffi::CString::new(COUNTERS_NAME).map_err(io::Error::other)?;
        // SAFETY: `name` is a NUL-terminated string alive for the call; flags 0 (no
        // MFD_CLOEXEC) on purpose, so children inherit the descriptor. A descriptor
        // memfd_create returns is new and ours alone, so File may own it.
        let file = unsafe {
            let fd = libc::memfd_create(name.as_ptr(), 0);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            File::from(OwnedFd::from_raw_fd(fd))
        };
        file.set_len(Self::bytes(len)?)?; // a memfd grows zero-filled
        SharedCounters::map(file, len)
    }

    /// The counters a parent made, through the descriptor `fd` this process inherited
    /// from it. Refuses a descriptor that is not such a memfd of `len` counters.
    pub fn open_inherited(fd: RawFd, len: usize) -> io::Result<SharedCounters> {
        let link = format!("/proc/self/fd/{fd}");
        let target = std::fs::read_link(&link)?;
        if !target.to_string_lossy().starts_with(&format!("/memfd:{COUNTERS_NAME}")) {
            let what = format!("descriptor {fd} is {}, not echod's counters", target.display());
            return Err(io::Error::new(io::ErrorKind::InvalidInput, what));
        }
        // Opening the /proc link gives a descriptor of our own to the same memory.
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&link)?;
        if file.metadata()?.len() != Self::bytes(len)? {
            let what = format!("descriptor {fd} does not hold {len} counters");
            return Err(io::Error::new(io::ErrorKind::InvalidInput, what));
        }
        SharedCounters::map(file, len)
    }

    fn bytes(len: usize) -> io::Result<u64> {
        len.checked_mul(8)
            .filter(|&b| b > 0)
            .map(|b| b as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "counter count"))
    }

    fn map(file: File, len: usize) -> io::Result<SharedCounters> {
        let bytes = Self::bytes(len)? as usize;
        // SAFETY: a new mapping chosen by the kernel (null hint) over `bytes` bytes of
        // a file at least that long; it aliases no Rust object. Failure is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<AtomicU64>()).ok_or_else(io::Error::last_os_error)?;
        Ok(SharedCounters { ptr, len, file })
    }

    /// The descriptor a child inherits (pass it to the child's `open_inherited`).
    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// How many counters.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: there is at least one counter.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Counter `i`. Panics if `i` is out of range.
    pub fn get(&self, i: usize) -> &AtomicU64 {
        assert!(i < self.len, "counter {i} of {}", self.len);
        // SAFETY: i < len, so the address is inside the mapping, 8-byte aligned (the
        // mapping is page-aligned); the mapping lives as long as `self`, and every
        // process touches this memory only through atomic operations.
        unsafe { &*self.ptr.as_ptr().add(i) }
    }
}

impl Drop for SharedCounters {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping `map` made, unmapped once; `&mut self` means no
        // reference from `get` is alive.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len * 8);
        }
    }
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

    /// SIGTERM reaches a real child process; pid 0 (a process group) is refused.
    #[test]
    fn terminate_signals_one_process() {
        use std::os::unix::process::ExitStatusExt;
        let mut child = std::process::Command::new("sleep").arg("30").spawn().expect("spawn sleep");
        terminate(child.id()).expect("kill");
        assert_eq!(child.wait().expect("wait").signal(), Some(libc::SIGTERM));
        assert!(terminate(0).is_err());
    }

    /// A grandchild started with `die_with_parent` is killed when its parent (a
    /// shell that we kill with SIGKILL) dies: nothing is left running.
    #[test]
    fn child_dies_with_its_parent() {
        use std::process::{Command, Stdio};
        // A middle process that starts `sleep 30` with the death signal set, prints its
        // pid, and waits; it is a copy of this test binary running the helper below.
        let exe = std::env::current_exe().expect("exe");
        let mut middle = Command::new(exe)
            .args(["--exact", "sys::tests::middle_process", "--nocapture", "--ignored"])
            .env("ECHOD_SYS_MIDDLE", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn middle");
        let mut out = std::io::BufReader::new(middle.stdout.take().expect("stdout"));
        let mut line = String::new();
        let pid = loop {
            line.clear();
            let n = std::io::BufRead::read_line(&mut out, &mut line).expect("read");
            assert!(n > 0, "the middle process ended without printing the sleeper's pid");
            if let Some(pid) = line.trim().strip_prefix("sleeper ") {
                break pid.parse::<u32>().expect("pid");
            }
        };
        let alive = |pid: u32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
        };
        assert!(alive(pid), "the sleeper runs while its parent lives");
        middle.kill().expect("SIGKILL the middle process");
        middle.wait().expect("reap");
        // Bounded wait for the kernel to deliver the death signal (not a timing assertion:
        // it gives up after 10 s).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while alive(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(!alive(pid), "the sleeper outlived its parent");
    }

    /// Not a test on its own: the middle process of `child_dies_with_its_parent`.
    #[test]
    #[ignore = "run by child_dies_with_its_parent"]
    fn middle_process() {
        if std::env::var_os("ECHOD_SYS_MIDDLE").is_none() {
            return;
        }
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("30");
        die_with_parent(&mut cmd, libc::SIGKILL);
        let mut child = cmd.spawn().expect("spawn sleeper");
        println!("sleeper {}", child.id());
        let _ = child.wait();
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

    /// Two mappings of one memfd (as a parent's and a child's would be) see each
    /// other's updates; a descriptor that is not the counters memfd, or has another
    /// size, is refused; dropping both unmaps without fault.
    #[test]
    fn shared_counters_are_shared() {
        use std::sync::atomic::Ordering::SeqCst;
        let parent = SharedCounters::create(3).expect("memfd");
        assert_eq!(parent.get(2).load(SeqCst), 0);
        parent.get(0).fetch_add(5, SeqCst);
        let child = SharedCounters::open_inherited(parent.fd(), 3).expect("open");
        assert_eq!(child.get(0).load(SeqCst), 5);
        child.get(2).fetch_add(7, SeqCst);
        assert_eq!(parent.get(2).load(SeqCst), 7);
        assert!(SharedCounters::open_inherited(parent.fd(), 4).is_err(), "wrong size");
        let plain = std::fs::File::open("/proc/self/stat").expect("a plain file");
        assert!(SharedCounters::open_inherited(plain.as_raw_fd(), 3).is_err(), "not ours");
        drop(child);
        assert_eq!(parent.get(0).load(SeqCst), 5, "still mapped after the other's munmap");
    }
}
