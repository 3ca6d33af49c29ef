// A value read by one task need not be `Sync` in `graph!` (it is handed over, not
// shared): by value, by reference, as part of a tuple split, in a tree and in a
// dispatched graph (the `?` makes it one).
use std::cell::{Cell, RefCell};
use taskweave::prelude::*;

#[delayed]
fn counter(x: i64) -> Cell<i64> {
    Cell::new(x)
}

#[delayed]
fn take(c: Cell<i64>) -> i64 {
    c.get()
}

#[delayed]
fn read(c: &Cell<i64>) -> i64 {
    c.get() * 10
}

#[delayed]
fn both(x: i64) -> (RefCell<Vec<i64>>, Cell<i64>) {
    (RefCell::new(vec![x]), Cell::new(x + 1))
}

#[delayed]
fn first(v: &RefCell<Vec<i64>>) -> i64 {
    v.borrow()[0]
}

#[delayed]
fn checked(x: i64) -> Result<i64, String> {
    Ok(x)
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {
    let tree = graph!(|x: i64| -> i64 { add(take(counter(x)), read(&counter(x + 1))) });
    assert_eq!(tree.compute(1), 1 + 20);

    let split = graph!(|x: i64| -> i64 {
        let (v, c) = both(x);
        add(first(&v), take(c))
    });
    assert_eq!(split.compute(4), 4 + 5);

    let dispatched = graph!(|x: i64| -> Result<i64, String> {
        let y = checked(x)?;
        let c = counter(y);
        Ok(add(read(&c), y))
    });
    assert_eq!(dispatched.compute(2), Ok(20 + 2));
}
