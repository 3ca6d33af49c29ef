// The closure reads the node `a` before binding an `a` of its own: that first read is
// a capture, whatever the closure binds after it.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        let f = |z: i64| {
            let y = a + z;
            let a = 1;
            y + a
        };
        inc(x)
    });
    let _ = g.compute(1);
}
