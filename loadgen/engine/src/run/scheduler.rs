//! `--shard auto`: an agent's index and count from the scheduler that started it.
//!
//! Each scheduler names the index of a job's task in a variable of its own; where
//! it has no variable for the count, the job file sets one (the count lives in the
//! job file anyway: `completions`, the group's `count`):
//!
//! | scheduler | index | count |
//! |---|---|---|
//! | Kubernetes Indexed Job | `JOB_COMPLETION_INDEX` | `JOB_COMPLETIONS` (set in the manifest) |
//! | Nomad | `NOMAD_ALLOC_INDEX` | `NOMAD_GROUP_COUNT` (set in the job file) |
//! | Slurm | `SLURM_PROCID` | `SLURM_NTASKS` |
//! | AWS Batch multi-node | `AWS_BATCH_JOB_NODE_INDEX` | `AWS_BATCH_JOB_NUM_NODES` |
//!
//! `--shard I/N` is read here too, so the flag has one parser.
//!
//! Invariants: exactly one answer or one refusal naming the variables; where
//! several schedulers' variables are set (a Slurm step inside a pod, say) they must
//! agree, else the refusal names both.

use super::values::Part;

/// One scheduler's pair of variables.
struct Scheduler {
    /// What the user calls it.
    name: &'static str,
    /// The variable holding this task's index (0-based).
    index: &'static str,
    /// The variable holding the number of tasks.
    count: &'static str,
}

/// The schedulers `--shard auto` reads, in the order it reports them.
const SCHEDULERS: [Scheduler; 4] = [
    Scheduler { name: "Kubernetes", index: "JOB_COMPLETION_INDEX", count: "JOB_COMPLETIONS" },
    Scheduler { name: "Nomad", index: "NOMAD_ALLOC_INDEX", count: "NOMAD_GROUP_COUNT" },
    Scheduler { name: "Slurm", index: "SLURM_PROCID", count: "SLURM_NTASKS" },
    Scheduler {
        name: "AWS Batch",
        index: "AWS_BATCH_JOB_NODE_INDEX",
        count: "AWS_BATCH_JOB_NUM_NODES",
    },
];

/// The most agents a run may have: far beyond any real run, and small enough that
/// a scan over the shards (merge's missing-shard list) stays instant.
pub const MAX_SHARDS: u64 = 100_000;

