use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    // rustc's error, as without `graph!` (the attribute was ignored, the statement kept).
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        #[cfg]
        let a = inc(a);
        a
    });
    let _ = g.compute(1);
}
