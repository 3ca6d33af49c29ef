// `drop` of a node where the file does not settle which `drop` is meant (a glob import
// the macro cannot follow may bring in a task named `drop`): the prelude's is assumed,
// as rustc resolves it here, and the message says how to call a task so named.
use std::collections::*;
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let _: HashMap<i64, i64> = HashMap::new();
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        let b = inc(a);
        drop(a);
        b
    });
    let _ = g.compute(1);
}
