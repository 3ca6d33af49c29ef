//! Dynamic graphs: `Delayed<T>` built at run time compute what direct sequential
//! evaluation computes; shared intermediates, persisted values and pure duplicates
//! run once; panics name the task.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use taskweave::prelude::*;

#[path = "support/watchdog.rs"]
mod watchdog;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[delayed]
fn load(i: u32) -> Vec<f64> {
    (0..4).map(|k| f64::from(i * 4 + k)).collect()
}

#[delayed]
fn clean(v: Vec<f64>) -> Vec<f64> {
    v.into_iter().filter(|x| x % 2.0 == 0.0).collect()
}

#[delayed]
fn total(parts: &[Vec<f64>]) -> f64 {
    parts.iter().flatten().sum()
}

#[delayed]
fn sum(parts: Vec<i64>) -> i64 {
    parts.iter().sum()
}

#[delayed]
fn len_of(v: &[f64]) -> usize {
    v.len()
}

#[delayed]
fn divmod(a: i64, b: i64) -> (i64, i64) {
    (a / b, a % b)
}

fn both<T: Send + Sync + Clone + PartialEq + std::fmt::Debug + 'static>(
    d: &Delayed<T>,
    expected: T,
) {
    assert_eq!(d.compute(), expected, "thread pool");
    assert_eq!(
        d.try_compute_with(Scheduler::Sync).unwrap(),
        expected,
        "synchronous scheduler"
    );
}

#[test]
fn chain_built_in_a_loop() {
    let mut x = delay!(inc(0));
    let mut direct = inc(0);
    for _ in 0..100 {
        x = delay!(inc(x));
        direct = inc(direct);
    }
    both(&x, direct);
}

#[test]
fn fan_in_of_a_run_time_count() {
    let n = 37;
    let parts: Vec<Delayed<Vec<f64>>> = (0..n).map(|i| delay!(clean(load(i)))).collect();
    let result = delay!(total(parts));
    let direct: Vec<Vec<f64>> = (0..n).map(|i| clean(load(i))).collect();
    both(&result, total(&direct));
}

#[test]
fn vec_argument_arrives_as_vec() {
    let parts: Vec<Delayed<i64>> = (0..10).map(|i| delay!(inc(i))).collect();
    let s = delay!(sum(parts));
    both(&s, sum((0..10).map(inc).collect()));
}

#[test]
fn borrowed_and_repeated_arguments() {
    let v = delay!(load(2));
    let a = delay!(len_of(&v));
    let b = delay!(len_of(&v));
    let c = delay!(clean(v));
    let (a, b, c) = taskweave::compute((&a, &b, &c));
    assert_eq!((a, b, c), (4, 4, clean(load(2))));
}

#[test]
fn same_node_twice_in_one_call() {
    let a = delay!(inc(3));
    let b = delay!(add(&a, &a));
    both(&b, add(inc(3), inc(3)));
}

#[test]
fn explicit_form_with_closures_and_plain_functions() {
    let a = delay!(inc(1));
    let doubled = delayed(|x: i64| x * 2).call(&a);
    let mixed = delayed(|x: i64, y: i64, z: i64| x * 100 + y * 10 + z).call(&a, 5, doubled);
    let maxed = delayed(i64::max).call(mixed.clone(), 1_000);
    both(&maxed, i64::max(2 * 100 + 5 * 10 + 4, 1_000));
    both(&mixed, 254);
}

#[test]
fn operators() {
    let a = delay!(inc(4));
    let b = delay!(inc(9));
    let c = &a + &b;
    let d = &a * 3 - &b;
    let e = -(a.clone() % 3) ^ b.clone();
    let (c, d, e) = taskweave::compute((&c, &d, &e));
    assert_eq!((c, d, e), (5 + 10, 5 * 3 - 10, -(5 % 3) ^ 10));
}

