//! Zero allocation, proven: with a counting global allocator, repeated `compute` of a
//! static graph of non-allocating tasks, run from inside the pool, allocates nothing:
//! one that the dispatcher runs (a value read twice), and a tree (every value read
//! once), which runs as nested joins.
//!
//! A plain `main` (no test harness), so no other test allocates meanwhile.

use taskweave::prelude::*;

#[path = "../examples/support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

#[delayed]
fn leaf(x: u64, i: u64) -> u64 {
    x.wrapping_mul(31).wrapping_add(i)
}

#[delayed]
fn combine(a: u64, b: u64) -> u64 {
    a ^ b.rotate_left(7)
}

#[delayed]
fn peek(values: &[u64; 4]) -> u64 {
    values.iter().sum()
}

fn direct(x: u64) -> u64 {
    let l: Vec<u64> = (0..4).map(|i| leaf(x, i)).collect();
    let a = combine(l[0], l[1]);
    let b = combine(l[2], l[3]);
    let c = combine(a, b);
    let p = peek(&[l[0], l[1], l[2], l[3]]);
    combine(c, p) + a
}

fn main() {
    // Ten nodes: four leaves, three combines, a peek of an array, a combine and an add.
    let g = graph!(|x: u64| -> u64 {
        let l0 = leaf(x, 0);
        let l1 = leaf(x, 1);
        let l2 = leaf(x, 2);
        let l3 = leaf(x, 3);
        let a = combine(l0, l1);
        let b = combine(l2, l3);
        let c = combine(a, b);
        let p = peek(&[l0, l1, l2, l3]);
        combine(c, p) + a
    });
    assert_eq!(g.len(), 10, "the graph has ten nodes");
    assert!(!g.__runs_as_tree(), "`a` is read twice");
    // Fifteen nodes, every value read once: nested joins.
    let tree = graph!(|x: u64| -> u64 {
        let a = combine(leaf(x, 0), leaf(x, 1));
        let b = combine(leaf(x, 2), leaf(x, 3));
        let c = combine(leaf(x, 4), leaf(x, 5));
        let d = combine(leaf(x, 6), leaf(x, 7));
        combine(combine(a, b), combine(c, d))
    });
    assert!(tree.__runs_as_tree());
    let tree_direct = |x: u64| {
        let a = combine(leaf(x, 0), leaf(x, 1));
        let b = combine(leaf(x, 2), leaf(x, 3));
        let c = combine(leaf(x, 4), leaf(x, 5));
        let d = combine(leaf(x, 6), leaf(x, 7));
        combine(combine(a, b), combine(c, d))
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    // Every worker started (a late one allocates its queues when it starts), and has
    // stolen work at least once (a worker's first steal registers it with the deque's
    // memory reclamation, which allocates): a join on worker k whose halves wait for
    // each other can only finish when the other worker steals one.
    pool.broadcast(|_| ());
    for k in 0..2 {
        pool.broadcast(|ctx| {
            if ctx.index() == k {
                let meet = std::sync::Barrier::new(2);
                rayon::join(|| meet.wait(), || meet.wait());
            }
        });
    }
    let (allocations, checksum, expected) = pool.install(|| {
        let mut expected = 0u64;
        for x in 0..1_000u64 {
            expected = expected
                .wrapping_add(direct(x))
                .wrapping_add(tree_direct(x));
        }
        // Warm-up: first use of the pool's queues, thread-locals, lazy statics.
        for x in 0..100 {
            std::hint::black_box(g.compute(x));
            std::hint::black_box(tree.compute(x));
        }
        let before = counting_alloc::allocations();
        let mut checksum = 0u64;
        for x in 0..1_000u64 {
            checksum = checksum
                .wrapping_add(g.compute(std::hint::black_box(x)))
                .wrapping_add(tree.compute(std::hint::black_box(x)));
        }
        let allocations = counting_alloc::allocations() - before;
        (allocations, checksum, expected)
    });
    assert_eq!(checksum, expected, "results equal the direct calls");
    assert_eq!(
        allocations, 0,
        "1,000 computes of each graph inside the pool allocated"
    );
    println!(
        "zero_alloc: 1000 computes of a 10-node graph and of a 15-node tree inside the pool: {allocations} allocations"
    );

    // From outside the pool each compute is injected into rayon's global queue, whose
    // blocks hold 63 jobs: at most one allocation per 63 computes, whatever the size
    // of the graph. Every global worker started first.
    rayon::broadcast(|_| ());
    for x in 0..100 {
        std::hint::black_box(g.compute(x));
        std::hint::black_box(tree.compute(x));
    }
    let before = counting_alloc::allocations();
    for x in 0..1_000u64 {
        std::hint::black_box(g.compute(std::hint::black_box(x)));
    }
    let from_main = counting_alloc::allocations() - before;
    let before = counting_alloc::allocations();
    for x in 0..1_000u64 {
        std::hint::black_box(tree.compute(std::hint::black_box(x)));
    }
    let tree_from_main = counting_alloc::allocations() - before;
    println!(
        "zero_alloc: 1000 computes of the tree entered from main: {tree_from_main} allocations"
    );
    assert!(
        tree_from_main <= 1_000 / 63 + 2,
        "{tree_from_main} allocations from main"
    );
    println!("zero_alloc: 1000 computes entered from main: {from_main} allocations (rayon's injector blocks)");
    assert!(
        from_main <= 1_000 / 63 + 2,
        "{from_main} allocations from main"
    );
    println!("test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
}
