// A `match` guard on constants is constant code, even when its arm binds a name that a
// node of the graph has: the binding is what the guard reads, as in plain Rust.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        let m = match x {
            a if a > 2 => a * 10,
            _ => 1,
        };
        inc(a + m)
    });
    let plain = |x: i64| -> i64 {
        let a = inc(x);
        let m = match x {
            a if a > 2 => a * 10,
            _ => 1,
        };
        inc(a + m)
    };
    for x in [0, 3, 7] {
        assert_eq!(g.compute(x), plain(x));
    }
}
