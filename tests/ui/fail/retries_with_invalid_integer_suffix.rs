// The count of `retries = n` with a suffix that is no integer type: the macro reads the
// literal and rustc never sees it, so `3i7` and `0b1e5` (the binary `0b1` with the suffix
// `e5`; rustc's lexer also reports it as a binary float) were read as 3 and 1. Now one
// error on the literal, with what to write instead.
use taskweave::prelude::*;

#[delayed(retries = 3i7)]
fn odd_type(x: i64) -> i64 {
    x
}

#[delayed(retries = 0b1e5)]
fn binary_float(x: i64) -> i64 {
    x
}

fn main() {}
