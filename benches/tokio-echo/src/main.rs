//! tokio-echo: the echo server most Rust users would write — tokio's multi-thread
//! runtime, one task per connection, `read` then `write_all` — kept in this project
//! so the suite can compare echod with it in the same run, on the same machine.
//! Prints one ready line on stdout; exits 0 on SIGINT/SIGTERM.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Echo server on tokio, for side-by-side measurement with echod.
#[derive(Parser, Debug)]
#[command(name = "tokio-echo")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:12001")]
    listen: SocketAddr,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Read buffer per connection, in bytes.
    #[arg(long, default_value_t = 4096)]
    buffer: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        rt.worker_threads(n.max(1));
    }
    rt.enable_all().build().context("cannot start the tokio runtime")?.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!("listening on {}", listener.local_addr()?);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(echo(stream, args.buffer));
                }
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = term.recv() => return Ok(()),
        }
    }
}

async fn echo(mut stream: TcpStream, buffer: usize) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; buffer.max(1)];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
