//! The quickstart: mark functions `#[delayed]`, write the graph with `graph!`, look at
//! its node table and its picture, compute it, and time it.
//!
//! Run: `cargo run --release --example quickstart`

use std::time::Instant;

use taskweave::prelude::*;

/// Loads one partition of a data set (here: made up).
#[delayed]
fn load(part: u32) -> Vec<f64> {
    (0..100_000).map(|i| f64::from(part * 7 + i % 97)).collect()
}

/// Drops the odd values.
#[delayed]
fn clean(values: Vec<f64>) -> Vec<f64> {
    values.into_iter().filter(|v| v % 2.0 == 0.0).collect()
}

/// The sum of every cleaned partition.
#[delayed]
fn total(parts: &[Vec<f64>]) -> f64 {
    parts.iter().flatten().sum()
}

fn main() {
    // A typed graph, built at compile time: four nodes can run at once.
    let job = graph!(|n: u32| -> f64 {
        let a = clean(load(n));
        let b = clean(load(n + 1));
        total([a, b]) * 2.0
    });

    println!("node table ({} nodes):", job.len());
    print!("{}", job.info().table_text());

    // The same graph as a picture, before anything runs: open the SVG in a browser.
    let picture = std::env::temp_dir().join("taskweave-quickstart.svg");
    match job.visualize(&picture) {
        Ok(()) => println!("graph picture: {}", picture.display()),
        Err(error) => println!("could not write {}: {error}", picture.display()),
    }

    let start = Instant::now();
    let first = job.compute(3);
    let first_time = start.elapsed();

    let start = Instant::now();
    let result = job.compute(3);
    let graph_time = start.elapsed();
    assert_eq!(first, result);

    // The same functions, called directly, one after the other.
    let start = Instant::now();
    let direct = total(&[clean(load(3)), clean(load(4))]) * 2.0;
    let direct_time = start.elapsed();

    assert_eq!(result, direct);
    println!("result: {result}");
    println!("graph:  {graph_time:?} on {} threads (first compute, which starts the pool: {first_time:?})", rayon::current_num_threads());
    println!("direct: {direct_time:?} (sequential)");

    // Run again with other inputs: the engine allocates nothing per task.
    let again = job.compute(10);
    println!("result for n = 10: {again}");
}
