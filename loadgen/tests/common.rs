//! Helpers the test modules share: running the `loadgen` binary with a deadline.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs the `loadgen` binary with `args` and collects its output; kills it if it
/// outlives `limit` (every run under test stops by itself well before).
pub fn loadgen(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn loadgen");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// A process's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
