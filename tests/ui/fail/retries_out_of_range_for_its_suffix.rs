// The count of `retries = n` with a value its own suffix's type cannot hold: rustc never
// sees the literal (the macro reads it), so `300u8` was read as 300. Now one error on
// the literal, as rustc would give for `300u8` written anywhere else.
use taskweave::prelude::*;

#[delayed(retries = 300u8)]
fn too_large_for_u8(x: i64) -> i64 {
    x
}

fn main() {}
