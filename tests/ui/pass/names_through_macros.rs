// Names that a macro writing `graph!` passes through its own arguments keep their
// meaning: the input named by the caller, and a node read through the macro's own
// binding.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

macro_rules! with_input {
    ($x:ident, $k:expr) => {
        graph!(|$x: i64| -> i64 {
            let y = inc($x);
            let z = add(y, $k);
            add(z, $x)
        })
    };
}

fn main() {
    let k = 1000;
    let g = with_input!(n, k);
    // inc(1) + 1000, plus the input.
    assert_eq!(g.compute(1), 1003);
}
