//! Criterion micro-benchmarks of loadgen's hot paths: building and verifying a
//! message's payload, recording into a per-thread HdrHistogram, merging thread
//! histograms, and the V2+DEFLATE encoding the JSON carries.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use engine::result::{decode_histogram, encode_histogram};
use engine::run::Pattern;
use hdrhistogram::Histogram;

fn payload(c: &mut Criterion) {
    let mut group = c.benchmark_group("payload");
    for size in [64usize, 1024, 16 * 1024] {
        let pattern = Pattern::new(size);
        let mut buf = vec![0u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("fill", size), &size, |b, _| {
            let mut seq = 0u64;
            b.iter(|| {
                seq += 1;
                pattern.fill(7, seq, black_box(&mut buf));
            })
        });
        pattern.fill(7, 42, &mut buf);
        group.bench_with_input(BenchmarkId::new("check", size), &size, |b, _| {
            b.iter(|| pattern.check(7, 42, 0, black_box(&buf)))
        });
    }
    group.finish();
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("bounds")
}

fn histograms(c: &mut Criterion) {
    let mut h = histogram();
    let mut v = 1_000u64;
    c.bench_function("histogram_record", |b| {
        b.iter(|| {
            v = v.wrapping_mul(6364136223846793005).wrapping_add(1) % 50_000_000 + 1_000;
            h.record(black_box(v)).expect("record")
        })
    });
    let mut full = histogram();
    for i in 0..100_000u64 {
        full.record(1_000 + (i * 7919) % 40_000_000).expect("record");
    }
    c.bench_function("histogram_merge", |b| {
        b.iter(|| {
            let mut total = histogram();
            total.add(black_box(&full)).expect("add");
            total
        })
    });
    let encoded = encode_histogram(&full).expect("encode");
    c.bench_function("histogram_encode_v2_deflate", |b| {
        b.iter(|| encode_histogram(black_box(&full)))
    });
    c.bench_function("histogram_decode_v2_deflate", |b| {
        b.iter(|| decode_histogram(black_box(&encoded)))
    });
}

criterion_group!(benches, payload, histograms);
criterion_main!(benches);
