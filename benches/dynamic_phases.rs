//! Where a dynamic graph's time goes, per node: build (`delay!` in a loop), prepare
//! (`taskweave::prepare`: the plan and the arena), run (`Prepared::compute`), drop of
//! the prepared graph, drop of the graph; medians of many runs, ns per node.
//!
//! ```sh
//! cargo run --release -p taskweave-benches --example dynamic_phases -- fan_in 10000 200
//! cargo run --release -p taskweave-benches --example dynamic_phases -- chain 10000 200
//! cargo run --release -p taskweave-benches --example dynamic_phases -- wavefront 10000 200
//! ```
//!
//! Arguments: the shape (`fan_in`: `n` leaves summed pairwise, `2n − 1` nodes; `chain`:
//! `n` nodes; `wavefront`: a `√n × √n` grid; `parallel`: `n` leaves, each an output of
//! one compute, as `bench_report`'s; `binary_tree`: `2^k − 1 ≤ n` nodes, its leaves the
//! outputs), `n`, and the number of runs. With
//! `ONLY=prepare` or `ONLY=run` in the environment it builds one graph and repeats only
//! that phase, with `ONLY=build` it builds and drops graphs only (for `perf record`). Threads: rayon's global pool (`RAYON_NUM_THREADS`).
//! With `IN_POOL=1` everything runs on a thread of a pool of as many threads (a
//! compute entered from outside the pool hands its run to the pool and waits for it:
//! two thread wake-ups per compute); with `IN_POOL=each`, each graph is built,
//! computed and dropped in a `pool.install` of its own, as `bench_report`'s runs are
//! (`entering the pool`: the time outside the install's body).

use std::hint::black_box;
use std::time::Instant;

use taskweave::prelude::*;

#[path = "support/fan_in.rs"]
mod fan_in;
use fan_in::{add, build_fan_in as fan_in, inc};

fn chain(n: u64) -> Delayed<u64> {
    let mut x = delay!(inc(0));
    for _ in 1..n {
        x = delay!(inc(x));
    }
    x
}

fn wavefront(n: u64) -> Delayed<u64> {
    let side = (n as f64).sqrt() as usize;
    let mut row: Vec<Delayed<u64>> = (0..side).map(|_| delay!(inc(0))).collect();
    for _ in 1..side {
        // As `bench_report`'s: the row above is read for the last time (its cells
        // are moved), the left neighbour lent (read again by the next row).
        let mut above = std::mem::replace(&mut row, Vec::with_capacity(side)).into_iter();
        let first = above.next().expect("side > 0");
        row.push(delay!(inc(first)));
        for up in above {
            let left = row.last().expect("a cell");
            let cell = delay!(add(up, left));
            row.push(cell);
        }
    }
    row.pop().expect("side > 0")
}

/// A binary tree of `n` nodes (rounded down to `2^k − 1`), each node read by two
/// children, its leaves the outputs of one compute: as `bench_report`'s.
fn binary_tree(n: u64) -> Vec<Delayed<u64>> {
    let mut level = vec![delay!(inc(0))];
    let mut nodes = 1;
    while nodes + 2 * level.len() as u64 <= n {
        nodes += 2 * level.len() as u64;
        level = level
            .into_iter()
            .flat_map(|x| [delay!(inc(x.clone())), delay!(inc(x))])
            .collect();
    }
    level
}

/// `n` leaves, computed together: the outputs of one compute.
fn parallel(n: u64) -> Vec<Delayed<u64>> {
    (0..n).map(|i| delay!(inc(i))).collect()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let shape = args.first().map_or("fan_in", String::as_str);
    let n: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200);
    match std::env::var("IN_POOL").as_deref() {
        // As `bench_report`'s runs: each graph built, computed and dropped in a
        // `pool.install` of its own, entered from this thread (`enter` is the time
        // outside the install's body).
        Ok("each") => {
            let pool = rayon::ThreadPoolBuilder::new().build().expect("a pool");
            measure(shape, n, runs, Some(&pool));
        }
        // Everything on one thread of the pool.
        Ok(_) => rayon::ThreadPoolBuilder::new()
            .build()
            .expect("a pool")
            .install(|| measure(shape, n, runs, None)),
        Err(_) => measure(shape, n, runs, None),
    }
}

