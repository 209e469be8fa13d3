//! Printing a [`Comparison`]: a plain-text table for the terminal, GitHub-flavoured
//! markdown for CI summaries, JSON (the [`Comparison`] itself) for tools.
//!
//! Text and markdown carry the same facts: per scenario a table of base, new,
//! new/base with its 95% interval (`1.04× [0.99, 1.09]`), the pairs behind it,
//! the smallest change it could have shown (`±2.1%`) and the verdict ("no
//! difference shown" when the interval holds 1); the details of failed checks;
//! notes; then the scenarios missing from NEW or new in it, the scenarios that
//! need more pairs, and a one-line result. JSON is the [`Comparison`] itself: each
//! row's `interval` (estimate, low, high, n, paired), `n`, `paired`, `mde`, `verdict`.

use common::units::{fmt_count, fmt_micros};

use super::comparison::{Comparison, ScenarioComparison};
use super::row::{Row, Unit};
use super::stats::Statistic;
use super::verdict::Verdict;
use crate::table::{Align, Table};

/// Output format of `loadgen compare`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for a terminal.
    #[default]
    Text,
    /// GitHub-flavoured markdown (e.g. for $GITHUB_STEP_SUMMARY).
    Markdown,
    /// The whole comparison as JSON, for tools.
    Json,
}

/// Renders the comparison in `format`, ending with a newline.
pub fn render(c: &Comparison, format: Format) -> String {
    match format {
        Format::Text => text(c),
        Format::Markdown => markdown(c),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(c)
                .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialize: {e}\"}}"));
            s.push('\n');
            s
        }
    }
}

