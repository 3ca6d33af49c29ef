//! Topic 12: best practices, measured. Dask's guides (delayed best practices, and
//! "Avoid very large graphs") give rules of thumb; this example measures them on
//! taskweave, on this machine:
//!
//! 1. Task size versus overhead: when is a task too small? Every task costs the
//!    scheduler something; Dask's docs put it at 200 µs to 1 ms per task, so Dask
//!    tasks should take well over that. Here: parallel efficiency for tasks of 0.1,
//!    1, 10 and 100 µs on the static graph, the dynamic graph and futures.
//! 2. Don't call compute in a loop (Dask: "Compute on lots of computation at once").
//! 3. Batch tiny items into fewer, larger tasks (Dask: "Avoid too many tasks").
//! 4. Huge graphs: Dask's cost per task grows with the graph ("Avoid very large
//!    graphs"); here, the cost per node as the graph grows from 10^3 to 10^5.
//!
//! Others are shown elsewhere: pure calls deduplicated (06), compute several outputs
//! together and persist (07), don't mutate inputs (10: a compile error), tree
//! reductions (11), scatter large inputs once (19).
//!
//! Run: `cargo run --release --example 12_best_practices` (a debug build runs smaller
//! sizes, and its overheads are those of unoptimized code).

use std::hint::black_box;
use std::time::{Duration, Instant};

use taskweave::prelude::*;

/// `iters` steps of a hash: work whose length does not depend on the clock.
fn spin(iters: u64, seed: u64) -> u64 {
    let mut h = seed | 1;
    for _ in 0..iters {
        h = black_box(h.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17));
    }
    h
}

#[delayed]
fn work(seed: u64, iters: u64) -> u64 {
    spin(iters, seed)
}

#[delayed]
fn add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}

fn wrapping_sum(v: &[u64]) -> u64 {
    v.iter().fold(0u64, |a, &b| a.wrapping_add(b))
}

/// Sums many nodes: a sum per group of 64, then a sum of the groups (two levels: the
/// groups are summed in parallel, and no one task holds every input at once).
fn sum_in_groups(leaves: &[Delayed<u64>]) -> Delayed<u64> {
    let sum = delayed(|v: Vec<u64>| wrapping_sum(&v));
    let groups: Vec<Delayed<u64>> = leaves.chunks(64).map(|g| sum.call(g.to_vec())).collect();
    sum.call(groups)
}

/// `spin` steps per microsecond on this machine, in this build (the fastest of 5).
fn steps_per_micro() -> f64 {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            black_box(spin(200_000, 7));
            200_000.0 / (start.elapsed().as_secs_f64() * 1e6)
        })
        .fold(0.0, f64::max)
}

