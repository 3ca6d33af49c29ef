use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[derive(Clone)]
struct Point {
    x: i64,
    y: i64,
}

#[delayed]
fn origin(x: i64) -> Point {
    Point { x, y: 0 }
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let p = origin(x);
        p.y = 3;
        inc(p.x)
    });
    let _ = g.compute(1);
}
