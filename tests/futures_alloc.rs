//! Allocations per submitted future, counted: a task costs one allocation for its job,
//! its future's state and its result together, and nothing else (no `Arc` for the
//! result unless someone asks for it shared, no handle, no list of one or two
//! dependencies or dependents, no call-site string, no registry entry of its own). One
//! test in its own binary, so that no other test allocates while it counts.

#[path = "../examples/support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

use taskweave::prelude::*;

/// What a submitted task may allocate, on average, in a long run: its job with its
/// state and result (one allocation), plus the shares of what grows by blocks (the
/// pool's queue, the client's list of live tasks) and of the run's own vectors.
const PER_TASK: f64 = 1.1;

/// What a task of `client.map` may allocate: its job, and nearly nothing more: the
/// batches its ready jobs are queued in (one per 32 tasks, 0.031 a task) are emptied
/// by the workers and filled again by the next `map` (1.003 a task measured on an
/// idle machine), but when the workers fall behind the submission (a loaded machine,
/// CI) more batches are queued at once than the pool keeps, and up to every one is
/// new (1.022 measured under load). Anything allocated per task would read 2.
const PER_MAPPED_TASK: f64 = 1.04;

fn inc(x: u64) -> u64 {
    x + 1
}

fn add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}

/// Allocations per task of `run`, which runs `tasks` tasks (the best of three runs:
/// the pool's threads may allocate once when they first meet something).
fn per_task(tasks: usize, run: impl Fn() -> u64) -> f64 {
    (0..3)
        .map(|_| {
            let before = counting_alloc::allocations();
            std::hint::black_box(run());
            (counting_alloc::allocations() - before) as f64 / tasks as f64
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn a_submitted_task_allocates_once_for_its_job_state_and_result() {
    let client = Client::builder().threads(2).build().unwrap();
    const N: usize = 10_000;

    let chain = per_task(N, || {
        let mut x = client.submit(inc, (0,));
        for _ in 1..N {
            x = client.submit(inc, (x,));
        }
        x.result().unwrap()
    });

    let fan_in = per_task(N - 1, || {
        let mut level: Vec<Future<u64>> = (0..N as u64 / 2)
            .map(|i| client.submit(inc, (i,)))
            .collect();
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|pair| match pair {
                    [a, b] => client.submit(add, (a, b)),
                    [a] => a.clone(),
                    _ => unreachable!(),
                })
                .collect();
        }
        level[0].result().unwrap()
    });

    let map = per_task(N, || {
        let futures = client.map(inc, 0..N as u64);
        client.gather(&futures).unwrap().into_iter().sum()
    });

    // A fallible task that succeeds costs what any task does.
    let fallible_map = per_task(N, || {
        let futures = client
            .task(|x: u64| Ok::<u64, String>(inc(x)))
            .fallible()
            .map(0..N as u64);
        client.gather(&futures).unwrap().into_iter().sum()
    });

    eprintln!(
        "allocations per task: chain {chain:.3}, fan-in {fan_in:.3}, map {map:.3}, \
         fallible map {fallible_map:.3}"
    );
    for (shape, per, most) in [
        ("chain", chain, PER_TASK),
        ("fan-in", fan_in, PER_TASK),
        ("map", map, PER_MAPPED_TASK),
        ("fallible map", fallible_map, PER_MAPPED_TASK),
    ] {
        assert!(
            per <= most,
            "{shape}: {per:.3} allocations per task, more than {most}"
        );
    }
}
