use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let g = graph!(|n: i64| -> i64 {
        let mut acc = inc(0);
        for _ in 0..n {
            acc = inc(acc);
        }
        acc
    });
    let _ = g.compute(3);
}
