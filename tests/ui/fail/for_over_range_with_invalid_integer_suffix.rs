// `0b0e5` reaches the macro as one literal, the binary `0b0` with the suffix `e5` (rustc's
// lexer also reports it as a binary float): the unrolled loop's counter, written as new
// literals with that suffix, would be no integer literal (the macro panicked on it). The
// macro's own error is on the literal, with what to write instead.
use taskweave::prelude::*;

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let mut s = x;
        for i in 0b0e5..4 {
            s = add(s, i);
        }
        s
    });
    let _ = g.compute(1);
}
