// A task named like a primitive type is one error, on its name
// (`task_named_like_a_primitive`); a `delay!` of it adds none.
use taskweave::prelude::*;

#[delayed]
fn bool(x: i64) -> bool {
    x > 0
}

fn main() {
    let d = delay!(bool(1));
    let _ = d.compute();
}