/// The fastest of `rounds` runs of `f`, and its result.
fn best_of<R>(rounds: usize, mut f: impl FnMut() -> R) -> (Duration, R) {
    let mut best = Duration::MAX;
    let mut result = None;
    for _ in 0..rounds {
        let start = Instant::now();
        result = Some(f());
        best = best.min(start.elapsed());
    }
    (best, result.expect("at least one round"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let release = !cfg!(debug_assertions);
    // Each figure is the fastest of `rounds` runs: the least disturbed by whatever
    // else the machine is doing.
    let rounds = if release { 5 } else { 3 };
    let threads = 2;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let client = Client::builder().threads(threads).build()?;
    let per_micro = steps_per_micro();
    println!(
        "{} build, {threads} threads, {} cores, fastest of {rounds} runs",
        if release { "release" } else { "debug" },
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    // Other programs running at the same time lower every figure below (Linux only).
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let one_minute = load.split_whitespace().next().unwrap_or("?");
        println!("load average (runnable threads, last minute): {one_minute}");
    }

    // ── 1. Task size versus overhead ────────────────────────────────────────────────
    // A static graph of 64 work tasks (computed many times, from inside the pool),
    // a dynamic graph (built and computed), and futures (map + gather), against a
    // plain loop doing the same work. Efficiency = loop time / (threads × time):
    // 100% is a perfect split over the threads.
    let static_graph = graph!(|x: u64, iters: u64| -> u64 {
        let mut acc = work(x, iters);
        for i in 1..64 {
            acc = add(acc, work(x + i, iters));
        }
        acc
    });
    let total_work_us = if release { 20_000.0 } else { 4_000.0 };
    let max_tasks = if release { 50_000 } else { 4_096 };
    // The loop, then each engine on `pool` / `client`: the fastest of 3 runs each.
    let run_all = |pool: &rayon::ThreadPool, client: &Client, iters: u64, n: u64| {
        let (seq, expected) = best_of(rounds, || {
            (0..n).fold(0u64, |a, s| a.wrapping_add(spin(iters, s)))
        });
        let (stat, v) = best_of(rounds, || {
            pool.install(|| {
                (0..n / 64).fold(0u64, |a, r| {
                    a.wrapping_add(static_graph.compute(r * 64, iters))
                })
            })
        });
        assert_eq!(v, expected);
        let (dynamic, v) = best_of(rounds, || {
            let leaves: Vec<Delayed<u64>> = (0..n).map(|s| delay!(work(s, iters))).collect();
            let total = sum_in_groups(&leaves);
            pool.install(|| total.compute())
        });
        assert_eq!(v, expected);
        let (futures, v) = best_of(rounds, || {
            let futures = client.map(move |s: u64| spin(iters, s), 0..n);
            wrapping_sum(&client.gather(&futures).expect("no task fails"))
        });
        assert_eq!(v, expected);
        [seq, stat, dynamic, futures]
    };
    println!("1. task size vs overhead (efficiency = loop time / ({threads} x time)):");
    println!("   task size   tasks       loop   graph! (static)   Delayed (dynamic)   futures");
    for size_us in [0.1, 1.0, 10.0, 100.0] {
        let iters = ((size_us * per_micro) as u64).max(1);
        let tasks = ((total_work_us / size_us) as usize).clamp(64, max_tasks) / 64 * 64;
        let [seq, stat, dynamic, futures] = run_all(&pool, &client, iters, tasks as u64);
        let eff = |t: Duration| 100.0 * seq.as_secs_f64() / (threads as f64 * t.as_secs_f64());
        println!(
            "   {size_us:>6} µs {tasks:>7} {:>8.2} ms {:>8.2} ms {:>4.0}% {:>10.2} ms {:>4.0}% {:>8.2} ms {:>4.0}%",
            ms(seq),
            ms(stat),
            eff(stat),
            ms(dynamic),
            eff(dynamic),
            ms(futures),
            eff(futures)
        );
    }
    // The cost per task itself: the smallest tasks on ONE thread, where nothing runs
    // in parallel and everything above the loop's time is the engine's.
    let one_pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let one_client = Client::builder().threads(1).build()?;
    let iters = ((0.1 * per_micro) as u64).max(1);
    let n = (max_tasks / 64 * 64) as u64;
    let [seq, stat, dynamic, futures] = run_all(&one_pool, &one_client, iters, n);
    let cost = |t: Duration| ((t.as_secs_f64() - seq.as_secs_f64()) / n as f64 * 1e9).max(0.0);
    let (s, d, f) = (cost(stat), cost(dynamic), cost(futures));
    println!(
        "   overhead per task, 0.1 µs tasks on 1 thread, (time - loop time) / tasks: static {s:.0} ns ({:.0} ns per node: each task comes with an add node), dynamic {d:.0} ns, futures {f:.0} ns",
        s / 2.0
    );
    println!(
        "   => for 90% of the time in the work, a task should take 9x that or more: static >= {:.1} µs, dynamic >= {:.1} µs, futures >= {:.1} µs",
        s * 9.0 / 1e3,
        d * 9.0 / 1e3,
        f * 9.0 / 1e3
    );

    // ── 2. compute in a loop versus one compute ─────────────────────────────────────
    // Each compute waits for its result before the loop builds the next graph, so the
    // tasks run one at a time. CPU tasks of 10 µs on the 2-thread pool, then tasks
    // that wait 1 ms (I/O) on a pool of 8 threads.
    let iters = (10.0 * per_micro) as u64;
    let items = if release { 400 } else { 100 };
    let nodes: Vec<Delayed<u64>> = (0..items).map(|s| delay!(work(s, iters))).collect();
    let (in_loop, a) = best_of(rounds, || {
        pool.install(|| {
            nodes
                .iter()
                .map(|node| node.compute())
                .collect::<Vec<u64>>()
        })
    });
    let (once, b) = best_of(rounds, || {
        pool.install(|| taskweave::compute(nodes.as_slice()))
    });
    assert_eq!(a, b);
    println!(
        "2. {items} tasks of 10 µs CPU, {threads} threads: compute() in a loop {:.2} ms, one taskweave::compute {:.2} ms ({:.1}x)",
        ms(in_loop),
        ms(once),
        in_loop.as_secs_f64() / once.as_secs_f64()
    );
    let io_pool = rayon::ThreadPoolBuilder::new().num_threads(8).build()?;
    let request = delayed(|i: u64| {
        std::thread::sleep(Duration::from_millis(1));
        i
    });
    let nodes: Vec<Delayed<u64>> = (0..32).map(|i| request.call(i)).collect();
    let (in_loop, a) = best_of(1, || {
        io_pool.install(|| {
            nodes
                .iter()
                .map(|node| node.compute())
                .collect::<Vec<u64>>()
        })
    });
    let (once, b) = best_of(1, || {
        io_pool.install(|| taskweave::compute(nodes.as_slice()))
    });
    assert_eq!(a, b);
    println!(
        "   32 tasks waiting 1 ms, 8 threads: compute() in a loop {:.2} ms, one taskweave::compute {:.2} ms ({:.1}x)",
        ms(in_loop),
        ms(once),
        in_loop.as_secs_f64() / once.as_secs_f64()
    );

    // ── 3. Batching ──────────────────────────────────────────────────────────────────
    let iters = ((0.1 * per_micro) as u64).max(1);
    let items: u64 = if release { 100_000 } else { 5_000 };
    let (one_each, a) = best_of(rounds, || {
        let leaves: Vec<Delayed<u64>> = (0..items).map(|s| delay!(work(s, iters))).collect();
        let total = sum_in_groups(&leaves);
        pool.install(|| total.compute())
    });
    let batch = 1_000.min(items / 8);
    let (batched, b) = best_of(rounds, || {
        let batches: Vec<Delayed<u64>> = (0..items / batch)
            .map(|k| {
                delayed(move |k: u64| {
                    (k * batch..(k + 1) * batch).fold(0u64, |a, s| a.wrapping_add(spin(iters, s)))
                })
                .call(k)
            })
            .collect();
        let total = delayed(|v: Vec<u64>| wrapping_sum(&v)).call(batches);
        pool.install(|| total.compute())
    });
    assert_eq!(a, b);
    println!(
        "3. {items} items of 0.1 µs: one task each {:.2} ms, {} tasks of {batch} items {:.2} ms ({:.1}x)",
        ms(one_each),
        items / batch,
        ms(batched),
        one_each.as_secs_f64() / batched.as_secs_f64()
    );

    // ── 4. Graph size: cost per node of building and running a trivial fan-in ───────
    let sizes: &[u64] = if release {
        &[1_000, 10_000, 100_000]
    } else {
        &[1_000, 4_000]
    };
    let mut line = String::from("4. build + compute + drop, trivial tasks, per node:");
    for &n in sizes {
        let (t, v) = best_of(rounds, || {
            let leaves: Vec<Delayed<u64>> = (0..n).map(|s| delay!(add(s, 1))).collect();
            let total = tree_reduce(leaves, u64::wrapping_add);
            pool.install(|| total.compute())
        });
        assert_eq!(v, n * (n + 1) / 2);
        line += &format!(
            " {n} leaves {:.0} ns",
            t.as_secs_f64() * 1e9 / (2 * n - 1) as f64
        );
        line += if n == *sizes.last().unwrap_or(&0) {
            ""
        } else {
            ";"
        };
    }
    println!("{line}");
    println!("   (Dask: 200 µs-1 ms per task, growing with the graph; see BENCHMARKS.md)");
    Ok(())
}
