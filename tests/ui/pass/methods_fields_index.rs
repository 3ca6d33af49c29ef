// Methods (by `&self` and by value), fields, tuple fields, indexing and casts on nodes.
use taskweave::prelude::*;

#[derive(Debug, Clone, PartialEq)]
struct Point {
    x: i64,
    y: i64,
}

impl Point {
    fn norm1(&self) -> i64 {
        self.x.abs() + self.y.abs()
    }
    fn scaled(self, k: i64) -> Point {
        Point {
            x: self.x * k,
            y: self.y * k,
        }
    }
}

#[delayed]
fn make_point(x: i64, y: i64) -> Point {
    Point { x, y }
}

#[delayed]
fn load(n: usize) -> Vec<f64> {
    (0..n).map(|i| i as f64 * 1.5).collect()
}

#[delayed]
fn pair(x: i64) -> (i64, String) {
    (x * 3, format!("#{x}"))
}

#[delayed]
fn half(x: i64) -> Option<i64> {
    (x % 2 == 0).then_some(x / 2)
}

fn main() {
    let g = graph!(|x: i64,
                    y: i64,
                    n: usize|
     -> (i64, i64, i64, Point, f64, usize, i64, String, f64, i64) {
        let p = make_point(x, y);
        let v = load(n);
        let t = pair(x);
        (
            p.x,
            p.norm1(),
            p.y.pow(2),
            p.clone().scaled(y),
            v[1],
            v.len(),
            t.0,
            t.1.to_uppercase(),
            p.x as f64 + v[2],
            half(y).unwrap_or(-1),
        )
    });
    let (p, v, t) = (make_point(-3, 4), load(3), pair(-3));
    let expected = (
        p.x,
        p.norm1(),
        p.y.pow(2),
        p.clone().scaled(4),
        v[1],
        v.len(),
        t.0,
        t.1.to_uppercase(),
        p.x as f64 + v[2],
        half(4).unwrap_or(-1),
    );
    assert_eq!(g.compute(-3, 4, 3), expected);
    assert_eq!(g.compute_with(Scheduler::Sync, -3, 4, 3), expected);
}
