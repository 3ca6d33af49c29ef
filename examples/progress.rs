//! Progress bars on stderr: a dynamic graph of 10 µs tasks with a bar on request, the
//! automatic bar, then a set of futures (Dask's `ProgressBar` and `progress`).
//!
//! Run: `cargo run --release --example progress` (in a terminal: a live bar; with
//! stderr redirected, `2>log`, one line a second).

use std::sync::Arc;
use std::time::{Duration, Instant};

use taskweave::prelude::*;
use taskweave::{Progress, RunOptions};

/// About 10 µs of work.
fn work(i: u64) -> u64 {
    let start = Instant::now();
    let mut h = i;
    while start.elapsed() < Duration::from_micros(10) {
        h = std::hint::black_box(h.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17));
    }
    h
}

fn main() {
    // Two threads, so that 200,000 tasks of 10 µs last about a second.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a pool");
    let n = 200_000u64;
    let groups: Vec<Delayed<u64>> = (0..n / 1_000)
        .map(|g| {
            let parts: Vec<Delayed<u64>> = (g * 1_000..(g + 1) * 1_000)
                .map(|i| delayed(work).call(i))
                .collect();
            delayed(|v: Vec<u64>| v.iter().fold(0u64, |a, &b| a ^ b)).call(parts)
        })
        .collect();
    let total = delayed(|v: Vec<u64>| v.iter().fold(0u64, |a, &b| a ^ b)).call(groups);

    // On request: drawn from the start, terminal or not.
    eprintln!(
        "a dynamic graph of {} tasks, bar on request:",
        n + n / 1_000 + 1
    );
    let progress = Progress::new();
    let start = Instant::now();
    let value = pool
        .install(|| total.try_compute_with(RunOptions::new().observer(Arc::new(progress.clone()))))
        .expect("no task fails");
    println!(
        "result {value:#x}: {} of {} tasks in {:.2?}",
        progress.done(),
        progress.total(),
        start.elapsed()
    );

    // Automatic: only on a terminal, and only once the run has lasted a second.
    eprintln!("the same graph, automatic bar (appears after a second, on a terminal only):");
    let auto = Progress::auto();
    pool.install(|| total.try_compute_with(RunOptions::new().observer(Arc::new(auto.clone()))))
        .expect("no task fails");
    println!("drawn: {}", auto.is_drawn());

    // Futures: a bar until every one is done.
    let client = Client::builder().threads(4).build().expect("a client");
    let futures = client.map(
        |i: u64| {
            std::thread::sleep(Duration::from_millis(5));
            i * i
        },
        0..400u64,
    );
    eprintln!("400 futures of 5 ms on 4 threads:");
    taskweave::progress(&futures);
    let squares = client.gather(&futures).expect("no task fails");
    println!("sum of squares: {}", squares.iter().sum::<u64>());
}
