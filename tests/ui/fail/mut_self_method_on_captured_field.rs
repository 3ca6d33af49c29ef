// A standard library `&mut self` method on a field of a captured variable, its result
// used (`config.base.insert(i, inc(x))`): a graph never mutates what it captures (every
// run reads it afresh, and runs may share it across threads). `MutateCaptured`'s
// message, on the method's name. It was rustc's E0525 on the whole graph ("this closure
// implements `FnOnce`, not `Fn`": the field was moved out of the variable).
use std::collections::HashMap;
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

pub struct Config {
    base: HashMap<i64, i64>,
}

fn main() {
    let config = Config {
        base: HashMap::new(),
    };
    let g = graph!(|x: i64| -> Option<i64> {
        let i = 3;
        let old = config.base.insert(i, inc(x));
        old
    });
    let _ = g.compute(1);
}
