// `+=` would change a value that does not exist yet; rebind instead: `d = d + 1`.
use taskweave::prelude::*;

fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let mut d = delayed(inc).call(1);
    d += 1;
    let _ = d.compute();
}
