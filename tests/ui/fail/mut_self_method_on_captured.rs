use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let results: Vec<i64> = Vec::new();
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        results.push(a);
        a
    });
    let _ = g.compute(1);
    let _ = results;
}
