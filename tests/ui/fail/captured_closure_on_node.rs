// A closure of the function around the graph given a node: not a task, so the graph
// cannot pass it a value that exists only when the graph runs.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let triple = |x: i64| x * 3;
    let g = graph!(|y: i64| -> i64 {
        let a = inc(y);
        triple(a)
    });
    let _ = g.compute(4);
}
