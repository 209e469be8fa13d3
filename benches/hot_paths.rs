//! Criterion micro-benchmarks of echod's hot path: one connection's read/write path,
//! measured end to end as a ping-pong through a real loopback socket against an
//! in-process echod worker (one worker, unpinned), for a small and a large message.
//! The syscalls dominate, as they do in production; `cargo bench` runs it, CI only
//! compiles it.

use std::io::{Read, Write};
use std::net::TcpStream;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use echod::server::{Config, Server};

fn round_trip(c: &mut Criterion) {
    let server = Server::bind(Config::local_test(1)).expect("bind echod");
    let addr = server.local_addr();
    let stop = server.shutdown_handle();
    let thread = std::thread::spawn(move || server.run());
    let mut group = c.benchmark_group("echod_round_trip");
    for size in [64usize, 4096] {
        let mut client = TcpStream::connect(addr).expect("connect");
        client.set_nodelay(true).expect("nodelay");
        let out = vec![0x5au8; size];
        let mut back = vec![0u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter(|| {
                client.write_all(&out).expect("write");
                client.read_exact(&mut back).expect("read");
            })
        });
    }
    group.finish();
    stop.shutdown();
    let _ = thread.join();
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
