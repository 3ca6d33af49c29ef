use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    // Each use would have seen the second definition.
    let g = graph!(|x: i64| -> (i64, i64) {
        macro_rules! k {
            () => {
                1
            };
        }
        let y = inc(x + k!());
        macro_rules! k {
            () => {
                2
            };
        }
        let z = inc(x + k!());
        (y, z)
    });
    let _ = g.compute(1);
}
