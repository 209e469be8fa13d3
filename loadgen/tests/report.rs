//! The suite's report from someone else's folder: names and files from the data
//! never become markup in report.html, and the failure list reads plainly.

use harness::suite_index::{RepStep, Section, StepRecord, SuiteIndex};

use crate::compare::fixtures::{result, TempDir};

const SCRIPT: &str = "<script>alert(1)</script>";

fn step(scenario: &str, server: &str, file: &str, exit_code: Option<i32>) -> RepStep {
    RepStep {
        rep: 1,
        confirm: false,
        side: None,
        record: StepRecord {
            index: 0,
            section: Section::Scaling,
            scenario: scenario.into(),
            server: server.into(),
            server_cores: vec![1],
            client_cores: vec![0],
            client_threads: 1,
            conns: 1,
            rate: None,
            result_file: Some(file.into()),
            exit_code,
            server_rss_idle: 1 << 20,
            server_rss_peak: 2 << 20,
            server_cpu_s: 0.1,
            server_fds_peak: 11,
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
        },
    }
}

/// A scenario and a server named `<script>…`, a testbed text holding one, and an
/// SVG of the folder holding one: report.html holds no `<script` (the names are
/// text, the SVG an image); a failed step reads "exit 1", not "exit Some(1)".
#[test]
fn report_html_runs_no_script_from_the_data() {
    let dir = TempDir::new("report-hostile");
    let scenario = format!("scaling {SCRIPT} conns=1");
    dir.write("runs/0.json", &result(&scenario, 1000.0, 50.0));
    let svg = "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(2)</script></svg>";
    dir.write_text("testbed/testbed.txt", &format!("agents {SCRIPT}\n![x](x.svg)\n"));
    dir.write_text("x.svg", svg);
    let index = SuiteIndex {
        suite_format: "loadgen-suite/1".into(),
        profile: "quick".into(),
        command: vec!["loadgen".into(), SCRIPT.into()],
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: "2026-01-01T00:01:00Z".into(),
        interrupted: false,
        environment: Default::default(),
        steps: vec![step(&scenario, &format!("echod {SCRIPT}"), "runs/0.json", Some(1))],
        ports_file: None,
        ports_note: Some(SCRIPT.into()),
        testbed_dir: Some("testbed".into()),
        testbed_note: None,
        c_peer: false,
        builds: None,
    };
    let md_path = harness::report::write(dir.path(), &index).expect("report");
    let md = std::fs::read_to_string(md_path).expect("md");
    assert!(md.contains(SCRIPT), "the names are in the Markdown: {md}");
    assert!(md.contains(": exit 1") && !md.contains("Some(1)"), "{md}");
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("html");
    assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
    assert!(html.contains("data:image/svg+xml;base64,"), "pictures are images: {html}");
}

/// The models section over 6 repeats: each model's ratio to reuseport per server
/// CPU-second with its interval in the table, and the forest plot beside it
/// (`models-ratios.svg`: a labelled row per ratio), embedded in the report.
#[test]
fn models_ratios_are_drawn_with_their_intervals() {
    use crate::compare::fixtures::with_cost;
    let dir = TempDir::new("report-forest");
    let mut steps = Vec::new();
    for rep in 1..=6u32 {
        let jitter = 1.0 + 0.02 * f64::from(rep % 3);
        for (model, rt) in [("reuseport", 200_000.0), ("uring", 230_000.0)] {
            let scenario = format!("models echod {model} w=1 conns=1000");
            let file = format!("rep{rep}/runs/{model}.json");
            let r = result(&scenario, 150_000.0, 900.0);
            dir.write_text(&file, &with_cost(&r, Some(rt * jitter), false));
            let mut s = step(&scenario, &format!("echod {model} w=1"), &file, Some(0));
            s.rep = rep;
            s.record.section = Section::Models;
            s.record.conns = 1000;
            steps.push(s);
        }
    }
    let index = SuiteIndex {
        suite_format: "loadgen-suite/1".into(),
        profile: "quick".into(),
        command: vec!["loadgen".into()],
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: "2026-01-01T00:01:00Z".into(),
        interrupted: false,
        environment: Default::default(),
        steps,
        ports_file: None,
        ports_note: None,
        testbed_dir: None,
        testbed_note: None,
        c_peer: false,
        builds: None,
    };
    let md = std::fs::read_to_string(harness::report::write(dir.path(), &index).expect("report"))
        .expect("md");
    assert!(md.contains("1.15× [1.15, 1.15]"), "uring ÷ reuseport per server CPU-s: {md}");
    assert!(md.contains("](models-ratios.svg)"), "{md}");
    let svg = std::fs::read_to_string(dir.path().join("models-ratios.svg")).expect("svg");
    assert!(svg.contains("uring ÷ reuseport, 1000 conns"), "{svg}");
    assert!(!svg.contains("reuseport ÷ reuseport"), "the reference is not its own row");
}
