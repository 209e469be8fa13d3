//! Memory per idle connection: the suite itself opens the connections (one
//! exchange each, so every one was accepted and served) and holds them while it
//! reads the server's resident memory, before and after. Ten warm-up connections
//! come first, so the server's start-up allocations are not counted. Kernel socket
//! buffers are not in a process's RSS: this is what the server's own code keeps per
//! connection (echod: a slot and no buffer; a task or a 4 KiB buffer elsewhere).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::Context as _;
use common::procfs;

use crate::suite_index::IdleFigures;

/// How long one connect or one echo may take before the measurement gives up.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens `conns` connections to `addr`, one 1-byte exchange each, and reads the
/// RSS of `server_pid`'s process tree before and while they are held.
pub fn measure(addr: SocketAddr, conns: u64, server_pid: u32) -> anyhow::Result<IdleFigures> {
    // Each held connection is a descriptor of this process.
    let _ = common::sys::raise_nofile_limit();
    let rss = || procfs::tree_sum(server_pid, procfs::rss_bytes);
    let warm = open(addr, 10)?;
    std::thread::sleep(Duration::from_millis(100));
    let before = rss();
    let held = open(addr, conns)?;
    std::thread::sleep(Duration::from_millis(200));
    let after = rss();
    drop((warm, held));
    let grew = after.saturating_sub(before) as f64;
    Ok(IdleFigures {
        conns,
        rss_before: before,
        rss_after: after,
        bytes_per_conn: grew / conns.max(1) as f64,
    })
}

/// `n` connections, each having echoed one byte.
fn open(addr: SocketAddr, n: u64) -> anyhow::Result<Vec<TcpStream>> {
    let mut streams = Vec::with_capacity(n as usize);
    for i in 0..n {
        let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .with_context(|| format!("idle connection {} of {n}: connect {addr}", i + 1))?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        streams.push(s);
    }
    for s in &mut streams {
        s.write_all(b"x").context("idle connection: send")?;
    }
    let mut byte = [0u8; 1];
    for s in &mut streams {
        s.read_exact(&mut byte).context("idle connection: no echo within 10 s")?;
    }
    Ok(streams)
}
