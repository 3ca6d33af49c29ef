//! Topic 11: aggregating data. Many partial results become one: a task that takes a
//! collection of nodes (a fan-in), or a tree of pairwise combines (a tree reduction),
//! whose combines run in parallel and whose depth grows with log2 of the parts.
//!
//! Dask:
//! ```python
//! counts = [delayed(count_words)(p) for p in partitions]
//! total = delayed(merge_all)(counts)          # one task takes the list
//! # a tree: combine pairs until one is left (dask.bag's reductions, split_every=2)
//! while len(counts) > 1:
//!     counts = [delayed(merge)(a, b) for a, b in zip(counts[::2], counts[1::2])]
//! dask.compute(*counts)                        # all partial results at once
//! ```
//! taskweave: `delay!(merge_all(counts))` (a `Vec<Delayed<T>>` is one argument),
//! `tree_reduce(counts, merge)`, `taskweave::compute(counts.as_slice())`; in `graph!`,
//! `total([a, b, c])`.
//!
//! Run: `cargo run --release --example 11_aggregate`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use taskweave::prelude::*;

/// Partial results alive now, and the most alive at once.
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// A histogram of readings: 20,000 buckets (80 KB), so that merging two costs
/// something and keeping many costs memory.
struct Hist(Vec<u32>);

impl Hist {
    fn new(bins: Vec<u32>) -> Hist {
        let live = LIVE.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(live, Ordering::SeqCst);
        Hist(bins)
    }
}

impl Clone for Hist {
    fn clone(&self) -> Hist {
        Hist::new(self.0.clone())
    }
}

impl Drop for Hist {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

const BUCKETS: usize = 20_000;

/// Reads one partition: 2,000 made-up readings, as a histogram.
#[delayed]
fn histogram(p: u64) -> Hist {
    let mut bins = vec![0u32; BUCKETS];
    let mut h = p.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for _ in 0..2_000 {
        h ^= h << 13;
        h ^= h >> 7;
        h ^= h << 17;
        bins[(h % BUCKETS as u64) as usize] += 1;
    }
    Hist::new(bins)
}

/// Merges two histograms: 20,000 additions.
fn merge(mut a: Hist, b: Hist) -> Hist {
    for (x, y) in a.0.iter_mut().zip(&b.0) {
        *x += y;
    }
    a
}

/// Merges every histogram in one task.
#[delayed]
fn merge_all(parts: Vec<Hist>) -> Hist {
    let mut parts = parts.into_iter();
    let first = parts.next().expect("at least one part");
    parts.fold(first, merge)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let n = 64;
    let parts = || -> Vec<Delayed<Hist>> { (0..n).map(|p| delay!(histogram(p))).collect() };

    // 1. Fan-in: one task takes all 64 histograms (63 merges, one after the other).
    //    (Inside delay!, a call is a task call: bind the Vec first.)
    let all = parts();
    let flat = delay!(merge_all(all));
    // 2. Tree reduction: 63 pairwise merges in 6 levels; a level's merges run at once.
    let tree = tree_reduce(parts(), merge);
    // 3. Two levels by hand: 8 groups of 8, then one merge of the 8 (Dask's
    //    split_every=8).
    let leaves = parts();
    let groups: Vec<Delayed<Hist>> = leaves
        .chunks(8)
        .map(|group| delay!(merge_all(group.to_vec())))
        .collect();
    let grouped = delay!(merge_all(groups));

    let mut totals = Vec::new();
    for (name, d) in [
        ("fan-in", &flat),
        ("tree_reduce", &tree),
        ("groups of 8", &grouped),
    ] {
        let info = d.info();
        drop(d.compute()); // warm-up: the first compute also starts the pool
        PEAK.store(0, Ordering::SeqCst);
        let start = Instant::now();
        let value = d.compute();
        let took = start.elapsed();
        println!(
            "{name:<12} {:>4} nodes, depth {}, width {:>2}: {:>6.2} ms, at most {:>2} histograms alive",
            info.len(),
            info.depth(),
            info.width(),
            ms(took),
            PEAK.load(Ordering::SeqCst)
        );
        totals.push(value.0.iter().map(|&c| u64::from(c)).sum::<u64>());
    }
    assert!(totals.iter().all(|&t| t == totals[0]), "all three agree");
    println!("readings counted: {} (64 partitions x 2,000)", totals[0]);

    // All the partial results at once, in one run (Dask: dask.compute(*parts)).
    let leaves = parts();
    let each: Vec<Hist> = taskweave::compute(leaves.as_slice());
    println!(
        "taskweave::compute of the 64 parts: {} histograms, the first counts {}",
        each.len(),
        each[0].0.iter().sum::<u32>()
    );

    // In graph!, a collection of nodes written out is one argument.
    let g = graph!(|p: u64| -> Hist {
        let a = histogram(p);
        let b = histogram(p + 1);
        let c = histogram(p + 2);
        merge_all(vec![a, b, c])
    });
    println!(
        "graph! merge_all(vec![a, b, c]): {} nodes, {} readings",
        g.len(),
        g.compute(0).0.iter().sum::<u32>()
    );
}
