use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let g = graph!(|x: i64| -> i64 { inc(inc(x)) });
    assert_eq!(g.compute(1), 3);
}
