//! A 1,000-node unrolled graph compiles and computes what the direct calls compute.

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
