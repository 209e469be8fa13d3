//! The start line, where the workers meet the coordinator after their connect
//! phase: each worker takes a [`Seat`] first thing, arrives through it and waits
//! for the coordinator's [`Word`]; the coordinator waits until every worker has
//! arrived — or left: a worker that dies before arriving (a panic) leaves its
//! seat as it unwinds, so the wait ends and the run ends with that worker's
//! error, never waits for ever. Invariant: the word goes from [`Word::Waiting`]
//! to `Go` or `DoNotRun` exactly once and never back, so a worker that arrives
//! late still reads it.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::phase::Timeline;

/// The coordinator's word to the workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Word {
    /// Not given yet.
    Waiting,
    /// Run the traffic on this timeline.
    Go(Timeline),
    /// Do not run (stopped, nothing connected, or a split run's parent said so).
    DoNotRun,
}

/// What the start line holds: who has arrived or left, and the word.
#[derive(Debug)]
struct Meeting {
    /// Workers arrived so far.
    arrived: usize,
    /// Workers that died before arriving.
    left: usize,
    /// The coordinator's word.
    word: Word,
}

/// Where the workers meet the coordinator after their connect phase.
#[derive(Debug)]
pub struct StartLine {
    /// Arrivals and the word.
    meeting: Mutex<Meeting>,
    /// Wakes the waiting side.
    cond: Condvar,
}

impl StartLine {
    /// A start line nobody has arrived at, with no word given.
    pub fn new() -> Self {
        Self {
            meeting: Mutex::new(Meeting { arrived: 0, left: 0, word: Word::Waiting }),
            cond: Condvar::new(),
        }
    }

    /// A worker's seat, taken first thing in its thread: it arrives through it,
    /// and leaves through it if it dies first.
    pub fn seat(&self) -> Seat<'_> {
        Seat { line: self, arrived: false }
    }

    /// A worker arrives and waits for the word (bounded by the coordinator, which
    /// always gives it); `None`: do not run.
    fn arrive_and_wait(&self) -> Option<Timeline> {
        let mut m = self.meeting.lock().unwrap_or_else(|e| e.into_inner());
        m.arrived += 1;
        self.cond.notify_all();
        loop {
            match m.word {
                Word::Waiting => m = self.cond.wait(m).unwrap_or_else(|e| e.into_inner()),
                Word::Go(timeline) => return Some(timeline),
                Word::DoNotRun => return None,
            }
        }
    }

    /// The coordinator waits until `n` workers arrived or left; `Err(left)` when
    /// some died before arriving.
    pub fn wait_for(&self, n: usize) -> Result<(), usize> {
        let mut m = self.meeting.lock().unwrap_or_else(|e| e.into_inner());
        while m.arrived + m.left < n {
            m = self
                .cond
                .wait_timeout(m, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        if m.left == 0 {
            Ok(())
        } else {
            Err(m.left)
        }
    }

    /// The coordinator gives the word (`Go` or `DoNotRun`).
    pub fn release(&self, word: Word) {
        let mut m = self.meeting.lock().unwrap_or_else(|e| e.into_inner());
        m.word = word;
        self.cond.notify_all();
    }
}

/// A worker's place at the start line (see [`StartLine::seat`]).
#[derive(Debug)]
pub struct Seat<'a> {
    /// The line it belongs to.
    line: &'a StartLine,
    /// Whether its worker arrived.
    arrived: bool,
}

impl Seat<'_> {
    /// The worker arrives and waits for the word; `None`: do not run.
    pub fn arrive_and_wait(mut self) -> Option<Timeline> {
        self.arrived = true;
        self.line.arrive_and_wait()
    }
}

impl Drop for Seat<'_> {
    /// A worker gone without arriving (it panicked) leaves its seat, so the
    /// coordinator's wait ends.
    fn drop(&mut self) {
        if !self.arrived {
            let mut m = self.line.meeting.lock().unwrap_or_else(|e| e.into_inner());
            m.left += 1;
            self.line.cond.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Workers that arrive before and after the word all read it.
    #[test]
    fn every_worker_reads_the_word() {
        let line = Arc::new(StartLine::new());
        let timeline = Timeline { traffic_start_ns: 1, measure_start_ns: 2, measure_end_ns: 3 };
        let early = {
            let line = line.clone();
            std::thread::spawn(move || line.seat().arrive_and_wait())
        };
        assert_eq!(line.wait_for(1), Ok(()));
        line.release(Word::Go(timeline));
        assert_eq!(early.join().expect("join"), Some(timeline));
        assert_eq!(line.seat().arrive_and_wait(), Some(timeline), "a late worker");
        let stopped = StartLine::new();
        stopped.release(Word::DoNotRun);
        assert_eq!(stopped.seat().arrive_and_wait(), None);
    }

    /// A worker that dies before it arrives (a panic) ends the coordinator's
    /// wait, which says so, instead of waiting for ever (bounded here: the wait
    /// runs on its own thread, and a hang fails the test after 30 s).
    #[test]
    fn a_worker_dead_before_arriving_ends_the_wait() {
        let line = Arc::new(StartLine::new());
        let dead = {
            let line = line.clone();
            std::thread::spawn(move || {
                let _seat = line.seat();
                panic!("a worker dies before it arrives (expected by this test)");
            })
        };
        let alive = {
            let line = line.clone();
            std::thread::spawn(move || line.seat().arrive_and_wait())
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let waiting = {
            let line = line.clone();
            std::thread::spawn(move || tx.send(line.wait_for(2)))
        };
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok(Err(1)));
        line.release(Word::DoNotRun);
        assert_eq!(alive.join().expect("join"), None);
        assert!(dead.join().is_err(), "it panicked");
        waiting.join().expect("join").expect("sent");
    }
}
