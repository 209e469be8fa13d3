//! What `loadgen exact` found: one [`Record`] per build, round and workload; one
//! [`Row`] per workload and metric (each build's median, its spread over the rounds,
//! the ratio and the verdict with `--base`); the report written as `exact.json` and
//! rendered as text, Markdown or JSON.

use serde::Serialize;

use super::tools::Versions;
use super::verdict::{self, Metric, Tolerances, Verdict};
use crate::compare::Format;
use crate::table::{Align, Table};

/// How the figures are made, written into exact.json for whoever reads it later.
pub const METHOD: &str = "instructions: echod --workers 1 under callgrind, a dump after \
    each loadgen run (closed loop, 64 B, no warm-up); per workload a short and a long run, \
    (Ir_long - Ir_short) / (msgs_long - msgs_short). syscalls: perf stat -e \
    raw_syscalls:sys_enter on echod's threads over one native run, / its messages. \
    context switches: /proc/PID/task/*/status voluntary + nonvoluntary, same run.";

/// One build's figures on one workload in one round.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Record {
    /// `base` or `new`.
    pub build: &'static str,
    pub round: u32,
    pub workload: String,
    pub conns: u64,
    pub instructions_per_msg: f64,
    pub syscalls_per_rt: f64,
    pub ctx_switches_per_rt: f64,
    /// Round trips of the native run.
    pub native_messages: u64,
    /// `--user-share`: user-space CPU ns per round trip (sampled; informational).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_ns_per_rt: Option<f64>,
}

impl Record {
    /// Its figure of `metric` (None: not measured in this run).
    pub fn figure(&self, metric: Metric) -> Option<f64> {
        match metric {
            Metric::Instructions => Some(self.instructions_per_msg),
            Metric::Syscalls => Some(self.syscalls_per_rt),
            Metric::ContextSwitches => Some(self.ctx_switches_per_rt),
            Metric::UserNs => self.user_ns_per_rt,
        }
    }
}

/// One figure of one workload, both builds.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Row {
    pub workload: String,
    pub metric: Metric,
    pub base: Option<f64>,
    pub new: f64,
    /// (max − min) / median of NEW's rounds.
    pub new_spread: Option<f64>,
    pub ratio: Option<f64>,
    pub verdict: Option<Verdict>,
    /// The tolerance the verdict used (a fraction).
    pub tolerance: f64,
}

/// The whole of exact.json.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub tools: Versions,
    pub method: &'static str,
    pub tolerances: Tolerances,
    pub records: Vec<Record>,
    pub rows: Vec<Row>,
}

impl Report {
    /// Rows from the records: medians per build, verdicts where there is a base.
    pub fn new(tools: Versions, tolerances: Tolerances, records: Vec<Record>) -> Report {
        let mut workloads: Vec<String> = Vec::new();
        for r in &records {
            if !workloads.contains(&r.workload) {
                workloads.push(r.workload.clone());
            }
        }
        let mut rows = Vec::new();
        for w in &workloads {
            for metric in Metric::ALL.into_iter().chain([Metric::UserNs]) {
                let of = |build: &str| -> Vec<f64> {
                    let mine = records.iter().filter(|r| &r.workload == w && r.build == build);
                    mine.filter_map(|r| r.figure(metric)).collect()
                };
                let (base_values, new_values) = (of("base"), of("new"));
                let Some(new) = verdict::median(&new_values) else { continue };
                let base = verdict::median(&base_values);
                let ratio = base.map(|b| new / b);
                let tolerance = match metric {
                    Metric::Instructions => {
                        tolerances.of(metric).max(super::workload::instructions_floor(w))
                    }
                    _ => tolerances.of(metric),
                };
                let new_spread = verdict::spread(&new_values);
                let base_spread = verdict::spread(&base_values).unwrap_or(0.0);
                let noise = new_spread.unwrap_or(0.0).max(base_spread);
                let verdict = base.filter(|_| metric.gates()).map(|b| {
                    match verdict::verdict(b, new, tolerance, noise) {
                        // Rounds of the two builds that overlap show no difference.
                        Verdict::Regressed | Verdict::Improved
                            if verdict::overlap(&base_values, &new_values) =>
                        {
                            Verdict::Noisy
                        }
                        v => v,
                    }
                });
                rows.push(Row {
                    tolerance,
                    workload: w.clone(),
                    metric,
                    base,
                    new,
                    new_spread,
                    ratio,
                    verdict,
                });
            }
        }
        Report { tools, method: METHOD, tolerances, records, rows }
    }

