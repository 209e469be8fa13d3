//! The builds a suite run measures. Without `--base` there is one: the servers
//! beside loadgen. With `--base DIR` there are two, and every step whose server is
//! part of the build runs once for each, back to back, on the same port, with the
//! same pinning and the same client, in an order that swaps every repeat (base then
//! new in odd repeats, new then base in even ones): a slow spell of the machine hits
//! both sides alike, and neither side always goes first. Steps whose server is not
//! part of the build (the reference C peer; tokio-echo when DIR has none) run once,
//! on the new side. Each side's results land in their own folder (`base/`, `new/`)
//! under the same scenario names, so `loadgen compare OUT/base OUT/new` is the
//! verdict on the code, measured on one machine in one run.
//!
//! Which sides each step runs on ([`Sides`], one [`Job`] per chosen step) and the
//! runs that follow from it ([`Schedule`]: repeat by repeat, and the confirmation
//! runs) are worked out once per suite run, here, and passed down.

use std::path::{Path, PathBuf};

use super::plan::{Plan, ServerKind};
use crate::suite_index::Side;

/// One build's servers.
#[derive(Clone, Debug, PartialEq)]
pub struct Build {
    /// Its echod.
    pub echod: PathBuf,
    /// Its tokio-echo, when it has one.
    pub tokio_echo: Option<PathBuf>,
    /// What it was built from, for the report: the first line of `revision.txt`
    /// beside the binaries (`loadgen build-base` writes it), when there is one.
    pub revision: Option<String>,
    /// Its echod's `--help`, read once: what an older build can serve (None: the
    /// build beside loadgen, which serves everything the plan asks).
    pub echod_help: Option<String>,
}

impl Build {
    /// The build in `dir` (the `--base` folder): echod must be there; tokio-echo
    /// and revision.txt may be. The error is one line naming `--base` and the fix.
    pub fn from_dir(dir: &Path) -> Result<Build, String> {
        if !dir.is_dir() {
            return Err(format!(
                "--base {}: not a folder; give the folder that holds the other build's echod \
                 (loadgen build-base REV --out DIR makes one)",
                dir.display()
            ));
        }
        let echod = dir.join("echod");
        if !is_executable(&echod) {
            return Err(format!(
                "--base {}: no executable echod in it; build one there with \
                 `loadgen build-base REV --out {}`",
                dir.display(),
                dir.display()
            ));
        }
        let tokio = dir.join("tokio-echo");
        let revision = std::fs::read_to_string(dir.join("revision.txt"))
            .ok()
            .and_then(|t| t.lines().next().map(|l| l.trim().to_string()))
            .filter(|l| !l.is_empty());
        let help = std::process::Command::new(&echod)
            .arg("--help")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        Ok(Build {
            echod,
            tokio_echo: is_executable(&tokio).then_some(tokio),
            revision,
            echod_help: Some(help),
        })
    }

