//! What watching a run costs: the same static graph computed with no observer and
//! with a [`Profiler`](taskweave::Profiler) (two clock reads and a few stores per task).
//!
//! Run it with `cargo bench --bench observers` (about 20 s on 2 cores).
//!
//! * `chain64/*`: a chain of 64 trivial tasks on the calling thread
//!   (`Scheduler::Sync`), so the difference is the observer's own cost:
//!   `(profiled − plain) / 64` is the profiler's cost per task.
//!   - `plain`: no observer.
//!   - `profiled`: a `Profiler` that is cleared every 1,000 runs (it keeps every
//!     record).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_main, Criterion};
use taskweave::prelude::*;
use taskweave::{Profiler, RunOptions};

#[delayed]
fn step(x: u64) -> u64 {
    x.wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
}

fn chain64(c: &mut Criterion) {
    let g = graph!(|x: u64| -> u64 {
        let mut y = step(x);
        for _ in 0..63 {
            y = step(y);
        }
        y
    });
    let plain = RunOptions::new().scheduler(Scheduler::Sync);
    let profiler = Arc::new(Profiler::new());
    let profiled = RunOptions::new()
        .scheduler(Scheduler::Sync)
        .observer(profiler.clone());
    let x = 0x1234_5678_u64;
    assert_eq!(
        g.compute_with(plain.clone(), x),
        g.compute_with(profiled.clone(), x)
    );
    assert_eq!(profiler.records().len(), 64);

    let mut group = c.benchmark_group("chain64");
    group.bench_function("plain", |b| {
        b.iter(|| g.compute_with(plain.clone(), black_box(x)))
    });
    let mut runs = 0u32;
    group.bench_function("profiled", |b| {
        b.iter(|| {
            runs += 1;
            if runs.is_multiple_of(1000) {
                profiler.clear();
            }
            g.compute_with(profiled.clone(), black_box(x))
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(30)
}

/// `criterion_group!` declares `pub fn benches()`: at the crate root that would need a
/// doc comment it has no place for, so it lives in this private module.
#[allow(unreachable_pub)]
mod group {
    use criterion::criterion_group;

    criterion_group! {
        name = benches;
        config = super::config();
        targets = super::chain64
    }
}

criterion_main!(group::benches);
