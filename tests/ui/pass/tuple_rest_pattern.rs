// `..` in a tuple pattern binds nothing, as in plain Rust: of a task's tuple, of a
// tuple of nodes, nested, in the middle, and of constants; checked against the same
// code run sequentially.
use taskweave::prelude::*;

#[delayed]
fn three(x: i64) -> (i64, String, Vec<i64>) {
    (x + 1, format!("n{x}"), vec![x; 3])
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[delayed]
fn len(s: &str) -> i64 {
    s.len() as i64
}

fn sequential(x: i64) -> i64 {
    let (first, ..) = three(x);
    let (.., last) = three(x + 1);
    let (a, .., c) = (first, 7, 8, last.len() as i64);
    let ((p, ..), q) = (three(a), c);
    let (k, ..) = (x * 2, x * 3);
    add(add(p, q), add(k, len(&three(x).1)))
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let (first, ..) = three(x);
        let (.., last) = three(x + 1);
        let (a, .., c) = (first, 7, 8, last.len() as i64);
        let ((p, ..), q) = (three(a), c);
        let (k, ..) = (x * 2, x * 3);
        add(add(p, q), add(k, len(&three(x).1)))
    });
    for x in [0, 1, 5] {
        assert_eq!(g.compute(x), sequential(x));
    }
}
