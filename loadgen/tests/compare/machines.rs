//! Comparing across machines and builds: a host-bound scenario does not gate when
//! the sides come from different machines (and does on one machine); `--relative-to`
//! divides echod by a peer of the same run, so a faster host cancels out and a
//! slower echod does not; a `suite --base` folder reads as its new build.

use engine::result::RunResult;
use harness::compare::{compare_paths, Comparison, Options, Thresholds, Verdict};

use super::fixtures::{repeat_speed, result, scaled, TempDir};

const ONE_CONN: &str = "scaling echod reuseport w=1 conns=1";

fn on_host(mut r: RunResult, host: &str, kernel: &str) -> RunResult {
    r.environment.hostname = host.into();
    r.environment.kernel = kernel.into();
    r
}

fn host_bound(mut r: RunResult) -> RunResult {
    r.host_bound = Some("one connection across cores".into());
    r
}

fn throughput(c: &Comparison, scenario: &str) -> (Verdict, bool, Option<f64>) {
    let s = c.scenarios.iter().find(|s| s.scenario == scenario).expect("scenario");
    let row = s.rows.iter().find(|r| r.metric == "throughput").expect("row");
    (row.verdict, row.gating, row.ratio)
}

/// Writes 6 repeats of `base` and `new` as pairs (`base/repK/r.json`, `new/repK/r.json`).
fn write_reps(dir: &TempDir, base: &RunResult, new: &RunResult) {
    for k in 1..=6 {
        let (speed, noise) = repeat_speed(k);
        dir.write(&format!("base/rep{k}/r.json"), &scaled(base, speed));
        dir.write(&format!("new/rep{k}/r.json"), &scaled(new, speed * noise));
    }
}

/// The first case: an unchanged build on a host whose cross-core wake-up is
/// slower (42.2k -> 14.1k msgs/s at one connection, kernel v769 -> v857) is shown as
/// regressed but does not gate, with the reason in a note; on one machine neither
/// (its exact figures gate instead).
#[test]
fn host_bound_scenario_is_informational_across_machines() {
    let dir = TempDir::new("host-bound");
    let base = host_bound(on_host(result(ONE_CONN, 42_200.0, 40.0), "a", "Linux 6.18.44-fc-v769"));
    let new = host_bound(on_host(result(ONE_CONN, 14_100.0, 90.0), "b", "Linux 6.18.44-fc-v857"));
    write_reps(&dir, &base, &new);
    let c = compare_paths(&dir.path().join("base"), &dir.path().join("new"), &Options::default())
        .expect("compare");
    let (verdict, gating, ratio) = throughput(&c, ONE_CONN);
    assert_eq!((verdict, gating), (Verdict::Regressed, false));
    assert!((ratio.expect("ratio") - 0.334).abs() < 0.005);
    assert!(c.passed, "a host-bound figure across machines must not fail the gate");
    let notes = &c.scenarios[0].notes;
    assert!(notes.iter().any(|n| n.contains("informational across machines")), "{notes:?}");

    // The same two figures from one machine: still shown as regressed, still not
    // gating (a wake-up path is bimodal from run to run: the A/A gate of 2026-12-07
    // read 0.91x [0.87, 0.96] on one connection), the reason in a note.
    let same = TempDir::new("host-bound-same");
    write_reps(&same, &on_host(base, "a", "k"), &on_host(new, "a", "k"));
    let c = compare_paths(&same.path().join("base"), &same.path().join("new"), &Options::default())
        .expect("compare");
    assert_eq!(throughput(&c, ONE_CONN).0, Verdict::Regressed);
    assert!(!throughput(&c, ONE_CONN).1, "one machine: shown, not gating");
    assert!(c.passed);
    let notes = &c.scenarios[0].notes;
    assert!(notes.iter().any(|n| n.contains("its exact figures gate instead")), "{notes:?}");
}

/// Writes one suite repeat: echod, tokio-echo and epoll_echo at 1000 connections.
fn peers_rep(dir: &TempDir, side: &str, rep: u32, echod: f64, tokio: f64, epoll: f64) {
    for (server, tput) in
        [("echod reuseport w=1", echod), ("tokio-echo t=1", tokio), ("epoll_echo t=1", epoll)]
    {
        let name = format!("peers {server} conns=1000");
        let slug = server.split(' ').next().expect("name");
        dir.write(&format!("{side}/rep{rep}/runs/{slug}.json"), &result(&name, tput, 1000.0));
    }
}

