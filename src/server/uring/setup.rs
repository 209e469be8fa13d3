//! The shape of a worker's ring: its setup flags ([`Setup`]) and the features in use
//! ([`Features`]), as `features::probe` finds them and `ring::Ring::new` builds on;
//! the start-up line that says which; and [`WITHOUT`], which leaves features out by
//! name to measure each. Data only: probing is `features`', building is `ring`'s.

use io_uring::IoUring;

/// How the ring is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Setup {
    /// `IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN`.
    DeferTaskrun,
    /// `IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG`.
    CoopTaskrun,
    /// No setup flags.
    Plain,
}

impl Setup {
    /// Every setup, best first.
    pub(crate) const ALL: [Setup; 3] = [Setup::DeferTaskrun, Setup::CoopTaskrun, Setup::Plain];

    /// A builder with these flags (and `IORING_SETUP_R_DISABLED` when `disabled`).
    pub(crate) fn builder(self, disabled: bool) -> io_uring::Builder {
        let mut b = IoUring::builder();
        match self {
            Setup::DeferTaskrun => b.setup_single_issuer().setup_defer_taskrun(),
            Setup::CoopTaskrun => b.setup_coop_taskrun().setup_taskrun_flag(),
            Setup::Plain => &mut b,
        };
        if disabled {
            b.setup_r_disabled();
        }
        b
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Setup::DeferTaskrun => "SINGLE_ISSUER+DEFER_TASKRUN",
            Setup::CoopTaskrun => "COOP_TASKRUN (no DEFER_TASKRUN: Linux 6.1+)",
            Setup::Plain => "no setup flags (no COOP_TASKRUN: Linux 5.19+)",
        }
    }
}

/// What the workers use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Features {
    /// The ring's setup flags.
    pub(crate) setup: Setup,
    /// Multishot receive ending after a byte limit.
    pub(crate) recv_limit: bool,
    /// The ring descriptor can be registered.
    pub(crate) ring_fd: bool,
    /// The listener can be a fixed file.
    pub(crate) fixed_listener: bool,
}

impl Features {
    /// The start-up line: what is in use, and what fell back and why.
    pub fn line(&self, sizes_line: &str) -> String {
        let recv = if self.recv_limit {
            "multishot receive (ended by the kernel after --buffer bytes)"
        } else {
            "one receive per request (this kernel's multishot receive has no byte limit, \
             which the --buffer bound needs: Linux 6.17+)"
        };
        let mut registered = Vec::new();
        if self.ring_fd {
            registered.push("ring");
        }
        if self.fixed_listener {
            registered.push("listener");
        }
        let registered = match registered.is_empty() {
            true => "none".to_string(),
            false => registered.join(", "),
        };
        format!(
            "--model uring: io_uring with {}, multishot accept, {recv}, {sizes_line}, sends \
             gathered per turn (one io_uring_enter), registered descriptors: {registered}",
            self.setup.name()
        )
    }
}

/// Benchmarks only: features to leave out, comma-separated names from
/// [`KNOWN`] (e.g. `ECHOD_URING_WITHOUT=defer-taskrun,recv-limit`).
pub const WITHOUT: &str = "ECHOD_URING_WITHOUT";

/// The names [`WITHOUT`] takes.
const KNOWN: [&str; 4] = ["defer-taskrun", "recv-limit", "ring-fd", "fixed-listener"];

impl Features {
    /// These features less the ones `names` (comma-separated) leaves out.
    pub(crate) fn without(mut self, names: &str) -> Result<Features, String> {
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "defer-taskrun" if self.setup == Setup::DeferTaskrun => {
                    self.setup = Setup::CoopTaskrun;
                }
                "defer-taskrun" => {}
                "recv-limit" => self.recv_limit = false,
                "ring-fd" => self.ring_fd = false,
                "fixed-listener" => self.fixed_listener = false,
                other => {
                    return Err(format!(
                        "{WITHOUT}={names}: no feature '{other}'; known: {}",
                        KNOWN.join(", ")
                    ))
                }
            }
        }
        Ok(self)
    }
}