#[test]
fn map_for_methods_and_fields() {
    let v = delay!(load(1));
    let n = v.map(|v| v.len());
    let first = v.map(|v| v[0]);
    let (n, first) = taskweave::compute((&n, &first));
    assert_eq!((n, first), (4, 4.0));
}

#[test]
fn split_a_pair() {
    let pair = delay!(divmod(17, 5));
    let (q, r) = pair.split();
    let s = delay!(add(q, r));
    both(&s, 3 + 2);
}

#[test]
fn tree_reduction() {
    let parts: Vec<Delayed<i64>> = (0..1000).map(|i| delay!(inc(i))).collect();
    let total = tree_reduce(parts, |a, b| a + b);
    both(&total, (1..=1000).sum());
    // A balanced tree: 1,000 leaves and 999 combines, depth 10.
    assert_eq!(total.info().len(), 1999);
}

#[test]
fn several_outputs_share_intermediates() {
    static LOADS: AtomicUsize = AtomicUsize::new(0);
    #[delayed]
    fn counted_load(i: u32) -> Vec<f64> {
        LOADS.fetch_add(1, Ordering::SeqCst);
        load(i)
    }
    let shared = delay!(counted_load(3));
    let a = delay!(len_of(&shared));
    let b = delay!(total(vec![shared.clone()]));
    let (a, b) = taskweave::compute((&a, &b));
    assert_eq!((a, b), (4, total(&[load(3)])));
    assert_eq!(LOADS.load(Ordering::SeqCst), 1, "the shared load ran once");
}

#[test]
fn persisted_values_are_not_run_again() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    #[delayed]
    fn expensive(x: i64) -> i64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        x * 10
    }
    let base = delay!(expensive(4)).persist();
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    let a = delay!(inc(base.clone()));
    let b = delay!(add(base.clone(), 2));
    assert_eq!(taskweave::compute((&a, &b)), (41, 42));
    assert_eq!(a.compute(), 41);
    assert_eq!(
        RUNS.load(Ordering::SeqCst),
        1,
        "a persisted value is not run again"
    );
}

/// `persist(&parts)` takes a `&Vec` of nodes, as `compute(&parts)` does: one run, each
/// returned node holding its value, not run again.
#[test]
fn persist_takes_a_vec_as_compute_does() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    fn tenfold(x: i64) -> i64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        x * 10
    }
    let parts: Vec<Delayed<i64>> = (1..=3).map(|i| delayed(tenfold).call(i)).collect();
    let held = taskweave::persist(&parts);
    assert_eq!(RUNS.load(Ordering::SeqCst), 3);
    assert_eq!(taskweave::compute(&held), vec![10, 20, 30]);
    assert_eq!(
        RUNS.load(Ordering::SeqCst),
        3,
        "persisted values are not run again"
    );
}

#[test]
fn pure_duplicates_are_one_node() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    fn slow_square(x: i64) -> i64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        x * x
    }
    let square = delayed(slow_square).pure();
    let a = square.call(7);
    let b = square.call(7);
    let c = square.call(8);
    let total = delayed(|a: i64, b: i64, c: i64| a + b + c).call(a, b, c);
    assert_eq!(total.compute(), 49 + 49 + 64);
    assert_eq!(RUNS.load(Ordering::SeqCst), 2, "square(7) ran once");
    // Impure functions are not merged.
    let impure = delayed(slow_square);
    let total = delayed(|a: i64, b: i64| a + b).call(impure.call(3), impure.call(3));
    assert_eq!(total.compute(), 18);
    assert_eq!(RUNS.load(Ordering::SeqCst), 4);
}

