use taskweave::prelude::*;

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {
    // `v` is the input `x`, read in place: inside the closure, whose parameter is `x`
    // too, it would be the parameter (13 where plain Rust gives 22 for x = 10).
    let g = graph!(|x: i64| -> i64 {
        let v = x;
        let f = |x: i64| x + v;
        add(x, f(1))
    });
    let _ = g.compute(10);
}
