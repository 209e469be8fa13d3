//! SIGINT and SIGTERM: the one way every command here catches them, and the one
//! exit rule. A signal sets a stop flag (the work winds down, keeping what it
//! measured) and is remembered; a command it interrupted exits 128 + the signal
//! ([`EXIT_SIGINT`] 130, [`EXIT_SIGTERM`] 143), as a shell reports it. A server's
//! work is to run until told to stop, so echod's graceful stop on a signal is its
//! normal end (exit 0, as a service manager expects); a second signal, which cuts
//! that stop short, exits by the rule.
//!
//! Two shapes of the same set-up: [`Signals`], flags a loop polls (loadgen's run,
//! the suite, the testbed, a private namespace's wrapper, echod's supervisor), and
//! [`Listener`], a thread that blocks until one arrives (echod's single process,
//! which has no loop of its own to poll from).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

pub use signal_hook::consts::{SIGINT, SIGTERM};

use crate::cli::{EXIT_SIGINT, EXIT_SIGTERM};

/// The signals that stop a command.
pub const STOPPING: [i32; 2] = [SIGINT, SIGTERM];

/// The exit code of a command that `signal` interrupted: 128 + the signal.
pub fn exit_code(signal: i32) -> u8 {
    match signal {
        SIGINT => EXIT_SIGINT,
        SIGTERM => EXIT_SIGTERM,
        other => 128u8.saturating_add(u8::try_from(other).unwrap_or(u8::MAX)),
    }
}

/// SIGINT and SIGTERM wired to a stop flag, and which one came.
pub struct Signals {
    /// Set by the first signal: the work stops, keeping what it did.
    stop: Arc<AtomicBool>,
    /// The last signal caught (0: none).
    caught: Arc<AtomicUsize>,
}

impl Signals {
    /// Installs the handlers: each signal sets the stop flag and is remembered.
    pub fn install() -> io::Result<Self> {
        Self::register(false)
    }

    /// As [`Signals::install`], and a second signal (one arriving once the stop
    /// flag is set) ends the process at once, with the same exit rule.
    pub fn install_exiting_on_second() -> io::Result<Self> {
        Self::register(true)
    }

    fn register(exit_on_second: bool) -> io::Result<Self> {
        let (stop, caught) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        for sig in STOPPING {
            if exit_on_second {
                // Registered first, so it looks at the flag before this signal sets it.
                let code = i32::from(exit_code(sig));
                signal_hook::flag::register_conditional_shutdown(sig, code, Arc::clone(&stop))?;
            }
            signal_hook::flag::register(sig, Arc::clone(&stop))?;
            signal_hook::flag::register_usize(sig, Arc::clone(&caught), sig as usize)?;
        }
        Ok(Self { stop, caught })
    }

    /// The stop flag, for the loops that poll it.
    pub fn stop_flag(&self) -> &Arc<AtomicBool> {
        &self.stop
    }

    /// The last signal caught, if one was.
    pub fn caught(&self) -> Option<i32> {
        match self.caught.load(Ordering::Relaxed) {
            0 => None,
            sig => i32::try_from(sig).ok(),
        }
    }

    /// The exit code of a command a signal interrupted, if one did.
    pub fn exit_code(&self) -> Option<u8> {
        self.caught().map(exit_code)
    }
}

/// SIGINT and SIGTERM delivered to a thread that waits for them.
pub struct Listener {
    signals: signal_hook::iterator::Signals,
}

impl Listener {
    /// Installs the handlers; signals are then queued for [`Listener::wait`].
    pub fn install() -> io::Result<Self> {
        Ok(Self { signals: signal_hook::iterator::Signals::new(STOPPING)? })
    }

    /// Blocks until a signal arrives; None once the listener is closed.
    pub fn wait(&mut self) -> Option<i32> {
        self.signals.forever().next()
    }

    /// A signal that arrived since the last look, without blocking.
    pub fn pending(&mut self) -> Option<i32> {
        self.signals.pending().next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exit rule: 130 for SIGINT, 143 for SIGTERM, 128 + N otherwise.
    #[test]
    fn exit_codes_are_128_plus_the_signal() {
        assert_eq!((exit_code(SIGINT), exit_code(SIGTERM)), (130, 143));
        assert_eq!(exit_code(libc::SIGHUP), 129);
    }

    /// A real SIGTERM sent to this process sets the flag and is remembered (the
    /// handler stays installed, so the test process survives it), and a listener
    /// receives it too.
    #[test]
    fn a_real_signal_sets_the_flag_and_is_remembered() {
        let signals = Signals::install().expect("install");
        let mut listener = Listener::install().expect("listen");
        assert_eq!((signals.caught(), signals.exit_code()), (None, None));
        crate::sys::signal(std::process::id(), SIGTERM).expect("kill");
        let mut heard = None;
        for _ in 0..200 {
            heard = heard.or_else(|| listener.pending());
            if signals.caught().is_some() && heard.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(signals.stop_flag().load(Ordering::Relaxed));
        assert_eq!(
            (signals.caught(), signals.exit_code(), heard),
            (Some(SIGTERM), Some(143), Some(SIGTERM))
        );
    }
}
