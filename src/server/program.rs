//! The echod program, from parsed [`Flags`] to an exit code: prove `--stats-json`
//! writable first, raise the descriptor limit, serve (one process: a [`Server`]; or
//! the `--processes` [`Supervisor`]) until a signal, print the stats lines, write the
//! stats file. The binary only parses the flags and calls [`run`].
//!
//! A process is the whole server or one `--processes` child ([`Role`]); a child
//! prints no start-up lines and no stats lines (its parent speaks for the whole
//! server), stops when its stdin closes, and writes its stats where `--child-stats`
//! says. SIGINT/SIGTERM stop a process gracefully; a second signal, or a graceful
//! stop that takes more than `STOP_GRACE` (10 s), ends it at once.

use std::io::{self, Read};
use std::time::Duration;

use super::processes::{self, Outcome, Supervisor};
use super::stats_file::{self, StatsFileError};
use super::thread_budget::Limit;
use super::{Config, Flags, Server, ServerError, ShutdownHandle};
use common::cli::{EXIT_FAILED, EXIT_USAGE};
use common::signals::{self, Listener, Signals};

/// How long a graceful stop may take before echod exits without it.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Why echod ended with an error. Printed once, as `echod: cause: cause`.
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    /// The stats file: refused at start, or written elsewhere (or not at all) at exit.
    #[error(transparent)]
    Stats(#[from] StatsFileError),
    /// The server could not start, or a `--processes` run failed.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// A call to the OS that echod needs failed.
    #[error("{what}")]
    Os {
        /// What echod was doing.
        what: &'static str,
        /// The OS's reason.
        source: io::Error,
    },
}

impl ProgramError {
    /// 1 for a run that went wrong after it started (the stats went elsewhere, a
    /// worker failed, or a `--processes` child kept dying or lost its stats), else 2.
    pub fn exit_code(&self) -> u8 {
        match self {
            ProgramError::Stats(
                StatsFileError::WroteFallback { .. } | StatsFileError::Lost { .. },
            )
            | ProgramError::Server(
                ServerError::GaveUp { .. }
                | ServerError::ChildLost { .. }
                | ServerError::Worker { .. }
                | ServerError::Panicked { .. },
            ) => EXIT_FAILED,
            _ => EXIT_USAGE,
        }
    }
}

/// `what` as the context of an OS error.
fn os(what: &'static str) -> impl FnOnce(io::Error) -> ProgramError {
    move |source| ProgramError::Os { what, source }
}

/// What this process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The whole server (alone, or the parent of `--processes` children).
    Whole,
    /// One `--processes` child (started with `--child-stats`).
    Child,
}

impl Role {
    /// The role `flags` give this process.
    pub fn of(flags: &Flags) -> Role {
        if flags.child_stats.is_some() {
            Role::Child
        } else {
            Role::Whole
        }
    }
}

