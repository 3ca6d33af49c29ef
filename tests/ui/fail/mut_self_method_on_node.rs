use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn zeros(n: usize) -> Vec<i64> {
    vec![0; n]
}

fn main() {
    let g = graph!(|n: usize| -> usize {
        let v = zeros(n);
        v.push(1);
        v.len()
    });
    let _ = g.compute(1);
}
