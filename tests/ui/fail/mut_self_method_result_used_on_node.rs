// A standard library `&mut self` method (`Vec::pop`) on a node, its result used: lowered
// like any method, the node read through a binding that is not `mut`, so the receiver's
// type decides: rustc's "cannot borrow as mutable" (a `&self` method so named compiles).
use taskweave::prelude::*;

#[delayed]
fn load(n: i64) -> Vec<i64> {
    vec![n; 2]
}

fn main() {
    let g = graph!(|x: i64| -> Option<i64> {
        let v = load(x);
        let last = v.pop();
        last
    });
    let _ = g.compute(1);
}
