// `let … else` is not supported inside `graph!`, even on constants (no task in it):
// the error says so, and how to write it as a `match`.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let g = graph!(|s: Option<i64>| -> i64 {
        let k = s.unwrap_or(0);
        let Some(v) = Some(k) else { panic!() };
        inc(v)
    });
    let _ = g.compute(Some(1));
}
