// The graph's last expression is of another type than the one it declares: one
// error, on that expression, with the declared type as the reason.
use taskweave::prelude::*;

#[delayed]
fn name(x: i64) -> String {
    x.to_string()
}

fn main() {
    let g = graph!(|x: i64| -> i64 { name(x) });
    let _ = g.compute(1);
}
