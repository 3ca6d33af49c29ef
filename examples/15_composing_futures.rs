//! Topic 15: composing futures. A future passed where a value is expected makes a
//! dependency: the new task starts when its inputs are ready, and the caller does not
//! wait. So a whole graph can be submitted at once, from the caller, without a single
//! `result()` until the end.
//!
//! Dask:
//! ```python
//! x = client.submit(load, 1)
//! y = client.submit(load, 2)
//! z = client.submit(add, x, y)        # x and y are futures: no waiting here
//! parts = client.map(load, range(32))
//! while len(parts) > 1:               # a tree reduction of futures
//!     parts = [client.submit(add, a, b) for a, b in zip(parts[::2], parts[1::2])]
//! ```
//! taskweave: the same, with `(&x, &y)` as the argument tuple.
//!
//! Run: `cargo run --release --example 15_composing_futures`

use std::time::{Duration, Instant};

use taskweave::prelude::*;

/// 1 ms of waiting, then a value.
fn load(i: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(1));
    i
}

/// 1 ms of waiting, then the sum.
fn add(a: u64, b: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(1));
    a + b
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Combines pairs of futures until one is left, without waiting for any.
fn tree(client: &Client, mut parts: Vec<Future<u64>>) -> Future<u64> {
    while parts.len() > 1 {
        parts = parts
            .chunks(2)
            .map(|pair| match pair {
                [a, b] => client.submit(add, (a, b)),
                [a] => a.clone(),
                _ => unreachable!("chunks of at most two"),
            })
            .collect();
    }
    parts.pop().expect("at least one part")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::builder().threads(8).build()?;

    // Three futures, one depending on two.
    let start = Instant::now();
    let x = client.submit(load, (1,));
    let y = client.submit(load, (2,));
    let z = client.submit(add, (&x, &y));
    let submitted = start.elapsed();
    println!(
        "z = add(x, y): submitted in {:.0} µs, status {:?}; z = {} after {:.1} ms",
        submitted.as_secs_f64() * 1e6,
        z.status(),
        z.result()?,
        ms(start.elapsed())
    );

    // A tree reduction of 32 loads: 32 + 31 tasks submitted at once, 8 threads.
    let start = Instant::now();
    let parts = client.map(load, 0..32);
    let total = tree(&client, parts);
    let submitted = start.elapsed();
    let value = total.result()?;
    let composed = start.elapsed();
    println!(
        "tree of 63 futures: submitted in {:.2} ms, total {value} after {:.1} ms",
        ms(submitted),
        ms(composed)
    );

    // The same, waiting for each result before submitting what needs it.
    let start = Instant::now();
    let mut values: Vec<u64> = (0..32)
        .map(|i| client.submit(load, (i,)).result())
        .collect::<Result<_, _>>()?;
    while values.len() > 1 {
        values = values
            .chunks(2)
            .map(|pair| match pair {
                [a, b] => client.submit(add, (*a, *b)).result(),
                [a] => Ok(*a),
                _ => unreachable!("chunks of at most two"),
            })
            .collect::<Result<_, _>>()?;
    }
    let waited = start.elapsed();
    assert_eq!(values[0], value);
    println!(
        "waiting on each result instead: {} after {:.1} ms ({:.1}x slower)",
        values[0],
        ms(waited),
        waited.as_secs_f64() / composed.as_secs_f64()
    );

    // Futures mix with plain values, and map takes futures as items.
    let offsets = client.map(|i: u64| i * 100, 0..4);
    let shifted: Vec<Future<u64>> = offsets
        .iter()
        .map(|o| client.submit(|o: u64, z: u64, k: u64| o + z + k, (o, &z, 1)))
        .collect();
    println!(
        "o + z + 1 for o in 0, 100, 200, 300: {:?}",
        client.gather(&shifted)?
    );

    // A Delayed graph becomes a future on the client: compute(&delayed).
    let parts: Vec<Delayed<u64>> = (0..4).map(|i| delayed(|i: u64| i * i).call(i)).collect();
    let sum = delayed(|v: Vec<u64>| v.iter().sum::<u64>()).call(parts);
    let future = client.compute(&sum);
    let plus_z = client.submit(add, (&future, &z));
    println!("client.compute(&delayed) + z = {}", plus_z.result()?);
    Ok(())
}
