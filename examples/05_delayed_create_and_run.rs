//! Topic 5: creating and running `Delayed` values. Building a delayed call runs
//! nothing: it records the call as a node. `compute()` runs the graph behind it, in
//! parallel, and returns the value.
//!
//! Dask:
//! ```python
//! parts = [delayed(load)(i) for i in range(8)]   # nothing runs
//! total = delayed(sum)(parts)                     # nothing runs
//! total.compute()                                 # runs 9 tasks on the threaded scheduler
//! ```
//! taskweave: `delay!(load(i))` for a `#[delayed]` function, `delayed(f).call(…)` for
//! any function, `compute()` to run.
//!
//! Run: `cargo run --release --example 05_delayed_create_and_run`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use taskweave::prelude::*;

/// How many times `load` has really run.
static LOADS: AtomicUsize = AtomicUsize::new(0);

/// Loads one partition: 3 ms of waiting.
#[delayed]
fn load(part: u64) -> u64 {
    LOADS.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(3));
    part * 10
}

/// Adds everything up.
#[delayed]
fn sum(values: Vec<u64>) -> u64 {
    values.iter().sum()
}

fn main() {
    // 1. Build: 8 loads and a sum. Nothing runs.
    let start = Instant::now();
    let parts: Vec<Delayed<u64>> = (0..8).map(|i| delay!(load(i))).collect();
    let total = delay!(sum(parts));
    let built = start.elapsed();
    println!(
        "built {} nodes in {:.1} µs; load has run {} times",
        total.info().len(),
        built.as_secs_f64() * 1e6,
        LOADS.load(Ordering::SeqCst)
    );

    // A Delayed is a handle to a node: its name, key and where it was written.
    println!("total: {total:?}");
    println!(
        "  name {:?}, key {:?}, written at {}",
        total.name(),
        total.key(),
        total.call_site()
    );

    // 2. Run.
    let start = Instant::now();
    let value = total.compute();
    let took = start.elapsed();
    println!(
        "compute() = {value} in {:.1} ms on {} threads; load has run {} times",
        took.as_secs_f64() * 1e3,
        rayon::current_num_threads(),
        LOADS.load(Ordering::SeqCst)
    );
    println!("  (8 loads of 3 ms one after the other: 24 ms)");

    // 3. Computing again runs the tasks again (persist() keeps results: topic 7).
    let again = total.compute();
    println!(
        "compute() again = {again}; load has run {} times",
        LOADS.load(Ordering::SeqCst)
    );

    // 4. Any function or closure, through delayed(f).call(…); nodes mix freely.
    let doubled = delayed(|x: u64| x * 2).call(&total);
    let capped = delayed(u64::min).call(doubled, 500);
    println!("min(2 * total, 500) = {}", capped.compute());

    // 5. A #[delayed] function is still an ordinary function outside delay!/graph!.
    println!("load(4) called directly = {}", load(4));
}
