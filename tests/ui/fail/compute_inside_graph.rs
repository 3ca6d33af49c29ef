use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let inner = graph!(|x: i64| -> i64 { inc(x) });
    let g = graph!(|x: i64| -> i64 {
        let a = inner.compute(x);
        inc(a)
    });
    let _ = g.compute(1);
}
