// `for` over an array written out (constants, captured values, nodes) and over a
// literal range reversed (`(0..3).rev()`, nested) unrolls as a range does, checked
// against the same code run sequentially; they were refused ("needs a literal range").
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a * 10 + b
}

fn main() {
    let base = 7i64;
    let g = graph!(|y: i64| -> i64 {
        let a = inc(y);
        let b = inc(a);
        let mut s = inc(0);
        for i in [5, 7, base] {
            s = add(s, i);
        }
        for v in [a, b, inc(100)] {
            s = add(s, v);
        }
        for i in (0..3).rev() {
            s = add(s, i);
        }
        for i in (1..=2).rev() {
            for j in (0..i).rev() {
                s = add(s, j + i);
            }
        }
        for _ in [1, 2] {
            s = add(s, 0);
        }
        for i in [-1i64, 2] {
            s = add(s, i);
        }
        s
    });
    let plain = |y: i64| {
        let a = inc(y);
        let b = inc(a);
        let mut s = inc(0);
        for i in [5, 7, base] {
            s = add(s, i);
        }
        for v in [a, b, inc(100)] {
            s = add(s, v);
        }
        for i in (0..3).rev() {
            s = add(s, i);
        }
        for i in (1..=2).rev() {
            for j in (0..i).rev() {
                s = add(s, j + i);
            }
        }
        for _ in [1, 2] {
            s = add(s, 0);
        }
        for i in [-1i64, 2] {
            s = add(s, i);
        }
        s
    };
    assert_eq!((g.compute(1), g.compute(-4)), (plain(1), plain(-4)));
}
