use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        let b = inc(a);
        drop(a);
        b
    });
    let _ = g.compute(1);
}
