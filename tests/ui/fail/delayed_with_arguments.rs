use taskweave::prelude::*;

#[delayed(pure)]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {}
