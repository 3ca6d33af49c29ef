use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    // One error, on the inputs: none more on the `compute` below.
    let g = graph!(|a: i64, b: i64, c: i64, d: i64, e: i64, f: i64, g: i64, h: i64, i: i64| -> i64 {
        inc(a + b + c + d + e + f + g + h + i)
    });
    let _ = g.compute(1, 2, 3, 4, 5, 6, 7, 8, 9);
}
