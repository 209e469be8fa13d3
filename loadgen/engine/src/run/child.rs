//! The child's side of a split run (see `processes`) and the wire between a child
//! and its parent. On stdout a child says `connected K` after its connect phase,
//! then one `interval {json}` line per completed second (an [`Interval`] merged
//! over its threads, histogram included) and `unserved` when it first gives a
//! connection up as unserved; it reads `go` (or anything else: do not run; EOF:
//! the parent is gone) on stdin. At the end it writes its result (a [`RunResult`],
//! as `--json` would: histograms as base64 HdrHistogram V2, per second too) to its
//! `--child-out` file, and the parent merges the children's results as `loadgen
//! merge` merges agents' (`merge`). A parent that went away is never an error here.

use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

use super::config::Config;
use super::merge_check::Input;
use super::outcome::{build, Measurement};
use super::tally::Interval;
use crate::result::RunResult;

/// The prefix of a child's stdout line that carries one completed second.
const INTERVAL_LINE: &str = "interval ";
/// A child's stdout line saying it gave a connection up as unserved.
const UNSERVED_LINE: &str = "unserved";

/// A child's word to its parent that it found a connection unserved (the parent
/// tells the user once for the whole run).
pub fn forward_unserved(_timeout: Duration) {
    let _ = writeln!(std::io::stdout().lock(), "{UNSERVED_LINE}");
}

/// A child's live feed: one completed second (merged over its threads, histogram
/// included) as one stdout line, `interval {json}`, for the parent's live line.
/// A parent that went away is not an error here.
pub fn forward_interval(iv: &Interval) {
    if let Some(line) = interval_line(iv) {
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

/// The line that carries `iv` to the parent.
fn interval_line(iv: &Interval) -> Option<String> {
    serde_json::to_string(iv).ok().map(|json| format!("{INTERVAL_LINE}{json}"))
}

/// A child hands its parent what it measured under `config`: its result as JSON
/// in `path`.
pub fn write_figures(config: &Config, m: &Measurement, path: &Path) -> anyhow::Result<()> {
    let result = build(config, m).map_err(anyhow::Error::msg)?;
    let text = serde_json::to_string(&result).context("cannot serialize the child's result")?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The parent reads the result child `index` left in `path`; `None` when it left
/// nothing whole.
pub fn read_figures(index: u64, path: &Path) -> Option<Input> {
    let result: RunResult = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    Some(Input { label: format!("child process {index}"), result })
}

/// The child's gate: report the connections up, wait for the parent's word.
pub fn child_gate(established: u64) -> bool {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{CONNECTED_LINE}{established}").and_then(|_| out.flush()).is_err() {
        return false;
    }
    let mut line = String::new();
    // EOF (the parent is gone) or anything but `go` means: do not run.
    std::io::stdin().lock().read_line(&mut line).is_ok() && line.trim() == "go"
}

/// The prefix of the line a child says after its connect phase.
const CONNECTED_LINE: &str = "connected ";

/// A line of a child's stdout, as its parent reads it.
#[derive(Debug)]
pub enum ChildLine {
    /// Its connect phase is over with this many connections up.
    Connected(u64),
    /// One completed second (boxed: it is far larger than the other lines).
    Interval(Box<Interval>),
    /// It gave a connection up as unserved.
    Unserved,
    /// Anything else (ignored).
    Other,
}

/// Reads one line of a child's stdout.
pub fn parse_line(line: &str) -> ChildLine {
    if line == UNSERVED_LINE {
        return ChildLine::Unserved;
    }
    if let Some(n) = line.strip_prefix(CONNECTED_LINE).and_then(|n| n.trim().parse().ok()) {
        return ChildLine::Connected(n);
    }
    line.strip_prefix(INTERVAL_LINE)
        .and_then(|json| serde_json::from_str::<Interval>(json).ok())
        .map_or(ChildLine::Other, |iv| ChildLine::Interval(Box::new(iv)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::histogram::{new_histogram, record};

    /// A second forwarded by a child is read back by its parent as it was,
    /// histogram included; the other lines are told apart.
    #[test]
    fn lines_read_back() {
        let mut iv = Interval {
            index: 2,
            end_s: 3.0,
            conns_up: 5,
            served: 4,
            unserved: 1,
            latency: new_histogram(),
            msgs: 10,
            errors: 0,
            datagrams: Default::default(),
            churn: Default::default(),
        };
        record(&mut iv.latency, 5_000);
        let line = interval_line(&iv).expect("a line");
        assert!(matches!(parse_line(&line), ChildLine::Interval(back) if *back == iv));
        assert!(matches!(parse_line("connected 7"), ChildLine::Connected(7)));
        assert!(matches!(parse_line(UNSERVED_LINE), ChildLine::Unserved));
        assert!(matches!(parse_line("interval {"), ChildLine::Other));
    }
}