/// `ok: nothing regressed ...` or `REGRESSED: ...`.
pub fn outcome(c: &Comparison) -> String {
    if c.passed {
        let n = c.scenarios.len();
        let s = c.suspects.len();
        let suspects = if s > 0 { format!("; {s} suspect{}", plural(s)) } else { String::new() };
        return format!("ok: nothing regressed ({n} scenario{} compared{suspects})", plural(n));
    }
    let mut parts = Vec::new();
    if c.regressions > 0 {
        parts.push(format!("{} regressed metric{}", c.regressions, plural(c.regressions)));
    }
    let checks = c.failures - c.missing_in_new.len() - c.new_only_failures.len();
    if checks > 0 {
        parts.push(format!("{checks} failed check{}", plural(checks)));
    }
    if !c.missing_in_new.is_empty() {
        let n = c.missing_in_new.len();
        parts.push(format!("{n} scenario{} missing in NEW", plural(n)));
    }
    if !c.new_only_failures.is_empty() {
        let n = c.new_only_failures.len();
        parts.push(format!("{n} failed check{} in NEW-only scenarios", plural(n)));
    }
    format!("REGRESSED: {}", parts.join(", "))
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// What the header says about thresholds, the verdict rule and normalization.
fn preamble(c: &Comparison) -> Vec<String> {
    let mut lines = vec![format!(
        "threshold {}; new/base is the median ratio with its 95% interval over pairs of \
             runs (the same file under BASE and NEW; unpaired when none pair up); REGRESSED \
             (or its mirror image): the interval lies past 1 and the ratio past the \
             threshold; same: the interval lies within the threshold; unknown: neither \
             shown (not a failure); \
             \"could show\": the smallest change these runs could show",
        c.thresholds.describe()
    )];
    if c.family.figures > 0 {
        lines.push(format!(
            "a gating regression must also hold at {} ({} gated figure{}: 1 − 5%/{}, so \
             identical builds fail about one comparison in twenty however many scenarios \
             run); one shown at 95% only is a suspect: not a failure, topped up first",
            family_level(c),
            c.family.figures,
            plural(c.family.figures),
            c.family.figures
        ));
    }
    lines.push(format!(
        "base and new: each side's {} (shown only, not judged)",
        match c.statistic {
            Statistic::Best => "best run",
            Statistic::Median => "median",
        }
    ));
    if !c.relative_to.is_empty() {
        lines.push(format!(
            "relative to {}: each echod figure divided by that peer's in the same run \
             (x = echod / peer), so machines that differ cancel out",
            c.relative_to.join(", ")
        ));
    }
    if c.normalized {
        lines.push(
            "normalized: throughput / calibration round trips/s, latency / calibration p50 \
             (x = multiples of the calibration, not msgs/s or µs; \"raw\" = new/base unnormalized)"
                .to_string(),
        );
    }
    lines
}

fn label(metric: &str) -> &str {
    match metric {
        "p50" => "latency p50",
        "p99" => "latency p99",
        "p999" => "latency p99.9",
        "connect_rate" => "connect rate",
        "mismatch" => "mismatched bytes",
        "interrupted" => "interrupted",
        "calibration" => "calibration rt/s",
        other => other,
    }
}

fn value(unit: Unit, v: f64) -> String {
    match unit {
        // A side without a figure (latency of runs without samples).
        _ if v.is_nan() => "no samples".to_string(),
        Unit::PerSec => format!("{}/s", fmt_count(v)),
        Unit::Micros => fmt_micros(v),
        Unit::Count => fmt_count(v),
        Unit::Calibrated | Unit::Relative if v >= 100.0 => format!("{v:.0}x"),
        Unit::Calibrated | Unit::Relative if v >= 10.0 => format!("{v:.1}x"),
        Unit::Calibrated | Unit::Relative if v >= 1.0 => format!("{v:.2}x"),
        Unit::Calibrated | Unit::Relative => format!("{v:.3}x"),
        Unit::PerCpuSec => format!("{} rt/CPU-s", fmt_count(v)),
        Unit::PerRt => format!("{v:.3}/rt"),
    }
}

fn ratio(row: &Row, r: Option<f64>) -> String {
    match (r, row.interval, row.verdict) {
        (Some(_), Some(i), _) => format!("{:.2}× [{:.2}, {:.2}]", i.estimate, i.low, i.high),
        (Some(r), None, Verdict::Info | Verdict::Ok | Verdict::Fail) => format!("{r:.2}×"),
        (Some(r), None, _) => format!("{r:.2}× (too few pairs)"),
        (None, _, Verdict::Ok | Verdict::Fail | Verdict::Info) => String::new(),
        (None, _, _) => "-".to_string(),
    }
}

fn verdict(row: &Row) -> String {
    let performance = row.threshold.is_some();
    let mut word = match (row.verdict, row.gating) {
        (Verdict::Regressed, false) => "regressed".to_string(),
        (Verdict::Suspect, _) => "suspect: regressed at 95% only".to_string(),
        (v, _) => v.label().to_string(),
    };
    if performance && row.interval.is_some_and(|i| i.holds_one()) {
        word.push_str(", no difference shown");
    }
    if performance && !row.gating && row.verdict != Verdict::Info {
        word.push_str(" (info)");
    }
    word
}

/// `12 pairs`, `5 unpaired` (runs of the smaller side); empty for other rows.
fn count(row: &Row) -> String {
    match (row.threshold, row.paired) {
        (None, _) => String::new(),
        _ if row.n == 0 || matches!(row.verdict, Verdict::Fail | Verdict::Ok) => String::new(),
        (Some(_), true) => format!("{} pair{}", row.n, plural(row.n)),
        (Some(_), false) => format!("{} unpaired", row.n),
    }
}

/// The cells of one row: metric, base, new, new/base, [raw], n, could show, verdict.
fn cells(row: &Row, normalized: bool) -> Vec<String> {
    let (base, new) = match row.requested {
        Some((b, n)) => (format!("{}/{b}", row.base), format!("{}/{n}", row.new)),
        None => (value(row.unit, row.base), value(row.unit, row.new)),
    };
    let mut cells = vec![label(row.metric).to_string(), base, new, ratio(row, row.ratio)];
    if normalized {
        cells.push(row.raw_ratio.map(|r| format!("{r:.2}")).unwrap_or_default());
    }
    cells.push(count(row));
    cells.push(row.mde.map(|m| format!("±{:.1}%", m * 100.0)).unwrap_or_default());
    cells.push(verdict(row));
    cells
}

fn header(normalized: bool) -> Vec<String> {
    let mut h = vec!["metric", "base", "new", "new/base"];
    if normalized {
        h.push("raw");
    }
    h.extend(["n", "could show", "verdict"]);
    h.into_iter().map(String::from).collect()
}

fn title(s: &ScenarioComparison) -> String {
    format!(
        "(BASE {} run{}, NEW {} run{})",
        s.base_runs,
        plural(s.base_runs),
        s.new_runs,
        plural(s.new_runs)
    )
}

/// The facts under a table: failed checks with their files, then notes.
fn remarks(s: &ScenarioComparison) -> Vec<String> {
    let fails = s
        .rows
        .iter()
        .filter_map(|r| Some(format!("FAIL {}: {}", label(r.metric), r.detail.as_ref()?)));
    fails.chain(s.notes.iter().map(|n| format!("note: {n}"))).collect()
}

fn text(c: &Comparison) -> String {
    let mut out = String::new();
    for line in preamble(c) {
        out.push_str(&format!("{line}\n"));
    }
    for s in &c.scenarios {
        out.push_str(&format!("\n== {} {} ==\n", s.scenario, title(s)));
        let mut table = vec![header(c.normalized)];
        table.extend(s.rows.iter().map(|r| cells(r, c.normalized)));
        let cols = table[0].len();
        let widths: Vec<usize> = (0..cols)
            .map(|i| table.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        for r in &table {
            let mut line = String::new();
            for (i, cell) in r.iter().enumerate() {
                let pad = " ".repeat(widths[i] - cell.chars().count());
                if i == 0 || i == cols - 1 {
                    line.push_str(&format!("{cell}{pad}  "));
                } else {
                    line.push_str(&format!("{pad}{cell}  "));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        for remark in remarks(s) {
            out.push_str(&format!("{remark}\n"));
        }
    }
    out.push('\n');
    for name in &c.missing_in_new {
        out.push_str(&format!("FAIL missing in NEW: {name} (measured in BASE, not in NEW)\n"));
    }
    for name in &c.new_only {
        out.push_str(&format!("new in NEW: {name} (no BASE to compare with)\n"));
    }
    for failure in &c.new_only_failures {
        out.push_str(&format!("FAIL new in NEW: {failure}\n"));
    }
    if let Some(line) = unknown_line(c) {
        out.push_str(&format!("{line}\n"));
    }
    out.push_str(&format!("result: {}\n", outcome(c)));
    out
}

/// `3 scenarios unknown: more pairs needed (...)`, when any gating metric is unknown.
pub fn unknown_line(c: &Comparison) -> Option<String> {
    let n = c.unknown.len();
    let unknown = (n > 0).then(|| {
        format!(
            "{n} scenario{} unknown: more pairs needed (suite --base tops them up): {}",
            plural(n),
            c.unknown.join(", ")
        )
    });
    let s = c.suspects.len();
    let suspects = (s > 0).then(|| {
        format!(
            "{s} suspect{}: regressed at 95%, not shown at {} (not a failure; suite --base \
             tops suspects up first): {}",
            plural(s),
            family_level(c),
            c.suspects.join(", ")
        )
    });
    match (suspects, unknown) {
        (Some(s), Some(u)) => Some(format!("{s}\n{u}")),
        (s, u) => s.or(u),
    }
}

/// `99.81%`: the level a gating regression must hold at.
fn family_level(c: &Comparison) -> String {
    format!("{:.2}%", c.family.level * 100.0)
}

/// Escapes what would break a markdown table cell.
fn md(text: &str) -> String {
    text.replace('|', "\\|")
}

fn markdown(c: &Comparison) -> String {
    let mut out = format!("### loadgen compare: **{}**\n\n", md(&outcome(c)));
    for line in preamble(c) {
        out.push_str(&format!("{}.  \n", md(&line)));
    }
    for s in &c.scenarios {
        out.push_str(&format!("\n#### `{}` {}\n\n", s.scenario.replace('`', "'"), title(s)));
        let head = header(c.normalized);
        let columns: Vec<(&str, Align)> = head
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let text = i == 0 || i == head.len() - 1;
                (&name[..], if text { Align::Left } else { Align::Right })
            })
            .collect();
        let mut table = Table::new(&columns);
        for row in &s.rows {
            let mut cells: Vec<String> = cells(row, c.normalized).iter().map(|c| md(c)).collect();
            let flagged = matches!(row.verdict, Verdict::Fail)
                || (row.verdict == Verdict::Regressed && row.gating);
            if let (true, Some(last)) = (flagged, cells.last_mut()) {
                *last = format!("**{last}**");
            }
            let cells: Vec<&dyn std::fmt::Display> =
                cells.iter().map(|c| c as &dyn std::fmt::Display).collect();
            table.row(&cells);
        }
        out.push_str(table.text());
        let remarks = remarks(s);
        if !remarks.is_empty() {
            out.push('\n');
            for remark in remarks {
                out.push_str(&format!("- {}\n", md(&remark)));
            }
        }
    }
    if !c.missing_in_new.is_empty() || !c.new_only.is_empty() || !c.new_only_failures.is_empty() {
        out.push('\n');
    }
    for name in &c.missing_in_new {
        out.push_str(&format!(
            "- **FAIL** missing in NEW: `{name}` (measured in BASE, not in NEW)\n"
        ));
    }
    for name in &c.new_only {
        out.push_str(&format!("- new in NEW: `{name}` (no BASE to compare with)\n"));
    }
    for failure in &c.new_only_failures {
        out.push_str(&format!("- **FAIL** new in NEW: {}\n", md(failure)));
    }
    if let Some(line) = unknown_line(c) {
        out.push_str(&format!("\n{}\n", md(&line)));
    }
    out
}
