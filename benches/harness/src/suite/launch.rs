//! The command line that starts each kind of server a step runs against: echod
//! through its own flag definitions, tokio-echo, the C peers, sockperf's server, a
//! user's own command; pinned to the step's server cores, with how to tell it is ready.

use std::path::Path;

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
    let (name, program, args) = match kind {
        ServerKind::Echod { model, workers, pin, processes, udp } => {
            // echod's own flag definitions write the flags (`to_args`: only those that
            // differ from the defaults, so an older build understands them too).
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
            let mut a: Vec<String> =
                flags.to_args().into_iter().map(|s| s.to_string_lossy().into_owned()).collect();
            a.extend(programs.echod_args.iter().cloned());
            ("echod", build.echod.clone(), a)
        }
        ServerKind::Tokio { threads } => {
            let Some(p) = &build.tokio_echo else { bail!("this build has no tokio-echo") };
            (
                "tokio-echo",
                p.clone(),
                vec![format!("--listen=127.0.0.1:{port}"), format!("--threads={threads}")],
            )
        }
        ServerKind::CEpoll { threads } => {
            let Some(p) = &programs.epoll_echo else { bail!("the C epoll peer is not built") };
            (
                "epoll_echo",
                p.clone(),
                vec![port.to_string(), "-t".into(), threads.to_string(), "-q".into()],
            )
        }
        ServerKind::Sockperf => {
            let Some(p) = &programs.sockperf else { bail!("sockperf is not installed") };
            let args = ["server", "--tcp", "-i", "127.0.0.1", "-p"].map(String::from);
            let mut args = args.to_vec();
            args.push(port.to_string());
            let cmd = ServerCommand {
                name: "sockperf".into(),
                program: p.clone(),
                args,
                cores: cores.to_vec(),
                ready: Ready::Line("listen on".into()),
                own_group: false,
            };
            return Ok(cmd);
        }
        ServerKind::CUdp { threads, batch } => {
            let Some(p) = &programs.udp_echo else { bail!("the C UDP peer is not built") };
            let args = vec![
                port.to_string(),
                "-t".into(),
                threads.to_string(),
                "-b".into(),
                batch.to_string(),
                "-i".into(),
                "127.0.0.1".into(),
                "-q".into(),
            ];
            let ready = Ready::Line("listening on".into());
            let cmd = ServerCommand {
                name: "udp_echo".into(),
                program: p.clone(),
                args,
                cores: cores.to_vec(),
                ready,
                own_group: false,
            };
            return Ok(cmd);
        }
        ServerKind::Custom(custom) => {
            return Ok(ServerCommand {
                name: custom.name.clone(),
                program: "sh".into(),
                args: vec!["-c".into(), custom.command_for(port)],
                cores: cores.to_vec(),
                ready: Ready::Port(port),
                own_group: true,
            });
        }
    };
    let ready = Ready::Line("listening on".to_string());
    Ok(ServerCommand {
        name: name.into(),
        program,
        args,
        cores: cores.to_vec(),
        ready,
        own_group: false,
    })
}
