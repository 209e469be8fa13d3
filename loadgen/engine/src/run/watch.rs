//! `--watch-pid` and the machine's noise: what the watched server processes (every
//! thread) and the whole machine spent over the measured phase, read at its two
//! ends with the loadgen's own CPU time ([`CpuWatch`] takes the readings; in
//! a split run the parent's [`Meter`] does, with its children's CPU as its own).
//!
//! Threads come and go. A thread seen only at the end was born in the window: all
//! its counters are the window's. One seen only at the start exited in it: its
//! time between the start and its exit left with it (the kernel folds it into the
//! process's tick-sampled utime/stime, which `user_s`/`system_s` include), so
//! `cpu_s` misses it; a watched process gone at the end counts nothing. The
//! machine's busy time is tick-sampled (10 ms per core at 100 Hz): `other_cpu_s`
//! is good to a few hundredths of a core over a second or more. Interrupt work
//! done in a task's context (loopback's softirqs) is that task's time, except on a
//! kernel built with IRQ_TIME_ACCOUNTING, where it is no task's and counts as other.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::procfs::{self, sched};

use super::clock::Clock;
use super::config::Config;
use super::phase::Timeline;
use crate::result::{MachineNoise, ServerCost};

/// A split run's parent's readings over the measured phase it gave the word for
/// (its children begin their warm-up on that word): the same boundaries as a
/// child's, read within a millisecond when the parent sleeps by [`Meter::until_next`].
pub struct Meter<'a> {
    /// Since the word.
    clock: Clock,
    /// The word's timeline; `None`: no go, nothing measured.
    timeline: Option<Timeline>,
    /// The readings so far.
    cpu: CpuWatch,
    /// What is watched.
    watched: Watched<'a>,
}

impl<'a> Meter<'a> {
    /// A meter for the timeline that starts now (when the word was `go`).
    pub fn start(config: &'a Config, go: bool) -> Self {
        let clock = Clock::start();
        Self {
            clock,
            timeline: go.then(|| Timeline::starting_at(0, config.warmup, config.duration)),
            cpu: CpuWatch::Before,
            watched: Watched {
                pids: &config.watch_pids,
                disturbed_above: config.disturbed_above,
                with_children: true,
            },
        }
    }

    /// Reads at a boundary that has come.
    pub fn tick(&mut self) {
        if let Some(tl) = &self.timeline {
            self.cpu.tick(self.clock.now_ns(), tl, &self.watched);
        }
    }

    /// How long until the next boundary (`MAX` when none is due).
    pub fn until_next(&self) -> Duration {
        match (&self.timeline, &self.cpu) {
            (Some(tl), CpuWatch::Before | CpuWatch::During(_)) => {
                Duration::from_nanos(self.cpu.next_ns(tl).saturating_sub(self.clock.now_ns()))
            }
            _ => Duration::MAX,
        }
    }

    /// What the measured phase spent (read now if it has not ended).
    pub fn finish(self) -> Spent {
        self.cpu.finish(&self.watched)
    }
}

/// Steal above this many cores (as a share of the window) marks a run disturbed.
pub const STEAL_ABOVE: f64 = 0.05;

/// What to watch: the server's pids and the machine's noise limit.
#[derive(Clone, Debug, PartialEq)]
pub struct Watched<'a> {
    /// `--watch-pid`, in order given.
    pub pids: &'a [u32],
    /// `--disturbed-above`: cores busy outside loadgen and the server.
    pub disturbed_above: f64,
    /// Loadgen's own CPU is this process's and its children's (a split run's
    /// parent), not this process's alone.
    pub with_children: bool,
}

/// One watched process at one instant.
#[derive(Clone, Debug, PartialEq)]
struct ProcReading {
    /// Its threads' counters, by TID.
    tasks: BTreeMap<u32, sched::TaskCounts>,
    /// utime and stime, seconds.
    user_system: Option<(f64, f64)>,
}

/// Everything read at one end of the measured phase.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// When.
    at: Instant,
    /// This process's CPU seconds.
    self_cpu: Option<f64>,
    /// Each watched pid, in order (`None`: gone).
    server: Vec<Option<ProcReading>>,
    /// The machine's CPU time.
    machine: Option<sched::MachineTicks>,
}

