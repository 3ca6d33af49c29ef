// In `delay!`, a call in an argument is a node, which needs a `#[delayed]` function; a
// closure bound before the macro is not one. One error, saying that `h` is a local
// variable: compute `h(1)` before `delay!` and pass the value, or make a node of the
// closure with `delayed(h).call(1)`.
use taskweave::prelude::*;

#[delayed]
fn inc(x: u64) -> u64 {
    x + 1
}

fn main() {
    let h = |x: u64| x + 1;
    let d = delay!(inc(h(1)));
    let _ = d.compute();
}
