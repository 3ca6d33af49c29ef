use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn offset(x: i64) -> i64 {
    x * 10
}

fn main() {
    // A call in an argument of `delay!` is a node too.
    let d = delay!(inc(offset(2)));
    let _ = d.compute();
}
