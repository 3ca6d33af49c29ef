//! Large values passed by value between tasks of a dynamic graph (arrays of 256 KiB,
//! on 2 MiB worker stacks) compute as plain code does, in debug builds too, where every
//! frame a value passes through keeps a copy of it (the run overflowed the worker's
//! stack and aborted the process). Static graphs do not have this room yet.

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
