//! `loadgen compare BASE NEW`: the CI verdict on two sets of results.
//!
//! Each side is a result file or a folder of them (searched recursively; repeated
//! runs of a scenario are several files with the same `scenario`). Per scenario,
//! compare takes the best run of each metric (or the median: `--statistic`), the ratio NEW/BASE, and a
//! direction-aware verdict: a change is flagged only when it exceeds both its
//! threshold and the noise band the runs themselves show. Correctness checks
//! (mismatched bytes, missing connections, interrupted runs) and scenarios missing
//! from NEW always fail. Exit codes: 0 nothing regressed, 1 a regression or a
//! failure, 2 unreadable input.
//!
//! # Layout
//!
//! - [`load`]: files and folders into runs by scenario; errors name file and field.
//! - [`stats`]: the compared figure (best run or median), spread, noise band.
//! - [`verdict`]: metrics, directions, thresholds, the verdict rule.
//! - [`row`]: a table row, its unit, and the summary of a metric over runs.
//! - `samples`: a latency figure of a run without samples is missing data, never 0.
//! - [`comparison`]: the structured comparison (what tests inspect), performance rows.
//! - `checks`: correctness checks, the calibration row, notes.
//! - [`relative`]: `--relative-to PEER`, echod as a ratio to a peer of the same run.
//! - [`plot`]: `--plot FILE`, BASE and NEW on one percentile axis.
//! - [`render`]: text, markdown and JSON output.

mod checks;
pub mod comparison;
pub mod load;
pub mod paired;
pub mod plot;
pub mod relative;
pub mod render;
pub mod row;
mod samples;
pub mod stats;
pub mod verdict;

use std::path::{Path, PathBuf};

pub use comparison::{Comparison, Options, ScenarioComparison};
pub use load::LoadError;
pub use render::Format;
pub use row::{Row, Unit};
pub use stats::Statistic;
pub use verdict::{Metric, Thresholds, Verdict};

const AFTER_HELP: &str = "\
Metrics per scenario (matched by the results' `scenario` field):
  throughput    throughput.msgs_per_sec          higher is better
  p50 p99 p999  latency_us.p50 / .p99 / .p999    lower is better; a run with no
                                                 latency samples is missing data
                                                 (FAIL in NEW), never 0 µs
  connect_rate  connections.connect_rate_per_sec informational, unless given
                                                 a --threshold-for
  connections   FAIL if a NEW run established fewer than requested, or fewer than BASE
  mismatch      FAIL if a NEW run has errors.mismatch > 0
  interrupted   FAIL if a NEW run was interrupted (Ctrl-C, or the server died)
  calibration   the machine's ping-pong before each run, shown for context

Verdicts: improved, REGRESSED, ~ (within the threshold), ~ noise (past the
threshold but inside the noise band: not flagged), ok / FAIL (checks).

