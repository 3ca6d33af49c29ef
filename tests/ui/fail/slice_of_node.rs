// Slicing a node (`a[1..3]`) would make a node of a borrowed, unsized `[T]`: slice it
// inside a `#[delayed]` function that returns an owned value.
use taskweave::prelude::*;

#[delayed]
fn mk(x: i64) -> Vec<i64> {
    vec![x; 5]
}

#[delayed]
fn total(values: Vec<i64>) -> i64 {
    values.iter().sum()
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let a = mk(x);
        total(a[1..3].to_vec())
    });
    let _ = g.compute(2);
}
