//! Constant code inside `graph!` (run before the graph, its `let`s under hidden names)
//! reads names as Rust resolves them: a name the code binds itself (a closure's
//! parameter, a `let` in a block, a `match` arm's pattern) is that binding, not the
//! graph's constant or loop counter; struct shorthand and inline format arguments read
//! the constant. Each graph is checked against the same body run as plain code.
//! Also: a tail `loop` is the body's value; unrolled ranges at the ends of `i128`;
//! tasks whose names end like another task's numbered slot.

use taskweave::prelude::*;

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn label(s: String) -> String {
    s
}

#[derive(Clone, Debug, PartialEq)]
struct P {
    x: i64,
    y: i64,
}

#[delayed]
fn norm(p: P) -> i64 {
    p.x + p.y
}

#[delayed]
fn load(x: i64) -> i64 {
    x * 10
}

#[delayed]
fn load_1(x: i64) -> i64 {
    x + 1000
}

#[delayed]
fn id(x: i128) -> i128 {
    x
}

#[test]
fn a_closure_parameter_shadows_a_constant() {
    let g = graph!(|n: i64| -> i64 {
        let k = n * 10;
        let f = |k: i64| k + 1;
        add(f(5), k)
    });
    let direct = |n: i64| {
        let k = n * 10;
        let f = |k: i64| k + 1;
        add(f(5), k)
    };
    assert_eq!(g.compute(3), direct(3));
}

#[test]
fn a_let_in_a_block_shadows_a_constant() {
    let g = graph!(|n: i64| -> i64 {
        let k = n * 10;
        let v = {
            let k: i64 = 1;
            k * 2
        };
        let w = match n {
            k if k > 100 => 0,
            other => other + k,
        };
        add(add(v, k), w)
    });
    let direct = |n: i64| {
        let k = n * 10;
        let v = {
            let k: i64 = 1;
            k * 2
        };
        let w = match n {
            k if k > 100 => 0,
            other => other + k,
        };
        add(add(v, k), w)
    };
    assert_eq!(g.compute(3), direct(3));
    assert_eq!(g.compute(300), direct(300));
}

#[test]
fn a_let_in_a_block_shadows_a_loop_counter() {
    let g = graph!(|n: i64| -> i64 {
        let mut acc = add(n, 0);
        for i in 0..3 {
            acc = add(acc, {
                let i: i64 = 10;
                i
            });
            acc = add(acc, i);
        }
        acc
    });
    let direct = |n: i64| {
        let mut acc = add(n, 0);
        for i in 0..3 {
            acc = add(acc, {
                let i: i64 = 10;
                i
            });
            acc = add(acc, i);
        }
        acc
    };
    assert_eq!(g.compute(1), direct(1));
}

#[test]
fn inline_format_arguments_and_struct_shorthand_read_constants() {
    let g = graph!(|n: i64| -> (String, i64) {
        let k = n * 2;
        let x = n + 1;
        let y = 4;
        (label(format!("{k}-{k:>3}-{n}")), norm(P { x, y }))
    });
    let direct = |n: i64| {
        let k = n * 2;
        let (x, y) = (n + 1, 4);
        (label(format!("{k}-{k:>3}-{n}")), norm(P { x, y }))
    };
    assert_eq!(g.compute(3), direct(3));
    let counters = graph!(|n: i64| -> String {
        let mut s = label(format!("{n}"));
        for i in 1..3 {
            s = label(format!("{i}"));
        }
        s
    });
    assert_eq!(counters.compute(7), "2");
}

#[test]
#[allow(clippy::never_loop)] // the loop of the user's code, as written
fn a_tail_loop_is_the_value() {
    let g = graph! {
        let a = inc(1);
        let _b = inc(a);
        loop {
            break 5;
        }
    };
    assert_eq!(g.compute(), 5);
}

#[test]
fn unrolled_ranges_at_the_ends_of_i128() {
    let g = graph!(|x: i128| -> i128 {
        let mut a = id(x);
        for i in 170141183460469231731687303715884105727..=170141183460469231731687303715884105727 {
            a = id(i);
        }
        a
    });
    assert_eq!(g.compute(1), i128::MAX);
    let g = graph!(|x: i128| -> i128 {
        let mut a = id(x);
        for i in -170141183460469231731687303715884105727..=-170141183460469231731687303715884105727
        {
            a = id(i);
        }
        a
    });
    assert_eq!(g.compute(1), i128::MIN + 1);
}

#[test]
fn a_task_named_like_another_tasks_numbered_slot() {
    // The second `load` and `load_1` once both got the slot `__load_1`.
    let g = graph!(|x: i64| -> (i64, i64, i64) {
        let a = load(x);
        let b = load(x + 1);
        let c = load_1(x);
        (add(a, b), add(b, c), add(a, c))
    });
    let (a, b, c) = (load(1), load(2), load_1(1));
    assert_eq!(g.compute(1), (add(a, b), add(b, c), add(a, c)));
    // The tree form too (every value read once).
    let tree = graph!(|x: i64| -> (i64, i64, i64) {
        let a = load(x);
        let b = load(x + 1);
        let c = load_1(x);
        (a, b, c)
    });
    assert_eq!(tree.compute(1), (10, 20, 1001));
}

