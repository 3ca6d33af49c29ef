//! Large values passed by value between tasks (arrays of 256 KiB, on 2 MiB worker
//! stacks) compute as plain code does, in debug builds too, where every frame a value
//! passes through keeps a copy of it (the run overflowed the worker's stack and aborted
//! the process): in a dynamic graph, and in `graph!`'s two forms, a tree and the
//! dispatcher.

use taskweave::prelude::*;

const N: usize = 256 << 10;

#[delayed]
fn make(seed: u8) -> [u8; N] {
    let mut a = [0u8; N];
    for (i, b) in a.iter_mut().enumerate() {
        *b = seed.wrapping_add(i as u8);
    }
    a
}

#[delayed]
fn total(a: [u8; N]) -> u64 {
    a.iter().map(|&b| u64::from(b)).sum()
}

#[delayed]
fn clean(mut a: [u8; N]) -> [u8; N] {
    a[0] = 0;
    a
}

#[delayed]
fn first(a: &[u8; N]) -> u64 {
    u64::from(a[1])
}

fn plain(seed: u8) -> u64 {
    total(make(seed)) + first(&make(seed))
}

#[test]
fn dynamic_graph_of_large_values() {
    let a = delay!(make(3));
    let b = delay!(total(&a));
    let c = delay!(first(&a));
    assert_eq!((&b + &c).compute(), plain(3));
    let explicit = delayed(|x: [u8; N]| total(x)).call(delayed(|| make(4)).call());
    assert_eq!(explicit.compute(), total(make(4)));
}

#[test]
fn tree_graph_of_large_values() {
    let g = graph!(|n: u8| -> u64 { total(make(n)) + total(clean(make(n + 1))) });
    assert!(g.__runs_as_tree());
    assert_eq!(g.compute(3), total(make(3)) + total(clean(make(4))));
}

#[test]
fn dispatched_graph_of_large_values() {
    // `a` is read twice: the dispatcher runs the graph.
    let g = graph!(|n: u8| -> u64 {
        let a = make(n);
        total(clean(a)) + first(&a)
    });
    assert!(!g.__runs_as_tree());
    assert_eq!(g.compute(3), total(clean(make(3))) + first(&make(3)));
}
