// A task named like a primitive type: its companion type would hide `bool` in the
// whole module, and every use of `bool` there would mean it. One error, on the name.
use taskweave::prelude::*;

#[delayed]
fn bool(x: i64) -> bool {
    x > 0
}

fn main() {
    let _ = bool(1);
}
