use taskweave::prelude::*;

fn plain(x: i64) -> i64 {
    x * 2
}

fn main() {
    let d = delay!(plain(3));
    let _ = d.compute();
}
