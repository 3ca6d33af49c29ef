use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let mut acc = inc(x);
        for _ in 0..4 {
            acc = inc(acc);
            break acc;
        }
        acc
    });
    let _ = g.compute(1);
}
