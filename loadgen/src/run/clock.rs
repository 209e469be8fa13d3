//! The run clock: nanoseconds since one `Instant` shared by every thread of a run,
//! so times taken on different threads (phase boundaries, send and echo times)
//! compare directly and fit in a u64.

use std::time::Instant;

/// Nanoseconds since the run's epoch.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// The instant every thread measures from.
    epoch: Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Self {
        Self { epoch: Instant::now() }
    }

    /// Nanoseconds since the epoch (vDSO `clock_gettime`, no syscall).
    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// CPU time (user + system) this process has used, in seconds, from
/// /proc/self/stat (10 ms resolution); `None` where it cannot be read.
pub fn process_cpu_s() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces:
    // state is field 3, utime 14 and stime 15 (in USER_HZ = 100 ticks per second).
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CPU time reads and does not go backwards while this thread spins.
    #[test]
    fn cpu_time_reads() {
        let a = process_cpu_s().expect("/proc/self/stat");
        let t = Clock::start();
        while t.now_ns() < 30_000_000 {}
        let b = process_cpu_s().expect("/proc/self/stat");
        assert!(b >= a);
    }
}
