//! Topic 20: debugging. Find the task that failed (its name, the line that created
//! it, its message), rerun everything on the calling thread in order (where a
//! debugger, a backtrace and `println!` work as usual), and see where the time went
//! (a per-function profile, a task-stream trace, a progress counter).
//!
//! Dask:
//! ```python
//! dask.config.set(scheduler="synchronous")   # single thread, pdb works
//! total.compute()                            # the exception, re-raised
//! with Profiler() as prof: total.compute()   # dask.diagnostics; or the dashboard
//! with ProgressBar(): total.compute()
//! ```
//! taskweave: `try_compute()` → `TaskError { task, call_site, message }`;
//! `try_compute_with(Scheduler::Sync)` or `TASKWEAVE_SCHEDULER=sync` without changing
//! code; `Profiler` (summary, Chrome trace for Perfetto); `Progress`. More in
//! `docs::debugging` and `cargo run --example debugging`.
//!
//! Run: `cargo run --release --example 20_debugging`

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use taskweave::prelude::*;
use taskweave::{Profiler, Progress, RunOptions};

/// The threads that ran a `parse`.
static THREADS: Mutex<Option<HashSet<ThreadId>>> = Mutex::new(None);

fn threads_seen() -> usize {
    THREADS.lock().unwrap().take().map_or(0, |seen| seen.len())
}

/// Parses one line; panics on a bad one.
#[delayed]
fn parse(line: String) -> i64 {
    THREADS
        .lock()
        .unwrap()
        .get_or_insert_with(HashSet::new)
        .insert(std::thread::current().id());
    std::thread::sleep(Duration::from_micros(200));
    line.trim()
        .parse()
        .unwrap_or_else(|e| panic!("cannot parse {line:?}: {e}"))
}

#[delayed]
fn sum(values: Vec<i64>) -> i64 {
    values.iter().sum()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Task panics are expected below: print them as one short line.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        eprintln!("(a task panicked: {message})");
    }));

    let lines: Vec<String> = (1..=40)
        .map(|i| {
            if i == 23 {
                "x23".to_string()
            } else {
                i.to_string()
            }
        })
        .collect();
    let parts: Vec<Delayed<i64>> = lines.iter().map(|l| delay!(parse(l.clone()))).collect();
    let total = delay!(sum(parts));

    // 1. Which task failed, where it was written, and why.
    println!(
        "1. scheduler: {:?} (TASKWEAVE_SCHEDULER=sync switches every run to Sync)",
        RunOptions::new().effective_scheduler()
    );
    let error = total.try_compute().expect_err("line 23 is not a number");
    println!("   error: {error}");
    println!(
        "   task {:?}, call site {}, message {:?}; threads that ran parse: {}",
        error.task(),
        error.call_site(),
        error.message(),
        threads_seen()
    );

    // 2. The same run on the calling thread, in order: a breakpoint in `parse` (or
    //    `break rust_panic` in gdb/lldb) stops with `main` on the stack.
    let error = total
        .try_compute_with(Scheduler::Sync)
        .expect_err("still not a number");
    println!(
        "2. Scheduler::Sync: {}; threads that ran parse: {}, the calling thread ({:?})",
        error.message(),
        threads_seen(),
        std::thread::current().name().unwrap_or("?")
    );

    // 3. Fixed input; where did the time go? A profile of every task run.
    let parts: Vec<Delayed<i64>> = (1..=40).map(|i| delay!(parse(i.to_string()))).collect();
    let total = delay!(sum(parts));
    let profiler = Arc::new(Profiler::new());
    let value = total.try_compute_with(RunOptions::new().observer(profiler.clone()))?;
    threads_seen();
    let path = std::env::temp_dir().join("taskweave-course-20-trace.json");
    profiler.write_chrome_trace(&path)?;
    println!(
        "3. total = {value}; profile of {} task runs (trace: {}, open it in ui.perfetto.dev):",
        profiler.records().len(),
        path.display()
    );
    print!("{}", profiler.summary());

    // 4. Progress, counted (Progress::new() draws a bar on stderr as well).
    let progress = Progress::hidden();
    total.try_compute_with(RunOptions::new().observer(Arc::new(progress.clone())))?;
    println!(
        "4. progress: {} of {} tasks done, {} failed",
        progress.done(),
        progress.total(),
        progress.failed()
    );

    // 5. A static graph reports the same: the task and its line in graph!.
    let job = graph!(|a: String, b: String| -> i64 {
        let x = parse(a);
        let y = parse(b);
        sum(vec![x, y])
    });
    let error = job
        .try_compute_with(Scheduler::Sync, "7".into(), "seven".into())
        .expect_err("seven is not a number");
    println!("5. graph!: {error}");
    Ok(())
}
