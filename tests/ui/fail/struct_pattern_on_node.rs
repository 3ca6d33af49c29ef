use taskweave::prelude::*;

#[derive(Clone)]
pub struct Point {
    x: i64,
    y: i64,
}

#[delayed]
fn make(x: i64) -> Point {
    Point { x, y: x + 1 }
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let Point { x: a, y: b } = make(x);
        add(a, b)
    });
    let _ = g.compute(1);
}
