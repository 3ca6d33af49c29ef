//! Dispatch overhead of static `graph!` task graphs against the same work written by
//! hand.
//!
//! Run it with `cargo bench --bench static_graph` (about a minute on 2 cores); pass a
//! filter to run some of it, e.g. `cargo bench --bench static_graph -- chain64`.
//!
//! * `chain64/*`: a chain of 64 trivial tasks (one LCG step each; the graph has width 1,
//!   so the dispatcher runs it on the calling thread, in order).
//!   - `direct`: the same 64 calls made in a plain loop, no graph: the baseline
//!     (`black_box` between the calls, or LLVM folds the whole chain into one step).
//!   - `graph_in_pool`: `g.compute(x)` called from a worker of a 2-thread rayon pool
//!     (the whole criterion loop runs inside `pool.install`).
//!   - `graph_from_main`: `g.compute(x)` called from the main thread, outside any pool.
//!   - `sync`: `g.compute_with(Scheduler::Sync, x)`.
//!   - `sync_profiled`: the same with a [`Profiler`] observing (two clock reads and a
//!     few stores per task).
//!
//!   `(graph − direct) / 64` is the engine's cost per task on a chain;
//!   `(sync_profiled − sync) / 64` the profiler's.
//! * `fanin64_1us/*` and `fanin64_empty/*`: 64 independent `leaf(x + i)` tasks whose
//!   results are summed, with leaves of about 1 µs of arithmetic, or of almost none.
//!   Everything but `serial` runs inside `pool.install` of the same 2-thread pool.
//!   - `graph`: a balanced binary tree of 63 `combine` tasks over the 64 leaves
//!     (127 nodes), the same shape as `rayon_join`.
//!   - `graph_chain`: the leaves folded by a chain of 63 `combine` tasks (127 nodes;
//!     the leaves are still independent).
//!   - `graph_flat`: one `reduce(&[u64])` task over an array of the 64 leaves (65 nodes).
//!   - `rayon_join`: hand-written recursive `rayon::join` over halves of `0..64`,
//!     calling the same `leaf` and `combine` functions.
//!   - `serial`: the 64 leaves and the sum in a plain loop on the calling thread.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_main, Criterion};
use rayon::{ThreadPool, ThreadPoolBuilder};
use taskweave::prelude::*;
use taskweave::{Profiler, RunOptions};

/// Threads of the pool every pooled benchmark runs in.
const THREADS: usize = 2;

/// Iterations of `leaf_1us`'s loop: about 1 µs (`fanin64_1us/serial` / 64 read 0.95 µs
/// on the 2-core dev machine).
const SPIN: u32 = 600;

#[delayed]
fn step(x: u64) -> u64 {
    x.wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
}

#[delayed]
fn leaf_empty(x: u64) -> u64 {
    x ^ (x >> 7)
}

#[delayed]
fn leaf_1us(x: u64) -> u64 {
    let mut h = x;
    for _ in 0..SPIN {
        h = black_box(h.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ x);
    }
    h
}

#[delayed]
fn combine(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}

#[delayed]
fn reduce(parts: &[u64]) -> u64 {
    parts.iter().fold(0, |acc, &p| combine(acc, p))
}

fn pool() -> ThreadPool {
    ThreadPoolBuilder::new()
        .num_threads(THREADS)
        .build()
        .expect("build the benchmark's thread pool")
}

fn chain64(c: &mut Criterion) {
    let g = graph!(|x: u64| -> u64 {
        let mut y = step(x);
        for _ in 0..63 {
            y = step(y);
        }
        y
    });
    assert_eq!(g.len(), 64);

    // `black_box` between the steps keeps the 64 calls: without it LLVM folds the
    // chain of multiply-adds into a single one (about 1 ns for all 64).
    let direct = |x: u64| {
        let mut y = step(x);
        for _ in 0..63 {
            y = step(black_box(y));
        }
        y
    };
    let x = 0x1234_5678_u64;
    assert_eq!(g.compute(x), direct(x));
    assert_eq!(g.compute_with(Scheduler::Sync, x), direct(x));

    let pool = pool();
    let mut group = c.benchmark_group("chain64");
    group.bench_function("direct", |b| {
        b.iter(|| black_box(direct(black_box(x))));
    });
    group.bench_function("graph_in_pool", |b| {
        pool.install(|| b.iter(|| black_box(g.compute(black_box(x)))));
    });
    group.bench_function("graph_from_main", |b| {
        b.iter(|| black_box(g.compute(black_box(x))));
    });
    group.bench_function("sync", |b| {
        b.iter(|| black_box(g.compute_with(Scheduler::Sync, black_box(x))));
    });
    let profiler = Arc::new(Profiler::new());
    let profiled = RunOptions::new()
        .scheduler(Scheduler::Sync)
        .observer(profiler.clone());
    assert_eq!(g.compute_with(profiled.clone(), x), direct(x));
    assert_eq!(profiler.records().len(), 64);
    let mut runs = 0u32;
    group.bench_function("sync_profiled", |b| {
        b.iter(|| {
            // The profiler keeps every record: cleared now and then.
            runs += 1;
            if runs.is_multiple_of(1000) {
                profiler.clear();
            }
            black_box(g.compute_with(profiled.clone(), black_box(x)))
        });
    });
    group.finish();
}

