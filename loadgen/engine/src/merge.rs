//! `loadgen merge A.json B.json ... [--out merged.json]`: the results of agents
//! that ran one load together (on several hosts, `--shard I/N` each, one
//! `--start-at`) become one result, exactly as if one client had made every
//! connection (see [`crate::run::merge`]): histograms added, counts summed,
//! seconds aligned by the wall clock, each agent's own figures listed. Results
//! that do not belong together are refused, naming the field (exit 2); a shard
//! without a result counts as missing connections (exit 1). Agents whose measured
//! phases began a second or more apart are merged into the union of their windows
//! with a warning (each agent's start is recorded); windows that do not overlap
//! are refused. Input is bounded (`result::bounds`): a file over 16 MiB, a
//! forged histogram, counts that do not add up in 64 bits, a shard outside `I < N
//! <= 65536`: one line, exit 2. The merged
//! result is a result like any other: `loadgen compare` and the report read it;
//! it has no watched server's cost and no machine noise (`server`, `machine`):
//! several hosts' figures cannot be combined honestly.

use std::path::PathBuf;

use crate::result::RunResult;
use crate::run::merge::combine;
use crate::run::merge_check::Input;
use crate::run::{output, render_summary};

/// Flags of `loadgen merge`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
    loadgen merge agent-0.json agent-1.json agent-2.json --out merged.json\n  \
    loadgen merge results/agents-*/agent-*.json > merged.json\n\n\
    Limits (results come from other hosts): a file holds at most 16 MiB; counts must\n  \
    add up in 64 bits; --shard I/N with I < N <= 65536; a series no longer than its\n  \
    run (3600 s at most); measured windows that overlap (a second or more apart: a\n  \
    warning).\n\n\
    Exit codes: 0 or 1 as the merged run's figures call for (as one run's would);\n  \
    2 a file that is not a result, or results that do not belong together, or\n  \
    output that cannot be written (--out: the merged result is saved beside, as\n  \
    loadgen-result-PID-RANDOM.json)")]
pub struct MergeArgs {
    /// Result files (`loadgen --json`) of the agents of one run.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Write the merged result here (default: on stdout, the summary on stderr).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// No summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs `loadgen merge`; the exit code of the merged figures.
pub fn execute(args: MergeArgs, argv: Vec<String>) -> anyhow::Result<u8> {
    if let Some(path) = &args.out {
        output::check_writable("--out", path)?;
    }
    let inputs = args.files.iter().map(|f| read(f)).collect::<anyhow::Result<Vec<_>>>()?;
    let merged = combine(&inputs).map_err(|e| anyhow::anyhow!("cannot merge: {e}"))?;
    let mut result = merged.result;
    result.command = argv;
    if !merged.missing_shards.is_empty() {
        eprintln!(
            "loadgen merge: {} of {} shards merged, missing {}: their connections count as \
             requested and failed (SHARD_MISSING)",
            inputs.len(),
            inputs.len() + merged.missing_shards.len(),
            merged.missing_shards.join(", ")
        );
    }
    if let Some(spread) = merged.window_spread_s.filter(|s| *s >= 1.0) {
        eprintln!(
            "loadgen merge: warning: the agents' measured phases began {spread:.3} s apart: the \
             merged window is their union, its first and last seconds hold fewer agents (each \
             agent's `measured_after_first_s` is in the merged result); start agents with one \
             --start-at"
        );
    }
    let summary = render(&result, merged.measurement.tally.first_mismatch.as_deref());
    let text = output::json_text(&result)?;
    match &args.out {
        Some(path) => {
            // Whole or not at all; the merged result is saved elsewhere when lost.
            output::write_or_save("--out", path, &text, &text, "json")
                .map_err(anyhow::Error::msg)?;
            if !args.quiet {
                output::print_stdout(&summary)?;
            }
        }
        None => {
            if !args.quiet {
                eprint!("{summary}");
            }
            output::print_stdout(&text)?;
        }
    }
    Ok(u8::try_from(result.exit_code).unwrap_or(1))
}

/// Reads one result file; a file that is not one is refused in one line.
fn read(path: &std::path::Path) -> anyhow::Result<Input> {
    let shown = path.display().to_string();
    let text = crate::result::read_bounded(path)?;
    let result: RunResult = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{shown} is not a loadgen result ({e}): give files written by loadgen --json"
        )
    })?;
    Ok(Input { label: shown, result })
}

/// The merged run's summary, then each agent's own line.
fn render(r: &RunResult, first_mismatch: Option<&str>) -> String {
    let mut s = render_summary(r, first_mismatch);
    if r.agents.is_empty() {
        return s;
    }
    s.push_str(&format!("agents ({}):\n", r.agents.len()));
    for a in &r.agents {
        s.push_str(&format!(
            "  {:<28} {:<16} shard {:<5} {:>7}/{:<7} up  {:>10.0} rt/s  p50 {:>8.1} µs  p99 {:>8.1} µs  errors {}{}\n",
            a.file,
            a.hostname,
            a.shard.as_deref().unwrap_or("-"),
            a.established,
            a.requested,
            a.msgs_per_sec,
            a.p50_us,
            a.p99_us,
            a.errors,
            a.clock.as_ref().and_then(|c| c.late_s).map_or(String::new(), |l| format!("  began {:+.3} s after --start-at", l)),
        ));
    }
    s
}
