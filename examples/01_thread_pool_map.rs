//! Topic 1: `ThreadPoolExecutor.map`. One function over many items, on a pool of
//! threads, results back in the order of the items.
//!
//! Dask / Python: `with ThreadPoolExecutor(4) as ex: results = list(ex.map(fetch, pages))`,
//! or on a Dask cluster `client.gather(client.map(fetch, pages))`.
//! taskweave: `client.gather(&client.map(fetch, pages))`.
//!
//! What it shows: waiting (I/O) overlaps on as many threads as you give it; CPU work
//! speeds up only up to the number of cores.
//!
//! Run: `cargo run --release --example 01_thread_pool_map`

use std::hint::black_box;
use std::time::{Duration, Instant};

use taskweave::prelude::*;

/// Pretends to download a page: 2 ms of waiting, then a tiny bit of work.
fn fetch(page: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(2));
    page * page % 1_000
}

/// `iters` steps of a hash: CPU work whose length does not depend on the clock.
fn spin(iters: u64, seed: u64) -> u64 {
    let mut h = seed;
    for _ in 0..iters {
        h = black_box(h.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17));
    }
    h
}

/// How many `spin` steps this machine runs per microsecond, in this build.
fn steps_per_micro() -> f64 {
    (0..3)
        .map(|_| {
            let start = Instant::now();
            black_box(spin(100_000, 1));
            100_000.0 / (start.elapsed().as_secs_f64() * 1e6)
        })
        .fold(0.0, f64::max)
}

/// Runs `f` `rounds` times; the fastest time and the last result (the first round
/// also warms caches up).
fn best_of<R>(rounds: usize, mut f: impl FnMut() -> R) -> (Duration, R) {
    let mut best = Duration::MAX;
    let mut result = None;
    for _ in 0..rounds {
        let start = Instant::now();
        result = Some(f());
        best = best.min(start.elapsed());
    }
    (best, result.expect("at least one round"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pages: Vec<u64> = (0..40).collect();

    // 1. Waiting: a plain loop, then the pool.
    println!("fetch {} pages, 2 ms of waiting each:", pages.len());
    let start = Instant::now();
    let expected: Vec<u64> = pages.iter().map(|&p| fetch(p)).collect();
    let sequential = start.elapsed();
    println!("  sequential loop          {:>6.1} ms", ms(sequential));
    for threads in [4, 8] {
        let client = Client::builder().threads(threads).build()?;
        let start = Instant::now();
        // Python: list(ex.map(fetch, pages))
        let results = client.gather(&client.map(fetch, pages.clone()))?;
        let took = start.elapsed();
        assert_eq!(results, expected, "map keeps the order of the items");
        println!(
            "  client.map, {threads} threads    {:>6.1} ms  ({:.1}x)",
            ms(took),
            sequential.as_secs_f64() / took.as_secs_f64()
        );
    }
    println!(
        "  results in item order: {:?} … (sum {})",
        &expected[..5],
        expected.iter().sum::<u64>()
    );

    // 2. CPU work: 40 items of about 250 µs each.
    let iters = (250.0 * steps_per_micro()) as u64;
    let crunch = move |x: u64| {
        black_box(spin(iters, x));
        x * 3
    };
    println!(
        "crunch {} items, ~250 µs of CPU each, {cores} cores (best of 3 runs):",
        pages.len()
    );
    let (sequential, expected) =
        best_of(3, || pages.iter().map(|&x| crunch(x)).collect::<Vec<u64>>());
    println!("  sequential loop          {:>6.1} ms", ms(sequential));
    for threads in [cores, 4 * cores] {
        let client = Client::builder().threads(threads).build()?;
        let (took, results) = best_of(3, || client.gather(&client.map(crunch, pages.clone())));
        assert_eq!(results?, expected);
        println!(
            "  client.map, {threads} threads    {:>6.1} ms  ({:.1}x)",
            ms(took),
            sequential.as_secs_f64() / took.as_secs_f64()
        );
    }
    println!("  more threads than cores do not make CPU work faster");
    Ok(())
}
