//! Topic 10: prohibited operations, and why. A node's value does not exist while the
//! graph is built, and once computed it may be read by several tasks on several
//! threads. So a graph cannot branch on it, iterate it, print it or mutate it. Dask
//! finds out when the line runs (`TypeError: Truth of Delayed objects is not
//! supported`), or never (a mutation is silently lost); taskweave refuses to compile,
//! on the tokens that caused it, and says what to write instead.
//!
//! Every wrong version below is in a comment with the compiler's exact message (from
//! the reviewed UI tests, `tests/ui/fail/<name>.rs` and `.stderr`, or from rustc for
//! `Delayed<T>`); the fixed version runs. `docs::compile_errors` lists every case.
//!
//! Run: `cargo run --release --example 10_prohibited_operations`

use std::sync::Arc;

use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn parts(n: usize) -> Vec<i64> {
    (0..n as i64).collect()
}

#[delayed]
fn zeros(n: usize) -> Vec<i64> {
    vec![0; n]
}

fn main() {
    // ── 1. `if` (or `match`, `while`) on a node ───────────────────────────────────────
    // Dask: `if a > 3:` raises `TypeError: Truth of Delayed objects is not supported`.
    // Wrong (tests/ui/fail/if_on_node.rs):
    //     let g = graph!(|x: i64| -> i64 {
    //         let a = inc(x);
    //         if a > 3 { inc(a) } else { a }
    //     });
    // error: `if` on `a`: its value is not known until the graph runs, so the graph
    //   cannot branch on it while it is built (Dask: `TypeError: Truth of Delayed
    //   objects is not supported`); move the `if` into a `#[delayed]` function that
    //   takes `a` and returns the result
    //   --> tests/ui/fail/if_on_node.rs:11:12
    //    |
    // 11 |         if a > 3 { inc(a) } else { a }
    //    |            ^^^^^
    // Fix: the decision goes into a task, which sees the value.
    #[delayed]
    fn step(a: i64) -> i64 {
        if a > 3 {
            a + 1
        } else {
            a
        }
    }
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        step(a)
    });
    println!(
        "1. if on a node, fixed with a task: step(inc(4)) = {}",
        g.compute(4)
    );

    // ── 2. `for` over a node ────────────────────────────────────────────────────────
    // Dask: `for p in parts(n):` raises `TypeError: Delayed objects of unspecified
    // length are not iterable`.
    // Wrong (tests/ui/fail/for_over_node.rs):
    //     let g = graph!(|n: usize| -> i64 {
    //         let mut acc = inc(0);
    //         for p in parts(n) {
    //             acc = inc(p);
    //         }
    //         acc
    //     });
    // error: `for` over `parts(n)`: its length is not known until the graph runs
    //   (Dask: `TypeError: Delayed objects of unspecified length are not iterable`);
    //   process the collection inside a `#[delayed]` function, or build one task per
    //   item at run time with `Delayed<T>`
    //   --> tests/ui/fail/for_over_node.rs:16:18
    //    |
    // 16 |         for p in parts(n) {
    //    |                  ^^^^^^^^
    // Fix: loop inside a task…
    #[delayed]
    fn sum_of_incs(values: &[i64]) -> i64 {
        values.iter().map(|v| v + 1).sum()
    }
    let g = graph!(|n: usize| -> i64 { sum_of_incs(&parts(n)) });
    // …or, when the count is a plain value, one task per item at run time.
    let n = 5;
    let items: Vec<Delayed<i64>> = (0..n).map(|i| delay!(inc(i))).collect();
    let total = delayed(|v: Vec<i64>| v.iter().sum::<i64>()).call(items);
    println!(
        "2. for over a node, fixed: in a task {}, one task per item {} ({} nodes)",
        g.compute(5),
        total.compute(),
        total.info().len()
    );

    // ── 3. `for` over a range known only at run time, inside graph! ─────────────────
    // Wrong (tests/ui/fail/for_over_runtime_range.rs):
    //     let g = graph!(|n: i64| -> i64 {
    //         let mut acc = inc(0);
    //         for _ in 0..n {
    //             acc = inc(acc);
    //         }
    //         acc
    //     });
    // error: `for` inside `graph!` is unrolled at compile time, so it needs a literal
    //   range such as `0..4` or `1..=8`; for a count known only at run time, build the
    //   graph with `Delayed<T>` or map over the items inside one `#[delayed]` function
    //   --> tests/ui/fail/for_over_runtime_range.rs:11:18
    // Fix: build the chain at run time.
    let n = 10;
    let mut acc = delay!(inc(0));
    for _ in 0..n {
        acc = delay!(inc(acc));
    }
    println!(
        "3. run-time loop, fixed with Delayed: {} ({} nodes)",
        acc.compute(),
        acc.info().len()
    );

    // ── 4. Mutating a node: `+=`, `v.push(…)`, `p.y = …`, `&mut a` ───────────────────
    // Dask: `v.append(1)` on a Delayed list builds a task whose result is dropped;
    // the change is silently lost.
    // Wrong (tests/ui/fail/compound_assign_on_node.rs):
    //     let mut a = inc(x);
    //     a += 1;
    // error: `+=` would mutate `a`, a task's result that other tasks may be reading
    //   (and that may be shared across threads); write `a = a + 1`, which makes a new
    //   node
    //   --> tests/ui/fail/compound_assign_on_node.rs:11:11
    // Wrong (tests/ui/fail/mut_self_method_on_node.rs):
    //     let v = zeros(n);
    //     v.push(1);
    // error: `.push()` takes `&mut self`, but `v` is a task's result that other tasks
    //   may be reading, shared between threads and never mutated (in Dask the change
    //   would be silently lost); call `.push()` inside a `#[delayed]` function that
    //   takes `v` by value and returns it, and rebind `v` to that function's result
    //   --> tests/ui/fail/mut_self_method_on_node.rs:16:11
    // Wrong (tests/ui/fail/mut_borrow_of_node.rs): `bump(&mut a);`
    // error: `&mut a`: a task's result is shared between threads and never mutated;
    //   pass `&a` or `a` and return the new value from the task
    // Fix: a new node for the new value.
    #[delayed]
    fn pushed(mut v: Vec<i64>, item: i64) -> Vec<i64> {
        v.push(item);
        v
    }
    let g = graph!(|x: i64, n: usize| -> (i64, usize) {
        let a = inc(x);
        let a = a + 1; // not `a += 1`
        let v = zeros(n);
        let v = pushed(v, 1); // not `v.push(1)`
        (a, v.len())
    });
    println!("4. mutation, fixed with new nodes: {:?}", g.compute(1, 3));

    // ── 5. Printing a node ───────────────────────────────────────────────────────────
    // Dask: `print(a)` prints `Delayed('inc-3f2a…')`, not the value.
    // Wrong (tests/ui/fail/println_of_node.rs):
    //     let a = inc(x);
    //     println!("{a}");
    // error: `println!` cannot use `a`: its value is not computed until the graph runs
    //   (Dask would print `Delayed('…')`); compute the graph and use its result, or do
    //   this inside a `#[delayed]` function
    //   --> tests/ui/fail/println_of_node.rs:11:18
    //    |
    // 11 |         println!("{a}");
    //    |                  ^^^^^
    // Fix: compute, then print.
    let g = graph!(|x: i64| -> i64 { inc(x) });
    let a = g.compute(1);
    println!("5. printing, fixed: computed first, a = {a}");

    // ── 6. Calling a function that is not a task ─────────────────────────────────────
    // Dask: `max(a, x)` runs now, on the Delayed object itself.
    // Wrong (tests/ui/fail/std_function_on_node.rs):
    //     let a = inc(x);
    //     std::cmp::max(a, x)
    // error: `std::cmp::max` is not a task: `graph!` passes node values only to
    //   `#[delayed]` functions; call it inside a `#[delayed]` function, or wrap it:
    //   `#[delayed] fn my_step(x: X, y: Y) -> T { std::cmp::max(x, y) }`
    //   --> tests/ui/fail/std_function_on_node.rs:11:9
    // (A plain function of your own, tests/ui/fail/call_of_a_plain_function.rs, is
    // reported today as `error[E0433]: cannot find module or crate `plain` in this
    // scope`: mark it `#[delayed]`.)
    // Fix: wrap it in a task; with Delayed, `delayed(f).call(…)` takes any function.
    #[delayed]
    fn max_of(a: i64, b: i64) -> i64 {
        std::cmp::max(a, b)
    }
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        max_of(a, x)
    });
    let d = delayed(std::cmp::max::<i64>).call(delay!(inc(7)), 3);
    println!(
        "6. plain function, fixed: graph! {}, delayed(std::cmp::max) {}",
        g.compute(7),
        d.compute()
    );

    // ── 7. `&&` / `||` on a node ─────────────────────────────────────────────────────
    // Wrong (tests/ui/fail/short_circuit_on_node.rs):
    //     a > 0 && x > 0
    // error: `&&` on `a > 0` would branch on a value not known until the graph runs;
    //   use `&`, which evaluates both sides, or move the logic into a `#[delayed]`
    //   function
    //   --> tests/ui/fail/short_circuit_on_node.rs:11:15
    // Fix: `&` evaluates both sides; it is one more node.
    let g = graph!(|x: i64| -> bool {
        let a = inc(x);
        (a > 0) & (x > 0)
    });
    println!("7. &&, fixed with &: {}", g.compute(1));

    // ── 8. `.compute()` inside a graph ───────────────────────────────────────────────
    // Dask: works, but blocks while the outer graph is built (an anti-pattern).
    // Wrong (tests/ui/fail/compute_inside_graph.rs):
    //     let inner = graph!(|x: i64| -> i64 { inc(x) });
    //     let g = graph!(|x: i64| -> i64 {
    //         let a = inner.compute(x);
    //         inc(a)
    //     });
    // error: `.compute()` inside `graph!` would run a graph while this one is being
    //   built; call the tasks directly in this graph (they become its nodes), or
    //   compute the other graph first and pass its result in as an input
    //   --> tests/ui/fail/compute_inside_graph.rs:11:23
    // Fix: one graph with all the tasks.
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        inc(a)
    });
    println!(
        "8. compute inside a graph, fixed: one graph of {} nodes = {}",
        g.len(),
        g.compute(1)
    );

    // ── 9. A closure capturing a node ────────────────────────────────────────────────
    // Wrong (tests/ui/fail/closure_captures_node.rs):
    //     let a = inc(x);
    //     let add_a = |y: i64| y + a;
    // error: a closure inside `graph!` cannot capture `a`: the closure would run before
    //   `a` exists; move the closure's work into a `#[delayed]` function that takes `a`
    //   --> tests/ui/fail/closure_captures_node.rs:11:34
    // Fix: a task that takes `a`; with Delayed, `map` runs a closure on the value.
    let d = delay!(inc(1)).map(|a| a + 10);
    println!("9. closure over a node, fixed with map: {}", d.compute());

    // ── 10. A value used twice, taken by value, that is not Clone ────────────────────
    // Wrong (tests/ui/fail/shared_value_not_clone.rs), `struct Big(Vec<u8>)`,
    // `#[delayed] fn consume(b: Big) -> usize`:
    //     let b = make(n);
    //     consume(b) + consume(b)
    // error[E0277]: `Big` is used by several tasks and one of them takes it by value,
    //   so it must be `Clone`
    //   --> tests/ui/fail/shared_value_not_clone.rs:18:17
    //    |
    // 18 |         consume(b) + consume(b)
    //    |                 ^ this value is shared
    //    = note: take `&Big` in all but one of the tasks, implement `Clone`, or wrap the
    //      value in `std::sync::Arc`
    // Fix: borrow it.
    struct Big(Vec<u8>);
    #[delayed]
    fn make(n: usize) -> Big {
        Big(vec![0; n])
    }
    #[delayed]
    fn measure(b: &Big) -> usize {
        b.0.len()
    }
    let g = graph!(|n: usize| -> usize {
        let b = make(n);
        measure(&b) + measure(&b)
    });
    println!("10. shared value, fixed with &Big: {}", g.compute(1_000));

    // ── 11. Task signatures: not Send, &mut, borrowed results ────────────────────────
    // Wrong (tests/ui/fail/result_not_send.rs): `#[delayed] fn share(x: i64) -> Rc<i64>`
    // error[E0277]: `Rc<i64>` cannot be sent between threads, so it cannot be the
    //   result of the task `share`
    //   = note: use `Arc` rather than `Rc`, and `Mutex` or atomics rather than
    //     `RefCell` or `Cell`
    // Wrong (tests/ui/fail/delayed_mut_param.rs): `#[delayed] fn bump(x: &mut i64) -> i64`
    // error: a task cannot take `&mut`: its inputs are results of other tasks, shared
    //   between threads and never mutated; take `&T` or an owned value and return the
    //   new value
    // Wrong (tests/ui/fail/delayed_returns_borrow.rs):
    //   `#[delayed] fn first(v: &[String]) -> &str`
    // error: a task cannot return a borrowed value: its result outlives the arguments
    //   it was computed from; return an owned value (`String`, `Vec<T>`, `Arc<T>`)
    // Fix: Arc, owned values.
    #[delayed]
    fn share(x: i64) -> Arc<i64> {
        Arc::new(x)
    }
    #[delayed]
    fn first(v: &[String]) -> String {
        v[0].clone()
    }
    let g = graph!(|x: i64| -> (i64, String) {
        let s = share(x);
        (inc(*s), first(&vec!["a".to_string(), "b".to_string()]))
    });
    println!(
        "11. signatures, fixed with Arc and String: {:?}",
        g.compute(41)
    );

    // ── 12. The same mistakes on Delayed<T> ───────────────────────────────────────────
    //     let a = delay!(inc(1));
    //     if a > 3 { … }
    // error[E0369]: binary operation `>` cannot be applied to type `Delayed<i64>`
    //   note: `Delayed<i64>` does not implement `PartialOrd<{integer}>`, on the line
    //   `pub struct Delayed<T> /* no value until computed: use it in `d.map(|v| …)` or
    //   after `d.compute()`; rebind, not `+=` */`
    //     for x in v { … }          // v: Delayed<Vec<i64>>
    // error[E0277]: a `Delayed<Vec<i64>>` cannot be iterated: its length is not known
    //   until the graph runs (Dask: `TypeError: Delayed objects of unspecified length
    //   are not iterable`)
    //     let n = v.len();
    // error[E0277]: `.len()` of a `Delayed<Vec<i64>>`: its value, and so its length,
    //   does not exist until the graph runs
    //     println!("{}", a);
    // error[E0277]: a `Delayed<i64>` cannot be formatted: its value does not exist until
    //   the graph runs (Dask would print `Delayed('…')`)
    //     a += 1;
    // error[E0368]: binary assignment operation `+=` cannot be applied to type
    //   `Delayed<i64>` (with the same note as `>`)
    // Fix: decide inside a task (`map`), build new nodes (`a + 1`), compute to print.
    let a = delay!(inc(1));
    let stepped = a.map(|&v| if v > 3 { v + 1 } else { v });
    let bigger = &a + 1;
    let v = delay!(parts(4));
    let summed = v.map(|v| v.iter().sum::<i64>());
    let (stepped, bigger, summed) = taskweave::compute((&stepped, &bigger, &summed));
    println!(
        "12. Delayed, fixed: map(if …) {stepped}, a + 1 {bigger}, map(sum) {summed}; Debug prints the key: {a:?}"
    );
}
