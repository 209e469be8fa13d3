//! What this kernel's io_uring offers `--model uring`, found once per process by
//! trying each thing on a scratch ring at start-up, and the line that says which
//! are in use. Each has a fallback except the floor (io_uring itself, its network
//! opcodes, provided buffer rings: Linux 5.19); below the floor, or where io_uring
//! is refused (`kernel.io_uring_disabled`, a seccomp filter), [`probe`] says why in
//! one line and echod exits 2.
//!
//! - Setup: SINGLE_ISSUER + DEFER_TASKRUN (6.1: completions' task work runs only
//!   when the worker waits, in its own thread), else COOP_TASKRUN (5.19), else none.
//! - Receive: multishot with a byte limit (6.17: the kernel ends it after `--buffer`
//!   bytes, so a peer that does not read cannot make echod hold more), else one
//!   receive per request (a multishot receive without the limit could not keep that
//!   bound, so it is not used).
//! - Accept: multishot (5.19), else one per request (switched at the first refusal).
//! - Registered descriptors: the ring's own (5.18: no descriptor lookup per
//!   `io_uring_enter`) and the listener's (fixed file 0), each where registering
//!   works.
//!
//! To measure what each one changes, `ECHOD_URING_WITHOUT` (`setup::WITHOUT`) leaves features out by name
//! (benchmarks only; the start-up line shows what is in use).

use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::OnceLock;
use std::time::Duration;

use io_uring::{opcode, IoUring, Probe};

use super::ring::{Op, Ring, Sizes};
use super::setup::{Features, Setup, WITHOUT};

/// The probe's result, once per process.
static PROBED: OnceLock<Result<Features, String>> = OnceLock::new();

/// What io_uring offers here, or why it cannot be used (one line). Probed once per
/// process on a scratch ring.
pub fn probe() -> Result<Features, String> {
    PROBED.get_or_init(probe_now).clone()
}

fn probe_now() -> Result<Features, String> {
    let (setup, ring) = build_any()?;
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe).map_err(|e| {
        format!("this kernel cannot list its io_uring operations ({e}): Linux 5.19+ is needed")
    })?;
    let needed = [
        (opcode::AcceptMulti::CODE, "ACCEPT"),
        (opcode::RecvMulti::CODE, "RECV"),
        (opcode::Send::CODE, "SEND"),
        (opcode::PollAdd::CODE, "POLL_ADD"),
        (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
    ];
    if let Some((_, name)) = needed.iter().find(|(code, _)| !probe.is_supported(*code)) {
        return Err(format!(
            "this kernel's io_uring has no IORING_OP_{name}: Linux 5.19+ is needed"
        ));
    }
    drop(ring);
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("the io_uring probe could not open a socket: {e}"))?;
    let features = Features { setup, recv_limit: false, ring_fd: true, fixed_listener: true };
    let sizes = Sizes { sq: 8, cq: 16, buffers: 2, buffer_size: 16 };
    let mut scratch = Ring::new(&features, sizes, listener.as_raw_fd()).map_err(|e| {
        format!("this kernel's io_uring has no provided buffer rings ({e}): Linux 5.19+ is needed")
    })?;
    let mut live = scratch.start(true).map_err(|e| format!("starting an io_uring: {e}"))?;
    let ring_fd = live.registered_fd();
    let recv_limit = recv_limit_works(&mut live);
    if !live.finish(Duration::from_secs(1)) {
        return Err("the io_uring probe's requests did not end within 1 s".into());
    }
    drop(scratch);
    let found = Features { setup, recv_limit, ring_fd, fixed_listener: true };
    found.without(&std::env::var(WITHOUT).unwrap_or_default())
}

/// Builds a ring with the best setup this kernel takes.
fn build_any() -> Result<(Setup, IoUring), String> {
    let mut first_error = None;
    for setup in Setup::ALL {
        match setup.builder(false).build(8) {
            Ok(ring) => return Ok((setup, ring)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let e = first_error.unwrap_or_else(|| std::io::Error::other("no attempt"));
    Err(refusal(&e))
}

/// Why `io_uring_setup` failed, with what to do.
fn refusal(e: &std::io::Error) -> String {
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    match e.raw_os_error() {
        Some(libc::ENOSYS) => {
            "this kernel has no io_uring (ENOSYS): Linux 5.19+ is needed; use --model reuseport"
                .into()
        }
        Some(libc::EPERM) if disabled == "1" || disabled == "2" => format!(
            "io_uring is disabled (kernel.io_uring_disabled = {disabled}): set it to 0, or \
             use --model reuseport"
        ),
        Some(libc::EPERM) => "io_uring_setup is refused (EPERM: a seccomp filter or a \
                              container's policy): allow it, or use --model reuseport"
            .into(),
        _ => format!("io_uring_setup failed ({e}): use --model reuseport"),
    }
}

/// Whether a multishot receive ends after its byte limit: armed with a limit of 1
/// byte, it must end (no `IORING_CQE_F_MORE`) after the first 2 bytes. A kernel that
/// ignores the limit keeps it going (it is cancelled by `finish`); one without
/// multishot receive refuses it (EINVAL).
fn recv_limit_works(live: &mut super::ring::Live<'_>) -> bool {
    let Ok((mut a, b)) = UnixStream::pair() else { return false };
    if live.recv(0, b.as_raw_fd(), Some(1)).is_err() || a.write_all(b"ab").is_err() {
        return false;
    }
    let mut out = Vec::new();
    for _ in 0..10 {
        if live.wait(Some(Duration::from_millis(100))).is_err()
            || live.completions(&mut out).is_err()
        {
            return false;
        }
        if let Some(c) = out.iter_mut().find(|c| c.op == Op::Recv(0)) {
            let ended = c.result == 2 && !c.more;
            if let Some(buf) = c.buf.take() {
                live.recycle(buf);
            }
            return ended;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The probe either finds the floor or says why not in one line that names
    /// what to do.
    #[test]
    fn probe_says_what_or_why() {
        match probe() {
            Ok(f) => {
                let line = f.line("buffers");
                assert!(line.starts_with("--model uring: io_uring with "), "{line}");
                assert!(!line.contains('\n'));
            }
            Err(why) => {
                assert!(!why.contains('\n'), "{why}");
                eprintln!("skipped: io_uring is not usable here: {why}");
            }
        }
    }

    /// The benchmark knob leaves out what it names, and refuses a name it does not
    /// know.
    #[test]
    fn without_leaves_out_by_name() {
        let all = Features {
            setup: Setup::DeferTaskrun,
            recv_limit: true,
            ring_fd: true,
            fixed_listener: true,
        };
        assert_eq!(all.clone().without(""), Ok(all.clone()));
        let less = all.clone().without("defer-taskrun, ring-fd").expect("known");
        assert_eq!((less.setup, less.ring_fd, less.recv_limit), (Setup::CoopTaskrun, false, true));
        let less = all.clone().without("recv-limit,fixed-listener").expect("known");
        assert!(!less.recv_limit && !less.fixed_listener && less.ring_fd);
        assert!(all.without("sqpoll").expect_err("unknown").contains("known: defer-taskrun"));
    }

    /// A refused `io_uring_setup` is one line naming the fix.
    #[test]
    fn refusals_name_the_fix() {
        let enosys = refusal(&std::io::Error::from_raw_os_error(libc::ENOSYS));
        assert!(enosys.contains("5.19") && enosys.contains("--model reuseport"), "{enosys}");
        let eperm = refusal(&std::io::Error::from_raw_os_error(libc::EPERM));
        assert!(eperm.contains("--model reuseport"), "{eperm}");
    }
}
