use taskweave::prelude::*;

#[delayed]
fn bump(x: &mut i64) -> i64 {
    *x += 1;
    *x
}

fn main() {}
