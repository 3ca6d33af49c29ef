//! Topic 7: `compute` and `persist`. Compute several results in one run, so that what
//! they share runs once; persist a result that later graphs reuse, so that it does not
//! run again.
//!
//! Dask:
//! ```python
//! mean, spread = dask.compute(mean_of(data), spread_of(data))   # `data` loads once
//! data = data.persist()      # computed now, kept; later graphs start from the result
//! ```
//! taskweave: `taskweave::compute((&mean, &spread))`, `data.persist()`.
//!
//! Run: `cargo run --release --example 07_compute_and_persist`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use taskweave::prelude::*;

static LOADS: AtomicUsize = AtomicUsize::new(0);

/// The expensive part: 20 ms to load (say, a file from the network).
#[delayed]
fn load_all() -> Vec<f64> {
    LOADS.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(20));
    (1..=1_000).map(f64::from).collect()
}

#[delayed]
fn mean_of(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[delayed]
fn max_of(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::MIN, f64::max)
}

#[delayed]
fn scale(v: &[f64], by: f64) -> f64 {
    v.iter().map(|x| x * by).sum()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn loads() -> usize {
    LOADS.swap(0, Ordering::SeqCst)
}

fn main() {
    let data = delay!(load_all());
    let mean = delay!(mean_of(&data));
    let max = delay!(max_of(&data));

    // 1. One at a time: each compute runs the whole graph behind it, load included.
    let start = Instant::now();
    let (m, x) = (mean.compute(), max.compute());
    println!(
        "mean.compute(), max.compute(): {m}, {x} in {:.1} ms, load ran {} times",
        ms(start.elapsed()),
        loads()
    );

    // 2. Together: one graph, the shared load runs once.
    let start = Instant::now();
    let (m, x) = taskweave::compute((&mean, &max));
    println!(
        "taskweave::compute((&mean, &max)): {m}, {x} in {:.1} ms, load ran {} times",
        ms(start.elapsed()),
        loads()
    );

    // 3. Persist: run the load now and keep its result.
    let start = Instant::now();
    let kept = data.persist();
    println!(
        "data.persist(): {:.1} ms, load ran {} times",
        ms(start.elapsed()),
        loads()
    );
    // Later graphs built on the persisted value start from its result.
    let start = Instant::now();
    let results: Vec<f64> = (1..=5)
        .map(|k| delay!(scale(&kept, f64::from(k))).compute())
        .collect();
    println!(
        "5 later graphs on the persisted data: {results:?} in {:.1} ms, load ran {} times",
        ms(start.elapsed()),
        loads()
    );
    // The same 5 graphs on the unpersisted value: 5 loads.
    let start = Instant::now();
    for k in 1..=5 {
        delay!(scale(&data, f64::from(k))).compute();
    }
    println!(
        "the same 5 graphs without persist: {:.1} ms, load ran {} times",
        ms(start.elapsed()),
        loads()
    );
}
