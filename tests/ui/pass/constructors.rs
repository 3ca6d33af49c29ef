// Constructors of nodes: `Some`, `Ok`, tuple structs, struct literals, enum variants.
use taskweave::prelude::*;

#[derive(Debug, Clone, PartialEq)]
struct Point {
    x: i64,
    y: i64,
}

#[derive(Debug, Clone, PartialEq)]
struct Meters(i64);

#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Square(i64),
}

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let g = graph!(
        |x: i64| -> (Option<i64>, Result<i64, String>, Point, Meters, Shape) {
            let a = inc(x);
            (
                Some(a),
                Ok(a),
                Point { x: a, y: inc(a) },
                Meters(a),
                Shape::Square(a),
            )
        }
    );
    let a = inc(1);
    let expected = (
        Some(a),
        Ok(a),
        Point { x: a, y: inc(a) },
        Meters(a),
        Shape::Square(a),
    );
    assert_eq!(g.compute(1), expected);
    assert_eq!(g.compute_with(Scheduler::Sync, 1), expected);
}
