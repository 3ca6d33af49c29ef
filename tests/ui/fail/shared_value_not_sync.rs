// A value read by two tasks is lent to both, maybe at the same time on different
// threads: it must be `Sync`. The error is on the task that makes it.
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

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let c = counter(x);
        add(read(&c), read(&c))
    });
    let _ = g.compute(1);
}