/// Times the phases of `runs` graphs of `shape` (or one phase: see `ONLY`).
fn measure(shape: &str, n: u64, runs: usize, each: Option<&rayon::ThreadPool>) {
    // Every shape as the outputs of one compute (one output but for `parallel`).
    let build = || match shape {
        "chain" => vec![chain(n)],
        "wavefront" => vec![wavefront(n)],
        "fan_in" => vec![fan_in(n)],
        "parallel" => parallel(n),
        "binary_tree" => binary_tree(n),
        other => panic!("unknown shape {other}: fan_in, chain, wavefront, binary_tree or parallel"),
    };
    match std::env::var("ONLY").as_deref() {
        Ok("prepare") => {
            let graph = build();
            let nodes = taskweave::prepare(graph.as_slice()).len() as f64;
            let start = Instant::now();
            for _ in 0..runs {
                drop(black_box(taskweave::prepare(graph.as_slice())));
            }
            let ns = start.elapsed().as_nanos() as f64 / runs as f64 / nodes;
            println!("{shape} n={n}: prepare only {ns:.1} ns per node");
            return;
        }
        Ok("run") => {
            let graph = build();
            let mut prepared = taskweave::prepare(graph.as_slice());
            let nodes = prepared.len() as f64;
            let start = Instant::now();
            for _ in 0..runs {
                black_box(prepared.compute());
            }
            let ns = start.elapsed().as_nanos() as f64 / runs as f64 / nodes;
            println!("{shape} n={n}: run only {ns:.1} ns per node");
            return;
        }
        Ok("build") => {
            // Build and drop only: the graph's drop is timed with its build.
            let graph = build();
            let nodes = taskweave::prepare(graph.as_slice()).len() as f64;
            drop(graph);
            let start = Instant::now();
            for _ in 0..runs {
                drop(black_box(build()));
            }
            let ns = start.elapsed().as_nanos() as f64 / runs as f64 / nodes;
            println!("{shape} n={n}: build and drop only {ns:.1} ns per node");
            return;
        }
        _ => {}
    }
    let mut phases: [Vec<f64>; 7] = Default::default();
    let mut nodes = 0;
    let one = || {
        let t0 = Instant::now();
        let graph = build();
        let t1 = Instant::now();
        let mut prepared = taskweave::prepare(graph.as_slice());
        let count = prepared.len();
        let t2 = Instant::now();
        black_box(prepared.compute());
        let t3 = Instant::now();
        drop(prepared);
        let t4 = Instant::now();
        drop(graph);
        let t5 = Instant::now();
        (count, [t0, t1, t2, t3, t4, t5])
    };
    for _ in 0..runs {
        let outer = Instant::now();
        let (count, [t0, t1, t2, t3, t4, t5]) = match each {
            Some(pool) => pool.install(one),
            None => one(),
        };
        let outer = outer.elapsed();
        nodes = count;
        let per_node = |a: Instant, b: Instant| (b - a).as_nanos() as f64 / nodes as f64;
        let enter = (outer - (t5 - t0)).as_nanos() as f64 / nodes as f64;
        for (phase, value) in phases.iter_mut().zip([
            per_node(t0, t1),
            per_node(t1, t2),
            per_node(t2, t3),
            per_node(t3, t4),
            per_node(t4, t5),
            enter,
            outer.as_nanos() as f64 / nodes as f64,
        ]) {
            phase.push(value);
        }
    }
    let [build, prepare, run, drop_plan, drop_graph, enter, total] =
        phases.each_mut().map(|p| median(p));
    println!(
        "{shape} n={n} ({nodes} nodes), ns per node, medians of {runs} runs: build {build:.0}, \
         prepare {prepare:.0}, run {run:.0}, drop prepared {drop_plan:.0}, drop graph \
         {drop_graph:.0}, entering the pool {enter:.0}; total {total:.0}"
    );
}