/// `name()` lends the name as `&str`, as a future's does: a name read stays valid when a
/// clone renames the node (the node keeps its older names), and a node renamed many
/// times is still freed without deep recursion. Renaming walks none of the older
/// names: each walked all of them, and 40,000 renames of one node took 2.5 s in a
/// release build, 200,000 well past this test's minute.
#[test]
fn a_name_read_stays_valid_while_the_node_is_renamed() {
    let a = delay!(inc(1)).named("first");
    let first: &str = a.name();
    let renamed = a.clone().named("second");
    assert_eq!(
        (first, renamed.name(), a.name()),
        ("first", "second", "second")
    );
    assert_eq!(renamed.key(), "second");
    watchdog::within(Duration::from_secs(60), "renamed", || {
        let mut many = delay!(inc(2));
        let early = many.clone().named("early");
        let early_name: &str = early.name();
        for i in 0..200_000 {
            many = many.named(format!("n{i}"));
        }
        assert_eq!((many.name(), many.key()), ("n199999", "n199999".into()));
        assert_eq!((early_name, early.name()), ("early", "n199999"));
        assert_eq!(many.compute(), 3);
        drop(many);
    });
}

#[test]
fn names_and_keys() {
    let a = delay!(inc(1));
    assert_eq!(a.name(), "inc");
    assert!(a.key().starts_with("inc-"), "{}", a.key());
    let b = delay!(inc(a)).named("load-3");
    assert_eq!(b.name(), "load-3");
    assert_eq!(b.key(), "load-3");
    let names: Vec<String> = b.info().nodes().iter().map(|n| n.name.clone()).collect();
    assert_eq!(names, ["inc", "load-3"]);
    assert!(
        b.call_site().starts_with("tests/dynamic.rs:"),
        "{}",
        b.call_site()
    );
}

#[test]
fn panic_names_the_task_and_its_dependents_never_run() {
    static AFTER: AtomicUsize = AtomicUsize::new(0);
    #[delayed]
    fn boom(x: i64) -> i64 {
        if x > 2 {
            panic!("too big: {x}");
        }
        x
    }
    #[delayed]
    fn after(x: i64) -> i64 {
        AFTER.fetch_add(1, Ordering::SeqCst);
        x
    }
    let bad = delay!(boom(5)).named("boom-5");
    let line = line!() - 1;
    let result = delay!(after(bad));
    for scheduler in [Scheduler::Threads, Scheduler::Sync] {
        let error = result.try_compute_with(scheduler).unwrap_err();
        assert_eq!(error.task(), "boom-5");
        assert_eq!(error.message(), "too big: 5");
        assert!(
            error
                .call_site()
                .starts_with(&format!("tests/dynamic.rs:{line}:")),
            "{}",
            error.call_site()
        );
    }
    assert_eq!(AFTER.load(Ordering::SeqCst), 0);
}

#[test]
fn every_result_dropped_exactly_once() {
    static LIVE: Mutex<i64> = Mutex::new(0);
    #[derive(Debug)]
    struct Tracked(i64);
    impl Tracked {
        fn new(v: i64) -> Self {
            *LIVE.lock().unwrap() += 1;
            Tracked(v)
        }
    }
    impl Clone for Tracked {
        fn clone(&self) -> Self {
            Tracked::new(self.0)
        }
    }
    impl Drop for Tracked {
        fn drop(&mut self) {
            *LIVE.lock().unwrap() -= 1;
        }
    }
    #[delayed]
    fn make(v: i64) -> Tracked {
        Tracked::new(v)
    }
    #[delayed]
    fn grow(t: Tracked) -> Tracked {
        Tracked::new(t.0 + 1)
    }
    #[delayed]
    fn peek(t: &Tracked) -> i64 {
        if t.0 < 0 {
            panic!("negative");
        }
        t.0
    }
    {
        let a = delay!(make(1));
        let b = delay!(grow(a.clone()));
        let c = delay!(grow(a));
        let p = delay!(peek(&b));
        let q = delay!(peek(&c));
        assert_eq!(taskweave::compute((&p, &q)), (2, 2));
        let bad = delay!(peek(&delay!(make(-1))));
        assert!(bad.try_compute().is_err());
    }
    assert_eq!(*LIVE.lock().unwrap(), 0, "every value dropped, none twice");
}