/// What the measured phase cost: loadgen itself, the server, the machine.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Spent {
    /// Loadgen's own CPU seconds (`client_cpu_s`).
    pub cpu_s: Option<f64>,
    /// The watched server's (per-round-trip figures not yet worked out).
    pub server: Option<ServerCost>,
    /// The machine's.
    pub machine: Option<MachineNoise>,
}

impl Reading {
    /// Reads everything now.
    pub fn now(watched: &Watched<'_>) -> Self {
        let server = watched
            .pids
            .iter()
            .map(|&pid| {
                let tasks = sched::task_counts(pid)?;
                Some(ProcReading { tasks, user_system: procfs::user_system_seconds(pid) })
            })
            .collect();
        Self {
            at: Instant::now(),
            self_cpu: if watched.with_children {
                Some(procfs::tree_sum(std::process::id(), procfs::cpu_seconds))
            } else {
                procfs::self_cpu_seconds()
            },
            server,
            machine: sched::machine_ticks(),
        }
    }

    /// What was spent from `begun` to this reading.
    pub fn since(&self, begun: &Reading, watched: &Watched<'_>) -> Spent {
        let cpu_s = begun.self_cpu.zip(self.self_cpu).map(|(a, b)| (b - a).max(0.0));
        let server = (!watched.pids.is_empty()).then(|| server_cost(watched.pids, begun, self));
        let machine = begun.machine.zip(self.machine).map(|(a, b)| {
            let window_s = self.at.duration_since(begun.at).as_secs_f64();
            let ours = cpu_s.unwrap_or(0.0) + server.as_ref().map_or(0.0, |s| s.cpu_s);
            noise(window_s, (a, b), ours, watched.disturbed_above)
        });
        Spent { cpu_s, server, machine }
    }
}

/// The watched processes' cost between two readings.
fn server_cost(pids: &[u32], begun: &Reading, end: &Reading) -> ServerCost {
    let mut cost = ServerCost { pids: pids.to_vec(), ..Default::default() };
    let mut run_ns = 0u64;
    for (a, b) in begun.server.iter().zip(&end.server) {
        let (Some(a), Some(b)) = (a, b) else { continue };
        for (tid, now) in &b.tasks {
            // Born in the window: all of its counters; else the difference.
            let then = a.tasks.get(tid).copied().unwrap_or_default();
            run_ns = run_ns.saturating_add(now.run_ns.saturating_sub(then.run_ns));
            cost.context_switches = cost
                .context_switches
                .saturating_add(now.context_switches.saturating_sub(then.context_switches));
        }
        if let (Some((u0, s0)), Some((u1, s1))) = (a.user_system, b.user_system) {
            cost.user_s += (u1 - u0).max(0.0);
            cost.system_s += (s1 - s0).max(0.0);
        }
    }
    cost.cpu_s = cpu_seconds(run_ns, cost.user_s + cost.system_s);
    cost
}

/// Tick rounding of two /proc/PID/stat readings (CLK_TCK 100: 10 ms each).
const TICK_ROUNDING_S: f64 = 0.02;

/// The server's CPU seconds: its threads' schedstat run time (exact, ns), unless
/// the process's own utime + stime (ticks, but counting threads that exited: a
/// thread per connection that comes and goes takes its schedstat with it) exceeds
/// it by more than the ticks' rounding.
fn cpu_seconds(run_ns: u64, user_system_s: f64) -> f64 {
    let exact = run_ns as f64 / 1e9;
    if user_system_s > exact + TICK_ROUNDING_S {
        user_system_s
    } else {
        exact
    }
}

/// The machine's noise over `window_s` between two /proc/stat readings, with
/// `ours` CPU seconds used by loadgen and the server.
fn noise(
    window_s: f64,
    (a, b): (sched::MachineTicks, sched::MachineTicks),
    ours: f64,
    disturbed_above: f64,
) -> MachineNoise {
    let busy_cpu_s = sched::MachineTicks::seconds(b.busy.saturating_sub(a.busy));
    let steal_s = sched::MachineTicks::seconds(b.steal.saturating_sub(a.steal));
    let other_cpu_s = (busy_cpu_s - ours).max(0.0);
    let mut noise = MachineNoise {
        window_s,
        cores: b.cores,
        busy_cpu_s,
        other_cpu_s,
        steal_s,
        disturbed: false,
        reason: None,
    };
    judge(&mut noise, disturbed_above);
    noise
}

