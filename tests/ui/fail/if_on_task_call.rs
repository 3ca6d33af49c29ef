use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn is_big(x: i64) -> bool {
    x > 100
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        if is_big(x) {
            inc(x)
        } else {
            x
        }
    });
    let _ = g.compute(1);
}
