use taskweave::prelude::*;

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {
    // rustc's help quotes the call as written: `add(a, /* i64 */)`.
    let g = graph!(|x: i64| -> i64 {
        let a = add(x, 1);
        add(a)
    });
    let _ = g.compute(1);
}