/// Sets `disturbed` and its reason from the figures and the limit.
pub fn judge(n: &mut MachineNoise, disturbed_above: f64) {
    if n.window_s <= 0.0 {
        return;
    }
    let (other, steal) = (n.other_cpu_s / n.window_s, n.steal_s / n.window_s);
    let mut why = Vec::new();
    if other > disturbed_above {
        why.push(format!(
            "{other:.2} cores busy outside loadgen and the server (limit {disturbed_above})"
        ));
    }
    if steal > STEAL_ABOVE {
        why.push(format!("{steal:.2} cores stolen by the hypervisor (limit {STEAL_ABOVE})"));
    }
    n.disturbed = !why.is_empty();
    n.reason = n.disturbed.then(|| why.join("; "));
}

#[cfg(test)]
mod tests {
    /// schedstat's exact figure stands unless utime + stime (which keeps the time
    /// of threads that exited) is past it by more than two ticks.
    #[test]
    fn exited_threads_count() {
        assert_eq!(super::cpu_seconds(1_500_000_000, 1.51), 1.5);
        assert_eq!(super::cpu_seconds(1_500_000_000, 1.49), 1.5);
        assert_eq!(super::cpu_seconds(300_000_000, 1.2), 1.2);
    }

    use super::*;
    use sched::{MachineTicks, TaskCounts};

    fn proc_reading(tasks: &[(u32, u64, u64)], user_system: (f64, f64)) -> Option<ProcReading> {
        let tasks = tasks
            .iter()
            .map(|&(tid, run_ns, context_switches)| (tid, TaskCounts { run_ns, context_switches }))
            .collect();
        Some(ProcReading { tasks, user_system: Some(user_system) })
    }

    /// A thread alive at both ends counts its difference, one born in the window
    /// all of its counters, one that exited nothing; a gone process nothing.
    #[test]
    fn threads_that_come_and_go() {
        let at = Instant::now();
        let machine = None;
        let begun = Reading {
            at,
            self_cpu: Some(1.0),
            server: vec![proc_reading(&[(10, 1_000_000_000, 5), (11, 300, 7)], (1.0, 0.5)), None],
            machine,
        };
        let end = Reading {
            at,
            self_cpu: Some(1.5),
            server: vec![
                proc_reading(&[(10, 1_250_000_000, 9), (12, 50_000_000, 2)], (1.2, 0.6)),
                None,
            ],
            machine,
        };
        let w = Watched { pids: &[7, 8], disturbed_above: 0.15, with_children: false };
        let spent = end.since(&begun, &w);
        assert_eq!(spent.cpu_s, Some(0.5));
        let s = spent.server.unwrap_or_default().per_round_trip(1000);
        assert_eq!(s.pids, vec![7, 8]);
        assert!((s.cpu_s - 0.3).abs() < 1e-9, "{s:?}");
        assert_eq!(s.context_switches, 4 + 2);
        assert!((s.user_s - 0.2).abs() < 1e-9 && (s.system_s - 0.1).abs() < 1e-9, "{s:?}");
        assert!(s.rt_per_cpu_s.is_some_and(|r| (r - 1000.0 / 0.3).abs() < 1e-6));
        assert!(s.cpu_us_per_rt.is_some_and(|c| (c - 300.0).abs() < 1e-6));
        assert_eq!(s.context_switches_per_rt, Some(0.006));
        assert_eq!(ServerCost::default().per_round_trip(0).rt_per_cpu_s, None);
    }

