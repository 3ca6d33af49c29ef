//! Topic 3: task graphs. A computation written as tasks (nodes) and the data that
//! flows between them (edges); whatever has no path between it can run at once.
//!
//! Dask: a graph is a dict of keys to tasks, `dsk = {"x": 1, "b": (inc, "x"),
//! "c": (double, "x"), "d": (add, "b", "c")}`, run by `dask.get(dsk, "d")`; `delayed`
//! builds such dicts for you.
//! taskweave: `graph!` builds the node table at compile time; `Delayed<T>` builds it at
//! run time. Both give the same `GraphInfo`: nodes, edges, depth, width.
//!
//! Run: `cargo run --release --example 03_task_graphs`

use std::time::{Duration, Instant};

use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn double(x: i64) -> i64 {
    x * 2
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// Loads a partition: 3 ms of waiting (a file, a query).
#[delayed]
fn load(part: u32) -> Vec<i64> {
    std::thread::sleep(Duration::from_millis(3));
    (0..1_000).map(|i| i64::from(part) * 1_000 + i).collect()
}

/// Keeps the even values: 3 ms as well.
#[delayed]
fn clean(values: Vec<i64>) -> Vec<i64> {
    std::thread::sleep(Duration::from_millis(3));
    values.into_iter().filter(|v| v % 2 == 0).collect()
}

/// The sum of all partitions.
#[delayed]
fn total(parts: &[Vec<i64>]) -> i64 {
    parts.iter().flatten().sum()
}

fn main() {
    // The diamond: x → inc, x → double, both → add. Known at compile time.
    let diamond = graph!(|x: i64| -> i64 {
        let b = inc(x);
        let c = double(x);
        add(b, c)
    });
    let info = diamond.info(); // nothing has run
    println!(
        "diamond: {} nodes, {} edges, depth {}, width {}",
        info.len(),
        info.edges().len(),
        info.depth(),
        info.width()
    );
    print!("{}", info.table_text());
    println!("diamond.compute(1) = {}", diamond.compute(1));

    // The same graph built at run time.
    let b = delay!(inc(1));
    let c = delay!(double(1));
    let d = delay!(add(b, c));
    println!(
        "the same as Delayed: {} nodes, {} edges, result {}",
        d.info().len(),
        d.info().edges().len(),
        d.compute()
    );

    // A pipeline: 4 loads, 4 cleans, 1 total. The loads do not depend on each other,
    // so they run at once; so do the cleans.
    let parts: Vec<Delayed<Vec<i64>>> = (0..4).map(|i| delay!(clean(load(i)))).collect();
    let sum = delay!(total(parts));
    let info = sum.info();
    println!(
        "pipeline: {} tasks, {} edges, depth {} (the longest path), width {} (most tasks at one level)",
        info.len(),
        info.edges().len(),
        info.depth(),
        info.width()
    );
    let start = Instant::now();
    let value = sum.compute();
    let graph_time = start.elapsed();
    let start = Instant::now();
    let direct = total(&(0..4).map(|i| clean(load(i))).collect::<Vec<_>>());
    let direct_time = start.elapsed();
    assert_eq!(value, direct);
    println!("pipeline result: {value}");
    println!(
        "graph on {} threads: {:.1} ms; the same calls one by one: {:.1} ms (8 tasks x 3 ms)",
        rayon::current_num_threads(),
        graph_time.as_secs_f64() * 1e3,
        direct_time.as_secs_f64() * 1e3
    );
}
