//! How many connection threads `--model threads` may start: `--max-threads`'s default,
//! read from what this machine allows, and the ceiling an explicit value must stay
//! under.
//!
//! Why a cap at all: past the machine's limits a thread-per-connection server does
//! not fail politely. Each thread costs about [`MAPS_PER_THREAD`] memory mappings
//! (its stack and guard page, and the alternate signal stack and guard page Rust's
//! runtime adds); once `vm.max_map_count` is reached, the runtime's `mprotect` of
//! that guard page fails inside the new thread and the whole process aborts ("failed
//! to set up alternative stack guard page", exit 134) — nothing a caller can catch.
//! So the mapping count is a hard per-process ceiling, and the default also stays
//! inside the machine-wide limits on threads (kernel.threads-max, kernel.pid_max, the
//! cgroup's pids.max, RLIMIT_NPROC: three quarters of what is left of each, the rest
//! for everything else) and memory (half of MemAvailable at the thread's buffer plus
//! [`THREAD_OVERHEAD`]). Past the cap, connections are accepted and closed (counted
//! in `rejected_resources`); a thread the OS still refuses is handled the same way.
//!
//! Invariant: the default is at most the ceiling; both are computed once, at start.

use super::ServerError;
use common::units::fmt_bytes;

/// Mappings one connection thread adds: stack + guard, alternate signal stack + guard.
pub const MAPS_PER_THREAD: u64 = 4;

/// Memory one connection thread costs besides its read buffer: the touched part of
/// its stack, its kernel stack (16 KiB), task structures; rounded up.
pub const THREAD_OVERHEAD: u64 = 64 * 1024;

/// The stack each connection thread gets: its frames are small (the buffer is on the
/// heap), and only touched pages cost memory; the default 2 MiB would be 8x the
/// address space for nothing.
pub const THREAD_STACK: usize = 256 * 1024;

/// What the machine allows, as read at start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// Soft RLIMIT_NPROC (None: unlimited or unreadable).
    pub nproc: Option<u64>,
    /// kernel.threads-max.
    pub threads_max: Option<u64>,
    /// kernel.pid_max: every thread takes a pid.
    pub pid_max: Option<u64>,
    /// The cgroup's pids.max and pids.current.
    pub cgroup_pids: Option<(u64, u64)>,
    /// Threads running on the machine now (all users).
    pub threads_now: Option<u64>,
    /// vm.max_map_count.
    pub max_map_count: Option<u64>,
    /// This process's mappings now.
    pub maps_now: Option<u64>,
    /// MemAvailable, bytes.
    pub mem_available: Option<u64>,
    /// Cores: glibc keeps up to 8 malloc arenas per core, 2 mappings each.
    pub cores: u64,
}

/// A number of threads and the limit that set it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit {
    /// How many threads.
    pub threads: u64,
    /// Which limit, in words (`vm.max_map_count 65530 at 4 maps per thread`).
    pub why: String,
}

/// The two kinds of limit: per process, and shared by every process on the machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadBudget {
    /// Mappings: each process has its own `vm.max_map_count`. An explicit
    /// `--max-threads` above this (per process) is refused.
    pub per_process: Limit,
    /// Threads, pids and memory: shared by every process (of this user).
    pub machine: Limit,
}

/// When nothing could be read.
const UNKNOWN: u64 = 1024;