    /// The machine's busy time less ours is the others'; past the limit (or with
    /// steal) the run is disturbed, with the reason in words.
    #[test]
    fn noise_and_its_limit() {
        let hz = common::sys::clock_ticks_per_second();
        let a = MachineTicks { busy: 0, steal: 0, cores: 2 };
        let b = MachineTicks { busy: 2 * hz, steal: 0, cores: 2 };
        let quiet = noise(2.0, (a, b), 1.9, 0.15);
        assert!((quiet.other_cpu_s - 0.1).abs() < 1e-9 && !quiet.disturbed, "{quiet:?}");
        assert_eq!(quiet.reason, None);
        let busy = noise(2.0, (a, b), 0.5, 0.15);
        assert!(busy.disturbed, "{busy:?}");
        assert!(busy.reason.as_deref().is_some_and(|r| r.starts_with("0.75 cores busy")));
        let stolen = noise(1.0, (a, MachineTicks { busy: hz, steal: hz / 2, cores: 2 }), 1.0, 0.15);
        assert!(stolen.disturbed && stolen.reason.is_some_and(|r| r.contains("stolen")));
        assert_eq!(noise(1.0, (b, a), 0.0, 0.15).other_cpu_s, 0.0, "counters never go back");
    }
}

/// The process's CPU time (user + system) over the measured phase, with the
/// watched server's and the machine's (`watch`): read when it begins and when it
/// ends (or when the run ends, if sooner).
#[derive(Clone, Debug, PartialEq)]
pub enum CpuWatch {
    /// The measured phase has not begun.
    Before,
    /// It runs; what was read when it began.
    During(Box<Reading>),
    /// It is over; what it took.
    After(Box<Spent>),
}

impl CpuWatch {
    /// Reads at whichever boundary of `timeline` `now` has passed.
    pub fn tick(&mut self, now: u64, timeline: &Timeline, watched: &Watched<'_>) {
        if *self == Self::Before && now >= timeline.measure_start_ns {
            *self = Self::During(Box::new(Reading::now(watched)));
        }
        if let Self::During(begun) = self {
            if now >= timeline.measure_end_ns {
                *self = Self::After(Box::new(Reading::now(watched).since(begun, watched)));
            }
        }
    }

    /// When the next reading is due.
    pub fn next_ns(&self, timeline: &Timeline) -> u64 {
        match self {
            Self::Before => timeline.measure_start_ns,
            _ => timeline.measure_end_ns,
        }
    }

    /// What the measured phase took, read now if it has not ended yet.
    pub fn finish(self, watched: &Watched<'_>) -> Spent {
        match self {
            Self::Before => Spent::default(),
            Self::During(begun) => Reading::now(watched).since(&begun, watched),
            Self::After(spent) => *spent,
        }
    }
}

#[cfg(test)]
mod cpu_watch_tests {
    use super::*;

    /// The watch reads at the start and the end of the measured phase, in order;
    /// one ended early reads at once; one that never began has nothing.
    #[test]
    fn reads_over_the_measured_phase() {
        let tl = Timeline { traffic_start_ns: 0, measure_start_ns: 10, measure_end_ns: 20 };
        let me = [std::process::id()];
        let w = Watched { pids: &me, disturbed_above: 0.15, with_children: false };
        let mut cw = CpuWatch::Before;
        assert_eq!(cw.next_ns(&tl), 10);
        cw.tick(5, &tl, &w);
        assert_eq!(cw, CpuWatch::Before);
        cw.tick(10, &tl, &w);
        assert!(matches!(cw, CpuWatch::During(_)), "{cw:?}");
        assert_eq!(cw.next_ns(&tl), 20);
        let early = cw.clone().finish(&w);
        assert!(early.cpu_s.is_some_and(|s| s >= 0.0), "ended early");
        assert!(early.server.is_some_and(|s| s.cpu_s >= 0.0 && s.pids == me));
        cw.tick(25, &tl, &w);
        assert!(matches!(&cw, CpuWatch::After(s) if s.cpu_s.is_some_and(|c| c >= 0.0)), "{cw:?}");
        let mut both = CpuWatch::Before;
        both.tick(30, &tl, &Watched { pids: &[], disturbed_above: 0.15, with_children: true });
        let CpuWatch::After(spent) = both else { panic!("both boundaries in one tick") };
        assert!(spent.cpu_s.is_some() && spent.server.is_none() && spent.machine.is_some());
        assert_eq!(CpuWatch::Before.finish(&w), Spent::default());
    }
}
