//! What the server cost and what else the machine did over the measured window
//! (`--watch-pid`): the figures that tell a 5% change apart from the noise
//! (round trips per *server* CPU-second) and the record that shows a disturbed
//! run, so it can be repeated. Measured by the load generator's `watch` module.

use serde::{Deserialize, Serialize};

/// The watched server processes' cost over the measured window.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ServerCost {
    /// The watched processes (`--watch-pid`), as given.
    pub pids: Vec<u32>,
    /// CPU seconds, user + system, every thread of the watched processes, from
    /// /proc/PID/task/TID/schedstat (first field, ns: exact, not tick-sampled).
    /// A thread born in the window counts whole; one that exited in it counts
    /// nothing after the window's start (its counters went with it).
    pub cpu_s: f64,
    /// User and system seconds from /proc/PID/stat utime/stime (tick-sampled
    /// split; exited threads included).
    pub user_s: f64,
    pub system_s: f64,
    /// Voluntary + involuntary context switches of every thread
    /// (/proc/PID/task/TID/status), as `cpu_s` counts threads.
    pub context_switches: u64,
    /// Measured round trips (the result's messages in the measured window) / cpu_s.
    pub rt_per_cpu_s: Option<f64>,
    /// cpu_s * 1e6 / round trips.
    pub cpu_us_per_rt: Option<f64>,
    /// context_switches / round trips.
    pub context_switches_per_rt: Option<f64>,
}

impl ServerCost {
    /// These figures with the per-round-trip ones worked out for `round_trips`
    /// (none where a divisor is 0).
    pub fn per_round_trip(mut self, round_trips: u64) -> Self {
        let rts = round_trips as f64;
        self.rt_per_cpu_s = (self.cpu_s > 0.0 && rts > 0.0).then(|| rts / self.cpu_s);
        self.cpu_us_per_rt = (rts > 0.0).then(|| self.cpu_s * 1e6 / rts);
        self.context_switches_per_rt = (rts > 0.0).then(|| self.context_switches as f64 / rts);
        self
    }
}

/// What the machine did over the measured window besides the run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct MachineNoise {
    /// Wall seconds between the two readings (the measured phase).
    pub window_s: f64,
    /// The cores the kernel counts (/proc/stat's cpuN lines).
    pub cores: usize,
    /// CPU seconds all cores were busy over the window (/proc/stat:
    /// user+nice+system+irq+softirq+steal; not idle/iowait). Tick-sampled.
    pub busy_cpu_s: f64,
    /// busy_cpu_s minus loadgen's own CPU minus the watched server's cpu_s: what
    /// other programs and kernel threads used (never below 0: tick sampling can
    /// put the difference a few ms under).
    pub other_cpu_s: f64,
    /// CPU seconds a hypervisor gave to others while this machine wanted them.
    pub steal_s: f64,
    /// Whether other_cpu_s / window_s or steal_s / window_s passed the limits
    /// (`--disturbed-above` cores; steal above 0.05 cores).
    pub disturbed: bool,
    /// Why, in words, when disturbed (e.g. "0.62 cores busy outside loadgen and
    /// the server").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
