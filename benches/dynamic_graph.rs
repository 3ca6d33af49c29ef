//! Build-and-run cost of dynamic (`Delayed<T>`) task graphs, on the workloads of
//! `../shared/peers/dask_peer.py`, so that the two can be compared per task.
//!
//! Run it with `cargo bench --bench dynamic_graph` (about a minute and a half on 2
//! cores); pass a filter to run some of it, e.g. `cargo bench --bench dynamic_graph --
//! chain`. Every benchmark runs on rayon's global pool, `.compute()` being called from
//! the benchmark's thread as a user would call it, and reports elements/s where an
//! element is one task.
//!
//! Except for `fan_in_prepared`, one iteration does what one Dask figure times: build
//! the whole graph node by node (`delay!` in a loop), then `.compute()` it. Dropping
//! the graph is left out of the timing, as Dask's figures leave it out
//! (`iter_with_large_drop`); `fan_in_with_drop/100000` includes it, for the record.
//!
//! * `fan_in/n`: `n` leaves `inc(i)`, then a pairwise tree of `add`s built level by
//!   level, an odd node carried up to the next level (`2n − 1` tasks); the result is
//!   `1 + 2 + … + n`.
//! * `chain/n`: `x = inc(x)` `n` times, from the constant 0 (`n` tasks).
//! * `wavefront/n`: a `side × side` grid, `side = √n` (`n` tasks):
//!   `cell(i, j) = add(cell(i − 1, j), cell(i, j − 1))`, the first row `inc(0)`s and
//!   the first column `inc(cell above)`.
//! * `fan_in_prepared/100000`: the `fan_in/100000` graph built and laid out once by
//!   `taskweave::prepare`; an iteration is only `prepared.compute()`: the dispatcher's
//!   cost without the building.
//! * `rayon_fan_in/100000`: the same sum of `inc(i)` over `0..n`, by a hand-written
//!   recursive `rayon::join` down to single elements, combined with the same `add`
//!   (`2n − 1` calls): the floor for a scheduler of tasks this small.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use taskweave::prelude::*;

/// Sizes of `fan_in` and `chain` (their `n`).
const SIZES: [u64; 3] = [1_000, 10_000, 100_000];

/// Sizes of `wavefront`, in tasks (perfect squares: sides 32, 100 and 320).
const WAVEFRONT_TASKS: [u64; 3] = [1_024, 10_000, 102_400];

/// `n` of `fan_in_prepared` and `rayon_fan_in`.
const LARGE: u64 = 100_000;

#[path = "support/fan_in.rs"]
mod fan_in;
use fan_in::{add, build_fan_in, inc};

/// `dask_peer.py`'s `chain`: `n` `inc`s in a row from the constant 0.
fn build_chain(n: u64) -> Delayed<u64> {
    let mut x = delay!(inc(0));
    for _ in 1..n {
        x = delay!(inc(x));
    }
    x
}

/// The side of a square grid of `tasks` cells.
fn side_of(tasks: u64) -> usize {
    let side = (tasks as f64).sqrt() as usize;
    assert_eq!((side * side) as u64, tasks, "a perfect square");
    side
}

/// `dask_peer.py`'s `diamond_grid`: a `side × side` wavefront; its last cell.
fn build_wavefront(side: usize) -> Delayed<u64> {
    let mut row: Vec<Delayed<u64>> = (0..side).map(|_| delay!(inc(0))).collect();
    for _ in 1..side {
        let mut new: Vec<Delayed<u64>> = Vec::with_capacity(side);
        new.push(delay!(inc(&row[0])));
        for j in 1..side {
            let cell = delay!(add(&row[j], &new[j - 1]));
            new.push(cell);
        }
        row = new;
    }
    row.pop().expect("side > 0")
}

/// The wavefront's last cell, computed directly.
fn wavefront_direct(side: usize) -> u64 {
    let mut row: Vec<u64> = (0..side).map(|_| inc(0)).collect();
    for _ in 1..side {
        let mut new = Vec::with_capacity(side);
        new.push(inc(row[0]));
        for j in 1..side {
            new.push(add(row[j], new[j - 1]));
        }
        row = new;
    }
    row[side - 1]
}

/// `inc(lo) + … + inc(hi − 1)`, halves run by `rayon::join` down to single elements.
fn rayon_sum(lo: u64, hi: u64) -> u64 {
    if hi - lo == 1 {
        return inc(lo);
    }
    let mid = lo + (hi - lo) / 2;
    let (a, b) = rayon::join(|| rayon_sum(lo, mid), || rayon_sum(mid, hi));
    add(a, b)
}

