//! One `--processes` child: what it runs (its workers, its share of `--max-threads`,
//! its stats file, read back once it exits), the flags that say so (the parent's [`Flags`], changed where the
//! child differs, written back by [`Flags::to_args`]), and starting it ([`common::child`]): the
//! same binary re-executed with hidden flags, stdin a pipe whose closing stops it,
//! stdout read for the ready line (a child never blocks on a full pipe). Starting
//! and restarting a child go through [`spawn`] alike.

use std::path::{Path, PathBuf};

use std::ffi::OsString;
use std::process::ExitStatus;

use super::{Flags, ServerStats, SharedLimit};
use common::child::{Child, ChildError, Out, Spec};

/// What one child is: its index, its workers, and where it writes its stats.
#[derive(Clone, Debug)]
pub struct ChildPlan {
    /// 0-based index among the children (its slot in the shared `--max-conns` count).
    pub index: usize,
    /// Id of its first worker.
    pub first: usize,
    /// How many workers it runs.
    pub count: usize,
    /// Its stats file, written at exit.
    pub stats_file: PathBuf,
    /// `--model threads`: its share of the server's connection threads.
    pub max_threads: Option<usize>,
}

/// Share `index` of `total` split over `parts`: even, the remainder to the first.
pub fn share(total: usize, parts: usize, index: usize) -> usize {
    total / parts + usize::from(index < total % parts)
}

/// The workers child `index` of `processes` runs: an even split, the remainder first.
pub fn split_workers(workers: usize, processes: usize, index: usize) -> (usize, usize) {
    let first = index * (workers / processes) + index.min(workers % processes);
    (first, share(workers, processes, index))
}

/// The flags that make a child run `plan`'s workers: the parent's `flags`, with the
/// child's own workers, first worker id and stats file, its share of
/// `--max-threads`, and the port the parent reserved (which it joins:
/// `--allow-shared-port`). It runs as one process and leaves `--stats-json` to the
/// parent; with `--max-conns` it counts in the memory shared through `shared_fd`.
/// Passed to the child as [`Flags::to_args`], so only what differs from the defaults.
pub fn child_flags(flags: &Flags, port: u16, plan: &ChildPlan, shared_fd: Option<i32>) -> Flags {
    let processes = usize::try_from(flags.processes).unwrap_or(usize::MAX);
    let shared = |fd| SharedLimit { fd, slot: plan.index, processes };
    Flags {
        port,
        workers: Some(plan.count as u64),
        first_worker: plan.first,
        processes: 1,
        allow_shared_port: true,
        stats_json: None,
        child_stats: Some(plan.stats_file.clone()),
        // Threads and their mappings belong to a process: an exact share each.
        max_threads: plan.max_threads,
        // The whole server's cap, counted in memory every child shares (see `limit`).
        max_conns_shared: flags.max_conns.and(shared_fd).map(shared),
        ..flags.clone()
    }
}

/// Starts child `index` of `exe` with `args`: its stdin a pipe whose closing stops
/// it, its stdout read for the ready line, its stderr this process's.
pub fn spawn(exe: &Path, args: &[OsString], index: usize) -> Result<Child, ChildError> {
    Child::start(
        Spec::new(exe)
            .name(format!("worker process {index}"))
            .args(args)
            .stdin_pipe()
            .stdout(Out::Lines)
            .stderr(Out::Inherit),
    )
}

/// Why a child's workers are missing from the merged stats.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChildStatsError {
    /// Its stats file could not be read.
    #[error("its stats file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// Its stats file is not the stats JSON.
    #[error("its stats file {}: {source}", path.display())]
    Parse { path: PathBuf, source: serde_json::Error },
    /// It exited with a failure, so it wrote none.
    #[error("it ended with {0}")]
    Failed(ExitStatus),
    /// It was down when the server stopped.
    #[error("it was down, waiting to restart")]
    Down,
}

