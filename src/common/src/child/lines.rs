//! A child's output, read line by line on one thread per stream, so the child never
//! blocks on a full pipe and every read the parent makes is bounded (a channel with
//! timeouts). The last [`TAIL`] lines of stderr are kept for error messages.
//!
//! What a child can make the parent hold is bounded too: a stream is read as
//! bytes (text that is not UTF-8 is decoded lossily, never the end of reading,
//! so the child never dies of a broken pipe for printing it); a line keeps at
//! most [`MAX_LINE`] bytes (the rest is counted and said); and lines not yet
//! taken by the parent hold at most [`MAX_UNREAD`] bytes: past that a line is
//! dropped (the stream is still drained), and the next line kept is preceded by
//! one saying how many were dropped.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader};
use std::process::{ChildStderr, ChildStdout};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Lines of stderr kept for error messages.
const TAIL: usize = 20;
/// The most bytes of one line kept (a split run's child sends a second's
/// histogram in one line: a few kB, at most a few hundred).
pub const MAX_LINE: usize = 1 << 20;
/// The most bytes of lines read but not yet taken by the parent, per child.
pub const MAX_UNREAD: usize = 16 << 20;
/// What a line costs beyond its text (its `String` and the channel's node).
const LINE_OVERHEAD: usize = 64;

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

/// The lines of a child's streams, in arrival order, with the count of bytes
/// read but not yet taken ([`Lines::taken`] says when one is).
#[derive(Debug)]
pub(super) struct Lines {
    rx: Receiver<Line>,
    unread: Arc<AtomicUsize>,
}

impl Lines {
    /// The next line, waiting at most `wait`.
    pub(super) fn recv_timeout(&self, wait: Duration) -> Result<Line, RecvTimeoutError> {
        self.rx.recv_timeout(wait)
    }

    /// `line` left the child's keeping (handed to the caller): its bytes no longer
    /// count against [`MAX_UNREAD`].
    pub(super) fn taken(&self, line: &Line) {
        let size = line.text().len() + LINE_OVERHEAD;
        let _ = self
            .unread
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(size)));
    }
}

/// Starts reading the streams that are pipes, into one channel in arrival order;
/// `None` when neither is (nothing to read). Stderr's last lines go to `tail` too.
pub(super) fn read(
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    tail: &Tail,
) -> Option<Lines> {
    if stdout.is_none() && stderr.is_none() {
        return None;
    }
    let (tx, rx) = mpsc::channel();
    let unread = Arc::new(AtomicUsize::new(0));
    if let Some(out) = stdout {
        read_lines(out, tx.clone(), None, Line::Out, unread.clone());
    }
    if let Some(err) = stderr {
        read_lines(err, tx, Some(tail.clone()), Line::Err, unread.clone());
    }
    Some(Lines { rx, unread })
}

/// Reads `stream` line by line on its own thread into `tx` (as `wrap`), keeping
/// the last [`TAIL`] lines in `tail` when given; ends with the stream (or a read
/// error other than EINTR).
fn read_lines(
    stream: impl io::Read + Send + 'static,
    tx: Sender<Line>,
    tail: Option<Tail>,
    wrap: fn(String) -> Line,
    unread: Arc<AtomicUsize>,
) {
    std::thread::spawn(move || {
        let mut reader = BufReader::with_capacity(64 << 10, stream);
        let mut dropped: u64 = 0;
        while let Ok(Some((bytes, cut))) = read_line_capped(&mut reader, MAX_LINE) {
            let mut line = String::from_utf8_lossy(&bytes).into_owned();
            if cut > 0 {
                line.push_str(&format!(" [{cut} more bytes of this line not kept]"));
            }
            if let Some(tail) = &tail {
                if let Ok(mut t) = tail.lock() {
                    if t.len() == TAIL {
                        t.pop_front();
                    }
                    t.push_back(line.clone());
                }
            }
            let size = line.len() + LINE_OVERHEAD;
            if unread.load(Ordering::Relaxed) + size > MAX_UNREAD {
                dropped += 1;
                continue;
            }
            if dropped > 0 {
                let note =
                    format!("[{dropped} lines dropped: more than {MAX_UNREAD} bytes unread]");
                unread.fetch_add(note.len() + LINE_OVERHEAD, Ordering::Relaxed);
                let _ = tx.send(wrap(note));
                dropped = 0;
            }
            unread.fetch_add(size, Ordering::Relaxed);
            // The receiver may be gone (the parent stopped listening): keep draining
            // so the child never blocks on a full pipe.
            let _ = tx.send(wrap(line));
        }
    });
}

/// The next line of `r` without its end (`\n` or `\r\n`), at most `max` bytes of
/// it kept, and how many bytes were not; `None` at the end of the stream.
fn read_line_capped(r: &mut impl BufRead, max: usize) -> io::Result<Option<(Vec<u8>, u64)>> {
    let (mut line, mut cut, mut any) = (Vec::new(), 0u64, false);
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(any.then_some((line, cut)));
        }
        any = true;
        let end = buf.iter().position(|&b| b == b'\n');
        let chunk = &buf[..end.unwrap_or(buf.len())];
        let keep = chunk.len().min(max.saturating_sub(line.len()));
        line.extend_from_slice(&chunk[..keep]);
        cut += (chunk.len() - keep) as u64;
        let used = end.map_or(buf.len(), |i| i + 1);
        r.consume(used);
        if end.is_some() {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Some((line, cut)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes that are not UTF-8 are decoded lossily and reading goes on; a long
    /// line keeps MAX_LINE bytes and says how many it lost; `\r\n` ends a line.
    #[test]
    fn lines_are_bytes_decoded_and_capped() {
        let mut text = b"a\xffb\r\nnext\n".to_vec();
        text.extend(vec![b'x'; 10]);
        text.extend(b"\nlast");
        let mut r = io::Cursor::new(text);
        let line = |r: &mut io::Cursor<Vec<u8>>| read_line_capped(r, 4).expect("read");
        assert_eq!(line(&mut r), Some((b"a\xffb".to_vec(), 0)));
        assert_eq!(line(&mut r), Some((b"next".to_vec(), 0)));
        assert_eq!(line(&mut r), Some((b"xxxx".to_vec(), 6)));
        assert_eq!(line(&mut r), Some((b"last".to_vec(), 0)));
        assert_eq!(line(&mut r), None);
    }
}