/// `1 + 2 + … + n`.
fn triangle(n: u64) -> u64 {
    n * (n + 1) / 2
}

/// Fewer, longer samples for the 10⁵ sizes: one iteration takes tens of milliseconds.
fn sized<M: criterion::measurement::Measurement>(
    group: &mut criterion::BenchmarkGroup<'_, M>,
    n: u64,
) {
    if n >= LARGE {
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
    } else {
        group
            .sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
    }
}

fn fan_in(c: &mut Criterion) {
    let mut group = c.benchmark_group("fan_in");
    for n in SIZES {
        assert_eq!(build_fan_in(n).compute(), triangle(n));
        assert_eq!(build_fan_in(n).info().len() as u64, 2 * n - 1);
        sized(&mut group, n);
        group.throughput(Throughput::Elements(2 * n - 1));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_with_large_drop(|| {
                let graph = build_fan_in(black_box(n));
                let value = graph.compute();
                (graph, value)
            });
        });
    }
    group.finish();
}

fn chain(c: &mut Criterion) {
    let mut group = c.benchmark_group("chain");
    for n in SIZES {
        assert_eq!(build_chain(n).compute(), n);
        assert_eq!(build_chain(n).info().len() as u64, n);
        sized(&mut group, n);
        group.throughput(Throughput::Elements(n));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_with_large_drop(|| {
                let graph = build_chain(black_box(n));
                let value = graph.compute();
                (graph, value)
            });
        });
    }
    group.finish();
}

fn wavefront(c: &mut Criterion) {
    let mut group = c.benchmark_group("wavefront");
    for tasks in WAVEFRONT_TASKS {
        let side = side_of(tasks);
        assert_eq!(build_wavefront(side).compute(), wavefront_direct(side));
        assert_eq!(build_wavefront(side).info().len() as u64, tasks);
        sized(&mut group, tasks);
        group.throughput(Throughput::Elements(tasks));
        group.bench_with_input(BenchmarkId::from_parameter(tasks), &side, |b, &side| {
            b.iter_with_large_drop(|| {
                let graph = build_wavefront(black_box(side));
                let value = graph.compute();
                (graph, value)
            });
        });
    }
    group.finish();
}

fn fan_in_with_drop(c: &mut Criterion) {
    let mut group = c.benchmark_group("fan_in_with_drop");
    sized(&mut group, LARGE);
    group.throughput(Throughput::Elements(2 * LARGE - 1));
    group.bench_with_input(BenchmarkId::from_parameter(LARGE), &LARGE, |b, &n| {
        b.iter(|| build_fan_in(black_box(n)).compute());
    });
    group.finish();
}

fn fan_in_prepared(c: &mut Criterion) {
    let n = LARGE;
    let root = build_fan_in(n);
    let mut prepared = taskweave::prepare((&root,));
    // Twice: a prepared graph is run again and again.
    assert_eq!(prepared.compute(), (triangle(n),));
    assert_eq!(prepared.compute(), (triangle(n),));

    let mut group = c.benchmark_group("fan_in_prepared");
    sized(&mut group, n);
    group.throughput(Throughput::Elements(2 * n - 1));
    group.bench_function(BenchmarkId::from_parameter(n), |b| {
        b.iter(|| prepared.compute().0);
    });
    group.finish();
}

fn rayon_fan_in(c: &mut Criterion) {
    let n = LARGE;
    assert_eq!(rayon_sum(0, n), triangle(n));

    let mut group = c.benchmark_group("rayon_fan_in");
    sized(&mut group, n);
    group.throughput(Throughput::Elements(2 * n - 1));
    group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
        b.iter(|| rayon_sum(0, black_box(n)));
    });
    group.finish();
}

/// The benchmarks run tiny tasks on purpose: no warning about it.
fn quiet(_: &mut Criterion) {
    taskweave::set_warnings(false);
}

/// Every benchmark above. `criterion_group!` declares `pub fn benches()`: at the crate
/// root that would need a doc comment it has no place for, so it lives in this private
/// module.
#[allow(unreachable_pub)]
mod group {
    use criterion::criterion_group;

    criterion_group!(
        benches,
        super::quiet,
        super::fan_in,
        super::chain,
        super::wavefront,
        super::fan_in_with_drop,
        super::fan_in_prepared,
        super::rayon_fan_in
    );
}

criterion::criterion_main!(group::benches);