impl Facts {
    /// Reads this machine (anything unreadable stays `None`).
    pub fn read() -> Facts {
        let num = |path: &str| read_u64(&std::fs::read_to_string(path).ok()?);
        let threads_now = std::fs::read_to_string("/proc/loadavg").ok().and_then(|l| {
            // "0.63 1.08 0.60 1/83 18351": the fourth field is running/total threads.
            read_u64(l.split_whitespace().nth(3)?.split('/').nth(1)?)
        });
        let maps_now =
            std::fs::read_to_string("/proc/self/maps").ok().map(|m| m.lines().count() as u64);
        let mem_available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemAvailable:"))?;
            Some(read_u64(line.split_whitespace().nth(1)?)? * 1024)
        });
        Facts {
            nproc: common::sys::nproc_limit().ok().flatten(),
            threads_max: num("/proc/sys/kernel/threads-max"),
            pid_max: num("/proc/sys/kernel/pid_max"),
            cgroup_pids: cgroup_pids(),
            threads_now,
            max_map_count: num("/proc/sys/vm/max_map_count"),
            maps_now,
            mem_available,
            cores: common::pin::allowed_cores().len().max(1) as u64,
        }
    }

    /// The budget for threads that each hold a `buffer`-byte read buffer.
    pub fn budget(&self, buffer: usize) -> ThreadBudget {
        let per_process = match (self.max_map_count, self.maps_now) {
            (Some(max), Some(now)) => {
                let reserve = now + 16 * self.cores + 1024;
                Limit {
                    threads: max.saturating_sub(reserve) / MAPS_PER_THREAD,
                    why: format!("vm.max_map_count {max} at {MAPS_PER_THREAD} maps per thread"),
                }
            }
            _ => Limit { threads: UNKNOWN, why: "the mapping count is unreadable".into() },
        };
        // Machine-wide: three quarters of what is left, the rest for everything else.
        let now = self.threads_now.unwrap_or(0);
        let left = |max: u64, used: u64| max.saturating_sub(used) / 4 * 3;
        let mut machine: Vec<Limit> = Vec::new();
        let counts = [
            ("kernel.threads-max", self.threads_max),
            ("kernel.pid_max", self.pid_max),
            ("RLIMIT_NPROC", self.nproc),
        ];
        for (name, max) in counts {
            if let Some(max) = max {
                let why = format!("{name} {max} ({now} threads running)");
                machine.push(Limit { threads: left(max, now), why });
            }
        }
        if let Some((max, used)) = self.cgroup_pids {
            let why = format!("the cgroup's pids.max {max} ({used} in use)");
            machine.push(Limit { threads: left(max, used), why });
        }
        if let Some(mem) = self.mem_available {
            let each = buffer as u64 + THREAD_OVERHEAD;
            let why = format!(
                "MemAvailable {} at {} per thread",
                fmt_bytes(mem as f64),
                fmt_bytes(each as f64)
            );
            machine.push(Limit { threads: mem / 2 / each, why });
        }
        let machine = machine.into_iter().min_by_key(|l| l.threads).unwrap_or(Limit {
            threads: UNKNOWN,
            why: "no thread or memory limit is readable".into(),
        });
        ThreadBudget { per_process, machine }
    }
}

impl ThreadBudget {
    /// `--max-threads`'s default for the whole server of `processes` processes.
    pub fn default_total(&self, processes: usize) -> Limit {
        let mapped = self.per_process.threads.saturating_mul(processes as u64);
        if mapped <= self.machine.threads {
            Limit { threads: mapped, why: self.per_process.why.clone() }
        } else {
            self.machine.clone()
        }
    }
}

/// `--max-threads` for a whole server of `processes` processes whose threads each
/// hold a `buffer`-byte buffer: `asked`, or this machine's default. Refuses fewer
/// threads than processes, and more than the processes' mappings allow (past which
/// a process aborts).
pub fn resolve(
    asked: Option<usize>,
    buffer: usize,
    processes: usize,
) -> Result<Limit, ServerError> {
    let budget = Facts::read().budget(buffer);
    let p = processes.max(1) as u64;
    let Some(asked) = asked else {
        let d = budget.default_total(processes);
        let why = format!("the default here, set by {}; --max-threads N changes it", d.why);
        return Ok(Limit { threads: d.threads.max(p), why });
    };
    let n = asked as u64;
    if n < p {
        return Err(ServerError::Invalid(format!(
            "--max-threads {asked} with --processes {processes}: every process needs at \
             least one connection thread; use at least {processes}"
        )));
    }
    let ceiling = budget.per_process.threads.saturating_mul(p);
    if n > ceiling {
        return Err(ServerError::Invalid(format!(
            "--max-threads {asked}: more connection threads than {p} process(es) can map \
             (at most {ceiling} here: {}), and past that a process aborts; lower it, or \
             raise vm.max_map_count",
            budget.per_process.why
        )));
    }
    Ok(Limit { threads: n, why: format!("--max-threads {asked}") })
}

