use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let g = graph!(|x: i64, big: bool| -> i64 {
        if big {
            inc(x)
        } else {
            x
        }
    });
    let _ = g.compute(1, true);
}
