//! The suite's sections on the measuring tools, run for real with short steps: a
//! client other than loadgen (tpc-client, built with loadgen) against echod, and
//! the memory echod keeps per idle connection. `--peers` points nowhere, so echod
//! is the reference server and nothing else is built.

use super::{free_port, index, loadgen, temp};
use crate::common::stderr;

/// tpc-client's figures and echod's idle memory land in the index and the report.
#[test]
fn outside_client_and_idle_memory() {
    let out = temp("tools");
    let port = free_port();
    let clients = "clients tpc-client → echod reuseport w=1 conns=10";
    let idle = "idle echod reuseport w=1 conns=10000";
    let o = loadgen(&[
        "suite",
        "--peers",
        "/nonexistent",
        "--no-ports",
        "--duration",
        "1s",
        "--warmup",
        "200ms",
        "--port",
        &port,
        "--out",
        out.to_str().expect("utf-8"),
        "--only",
        clients,
        "--only",
        idle,
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let idx = index(&out);
    let tpc = idx.steps.iter().find(|s| s.record.scenario == clients).expect("clients step");
    let f = tpc.record.client_figures.as_ref().expect("tpc-client's figures");
    assert_eq!(f.tool, "tpc-client");
    assert!(f.msgs_per_sec > 0.0 && f.rt_per_cpu_s.is_some(), "{f:?}");
    assert!(f.line.contains("ok=10"), "every connection ran: {}", f.line);
    let held = idx.steps.iter().find(|s| s.record.scenario == idle).expect("idle step");
    let i = held.record.idle.as_ref().expect("idle figures");
    assert_eq!(i.conns, 10_000);
    assert!(i.rss_after >= i.rss_before && i.rss_before > 0, "{i:?}");
    let report = std::fs::read_to_string(out.join("report.md")).expect("report");
    assert!(report.contains("## What loadgen costs"), "{report}");
    assert!(report.contains("| 10 | tpc-client |"), "{report}");
    assert!(report.contains("## Memory per idle connection"), "{report}");
    assert!(report.contains("| echod reuseport w=1 | 10.0k |"), "{report}");
    let _ = std::fs::remove_dir_all(out);
}
