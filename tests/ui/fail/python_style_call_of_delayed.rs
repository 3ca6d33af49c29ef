// Dask's `delayed(inc)(1)`: in Rust the builder is not a function; the call is
// `delayed(inc).call(1)`.
use taskweave::prelude::*;

fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let d = delayed(inc)(1);
    let _ = d.compute();
}
