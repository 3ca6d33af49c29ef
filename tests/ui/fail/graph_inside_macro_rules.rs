// `graph!` expanded by a `macro_rules!` macro, calling a plain function on a node.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn plain_half(x: i64) -> i64 {
    x / 2
}

macro_rules! inc_then {
    ($step:ident) => {
        graph!(|x: i64| -> i64 {
            let a = inc(x);
            $step(a)
        })
    };
}

fn main() {
    let g = inc_then!(plain_half);
    let _ = g.compute(4);
}
