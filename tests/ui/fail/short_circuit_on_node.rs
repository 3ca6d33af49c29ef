use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let g = graph!(|x: i64| -> bool {
        let a = inc(x);
        a > 0 && x > 0
    });
    let _ = g.compute(1);
}