/// Runs echod as `flags` ask, until a signal (or, for a child, until stdin closes).
pub fn run(flags: Flags) -> Result<(), ProgramError> {
    if let Some(path) = &flags.stats_json {
        // Before anything starts: a run must not end in "cannot write the stats".
        stats_file::check_writable(path)?;
    }
    let role = Role::of(&flags);
    let Outcome { stats, failure } =
        if flags.processes > 1 { run_processes(&flags)? } else { run_one(flags.config(), role)? };
    if role == Role::Whole {
        // A --processes child leaves the report to its parent, which merges all.
        for line in stats.lines() {
            common::say!("echod: {line}");
        }
    }
    // The stats are written also when the run failed: they say what happened.
    if let Some(path) = flags.child_stats.iter().chain(&flags.stats_json).next() {
        match (stats_file::write(path, &stats), &failure) {
            (Err(e), None) => return Err(e.into()),
            (Err(e), Some(_)) => common::say!("echod: {e}"), // the failure is the last line
            (Ok(()), _) => {}
        }
    }
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// One process: raise the descriptor limit, bind, print the ready line, serve until a
/// signal (or, as a `--processes` child, until stdin closes).
fn run_one(config: Config, role: Role) -> Result<Outcome, ProgramError> {
    let before = common::sys::nofile_limit().map_err(os("reading RLIMIT_NOFILE"))?;
    let limit = common::sys::raise_nofile_limit().map_err(os("raising RLIMIT_NOFILE"))?;
    let server = Server::bind(config.clone())?;
    // Printed once bound, so a refusal stays a one-line error. A --processes child
    // says nothing: the parent's lines cover the whole server (and lines from several
    // processes at once would interleave).
    if role == Role::Whole {
        common::say!("echod: {}", super::exposure::line(&config, server.local_addr()));
        common::say!("echod: {}", descriptor_line(limit.soft, before.soft, config.workers));
        if let Some(limit) = server.thread_limit() {
            common::say!("echod: {}", thread_line(limit));
        }
        if let Some(line) = server.uring_line() {
            common::say!("echod: {line}");
        }
    }
    let handle = server.shutdown_handle();
    on_signal(handle.clone())?;
    if role == Role::Child {
        std::thread::spawn(move || {
            // The parent closes our stdin to stop us (or dies, which closes it too).
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            handle.shutdown();
        });
    }
    common::cli::print(&format!(
        "listening on {} workers={} model={} proto={}\n",
        server.local_addr(),
        config.workers,
        config.model.name(),
        config.proto.name()
    ));
    if role == Role::Child && std::env::var_os(processes::TEST_CHILD_EXITS).is_some() {
        // Test-only: a child that dies right after its ready line (restart tests).
        let _ = std::io::Write::flush(&mut std::io::stdout());
        std::process::exit(3);
    }
    let (stats, failure) = server.run_to_end();
    Ok(Outcome { stats, failure })
}

/// Several processes sharing the port, supervised from here.
fn run_processes(flags: &Flags) -> Result<Outcome, ProgramError> {
    let (config, processes) = (flags.config(), flags.processes as usize);
    let signals = Signals::install().map_err(os("installing signal handlers"))?;
    let exe = std::env::current_exe().map_err(os("finding echod's own executable"))?;
    let sup = Supervisor::start(flags, &exe)?;
    common::say!("echod: {}", super::exposure::line(&config, sup.local_addr()));
    // Each child raised its own limit to the hard limit, which it inherits from here.
    let hard = common::sys::nofile_limit().map_err(os("reading RLIMIT_NOFILE"))?.hard;
    let each: Vec<u64> = (0..processes)
        .map(|i| capacity(hard, processes::split_workers(config.workers, processes, i).1))
        .collect();
    let shares: Vec<String> = each.iter().map(u64::to_string).collect();
    common::say!(
        "echod: {processes} processes, each with its own descriptor limit ({hard}): about {} \
         connections in all ({})",
        each.iter().sum::<u64>(),
        shares.join(" + ")
    );
    if let Some(limit) = sup.thread_limit() {
        common::say!("echod: {}", thread_line(limit));
    }
    common::cli::print(&format!(
        "listening on {} workers={} model={} proto={} processes={processes}\n",
        sup.local_addr(),
        config.workers,
        config.model.name(),
        config.proto.name()
    ));
    Ok(sup.run(signals.stop_flag()))
}

/// The start-up line on descriptors: the limit (raised from `before`), what one
/// process of `workers` workers holds under it, and how many `--processes` 50,000
/// connections need here.
fn descriptor_line(soft: u64, before: u64, workers: usize) -> String {
    let holds = capacity(soft, workers);
    format!(
        "descriptor limit {soft} (raised from {before}): this process can hold about {holds} \
         connections; past that, accept() fails with EMFILE and echod pauses accepting: \
         for more, run --processes N (each process has its own limit; 50,000 \
         connections need {} here)",
        50_000u64.div_ceil(holds.max(1))
    )
}

/// The start-up line of `--model threads`: the connection-thread cap and its source.
fn thread_line(limit: &Limit) -> String {
    format!(
        "--model threads: at most {} connection threads ({}); past that, new connections \
         are accepted and closed, counted in rejected_resources",
        limit.threads, limit.why
    )
}

/// Connections one process with `workers` workers holds under a descriptor limit of
/// `soft`: each worker also holds a poll, a listener and a waker, plus a few spare.
fn capacity(soft: u64, workers: usize) -> u64 {
    soft.saturating_sub(3 * workers as u64 + 16)
}

/// SIGINT/SIGTERM fire the shutdown handle from a signal thread. SIGTERM works in
/// every state: a second signal, or a graceful stop that has not finished within
/// [`STOP_GRACE`] (a worker stuck on a pipe nobody reads), ends the process at
/// once, with one line saying so (exit 128 + signal, or 1).
fn on_signal(handle: ShutdownHandle) -> Result<(), ProgramError> {
    let mut signals = Listener::install().map_err(os("installing signal handlers"))?;
    std::thread::Builder::new()
        .name("echod-signals".into())
        .spawn(move || {
            if signals.wait().is_none() {
                return;
            }
            handle.shutdown();
            let deadline = std::time::Instant::now() + STOP_GRACE;
            while std::time::Instant::now() < deadline {
                if let Some(sig) = signals.pending() {
                    common::say!(
                        "echod: a second signal: exiting now, without waiting for workers"
                    );
                    std::process::exit(signals::exit_code(sig).into());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            common::say!(
                "echod: the workers did not stop within {STOP_GRACE:?}: exiting without them"
            );
            std::process::exit(1);
        })
        .map_err(os("starting the signal thread"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failure after the start is 1, bad input 2; an OS error prints as
    /// `what: cause`, once.
    #[test]
    fn exit_codes_and_messages() {
        let gave_up = ServerError::GaveUp {
            index: 0,
            deaths: 4,
            window: Duration::from_secs(60),
            last: "signal 9".into(),
        };
        assert_eq!(ProgramError::from(gave_up).exit_code(), EXIT_FAILED);
        let lost = ServerError::ChildLost { index: 1, what: "gone".into() };
        assert_eq!(ProgramError::from(lost).exit_code(), EXIT_FAILED);
        let invalid = ServerError::Invalid("--workers 0: ...".into());
        assert_eq!(ProgramError::from(invalid).exit_code(), EXIT_USAGE);
        let refused = StatsFileError::Unwritable { path: "/x".into(), cause: "no".into() };
        assert_eq!(ProgramError::from(refused).exit_code(), EXIT_USAGE);
        let e = os("reading RLIMIT_NOFILE")(io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(e.exit_code(), EXIT_USAGE);
        let line = format!("{:#}", anyhow::Error::from(e));
        assert!(line.starts_with("reading RLIMIT_NOFILE: "), "{line}");
        assert_eq!(line.matches("os error").count(), 1, "{line}");
    }

    /// A child is the process started with `--child-stats`.
    #[test]
    fn role_of_the_flags() {
        assert_eq!(Role::of(&Flags::default()), Role::Whole);
        let child = Flags { child_stats: Some("c.json".into()), ..Flags::default() };
        assert_eq!(Role::of(&child), Role::Child);
    }

    /// The descriptor line: what one process holds after its own descriptors, and
    /// how many processes 50,000 connections need.
    #[test]
    fn descriptor_line_counts() {
        assert_eq!(capacity(20_000, 2), 20_000 - 22);
        assert_eq!(capacity(10, 2), 0);
        let line = descriptor_line(20_000, 1024, 2);
        assert!(line.starts_with("descriptor limit 20000 (raised from 1024): "), "{line}");
        assert!(line.contains("hold about 19978 connections"), "{line}");
        assert!(line.ends_with("50,000 connections need 3 here)"), "{line}");
    }
}
