use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn half(x: i64) -> Option<i64> {
    (x % 2 == 0).then_some(x / 2)
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let Some(h) = half(x) else { return 0 };
        inc(h)
    });
    let _ = g.compute(1);
}
