//! `loadgen suite --out DIR --force` never empties a folder a suite did not write.

use super::{loadgen, temp};
use crate::common::stderr;

/// The repro: a folder holding `new/` and the user's notes is not a
/// suite's (no marker): `--force` refuses in one line, exit 2, deleting nothing.
#[test]
fn force_leaves_a_folder_without_the_marker_alone() {
    let bench = temp("force-bench");
    std::fs::create_dir_all(bench.join("new")).expect("mkdir");
    std::fs::write(bench.join("notes.txt"), "mine\n").expect("write");
    let out = bench.display().to_string();
    let o = loadgen(&["suite", "--quick", "--out", &out, "--force"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--force") && err.contains(".loadgen-suite"), "{err}");
    assert_eq!(std::fs::read_to_string(bench.join("notes.txt")).expect("kept"), "mine\n");
    assert!(bench.join("new").is_dir(), "new/ kept");
    std::fs::remove_dir_all(&bench).expect("clean");
}
