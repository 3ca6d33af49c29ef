use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn name(x: i64) -> String {
    x.to_string()
}

fn main() {
    // The error is on the argument alone.
    let g = graph!(|x: i64| -> i64 {
        let s = name(x);
        inc(s)
    });
    let _ = g.compute(1);
}
