// A closure whose parameter is named like a node reads its parameter, not the node:
// it captures nothing.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn apply(f: fn(i64) -> i64, x: i64) -> i64 {
    f(x)
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        apply(|a| a * 2, a)
    });
    assert_eq!(g.compute(1), 4);
}
