//! Hostile inputs to `loadgen merge` and `loadgen compare` (results come from
//! other hosts): counts that would wrap, shard counts that would loop, files that
//! never end, histograms that inflate or declare gigabytes, a 100 MB JSON array.
//! Each is refused in one line with exit 2, run under an address-space cap of
//! 200 MiB (`prlimit --as`), so an allocation past it would abort the process
//! (exit 134) instead of passing. The hostile files are generated here, in a
//! temporary folder; nothing large is committed.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::common::{loadgen, stderr};
use crate::compare::fixtures::TempDir;

/// The address-space cap every hostile input runs under.
const CAP_BYTES: u64 = 200 << 20;
/// Long enough for a debug build on a busy machine; every run here ends in well under.
const LIMIT: Duration = Duration::from_secs(60);

/// Runs `loadgen args` under `prlimit --as=CAP_BYTES`.
fn capped(args: &[&str]) -> std::process::Output {
    let cap = format!("--as={CAP_BYTES}");
    let mut all = vec![cap.as_str(), "--", env!("CARGO_BIN_EXE_loadgen")];
    all.extend_from_slice(args);
    let child = common::child::Child::start(common::child::Spec::new("prlimit").args(&all));
    let mut child = child.expect("prlimit (util-linux) runs loadgen");
    let status = match child.wait_bounded(LIMIT, None).expect("wait") {
        Some(s) => s,
        None => child.kill().expect("kill"),
    };
    let lines = child.remaining_lines(Duration::from_secs(5));
    let stderr: Vec<String> = lines
        .into_iter()
        .filter_map(|l| match l {
            common::child::Line::Err(l) => Some(l),
            common::child::Line::Out(_) => None,
        })
        .collect();
    std::process::Output { status, stdout: Vec::new(), stderr: stderr.join("\n").into_bytes() }
}

/// Asserts exit 2 and one line of stderr holding every one of `words`.
fn refused(o: &std::process::Output, words: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "exit 2 (134 is an allocation past the cap): {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    for w in words {
        assert!(err.contains(w), "{w:?} in {err}");
    }
}

/// A real result (a run against a port nobody listens on), as JSON.
pub(crate) fn a_result(dir: &Path) -> Value {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("a");
    let file = dir.join("seed.json");
    let (t, f) = (dead.to_string(), file.display().to_string());
    let o = loadgen(&["--target", &t, "--conns", "1", "-q", "--json", &f], LIMIT);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json")
}

/// Writes `v` as `name` in `dir`; its path as text.
pub(crate) fn write(dir: &Path, name: &str, v: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string(v).expect("json")).expect("write");
    path.display().to_string()
}

/// A zlib stream that inflates to `header` followed by `zeros` zero bytes, built
/// from one compressed MiB of zeros repeated (deflate blocks ended by a sync
/// flush are self-contained), with the right Adler-32, so it is valid to the end.
fn zlib_of_zeros(header: &[u8], zeros: u64) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let raw = |data: &[u8], flush: FlushCompress| {
        let mut c = Compress::new(Compression::best(), false);
        let mut out = Vec::with_capacity(data.len() + 1024);
        c.compress_vec(data, &mut out, flush).expect("deflate");
        out
    };
    const MIB: u64 = 1 << 20;
    assert_eq!(zeros % MIB, 0);
    let mut out = vec![0x78, 0xda];
    out.extend(raw(header, FlushCompress::Sync));
    let chunk = raw(&vec![0u8; MIB as usize], FlushCompress::Sync);
    for _ in 0..zeros / MIB {
        out.extend_from_slice(&chunk);
    }
    out.extend(raw(&[], FlushCompress::Finish));
    // Adler-32: the zeros add nothing to `a`, and `a` to `b` once each.
    const M: u64 = 65_521;
    let (mut a, mut b) = (1u64, 0u64);
    for &byte in header {
        a = (a + u64::from(byte)) % M;
        b = (b + a) % M;
    }
    b = (b + a * (zeros % M)) % M;
    out.extend(((b << 16 | a) as u32).to_be_bytes());
    out
}

