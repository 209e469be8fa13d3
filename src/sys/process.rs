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
    let rc = unsafe { libc::kill(pid, signal) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
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
    let rc = unsafe { libc::kill(-pgid, signal) };
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