/// The second case: echod handicapped to 0.37x of its peers on a faster
/// host (102.8k against 289.2k and 278.9k) read as noise by raw figures against a
/// baseline from a slower host; by ratio to a peer of the same run it is 0.37x of
/// the baseline's ratio, far past any band. An unchanged echod on the faster host
/// stays near 1.00x though every raw figure doubled (within the 10% this case was
/// judged with: its peers' own ratios moved 4%).
#[test]
fn relative_to_a_peer_cancels_the_host_not_the_code() {
    let dir = TempDir::new("relative");
    // 8 repeats: two scenarios gate (÷ each peer), so a regression must hold at 97.5%.
    for rep in 1..=8 {
        let jitter = 1.0 + f64::from(rep) * 0.01;
        peers_rep(&dir, "base", rep, 138_700.0 * jitter, 135_100.0, 126_600.0);
        peers_rep(&dir, "fast", rep, 280_000.0 * jitter, 289_200.0 * 0.985, 278_900.0 * 0.92);
        peers_rep(&dir, "slow", rep, 102_800.0 * jitter, 289_200.0, 278_900.0);
    }
    let options = Options {
        relative_to: vec!["tokio-echo".into(), "epoll_echo".into()],
        thresholds: Thresholds { default: 0.10, ..Thresholds::default() },
        ..Default::default()
    };
    let path = |p: &str| dir.path().join(p);
    let fast = compare_paths(&path("base"), &path("fast"), &options).expect("compare");
    let names: Vec<&str> = fast.scenarios.iter().map(|s| s.scenario.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "peers echod reuseport w=1 conns=1000 ÷ epoll_echo",
            "peers echod reuseport w=1 conns=1000 ÷ tokio-echo"
        ]
    );
    for s in &fast.scenarios {
        let (verdict, _, ratio) = throughput(&fast, &s.scenario);
        assert_eq!(verdict, Verdict::Same, "{}: {ratio:?}", s.scenario);
    }
    assert!(fast.passed);
    let slow = compare_paths(&path("base"), &path("slow"), &options).expect("compare");
    let (verdict, _, ratio) =
        throughput(&slow, "peers echod reuseport w=1 conns=1000 ÷ tokio-echo");
    assert_eq!(verdict, Verdict::Regressed);
    assert!(
        (ratio.expect("ratio") - (102_800.0 / 289_200.0) / (138_700.0 / 135_100.0)).abs() < 0.01
    );

    // Nothing to divide by: an error naming the folder and the flag.
    let lone = TempDir::new("relative-lone");
    lone.write("base/r.json", &result("peers echod reuseport w=1 conns=10", 1.0, 1.0));
    lone.write("new/r.json", &result("peers echod reuseport w=1 conns=10", 1.0, 1.0));
    let err = compare_paths(&lone.path().join("base"), &lone.path().join("new"), &options)
        .expect_err("no peer runs");
    assert!(err.to_string().contains("--relative-to tokio-echo, epoll_echo"), "{err}");
}

/// A `suite --base` folder as one side is its new build (and what ran once), never
/// both builds mixed: compared with itself it passes with the new runs only; its
/// `base/` folder compares against its `new/` as two sides.
#[test]
fn a_two_build_suite_folder_reads_as_its_new_build() {
    let dir = TempDir::new("two-builds");
    dir.write_text("suite/suite.json", "{}");
    for rep in 1..=6 {
        dir.write(&format!("suite/base/rep{rep}/runs/a.json"), &result("s", 50_000.0, 100.0));
        dir.write(&format!("suite/new/rep{rep}/runs/a.json"), &result("s", 100_000.0, 100.0));
    }
    dir.write("suite/new/rep1/runs/peer.json", &result("peer", 70_000.0, 100.0));
    let suite = dir.path().join("suite");
    let c = compare_paths(&suite, &suite, &Options::default()).expect("compare");
    assert!(c.passed);
    let s = c.scenarios.iter().find(|s| s.scenario == "s").expect("s");
    assert_eq!((s.base_runs, s.new_runs), (6, 6), "the base build's runs are not mixed in");
    assert_eq!(throughput(&c, "s").2, Some(1.0));
    assert_eq!(throughput(&c, "s").0, Verdict::Same, "each run pairs with itself");
    let c = compare_paths(&suite.join("base"), &suite.join("new"), &Options::default())
        .expect("compare");
    assert_eq!(throughput(&c, "s").0, Verdict::Improved);
    assert_eq!(c.new_only, vec!["peer".to_string()]);
}
