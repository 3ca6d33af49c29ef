//! The task stream (Dask's `Profiler`): profile a run, write a Chrome trace that
//! Perfetto (https://ui.perfetto.dev) or `chrome://tracing` opens, print the
//! per-function summary, then measure what profiling costs per task.
//!
//! Run: `cargo run --release --example profile`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskweave::prelude::*;
use taskweave::{Observer, Profiler, Progress, RunOptions};

/// Loads one partition of a data set (here: made up).
#[delayed]
fn load(part: u32) -> Vec<f64> {
    (0..50_000).map(|i| f64::from(part * 7 + i % 97)).collect()
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

#[delayed]
fn step(x: u64) -> u64 {
    x.wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
}

fn main() {
    // 1. Profile a run.
    let parts: Vec<Delayed<Vec<f64>>> = (0..32).map(|i| delay!(clean(delay!(load(i))))).collect();
    let result = delay!(total(parts));
    let profiler = Arc::new(Profiler::new());
    let value = result
        .try_compute_with(RunOptions::new().observer(profiler.clone()))
        .expect("no task fails");
    println!("result: {value}");

    let path = std::env::temp_dir().join("taskweave-profile.json");
    profiler.write_chrome_trace(&path).expect("write the trace");
    println!(
        "trace: {} ({} task runs; open it in https://ui.perfetto.dev or chrome://tracing)",
        path.display(),
        profiler.records().len()
    );
    println!();
    print!("{}", profiler.summary());
    println!();

    // 2. What recording costs, per task.
    overhead();
}

/// Times computes without an observer, with a `Profiler` and with a hidden `Progress`
/// (the counter behind every bar), and prints the difference per task.
fn overhead() {
    if cfg!(debug_assertions) {
        println!("(timings below are from a debug build: use --release)");
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a pool");

    // A dynamic fan-in of 10,000 trivial tasks, laid out once, on the pool.
    let leaves: Vec<Delayed<u64>> = (0..10_000u64)
        .map(|i| delayed(|x: u64| x.wrapping_mul(31) ^ (x >> 3)).call(i))
        .collect();
    let sum = delayed(|v: Vec<u64>| v.iter().fold(0u64, |a, &b| a.wrapping_add(b))).call(leaves);
    let mut prepared = taskweave::prepare((&sum,));
    let nodes = prepared.len();
    let mut dynamic = |options: &RunOptions| {
        pool.install(|| {
            black_box(
                prepared
                    .try_compute_with(options.clone())
                    .expect("no task fails"),
            );
        })
    };
    let what = format!("dynamic fan-in, {threads} threads");
    report(&what, nodes, 50, &mut dynamic);

    // A static chain of 64 steps (it runs on the calling thread: no parallelism).
    let chain = graph!(|x: u64| -> u64 {
        let mut y = step(x);
        for _ in 0..63 {
            y = step(y);
        }
        y
    });
    let mut x = 1u64;
    let mut static_chain = |options: &RunOptions| {
        for _ in 0..100 {
            x = chain.compute_with(options.clone(), black_box(x));
        }
    };
    report(
        "static chain of 64, 100 computes",
        chain.len() * 100,
        200,
        &mut static_chain,
    );
}

/// Runs `run` `rounds` times in each mode, interleaved, and prints the median time per
/// task of each mode and its difference from no observer.
fn report(what: &str, tasks: usize, rounds: usize, run: &mut dyn FnMut(&RunOptions)) {
    let profiler = Arc::new(Profiler::new());
    let progress = Arc::new(Progress::hidden());
    let modes: [(&str, Option<Arc<dyn Observer>>); 3] = [
        ("no observer", None),
        ("profiler", Some(profiler.clone())),
        ("progress (hidden)", Some(progress)),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); modes.len()];
    for round in 0..rounds + 3 {
        for (m, (_, observer)) in modes.iter().enumerate() {
            let options = match observer {
                Some(o) => RunOptions::new().observer(o.clone()),
                None => RunOptions::new(),
            };
            let start = Instant::now();
            run(&options);
            let took = start.elapsed();
            profiler.clear();
            if round >= 3 {
                times[m].push(took);
            }
        }
    }
    println!("{what}: {tasks} tasks per round, median of {rounds} rounds");
    let per_task: Vec<f64> = times
        .iter_mut()
        .map(|t| {
            t.sort();
            t[t.len() / 2].as_nanos() as f64 / tasks as f64
        })
        .collect();
    for ((name, _), ns) in modes.iter().zip(&per_task) {
        println!(
            "  {name:<18} {ns:>8.1} ns/task  (overhead {:>+6.1} ns/task)",
            ns - per_task[0]
        );
    }
}
