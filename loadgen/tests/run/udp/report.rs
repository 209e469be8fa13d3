//! The report's UDP section, the system-call column and skipped steps, from real
//! runs: UDP flows against this module's servers (one of them dropping every tenth
//! datagram) and a TCP run against the TCP test server, indexed as a suite would.

use std::path::Path;

use engine::run::{output::write_json, Config};
use harness::suite_index::{RepStep, Section, StepRecord, SuiteIndex, SyscallSample};

use super::super::go;
use super::super::servers::Server;
use super::servers::{Behaviour, UdpServer};

/// A step record for `file`: `section`, `server`, `conns`, open loop at `rate`.
fn record(
    index: usize,
    section: Section,
    server: &str,
    conns: u64,
    rate: Option<f64>,
) -> StepRecord {
    let tag = match (section, rate) {
        (Section::Udp, Some(r)) => format!("udp-open-{r:.0}"),
        (Section::Udp, None) => "udp".into(),
        (Section::Models, _) => "models".into(),
        _ => "scaling".into(),
    };
    StepRecord {
        index,
        section,
        scenario: harness::scenario::format(&tag, server, conns),
        server: server.into(),
        server_cores: vec![1],
        client_cores: vec![0],
        client_threads: 1,
        conns,
        rate,
        result_file: Some(format!("runs/{index}.json")),
        exit_code: Some(0),
        server_rss_idle: 1 << 20,
        server_rss_peak: 1 << 20,
        server_cpu_s: 0.2,
        server_fds_peak: 10,
        server_series: Vec::new(),
        server_stop_s: 0.01,
        client_wall_s: 1.0,
        worker_accepted: Vec::new(),
        client_figures: None,
        idle: None,
        syscalls: None,
        skipped: None,
        error: None,
        disturbed_attempts: Vec::new(),
    }
}

/// Runs `config` and writes its result as step `index`'s file under `dir`.
/// Every run's server is given 0.2 CPU-seconds over the window (as its record
/// says), so a ratio per server CPU-second is the ratio of the rates; no run counts
/// as disturbed.
fn measure(dir: &Path, index: usize, config: &Config) {
    let mut out = go(config);
    let rts = out.result.throughput.msgs_per_sec * out.result.throughput.duration_s;
    out.result.server = Some(engine::result::ServerCost {
        pids: vec![1],
        cpu_s: 0.2,
        user_s: 0.0,
        system_s: 0.2,
        context_switches: 0,
        rt_per_cpu_s: Some(rts / 0.2),
        cpu_us_per_rt: Some(0.2e6 / rts),
        context_switches_per_rt: None,
    });
    // Other tests run beside this one: whether they disturbed it is not the point.
    out.result.machine = None;
    write_json(&dir.join(format!("runs/{index}.json")), &out.result).expect("write");
}

/// Closed-loop UDP rows beside echod TCP with ratios per server CPU-second, the
/// loss-against-rate table and plot (a server dropping every tenth datagram reads
/// as about 10%), the system-call column with its note, and a skipped step shown
/// as skipped, not as a failure.
#[test]
fn udp_section_and_syscalls_render() {
    let dir = std::env::temp_dir().join(format!("loadgen-udp-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("runs")).expect("mkdir");
    let index = suite_index(measure_steps(&dir));
    let md = std::fs::read_to_string(harness::report::write(&dir, &index).expect("report"))
        .expect("read");
    assert_udp_beside_tcp(&md);
    assert_loss_against_rate(&md, &dir);
    assert_syscalls_and_skipped(&md);
    std::fs::remove_dir_all(&dir).ok();
}

/// The test's steps, measured for real under `dir`: closed-loop UDP ("echod" and
/// the "C" server, both played by the test server) and echod TCP; open loop at two
/// rates against a clean and a lossy server; a models row with a counted
/// system-call sample, and one skipped on this "machine".
fn measure_steps(dir: &Path) -> Vec<StepRecord> {
    let (echo, lossy) = (
        UdpServer::echo(),
        UdpServer::start(Behaviour { drop_every: Some(10), ..Default::default() }),
    );
    let tcp = Server::echo();
    let mut records = Vec::new();
    for (i, server) in ["echod reuseport w=1 udp", "udp_echo t=1 b=32"].into_iter().enumerate() {
        measure(dir, i, &Config::local_udp_test(echo.addr, 10));
        records.push(record(i, Section::Udp, server, 10, None));
    }
    measure(dir, 2, &Config::local_test(tcp.addr, 10));
    records.push(record(2, Section::Scaling, "echod reuseport w=1", 10, None));
    let mut index = 3;
    for (server, addr) in
        [("echod reuseport w=1 udp", echo.addr), ("udp_echo t=1 b=32", lossy.addr)]
    {
        for rate in [500.0, 1_000.0] {
            let mut c = Config::local_udp_test(addr, 10);
            c.rate = Some(rate);
            c.udp_timeout = Some(std::time::Duration::from_millis(100));
            measure(dir, index, &c);
            records.push(record(index, Section::Udp, server, 10, Some(rate)));
            index += 1;
        }
    }
    measure(dir, index, &Config::local_test(tcp.addr, 10));
    let mut counted = record(index, Section::Models, "echod reuseport w=1", 10, None);
    counted.syscalls =
        Some(SyscallSample { syscalls: 2_200, messages: 1_000, seconds: 2.0, missing: None });
    records.push(counted);
    let mut skipped = record(index + 1, Section::Models, "echod uring w=1", 10, None);
    (skipped.result_file, skipped.exit_code) = (None, None);
    skipped.skipped = Some("io_uring cannot be used here: kernel.io_uring_disabled is 2".into());
    records.push(skipped);
    records
}

/// A suite's index of `records`, as the suite writes it.
fn suite_index(records: Vec<StepRecord>) -> SuiteIndex {
    SuiteIndex {
        suite_format: "loadgen-suite/1".into(),
        profile: "default".into(),
        command: vec!["loadgen".into(), "suite".into()],
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: "2026-01-01T00:01:00Z".into(),
        interrupted: false,
        environment: engine::env::capture(),
        steps: records
            .into_iter()
            .map(|record| RepStep { rep: 1, confirm: false, side: None, record })
            .collect(),
        ports_file: None,
        ports_note: Some("not run (--no-ports)".into()),
        testbed_dir: None,
        testbed_note: None,
        c_peer: false,
        builds: None,
    }
}

/// The Markdown row of `md` that starts with `start`.
fn row<'a>(md: &'a str, start: &str) -> &'a str {
    md.lines().find(|l| l.starts_with(start)).unwrap_or_else(|| panic!("no row {start}: {md}"))
}

