//! What a failed `io_uring_enter` means for a `--model uring` worker, and the
//! ring's own counters (said at the worker's end when not zero).
//!
//! - EINTR (a signal) and ETIME (the wait's timeout): a turn with no completions.
//! - EAGAIN (the kernel is short of memory for requests) and EBUSY (its completion
//!   backlog must be taken first): transient. The requests stay queued and the next
//!   turn submits them again, after taking the completions; counted in
//!   [`RingStats::retries`]. Only when they go on failing for [`RETRY_FOR`] do
//!   they stop the worker.
//! - EBADR: the kernel dropped completions (it could not keep its overflow): the
//!   worker can no longer account for its requests or buffers, and stops.
//! - Anything else stops the worker: with its stats, and a runtime failure (not a
//!   usage error) for the server.
//!
//! Tests inject failures with [`TEST_ENTER_FAILS`] (`ERRNO:COUNT`: the worker's
//! first COUNT enters fail with ERRNO without entering), read once per worker.

use std::io;
use std::time::{Duration, Instant};

/// How long transient failures may go on before they stop the worker.
pub(crate) const RETRY_FOR: Duration = Duration::from_secs(1);

/// Test-only: `ERRNO:COUNT`, the worker's first COUNT enters fail with ERRNO.
pub(crate) const TEST_ENTER_FAILS: &str = "ECHOD_TEST_ONLY_URING_ENTER_FAILS";

/// What the ring saw that the shared counters have no field for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RingStats {
    /// Turns that found the completion queue overflowed (its backlog was taken in
    /// the same turn).
    pub(crate) overflows: u64,
    /// Enters retried after a transient failure.
    pub(crate) retries: u64,
}

impl RingStats {
    /// The line said at the worker's end, or `None` when there is nothing to say.
    pub(crate) fn line(&self, worker: usize) -> Option<String> {
        (*self != RingStats::default()).then(|| {
            format!(
                "worker {worker}: io_uring: completion queue overflowed in {} turns (its \
                 backlog taken at once), {} submits retried after EAGAIN/EBUSY",
                self.overflows, self.retries
            )
        })
    }
}

/// Failures injected by a test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Inject {
    /// The errno each failure carries.
    errno: i32,
    /// Failures left.
    left: u32,
}

impl Inject {
    /// `ERRNO:COUNT`, or `None` for anything else.
    fn parse(text: &str) -> Option<Inject> {
        let (errno, count) = text.split_once(':')?;
        Some(Inject { errno: errno.trim().parse().ok()?, left: count.trim().parse().ok()? })
    }
}

/// The worker's rule for failed enters, and its counters.
#[derive(Debug, Default)]
pub(crate) struct Enters {
    /// When the transient failures now going on began.
    failing_since: Option<Instant>,
    /// Injected failures (tests only).
    inject: Option<Inject>,
    /// The ring's own counters.
    pub(crate) stats: RingStats,
}

impl Enters {
    /// The rule, with failures injected as [`TEST_ENTER_FAILS`] says, if it is set.
    pub(crate) fn from_env() -> Enters {
        let inject = std::env::var(TEST_ENTER_FAILS).ok().and_then(|v| Inject::parse(&v));
        Enters { inject, ..Enters::default() }
    }

    /// A rule whose first `count` enters fail with `errno` (tests of the ring).
    #[cfg(test)]
    pub(crate) fn failing(errno: i32, count: u32) -> Enters {
        Enters { inject: Some(Inject { errno, left: count }), ..Enters::default() }
    }

    /// An injected failure for this enter, if one is left.
    pub(crate) fn injected(&mut self) -> Option<io::Error> {
        let inject = self.inject.as_mut().filter(|i| i.left > 0)?;
        inject.left -= 1;
        Some(io::Error::from_raw_os_error(inject.errno))
    }

    /// An enter went through.
    pub(crate) fn succeeded(&mut self) {
        self.failing_since = None;
    }

    /// An enter failed with `e`: `Ok` when the worker goes on (the next turn tries
    /// again), the error to stop it with otherwise.
    pub(crate) fn failed(&mut self, e: io::Error) -> io::Result<()> {
        match e.raw_os_error() {
            Some(libc::EINTR | libc::ETIME) => Ok(()),
            Some(libc::EAGAIN | libc::EBUSY) => {
                self.stats.retries += 1;
                let since = *self.failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() < RETRY_FOR {
                    std::thread::yield_now();
                    return Ok(());
                }
                Err(io::Error::new(
                    e.kind(),
                    format!("io_uring_enter kept failing for {RETRY_FOR:?}: {e}"),
                ))
            }
            Some(libc::EBADR) => Err(io::Error::other(
                "the kernel dropped io_uring completions (it could not keep its completion \
                 backlog): this worker's requests and buffers can no longer be accounted for",
            )),
            _ => Err(io::Error::new(e.kind(), format!("io_uring_enter: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(errno: i32) -> io::Error {
        io::Error::from_raw_os_error(errno)
    }

    /// A signal or a timeout is a turn; EAGAIN and EBUSY are retried and counted,
    /// until they have gone on for RETRY_FOR; EBADR and anything else stop the
    /// worker.
    #[test]
    fn failures_are_sorted() {
        let mut enters = Enters::default();
        assert!(enters.failed(err(libc::EINTR)).is_ok());
        assert!(enters.failed(err(libc::ETIME)).is_ok());
        assert!(enters.failed(err(libc::EAGAIN)).is_ok());
        assert!(enters.failed(err(libc::EBUSY)).is_ok());
        assert_eq!(enters.stats.retries, 2);
        enters.succeeded();
        assert!(enters.failed(err(libc::EBADR)).is_err());
        assert!(enters.failed(err(libc::EINVAL)).is_err());
        assert!(enters.failed(err(libc::EFAULT)).is_err());
        enters.failing_since = Some(Instant::now() - RETRY_FOR);
        let gave_up = enters.failed(err(libc::EAGAIN)).expect_err("for too long");
        assert!(gave_up.to_string().contains("kept failing"), "{gave_up}");
    }

    /// The test hook takes ERRNO:COUNT and fails that many enters, no more.
    #[test]
    fn injected_failures_run_out() {
        assert_eq!(Inject::parse("11:2"), Some(Inject { errno: 11, left: 2 }));
        assert_eq!(Inject::parse("eleven:2"), None);
        let mut enters = Enters { inject: Inject::parse("11:2"), ..Enters::default() };
        assert_eq!(enters.injected().and_then(|e| e.raw_os_error()), Some(libc::EAGAIN));
        assert!(enters.injected().is_some());
        assert!(enters.injected().is_none());
        assert!(Enters::default().injected().is_none());
    }

    /// The end-of-worker line only when something happened, naming both counts.
    #[test]
    fn stats_line_only_when_not_zero() {
        assert_eq!(RingStats::default().line(0), None);
        let line = RingStats { overflows: 3, retries: 5 }.line(2).expect("a line");
        assert!(line.starts_with("worker 2: io_uring:"), "{line}");
        assert!(line.contains("in 3 turns") && line.contains("5 submits retried"), "{line}");
    }
}
