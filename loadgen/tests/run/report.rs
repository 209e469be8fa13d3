//! The suite's report from real results: two runs measured against a test server,
//! indexed as a suite would, rendered to Markdown and SVG.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use engine::run::{run, Config};
use harness::suite_index::{RepStep, Section, ServerSample, StepRecord, SuiteIndex};

use super::servers::Server;

fn step(index: usize, conns: u64, file: &str, accepted: Vec<u64>) -> RepStep {
    RepStep {
        rep: 1,
        confirm: false,
        side: None,
        record: StepRecord {
            index,
            section: Section::Scaling,
            scenario: format!("scaling test conns={conns}"),
            server: "echod reuseport w=2".into(),
            server_cores: vec![1],
            client_cores: vec![0],
            client_threads: 1,
            conns,
            rate: None,
            result_file: Some(file.into()),
            exit_code: Some(0),
            server_rss_idle: 2 << 20,
            server_rss_peak: (2 << 20) + conns * 40,
            server_cpu_s: 0.1,
            server_fds_peak: conns + 10,
            server_series: Vec::new(),
            server_stop_s: 0.01,
            client_wall_s: 1.0,
            worker_accepted: accepted,
            client_figures: None,
            idle: None,
            syscalls: None,
            skipped: None,
            error: None,
            disturbed_attempts: Vec::new(),
        },
    }
}

