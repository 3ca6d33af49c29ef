use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let g = graph!(|x: i64| -> u32 {
        let a: u32 = inc(x);
        a
    });
    let _ = g.compute(1);
}
