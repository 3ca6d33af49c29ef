// Closures given to tasks that read nothing constant code changes after the call:
// each graph gives what the same code run sequentially gives (the values written out).
use taskweave::prelude::*;

#[delayed]
fn apply(x: i64, f: impl Fn(i64) -> i64 + Send) -> i64 {
    f(x)
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {
    // What the closure reads is read into a `let` before the change.
    let g = graph!(|x: i64| -> i64 {
        let mut v = vec![1];
        let n = v.len() as i64;
        let a = apply(x, |z: i64| z.abs() + n);
        v.push(2);
        let b = apply(x, |z: i64| z.to_string().len() as i64 + i64::from(3u8));
        v.push(3);
        add(a * 10 + b, v.len() as i64)
    });
    // Sequentially: a = 3 + 1, b = 1 + 3, three items.
    assert_eq!(g.compute(3), 4 * 10 + 4 + 3);
    // Bound to a name first, reading a `let` made before the change.
    let g = graph!(|x: i64| -> i64 {
        let mut v = vec![1, 2];
        let n = v.len() as i64;
        let f = |z: i64| z * n;
        let a = apply(x, f);
        v.push(3);
        add(a, v.len() as i64)
    });
    assert_eq!(g.compute(3), 3 * 2 + 3);
    // A `move` closure keeps the value it copied; a rebinding after it is a new name.
    let g = graph!(|x: i64| -> i64 {
        let mut k = 2;
        let a = apply(x, move |z| z * k);
        k = k * 2 + x;
        add(a, k)
    });
    assert_eq!(g.compute(3), 13);
    // State read after every change to it.
    let g = graph!(|x: i64| -> i64 {
        let mut v = vec![1];
        v.push(5);
        apply(x, |z| z + v.len() as i64 + v[1])
    });
    assert_eq!(g.compute(3), 10);
}
