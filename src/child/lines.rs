//! A child's output, read line by line on one thread per stream, so the child never
//! blocks on a full pipe and every read the parent makes is bounded (a channel with
//! timeouts). The last [`TAIL`] lines of stderr are kept for error messages.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader};
use std::process::{ChildStderr, ChildStdout};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

/// Lines of stderr kept for error messages.
const TAIL: usize = 20;

/// The last lines of a child's stderr, shared with its reading thread.
pub(super) type Tail = Arc<Mutex<VecDeque<String>>>;

/// A line a child printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// On stdout.
    Out(String),
    /// On stderr.
    Err(String),
}

impl Line {
    /// The text, whichever stream it came on.
    pub fn text(&self) -> &str {
        match self {
            Line::Out(t) | Line::Err(t) => t,
        }
    }
}

/// Starts reading the streams that are pipes, into one channel in arrival order;
/// `None` when neither is (nothing to read). Stderr's last lines go to `tail` too.
pub(super) fn read(
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    tail: &Tail,
) -> Option<Receiver<Line>> {
    if stdout.is_none() && stderr.is_none() {
        return None;
    }
    let (tx, rx) = mpsc::channel();
    if let Some(out) = stdout {
        read_lines(out, tx.clone(), None, Line::Out);
    }
    if let Some(err) = stderr {
        read_lines(err, tx, Some(tail.clone()), Line::Err);
    }
    Some(rx)
}

/// Reads `stream` line by line on its own thread into `tx` (as `wrap`), keeping
/// the last [`TAIL`] lines in `tail` when given; ends with the stream.
fn read_lines(
    stream: impl io::Read + Send + 'static,
    tx: Sender<Line>,
    tail: Option<Tail>,
    wrap: fn(String) -> Line,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(tail) = &tail {
                if let Ok(mut t) = tail.lock() {
                    if t.len() == TAIL {
                        t.pop_front();
                    }
                    t.push_back(line.clone());
                }
            }
            // The receiver may be gone (the parent stopped listening): keep draining
            // so the child never blocks on a full pipe.
            let _ = tx.send(wrap(line));
        }
    });
}
