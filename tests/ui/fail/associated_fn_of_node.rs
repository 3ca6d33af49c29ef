use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let g = graph!(|x: i64| -> f64 {
        let a = inc(x);
        f64::from(a as i32)
    });
    let _ = g.compute(1);
}
