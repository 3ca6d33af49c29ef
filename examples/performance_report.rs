//! The performance report (Dask's `performance_report(filename="report.html")`): run a
//! small mixed workload with a report active and keep it as one HTML page: the task
//! stream, progress per function, the graph of each compute.
//!
//! Dask:
//! ```text
//! with performance_report(filename="report.html"):
//!     x.compute(); client.gather(futures)
//! ```
//! taskweave: `let report = PerformanceReport::new("report.html");` … then drop it
//! (or `report.finish()`), or `performance_report("report.html", || …)`.
//!
//! Run: `cargo run --example performance_report --features dashboard [-- PATH]`
//! (the page goes to `PATH`, or `performance_report.html` in the target directory).

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskweave::prelude::*;
use taskweave::{Client, PerformanceReport, Scheduler};

/// Loads one partition: about a millisecond of work.
#[delayed]
fn load(part: u64) -> Vec<u64> {
    std::thread::sleep(Duration::from_micros(800));
    (0..1_000).map(|i| part * 1_000 + i).collect()
}

/// Keeps the even values.
#[delayed]
fn clean(values: Vec<u64>) -> Vec<u64> {
    std::thread::sleep(Duration::from_micros(400));
    values.into_iter().filter(|v| v % 2 == 0).collect()
}

/// The sum of every cleaned partition.
#[delayed]
fn total(parts: &[Vec<u64>]) -> u64 {
    parts.iter().flatten().sum()
}

/// Fails on purpose: the report shows it in red.
#[delayed]
fn validate(x: u64) -> u64 {
    assert!(x < 3, "value {x} out of range");
    x
}

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

fn square(x: u64) -> u64 {
    std::thread::sleep(Duration::from_micros(300));
    x * x
}

/// Waits until told to go (holds the client's only thread, so the task behind it can
/// be cancelled before it starts).
fn wait_for(rx: Arc<Mutex<mpsc::Receiver<()>>>) -> u64 {
    let _ = rx.lock().map(|rx| rx.recv());
    1
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The failing task below panics on purpose: print it as one short line.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map_or("(not a string)", String::as_str);
        eprintln!("(a task panicked: {message})");
    }));
    let path = std::env::args_os()
        .nth(1)
        .map_or_else(default_path, PathBuf::from);
    let report = PerformanceReport::new(&path);

    // A dynamic graph: 16 loads, 16 cleans, one total.
    let parts: Vec<Delayed<Vec<u64>>> = (0..16).map(|i| delay!(clean(load(i)))).collect();
    println!("total: {}", delay!(total(parts)).compute());

    // One that fails: `validate(7)` panics, and the report colours it red.
    let checked: Vec<Delayed<u64>> = (0..6).map(|i| delay!(validate(i))).collect();
    let sum = delayed(|xs: Vec<u64>| xs.iter().sum::<u64>()).call(checked);
    let failed = sum.try_compute_with(Scheduler::Sync);
    println!(
        "the failing compute: {}",
        failed.map_or_else(|e| e.to_string(), |v| v.to_string())
    );

    // A static graph, computed a few times.
    let diamond = graph!(|x: i64| -> i64 {
        let b = inc(x);
        let c = double(x);
        add(b, c)
    });
    let values: Vec<i64> = (0..5).map(|x| diamond.compute(x)).collect();
    println!("diamond: {values:?}");

    // Futures: a map, and one task cancelled before it starts.
    let client = Client::builder().threads(1).build()?;
    let squares = client.map(square, 0..24u64);
    let (go, rx) = mpsc::channel();
    let gate = client.submit(wait_for, (Arc::new(Mutex::new(rx)),));
    let cancelled = client.submit(|x: u64| x + 1, (gate.clone(),));
    cancelled.cancel();
    go.send(())?;
    println!("squares: {}", client.gather(&squares)?.iter().sum::<u64>());
    println!(
        "gate: {}, cancelled: {}",
        gate.result()?,
        cancelled.result().is_err()
    );

    let path = report.finish()?;
    println!("report: {}", path.display());
    Ok(())
}

/// `performance_report.html` in the target directory (beside the example's binary).
fn default_path() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.parent()?
                .parent()
                .map(|dir| dir.join("performance_report.html"))
        })
        .unwrap_or_else(|| PathBuf::from("performance_report.html"))
}