/// `--shard I/N`: this agent's part, the index below the count (0-based); `auto`:
/// from the scheduler's environment ([`super::scheduler`]), saying which it read.
pub fn parse_shard(text: &str) -> Result<Part, String> {
    if text == "auto" {
        let (part, said) = shard_from_env(|k| std::env::var(k).ok())?;
        // One write, so agents sharing a log (srun, a pod's stream) never interleave
        // inside the line.
        let line = format!("loadgen: --shard auto: shard {part} from {said}\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        return Ok(part);
    }
    super::values::parse_child(text).map_err(|_| {
        format!("'{text}' is not a shard: use I/N with I from 0 to N-1, e.g. 0/3, 1/3, 2/3")
    })
}

/// The shard the environment (`lookup`) gives, with a line saying where it came
/// from; or a one-line refusal naming the variables to set.
pub fn shard_from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<(Part, String), String> {
    let mut found: Vec<(Part, String)> = Vec::new();
    for s in &SCHEDULERS {
        let (index, count) = (lookup(s.index), lookup(s.count));
        if index.is_none() && count.is_none() {
            continue;
        }
        found.push(read(s, index, count)?);
    }
    let Some((first, said)) = found.first().cloned() else {
        let names: Vec<String> =
            SCHEDULERS.iter().map(|s| format!("{} ({}, {})", s.name, s.index, s.count)).collect();
        return Err(format!(
            "auto: no scheduler's variables are set: {}; or give --shard I/N",
            names.join(", ")
        ));
    };
    if let Some((other, other_said)) = found.iter().find(|(p, _)| *p != first) {
        return Err(format!(
            "auto: the schedulers disagree: {said} but {other_said} ({first} against {other}); give --shard I/N"
        ));
    }
    Ok((first, said))
}

/// One scheduler's shard from its two variables, both set and whole numbers, the
/// index below the count.
fn read(
    s: &Scheduler,
    index: Option<String>,
    count: Option<String>,
) -> Result<(Part, String), String> {
    let missing = |var: &str| {
        format!(
            "auto: {} sets {} but not {var}: set {var} in the job file",
            s.name,
            present(s, var)
        )
    };
    let index_text = index.ok_or_else(|| missing(s.index))?;
    let count_text = count.ok_or_else(|| missing(s.count))?;
    let number = |var: &str, text: &str| {
        text.trim()
            .parse::<u64>()
            .map_err(|_| format!("auto: {var}='{text}' is not a whole number"))
    };
    let (i, n) = (number(s.index, &index_text)?, number(s.count, &count_text)?);
    if n == 0 || n > MAX_SHARDS {
        return Err(format!("auto: {}={n}: the count must be from 1 to {MAX_SHARDS}", s.count));
    }
    if i >= n {
        return Err(format!("auto: {}={i} is not below {}={n}", s.index, s.count));
    }
    let said = format!("{} ({}={i}, {}={n})", s.name, s.index, s.count);
    Ok((Part { index: i, count: n }, said))
}

/// The variable of the pair other than `var`.
fn present<'a>(s: &'a Scheduler, var: &str) -> &'a str {
    if var == s.index {
        s.count
    } else {
        s.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The environment `vars` as a lookup.
    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    /// Each scheduler's own pair gives its shard and says which it read.
    #[test]
    fn each_scheduler_gives_its_shard() {
        for s in &SCHEDULERS {
            let (part, said) =
                shard_from_env(env(&[(s.index, "2"), (s.count, "5")])).expect(s.name);
            assert_eq!(part, Part { index: 2, count: 5 }, "{}", s.name);
            assert!(said.starts_with(s.name) && said.contains(s.index), "{said}");
        }
    }

    /// Nothing set: one line naming every scheduler's variables.
    #[test]
    fn none_set_is_refused_naming_the_variables() {
        let e = shard_from_env(env(&[])).expect_err("nothing set");
        for s in &SCHEDULERS {
            assert!(e.contains(s.index) && e.contains(s.count), "{e}");
        }
        assert!(!e.contains('\n'), "{e}");
    }

    /// Two schedulers that agree are one answer; that disagree, a refusal naming both.
    #[test]
    fn two_schedulers_must_agree() {
        let agree = [("SLURM_PROCID", "1"), ("SLURM_NTASKS", "3")];
        let both = [agree[0], agree[1], ("JOB_COMPLETION_INDEX", "1"), ("JOB_COMPLETIONS", "3")];
        assert_eq!(shard_from_env(env(&both)).expect("agree").0, Part { index: 1, count: 3 });
        let differ = [agree[0], agree[1], ("JOB_COMPLETION_INDEX", "2"), ("JOB_COMPLETIONS", "3")];
        let e = shard_from_env(env(&differ)).expect_err("disagree");
        assert!(e.contains("disagree") && e.contains("Slurm") && e.contains("Kubernetes"), "{e}");
    }

    /// Half a pair, a word, a zero count, an index past the count, a huge count.
    #[test]
    fn bad_values_are_refused() {
        let cases: [(&[(&str, &str)], &str); 6] = [
            (&[("JOB_COMPLETION_INDEX", "0")], "JOB_COMPLETIONS"),
            (&[("NOMAD_GROUP_COUNT", "4")], "NOMAD_ALLOC_INDEX"),
            (&[("SLURM_PROCID", "x"), ("SLURM_NTASKS", "2")], "not a whole number"),
            (&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "0")], "from 1 to"),
            (&[("AWS_BATCH_JOB_NODE_INDEX", "4"), ("AWS_BATCH_JOB_NUM_NODES", "4")], "not below"),
            (&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "18446744073709551615")], "from 1 to"),
        ];
        for (vars, want) in cases {
            let e = shard_from_env(env(vars)).expect_err(want);
            assert!(e.contains(want), "{vars:?}: {e}");
        }
    }
}
