//! Topic 16: errors, cancelling, waiting, fire-and-forget, and releasing results.
//!
//! Dask:
//! ```python
//! fut.result()                          # re-raises the task's exception
//! client.submit(flaky, retries=3)
//! fut.cancel()                          # a running task is not stopped (dask#1183)
//! done, not_done = wait(futs, return_when="FIRST_COMPLETED", timeout=1)
//! fire_and_forget(client.submit(log_event))
//! del fut                               # the last reference gone: the result is released
//! ```
//! taskweave: `result()` returns `FutureError::Task` naming the task and its call
//! site; `client.task(f).retries(3)`; `cancel()` (a running task can stop early by
//! polling `taskweave::cancelled()`); `wait(&futs, WaitMode::FirstCompleted,
//! Some(timeout))`; `client.fire_and_forget(fut)`; `drop(fut)`.
//!
//! Run: `cargo run --release --example 16_errors_cancel_wait_forget`

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskweave::prelude::*;

/// Counts drops, to see when a result is released.
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// Polls `cond` every millisecond for up to ten seconds.
fn eventually(cond: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if cond() {
            return true;
        }
        sleep_ms(1);
    }
    false
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Task panics are expected below: print them as one short line.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        eprintln!("(a task panicked: {message})");
    }));
    let client = Client::builder().threads(2).build()?;

    // 1. Errors: the task's panic, named, with where it was submitted.
    let parse = |s: String| -> i64 { s.parse().unwrap_or_else(|_| panic!("not a number: {s:?}")) };
    let bad = client
        .task(parse)
        .named("parse")
        .submit(("x1".to_string(),));
    let doubled = client.submit(|v: i64| v * 2, (&bad,));
    match doubled.result() {
        Ok(v) => println!("unexpected: {v}"),
        Err(FutureError::Task(error)) => println!(
            "1. error: task {:?} failed with {:?} (at {}); its dependent: {:?}",
            error.task(),
            error.message(),
            error.call_site(),
            doubled.status()
        ),
        Err(other) => println!("unexpected: {other}"),
    }

    // 2. Retries: a task that fails twice, then works.
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let flaky = client
        .task(move || {
            if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                panic!("connection reset");
            }
            "ok"
        })
        .named("flaky")
        .retries(3)
        .submit(());
    println!(
        "2. retries(3): {:?} after {} attempts",
        flaky.result()?,
        attempts.load(Ordering::SeqCst)
    );

    // 3. Cancel: a running task that polls for cancellation stops early; a pending one
    //    never runs; dependents are cancelled too.
    let steps = Arc::new(AtomicUsize::new(0));
    let counter = steps.clone();
    let long = client
        .task(move || {
            // One second of work in 1 ms steps, unless cancelled.
            for _ in 0..1_000 {
                if taskweave::cancelled() {
                    return -1;
                }
                counter.fetch_add(1, Ordering::SeqCst);
                sleep_ms(1);
            }
            1
        })
        .named("long")
        .submit(());
    let after_long = client.submit(|v: i64| v + 1, (&long,));
    let blocker = client.submit(|| sleep_ms(30), ());
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let pending = client
        .task(move || flag.store(true, Ordering::SeqCst))
        .named("pending")
        .submit(());
    sleep_ms(10);
    long.cancel();
    pending.cancel();
    // The task sees the cancellation at its next poll and returns.
    let seen = steps.load(Ordering::SeqCst);
    sleep_ms(5);
    let stopped = steps.load(Ordering::SeqCst) <= seen + 1;
    blocker.result()?;
    client.submit(|| (), ()).result()?; // the pool has moved past `pending`
    println!(
        "3. cancel: long {:?}, stopped after {} of 1000 steps ({stopped}); dependent {:?}; pending {:?}, ran: {}",
        long.status(),
        steps.load(Ordering::SeqCst),
        after_long.status(),
        pending.status(),
        ran.load(Ordering::SeqCst)
    );

    // 4. wait: the first to finish, or all, with a timeout.
    let futures: Vec<Future<u64>> = [40, 5, 20]
        .into_iter()
        .map(|ms| {
            client.submit(
                move |ms: u64| {
                    sleep_ms(ms);
                    ms
                },
                (ms,),
            )
        })
        .collect();
    let start = Instant::now();
    let (done, not_done) = wait(&futures, WaitMode::FirstCompleted, None);
    println!(
        "4. wait FirstCompleted: {} done ({:?}), {} not done, after {:.0} ms",
        done.len(),
        done.iter()
            .map(|f| f.result())
            .collect::<Result<Vec<_>, _>>()?,
        not_done.len(),
        start.elapsed().as_secs_f64() * 1e3
    );
    let (done, not_done) = wait(
        &futures,
        WaitMode::AllCompleted,
        Some(Duration::from_millis(2)),
    );
    println!(
        "   wait AllCompleted, 2 ms timeout: {} done, {} not done",
        done.len(),
        not_done.len()
    );
    let (done, not_done) = wait(&futures, WaitMode::AllCompleted, None);
    println!(
        "   wait AllCompleted: {} done, {} not done, after {:.0} ms",
        done.len(),
        not_done.len(),
        start.elapsed().as_secs_f64() * 1e3
    );

    // 5. fire_and_forget: no handle is kept, the task still runs.
    let logged = Arc::new(AtomicBool::new(false));
    let flag = logged.clone();
    let event = client.submit(
        move || {
            sleep_ms(5);
            flag.store(true, Ordering::SeqCst);
        },
        (),
    );
    client.fire_and_forget(event); // the handle is gone
    println!(
        "5. fire_and_forget: the task ran without a handle: {}",
        eventually(|| logged.load(Ordering::SeqCst))
    );

    // 6. Dropping the last handle (Dask's `del fut`): a finished result is freed, a
    //    pending task is cancelled.
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let held = client.submit(move || Tracked(d.clone()), ());
    held.result_shared()?;
    let copy = held.clone();
    drop(held);
    let after_one = drops.load(Ordering::SeqCst);
    drop(copy);
    println!(
        "6. drop: result freed after dropping one of two handles: {}; after the last: {}",
        after_one == 1,
        eventually(|| drops.load(Ordering::SeqCst) == 1)
    );
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let blocker = client.submit(|| sleep_ms(20), ());
    let blocker2 = client.submit(|| sleep_ms(20), ());
    let queued = client.submit(move || flag.store(true, Ordering::SeqCst), ());
    drop(queued);
    blocker.result()?;
    blocker2.result()?;
    client.submit(|| (), ()).result()?;
    println!(
        "   a pending task whose last handle was dropped ran: {}",
        ran.load(Ordering::SeqCst)
    );
    Ok(())
}
