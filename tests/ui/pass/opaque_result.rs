// A task whose result is an opaque type (`impl Iterator + Send`) is a node like any
// other; its `Send` is checked where the graph reads it.
use taskweave::prelude::*;

#[delayed]
fn evens(x: i64) -> impl Iterator<Item = i64> + Send {
    (0..x).map(|v| v * 2)
}

#[delayed]
fn total(values: Vec<i64>) -> i64 {
    values.iter().sum()
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let it = evens(x);
        total(it.collect::<Vec<i64>>())
    });
    assert_eq!(g.compute(3), 6);
}