Noise: with several runs per scenario (the suite's --repeat), the best run of
each side is compared (--statistic median: the medians) and the noise band is
the spread of BASE plus the spread of NEW (spread = half of min..max, relative
to the median; a side with one run borrows the other's). A regression must
exceed BOTH its threshold and the band. With one run a side there is no
measured spread: only the threshold applies. Why the best run: on a shared
machine noise only ever slows a run down, so the best of N is the least
disturbed figure (results/compare-validation.md).

Folders: every *.json under them, recursively. JSON without `schema_version`
(echod stats, an index) is skipped; a wrong schema_version is an error. A
scenario in BASE but missing in NEW is a FAILURE (missing data never passes);
a scenario only in NEW is reported as new, and its runs still fail on
mismatches, missing connections or an interruption (those checks need no BASE).

Exit codes: 0 nothing regressed, 1 a regression or a failure, 2 unreadable input
(the message names the file and the field) or output that cannot be written.

Examples:
  loadgen compare base.json new.json
  loadgen compare results/baseline results/tmp --threshold 15% --threshold-for p999=40%
  loadgen compare results/baseline results/tmp --normalize --format markdown >> \"$GITHUB_STEP_SUMMARY\"
  loadgen compare results/tmp/base results/tmp/new     (a `suite --base` run: one machine)
  loadgen compare results/baseline results/tmp/new --relative-to tokio-echo --relative-to epoll_echo
  loadgen compare old/ new/ --format json | jq '.scenarios[].rows[] | select(.verdict==\"regressed\")'";

/// Flags of `loadgen compare`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_long_help = AFTER_HELP)]
pub struct CompareArgs {
    /// Base result file, or a folder of results (searched recursively).
    pub base: PathBuf,
    /// New result file, or a folder of results (searched recursively).
    pub new: PathBuf,
    /// Output: a table for the terminal, markdown for CI summaries, JSON for tools.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// A change smaller than this is not flagged (`10%`, `2.5%`; `10` means 10%).
    #[arg(long, default_value = "10%", value_parser = verdict::parse_percent, value_name = "PCT")]
    pub threshold: f64,
    /// The threshold of one metric (throughput, p50, p99, p999, connect_rate), e.g.
    /// `p999=40%`; repeatable. Giving one to connect_rate makes it fail on regression.
    #[arg(long, value_name = "METRIC=PCT", value_parser = verdict::parse_threshold_for)]
    pub threshold_for: Vec<(Metric, f64)>,
    /// Show METRIC and its verdict, but never fail on it (repeatable), e.g. the
    /// latencies of short runs on a shared machine.
    #[arg(long, value_name = "METRIC", value_parser = verdict::parse_metric)]
    pub informational: Vec<Metric>,
    /// Divide each run's throughput by its calibration round trips/s and its latencies
    /// by its calibration p50, so a slower or busier machine does not read as a
    /// regression. Every result must carry a calibration of the same method.
    #[arg(long)]
    pub normalize: bool,
    /// Compare echod as a ratio to PEER measured in the same run (repeatable, e.g.
    /// tokio-echo, epoll_echo): each `peers echod ... conns=N` run is divided by the
    /// PEER run at N in the same folder, so results from different machines compare
    /// (results/baseline against today's host).
    #[arg(long, value_name = "PEER", conflicts_with = "normalize")]
    pub relative_to: Vec<String>,
    /// Draw BASE and NEW latency on one percentile axis into FILE (an SVG; with
    /// several scenarios, one chart each beside it: FILE-<scenario>.svg).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Which figure of each side's runs to compare: the best run (the highest
    /// throughput, the lowest latency: the least disturbed on a shared machine,
    /// where noise only slows runs down) or the median.
    #[arg(long, value_enum, default_value_t = Statistic::Best)]
    pub statistic: Statistic,
}

impl CompareArgs {
    /// The comparison options these flags ask for.
    pub fn options(&self) -> Options {
        let mut thresholds = Thresholds { default: self.threshold, ..Thresholds::default() };
        thresholds.overrides.extend(self.threshold_for.iter().copied());
        thresholds.informational.extend(self.informational.iter().copied());
        Options {
            thresholds,
            normalize: self.normalize,
            statistic: self.statistic,
            relative_to: self.relative_to.clone(),
        }
    }
}

/// Reads both sides and compares them: the library entry point tests call.
pub fn compare_paths(base: &Path, new: &Path, options: &Options) -> Result<Comparison, LoadError> {
    let mut base_side = load::load_side(base)?;
    let mut new_side = load::load_side(new)?;
    if !options.relative_to.is_empty() {
        base_side = relative::relative_to(&base_side, &options.relative_to, base)?;
        new_side = relative::relative_to(&new_side, &options.relative_to, new)?;
    }
    comparison::compare(&base_side, &new_side, options)
}

/// Compares, prints in the chosen format; returns the exit code (0 nothing
/// regressed, 1 a regression or a failure). Unreadable input is an error (exit 2).
pub fn execute(args: CompareArgs) -> anyhow::Result<u8> {
    let comparison = compare_paths(&args.base, &args.new, &args.options())?;
    if let Some(file) = &args.plot {
        let (base, new) = (load::load_side(&args.base)?, load::load_side(&args.new)?);
        for path in plot::draw(&base, &new, file).map_err(anyhow::Error::msg)? {
            eprintln!("compare: plot {}", path.display());
        }
    }
    // A verdict nobody can read is no verdict: an unwritable stdout is an error.
    engine::run::output::print_stdout(&render::render(&comparison, args.format))?;
    Ok(comparison.exit_code())
}
