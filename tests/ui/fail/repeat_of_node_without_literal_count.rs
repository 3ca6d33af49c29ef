use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn total(v: Vec<i64>) -> i64 {
    v.iter().sum()
}

fn main() {
    // The number of copies is known only when the graph runs.
    let g = graph!(|x: i64, n: usize| -> i64 {
        let a = inc(x);
        total(vec![a; n])
    });
    let _ = g.compute(1, 3);
}