#[test]
fn million_node_chain_and_tree_with_the_default_stack() {
    #[delayed]
    fn step(x: u64) -> u64 {
        x.wrapping_mul(3).wrapping_add(1)
    }
    let mut x = delay!(step(1));
    let mut direct = step(1);
    for _ in 1..1_000_000 {
        x = delay!(step(x));
        direct = step(direct);
    }
    assert_eq!(x.compute(), direct);
    drop(x);

    let leaves: Vec<Delayed<u64>> = (0..1_000_000u64)
        .map(|i| delayed(|v: u64| v % 7).call(i))
        .collect();
    let total = tree_reduce(leaves, |a, b| a + b);
    assert_eq!(
        total.compute(),
        (0..1_000_000u64).map(|v| v % 7).sum::<u64>()
    );
}

#[test]
fn diamond() {
    let top = delay!(inc(1));
    let left = delay!(add(&top, 10));
    let right = delay!(inc(&top));
    let bottom = delay!(add(left, right));
    let t = inc(1);
    both(&bottom, add(add(t, 10), inc(t)));
}

/// Whether the calling task runs on one of rayon's threads.
#[delayed]
fn on_pool(_after: Vec<bool>) -> bool {
    rayon::current_thread_index().is_some()
}

#[test]
fn a_chain_runs_on_the_calling_thread_and_a_wider_graph_on_the_pool() {
    // Width 1 although `a` has two successors (`b`, and `c` again): one order only, so
    // the run stays on the calling thread (outside rayon's pool here).
    let a = delay!(on_pool(Vec::new()));
    let b = delay!(on_pool(vec![a.clone()]));
    let c = delay!(on_pool(vec![a.clone(), b.clone()]));
    assert_eq!(c.info().width(), 1);
    let (a, b, c) = taskweave::compute((&a, &b, &c));
    assert!(
        !a && !b && !c,
        "every task of a chain on the calling thread"
    );
    // Width 2: two leaves that may run at once, so the run goes to the pool.
    let left = delay!(on_pool(Vec::new()));
    let right = delay!(on_pool(Vec::new()));
    let top = delay!(on_pool(vec![left.clone(), right.clone()]));
    assert_eq!(top.info().width(), 2);
    let (left, right, top) = taskweave::compute((&left, &right, &top));
    assert!(
        left && right && top,
        "every task of a wider graph on the pool"
    );
}

#[test]
fn wavefront_grid() {
    let side = 12;
    let mut row: Vec<Delayed<i64>> = (0..side).map(|_| delay!(inc(0))).collect();
    let mut direct: Vec<i64> = vec![inc(0); side];
    for _ in 1..side {
        let mut next = vec![delay!(inc(&row[0]))];
        let mut next_direct = vec![inc(direct[0])];
        for j in 1..side {
            next.push(delay!(add(&row[j], &next[j - 1])));
            next_direct.push(add(direct[j], next_direct[j - 1]));
        }
        row = next;
        direct = next_direct;
    }
    both(&row[side - 1], direct[side - 1]);
}

#[test]
fn binary_tree_built_recursively() {
    fn build(depth: u32, seed: i64) -> (Delayed<i64>, i64) {
        if depth == 0 {
            return (delay!(inc(seed)), inc(seed));
        }
        let (l, dl) = build(depth - 1, seed * 2);
        let (r, dr) = build(depth - 1, seed * 2 + 1);
        (delay!(add(l, r)), add(dl, dr))
    }
    let (root, direct) = build(6, 1);
    both(&root, direct);
    assert_eq!(root.info().len(), 127);
}

#[test]
fn embarrassingly_parallel_many_outputs() {
    let nodes: Vec<Delayed<i64>> = (0..200).map(|i| delay!(add(i, i))).collect();
    let values = taskweave::compute(nodes.as_slice());
    assert_eq!(values, (0..200).map(|i| add(i, i)).collect::<Vec<_>>());
}

#[test]
fn arrays_and_constants_mixed() {
    let a = delay!(inc(1));
    let b = delay!(inc(2));
    let s = delay!(sum([a, b]));
    let t = delay!(add(s, 100));
    both(&t, add(sum(vec![inc(1), inc(2)]), 100));
}

