// Dask: `for x in d` raises `TypeError: Delayed objects of unspecified length are not
// iterable`.
use taskweave::prelude::*;

fn parts(n: usize) -> Vec<i64> {
    (0..n as i64).collect()
}

fn main() {
    let d = delayed(parts).call(3);
    for x in &d {
        println!("{x}");
    }
    for x in d {
        println!("{x}");
    }
}
