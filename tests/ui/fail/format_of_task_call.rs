// A task called inside `format!` (no node name in it): the call would run before the
// graph, as constant code, rather than as a node.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn label(s: String) -> String {
    s
}

fn main() {
    let g = graph!(|x: i64| -> String { label(format!("n = {}", inc(x))) });
    let _ = g.compute(1);
}
