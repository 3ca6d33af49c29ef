// `delay!` of a task with an argument too many: rustc's arity error on the call, with
// the extra argument marked, and no error naming the macro's readers.
use taskweave::prelude::*;

#[delayed]
fn inc(x: u64) -> u64 {
    x + 1
}

fn main() {
    let d = delay!(inc(1, 2));
    let _ = d.compute();
}
