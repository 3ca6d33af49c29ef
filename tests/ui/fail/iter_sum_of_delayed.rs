// `d.iter().sum()`: the items do not exist until the graph runs.
use taskweave::prelude::*;

fn parts(n: usize) -> Vec<i64> {
    (0..n as i64).collect()
}

fn main() {
    let d = delayed(parts).call(3);
    let total: i64 = d.iter().sum();
    let _ = total;
}
