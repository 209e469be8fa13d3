//! `tpc-client`: a benchmark helper, not part of loadgen. The thread-per-connection
//! design of rust_echo_bench: one blocking thread per connection writes a message,
//! reads the whole echo, repeats. It prints one `key=value` line with its round
//! trips and CPU time over the measured window (from /proc/self/stat), for the
//! suite's clients section to set against loadgen's figure.
//!
//! usage: tpc-client ADDR CONNS SIZE WARMUP_S DURATION_S
//!
//! Exit codes are the project's ([`common::cli`]): 0 it ran; 2 bad arguments, one
//! line naming the argument (`tpc-client: CONNS: invalid digit ...`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// User + system CPU seconds of this process (0 where /proc cannot be read).
fn cpu_s() -> f64 {
    common::procfs::self_cpu_seconds().unwrap_or(0.0)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::from(common::cli::EXIT_OK),
        Err(e) => common::cli::report_error("tpc-client", &e),
    }
}

fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 5 {
        bail!("usage: tpc-client ADDR CONNS SIZE WARMUP_S DURATION_S");
    }
    let addr = args[0].clone();
    let conns: usize = args[1].parse().context("CONNS")?;
    let size: usize = args[2].parse().context("SIZE")?;
    let warmup: f64 = args[3].parse().context("WARMUP_S")?;
    let duration: f64 = args[4].parse().context("DURATION_S")?;
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::with_capacity(conns);
    let mut failed = 0;
    for _ in 0..conns {
        let (addr, stop, count) = (addr.clone(), stop.clone(), count.clone());
        let spawned = std::thread::Builder::new().stack_size(64 << 10).spawn(move || {
            let Ok(mut s) = TcpStream::connect(&addr) else { return false };
            let _ = s.set_nodelay(true);
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let msg = vec![b'x'; size];
            let mut buf = vec![0u8; size];
            while !stop.load(Ordering::Relaxed) {
                if s.write_all(&msg).is_err() || s.read_exact(&mut buf).is_err() {
                    return false;
                }
                count.fetch_add(1, Ordering::Relaxed);
            }
            true
        });
        match spawned {
            Ok(h) => handles.push(h),
            Err(_) => failed += 1,
        }
    }
    std::thread::sleep(Duration::from_secs_f64(warmup));
    let (c0, n0, t0) = (cpu_s(), count.load(Ordering::Relaxed), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(duration));
    let (c1, n1, window) = (cpu_s(), count.load(Ordering::Relaxed), t0.elapsed().as_secs_f64());
    stop.store(true, Ordering::Relaxed);
    let ok = handles.into_iter().filter_map(|h| h.join().ok()).filter(|ok| *ok).count();
    let (rts, cpu) = (n1 - n0, c1 - c0);
    common::cli::print(&format!(
        "conns={conns} ok={ok} spawn_failed={failed} rts={rts} rps={:.0} cpu_s={cpu:.2} rt_per_cpu_s={:.0}\n",
        rts as f64 / window,
        if cpu > 0.0 { rts as f64 / cpu } else { 0.0 }
    ));
    Ok(())
}
