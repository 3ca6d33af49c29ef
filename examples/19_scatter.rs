//! Topic 19: `scatter`. Data made in the caller and read by many tasks is placed once
//! and shared, instead of travelling (here: being copied) with every task.
//!
//! Dask:
//! ```python
//! big = np.random.random(500_000)
//! futures = [client.submit(score, big, i) for i in range(16)]   # big goes with each task
//! [remote] = client.scatter([big], broadcast=True)               # placed once
//! futures = [client.submit(score, remote, i) for i in range(16)]
//! # delayed: "avoid repeatedly putting large inputs into delayed calls":
//! big = delayed(big)                                             # one node, read by all
//! ```
//! taskweave: `let remote = client.scatter(big)`; tasks take it as `Arc<T>` (threads
//! share memory, so "broadcast" is the same thing); for `Delayed`, one node lent by
//! reference (`&data`) to every task.
//!
//! Run: `cargo run --release --example 19_scatter`

use std::sync::Arc;
use std::time::{Duration, Instant};

use taskweave::prelude::*;

/// Scores one slice of the table: every 16th value from `offset`.
fn score(table: &[u64], offset: usize) -> u64 {
    table
        .iter()
        .skip(offset)
        .step_by(16)
        .fold(0u64, |a, &b| a.wrapping_add(b))
}

#[delayed]
fn make_table(n: usize) -> Vec<u64> {
    (0..n as u64)
        .map(|i| i.wrapping_mul(2654435761) % 1000)
        .collect()
}

#[delayed]
fn score_node(table: &[u64], offset: usize) -> u64 {
    score(table, offset)
}

#[delayed]
fn total(scores: Vec<u64>) -> u64 {
    scores.iter().sum()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::builder().threads(2).build()?;
    let n = 1 << 19; // 512 Ki values, 4 MB
    let big: Vec<u64> = make_table(n);
    let tasks = 16;

    // 1. By value: each task gets its own copy of the 4 MB.
    let start = Instant::now();
    let futures: Vec<Future<u64>> = (0..tasks)
        .map(|i| client.submit(|t: Vec<u64>, i: usize| score(&t, i), (big.clone(), i)))
        .collect();
    let by_value: u64 = client.gather(&futures)?.iter().sum();
    let by_value_time = start.elapsed();
    println!(
        "by value:  {tasks} tasks, {} MB copied, {:.1} ms, total {by_value}",
        (tasks * n * 8) >> 20,
        ms(by_value_time)
    );

    // 2. Scattered: one shared copy, read through Arc by every task.
    let start = Instant::now();
    let remote = client.scatter(big);
    let futures: Vec<Future<u64>> = (0..tasks)
        .map(|i| client.submit(|t: Arc<Vec<u64>>, i: usize| score(&t, i), (&remote, i)))
        .collect();
    let scattered: u64 = client.gather(&futures)?.iter().sum();
    let scattered_time = start.elapsed();
    assert_eq!(by_value, scattered);
    println!(
        "scattered: {tasks} tasks, 0 MB copied, {:.1} ms, total {scattered} ({:.1}x faster)",
        ms(scattered_time),
        by_value_time.as_secs_f64() / scattered_time.as_secs_f64()
    );
    // Every task saw the same buffer.
    let addresses = client.map(
        |t: Arc<Vec<u64>>| t.as_ptr() as usize,
        (0..4).map(|_| remote.clone()),
    );
    let addresses = client.gather(&addresses)?;
    let own = remote.result_shared()?.as_ptr() as usize;
    println!(
        "scattered data: status {:?}, every task read the same buffer: {}",
        remote.status(),
        addresses.iter().all(|&a| a == own)
    );

    // 3. Delayed: one node for the table, lent by reference to every task.
    let table = delay!(make_table(n));
    let scores: Vec<Delayed<u64>> = (0..tasks).map(|i| delay!(score_node(&table, i))).collect();
    let sum = delay!(total(scores));
    let start = Instant::now();
    let lent = sum.compute();
    assert_eq!(lent, by_value);
    println!(
        "Delayed, one table node lent to {tasks} tasks: {} nodes, {:.1} ms (table built inside), total {lent}",
        sum.info().len(),
        ms(start.elapsed())
    );
    Ok(())
}
