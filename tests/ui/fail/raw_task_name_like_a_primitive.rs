// A task named like a primitive type through a raw identifier (`r#u8` is `u8`): its
// companion type would hide `u8` in the whole module as much as `fn u8` would. It was
// accepted, and every later `u8` of the module meant the companion type.
use taskweave::prelude::*;

#[delayed]
fn r#u8(x: i64) -> i64 {
    x
}

fn main() {
    let _ = r#u8(1);
    let _: u8 = 3;
}
