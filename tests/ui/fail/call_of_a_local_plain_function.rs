use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    // A helper next to the graph, without `#[delayed]`.
    fn halve(x: i64) -> i64 {
        x / 2
    }
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        let b = inc(a);
        halve(b)
    });
    let _ = g.compute(1);
}
