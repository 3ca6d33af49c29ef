use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let g = graph!(|(x, y): (i64, i64)| -> i64 { inc(x + y) });
    let _ = g.compute((1, 2));
}
