use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn offset(x: i64) -> i64 {
    x * 10
}

fn main() {
    // Every call of a free function inside `graph!` is a node, constants or not.
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        a + offset(3)
    });
    let _ = g.compute(1);
}
