//! The command line that starts each kind of server a step runs against: echod
//! through its own flag definitions, tokio-echo, the C peers, sockperf's server, a
//! user's own command; pinned to the step's server cores, with how to tell it is ready.

use std::path::{Path, PathBuf};

use anyhow::bail;
use echod::server::Proto;

use super::builds::Build;
use super::plan::ServerKind;
use super::programs::Programs;
use super::server::{Ready, ServerCommand};

/// How to start `kind` from `build` (or the peers in `programs`) on `port`, pinned
/// to `cores`; echod writes its per-worker stats to `stats_file`.
pub fn server_command(
    programs: &Programs,
    build: &Build,
    kind: &ServerKind,
    port: u16,
    cores: &[usize],
    stats_file: &Path,
) -> anyhow::Result<ServerCommand> {
    let listening = || Ready::Line("listening on".to_string());
    let (name, program, args, ready): (String, PathBuf, Vec<String>, Ready) = match kind {
        ServerKind::Echod { .. } => {
            let args = echod_args(programs, kind, port, stats_file);
            ("echod".into(), build.echod.clone(), args, listening())
        }
        ServerKind::Tokio { threads } => {
            let p = peer(&build.tokio_echo, "this build has no tokio-echo")?;
            let args = vec![format!("--listen=127.0.0.1:{port}"), format!("--threads={threads}")];
            ("tokio-echo".into(), p, args, listening())
        }
        ServerKind::CEpoll { threads } => {
            let p = peer(&programs.epoll_echo, "the C epoll peer is not built")?;
            let args = vec![port.to_string(), "-t".into(), threads.to_string(), "-q".into()];
            ("epoll_echo".into(), p, args, listening())
        }
        ServerKind::Sockperf => {
            let p = peer(&programs.sockperf, "sockperf is not installed")?;
            let mut args = ["server", "--tcp", "-i", "127.0.0.1", "-p"].map(String::from).to_vec();
            args.push(port.to_string());
            ("sockperf".into(), p, args, Ready::Line("listen on".into()))
        }
        ServerKind::CUdp { threads, batch } => {
            let p = peer(&programs.udp_echo, "the C UDP peer is not built")?;
            let (threads, batch) = (threads.to_string(), batch.to_string());
            let args = [&port.to_string(), "-t", &threads, "-b", &batch, "-i", "127.0.0.1", "-q"]
                .map(String::from)
                .to_vec();
            ("udp_echo".into(), p, args, listening())
        }
        ServerKind::Custom(custom) => {
            let args = vec!["-c".into(), custom.command_for(port)];
            (custom.name.clone(), "sh".into(), args, Ready::Port(port))
        }
    };
    // A user's command runs in a group of its own: stopping it stops what it started.
    let own_group = matches!(kind, ServerKind::Custom(_));
    Ok(ServerCommand { name, program, args, cores: cores.to_vec(), ready, own_group })
}

/// A peer's program, or the error `missing` when there is none.
fn peer(program: &Option<PathBuf>, missing: &str) -> anyhow::Result<PathBuf> {
    match program {
        Some(p) => Ok(p.clone()),
        None => bail!("{missing}"),
    }
}

/// echod's flags for `kind` on `port`, with `--echod-arg`s after them. echod's own
/// flag definitions write them (`to_args`: only those that differ from the defaults,
/// so an older build understands them too).
fn echod_args(programs: &Programs, kind: &ServerKind, port: u16, stats_file: &Path) -> Vec<String> {
    let ServerKind::Echod { model, workers, pin, processes, udp } = kind else {
        return Vec::new();
    };
    let flags = echod::server::Flags {
        bind: std::net::Ipv4Addr::LOCALHOST.into(),
        port,
        workers: Some(*workers as u64),
        model: *model,
        processes: *processes as u64,
        stats_json: Some(stats_file.to_path_buf()),
        no_pin: !pin,
        proto: if *udp { Proto::Udp } else { Proto::Tcp },
        ..echod::server::Flags::default()
    };
    let mut args: Vec<String> =
        flags.to_args().into_iter().map(|s| s.to_string_lossy().into_owned()).collect();
    args.extend(programs.echod_args.iter().cloned());
    args
}
