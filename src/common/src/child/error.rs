//! Why a child did not get where it was asked to: it could not start, it ended
//! first, or it overstayed a bound; the last two carry its last lines of stderr, and
//! the message ends with the last of them.

use std::io;
use std::process::ExitStatus;
use std::time::Duration;

/// Why a child did not get where it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// It could not be started.
    #[error("cannot start {name}: {source}")]
    Start {
        /// The child's name.
        name: String,
        /// The OS's reason.
        source: io::Error,
    },
    /// It ended first: how, and its last lines of stderr.
    #[error("{name} exited ({status}) before {waited_for}{}", tail_text(.tail))]
    Exited {
        /// The child's name.
        name: String,
        /// How it ended.
        status: ExitStatus,
        /// What was awaited.
        waited_for: String,
        /// Its last lines of stderr.
        tail: Vec<String>,
    },
    /// It is still running after the bound (it was stopped).
    #[error("{name} did not print {waited_for} within {limit:?}{}", tail_text(.tail))]
    TimedOut {
        /// The child's name.
        name: String,
        /// What was awaited.
        waited_for: String,
        /// The bound.
        limit: Duration,
        /// Its last lines of stderr.
        tail: Vec<String>,
    },
}

fn tail_text(tail: &[String]) -> String {
    match tail.last() {
        Some(last) => format!("; its last line: {last}"),
        None => String::new(),
    }
}
