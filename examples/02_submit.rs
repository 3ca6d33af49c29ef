//! Topic 2: `submit` and `concurrent.futures`. Start a call now, get a handle (a
//! future) at once, ask for its result later.
//!
//! Python: `fut = ex.submit(slow_square, 3); fut.done(); fut.result()`
//! (`concurrent.futures`), or on a Dask cluster `fut = client.submit(slow_square, 3)`.
//! taskweave: `let fut = client.submit(slow_square, (3,)); fut.done(); fut.result()?`.
//!
//! What it shows: `submit` returns in microseconds while the work runs in the
//! background; `result()` waits; several submitted calls run at the same time.
//!
//! Run: `cargo run --release --example 02_submit`

use std::time::{Duration, Instant};

use taskweave::prelude::*;

/// 5 ms of waiting, then the square.
fn slow_square(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(5));
    x * x
}

/// Several arguments: a tuple in `submit`.
fn scaled_sum(a: u64, b: u64, scale: u64) -> u64 {
    (a + b) * scale
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::builder().threads(4).build()?;

    // One call: submit returns a future at once.
    let start = Instant::now();
    let future = client.submit(slow_square, (7,));
    let submitted = start.elapsed();
    println!(
        "submit returned after {:.1} µs; done: {}, status: {:?}",
        submitted.as_secs_f64() * 1e6,
        future.done(),
        future.status()
    );
    let value = future.result()?; // waits for the task
    println!(
        "result: {value} after {:.1} ms; done: {}, status: {:?}",
        ms(start.elapsed()),
        future.done(),
        future.status()
    );

    // Eight calls on four threads: about two rounds of 5 ms, not eight.
    let start = Instant::now();
    let futures: Vec<Future<u64>> = (0..8).map(|i| client.submit(slow_square, (i,))).collect();
    let all_submitted = start.elapsed();
    let results: Vec<u64> = futures
        .iter()
        .map(|f| f.result())
        .collect::<Result<_, _>>()?;
    let took = start.elapsed();
    println!(
        "8 submits took {:.1} µs; the 8 results came after {:.1} ms (one after the other: {} ms)",
        all_submitted.as_secs_f64() * 1e6,
        ms(took),
        8 * 5
    );
    println!("results: {results:?}");

    // Any function or closure, any number of arguments (a tuple), any result type.
    let sum = client.submit(scaled_sum, (2, 3, 10));
    let greeting = client.submit(
        |name: String| format!("hello, {name}"),
        ("taskweave".to_string(),),
    );
    let no_args = client.submit(|| 42, ());
    println!(
        "scaled_sum(2, 3, 10) = {}, {:?}, no arguments: {}",
        sum.result()?,
        greeting.result()?,
        no_args.result()?
    );
    println!(
        "names: {}, {}, call site of the first: {}",
        sum.name(),
        no_args.name(),
        sum.call_site()
    );
    Ok(())
}
