use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let y = inc(x);
        inc(y);
    });
    let _ = g.compute(1);
}
