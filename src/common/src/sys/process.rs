//! Processes: SIGTERM to exactly one process, `PR_SET_PDEATHSIG` so a child started
//! by one of our programs (a server under the suite, a split run's share, a
//! `--processes` child) dies with the thread that started it (a `kill -9` of the
//! parent leaves nothing running), and the clock tick /proc's CPU times count in.

use std::io;

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
    signal(pid, libc::SIGTERM)
}

/// Sends `signal` to exactly one process, `pid` (SIGINT stops `perf stat` as Ctrl-C
/// would, so it prints its count).
pub fn signal(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    if pid <= 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to signal a process group",
        ));
    }
    // SAFETY: kill(2) takes plain integers; pid > 0 names exactly one process, never a group.
    syscall!(kill(pid, signal))?;
    Ok(())
}

/// Sends `signal` to every process of group `pgid` (a child started in a group of
/// its own, and everything it started). Refuses groups 0 and 1 (ours, and init's).
pub fn signal_group(pgid: u32, signal: libc::c_int) -> io::Result<()> {
    let pgid = libc::pid_t::try_from(pgid)
        .ok()
        .filter(|g| *g > 1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a process group"))?;
    // SAFETY: kill(2) takes plain integers; -pgid (pgid > 1) names one process group,
    // never our own (0) or every process (-1).
    syscall!(kill(-pgid, signal))?;
    Ok(())
}

/// Makes the child that `command` starts receive `signal` when the thread that
/// spawns it exits (`PR_SET_PDEATHSIG`), so a parent killed with SIGKILL leaves no
/// child behind. The setting survives `exec` of an ordinary program (taskset, a
/// server), not of a set-user-ID one. Spawn from a thread that lives as long as the
/// child should (the main thread, or the thread that waits for the child).
///
/// The parent may die between fork and prctl: then nobody would ever send the
/// signal. The child tells by comparing its parent with this process's pid, taken
/// here before the fork: not with 1, which is a live parent when we run as a
/// container's PID 1, and not the parent a dead one leaves under a subreaper.
pub fn die_with_parent(command: &mut std::process::Command, signal: libc::c_int) {
    // SAFETY: getpid(2) takes nothing and cannot fail.
    let parent = unsafe { libc::getpid() };
    die_with(command, signal, parent);
}

/// [`die_with_parent`] with the parent's pid given (tests give a wrong one to see
/// the refusal a dead parent causes).
fn die_with(command: &mut std::process::Command, signal: libc::c_int, parent: libc::pid_t) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: the closure runs in the forked child before exec and calls only
    // prctl(2) and getppid(2), both async-signal-safe; it captures one integer and
    // allocates nothing, even on its error path (`from_raw_os_error` and
    // `last_os_error` build an error without a heap allocation), and takes no lock.
    unsafe {
        command.pre_exec(move || {
            syscall!(prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0))?;
            if parent_gone(parent) {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Whether the calling process's parent is no longer `parent` (it died and we were
/// re-parented: to init, or to a subreaper). Async-signal-safe.
fn parent_gone(parent: libc::pid_t) -> bool {
    // SAFETY: getppid(2) takes nothing and cannot fail.
    unsafe { libc::getppid() != parent }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clock tick is what `getconf CLK_TCK` says (where getconf is installed),
    /// and never 0.
    #[test]
    fn clock_ticks_match_getconf() {
        let ticks = clock_ticks_per_second();
        assert!(ticks > 0);
        if let Ok(out) = std::process::Command::new("getconf").arg("CLK_TCK").output() {
            let text = String::from_utf8_lossy(&out.stdout);
            if let Ok(expected) = text.trim().parse::<u64>() {
                assert_eq!(ticks, expected);
            }
        }
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

    /// A shell and both of its sleeping children, in a group of their own, all get
    /// the group's SIGTERM; groups 0 and 1 are refused.
    #[test]
    fn signal_group_reaches_every_member() {
        use std::os::unix::process::CommandExt as _;
        let mut shell = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30 & echo started; wait"])
            .process_group(0)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut out = std::io::BufReader::new(shell.stdout.take().expect("stdout"));
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).expect("started");
        let members = crate::procfs::tree(shell.id());
        assert_eq!(members.len(), 3, "{members:?}");
        signal_group(shell.id(), libc::SIGTERM).expect("signal");
        shell.wait().expect("reap");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while members.iter().any(|p| crate::procfs::alive(*p))
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(!members.iter().any(|p| crate::procfs::alive(*p)), "a member survived");
        assert!(signal_group(0, libc::SIGTERM).is_err() && signal_group(1, libc::SIGTERM).is_err());
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
            .args(["--exact", "sys::process::tests::middle_process", "--nocapture", "--ignored"])
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
        let alive = crate::procfs::alive;
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

    /// A child whose parent is not the one captured (as after the parent died and
    /// a subreaper or init took the child) is refused with ESRCH before it runs;
    /// with the real parent it starts.
    #[test]
    fn a_parent_other_than_the_captured_one_is_refused() {
        let mut cmd = std::process::Command::new("true");
        die_with(&mut cmd, libc::SIGKILL, std::process::id() as libc::pid_t + 1_000_000);
        let e = cmd.spawn().expect_err("refused");
        assert_eq!(e.raw_os_error(), Some(libc::ESRCH), "{e}");
        let mut cmd = std::process::Command::new("true");
        die_with_parent(&mut cmd, libc::SIGKILL);
        assert!(cmd.status().expect("spawn").success());
    }

    /// Under a subreaper, a process whose parent died gets the subreaper as its
    /// parent, not 1: `parent_gone` still sees the parent is gone. The subreaper is
    /// a copy of this test binary (`subreaper_process`), so this process's own
    /// settings stay as they were.
    #[test]
    fn a_dead_parent_is_seen_under_a_subreaper() {
        use std::process::{Command, Stdio};
        let exe = std::env::current_exe().expect("exe");
        let out = Command::new(exe)
            .args(["--exact", "sys::process::tests::subreaper_process", "--nocapture", "--ignored"])
            .env("ECHOD_SYS_SUBREAPER", "1")
            .stderr(Stdio::null())
            .output()
            .expect("run the subreaper");
        let text = String::from_utf8_lossy(&out.stdout);
        let verdict = text.lines().find_map(|l| l.strip_prefix("orphan: "));
        assert_eq!(verdict, Some("parent gone, adopted by the subreaper"), "{text}");
    }

    /// Not a test on its own: `a_dead_parent_is_seen_under_a_subreaper`'s subreaper.
    /// It becomes a subreaper, forks a middle process that forks an orphan and
    /// exits; the orphan, once adopted, checks `parent_gone(middle)` and reports.
    #[test]
    #[ignore = "run by a_dead_parent_is_seen_under_a_subreaper"]
    fn subreaper_process() {
        if std::env::var_os("ECHOD_SYS_SUBREAPER").is_none() {
            return;
        }
        // SAFETY: prctl with integer arguments on this (helper) process only.
        assert_eq!(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }, 0);
        let me = std::process::id() as libc::pid_t;
        let mut fds = [0; 2];
        // SAFETY: pipe(2) writes two descriptors into the array it is given.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the children below call only async-signal-safe functions (fork,
        // getpid, getppid, nanosleep, write, _exit) before they exit.
        unsafe {
            let middle = libc::fork();
            if middle == 0 {
                let middle_pid = libc::getpid();
                if libc::fork() == 0 {
                    // The orphan: wait (bounded) until the middle is gone.
                    let pause = libc::timespec { tv_sec: 0, tv_nsec: 10_000_000 };
                    for _ in 0..1000 {
                        if libc::getppid() != middle_pid {
                            break;
                        }
                        libc::nanosleep(&pause, std::ptr::null_mut());
                    }
                    let verdict: u8 = match (parent_gone(middle_pid), libc::getppid() == me) {
                        (true, true) => b'S',  // gone, adopted by the subreaper
                        (true, false) => b'O', // gone, adopted by someone else
                        (false, _) => b'L',    // the middle still lives
                    };
                    libc::write(fds[1], (&verdict as *const u8).cast(), 1);
                    libc::_exit(0);
                }
                libc::_exit(0);
            }
            libc::close(fds[1]);
            let mut status = 0;
            libc::waitpid(middle, &mut status, 0);
            let mut verdict = 0u8;
            libc::read(fds[0], (&mut verdict as *mut u8).cast(), 1);
            let said = match verdict {
                b'S' => "parent gone, adopted by the subreaper",
                b'O' => "parent gone, adopted by another",
                b'L' => "parent seen alive",
                _ => "no verdict",
            };
            println!("orphan: {said}");
            // Reap the orphan (the subreaper's child now).
            libc::wait(&mut status);
        }
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
}
