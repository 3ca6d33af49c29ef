// Dask: `if d > 3` raises `TypeError: Truth of Delayed objects is not supported`.
use taskweave::prelude::*;

fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let d = delayed(inc).call(1);
    if d > 3 {
        println!("big");
    }
}