/// A child's stats file, removed once read.
pub(crate) fn read_stats(path: &Path) -> Result<ServerStats, ChildStatsError> {
    let read = std::fs::read(path)
        .map_err(|source| ChildStatsError::Read { path: path.to_path_buf(), source })
        .and_then(|bytes| {
            serde_json::from_slice::<ServerStats>(&bytes)
                .map_err(|source| ChildStatsError::Parse { path: path.to_path_buf(), source })
        });
    let _ = std::fs::remove_file(path);
    read
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Workers split evenly, the remainder to the first children, ids contiguous.
    #[test]
    fn split() {
        assert_eq!(split_workers(8, 3, 0), (0, 3));
        assert_eq!(split_workers(8, 3, 1), (3, 3));
        assert_eq!(split_workers(8, 3, 2), (6, 2));
        assert_eq!(split_workers(2, 2, 1), (1, 1));
    }

    /// Shares add up exactly: 10 over 3 is 4 + 3 + 3.
    #[test]
    fn shares_are_exact() {
        assert_eq!((0..3).map(|i| share(10, 3, i)).collect::<Vec<_>>(), [4, 3, 3]);
        assert_eq!((0..3).map(|i| share(3, 3, i)).sum::<usize>(), 3);
    }

    /// A child's flags are the parent's with its own workers, port, stats file and
    /// shares; they reach it through `to_args` and parse back the same.
    #[test]
    fn child_flags_are_the_parents_with_its_own() {
        use clap::Parser as _;
        let parent = Flags {
            workers: Some(8),
            port: 0,
            bind: "127.0.0.2".parse().expect("ip"),
            no_pin: true,
            max_conns: Some(100),
            model: super::super::Model::Threads,
            max_threads: Some(30),
            processes: 3,
            stats_json: Some("parent.json".into()),
            stats_interval: Some(std::time::Duration::from_secs(1)),
            ..Flags::default()
        };
        let plan = ChildPlan {
            index: 1,
            first: 3,
            count: 3,
            stats_file: "child-1.json".into(),
            max_threads: Some(10),
        };
        let child = child_flags(&parent, 4242, &plan, Some(9));
        let args = child.to_args();
        let argv = std::iter::once(OsString::from("echod")).chain(args.iter().cloned());
        assert_eq!(Flags::try_parse_from(argv).expect("parse"), child);
        let text: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(
            text,
            [
                "--workers=3",
                "--port=4242",
                "--bind=127.0.0.2",
                "--max-conns=100",
                "--model=threads",
                "--max-threads=10",
                "--no-pin",
                "--allow-shared-port",
                "--stats-interval=1s",
                "--first-worker=3",
                "--max-conns-shared=9:1:3",
                "--child-stats=child-1.json",
            ]
        );
        let uncapped = Flags { max_conns: None, ..parent };
        assert_eq!(child_flags(&uncapped, 1, &plan, Some(9)).max_conns_shared, None);
    }

    /// A child's stats file is read back and removed; a missing or broken one is a
    /// typed error whose line names the file, as a failed or down child's says why.
    #[test]
    fn stats_files_read_back_or_say_why_not() {
        let dir = std::env::temp_dir().join(format!("echod-children-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (good, bad) = (dir.join("good.json"), dir.join("bad.json"));
        let stats = ServerStats { restarts: 2, ..ServerStats::default() };
        std::fs::write(&good, serde_json::to_vec(&stats).expect("json")).expect("write");
        assert_eq!(read_stats(&good).expect("read"), stats);
        assert!(!good.exists(), "removed once read");
        let missing = read_stats(&good).expect_err("gone");
        assert!(matches!(missing, ChildStatsError::Read { .. }), "{missing:?}");
        assert!(missing.to_string().starts_with(&format!("its stats file {}: ", good.display())));
        std::fs::write(&bad, "{").expect("write");
        let broken = read_stats(&bad).expect_err("broken");
        assert!(matches!(broken, ChildStatsError::Parse { .. }), "{broken:?}");
        assert!(!bad.exists(), "removed even when broken");
        assert_eq!(ChildStatsError::Down.to_string(), "it was down, waiting to restart");
        let _ = std::fs::remove_dir(&dir);
    }
}