/// Scaling rows, the percentile plot and the spread table come from real results;
/// a missing four-tuple experiment is said, not hidden.
#[test]
fn report_renders_from_real_results() {
    let server = Server::echo();
    let dir = std::env::temp_dir().join(format!("loadgen-report-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("runs")).unwrap();
    let mut steps = Vec::new();
    for (i, conns) in [1u64, 10].into_iter().enumerate() {
        let config = Config::local_test(server.addr, conns);
        let outcome = run(&config, Arc::new(AtomicBool::new(false))).expect("run");
        let file = format!("runs/{i}.json");
        engine::run::output::write_json(&dir.join(&file), &outcome.result).unwrap();
        steps.push(step(i, conns, &file, vec![conns / 2, conns - conns / 2]));
    }
    // The same 10-connection run read as a soak, with a server series that grows.
    let mut soak = step(2, 10, "runs/1.json", Vec::new());
    soak.record.section = Section::Soak;
    soak.record.scenario = "soak test conns=10".into();
    // Every 20 ms over the run's first second (its measured phase, 300 ms after the
    // connect phase and a 100 ms warm-up, lies inside), descriptors rising.
    soak.record.server_series = (0..50)
        .map(|i: u32| ServerSample {
            t_s: f64::from(i) * 0.02,
            rss: 1 << 20,
            fds: 10 + u64::from(i),
        })
        .collect();
    steps.push(soak);
    // The several-hosts step's folder, as `loadgen testbed` leaves it.
    std::fs::create_dir_all(dir.join("testbed")).unwrap();
    std::fs::copy(dir.join("runs/1.json"), dir.join("testbed/merged.json")).unwrap();
    let testbed_text = "testbed: 3 agents, run tb-1\nmerged: 30 of 30 connections\n";
    std::fs::write(dir.join("testbed/testbed.txt"), testbed_text).unwrap();
    let index = SuiteIndex {
        suite_format: "loadgen-suite/1".into(),
        profile: "quick".into(),
        command: vec!["loadgen".into(), "suite".into()],
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: "2026-01-01T00:01:00Z".into(),
        interrupted: false,
        environment: engine::env::capture(),
        steps,
        ports_file: None,
        ports_note: Some("not run (--no-ports)".into()),
        testbed_dir: Some("testbed".into()),
        testbed_note: None,
        c_peer: false,
        builds: None,
    };
    let path = harness::report::write(&dir, &index).expect("report");
    let md = std::fs::read_to_string(&path).unwrap();
    assert!(md.contains("## Connection scaling"), "{md}");
    assert!(md.lines().any(|l| l.starts_with("| 1 |")), "{md}");
    assert!(md.lines().any(|l| l.starts_with("| 10 |")), "{md}");
    assert!(md.contains("## How SO_REUSEPORT spread the connections"), "{md}");
    assert!(md.contains("Not run: not run (--no-ports)"), "{md}");
    assert!(md.contains("## Several hosts: agents in namespaces of their own"), "{md}");
    assert!(md.contains(testbed_text) && md.contains("(testbed/merged.json)"), "{md}");
    assert!(md.contains("## Soak: 10 connections, held"), "{md}");
    let fds = md.lines().find(|l| l.starts_with("| server descriptors |")).expect("fds row");
    assert!(fds.ends_with("% |") && fds.contains(" | +"), "the rise is drift: {fds}");
    assert!(md.contains("The server's figures are of its samples from"), "{md}");
    let svgs = ["scaling-throughput.svg", "scaling-latency.svg", "latency-percentiles.svg"];
    for svg in svgs.into_iter().chain(["soak-0-throughput.svg", "soak-0-server.svg"]) {
        let text = std::fs::read_to_string(dir.join(svg)).unwrap();
        assert!(text.contains("<polyline"), "{svg}");
    }
    tracking_files_have_their_documented_shape(&dir);
    html_renders_every_section_and_plot(&dir, &md);
    std::fs::remove_dir_all(&dir).ok();
}

/// report.html, rendered by headless Chromium (Debian's package; .ci/run installs
/// it), has every section of report.md as a heading and every plot as an inline
/// SVG, with no file beside it. Without Chromium: says so and checks the page as
/// written instead.
fn html_renders_every_section_and_plot(dir: &std::path::Path, md: &str) {
    let html_path = dir.join("report.html");
    let written = std::fs::read_to_string(&html_path).expect("report.html");
    let dom = match chromium_dom(&html_path) {
        Some(dom) => dom,
        None => {
            eprintln!("chromium is not installed (apt-get install chromium): checking report.html as written");
            written
        }
    };
    for heading in md.lines().filter_map(|l| l.strip_prefix("## ")) {
        let escaped = heading.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        assert!(dom.contains(&format!("<h2>{escaped}</h2>")), "section {heading:?} in the page");
    }
    let plots = md.matches(".svg)").count();
    assert!(plots >= 5, "{md}");
    // Embedded as images (report.html runs no script from the folder).
    assert_eq!(dom.matches("data:image/svg+xml;base64,").count(), plots, "every plot embedded");
    assert!(!dom.contains("not found)"), "no plot missing");
}

/// The DOM headless Chromium builds from `page` (bounded at 60 s), if it is here.
fn chromium_dom(page: &std::path::Path) -> Option<String> {
    let program = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|p| std::process::Command::new(p).arg("--version").output().is_ok())?;
    let profile = std::env::temp_dir().join(format!("chromium-profile-{}", std::process::id()));
    let spec = common::child::Spec::new(program)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .args([format!("--user-data-dir={}", profile.display()), "--dump-dom".into()])
        .args([format!("file://{}", page.display())]);
    let mut child = common::child::Child::start(spec).expect("start chromium");
    let status = child.wait_bounded(std::time::Duration::from_secs(60), None).expect("wait");
    let lines = child.remaining_lines(std::time::Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&profile);
    assert!(status.is_some_and(|s| s.success()), "chromium failed: {status:?}");
    let dom: Vec<&str> = lines
        .iter()
        .filter_map(|l| match l {
            common::child::Line::Out(t) => Some(t.as_str()),
            common::child::Line::Err(_) => None,
        })
        .collect();
    Some(dom.join("\n"))
}

/// bmf.json follows Bencher's BMF JSON schema (an object of benchmarks, each an
/// object of measures, each `{value, lower_value?, upper_value?}` numbers); the
/// github-action-benchmark files are arrays of `{name, unit, value, range?, extra?}`
/// with the right measures on each side.
fn tracking_files_have_their_documented_shape(dir: &std::path::Path) {
    use serde_json::Value;
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).expect(name)).expect(name)
    };
    let bmf = read("bmf.json");
    let benchmarks = bmf.as_object().expect("an object of benchmarks");
    assert!(benchmarks.contains_key("conns=1 size=64 pipeline=1 closed"), "{bmf}");
    for (name, measures) in benchmarks {
        let measures = measures.as_object().expect("an object of measures");
        for slug in ["throughput", "latency", "latency-p99", "latency-p999", "connect-rate"] {
            let m = measures.get(slug).and_then(Value::as_object).expect(slug);
            assert!(m["value"].is_number(), "{name} {slug}");
            let (lo, hi, v) =
                (m["lower_value"].as_f64(), m["upper_value"].as_f64(), m["value"].as_f64());
            assert!(lo <= v && v <= hi, "{name} {slug}: {m:?}");
            assert!(m
                .keys()
                .all(|k| ["value", "lower_value", "upper_value"].contains(&k.as_str())));
        }
    }
    for (file, measures) in [
        ("benchmark-bigger.json", ["throughput", "connect-rate"].as_slice()),
        ("benchmark-smaller.json", ["latency", "latency-p99", "latency-p999"].as_slice()),
    ] {
        let doc = read(file);
        let entries = doc.as_array().expect("an array");
        assert_eq!(entries.len(), benchmarks.len() * measures.len(), "{file}");
        for e in entries {
            assert!(
                e["name"].is_string() && e["unit"].is_string() && e["value"].is_number(),
                "{e}"
            );
            assert!(e["range"].is_string() && e["extra"].is_string(), "{e}");
            let name = e["name"].as_str().unwrap_or("");
            assert!(measures.iter().any(|m| name.ends_with(&format!(" / {m}"))), "{file}: {name}");
        }
    }
}
