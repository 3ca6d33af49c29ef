// `delayed(f).call(..)` of a function whose result is not `Sync`: the node's value
// must be `Sync` (as `delay!`'s), and the error says so on the call, rather than
// rustc taking `.call` for the unstable `Fn::call`.
use std::cell::Cell;
use taskweave::prelude::*;

fn counter(x: i64) -> Cell<i64> {
    Cell::new(x)
}

fn main() {
    let c = delayed(counter).call(1);
    let _ = c;
}
