//! Inspection: the same `GraphInfo` and the same pictures for a `graph!`, a dynamic
//! graph and futures, before a run and after one (nodes coloured by outcome).
//!
//! Run: `cargo run --example visualize [output folder]` (default: a `taskweave`
//! folder in the system's temporary folder). It prints the path of every SVG it
//! writes; open them in a browser.

use std::path::PathBuf;
use std::sync::Arc;

use taskweave::prelude::*;
use taskweave::{futures_info, Direction, DrawOptions, RunOptions, RunRecord};

/// Loads one partition (made up).
#[delayed]
fn load(part: u32) -> Vec<f64> {
    (0..1_000).map(|i| f64::from(part * 7 + i % 97)).collect()
}

/// Drops the odd values.
#[delayed]
fn clean(values: Vec<f64>) -> Vec<f64> {
    values.into_iter().filter(|v| v % 2.0 == 0.0).collect()
}

/// The sum of every partition.
#[delayed]
fn total(parts: &[Vec<f64>]) -> f64 {
    parts.iter().flatten().sum()
}

/// One more.
#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

/// The sum of many values.
#[delayed]
fn sum(values: Vec<i64>) -> i64 {
    values.iter().sum()
}

/// Parses a number; panics on anything else (to show a failed run).
#[delayed]
fn parse(text: String) -> i64 {
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {text:?}"))
}

/// Adds two values.
#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// One more (a plain function: futures take any function).
fn plus_one(x: i64) -> i64 {
    x + 1
}

/// Ten times as much.
fn times_ten(x: i64) -> i64 {
    x * 10
}

/// Refuses every value.
fn check(x: i64) -> i64 {
    panic!("refusing {x}")
}

/// Adds two values.
fn combine(x: i64, y: i64) -> i64 {
    x + y
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out: PathBuf = std::env::args()
        .nth(1)
        .map_or_else(|| std::env::temp_dir().join("taskweave"), PathBuf::from);
    std::fs::create_dir_all(&out)?;
    // Panics inside tasks are expected below: keep their messages short.
    std::panic::set_hook(Box::new(|_| {}));

    // 1. A static graph: its shape is known at compile time, so it can be inspected
    //    (and drawn) without running anything.
    let job = graph!(|n: u32| -> f64 {
        let a = clean(load(n));
        let b = clean(load(n + 1));
        total([a, b]) * 2.0
    });
    let info = job.info();
    println!(
        "static graph: {} nodes, depth {}, width {}, critical path {:?}",
        info.len(),
        info.depth(),
        info.width(),
        info.critical_path()
    );
    let path = out.join("static.svg");
    info.visualize(&path)?;
    println!("  top to bottom: {}", path.display());
    let path = out.join("static-left-to-right.svg");
    info.visualize_with(&path, &DrawOptions::new().direction(Direction::LeftToRight))?;
    println!("  left to right: {}", path.display());
    let path = out.join("static.dot");
    std::fs::write(&path, info.to_dot())?;
    println!("  as DOT (for Graphviz): {}", path.display());

    // 2. A dynamic graph with 1,000 leaves and 200 load→clean chains: drawn with
    //    similar tasks collapsed into one box each, not as a hairball.
    let leaves: Vec<Delayed<i64>> = (0..1_000).map(|i| delay!(inc(i))).collect();
    let counted = delay!(sum(leaves));
    let parts: Vec<Delayed<Vec<f64>>> = (0..200).map(|i| delay!(clean(delay!(load(i))))).collect();
    let summed = delay!(total(parts));
    let both = delayed(|count: i64, sum: f64| sum + count as f64).call(&counted, &summed);
    let info = both.info();
    println!(
        "dynamic graph: {} nodes, depth {}, width {}",
        info.len(),
        info.depth(),
        info.width()
    );
    let path = out.join("dynamic-collapsed.svg");
    both.visualize(&path)?;
    println!("  collapsed: {}", path.display());

    // 3. A run coloured by outcome: one input is not a number, its task panics, and
    //    the tasks that need its result never run.
    let texts = ["1", "2", "three", "4"];
    let parsed: Vec<Delayed<i64>> = texts.iter().map(|t| delay!(parse(t.to_string()))).collect();
    let left = delay!(add(&parsed[0], &parsed[1]));
    let right = delay!(add(&parsed[2], &parsed[3]));
    let result = delay!(add(left, right));
    let record = Arc::new(RunRecord::new());
    let run = taskweave::compute_with(
        RunOptions::new()
            .scheduler(Scheduler::Sync)
            .observer(record.clone()),
        (&result,),
    );
    println!(
        "failed run: {}",
        run.err().map_or("?".into(), |e| e.to_string())
    );
    let path = out.join("run-outcomes.svg");
    result.info().with_outcomes(&record).visualize(&path)?;
    println!("  coloured by outcome: {}", path.display());

    // 4. Futures: the graph of what a future depends on, each coloured by its status.
    //    `check` panics, so `combine`, which needs its result, never runs.
    let client = Client::builder().threads(2).build()?;
    let a = client.submit(plus_one, (1,));
    let b = client.submit(times_ten, (&a,));
    let bad = client.submit(check, (&a,));
    let after_bad = client.submit(combine, (&b, &bad));
    let _ = after_bad.result();
    let info = futures_info(&[&b, &after_bad]);
    let path = out.join("futures.svg");
    info.visualize(&path)?;
    println!("futures: {} futures; {}", info.len(), path.display());
    Ok(())
}
