//! Debugging a failing task: `try_compute` returns a `TaskError` naming the task and
//! where it was written; the same run on the synchronous scheduler runs every task on
//! the calling thread, in order, where a debugger or a backtrace can follow it.
//!
//! Run: `cargo run --example debugging`; then, without changing the code,
//! `TASKWEAVE_SCHEDULER=sync cargo run --example debugging` runs the first compute
//! synchronously too.

use taskweave::prelude::*;
use taskweave::RunOptions;

/// Parses one line; panics on a bad one.
#[delayed]
fn parse(line: String) -> i64 {
    let thread = std::thread::current();
    println!(
        "  parse({line:?}) on thread {:?}",
        thread.name().unwrap_or("<pool worker>")
    );
    line.trim()
        .parse()
        .unwrap_or_else(|e| panic!("cannot parse {line:?}: {e}"))
}

#[delayed]
fn sum(values: Vec<i64>) -> i64 {
    values.iter().sum()
}

fn main() {
    let lines = ["1", "2", "x", "4"];
    let parts: Vec<Delayed<i64>> = lines.iter().map(|l| delay!(parse(l.to_string()))).collect();
    let total = delay!(sum(parts));

    // The scheduler a plain compute uses: `Threads`, or `Sync` when
    // TASKWEAVE_SCHEDULER=sync is set.
    println!(
        "1. try_compute (scheduler: {:?})",
        RunOptions::new().effective_scheduler()
    );
    match total.try_compute() {
        Ok(v) => println!("total: {v}"),
        Err(error) => {
            println!("  failed: {error}");
            println!("  task:      {}", error.task());
            println!("  call site: {}", error.call_site());
            println!("  message:   {}", error.message());
        }
    }

    // The same run on the calling thread, in topological order: a breakpoint in
    // `parse` (or `break rust_panic` in gdb/lldb) stops with `main` on the stack, and
    // RUST_BACKTRACE=1 prints the path from `main` to the failing task.
    println!("2. try_compute_with(Scheduler::Sync)");
    let error = total
        .try_compute_with(Scheduler::Sync)
        .expect_err("the third line is not a number");
    println!("  failed: {error}");

    // A static graph reports the same: the task and its line in `graph!`.
    let job = graph!(|a: String, b: String| -> i64 {
        let x = parse(a);
        let y = parse(b);
        sum(vec![x, y])
    });
    println!("3. a static graph");
    let error = job
        .try_compute_with(Scheduler::Sync, "7".into(), "seven".into())
        .expect_err("seven is not a number");
    println!("  failed: {error}");
}
