// `&&` on a task's call: the message quotes the operand as written, `!(a == inc(x))`
// (it read `! (a == inc(x))`, the tokens' spacing).
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let g = graph!(|x: i64| -> bool {
        let a = inc(x);
        !(a == inc(x)) && x > 0
    });
    let _ = g.compute(1);
}
