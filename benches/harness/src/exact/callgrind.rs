//! Instructions per message: echod (`--workers 1`) under `valgrind --tool=callgrind`,
//! one process per build and round, asked for a dump (`callgrind_control --dump`,
//! which also zeroes the counters) after each loadgen run. The first run (a short
//! warm-up) and its dump take the start-up and valgrind's translation of the hot
//! code; then each workload runs twice, short and long, each followed by a dump,
//! and the figure is the difference: (Ir_long − Ir_short) / (msgs_long − msgs_short).
//! What a run costs once (its connects, accepts and closes, the messages still in
//! flight when it stops) is the same in both and cancels out.
//!
//! Invariant: dump N of a server is the file `<out>.N`; a dump is read only after
//! callgrind_control said it was written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use common::child::{Child, Out, Spec, Stop};

use super::workload::{self, Load, Workload};

/// The warm-up run before the first dump.
const WARMUP: Duration = Duration::from_millis(300);
/// The short and the long run of each workload.
pub const SHORT: Duration = Duration::from_millis(400);
pub const LONG: Duration = Duration::from_millis(1200);
/// How long echod may take to listen under valgrind, and callgrind to dump.
const READY: Duration = Duration::from_secs(60);
const DUMP: Duration = Duration::from_secs(20);

/// The instruction count (`Ir`) of a callgrind output file: its `totals:` line (or
/// `summary:`), at the column `events:` names `Ir`.
pub fn parse_ir(text: &str) -> Result<u64, String> {
    let field = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).map(str::trim);
    let events = field("events:").ok_or("callgrind output has no events: line")?;
    let column = events
        .split_whitespace()
        .position(|e| e == "Ir")
        .ok_or_else(|| format!("callgrind counted no Ir (events: {events})"))?;
    let totals =
        field("totals:").or_else(|| field("summary:")).ok_or("callgrind output has no totals")?;
    let value = totals.split_whitespace().nth(column).unwrap_or("");
    value.parse().map_err(|_| format!("callgrind's Ir total is not a count: '{value}'"))
}

/// Instructions per message between a short and a long run: each is (Ir, messages).
pub fn per_message(short: (u64, u64), long: (u64, u64)) -> Result<f64, String> {
    let (ir, msgs) = (long.0 as f64 - short.0 as f64, long.1 as f64 - short.1 as f64);
    if long.1 <= short.1 {
        return Err(format!(
            "the long run echoed {} messages, the short one {}: no difference to divide",
            long.1, short.1
        ));
    }
    let figure = ir / msgs;
    if !figure.is_finite() || figure <= 0.0 {
        return Err(format!("{ir} instructions over {msgs} messages is no figure"));
    }
    Ok(figure)
}

/// An echod running under callgrind.
pub struct Server {
    child: Child,
    /// `--callgrind-out-file`; dump N is `<out>.N`.
    out: PathBuf,
    dumps: u32,
    control: PathBuf,
    /// 127.0.0.1:PORT it answers on.
    pub target: String,
}

impl Server {
    /// Starts `echod` under `valgrind` (its files in `dir`), waits until it listens.
    pub fn start(
        valgrind: &Path,
        control: &Path,
        echod: &Path,
        dir: &Path,
    ) -> anyhow::Result<Server> {
        let out = dir.join("callgrind.out");
        let spec = Spec::new(valgrind)
            .name("echod under callgrind")
            .args([
                "--tool=callgrind".to_string(),
                format!("--callgrind-out-file={}", out.display()),
            ])
            .args([echod.as_os_str()])
            .args(["--bind=127.0.0.1", "--port=0", "--workers=1", "--no-pin"]);
        let mut child = Child::start(spec).context("cannot start valgrind")?;
        let line = child.wait_for_line("listening on", READY)?;
        let target = line.split_whitespace().nth(2).context("echod's address")?.to_string();
        Ok(Server { child, out, dumps: 0, control: control.to_path_buf(), target })
    }

    /// Asks callgrind for a dump and returns its Ir (since the previous dump).
    fn dump(&mut self) -> anyhow::Result<u64> {
        let spec = Spec::new(&self.control)
            .args(["--dump".to_string(), self.child.pid().to_string()])
            .stdout(Out::Null);
        let mut control = Child::start(spec).context("cannot start callgrind_control")?;
        let status = control.wait_bounded(DUMP, None)?.context("callgrind_control hung")?;
        if !status.success() {
            bail!("callgrind_control --dump failed ({status})");
        }
        self.dumps += 1;
        let file = PathBuf::from(format!("{}.{}", self.out.display(), self.dumps));
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("callgrind wrote no dump {}", file.display()))?;
        let _ = std::fs::remove_file(&file);
        parse_ir(&text).map_err(anyhow::Error::msg)
    }

    /// One loadgen run, then a dump: (Ir, messages).
    fn run(
        &mut self,
        loadgen: &Path,
        workload: Workload,
        duration: Duration,
    ) -> anyhow::Result<(u64, u64)> {
        let json = self.out.with_extension(format!("run{}.json", self.dumps + 1));
        let load = Load { loadgen, target: &self.target, workload, duration };
        let messages = workload::drive(load, &json)?;
        Ok((self.dump()?, messages))
    }

    /// The warm-up run and dump, then instructions per message for each workload.
    pub fn measure(&mut self, loadgen: &Path, workloads: &[Workload]) -> anyhow::Result<Vec<f64>> {
        let first = workloads.first().copied().unwrap_or(Workload { conns: 1, churn: false });
        self.run(loadgen, first, WARMUP)?;
        let mut figures = Vec::with_capacity(workloads.len());
        for &w in workloads {
            let short = self.run(loadgen, w, SHORT)?;
            let long = self.run(loadgen, w, LONG)?;
            figures.push(per_message(short, long).map_err(anyhow::Error::msg)?);
        }
        Ok(figures)
    }
}

impl Drop for Server {
    /// echod stopped (callgrind writes its last file as it exits), its files removed.
    fn drop(&mut self) {
        let _ = self.child.stop(Stop::Term, Duration::from_secs(10));
        let _ = std::fs::remove_file(&self.out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A callgrind file's totals line gives Ir at the column events: names.
    #[test]
    fn reads_ir_from_callgrind_output() {
        let text = "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\npid: 6303\n\
                    cmd:  echod --port 0\npart: 1\n\npositions: line\nevents: Ir\n\
                    summary: 2979870\n\nfn=(1) main\n0 12\n\ntotals: 2979870\n";
        assert_eq!(parse_ir(text), Ok(2_979_870));
        let two = "events: Dr Ir\nsummary: 5 700\n";
        assert_eq!(parse_ir(two), Ok(700));
        assert!(parse_ir("events: Ir\n").is_err());
        assert!(parse_ir("totals: 12\n").is_err());
        assert_eq!(
            parse_ir("events: Dr\ntotals: 1\n"),
            Err("callgrind counted no Ir (events: Dr)".into())
        );
    }

    /// The figure is the difference of two runs over the difference of their messages.
    #[test]
    fn per_message_is_a_difference() {
        assert_eq!(per_message((1_000_000, 1_000), (5_000_000, 5_000)), Ok(1_000.0));
        // What both runs cost once (here 200,000) cancels out.
        assert_eq!(per_message((1_200_000, 1_000), (5_200_000, 5_000)), Ok(1_000.0));
        assert!(per_message((1, 10), (2, 10)).is_err());
        assert!(per_message((5, 10), (2, 20)).is_err());
    }
}