#[test]
fn one_graph_computed_many_times() {
    let a = delay!(inc(5));
    let b = delay!(add(&a, &a));
    for _ in 0..50 {
        assert_eq!(b.compute(), 12);
    }
    let mut prepared = taskweave::prepare((&b, &a));
    for _ in 0..50 {
        assert_eq!(prepared.compute(), (12, 6));
    }
}

#[test]
fn nested_task_calls_are_nodes_too() {
    static LOADS: AtomicUsize = AtomicUsize::new(0);
    #[delayed]
    fn counted(i: u32) -> Vec<f64> {
        LOADS.fetch_add(1, Ordering::SeqCst);
        load(i)
    }
    // `counted(2)` is a node of the graph, not a call made while building it.
    let c = delay!(clean(counted(2)));
    assert_eq!(LOADS.load(Ordering::SeqCst), 0);
    assert_eq!(c.info().len(), 2);
    assert_eq!(c.compute(), clean(load(2)));
    assert_eq!(LOADS.load(Ordering::SeqCst), 1);
    // In parentheses, still the argument: a node (it was called at once).
    let p = delay!(clean((counted(3))));
    assert_eq!(LOADS.load(Ordering::SeqCst), 1);
    assert_eq!(p.info().len(), 2);
    assert_eq!(p.compute(), clean(load(3)));
    assert_eq!(LOADS.load(Ordering::SeqCst), 2);
    // Inside a larger expression: that expression's code, run now (as in Dask).
    let n = delay!(add(counted(1).len() as i64, 1));
    assert_eq!(LOADS.load(Ordering::SeqCst), 3);
    assert_eq!((n.info().len(), n.compute()), (1, 5));
    // Standard functions and constructors stay plain code.
    let m = delay!(add(std::cmp::max(3, 4), i64::from(2u8)));
    assert_eq!(m.info().len(), 1);
    assert_eq!(m.compute(), 6);
}

#[test]
fn delayed_pure_attribute_merges_equal_calls() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    #[delayed(pure)]
    fn square(x: i64) -> i64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        x * x
    }
    let a = delay!(square(7));
    let b = delay!(square(7));
    let c = delay!(square(8));
    let d = delay!(square(&a)); // a node argument: keyed by the node
    let e = delay!(square(&b)); // the same as d, since b is a
    let total = delay!(sum(vec![a, b, c, d, e]));
    assert_eq!(total.compute(), 49 + 49 + 64 + 2401 + 2401);
    assert_eq!(
        RUNS.load(Ordering::SeqCst),
        3,
        "square(7), square(8), square(49)"
    );
    assert_eq!(total.info().len(), 4);
}

#[test]
fn a_task_with_many_inputs_lays_out_in_linear_time() {
    // 50,000 inputs to one task, one of them read twice (one edge, two reads). With
    // the former quadratic de-duplication of edges this took minutes in debug.
    let parts: Vec<Delayed<i64>> = (0..50_000).map(|i| delay!(add(i, 0))).collect();
    let mut inputs = parts.clone();
    inputs.push(parts[0].clone());
    let total = delay!(sum(inputs));
    assert_eq!(total.info().len(), 50_001);
    assert_eq!(total.info().edges().len(), 50_000);
    assert_eq!(total.compute(), (0..50_000).sum::<i64>());
}