/// A balanced binary tree of `combine` over `$leaf(x + 0) ..= $leaf(x + 63)`, pairing
/// neighbours level by level exactly as `join_tree` splits `0..64` in halves.
macro_rules! tree64 {
    ($leaf:ident) => {
        graph!(|x: u64| -> u64 {
            let a0 = combine($leaf(x), $leaf(x + 1));
            let a1 = combine($leaf(x + 2), $leaf(x + 3));
            let a2 = combine($leaf(x + 4), $leaf(x + 5));
            let a3 = combine($leaf(x + 6), $leaf(x + 7));
            let a4 = combine($leaf(x + 8), $leaf(x + 9));
            let a5 = combine($leaf(x + 10), $leaf(x + 11));
            let a6 = combine($leaf(x + 12), $leaf(x + 13));
            let a7 = combine($leaf(x + 14), $leaf(x + 15));
            let a8 = combine($leaf(x + 16), $leaf(x + 17));
            let a9 = combine($leaf(x + 18), $leaf(x + 19));
            let a10 = combine($leaf(x + 20), $leaf(x + 21));
            let a11 = combine($leaf(x + 22), $leaf(x + 23));
            let a12 = combine($leaf(x + 24), $leaf(x + 25));
            let a13 = combine($leaf(x + 26), $leaf(x + 27));
            let a14 = combine($leaf(x + 28), $leaf(x + 29));
            let a15 = combine($leaf(x + 30), $leaf(x + 31));
            let a16 = combine($leaf(x + 32), $leaf(x + 33));
            let a17 = combine($leaf(x + 34), $leaf(x + 35));
            let a18 = combine($leaf(x + 36), $leaf(x + 37));
            let a19 = combine($leaf(x + 38), $leaf(x + 39));
            let a20 = combine($leaf(x + 40), $leaf(x + 41));
            let a21 = combine($leaf(x + 42), $leaf(x + 43));
            let a22 = combine($leaf(x + 44), $leaf(x + 45));
            let a23 = combine($leaf(x + 46), $leaf(x + 47));
            let a24 = combine($leaf(x + 48), $leaf(x + 49));
            let a25 = combine($leaf(x + 50), $leaf(x + 51));
            let a26 = combine($leaf(x + 52), $leaf(x + 53));
            let a27 = combine($leaf(x + 54), $leaf(x + 55));
            let a28 = combine($leaf(x + 56), $leaf(x + 57));
            let a29 = combine($leaf(x + 58), $leaf(x + 59));
            let a30 = combine($leaf(x + 60), $leaf(x + 61));
            let a31 = combine($leaf(x + 62), $leaf(x + 63));

            let b0 = combine(a0, a1);
            let b1 = combine(a2, a3);
            let b2 = combine(a4, a5);
            let b3 = combine(a6, a7);
            let b4 = combine(a8, a9);
            let b5 = combine(a10, a11);
            let b6 = combine(a12, a13);
            let b7 = combine(a14, a15);
            let b8 = combine(a16, a17);
            let b9 = combine(a18, a19);
            let b10 = combine(a20, a21);
            let b11 = combine(a22, a23);
            let b12 = combine(a24, a25);
            let b13 = combine(a26, a27);
            let b14 = combine(a28, a29);
            let b15 = combine(a30, a31);

            let c0 = combine(b0, b1);
            let c1 = combine(b2, b3);
            let c2 = combine(b4, b5);
            let c3 = combine(b6, b7);
            let c4 = combine(b8, b9);
            let c5 = combine(b10, b11);
            let c6 = combine(b12, b13);
            let c7 = combine(b14, b15);

            let d0 = combine(c0, c1);
            let d1 = combine(c2, c3);
            let d2 = combine(c4, c5);
            let d3 = combine(c6, c7);

            let e0 = combine(d0, d1);
            let e1 = combine(d2, d3);

            combine(e0, e1)
        })
    };
}

/// `$leaf(x)`, then 63 more leaves folded in by a chain of `combine`s.
macro_rules! chain_of_combines64 {
    ($leaf:ident) => {
        graph!(|x: u64| -> u64 {
            let mut acc = $leaf(x);
            for i in 1..64 {
                acc = combine(acc, $leaf(x + i));
            }
            acc
        })
    };
}

