//! Topic 17: dynamic graphs with `as_completed`. Handle results in the order they
//! finish, not the order they were submitted, and submit new work from what comes back
//! (the graph grows while it runs); tasks may submit tasks themselves.
//!
//! Dask:
//! ```python
//! seq = as_completed(futures)
//! for fut in seq:
//!     for link in fut.result():
//!         seq.add(client.submit(crawl, link))      # more work, while iterating
//! # inside a task: client = get_client(); secede(); …; rejoin()
//! ```
//! taskweave: `as_completed(futures)`, `.add(future)` while iterating,
//! `.with_results()`; a task holding a `Client` clone may submit and wait (the waiting
//! task runs the subtasks it needs, or hands its place to another thread meanwhile,
//! Dask's secede/rejoin).
//!
//! Run: `cargo run --release --example 17_as_completed`

use std::time::{Duration, Instant};

use taskweave::prelude::*;

/// Sleeps `ms` milliseconds and returns it.
fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// A made-up web page: its links (3 per page, 3 levels deep), after 1 ms.
fn crawl(page: String) -> Vec<String> {
    std::thread::sleep(Duration::from_millis(1));
    if page.len() >= 4 {
        return Vec::new();
    }
    (0..3).map(|i| format!("{page}{i}")).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::builder().threads(8).build()?;

    // 1. Completion order: 8 tasks submitted longest first.
    let naps = [16, 14, 12, 10, 8, 6, 4, 2];
    let futures: Vec<Future<u64>> = naps.iter().map(|&ms| client.submit(nap, (ms,))).collect();
    let start = Instant::now();
    let mut order = Vec::new();
    let mut first_at = Duration::ZERO;
    for future in as_completed(futures) {
        if order.is_empty() {
            first_at = start.elapsed();
        }
        order.push(future.result()?);
    }
    println!("submitted: {naps:?}");
    println!("completed: {order:?}");
    println!(
        "first result after {:.1} ms; in submission order it would have been after 16 ms",
        first_at.as_secs_f64() * 1e3
    );

    // 2. The graph grows while it runs: each page's links are crawled as they come.
    let start = Instant::now();
    let mut pages = as_completed(vec![client.submit(crawl, ("p".to_string(),))]);
    let mut crawled = 0;
    let mut most_pending = 0;
    while let Some(future) = pages.next() {
        crawled += 1;
        for link in future.result()? {
            pages.add(client.submit(crawl, (link,)));
        }
        most_pending = most_pending.max(pages.remaining());
    }
    println!(
        "crawl: {crawled} pages (1 + 3 + 9 + 27) in {:.1} ms, at most {most_pending} in flight",
        start.elapsed().as_secs_f64() * 1e3
    );

    // 3. Results as they come, with with_results().
    let squares = client.map(|x: u64| x * x, 1..=10);
    let total: u64 = as_completed(squares)
        .with_results()
        .map(|(_, result)| *result.expect("no task fails"))
        .sum();
    println!("sum of squares 1..=10 via with_results: {total}");

    // 4. Tasks that submit tasks and wait for them, on a client with ONE thread: the
    //    waiting task lets its thread run the subtasks meanwhile (no deadlock).
    let single = Client::builder().threads(1).build()?;
    let inner = single.clone();
    let start = Instant::now();
    let outer = single.submit(
        move |n: u64| {
            let parts = inner.map(|i: u64| i * 10, 0..n);
            let sum: u64 = as_completed(parts)
                .map(|f| f.result().expect("no task fails"))
                .sum();
            sum
        },
        (10,),
    );
    println!(
        "a task that submitted 10 tasks on a 1-thread client: {} in {:.2} ms",
        outer.result()?,
        start.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