#[test]
#[allow(non_snake_case)]
fn a_captured_local_named_like_the_node_table() {
    // The expansion's `static __TABLE` used to be what this name read.
    let __TABLE: i64 = 5;
    let g = graph!(|x: i64| -> i64 { add(inc(x), __TABLE) });
    assert_eq!(g.compute(1), 7);
}

#[delayed]
fn table(n: i64) -> i64 {
    n * 2
}

#[delayed]
fn pending(n: i64) -> i64 {
    n * 3
}

#[delayed]
fn run(n: i64) -> i64 {
    n * 5
}

#[delayed]
fn const_1(n: i64) -> i64 {
    n * 7
}

#[test]
fn tasks_named_like_the_expansions_own_names() {
    // Their slots were `__table`, `__pending`, `__run`, `__const_1`: the expansion's.
    let shared = graph!(|x: i64| -> i64 {
        let k = x + 1;
        let t = table(x);
        let p = pending(t);
        let r = run(t);
        let c = const_1(k);
        add(add(p, r), add(c, t))
    });
    let direct = |x: i64| {
        let t = table(x);
        add(add(pending(t), run(t)), add(const_1(x + 1), t))
    };
    assert_eq!(shared.compute(1), direct(1));
    let tree = graph!(|x: i64| -> i64 { add(add(table(x), pending(x)), add(run(x), const_1(x))) });
    assert_eq!(tree.compute(1), 17);
}

thread_local! {
    static CALLERS: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

#[delayed]
fn slow(x: i64) -> i64 {
    std::thread::sleep(std::time::Duration::from_millis(20));
    x
}

#[test]
fn an_argument_reading_a_thread_local_reads_the_callers() {
    // The graph runs on rayon's threads (this test's thread is none of them), where
    // the thread-local is 0: its arguments are read here, where they are written.
    CALLERS.with(|c| c.set(40));
    let g = graph!(|x: i64| -> i64 {
        let a = slow(x);
        let b = add(a, CALLERS.get());
        let c = add(slow(x), CALLERS.with(|c| c.get()));
        add(b, c)
    });
    let direct = |x: i64| {
        let a = x;
        let b = a + CALLERS.get();
        let c = x + CALLERS.with(|c| c.get());
        b + c
    };
    assert_eq!(direct(1), 82);
    assert_eq!(g.compute(1), 82);
    let other = std::thread::spawn(move || g.compute(1)).join().unwrap();
    assert_eq!(other, 2, "another caller's thread-local is its own");
}

static SHARED: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

#[delayed]
fn store_shared(x: i64) -> i64 {
    SHARED.store(x, std::sync::atomic::Ordering::SeqCst);
    x
}

#[test]
fn an_argument_reading_state_a_later_task_changes_reads_it_first() {
    use std::sync::atomic::Ordering::SeqCst;
    // `add`'s argument is read before `store_shared` runs, as sequential code reads
    // it, not when `add` starts (after `slow`, by which time `store_shared` has run).
    let g = graph!(|x: i64| -> i64 {
        let a = add(slow(x), SHARED.load(SeqCst));
        let b = store_shared(7);
        add(a, b)
    });
    SHARED.store(3, SeqCst);
    let direct = |x: i64| {
        let a = x + SHARED.load(SeqCst);
        SHARED.store(7, SeqCst);
        a + 7
    };
    assert_eq!(direct(0), 10);
    SHARED.store(3, SeqCst);
    assert_eq!(g.compute(0), 10);
}

#[delayed]
fn apply_boxed(x: i64, f: Box<dyn Fn(i64) -> i64 + Send + Sync>) -> i64 {
    f(x)
}

#[delayed]
fn apply(x: i64, f: impl Fn(i64) -> i64) -> i64 {
    f(x)
}

#[test]
fn arguments_that_call_something_with_a_closure_in_them() {
    // Read where written (they call something), their closures typed by the calls
    // they are given to, or by the task's parameter.
    let v = vec![1_i64, 2, 3];
    let w = v.clone();
    let g = graph!(|x: i64| -> i64 {
        let a = inc(w.iter().map(|z| z * 2).sum());
        let b = apply_boxed(x, Box::new(|z| z + 1));
        let c = apply(x, Some(3).map(|k| move |z: i64| (z - 1) * k).unwrap());
        let d = add(a, w.iter().copied().filter(|z| *z > 1).count() as i64);
        add(add(b, c), d)
    });
    let direct = |x: i64| {
        let a = v.iter().map(|z| z * 2).sum::<i64>() + 1;
        let b = x + 1;
        let c = (x - 1) * 3;
        let d = a + v.iter().copied().filter(|z| *z > 1).count() as i64;
        b + c + d
    };
    assert_eq!(g.compute(5), direct(5));
}