/// One `reduce` task over an array of the 64 leaves.
macro_rules! flat64 {
    ($leaf:ident) => {
        graph!(|x: u64| -> u64 {
            reduce([
                $leaf(x),
                $leaf(x + 1),
                $leaf(x + 2),
                $leaf(x + 3),
                $leaf(x + 4),
                $leaf(x + 5),
                $leaf(x + 6),
                $leaf(x + 7),
                $leaf(x + 8),
                $leaf(x + 9),
                $leaf(x + 10),
                $leaf(x + 11),
                $leaf(x + 12),
                $leaf(x + 13),
                $leaf(x + 14),
                $leaf(x + 15),
                $leaf(x + 16),
                $leaf(x + 17),
                $leaf(x + 18),
                $leaf(x + 19),
                $leaf(x + 20),
                $leaf(x + 21),
                $leaf(x + 22),
                $leaf(x + 23),
                $leaf(x + 24),
                $leaf(x + 25),
                $leaf(x + 26),
                $leaf(x + 27),
                $leaf(x + 28),
                $leaf(x + 29),
                $leaf(x + 30),
                $leaf(x + 31),
                $leaf(x + 32),
                $leaf(x + 33),
                $leaf(x + 34),
                $leaf(x + 35),
                $leaf(x + 36),
                $leaf(x + 37),
                $leaf(x + 38),
                $leaf(x + 39),
                $leaf(x + 40),
                $leaf(x + 41),
                $leaf(x + 42),
                $leaf(x + 43),
                $leaf(x + 44),
                $leaf(x + 45),
                $leaf(x + 46),
                $leaf(x + 47),
                $leaf(x + 48),
                $leaf(x + 49),
                $leaf(x + 50),
                $leaf(x + 51),
                $leaf(x + 52),
                $leaf(x + 53),
                $leaf(x + 54),
                $leaf(x + 55),
                $leaf(x + 56),
                $leaf(x + 57),
                $leaf(x + 58),
                $leaf(x + 59),
                $leaf(x + 60),
                $leaf(x + 61),
                $leaf(x + 62),
                $leaf(x + 63),
            ])
        })
    };
}

/// `leaf(x + lo) ..= leaf(x + hi - 1)` combined pairwise, the halves run by `rayon::join`.
fn join_tree<F>(leaf: &F, x: u64, lo: u64, hi: u64) -> u64
where
    F: Fn(u64) -> u64 + Sync,
{
    if hi - lo == 1 {
        return leaf(x + lo);
    }
    let mid = lo + (hi - lo) / 2;
    let (a, b) = rayon::join(
        || join_tree(leaf, x, lo, mid),
        || join_tree(leaf, x, mid, hi),
    );
    combine(a, b)
}

/// The 64 leaves and their sum on the calling thread.
fn serial<F: Fn(u64) -> u64>(leaf: F, x: u64) -> u64 {
    (0..64).fold(0, |acc, i| combine(acc, leaf(x + i)))
}

/// The `fanin64_*` group for one leaf function.
macro_rules! fanin64 {
    ($c:expr, $name:literal, $leaf:ident) => {{
        let tree = tree64!($leaf);
        let chain = chain_of_combines64!($leaf);
        let flat = flat64!($leaf);
        assert_eq!(tree.len(), 127);
        assert_eq!(chain.len(), 127);
        assert_eq!(flat.len(), 65);

        let x = 0x1234_5678_u64;
        let expected = serial($leaf, x);
        let pool = pool();
        assert_eq!(pool.install(|| tree.compute(x)), expected);
        assert_eq!(pool.install(|| chain.compute(x)), expected);
        assert_eq!(pool.install(|| flat.compute(x)), expected);
        assert_eq!(pool.install(|| join_tree(&$leaf, x, 0, 64)), expected);

        let mut group = $c.benchmark_group($name);
        group.bench_function("graph", |b| {
            pool.install(|| b.iter(|| black_box(tree.compute(black_box(x)))));
        });
        group.bench_function("graph_chain", |b| {
            pool.install(|| b.iter(|| black_box(chain.compute(black_box(x)))));
        });
        group.bench_function("graph_flat", |b| {
            pool.install(|| b.iter(|| black_box(flat.compute(black_box(x)))));
        });
        group.bench_function("rayon_join", |b| {
            pool.install(|| b.iter(|| black_box(join_tree(&$leaf, black_box(x), 0, 64))));
        });
        group.bench_function("serial", |b| {
            b.iter(|| black_box(serial($leaf, black_box(x))));
        });
        group.finish();
    }};
}

fn fanin64_1us(c: &mut Criterion) {
    fanin64!(c, "fanin64_1us", leaf_1us);
}

fn fanin64_empty(c: &mut Criterion) {
    fanin64!(c, "fanin64_empty", leaf_empty);
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

/// Every benchmark above, with a short configuration. `criterion_group!` declares
/// `pub fn benches()`: at the crate root that would need a doc comment it has no place
/// for, so it lives in this private module.
#[allow(unreachable_pub)]
mod group {
    use criterion::criterion_group;

    criterion_group! {
        name = benches;
        config = super::config();
        targets = super::chain64, super::fanin64_1us, super::fanin64_empty
    }
}

criterion_main!(group::benches);