/// The number `text` starts with (surrounding space ignored).
fn read_u64(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// This process's cgroup pids.max and pids.current (v2, else v1), when limited.
fn cgroup_pids() -> Option<(u64, u64)> {
    let groups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let dirs = groups.lines().filter_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        match controllers {
            "" => Some(format!("/sys/fs/cgroup{path}")),
            c if c.split(',').any(|c| c == "pids") => Some(format!("/sys/fs/cgroup/pids{path}")),
            _ => None,
        }
    });
    for dir in dirs {
        let max = std::fs::read_to_string(format!("{dir}/pids.max")).ok();
        let current = std::fs::read_to_string(format!("{dir}/pids.current")).ok();
        // "max" (no limit) does not parse as a number: no limit here.
        if let (Some(max), Some(current)) = (max.as_deref().and_then(read_u64), current) {
            return Some((max, read_u64(&current)?));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            nproc: Some(96_364),
            threads_max: Some(192_729),
            pid_max: Some(32_768),
            cgroup_pids: None,
            threads_now: Some(768),
            max_map_count: Some(65_530),
            maps_now: Some(60),
            mem_available: Some(24 << 30),
            cores: 2,
        }
    }

    /// The tightest limit wins and is named: here the mappings (per process), and
    /// pid_max over three processes.
    #[test]
    fn tightest_limit_is_named() {
        let b = facts().budget(64 * 1024);
        assert_eq!(b.per_process.threads, (65_530 - 60 - 32 - 1024) / 4);
        assert!(b.per_process.why.contains("vm.max_map_count 65530"), "{b:?}");
        assert_eq!(b.machine.threads, (32_768 - 768) / 4 * 3);
        assert!(b.machine.why.contains("kernel.pid_max"), "{b:?}");
        assert_eq!(b.default_total(1), b.per_process);
        assert_eq!(b.default_total(3), b.machine);
    }

    /// Little memory: memory sets the default; nothing readable: a small default.
    #[test]
    fn memory_and_unknown() {
        let f = Facts { mem_available: Some(256 << 20), ..facts() };
        let b = f.budget(64 * 1024);
        assert_eq!(b.machine.threads, (256 << 20) / 2 / (128 * 1024));
        assert!(b.machine.why.starts_with("MemAvailable 256"), "{b:?}");
        let none = Facts { cores: 1, ..Facts::default() }.budget(1024);
        assert_eq!(none.default_total(1).threads, UNKNOWN);
    }

    /// An explicit value is kept, refused below the process count or above the
    /// mapping ceiling; no value gives the default, never below the process count.
    #[test]
    fn resolve_checks_what_was_asked() {
        assert_eq!(resolve(Some(8), 1024, 1).expect("8").threads, 8);
        let e = resolve(Some(2), 1024, 3).expect_err("2 over 3");
        assert!(e.to_string().starts_with("--max-threads 2 with --processes 3"), "{e}");
        let e = resolve(Some(usize::MAX / 2), 1024, 1).expect_err("too many");
        assert!(e.to_string().contains("vm.max_map_count"), "{e}");
        let d = resolve(None, 1024, 3).expect("default");
        assert!(d.threads >= 3 && d.why.starts_with("the default here"), "{d:?}");
    }

    /// This machine's facts read without error and give a usable budget.
    #[test]
    fn reads_this_machine() {
        let f = Facts::read();
        assert!(f.maps_now.is_some_and(|n| n > 0), "{f:?}");
        assert!(f.budget(64 * 1024).default_total(1).threads > 0, "{f:?}");
    }
}
