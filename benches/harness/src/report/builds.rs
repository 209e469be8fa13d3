//! The report's "Base vs new" section (`loadgen suite --base`): the two builds'
//! throughput side by side, per scenario, judged by the rule CI gates on (each
//! side's best run, 10% and the noise band, suspects confirmed), and what only one
//! side has.

use std::fmt::Write as _;
use std::path::Path;

use common::units::fmt_count;

use crate::compare::{self, Verdict};
use crate::suite_index::{Side, SuiteIndex};
use crate::table::{Align::Left as L, Align::Right as R, Table};

/// `--base`: the two builds side by side, judged as CI judges them.
pub fn section(md: &mut String, out: &Path, index: &SuiteIndex) {
    let Some(info) = &index.builds else { return };
    let _ = writeln!(md, "## Base vs new: the code, measured on one machine\n");
    let _ = writeln!(
        md,
        "Two builds in one run: **base** `{}` ({}) and **new** `{}` (the servers beside this \
         loadgen). Every step of echod{} ran for both back to back, on the same port, pinning \
         and client, the order swapped every repeat, so a slow spell of the machine hits both. \
         Ratios are new/base of each side's best run; the band is the runs' own spread (half \
         the min..max of each side, added); a change is flagged only past 10% and the band, \
         and a suspect was re-run on both sides before this verdict (`confirm*/` folders). \
         The same verdict: `loadgen compare {dir}/base {dir}/new`.\n",
        info.base_dir,
        info.base_revision.as_deref().unwrap_or("revision unknown"),
        index.environment.git_revision,
        if info.base_has_tokio { " and tokio-echo" } else { "" },
        dir = out.display()
    );
    let options = compare::Options::ci();
    let cmp = match compare::compare_paths(&out.join("base"), &out.join("new"), &options) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(md, "Could not compare the two sides: {e}\n");
            return;
        }
    };
    table(md, &cmp);
    let _ = writeln!(md, "\n**Verdict: {}.**\n", compare::render::outcome(&cmp));
    if !cmp.new_only.is_empty() {
        let _ = writeln!(
            md,
            "Measured on the new side only (the reference peers, and anything the base build \
             could not run): {}.\n",
            cmp.new_only.join("; ")
        );
    }
    let base_failed: Vec<String> = index
        .steps
        .iter()
        .filter(|s| s.side == Some(Side::Base) && s.record.error.is_some())
        .map(|s| format!("`{}`: {}", s.record.scenario, s.record.error.as_deref().unwrap_or("")))
        .collect();
    if !base_failed.is_empty() {
        let _ = writeln!(md, "The base build could not run: {}.\n", base_failed.join("; "));
    }
}

/// One row per scenario: each side's throughput, the ratio, the band, the verdict.
fn table(md: &mut String, cmp: &compare::Comparison) {
    let mut table = Table::new(&[
        ("scenario", L),
        ("base msgs/s", R),
        ("new msgs/s", R),
        ("new/base", R),
        ("runs (base, new)", R),
        ("band", R),
        ("verdict", L),
    ]);
    for s in &cmp.scenarios {
        let Some(row) = s.rows.iter().find(|r| r.metric == "throughput") else { continue };
        let failed: Vec<&str> =
            s.rows.iter().filter(|r| r.verdict == Verdict::Fail).map(|r| r.metric).collect();
        let verdict = if failed.is_empty() {
            row.verdict.label().to_string()
        } else {
            format!("FAIL ({})", failed.join(", "))
        };
        table.row(&[
            &s.scenario,
            &fmt_count(row.base),
            &fmt_count(row.new),
            &row.ratio.map_or("-".into(), |r| format!("{r:.2}")),
            &format!("{}, {}", s.base_runs, s.new_runs),
            &row.noise_band.map_or("-".into(), |b| format!("±{:.0}%", b * 100.0)),
            &verdict,
        ]);
    }
    table.write_into(md);
}
