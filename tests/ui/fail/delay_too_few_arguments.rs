// `delay!` of a task with an argument missing: rustc's arity error on the call, naming
// the missing parameter's type.
use taskweave::prelude::*;

#[delayed]
fn add(x: u64, y: u64) -> u64 {
    x + y
}

fn main() {
    let d = delay!(add(1));
    let _ = d.compute();
}