    /// Whether this build's echod can be started as `server` asks: a build older
    /// than `--model uring` or `--proto` cannot (its half of such a step is left out,
    /// as a peer it lacks would be).
    pub fn serves(&self, server: &ServerKind) -> bool {
        let ServerKind::Echod { model, udp, .. } = server else { return true };
        let Some(help) = &self.echod_help else { return true };
        (*model != echod::server::Model::Uring || help.contains("uring"))
            && (!udp || help.contains("--proto"))
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Base then new in odd repeats, new then base in even ones (`rep` counts from 1,
/// confirmation runs continue the count).
pub fn order(rep: u32) -> [Side; 2] {
    if rep % 2 == 1 {
        [Side::Base, Side::New]
    } else {
        [Side::New, Side::Base]
    }
}

/// The sides a step against `server` runs on in repeat `rep`, in order. Without a
/// base build: one run, no side (`[None]`). With one: both sides in [`order`] when
/// the base build has this server, the new side alone otherwise.
pub fn sides(server: &ServerKind, base: Option<&Build>, rep: u32) -> Vec<Option<Side>> {
    Sides::of(server, base).in_rep(rep)
}

/// Which builds a step runs for, worked out once per suite run ([`Job`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sides {
    /// No base build: one run, no side.
    Only,
    /// The base build lacks this server: the new side alone.
    New,
    /// Both builds, in [`order`].
    Both,
}

impl Sides {
    /// The sides of a step against `server`, with the base build `base` if any.
    pub fn of(server: &ServerKind, base: Option<&Build>) -> Sides {
        let Some(base) = base else { return Sides::Only };
        let both = match server {
            ServerKind::Echod { .. } => base.serves(server),
            ServerKind::Tokio { .. } => base.tokio_echo.is_some(),
            ServerKind::CEpoll { .. }
            | ServerKind::CUdp { .. }
            | ServerKind::Sockperf
            | ServerKind::Custom(_) => false,
        };
        if both {
            Sides::Both
        } else {
            Sides::New
        }
    }

    /// The sides in repeat `rep`, in the order they run.
    pub fn in_rep(self, rep: u32) -> Vec<Option<Side>> {
        match self {
            Sides::Only => vec![None],
            Sides::New => vec![Some(Side::New)],
            Sides::Both => order(rep).into_iter().map(Some).collect(),
        }
    }

    /// How many runs a repeat holds.
    pub fn count(self) -> usize {
        if self == Sides::Both {
            2
        } else {
            1
        }
    }
}

/// One selected step of the plan and the sides it runs on: what a suite run does
/// once per repeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Job {
    /// The step's index in the plan (its port offset and file-name prefix).
    pub index: usize,
    pub sides: Sides,
}

/// The jobs of the `selected` steps of `plan`, with the base build `base` if any.
pub fn jobs(plan: &Plan, selected: &[usize], base: Option<&Build>) -> Vec<Job> {
    selected
        .iter()
        .map(|&index| Job { index, sides: Sides::of(&plan.steps[index].server, base) })
        .collect()
}

/// One run of a suite's schedule: the step at `index` in the plan, on `side`, in
/// repeat `rep`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub rep: u32,
    pub index: usize,
    pub side: Option<Side>,
}

/// The runs of `jobs` in the repeats `reps`, in the order they run: repeat by
/// repeat, each job on its sides in that repeat's order.
pub fn schedule(jobs: &[Job], reps: std::ops::RangeInclusive<u32>) -> Vec<Run> {
    let mut runs = Vec::new();
    for rep in reps {
        for job in jobs {
            let sides = job.sides.in_rep(rep).into_iter();
            runs.extend(sides.map(|side| Run { rep, index: job.index, side }));
        }
    }
    runs
}

/// A suite run's runs, worked out once: `repeats` of the chosen steps, and any later
/// round (`confirm1/`, ...) of the steps that still need runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Repeats 1..=R.
    pub repeats: Vec<Run>,
    /// The jobs every round is made of.
    jobs: Vec<Job>,
}

impl Schedule {
    /// The schedule of `jobs` over `repeat` repeats.
    pub fn new(jobs: &[Job], repeat: u32) -> Schedule {
        Schedule { repeats: schedule(jobs, 1..=repeat), jobs: jobs.to_vec() }
    }

    /// The runs of round `rep` (R+1, R+2, ...: the count goes on, so the side
    /// order keeps alternating) for the steps at `selected` plan indices.
    pub fn round(&self, rep: u32, selected: &[usize]) -> Vec<Run> {
        let jobs: Vec<Job> =
            self.jobs.iter().filter(|j| selected.contains(&j.index)).copied().collect();
        schedule(&jobs, rep..=rep)
    }
}

