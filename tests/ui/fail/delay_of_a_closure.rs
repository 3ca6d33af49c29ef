// `delay!` takes a call of a `#[delayed]` function; a closure bound before the macro is
// not one. One error, with the explicit form that makes a node of any closure.
use taskweave::prelude::*;

fn main() {
    let h = |x: u64| x + 1;
    let d = delay!(h(1));
    let _ = d.compute();
}
