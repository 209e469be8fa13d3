//! `--start-at TIME`: agents on several hosts measure the same seconds. Each
//! connects first, then waits for TIME (RFC 3339, or Unix seconds) and begins its
//! warm-up there, the measured phase right after. A TIME already past, or more
//! than [`MAX_AHEAD`] away, is refused when the flag is read. Every result records
//! its clock ([`ClockRecord`]): when its warm-up and measured phase began on this
//! host's wall clock, how late that was against TIME, and what the kernel says of
//! the clock's synchronization (adjtimex), so a reader sees how far "the same
//! second" on two hosts can be trusted.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::result::ClockRecord;

/// The furthest ahead a start time may be (agents hold their connections open,
/// idle, until then).
pub const MAX_AHEAD: Duration = Duration::from_secs(3600);

/// A wall-clock start time, as given and in Unix seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct StartAt {
    /// As the user wrote it (the JSON keeps it).
    pub text: String,
    /// Unix seconds.
    pub unix_s: f64,
}

impl fmt::Display for StartAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// This host's wall clock, in Unix seconds.
pub fn now_unix_s() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// `--start-at`: RFC 3339 (`2026-11-30T12:00:00Z`) or Unix seconds (`1796040000`),
/// in the future and at most [`MAX_AHEAD`] away.
pub fn parse_start_at(text: &str) -> Result<StartAt, String> {
    start_at_rule(text, now_unix_s())
}

/// The rule of `--start-at`, against the wall clock `now` (Unix seconds).
pub fn start_at_rule(text: &str, now: f64) -> Result<StartAt, String> {
    let t = text.trim();
    let unix_s = match t.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 => s,
        _ => humantime::parse_rfc3339_weak(t)
            .map_err(|_| {
                format!(
                    "'{text}' is not a time: use RFC 3339 (2026-11-30T12:00:00Z) or Unix seconds"
                )
            })?
            .duration_since(UNIX_EPOCH)
            .map_err(|_| format!("'{text}' is before 1970"))?
            .as_secs_f64(),
    };
    if unix_s <= now {
        return Err(format!(
            "{text} is {:.1} s in the past on this host's clock: give a time ahead, e.g. \
             $(($(date +%s) + 30))",
            now - unix_s
        ));
    }
    if unix_s - now > MAX_AHEAD.as_secs_f64() {
        return Err(format!(
            "{text} is {:.0} s away, more than {} s: give a time within the hour",
            unix_s - now,
            MAX_AHEAD.as_secs()
        ));
    }
    Ok(StartAt { text: text.to_string(), unix_s })
}

/// How long before `--start-at` the wait stops sleeping and yields instead.
const SPIN_S: f64 = 0.002;

/// Waits until `at` (bounded by [`MAX_AHEAD`]), in short steps so `stop` ends the
/// wait; whether the time came (false: stopped).
pub fn wait_until(at: &StartAt, stop: &AtomicBool) -> bool {
    let give_up = std::time::Instant::now() + MAX_AHEAD + Duration::from_secs(1);
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let left = at.unix_s - now_unix_s();
        if left <= 0.0 || std::time::Instant::now() > give_up {
            return true;
        }
        if left < SPIN_S {
            // The last stretch awake, yielding: a thread that sleeps through T wakes
            // behind whatever took the core meanwhile (other agents' traffic on a
            // busy host), a scheduler slice or more late.
            std::thread::yield_now();
            continue;
        }
        std::thread::sleep(Duration::from_secs_f64((left - SPIN_S).min(0.05)));
    }
}

/// The clock record of a run whose warm-up began at `began_unix_s` (this host's
/// wall clock), `warmup_s` before its measured phase, asked to start at `at`.
pub fn record(began_unix_s: f64, warmup_s: f64, at: Option<&StartAt>) -> ClockRecord {
    let sync = common::sys::clock_sync();
    ClockRecord {
        began_unix_s,
        measured_from_unix_s: began_unix_s + warmup_s,
        start_at: at.map(|a| a.text.clone()),
        start_at_unix_s: at.map(|a| a.unix_s),
        late_s: at.map(|a| began_unix_s - a.unix_s),
        synchronized: sync.map(|s| s.synchronized),
        max_error_us: sync.map(|s| s.max_error_us),
        est_error_us: sync.map(|s| s.est_error_us),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3339 and Unix seconds read as the same time; past and too far are
    /// refused in one line saying how to fix it.
    #[test]
    fn start_at_rule_reads_and_refuses() {
        let now = 1_796_040_000.0; // 2026-12-01T...Z
        let unix = start_at_rule("1796040030", now).expect("30 s ahead");
        assert_eq!(unix.unix_s, 1_796_040_030.0);
        let rfc =
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(1_796_040_030));
        assert_eq!(start_at_rule(&rfc.to_string(), now).expect("rfc 3339").unix_s, unix.unix_s);
        let past = start_at_rule("1796039990", now).expect_err("past");
        assert!(past.contains("10.0 s in the past") && !past.contains('\n'), "{past}");
        let far = start_at_rule("1796047201", now).expect_err("too far");
        assert!(far.contains("within the hour"), "{far}");
        assert!(start_at_rule("tomorrow", now).expect_err("bad").contains("RFC 3339"));
    }

    /// A start already due does not wait; a stopped wait says so; the record
    /// says how late the warm-up began.
    #[test]
    fn waits_and_records() {
        let stop = AtomicBool::new(false);
        let due = StartAt { text: "due".into(), unix_s: now_unix_s() - 1.0 };
        assert!(wait_until(&due, &stop));
        stop.store(true, Ordering::Relaxed);
        let later = StartAt { text: "later".into(), unix_s: now_unix_s() + 60.0 };
        assert!(!wait_until(&later, &stop));
        let r = record(due.unix_s + 0.25, 2.0, Some(&due));
        assert_eq!((r.late_s, r.measured_from_unix_s), (Some(0.25), due.unix_s + 2.25));
        assert_eq!(r.start_at.as_deref(), Some("due"));
    }
}
