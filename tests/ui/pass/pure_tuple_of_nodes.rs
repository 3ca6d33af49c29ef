// A pair or a triple of nodes is an argument of a pure task too, keyed by its nodes'
// keys: equal tuples, one node.
use taskweave::prelude::*;

#[delayed]
fn inc(x: u64) -> u64 {
    x + 1
}

#[delayed(pure)]
fn add_pair(p: (u64, u64)) -> u64 {
    p.0 + p.1
}

#[delayed(pure)]
fn sum_triple(p: &(u64, u64, u64)) -> u64 {
    p.0 + p.1 + p.2
}

fn main() {
    let (a, b) = (delay!(inc(1)), delay!(inc(2)));
    let pair = delay!(add_pair((&a, &b)));
    let again = delay!(add_pair((a.clone(), b.clone())));
    assert_eq!(pair.key(), again.key());
    assert_eq!(pair.compute(), add_pair((inc(1), inc(2))));
    let c = delay!(inc(3));
    let triple = delay!(sum_triple((a, b, c)));
    assert_eq!(triple.compute(), sum_triple(&(inc(1), inc(2), inc(3))));
}
