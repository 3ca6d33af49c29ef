//! Topic 14: a future's result and status. `status()` says where a task stands
//! (pending, running, finished, error, cancelled), `done()` whether it ended,
//! `result()` waits for the value, `result_timeout(d)` gives up after `d` (the task
//! goes on), `result_shared()` hands out the stored value without copying it, and
//! `exception()` the error of a failed task.
//!
//! Dask:
//! ```python
//! fut.status            # 'pending', 'finished', 'error', 'cancelled'
//! fut.done()
//! fut.result(timeout=0.02)   # raises TimeoutError; the task goes on
//! fut.exception(); fut.traceback()
//! ```
//! taskweave: `status()`, `done()`, `result()`, `result_timeout(d)`,
//! `result_shared()`, `exception()`.
//!
//! Run: `cargo run --release --example 14_futures_results_and_status`

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taskweave::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Task panics are expected below: print them as one short line.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .unwrap_or("(not a string)");
        eprintln!("(a task panicked: {message})");
    }));

    // One thread, so that what runs and what waits is certain.
    let client = Client::builder().threads(1).build()?;

    // A task that tells us when it starts, then waits for a go.
    let (started_tx, started) = mpsc::channel();
    let (go, go_rx) = mpsc::channel::<()>();
    let (started_tx, go_rx) = (Mutex::new(started_tx), Mutex::new(go_rx));
    let slow = client
        .task(move || {
            started_tx.lock().unwrap().send(()).unwrap();
            go_rx.lock().unwrap().recv().unwrap();
            42u64
        })
        .named("slow")
        .submit(());
    started.recv()?;
    let queued = client.submit(|| 7u64, ()); // the only thread is busy
    println!(
        "slow: {:?}, queued: {:?}, done: {} {}",
        slow.status(),
        queued.status(),
        slow.done(),
        queued.done()
    );

    // result_timeout gives up; the task goes on.
    let start = Instant::now();
    match slow.result_timeout(Duration::from_millis(20)) {
        Ok(v) => println!("unexpected: {v}"),
        Err(e) => println!(
            "result_timeout(20 ms) after {:.0} ms: {e}",
            start.elapsed().as_secs_f64() * 1e3
        ),
    }
    println!("still: {:?}", slow.status());
    go.send(())?;
    println!(
        "after the go: slow = {}, queued = {}; statuses {:?}, {:?}",
        slow.result()?,
        queued.result()?,
        slow.status(),
        queued.status()
    );

    // result() clones the value; result_shared() hands out the stored one.
    let big = client.submit(|| vec![1u8; 8 << 20], ());
    let first: Arc<Vec<u8>> = big.result_shared()?;
    let second = big.result_shared()?;
    let start = Instant::now();
    let copy: Vec<u8> = big.result()?;
    let copy_time = start.elapsed();
    println!(
        "8 MB result: result_shared twice, same buffer: {}; result() made a copy in {:.2} ms ({} bytes)",
        Arc::ptr_eq(&first, &second),
        copy_time.as_secs_f64() * 1e3,
        copy.len()
    );

    // A task that fails: status Error, the error names the task and where it was
    // submitted; a task that depends on it fails with the same error.
    let bad = client
        .task(|| -> u64 { panic!("sensor offline") })
        .named("read_sensor")
        .submit(());
    let after = client.submit(|x: u64| x + 1, (&bad,));
    match bad.result() {
        Ok(v) => println!("unexpected: {v}"),
        Err(e) => println!("failed: {e}"),
    }
    // `exception()` waits for the task, as Dask's does: `Ok(None)` had it finished.
    if let Ok(Some(error)) = bad.exception() {
        println!(
            "  status {:?}; exception: task {:?}, message {:?}, call site {}",
            bad.status(),
            error.task(),
            error.message(),
            error.call_site()
        );
    }
    println!(
        "  its dependent: {:?}, {}",
        after.status(),
        after.result().err().map_or("?".into(), |e| e.to_string())
    );

    // Cancelled: cancel() before it ran.
    let (go, go_rx) = mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let blocker = client.submit(move || go_rx.lock().unwrap().recv().unwrap(), ());
    let never = client.task(|| 1u64).named("never").submit(());
    never.cancel();
    go.send(())?;
    blocker.result()?;
    println!(
        "cancelled: {:?}, {}",
        never.status(),
        never.result().err().map_or("?".into(), |e| e.to_string())
    );
    Ok(())
}