/// How many runs one repeat of `jobs` holds.
pub fn runs(jobs: &[Job]) -> usize {
    jobs.iter().map(|j| j.sides.count()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use echod::server::Model;

    fn build(tokio: bool) -> Build {
        Build {
            echod: "/b/echod".into(),
            tokio_echo: tokio.then(|| "/b/tokio-echo".into()),
            revision: None,
            echod_help: Some("--model <MODEL>  reuseport, shared, threads".into()),
        }
    }

    /// The order swaps every repeat: base, new, new, base, base, new, ...
    #[test]
    fn alternation_order() {
        let seq: Vec<Side> = (1..=4).flat_map(order).collect();
        use Side::{Base as B, New as N};
        assert_eq!(seq, vec![B, N, N, B, B, N, N, B]);
    }

    /// echod runs on both sides; tokio-echo only when the base build has one; the C
    /// peer once, on the new side; without a base build every step runs once.
    #[test]
    fn which_steps_run_twice() {
        let echod = ServerKind::Echod {
            model: Model::Reuseport,
            workers: 1,
            pin: true,
            processes: 1,
            udp: false,
        };
        let tokio = ServerKind::Tokio { threads: 1 };
        let c = ServerKind::CEpoll { threads: 1 };
        let with = build(true);
        let without = build(false);
        assert_eq!(sides(&echod, None, 1), vec![None]);
        assert_eq!(sides(&echod, Some(&with), 1), vec![Some(Side::Base), Some(Side::New)]);
        assert_eq!(sides(&echod, Some(&with), 2), vec![Some(Side::New), Some(Side::Base)]);
        assert_eq!(sides(&tokio, Some(&with), 1), vec![Some(Side::Base), Some(Side::New)]);
        assert_eq!(sides(&tokio, Some(&without), 1), vec![Some(Side::New)]);
        assert_eq!(sides(&c, Some(&with), 2), vec![Some(Side::New)]);
        // A base build older than a model or UDP: the new side alone.
        let uring = ServerKind::Echod {
            model: Model::Uring,
            workers: 1,
            pin: true,
            processes: 1,
            udp: false,
        };
        let udp = ServerKind::Echod {
            model: Model::Reuseport,
            workers: 1,
            pin: true,
            processes: 1,
            udp: true,
        };
        assert_eq!(sides(&uring, Some(&with), 1), vec![Some(Side::New)]);
        assert_eq!(sides(&udp, Some(&with), 1), vec![Some(Side::New)]);
        let mut newer = build(true);
        newer.echod_help = Some("reuseport, shared, threads, or uring ... --proto <PROTO>".into());
        assert_eq!(sides(&uring, Some(&newer), 1).len(), 2);
        assert_eq!(sides(&udp, Some(&newer), 1).len(), 2);
    }

    /// The schedule: repeat by repeat, each step on its sides in that repeat's order.
    #[test]
    fn schedule_alternates_by_repeat() {
        let jobs = [Job { index: 0, sides: Sides::Both }, Job { index: 3, sides: Sides::New }];
        let runs = schedule(&jobs, 2..=3);
        let got: Vec<(u32, usize, Option<Side>)> =
            runs.iter().map(|r| (r.rep, r.index, r.side)).collect();
        let (b, n) = (Some(Side::Base), Some(Side::New));
        assert_eq!(got, vec![(2, 0, n), (2, 0, b), (2, 3, n), (3, 0, b), (3, 0, n), (3, 3, n)]);
        assert_eq!(super::runs(&jobs), 3);
        // A later round of one step: its sides in that round's order.
        let later = Schedule::new(&jobs, 2).round(4, &[0]);
        let got: Vec<(u32, usize, Option<Side>)> =
            later.iter().map(|r| (r.rep, r.index, r.side)).collect();
        assert_eq!(got, vec![(4, 0, n), (4, 0, b)]);
    }

    /// A base folder without echod, or no folder at all: one line naming --base.
    #[test]
    fn base_folder_must_hold_echod() {
        let dir = std::env::temp_dir().join(format!("builds-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let err = Build::from_dir(&dir).unwrap_err();
        assert!(err.starts_with("--base ") && err.contains("not a folder"), "{err}");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let err = Build::from_dir(&dir).unwrap_err();
        assert!(err.contains("no executable echod"), "{err}");
        assert!(!err.contains('\n'));
        std::fs::copy("/bin/true", dir.join("echod")).expect("copy");
        std::fs::write(dir.join("revision.txt"), "abc1234 subject\n").expect("write");
        let b = Build::from_dir(&dir).expect("a build");
        assert_eq!((b.tokio_echo, b.revision.as_deref()), (None, Some("abc1234 subject")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
