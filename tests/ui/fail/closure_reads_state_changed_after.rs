// A closure given to a task runs when the task runs, after all of the graph's constant
// code: constant code after the call that changes what the closure reads would change
// its result (sequential code calls it first), so it is an error.
use std::sync::atomic::AtomicI64;
use taskweave::prelude::*;

#[delayed]
fn apply(x: i64, f: impl Fn(i64) -> i64 + Send) -> i64 {
    f(x)
}

static COUNT: AtomicI64 = AtomicI64::new(0);

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let mut v = vec![1];
        let a = apply(x, |z| z + v.len() as i64);
        v.push(2);
        a
    });
    let _ = g.compute(3);
    let g = graph!(|x: i64| -> i64 {
        let a = apply(x, |z| z + COUNT.load(std::sync::atomic::Ordering::SeqCst));
        COUNT.store(9, std::sync::atomic::Ordering::SeqCst);
        a
    });
    let _ = g.compute(3);
    // The same closure bound to a name first.
    let g = graph!(|x: i64| -> i64 {
        let f = |z: i64| z + COUNT.load(std::sync::atomic::Ordering::SeqCst);
        let a = apply(x, f);
        COUNT.store(9, std::sync::atomic::Ordering::SeqCst);
        a
    });
    let _ = g.compute(3);
}