    /// Whether any figure regressed.
    pub fn regressed(&self) -> bool {
        self.rows.iter().any(|r| r.verdict == Some(Verdict::Regressed))
    }

    /// The report in `format`, ending with a newline.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Json => serde_json::to_string_pretty(self).unwrap_or_default() + "\n",
            Format::Markdown => self.markdown(),
            Format::Text => self.text(),
        }
    }

    fn cells(&self, row: &Row) -> [String; 7] {
        let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("-".into(), f);
        let figure = |v: f64| match row.metric {
            Metric::Instructions | Metric::UserNs => format!("{v:.1}"),
            _ => format!("{v:.4}"),
        };
        [
            row.workload.clone(),
            row.metric.name().to_string(),
            opt(row.base, &figure),
            figure(row.new),
            opt(row.new_spread, &|s| format!("{:.2}%", s * 100.0)),
            opt(row.ratio, &|r| format!("{r:.4}")),
            row.verdict
                .map_or(if row.metric.gates() { "-" } else { "informational" }.into(), |v| {
                    format!("{v} (±{:.0}%)", row.tolerance * 100.0)
                }),
        ]
    }

    const HEADER: [&'static str; 7] =
        ["workload", "metric (per msg)", "base", "new", "new spread", "new/base", "verdict"];

    fn text(&self) -> String {
        let rows: Vec<[String; 7]> = self.rows.iter().map(|r| self.cells(r)).collect();
        let mut widths = Self::HEADER.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let parts: Vec<String> =
                cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
            parts.join("  ").trim_end().to_string() + "\n"
        };
        let mut out = line(&Self::HEADER.map(String::from));
        for row in &rows {
            out.push_str(&line(row));
        }
        out
    }

    fn markdown(&self) -> String {
        let mut columns = vec![(Self::HEADER[0], Align::Left), (Self::HEADER[1], Align::Left)];
        columns.extend(Self::HEADER[2..6].iter().map(|h| (*h, Align::Right)));
        columns.push((Self::HEADER[6], Align::Left));
        let mut table = Table::new(&columns);
        for row in &self.rows {
            let cells = self.cells(row);
            let refs: Vec<&dyn std::fmt::Display> =
                cells.iter().map(|c| c as &dyn std::fmt::Display).collect();
            table.row(&refs);
        }
        table.text().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(build: &'static str, round: u32, ir: f64) -> Record {
        Record {
            build,
            round,
            workload: "conns=1".into(),
            conns: 1,
            instructions_per_msg: ir,
            syscalls_per_rt: 3.0,
            ctx_switches_per_rt: 1.0,
            native_messages: 1000,
            user_ns_per_rt: None,
        }
    }

    /// Medians per build give the ratio; a 3% rise in instructions regresses at 1%.
    #[test]
    fn rows_from_records() {
        let versions = Versions { valgrind: "v".into(), perf: "p".into(), kernel: "k".into() };
        let records = vec![
            record("base", 0, 1000.0),
            record("new", 0, 1030.0),
            record("new", 1, 1031.0),
            record("base", 1, 1001.0),
        ];
        let report = Report::new(versions, Tolerances::default(), records);
        assert_eq!(report.rows.len(), 3);
        assert_eq!(report.rows[0].verdict, Some(Verdict::Regressed));
        assert_eq!(report.rows[1].verdict, Some(Verdict::Same));
        assert!(report.regressed());
        assert!(report.render(Format::Text).contains("REGRESSED"));
        assert!(report.render(Format::Markdown).starts_with("| workload"));
    }
}
