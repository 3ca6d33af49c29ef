use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let g = graph! {
        let a = inc(1);
        &a
    };
    let _ = g.compute();
}