/// Counts the drops of the values it is in.
struct Counted(&'static AtomicUsize);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A chain of `n` nodes, each of whose closures owns a [`Counted`].
fn counted_chain(n: usize, drops: &'static AtomicUsize) -> Delayed<i64> {
    counted_chain_on(Delayed::value(0i64), n, drops)
}

/// Graphs are dropped in a loop, not by recursion, wherever the last handle goes: at
/// the end of a thread (in a thread local's destructor), from inside another graph's
/// drop (a closure owning a graph), and after a value's `Drop` panicked in the middle
/// of a drop, which must leave nothing behind and the next drop working. Run on a
/// 256 KiB stack, where a recursive drop of these chains would overflow.
#[test]
fn graphs_drop_in_a_loop_anywhere_and_after_a_panicking_drop() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    const N: usize = 200_000;
    std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(|| {
            // A graph owned by a closure of another graph.
            let inner = counted_chain(N, &DROPS);
            let outer = counted_chain(N, &DROPS).map(move |v| {
                let _ = &inner;
                *v
            });
            assert_eq!(outer.compute(), N as i64);
            drop(outer);
            assert_eq!(DROPS.swap(0, Ordering::Relaxed), 2 * N);

            // A value whose `Drop` panics, halfway down a chain.
            struct Bomb;
            impl Drop for Bomb {
                fn drop(&mut self) {
                    panic!("a value's drop failed");
                }
            }
            let mut x = counted_chain(N / 2, &DROPS);
            let bomb = Bomb;
            x = x.map(move |v| {
                let _ = &bomb;
                *v
            });
            let x = counted_chain_on(x, N / 2, &DROPS);
            let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(x)));
            assert!(dropped.is_err(), "the bomb's panic comes out of the drop");
            assert_eq!(DROPS.swap(0, Ordering::Relaxed), N, "every other value dropped");
            // The next drop on this thread still drops everything.
            drop(counted_chain(N, &DROPS));
            assert_eq!(DROPS.swap(0, Ordering::Relaxed), N);

            // A graph whose last handle is in a thread local, dropped as the thread ends.
            thread_local! {
                static KEPT: std::cell::RefCell<Option<Delayed<i64>>> = const { std::cell::RefCell::new(None) };
            }
            KEPT.with(|kept| *kept.borrow_mut() = Some(counted_chain(N, &DROPS)));
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(
        DROPS.load(Ordering::Relaxed),
        N,
        "the thread local's graph dropped"
    );
}

/// [`counted_chain`] continued from `x`.
fn counted_chain_on(mut x: Delayed<i64>, n: usize, drops: &'static AtomicUsize) -> Delayed<i64> {
    for _ in 0..n {
        let counted = Counted(drops);
        x = x.map(move |v| {
            let _ = &counted;
            *v + 1
        });
    }
    x
}

/// Results of several types and alignments, in graphs of several sizes laid out one
/// after another: the slots of one arena may be kept for the next (see the runtime's
/// `dynamic::reuse`), which must fit each graph's own layout.
#[test]
fn graphs_of_other_result_types_after_one_another() {
    for round in 0..4u64 {
        let n = 100 + 1_000 * round;
        let bytes: Vec<Delayed<u8>> = (0..n)
            .map(|i| Delayed::value(i).map(|v| *v as u8))
            .collect();
        let wide: Vec<Delayed<u128>> = (0..n / 2)
            .map(|i| Delayed::value(i).map(|v| u128::from(*v) << 70))
            .collect();
        let arrays: Vec<Delayed<[u64; 5]>> = (0..n / 3)
            .map(|i| Delayed::value(i).map(|v| [*v; 5]))
            .collect();
        assert_eq!(
            taskweave::compute(&arrays),
            (0..n / 3).map(|v| [v; 5]).collect::<Vec<_>>()
        );
        assert_eq!(
            taskweave::compute(&bytes),
            (0..n).map(|v| v as u8).collect::<Vec<_>>()
        );
        assert_eq!(
            taskweave::compute(&wide),
            (0..n / 2).map(|v| u128::from(v) << 70).collect::<Vec<_>>()
        );
    }
}

/// One step of kind `K`: each `K` is a function of its own, so a task of it is a body
/// type of its own.
fn step<const K: u64>(x: u64) -> u64 {
    x.wrapping_mul(31).wrapping_add(K)
}

/// [`step`] as a task.
fn step_task<const K: u64>(x: Delayed<u64>) -> Delayed<u64> {
    delayed(step::<K>).call(x)
}

