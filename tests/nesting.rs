//! Computes nested inside tasks, 10,000 levels deep: a task that builds and computes a
//! graph whose task builds and computes a graph, and so on. The recursion is the
//! user's, but every level also costs the engine's frames (the compute, the run, the
//! dispatcher around the task), several KiB each; without the engine moving deep runs
//! onto a new stack segment (`stacker::maybe_grow` in the dispatcher's `watched`), this
//! overflowed the stack and aborted the process at about a thousand levels.
//!
//! Each case runs under a watchdog, on a thread with a 2 MiB stack, inside rayon pools
//! of one and of two threads whose workers have 2 MiB stacks too (and a chain of
//! one-node graphs on the watchdog's thread itself, outside any pool), and checks the
//! value against the same recursion called directly.

use std::time::Duration;

use taskweave::prelude::*;

#[path = "support/watchdog.rs"]
mod watchdog;

/// How many computes nest.
const DEPTH: u64 = 10_000;

/// What a level adds to the value of the level under it.
#[delayed]
fn leaf(x: u64) -> u64 {
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (x >> 7)
}

/// A level's value, from the one under it and its leaf.
#[delayed]
fn mix(inner: u64, leaf: u64) -> u64 {
    inner.rotate_left(5).wrapping_mul(31).wrapping_add(leaf)
}

/// The recursion every case computes, called directly (on a stack large enough for it).
fn sequential(depth: u64) -> u64 {
    fn level(depth: u64) -> u64 {
        if depth == 0 {
            return 1;
        }
        mix(level(depth - 1), leaf(depth))
    }
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || level(depth))
        .expect("a thread for the direct recursion")
        .join()
        .expect("the direct recursion")
}

/// A dynamic graph per level, of two independent nodes and their mix: the level under
/// it computed inside a task, beside the leaf (so the graph runs on the pool).
fn dynamic(depth: u64) -> u64 {
    if depth == 0 {
        return 1;
    }
    let inner = delayed(|d: u64| dynamic(d - 1)).call(depth);
    let leaf = delay!(leaf(depth));
    delay!(mix(inner, leaf)).compute()
}

/// A one-node dynamic graph per level (a chain: it runs on the calling thread).
fn dynamic_chain(depth: u64) -> u64 {
    if depth == 0 {
        return 1;
    }
    let inner = delayed(|d: u64| dynamic_chain(d - 1)).call(depth);
    delay!(mix(
        inner,
        depth.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (depth >> 7)
    ))
    .compute()
}

/// A `graph!` per level whose every value is read once: run as nested joins (a tree).
#[delayed]
fn nested_tree(depth: u64) -> u64 {
    if depth == 0 {
        return 1;
    }
    let g = graph!(|d: u64| -> u64 {
        let inner = nested_tree(d - 1);
        mix(inner, leaf(d))
    });
    g.compute(depth)
}

/// A `graph!` per level whose leaf is read twice: run by the dispatcher.
#[delayed]
fn dispatched(depth: u64) -> u64 {
    if depth == 0 {
        return 1;
    }
    let g = graph!(|d: u64| -> u64 {
        let inner = dispatched(d - 1);
        let l = leaf(d);
        let twice = mix(l, l);
        mix(inner, l ^ twice)
    });
    g.compute(depth)
}

/// The dispatched recursion, called directly.
fn dispatched_sequential(depth: u64) -> u64 {
    fn level(depth: u64) -> u64 {
        if depth == 0 {
            return 1;
        }
        let l = leaf(depth);
        mix(level(depth - 1), l ^ mix(l, l))
    }
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || level(depth))
        .expect("a thread for the direct recursion")
        .join()
        .expect("the direct recursion")
}

/// Runs `nest(DEPTH)` under the watchdog in a pool of `threads` threads with 2 MiB
/// stacks.
fn in_pool(what: &str, threads: usize, nest: fn(u64) -> u64) -> u64 {
    let what = format!("{what}, {threads} thread(s)");
    watchdog::within(Duration::from_secs(120), &what, move || {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .stack_size(2 << 20)
            .build()
            .expect("a pool");
        pool.install(|| nest(DEPTH))
    })
}

#[test]
fn dynamic_computes_nest_10_000_deep() {
    let expected = sequential(DEPTH);
    for threads in [1, 2] {
        assert_eq!(
            in_pool("nested dynamic computes", threads, dynamic),
            expected
        );
    }
}

#[test]
fn static_trees_nest_10_000_deep() {
    // The same graph as a level's: a tree.
    let level = graph!(|d: u64| -> u64 {
        let inner = nested_tree(d - 1);
        mix(inner, leaf(d))
    });
    assert!(level.__runs_as_tree(), "every value is read once");
    let expected = sequential(DEPTH);
    for threads in [1, 2] {
        assert_eq!(
            in_pool("nested graph! trees", threads, nested_tree),
            expected
        );
    }
}

#[test]
fn static_dispatched_graphs_nest_10_000_deep() {
    // The same graph as a level's: not a tree, so the dispatcher runs it.
    let level = graph!(|d: u64| -> u64 {
        let inner = dispatched(d - 1);
        let l = leaf(d);
        let twice = mix(l, l);
        mix(inner, l ^ twice)
    });
    assert!(!level.__runs_as_tree(), "the leaf is read twice");
    let expected = dispatched_sequential(DEPTH);
    for threads in [1, 2] {
        assert_eq!(
            in_pool("nested dispatched graph!s", threads, dispatched),
            expected
        );
    }
}

#[test]
fn chains_nest_10_000_deep_outside_the_pool() {
    let expected = sequential(DEPTH);
    let got = watchdog::within(
        Duration::from_secs(120),
        "nested one-node computes on a 2 MiB thread",
        || dynamic_chain(DEPTH),
    );
    assert_eq!(got, expected);
}
