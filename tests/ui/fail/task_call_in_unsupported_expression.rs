// A task called inside an expression `graph!` does not lower (a range): one error on
// it, not a call run before the graph as constant code.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn width(r: std::ops::Range<i64>) -> i64 {
    r.end - r.start
}

fn main() {
    let g = graph!(|x: i64| -> i64 { width(inc(x)..10) });
    let _ = g.compute(1);
}
