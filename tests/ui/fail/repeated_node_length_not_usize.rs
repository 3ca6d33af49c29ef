// The length of a repeated node with a suffix other than `usize`: rustc rejects
// `[a; 3u8]` and `vec![a; 3u8]` as a length, but the macro writes the copies out, so
// rustc never saw it and the length was read as 3. Now one error on the length.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn total(parts: Vec<i64>) -> i64 {
    parts.iter().sum()
}

fn main() {
    let g = graph!(|x: i64| -> i64 { total(vec![inc(x); 3u8]) });
    let _ = g.compute(1);
}
