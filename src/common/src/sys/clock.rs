//! The kernel's word on the wall clock: `adjtimex` with no mode set only reads the
//! NTP state, so a benchmark on several hosts can say how far their "same second"
//! can be trusted.

/// The wall clock's synchronization, as the kernel keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockSync {
    /// Synchronized to a time source (the state is not TIME_ERROR).
    pub synchronized: bool,
    /// The kernel's maximum error estimate, µs.
    pub max_error_us: i64,
    /// Its estimated error, µs.
    pub est_error_us: i64,
}

/// Reads the clock's state (`adjtimex` with modes 0: nothing is changed); `None`
/// when the kernel refuses.
pub fn clock_sync() -> Option<ClockSync> {
    // SAFETY: an all-zero timex is a valid value of a plain C struct; with modes 0
    // adjtimex only writes the current state into it.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: `tx` is a valid, writable timex that outlives the call.
    let state = unsafe { libc::adjtimex(&mut tx) };
    (state >= 0).then_some(ClockSync {
        synchronized: state != libc::TIME_ERROR,
        max_error_us: tx.maxerror as i64,
        est_error_us: tx.esterror as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading changes nothing and gives a state (the call is allowed without
    /// privileges when it only reads).
    #[test]
    fn reads_the_clock_state() {
        let a = clock_sync().expect("adjtimex reads");
        let b = clock_sync().expect("adjtimex reads again");
        assert_eq!(a.synchronized, b.synchronized);
        assert!(a.max_error_us >= 0 && a.est_error_us >= 0, "{a:?}");
    }
}
