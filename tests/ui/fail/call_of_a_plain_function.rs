use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn plain(x: i64) -> i64 {
    x * 2
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        plain(a)
    });
    let _ = g.compute(1);
}
