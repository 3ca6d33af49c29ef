use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

const K: i64 = 1;

fn main() {
    // `K` in the block would have been every `K` of the graph (2 + 10, not 2 + 1).
    let g = graph!(|x: i64| -> i64 {
        let y = {
            const K: i64 = 10;
            inc(x + K)
        };
        add(y, K)
    });
    let _ = g.compute(1);
    // Declared once per iteration.
    let h = graph!(|x: i64| -> i64 {
        let mut acc = x;
        for _ in 0..2 {
            fn step() -> i64 {
                2
            }
            acc = add(acc, step());
        }
        acc
    });
    let _ = h.compute(1);
}
