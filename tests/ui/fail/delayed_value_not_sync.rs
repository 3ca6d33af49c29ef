// A `Delayed`'s value may be read by several tasks at once: it must be `Sync`, even
// when one task reads it. The error is on the task that makes it. (The reader's
// argument gets a second error, a mismatched type: the node has no value type to
// offer it.)
use std::cell::Cell;
use taskweave::prelude::*;

#[delayed]
fn counter(x: i64) -> Cell<i64> {
    Cell::new(x)
}

#[delayed]
fn read(c: &Cell<i64>) -> i64 {
    c.get()
}

fn main() {
    let c = delay!(counter(1));
    let r = delay!(read(&c));
    let _ = r.compute();
}
