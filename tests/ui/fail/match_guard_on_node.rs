// A `match` guard that reads a node branches on it as the scrutinee would: the error
// is on the guard, with the reason (it was "`match` around tasks" on the keyword, in a
// `match` with no task in it).
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        match x {
            n if a > 0 => n,
            _ => 0,
        }
    });
    let _ = g.compute(1);
}
