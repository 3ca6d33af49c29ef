// `delayed` takes the function itself; `delayed(inc(1))` calls `inc` now and passes
// its result.
use taskweave::prelude::*;

fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let d = delayed(inc(1));
    let _ = d;
}
