//! Unrolled graphs of 1,000 and 3,000 nodes compile (debug info included) and compute
//! what the direct calls compute.

use taskweave::prelude::*;

#[delayed]
fn leaf(x: u64, i: u64) -> u64 {
    x.wrapping_mul(6364136223846793005).wrapping_add(i)
}

#[delayed]
fn mix(acc: u64, v: u64) -> u64 {
    acc.rotate_left(5) ^ v
}

#[test]
fn thousand_nodes() {
    // 500 independent leaves and a chain of 500 mixes: 1,000 nodes.
    let g = graph!(|x: u64| -> u64 {
        let mut acc = leaf(x, 0);
        for i in 1..500 {
            acc = mix(acc, leaf(x, i));
        }
        mix(acc, x)
    });
    assert_eq!(g.len(), 1000);
    let direct = |x: u64| {
        let mut acc = leaf(x, 0);
        for i in 1..500 {
            acc = mix(acc, leaf(x, i));
        }
        mix(acc, x)
    };
    for x in [0, 1, 42, u64::MAX] {
        assert_eq!(g.compute(x), direct(x));
        assert_eq!(g.compute_with(Scheduler::Sync, x), direct(x));
    }
    let info = g.info();
    assert_eq!(info.edges().len(), 999);
    assert_eq!(info.roots().len(), 500);
}

/// 3,000 nodes (a sum of 1,500 task calls, unrolled): with a `let` per result slot,
/// each opening a scope inside the one before, rustc (LLVM, writing debug info) crashed
/// on its stack compiling this test; the slots now share one `let`. Also the same
/// results as the direct calls. Two loops: one may make at most 1,500 nodes.
#[test]
fn three_thousand_nodes_compile_with_debug_info() {
    let g = graph!(|x: u64| -> u64 {
        let mut acc = leaf(x, 0);
        for i in 1..750 {
            acc = acc ^ leaf(x, i);
        }
        for i in 750..1500 {
            acc = acc ^ leaf(x, i);
        }
        acc
    });
    assert_eq!(g.len(), 2999);
    let direct = |x: u64| {
        let mut acc = leaf(x, 0);
        for i in 1..1500 {
            acc ^= leaf(x, i);
        }
        acc
    };
    for x in [0, 7, u64::MAX] {
        assert_eq!(g.compute(x), direct(x));
        assert_eq!(g.compute_with(Scheduler::Sync, x), direct(x));
    }
}
