//! Static graphs (`graph!`) at run time under shapes the other tests do not reach, each
//! under a watchdog: trees (every value read once) of large values, whose joins nest (a
//! comb of 16 KiB arrays eight joins deep, or of 64 KiB arrays three deep, overflowed
//! its stack and aborted the process, where plain code runs in a loop) and whose result
//! comes back from rayon's pool (a 64 KiB result overflowed a 2 MiB worker).

#[path = "support/watchdog.rs"]
mod watchdog;

use std::time::Duration;

use taskweave::prelude::*;
use taskweave::Scheduler;
use watchdog::within;

const LIMIT: Duration = Duration::from_secs(60);

// ---- trees of large values ---------------------------------------------------------

#[delayed]
fn leaf<const N: usize>(i: u8) -> [u8; N] {
    [i; N]
}

#[delayed]
fn mix<const N: usize>(a: [u8; N], b: [u8; N]) -> [u8; N] {
    let mut out = a;
    for (o, b) in out.iter_mut().zip(b) {
        *o = o.wrapping_mul(3).wrapping_add(b);
    }
    out
}

macro_rules! comb {
    ($n:literal) => {
        graph!(|| -> [u8; $n] {
            let mut x = leaf::<$n>(0);
            for i in 1..24 {
                x = mix::<$n>(x, leaf::<$n>(i));
            }
            x
        })
    };
}

fn comb_plain<const N: usize>() -> [u8; N] {
    let mut x = leaf::<N>(0);
    for i in 1..24 {
        x = mix::<N>(x, leaf::<N>(i));
    }
    x
}

/// Combs (`x = mix(x, leaf(i))`) of 23 joins nested, `graph!`'s most for a tree, of
/// 8, 16 and 64 KiB arrays, on the calling thread and in a pool. Each level of nesting
/// kept about ten copies of its values in its frames in a debug build, seven optimised,
/// with no stack room for them (a node's room covers its own code, not the joins
/// around it): 16 KiB arrays overflowed a 2 MiB stack eight levels deep, 64 KiB arrays
/// three deep (optimised, a 2 MiB worker at 24), and aborted the process.
#[test]
fn joins_of_large_values_nest_as_deep_as_a_tree_goes() {
    let firsts = within(LIMIT, "nested joins of large values", || {
        let (small, middling, large) = (comb!(8192), comb!(16384), comb!(65536));
        assert!(small.__runs_as_tree() && middling.__runs_as_tree() && large.__runs_as_tree());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        [
            small.compute_with(Scheduler::Sync)[0],
            middling.compute_with(Scheduler::Sync)[0],
            large.compute_with(Scheduler::Sync)[0],
            pool.install(|| small.compute()[0]),
            pool.install(|| middling.compute()[0]),
            pool.install(|| large.compute()[0]),
        ]
    });
    let plain = [
        comb_plain::<8192>()[0],
        comb_plain::<16384>()[0],
        comb_plain::<65536>()[0],
    ];
    assert_eq!(firsts, [plain, plain].concat()[..]);
}

/// A tree of large values whose result comes back from rayon's pool to a caller outside
/// it (a 64 KiB and a 256 KiB result, two 64 KiB results, the comb above). It came back
/// through rayon's frames on the worker, a copy in each, with no stack room there: a
/// 2 MiB worker overflowed and aborted the process in a debug build, where a chain (run
/// on the caller's thread) or the dispatcher's form (whose values stay in their slots)
/// ran.
#[test]
fn a_tree_of_large_values_returns_its_result_from_the_pool() {
    let firsts = within(LIMIT, "a tree's large result", || {
        let pair = graph!(|| -> [u8; 65536] { mix::<65536>(leaf::<65536>(1), leaf::<65536>(2)) });
        let two = graph!(|| -> ([u8; 65536], [u8; 65536]) { (leaf::<65536>(1), leaf::<65536>(2)) });
        let big =
            graph!(|| -> [u8; 262144] { mix::<262144>(leaf::<262144>(1), leaf::<262144>(2)) });
        let large = comb!(65536);
        assert!(pair.__runs_as_tree() && two.__runs_as_tree() && big.__runs_as_tree());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let (a, b) = two.compute();
        [
            pair.compute()[7],
            pair.try_compute().expect("no task fails")[7],
            pair.compute_on(&pool)[7],
            a[7] + b[7],
            big.compute()[7],
            large.compute()[7],
        ]
    });
    assert_eq!(firsts, [5, 5, 5, 3, 5, comb_plain::<65536>()[7]]);
}
