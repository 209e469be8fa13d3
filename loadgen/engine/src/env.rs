//! The machine fingerprint every result carries: kernel, CPU, memory, and the
//! settings that bound connection counts (port range, descriptor limits, accept
//! queue, TIME_WAIT reuse), plus the project's git revision. Read from /proc and
//! `git`; a value that cannot be read is recorded as `unknown`, never guessed.

use std::path::Path;
use std::process::Command;

use crate::result::Environment;

/// Reads a sysctl by its dotted name (`net.ipv4.ip_local_port_range`) from
/// /proc/sys, with whitespace folded to single spaces.
pub fn sysctl(name: &str) -> Option<String> {
    let path = Path::new("/proc/sys").join(name.replace('.', "/"));
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// A sysctl parsed as a number.
pub fn sysctl_u64(name: &str) -> Option<u64> {
    sysctl(name)?.parse().ok()
}

/// net.ipv4.ip_local_port_range as (low, high), inclusive.
pub fn port_range() -> Option<(u16, u16)> {
    let text = sysctl("net.ipv4.ip_local_port_range")?;
    let mut it = text.split_whitespace().map(str::parse::<u16>);
    match (it.next(), it.next()) {
        (Some(Ok(lo)), Some(Ok(hi))) if lo <= hi => Some((lo, hi)),
        _ => None,
    }
}

/// Captures the fingerprint of this machine now.
pub fn capture() -> Environment {
    let unknown = || "unknown".to_string();
    let limit = common::sys::nofile_limit().ok();
    Environment {
        kernel: match (sysctl("kernel.ostype"), sysctl("kernel.osrelease")) {
            (Some(os), Some(rel)) => format!("{os} {rel}"),
            _ => unknown(),
        },
        hostname: sysctl("kernel.hostname").unwrap_or_else(unknown),
        cpu_model: cpu_model().unwrap_or_else(unknown),
        cores: online_cpus().unwrap_or(0),
        memory_total_bytes: memory_total().unwrap_or(0),
        ip_local_port_range: sysctl("net.ipv4.ip_local_port_range").unwrap_or_else(unknown),
        rlimit_nofile_soft: limit.map_or(0, |l| l.soft),
        rlimit_nofile_hard: limit.map_or(0, |l| l.hard),
        somaxconn: sysctl("net.core.somaxconn").unwrap_or_else(unknown),
        tcp_tw_reuse: sysctl("net.ipv4.tcp_tw_reuse").unwrap_or_else(unknown),
        git_revision: git_revision().unwrap_or_else(unknown),
    }
}

fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// CPUs the machine has online (not this thread's affinity mask, which a pinned
/// caller would narrow).
fn online_cpus() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    Some(text.lines().filter(|l| l.starts_with("processor")).count()).filter(|n| *n > 0)
}

fn memory_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `git rev-parse --short HEAD` of the checkout the current directory is in, with
/// `-dirty` when tracked files are modified.
fn git_revision() -> Option<String> {
    let out = Command::new("git").args(["rev-parse", "--short", "HEAD"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let rev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    Some(if dirty { format!("{rev}-dirty") } else { rev })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields that bound connection counts are read from this machine.
    #[test]
    fn captures_limits() {
        let env = capture();
        assert!(env.cores >= 1);
        assert!(env.rlimit_nofile_hard >= env.rlimit_nofile_soft);
        assert!(env.kernel.starts_with("Linux"));
        let (lo, hi) = port_range().expect("port range");
        assert_eq!(env.ip_local_port_range, format!("{lo} {hi}"));
        assert!(sysctl("no.such.sysctl").is_none());
    }
}