/// A histogram (base64 of V2+DEFLATE) whose V2 header declares `payload_len`
/// bytes and the run's bounds, followed by `zeros` zero bytes.
fn histogram_declaring(payload_len: u32, zeros: u64) -> String {
    let mut header = 0x1c84_9313u32.to_be_bytes().to_vec();
    header.extend(payload_len.to_be_bytes());
    header.extend(0u32.to_be_bytes());
    header.extend(3u32.to_be_bytes());
    header.extend(1u64.to_be_bytes());
    header.extend(60_000_000_000u64.to_be_bytes());
    header.extend(1f64.to_be_bytes());
    let z = zlib_of_zeros(&header, zeros);
    let mut bytes = 0x1c84_9314u32.to_be_bytes().to_vec();
    bytes.extend((z.len() as u32).to_be_bytes());
    bytes.extend(z);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Counts that would wrap (mismatch 2^64 - 1 and 1 merged to 0) are refused,
/// naming the field; so is a shard count that would make the missing-shard scan
/// run for ever (it returns at once).
#[test]
fn merge_refuses_counts_that_wrap_and_endless_shards() {
    let dir = TempDir::new("hostile-merge");
    let mut a = a_result(dir.path());
    let mut b = a.clone();
    a["errors"]["mismatch"] = Value::from(u64::MAX);
    b["errors"]["mismatch"] = Value::from(1u64);
    let (fa, fb) = (write(dir.path(), "a.json", &a), write(dir.path(), "b.json", &b));
    let out = dir.path().join("merged.json").display().to_string();
    refused(&capped(&["merge", &fa, &fb, "--out", &out]), &["errors.mismatch", "2^64"]);
    assert!(!Path::new(&out).exists(), "nothing written");
    let mut endless = a_result(dir.path());
    endless["config"]["shard"] =
        serde_json::json!({"index": 0, "count": u64::MAX, "conns": u64::MAX});
    let f = write(dir.path(), "endless.json", &endless);
    refused(&capped(&["merge", &f]), &["config.shard", "I < N <= 65536"]);
}

/// /dev/zero, a histogram that inflates to 1 GiB, a 13 kB result declaring a
/// 2^31-byte histogram, and a series longer than its run: each one line, exit 2,
/// under 200 MiB of address space.
#[test]
fn merge_reads_hostile_files_in_bounded_memory() {
    let dir = TempDir::new("hostile-files");
    let seed = a_result(dir.path());
    refused(&capped(&["merge", "/dev/zero"]), &["/dev/zero", "larger than 16 MiB"]);
    let mut bomb = seed.clone();
    bomb["histograms"]["latency"] = Value::from(histogram_declaring((1 << 30) - 40, 1 << 30));
    let f = write(dir.path(), "bomb.json", &bomb);
    assert!(std::fs::metadata(&f).expect("size").len() > 1_000_000, "the bomb is over 1 MB");
    refused(&capped(&["merge", &f]), &["histograms.latency", "bytes of base64"]);
    let mut claim = seed.clone();
    claim["histograms"]["latency"] = Value::from(histogram_declaring(1 << 31, 0));
    let f = write(dir.path(), "claim.json", &claim);
    assert!(std::fs::metadata(&f).expect("size").len() < 20_000, "a small file");
    refused(&capped(&["merge", &f]), &["histograms.latency", "2147483648-byte payload"]);
    let mut long = seed;
    let second = serde_json::json!({
        "t_s": 1.0, "conns_up": 1, "msgs": 1, "p50_us": 1.0, "p99_us": 1.0, "errors": 0,
        "latency": long["histograms"]["latency"].clone()
    });
    long["series"] = Value::Array(vec![second; 50_000]);
    let f = write(dir.path(), "long.json", &long);
    refused(&capped(&["merge", &f]), &["series", "50000 seconds"]);
}

/// `loadgen compare` of /dev/zero and of a 100 MB JSON array: one line, exit 2,
/// under 200 MiB of address space; a JSON array under the size bound is not a result.
#[test]
fn compare_reads_hostile_files_in_bounded_memory() {
    let dir = TempDir::new("hostile-compare");
    let good = crate::compare::fixtures::result("s", 1000.0, 50.0);
    let base = dir.write("base.json", &good).display().to_string();
    refused(&capped(&["compare", &base, "/dev/zero"]), &["/dev/zero", "larger than 16 MiB"]);
    let array: PathBuf = dir.path().join("array.json");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&array).expect("create"));
        f.write_all(b"[").expect("write");
        for _ in 0..(50 << 20) - 1 {
            f.write_all(b"0,").expect("write");
        }
        f.write_all(b"0]").expect("write");
        f.flush().expect("flush");
    }
    assert!(std::fs::metadata(&array).expect("size").len() >= 100 << 20);
    let a = array.display().to_string();
    refused(&capped(&["compare", &base, &a]), &["array.json", "larger than 16 MiB"]);
    std::fs::remove_file(&array).expect("remove");
    // Past the value limit, under the size bound: probed, not built, not a result.
    let mut text = String::from("[");
    text.push_str(&"0,".repeat(3 << 20));
    text.push_str("0]");
    let small = dir.write_text("small-array.json", &text).display().to_string();
    refused(&capped(&["compare", &base, &small]), &["small-array.json", "not a loadgen result"]);
}

/// A run id names files and folders: dots alone, a slash, a colon, a long one
/// are refused in one line (exit 2) before anything runs.
#[test]
fn run_ids_stay_one_name() {
    for bad in ["..", ".", "../x", "a/b", "a:b", &"x".repeat(65)] {
        let o = loadgen(&["--target", "127.0.0.1:9", "--run-id", bad], LIMIT);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("--run-id") && err.trim().lines().count() == 1, "{bad}: {err}");
    }
}

/// Agents whose measured phases began a second or more apart merge into the
/// union of their windows with a warning, each agent's start kept in the merged
/// result; windows that do not overlap are refused (one line, exit 2).
#[test]
fn merge_says_when_windows_differ() {
    let dir = TempDir::new("hostile-windows");
    let mut a = a_result(dir.path());
    let from = 1_796_000_000.0;
    a["clock"] = serde_json::json!({"began_unix_s": from, "measured_from_unix_s": from});
    let mut b = a.clone();
    b["clock"]["measured_from_unix_s"] = Value::from(from + 1.5);
    let (fa, fb) = (write(dir.path(), "a.json", &a), write(dir.path(), "b.json", &b));
    let out = dir.path().join("merged.json");
    let o = loadgen(&["merge", &fa, &fb, "--out", out.to_str().expect("utf-8")], LIMIT);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "the runs' own exit code: {err}");
    assert!(err.contains("warning: the agents' measured phases began 1.500 s apart"), "{err}");
    let merged: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("merged")).expect("json");
    let after: Vec<f64> = merged["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|x| x["measured_after_first_s"].as_f64().expect("recorded"))
        .collect();
    assert_eq!(after, vec![0.0, 1.5]);
    b["clock"]["measured_from_unix_s"] = Value::from(from + 3600.0);
    let fb = write(dir.path(), "b.json", &b);
    refused(&capped(&["merge", &fa, &fb]), &["clock.measured_from_unix_s", "overlap"]);
}
