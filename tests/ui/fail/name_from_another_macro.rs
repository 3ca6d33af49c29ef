// A macro that writes `graph!` reads a name its caller gave it (`$e` is the caller's
// `a`), spelled like the graph's own node `a`: hygiene keeps them apart in plain Rust,
// so `graph!` must not read its node there. It is an error on the caller's name.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

macro_rules! plus_inc {
    ($e:expr) => {
        graph!(|x: i64| -> i64 {
            let a = inc(x);
            add(a, $e)
        })
    };
}

fn main() {
    let a = 100;
    let g = plus_inc!(a);
    let _ = g.compute(1);
}
