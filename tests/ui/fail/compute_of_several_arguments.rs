// `taskweave::compute` takes its values as one tuple: `compute((&a, &b))`, not
// `compute(&a, &b)`.
use taskweave::prelude::*;

fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let a = delayed(inc).call(1);
    let b = delayed(inc).call(2);
    let (x, y) = taskweave::compute(&a, &b);
    let _ = (x, y);
}
