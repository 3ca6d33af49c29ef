//! Topic 6: the decorator and the explicit form. Mark a function once and every call
//! of it in a graph is a task (Dask's `@delayed`), or wrap any function, method or
//! closure at the call (Dask's `delayed(f)(x)`).
//!
//! Dask:
//! ```python
//! @delayed
//! def inc(x): return x + 1
//! a = inc(1)                          # a Delayed
//! b = delayed(max)(a, 10)             # any callable, wrapped at the call
//! c = delayed(square, pure=True)(7)   # equal calls share one key
//! d = delayed(f(x))                   # wrong: f(x) runs now, only its result is delayed
//! ```
//! taskweave: `#[delayed] fn inc`, then `delay!(inc(1))` or a call inside `graph!`;
//! `delayed(f).call(…)` for anything else; `#[delayed(pure)]` or `.pure()`;
//! `.named("…")` for a readable name.
//!
//! Run: `cargo run --release --example 06_decorator_and_explicit`

use std::sync::atomic::{AtomicUsize, Ordering};

use taskweave::prelude::*;

/// Decorated: a task wherever `delay!` or `graph!` calls it.
#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

/// Decorated, and pure: equal calls are one node.
#[delayed(pure)]
fn square(x: i64) -> i64 {
    SQUARES.fetch_add(1, Ordering::SeqCst);
    x * x
}

static SQUARES: AtomicUsize = AtomicUsize::new(0);

/// Not decorated: an ordinary function from "some other library".
fn clamp_to_100(x: i64) -> i64 {
    x.min(100)
}

#[delayed]
fn sum(values: Vec<i64>) -> i64 {
    values.iter().sum()
}

fn names(d: &Delayed<i64>) -> Vec<String> {
    d.info().nodes().iter().map(|n| n.name.clone()).collect()
}

fn main() {
    // 1. The decorator. Called directly, inc is a plain function; in delay!, a node.
    println!("inc(1) called directly = {}", inc(1));
    let a = delay!(inc(1));
    let b = delay!(inc(inc(a))); // nested calls are nodes too
    println!(
        "delay!(inc(inc(inc(1)))): nodes {:?} = {}",
        names(&b),
        b.compute()
    );

    // In graph!, every call of a #[delayed] fn is a node, checked at compile time.
    let g = graph!(|x: i64| -> i64 { inc(inc(inc(x))) });
    println!("graph! of the same: {} nodes = {}", g.len(), g.compute(1));

    // 2. The explicit form: any function, std function or closure, at the call.
    let c = delayed(clamp_to_100).call(&b);
    let d = delayed(i64::max).call(&c, 2);
    let e = delayed(|x: i64, y: i64| x * 10 + y)
        .named("combine")
        .call(d, c);
    println!("explicit: nodes {:?} = {}", names(&e), e.compute());

    // 3. Pure calls: equal arguments, one node, one run.
    let parts: Vec<Delayed<i64>> = [3, 4, 3, 3, 4].iter().map(|&x| delay!(square(x))).collect();
    let total = delay!(sum(parts));
    println!(
        "5 calls of pure square (3, 4, 3, 3, 4): {} nodes, result {}, square ran {} times",
        total.info().len(),
        total.compute(),
        SQUARES.load(Ordering::SeqCst)
    );
    let cube = delayed(|x: i64| x * x * x).pure();
    let parts = vec![cube.call(2), cube.call(2), cube.call(5)];
    let total = delay!(sum(parts));
    println!(
        "3 calls of a pure closure (2, 2, 5): {} nodes, result {}",
        total.info().len(),
        total.compute()
    );
    let impure = delayed(|x: i64| x * x * x);
    let parts = vec![impure.call(2), impure.call(2), impure.call(5)];
    let total = delay!(sum(parts));
    println!(
        "the same calls, not pure: {} nodes, result {}",
        total.info().len(),
        total.compute()
    );

    // 4. Dask's "call delayed on the function, not the result": delayed(f(x)) would
    //    run f(x) now. Here delayed() takes the function, so `delayed(inc(1))` does
    //    not compile:
    //      error[E0277]: the trait bound `i64: graph_runtime::dynamic::Signature<_>`
    //      is not satisfied
    //    (an i64 is not a function); `delay!(inc(1))` and `delayed(inc).call(1)` both
    //    wait for compute.
    let lazy = delayed(inc).call(1);
    println!("delayed(inc).call(1): {lazy:?} = {}", lazy.compute());
}
