// `delay!` calls `#[delayed]` functions through their companions; an associated
// function (`i64::max`) has none. One error, with the explicit form to write instead.
use taskweave::prelude::*;

fn main() {
    let d = delay!(i64::max(1, 2));
    let _ = d.compute();
}