type Kind = (fn(u64) -> u64, fn(Delayed<u64>) -> Delayed<u64>);

macro_rules! ten_kinds {
    ($t:literal) => {
        [
            (
                step::<{ $t * 10 }> as fn(u64) -> u64,
                step_task::<{ $t * 10 }> as fn(Delayed<u64>) -> Delayed<u64>,
            ),
            (step::<{ $t * 10 + 1 }>, step_task::<{ $t * 10 + 1 }>),
            (step::<{ $t * 10 + 2 }>, step_task::<{ $t * 10 + 2 }>),
            (step::<{ $t * 10 + 3 }>, step_task::<{ $t * 10 + 3 }>),
            (step::<{ $t * 10 + 4 }>, step_task::<{ $t * 10 + 4 }>),
            (step::<{ $t * 10 + 5 }>, step_task::<{ $t * 10 + 5 }>),
            (step::<{ $t * 10 + 6 }>, step_task::<{ $t * 10 + 6 }>),
            (step::<{ $t * 10 + 7 }>, step_task::<{ $t * 10 + 7 }>),
            (step::<{ $t * 10 + 8 }>, step_task::<{ $t * 10 + 8 }>),
            (step::<{ $t * 10 + 9 }>, step_task::<{ $t * 10 + 9 }>),
        ]
    };
}

/// 300 kinds of task, more than a plan numbers (it keeps the first 255 functions of
/// bodies apart and reads the others' from their nodes).
fn many_kinds() -> Vec<Kind> {
    let tens: [[Kind; 10]; 30] = [
        ten_kinds!(0),
        ten_kinds!(1),
        ten_kinds!(2),
        ten_kinds!(3),
        ten_kinds!(4),
        ten_kinds!(5),
        ten_kinds!(6),
        ten_kinds!(7),
        ten_kinds!(8),
        ten_kinds!(9),
        ten_kinds!(10),
        ten_kinds!(11),
        ten_kinds!(12),
        ten_kinds!(13),
        ten_kinds!(14),
        ten_kinds!(15),
        ten_kinds!(16),
        ten_kinds!(17),
        ten_kinds!(18),
        ten_kinds!(19),
        ten_kinds!(20),
        ten_kinds!(21),
        ten_kinds!(22),
        ten_kinds!(23),
        ten_kinds!(24),
        ten_kinds!(25),
        ten_kinds!(26),
        ten_kinds!(27),
        ten_kinds!(28),
        ten_kinds!(29),
    ];
    tens.into_iter().flatten().collect()
}

#[test]
fn a_graph_of_more_kinds_of_task_than_a_plan_numbers_runs_each_with_its_own_function() {
    let kinds = many_kinds();
    // Every kind tells apart from every other: the same input gives 300 results.
    let distinct: std::collections::HashSet<u64> = kinds.iter().map(|(f, _)| f(7)).collect();
    assert_eq!(distinct.len(), 300);
    // Rows of steps, each row's kinds in another order, mixing kinds met early (numbered
    // by the plan) with those met after the 255th (read from the node), on each row.
    let rows = 40u64;
    let cells: Vec<Delayed<u64>> = (0..rows)
        .map(|r| {
            let mut x = Delayed::value(r);
            for j in 0..kinds.len() as u64 {
                x = (kinds[((j * 7 + r * 13) % 300) as usize].1)(x);
            }
            x
        })
        .collect();
    let expected: Vec<u64> = (0..rows)
        .map(|r| {
            (0..kinds.len() as u64).fold(r, |x, j| (kinds[((j * 7 + r * 13) % 300) as usize].0)(x))
        })
        .collect();
    assert_eq!(
        taskweave::compute(cells.as_slice()),
        expected,
        "thread pool"
    );
    assert_eq!(
        taskweave::prepare(cells.as_slice())
            .try_compute_with(Scheduler::Sync)
            .unwrap(),
        expected,
        "synchronous scheduler"
    );
}
