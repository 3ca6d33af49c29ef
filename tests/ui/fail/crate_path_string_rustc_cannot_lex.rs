// `crate = "…"` with a string that rustc's lexer rejects as code (`0b1e5`, a binary
// float): the macro lexed it to read the path, and rustc reported the lexer's error on
// the whole attribute next to the macro's own. Now only the macro's error, on the string.
use taskweave::prelude::*;

#[delayed(crate = "0b1e5")]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {}
