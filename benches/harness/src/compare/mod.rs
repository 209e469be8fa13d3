//! `loadgen compare BASE NEW`: the CI verdict on two sets of results.
//!
//! Each side is a result file or a folder of them (searched recursively; repeated
//! runs of a scenario are several files with the same `scenario`). Runs with the
//! same path under BASE and NEW are pairs (the suite's `--base` mode measures both
//! builds back to back per repeat); per scenario and metric compare takes the 95%
//! interval of NEW/BASE over the pairs (unpaired over all runs when none pair up)
//! and gives one of three verdicts: REGRESSED / improved (the interval lies past 1,
//! the estimate past the threshold), same (the interval lies within the
//! threshold), unknown (neither: more pairs needed; never a failure). Correctness
//! checks (mismatched bytes, missing connections, interrupted runs) and scenarios
//! missing from NEW always fail. Exit codes: 0 nothing regressed, 1 a regression or
//! a failure, 2 unreadable input.
//!
//! # Layout
//!
//! - [`load`]: files and folders into runs by scenario; errors name file and field.
//! - `cost`: the server's cost per round trip and `machine.disturbed`, read raw.
//! - [`paired`]: the paired and unpaired 95% intervals of NEW/BASE, and mde (pure).
//! - `pairs`: which runs are pairs; disturbed runs left out.
//! - [`stats`]: the figure shown per side (best run or median), spread.
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
mod cost;
pub mod load;
pub mod paired;
mod pairs;
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
  throughput     throughput.msgs_per_sec           higher is better; gates
  rt_per_cpu     server.rt_per_cpu_s               round trips per server CPU-second,
                                                   higher is better; gates
  p50 p99 p999   latency_us.p50 / .p99 / .p999     lower is better; a run with no
                                                   latency samples is missing data
                                                   (FAIL in NEW), never 0 µs
  connect_rate   connections.connect_rate_per_sec  higher is better
  cpu_us_per_rt  server.cpu_us_per_rt              lower is better
  cs_per_rt      server.context_switches_per_rt    lower is better
  (latency, connect_rate, cpu_us_per_rt and cs_per_rt are informational unless
  given a --threshold-for; a metric the results lack, e.g. the server's cost in
  older files, is not compared)
  connections    FAIL if a NEW run established fewer than requested, or fewer than BASE
  mismatch       FAIL if a NEW run has errors.mismatch > 0
  interrupted    FAIL if a NEW run was interrupted (Ctrl-C, or the server died)
  calibration    the machine's ping-pong before each run, shown for context

Pairs: a BASE run and a NEW run at the same path relative to their folders are
one pair (`suite --base` writes OUT/base/rep1/runs/03-x.json beside
OUT/new/rep1/runs/03-x.json, measured back to back). new/base is exp of the
Hodges-Lehmann estimate of ln(new/base) with its 95% interval from the Wilcoxon
signed-rank distribution (exact up to 60 pairs). With no pairs (two unrelated
folders, single files) the interval is the two-sample (Mann-Whitney) one, marked
\"unpaired\". A run whose machine.disturbed is true is left out with its pair
(a note says so). Fewer than 6 pairs give no interval.

Verdicts, threshold t (--threshold, default 3%):
  REGRESSED  the interval lies on the worse side of 1 and the estimate is worse
             than 1 by more than t (exit code 1 when the metric gates)
  improved   the mirror image
  same       the interval lies within [1-t, 1+t]
  unknown    anything else, or too few pairs: not a failure; a closing line
             lists these scenarios (suite --base tops them up with more pairs)
  ok / FAIL  correctness checks
\"could show ±2.1%\" is the smallest change this many pairs with this noise would
detect (80% power): (1.96+0.84)/1.96 times the interval's half-width in log
space. \"no difference shown\": the interval holds 1.

Folders: every *.json under them, recursively. JSON without `schema_version`
(echod stats, an index) is skipped; a wrong schema_version is an error. A
scenario in BASE but missing in NEW is a FAILURE (missing data never passes);
a scenario only in NEW is reported as new, and its runs still fail on
mismatches, missing connections or an interruption (those checks need no BASE).

Exit codes: 0 nothing regressed (unknown verdicts do not fail), 1 a regression
or a failure, 2 unreadable input
(the message names the file and the field) or output that cannot be written.

Examples:
  loadgen compare base.json new.json
  loadgen compare results/tmp/base results/tmp/new --threshold 2% --threshold-for p99=10%
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
    /// A change smaller than this is not flagged, and an interval within it is
    /// "same" (`3%`, `2.5%`; `3` means 3%).
    #[arg(long, default_value = "3%", value_parser = verdict::parse_percent, value_name = "PCT")]
    pub threshold: f64,
    /// The threshold of one metric (throughput, rt_per_cpu, p50, p99, p999,
    /// connect_rate, cpu_us_per_rt, cs_per_rt), e.g. `p999=10%`; repeatable. Giving
    /// one to an informational metric makes it fail on regression.
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
    /// Which figure of each side's runs the table shows beside the interval: the
    /// best run (the highest throughput, the lowest latency) or the median. It does
    /// not change the verdict, which comes from the interval.
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
