//! Tests of `loadgen testbed`: echod and agents in network namespaces the command
//! makes itself (real sockets on a bridge, addresses from 198.18.0.0/15), bounded;
//! where this machine cannot make namespaces the run tests print `skipped: <why>`.
//! echod must be beside the loadgen under test (`cargo build --workspace`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common;

/// How long one small testbed run may take (it takes about 10 s).
const LIMIT: Duration = Duration::from_secs(120);

/// A fresh folder for one test's results.
fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loadgen-testbed-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Asserts echod sits beside the loadgen under test.
fn echod_is_built() {
    let echod = Path::new(env!("CARGO_BIN_EXE_loadgen")).with_file_name("echod");
    assert!(echod.exists(), "{} is missing: run `cargo build --workspace`", echod.display());
}

/// Runs `loadgen testbed` with `args` into `out`.
fn testbed(args: &[&str], out: &Path) -> std::process::Output {
    let out = out.to_str().expect("a UTF-8 temp folder");
    let mut all = vec!["testbed"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", out]);
    common::loadgen(&all, LIMIT)
}

/// Bad input exits 2 with one line naming the flag, before anything is built.
#[test]
fn bad_input_is_one_line_exit_2() {
    let out = out_dir("bad");
    for (args, flag) in [
        (&["--agents", "0"][..], "--agents"),
        (&["--agents", "51"][..], "--agents"),
        (&["--agents", "3", "--conns", "2"][..], "--conns"),
        (&["--size", "8"][..], "--size"),
    ] {
        let o = testbed(args, &out);
        let err = common::stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
    }
    assert!(!out.exists(), "nothing is made on bad input");
}

/// `--inner` refuses to build anything outside a fresh private namespace.
#[test]
fn inner_refuses_the_host_namespace() {
    echod_is_built();
    let out = out_dir("inner");
    let o = testbed(&["--inner", "--host-netns", "net:[1]"], &out);
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    assert!(common::stderr(&o).contains("private network namespace"));
}
