//! `echod --processes`: the whole server's `--max-conns` across its processes.

use std::io::{Read, Write};
use std::net::TcpStream;

use echod::server::ServerStats;

use crate::common::connect;
use crate::common::process::{spawn, temp_json, LOCAL};

/// Whether echod serves `c`: a byte comes back (a refused connection reads EOF, or a
/// reset if our byte raced the close).
fn served(c: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    (&*c).write_all(b"?").is_ok() && matches!((&*c).read(&mut byte), Ok(1))
}

/// `--max-conns` caps the whole server whatever the kernel's hashing: over three
/// processes, 10 of 30 connections are held (not 12) and 1 of 9 (not 3); the rest are
/// accepted, closed and counted.
#[test]
fn max_conns_caps_the_whole_server() {
    for (max, tries) in [(10usize, 30usize), (1, 9)] {
        let json = temp_json(&format!("max-conns-{max}"));
        let (max_s, path) = (max.to_string(), json.to_str().expect("utf-8").to_string());
        let mut args = LOCAL.to_vec();
        args.extend(["--workers", "3", "--processes", "3", "--max-conns", &max_s]);
        args.extend(["--stats-json", &path]);
        let mut echod = spawn(&args);
        let addr = echod.ready();
        let mut held = Vec::new();
        for _ in 0..tries {
            let c = connect(addr);
            if served(&c) {
                held.push(c);
            }
        }
        assert_eq!(held.len(), max, "--max-conns {max} over 3 processes");
        echod.signal("-TERM");
        assert!(echod.wait().success(), "{:?}", echod.stderr_lines());
        let stats: ServerStats =
            serde_json::from_slice(&std::fs::read(&json).expect("stats json")).expect("parse");
        let _ = std::fs::remove_file(&json);
        assert_eq!(stats.total().accepted, max as u64, "{stats:?}");
        assert_eq!(stats.total().rejected_max_conns, (tries - max) as u64, "{stats:?}");
    }
}
