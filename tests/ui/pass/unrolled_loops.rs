// `for` over literal ranges is unrolled at compile time: half-open and inclusive
// ranges, negative bounds, `_`, nested loops, `let`s inside the body.
use taskweave::prelude::*;

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let mut acc = inc(x);
        for i in -2..3 {
            acc = add(acc, i);
        }
        for k in 1..=3 {
            let step = inc(k * 10 + x);
            acc = add(acc, step);
        }
        for i in 0..2 {
            for j in 0..2 {
                acc = add(acc, i * 10 + j);
            }
        }
        for _ in 0..2 {
            acc = inc(acc);
        }
        acc
    });
    let mut acc = inc(4);
    for i in -2..3 {
        acc = add(acc, i);
    }
    for k in 1..=3 {
        acc = add(acc, inc(k * 10 + 4));
    }
    for i in 0..2 {
        for j in 0..2 {
            acc = add(acc, i * 10 + j);
        }
    }
    for _ in 0..2 {
        acc = inc(acc);
    }
    assert_eq!(g.compute(4), acc);
    assert_eq!(g.compute_with(Scheduler::Sync, 4), acc);
}