/// A Markdown row's cells, trimmed.
fn cells(line: &str) -> Vec<String> {
    line.split('|').map(|c| c.trim().to_string()).collect()
}

/// The UDP section: same server CPU for every run here, so the ratio per
/// CPU-second is the rate ratio; TCP is the 1.00 row.
fn assert_udp_beside_tcp(md: &str) {
    assert!(md.contains("## UDP beside TCP"), "{md}");
    // One repeat: one pair a ratio, the estimate without an interval.
    let udp = cells(row(md, "| 10 | echod reuseport w=1 udp |"));
    assert!(udp[5].ends_with("× (1 pair: no interval)"), "{udp:?}");
    assert!(udp[6].ends_with("× (1 pair: no interval)"), "{udp:?}");
    assert_eq!(udp[9], "0 (0.00%)", "{udp:?}");
    let tcp_row = cells(row(md, "| 10 | echod reuseport w=1 (TCP) |"));
    let one = "1.00× (1 pair: no interval)";
    assert_eq!((tcp_row[6].as_str(), tcp_row[9].as_str()), (one, "-"), "{tcp_row:?}");
}

/// The lossy server's open-loop rows read near 10% lost, the clean one's none, and
/// the plot draws both.
fn assert_loss_against_rate(md: &str, dir: &Path) {
    assert!(md.contains("### Loss against offered rate (10 flows, open loop)"), "{md}");
    for line in md.lines().filter(|l| l.starts_with("| udp_echo t=1 b=32 | ")) {
        let loss: f64 = cells(line)[5].trim_end_matches('%').parse().expect("loss %");
        assert!((5.0..=15.0).contains(&loss), "{line}");
    }
    for line in md.lines().filter(|l| l.starts_with("| echod reuseport w=1 udp | ")) {
        assert_eq!(cells(line)[5], "0.00%", "{line}");
    }
    let svg = std::fs::read_to_string(dir.join("udp-loss.svg")).expect("udp-loss.svg");
    assert!(svg.contains("<polyline"), "a line in the plot");
    assert!(svg.contains("echod reuseport w=1 udp") && svg.contains("udp_echo t=1 b=32"), "legend");
}

/// The system-call column and what it means; the skipped step, not a failure.
fn assert_syscalls_and_skipped(md: &str) {
    let models = cells(row(md, "| 10 | reuseport |"));
    assert_eq!(models.last().map(String::as_str), Some(""), "{models:?}");
    assert_eq!(models[models.len() - 2], "2.20", "{models:?}");
    assert!(md.contains("`perf stat -e raw_syscalls:sys_enter`"), "{md}");
    assert!(
        md.contains("- `models echod uring w=1 conns=10`: skipped — io_uring cannot be used here"),
        "{md}"
    );
    assert!(!md.contains("did not finish cleanly"), "{md}");
}
