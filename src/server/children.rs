//! One `--processes` child: what it runs (its workers, its share of `--max-threads`,
//! its stats file), the flags that say so, and starting it ([`crate::child`]): the
//! same binary re-executed with hidden flags, stdin a pipe whose closing stops it,
//! stdout read for the ready line (a child never blocks on a full pipe). Starting
//! and restarting a child go through [`spawn`] alike.

use std::path::{Path, PathBuf};

use super::Config;
use crate::child::{Child, ChildError, Out, Spec};

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
    pub stats: PathBuf,
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

/// The command-line flags that make a child run `plan`'s workers of `config` on
/// `port`; `shared` is the descriptor and size of the `--max-conns` count.
pub fn child_args(
    config: &Config,
    port: u16,
    plan: &ChildPlan,
    shared: Option<(i32, usize)>,
) -> Vec<String> {
    let mut args = vec![
        format!("--bind={}", config.bind),
        format!("--port={port}"),
        format!("--workers={}", plan.count),
        format!("--backlog={}", config.backlog),
        format!("--buffer={}", config.buffer),
        format!("--model={}", config.model.name()),
        "--allow-shared-port".to_string(),
        format!("--first-worker={}", plan.first),
        format!("--child-stats={}", plan.stats.display()),
    ];
    if !config.pin {
        args.push("--no-pin".into());
    }
    if let Some(max) = config.max_conns {
        // The whole server's cap, counted in memory every child shares (see `limit`).
        args.push(format!("--max-conns={max}"));
        if let Some((fd, processes)) = shared {
            args.push(format!("--max-conns-shared={fd}:{}:{processes}", plan.index));
        }
    }
    if let Some(threads) = plan.max_threads {
        // Threads and their mappings belong to a process: an exact share each.
        args.push(format!("--max-threads={threads}"));
    }
    if let Some(every) = config.stats_interval {
        args.push(format!("--stats-interval={}", humantime::format_duration(every)));
    }
    args
}

/// Starts child `index` of `exe` with `args`: its stdin a pipe whose closing stops
/// it, its stdout read for the ready line, its stderr this process's.
pub fn spawn(exe: &Path, args: &[String], index: usize) -> Result<Child, ChildError> {
    Child::start(
        Spec::new(exe)
            .name(format!("worker process {index}"))
            .args(args)
            .stdin_pipe()
            .stdout(Out::Lines)
            .stderr(Out::Inherit),
    )
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
}
