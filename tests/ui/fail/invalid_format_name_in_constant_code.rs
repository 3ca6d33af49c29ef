// An inline format argument that is not an identifier, in constant code: rustc's
// "invalid format string" on the literal, as without `graph!` (the macro panicked).
use taskweave::prelude::*;

#[delayed]
fn note(s: String, x: i64) -> String {
    format!("{s}{x}")
}

fn main() {
    let g = graph!(|x: i64| -> String {
        let s = format!("{x²}");
        note(s, x)
    });
    let _ = g.compute(1);
}
