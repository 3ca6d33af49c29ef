// Rebinding instead of mutation: `y = f(y)` and `a = a + 1` make new nodes; shadowing
// with `let` works as in Rust, an input included.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn double(x: i64) -> i64 {
    x * 2
}

fn main() {
    let g = graph!(|x: i64| -> (i64, i64) {
        let mut y = inc(x);
        y = double(y);
        y = y + 1;
        let x = inc(x);
        let x = double(x);
        (y, x)
    });
    let expected = (double(inc(3)) + 1, double(inc(3)));
    assert_eq!(g.compute(3), expected);
    assert_eq!(g.compute_with(Scheduler::Sync, 3), expected);
}
