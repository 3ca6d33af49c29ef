use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let mut runs = 0;
    let g = graph!(|x: i64| -> i64 {
        runs += 1;
        inc(x)
    });
    let _ = g.compute(1);
    let _ = runs;
}
