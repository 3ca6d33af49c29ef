// A bound of an unrolled `for` that its type cannot hold: the macro writes the counter
// as new literals (`256u8` among them), and rustc's "literal out of range for `u8`" was
// on the start, naming its text (`254u8..=256u8`: "the literal `254u8` does not fit"),
// a value that fits. Now one error on the bound that does not fit.
use taskweave::prelude::*;

#[delayed]
fn add(a: i64, b: u8) -> i64 {
    a + i64::from(b)
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let mut s = x;
        for i in 0..=256u8 {
            s = add(s, i);
        }
        s
    });
    let _ = g.compute(1);
}
