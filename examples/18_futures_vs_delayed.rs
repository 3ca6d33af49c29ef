//! Topic 18: futures versus delayed. The same work both ways: `Delayed` is lazy (the
//! whole graph is known before anything runs: equal pure calls merge, a result is
//! dropped after its last reader, and one dispatch runs it all, cheaply); futures are
//! eager (each task starts when submitted, costs a little more, and the program can
//! react to each result as it arrives and decide what to submit next).
//!
//! Dask: `dask.delayed` + `dask.compute` versus `client.submit`/`client.map` +
//! `as_completed`; `client.compute(delayed)` turns a delayed graph into a future.
//! taskweave: the same pair, and `client.compute(&delayed)`, `client.persist(&delayed)`.
//!
//! Run: `cargo run --release --example 18_futures_vs_delayed`

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use taskweave::prelude::*;

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[delayed]
fn load(i: u64) -> u64 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    i * 2
}

/// `iters` steps of a hash: work whose length does not depend on the clock.
fn spin(iters: u64, seed: u64) -> u64 {
    let mut h = seed | 1;
    for _ in 0..iters {
        h = black_box(h.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17));
    }
    h
}

fn wrapping_sum(v: &[u64]) -> u64 {
    v.iter().fold(0u64, |a, &b| a.wrapping_add(b))
}

/// The fastest of three runs.
fn best_of<R>(mut f: impl FnMut() -> R) -> (Duration, R) {
    let mut best = Duration::MAX;
    let mut result = None;
    for _ in 0..3 {
        let start = Instant::now();
        result = Some(f());
        best = best.min(start.elapsed());
    }
    (best, result.expect("three rounds"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let threads = 2;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let client = Client::builder().threads(threads).build()?;

    // 1. Lazy versus eager.
    let lazy: Vec<Delayed<u64>> = (0..4).map(|i| delay!(load(i))).collect();
    std::thread::sleep(Duration::from_millis(5));
    println!(
        "Delayed: 4 built, ran {} times before compute",
        RUNS.swap(0, Ordering::SeqCst)
    );
    let eager = client.map(load, 0..4);
    let settled = {
        let start = Instant::now();
        while RUNS.load(Ordering::SeqCst) < 4 && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        RUNS.swap(0, Ordering::SeqCst)
    };
    println!("futures: 4 submitted, ran {settled} times without asking for a result");
    assert_eq!(taskweave::compute(lazy.as_slice()), client.gather(&eager)?);
    RUNS.store(0, Ordering::SeqCst);

    // 2. Cost per task: the same independent tasks and their sum, both ways.
    let steps_per_micro = (0..3)
        .map(|_| {
            let start = Instant::now();
            black_box(spin(100_000, 3));
            100_000.0 / (start.elapsed().as_secs_f64() * 1e6)
        })
        .fold(0.0, f64::max);
    let n: u64 = if cfg!(debug_assertions) {
        2_000
    } else {
        20_000
    };
    println!("{n} tasks and their sum, {threads} threads (best of 3):");
    for micros in [0.0, 10.0] {
        let iters = (micros * steps_per_micro) as u64;
        let (seq, expected) = best_of(|| (0..n).fold(0u64, |a, s| a.wrapping_add(spin(iters, s))));
        let (lazy, v) = best_of(|| {
            let task = delayed(move |s: u64| spin(iters, s));
            let sum = delayed(|v: Vec<u64>| wrapping_sum(&v));
            let leaves: Vec<Delayed<u64>> = (0..n).map(|s| task.call(s)).collect();
            let groups: Vec<Delayed<u64>> =
                leaves.chunks(100).map(|g| sum.call(g.to_vec())).collect();
            pool.install(|| sum.call(groups).compute())
        });
        assert_eq!(v, expected);
        let (eager, v) = best_of(|| {
            let futures = client.map(move |s: u64| spin(iters, s), 0..n);
            wrapping_sum(&client.gather(&futures).expect("no task fails"))
        });
        assert_eq!(v, expected);
        let per_task = |d: Duration| d.as_secs_f64() * 1e9 / n as f64;
        let size = if micros == 0.0 {
            "empty".to_string()
        } else {
            format!("{micros} µs")
        };
        println!(
            "  {size:>5} tasks: loop {:>8.0} ns/task, Delayed {:>8.0} ns/task, futures {:>8.0} ns/task",
            per_task(seq),
            per_task(lazy),
            per_task(eager)
        );
    }

    // 3. What only futures can do: react to each result as it arrives.
    let futures = client.map(|x: u64| x * x, 0..20);
    let mut seen = 0;
    let mut big = 0;
    for f in as_completed(futures) {
        seen += 1;
        if f.result()? > 100 {
            big += 1; // decide here: submit more, stop early, cancel the rest …
        }
    }
    println!("as_completed: reacted to {seen} results one by one, {big} over 100");

    // 4. Mixing: a Delayed graph run on the client, as a future or persisted.
    let parts: Vec<Delayed<u64>> = (0..10).map(|i| delay!(load(i))).collect();
    let total = delayed(|v: Vec<u64>| v.iter().sum::<u64>()).call(parts);
    let future = client.compute(&total);
    let value = future.result()?;
    let computed = RUNS.swap(0, Ordering::SeqCst);
    let held = client.persist(&total);
    let persisted = RUNS.swap(0, Ordering::SeqCst);
    let doubled = delayed(|x: u64| x * 2).call(held).compute();
    println!(
        "client.compute(&delayed) = {value} ({computed} loads); client.persist: {persisted} loads; a graph on the persisted value = {doubled} ({} loads)",
        RUNS.swap(0, Ordering::SeqCst)
    );
    Ok(())
}
