//! Topic 13: futures, `submit` and `map`. A `Client` owns a pool of threads and runs
//! what you give it now (eagerly), handing back a `Future` per task; `map` submits one
//! task per item; `gather` waits for a list of futures and returns their results.
//!
//! Dask:
//! ```python
//! from dask.distributed import Client
//! client = Client(processes=False, n_workers=1, threads_per_worker=4)
//! a = client.submit(inc, 1)
//! futures = client.map(inc, range(1000))
//! again = client.map(double, futures)       # futures as items: no waiting here
//! results = client.gather(again)
//! ```
//! taskweave: `Client::builder().threads(4).build()?`, `client.submit(inc, (1,))`,
//! `client.map(inc, 0..1000)`, `client.map(double, futures)`, `client.gather(&again)?`.
//!
//! Run: `cargo run --release --example 13_futures_submit_map`

use std::time::{Duration, Instant};

use taskweave::prelude::*;

fn inc(x: u64) -> u64 {
    x + 1
}

fn double(x: u64) -> u64 {
    x * 2
}

/// 1 ms of waiting (a request), then a result.
fn fetch(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(1));
    x % 7
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::builder().threads(4).name("course").build()?;
    println!("client with {} threads", client.threads());

    // submit: one call, one future.
    let a = client.submit(inc, (1,));
    println!("submit(inc, 1) -> {:?} = {}", a.name(), a.result()?);

    // map: one future per item, in item order.
    let start = Instant::now();
    let futures = client.map(inc, 0..1_000);
    let submitted = start.elapsed();
    // map over futures: each new task depends on one future, nobody waits here.
    let doubled = client.map(double, futures.clone());
    let results = client.gather(&doubled)?;
    let took = start.elapsed();
    println!(
        "map(inc, 0..1000) then map(double, futures): {} results, first {:?}, sum {}",
        results.len(),
        &results[..4],
        results.iter().sum::<u64>()
    );
    println!(
        "  submitting 1000 took {:.2} ms; both maps and the gather {:.2} ms ({:.2} µs per task)",
        ms(submitted),
        ms(took),
        took.as_secs_f64() * 1e6 / 2_000.0
    );

    // Waiting tasks overlap: 200 requests of 1 ms on 4 threads, and on 16.
    for threads in [4, 16] {
        let client = Client::builder().threads(threads).build()?;
        let start = Instant::now();
        let futures = client.map(fetch, 0..200);
        let total: u64 = client.gather(&futures)?.iter().sum();
        println!(
            "200 requests of 1 ms on {threads:>2} threads: {:.1} ms (one by one: 200 ms), total {total}",
            ms(start.elapsed())
        );
    }

    // A #[delayed] function is an ordinary function too: submit takes it as it is.
    #[delayed]
    fn square(x: u64) -> u64 {
        x * x
    }
    let squares = client.map(square, 1..=5);
    println!("map(square, 1..=5) = {:?}", client.gather(&squares)?);
    Ok(())
}
