//! Futures: what one task costs from `submit` to its result, on the workloads of
//! `../shared/peers/dask_peer.py` (`futures/map_gather`, `futures/as_completed`).
//!
//! Run it with `cargo bench --bench futures`. Every benchmark uses one `Client` of two
//! threads (the peer's `threads_per_worker=2`) and trivial `inc` tasks, so the time is
//! the engine's own cost per task.
//!
//! * `round_trip`: `submit(inc, (x,))` then `result()`, one task at a time.
//! * `map_gather/n`: `client.map(inc, 0..n)` then `client.gather(&futures)`.
//! * `as_completed/n`: `client.map(inc, 0..n)`, then every result in completion order.
//! * `chain/n`: each task takes the previous future as its argument (a dependency,
//!   not a wait), `n` tasks, one `result()` at the end.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use taskweave::prelude::*;

fn inc(x: u64) -> u64 {
    x + 1
}

fn client() -> Client {
    Client::builder()
        .threads(2)
        .name("bench")
        .build()
        .expect("a client")
}

fn round_trip(c: &mut Criterion) {
    let client = client();
    let mut group = c.benchmark_group("round_trip");
    group.throughput(Throughput::Elements(1));
    group.bench_function("submit_result", |b| {
        b.iter(|| client.submit(inc, (black_box(1u64),)).result().unwrap());
    });
    group.finish();
}

fn map_gather(c: &mut Criterion) {
    let client = client();
    let mut group = c.benchmark_group("map_gather");
    for n in [10_000u64, 100_000] {
        let expected: u64 = (1..=n).sum();
        let check = client.gather(&client.map(inc, 0..n)).unwrap();
        assert_eq!(check.iter().sum::<u64>(), expected);
        group.throughput(Throughput::Elements(n));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(3));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| client.gather(&client.map(inc, 0..black_box(n))).unwrap());
        });
    }
    group.finish();
}

fn as_completed_all(c: &mut Criterion) {
    let client = client();
    let mut group = c.benchmark_group("as_completed");
    for n in [10_000u64, 100_000] {
        let expected: u64 = (1..=n).sum();
        let total: u64 = as_completed(client.map(inc, 0..n))
            .map(|f| f.result().unwrap())
            .sum();
        assert_eq!(total, expected);
        group.throughput(Throughput::Elements(n));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(3));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| {
                as_completed(client.map(inc, 0..black_box(n)))
                    .map(|f| f.result().unwrap())
                    .sum::<u64>()
            });
        });
    }
    group.finish();
}

fn chain(c: &mut Criterion) {
    let client = client();
    let mut group = c.benchmark_group("chain");
    let n = 10_000u64;
    let run = |n: u64| {
        let mut x = client.submit(inc, (0u64,));
        for _ in 1..n {
            x = client.submit(inc, (x,));
        }
        x.result().unwrap()
    };
    assert_eq!(run(n), n);
    group.throughput(Throughput::Elements(n));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
        b.iter(|| run(black_box(n)));
    });
    group.finish();
}

/// Every benchmark above, in a private module (see `static_graph.rs`).
#[allow(unreachable_pub)]
mod group {
    use criterion::criterion_group;

    criterion_group!(
        benches,
        super::round_trip,
        super::map_gather,
        super::as_completed_all,
        super::chain
    );
}

criterion::criterion_main!(group::benches);
