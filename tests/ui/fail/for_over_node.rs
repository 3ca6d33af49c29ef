use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn parts(n: usize) -> Vec<i64> {
    (0..n as i64).collect()
}

fn main() {
    let g = graph!(|n: usize| -> i64 {
        let mut acc = inc(0);
        for p in parts(n) {
            acc = inc(p);
        }
        acc
    });
    let _ = g.compute(1);
}
