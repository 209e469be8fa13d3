//! The start line, where the workers meet the coordinator after their connect
//! phase: each worker arrives and waits for the coordinator's [`Word`]; the
//! coordinator waits until every worker has arrived, then gives the word once.
//! Invariant: the word goes from [`Word::Waiting`] to `Go` or `DoNotRun` exactly
//! once and never back, so a worker that arrives late still reads it.

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

/// What the start line holds: who has arrived, and the word.
#[derive(Debug)]
struct Meeting {
    /// Workers arrived so far.
    arrived: usize,
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
            meeting: Mutex::new(Meeting { arrived: 0, word: Word::Waiting }),
            cond: Condvar::new(),
        }
    }

    /// A worker arrives and waits for the word (bounded by the coordinator, which
    /// always gives it); `None`: do not run.
    pub fn arrive_and_wait(&self) -> Option<Timeline> {
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

    /// The coordinator waits until `n` workers arrived.
    pub fn wait_for(&self, n: usize) {
        let mut m = self.meeting.lock().unwrap_or_else(|e| e.into_inner());
        while m.arrived < n {
            m = self
                .cond
                .wait_timeout(m, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The coordinator gives the word (`Go` or `DoNotRun`).
    pub fn release(&self, word: Word) {
        let mut m = self.meeting.lock().unwrap_or_else(|e| e.into_inner());
        m.word = word;
        self.cond.notify_all();
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
            std::thread::spawn(move || line.arrive_and_wait())
        };
        line.wait_for(1);
        line.release(Word::Go(timeline));
        assert_eq!(early.join().expect("join"), Some(timeline));
        assert_eq!(line.arrive_and_wait(), Some(timeline), "a late worker");
        let stopped = StartLine::new();
        stopped.release(Word::DoNotRun);
        assert_eq!(stopped.arrive_and_wait(), None);
    }
}
