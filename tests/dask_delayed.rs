//! Dask's own tests of `dask.delayed` as the yardstick (issue 16): each test is named
//! after the Dask test it mirrors, asserts Dask's documented behaviour, and checks the
//! values against plain sequential evaluation.

use taskweave::prelude::*;

/// `a[0]`, as a function of the list itself (what `map` lends).
#[allow(clippy::ptr_arg)]
fn first(v: &Vec<i64>) -> i64 {
    v[0]
}

/// A closure with state, as Python's `functools.partial(add, k)`: one type for every `k`.
fn adder(k: i64) -> impl Fn(i64) -> i64 + Send + Sync + 'static {
    move |x| x + k
}

/// Dask: `test_sensitive_to_partials`: `delayed(partial(add, 10), pure=True)(2)` and
/// `delayed(partial(add, 20), pure=True)(2)` are different keys, computed as `(12, 22)`.
#[test]
fn dask_test_sensitive_to_partials() {
    // Two closures of two types.
    let a = delayed(move |x: i64| x + 10).pure().call(2);
    let b = delayed(move |x: i64| x + 20).pure().call(2);
    assert_ne!(a.key(), b.key());
    assert_eq!(taskweave::compute((&a, &b)), (12, 22));
    assert_eq!(taskweave::compute((&a, &b)), (2 + 10, 2 + 20));

    // One closure type holding different values, as two partials of one function.
    let c = delayed(adder(10)).pure().call(2);
    let d = delayed(adder(20)).pure().call(2);
    assert_ne!(c.key(), d.key());
    assert_eq!(taskweave::prepare((&c, &d)).len(), 2);
    assert_eq!(taskweave::compute((&c, &d)), (adder(10)(2), adder(20)(2)));

    // One handle, equal arguments: still one node.
    let add10 = delayed(adder(10)).pure();
    let (e, f) = (add10.call(2), add10.call(2));
    assert_eq!(e.key(), f.key());
    assert_eq!(taskweave::prepare((&e, &f)).len(), 1);
    assert_eq!(taskweave::compute((&e, &f)), (12, 12));
}

/// Dask: `test_common_subexpressions`: `a = delayed([1, 2, 3]); res = a[0] + a[0]` is
/// three tasks (`a`, `a[0]`, the sum): indexing and operators are pure.
#[test]
fn dask_test_common_subexpressions() {
    let a = Delayed::value(vec![1i64, 2, 3]);
    let res = a.map(first) + a.map(first);
    assert_eq!(a.map(first).key(), a.map(first).key());
    assert_eq!(res.info().len(), 3);
    let plain = vec![1i64, 2, 3];
    assert_eq!(res.compute(), first(&plain) + first(&plain));

    // An operator subexpression built twice is one node, computed once.
    let e = Delayed::value(2i64) * 3;
    let x = &e + &e;
    let y = &e + &e;
    assert_eq!(x.key(), y.key());
    let both = &x * &y;
    // value, mul, add, mul: the two adds are one.
    assert_eq!(both.info().len(), 4);
    assert_eq!(taskweave::prepare((&x, &y)).len(), 3);
    let plain_e = 2i64 * 3;
    assert_eq!(both.compute(), (plain_e + plain_e) * (plain_e + plain_e));
    assert_eq!(taskweave::compute((&x, &y)), (12, 12));

    // Scalars key by value: `e + 1` twice is one node, `e + 2` another; floats by bits.
    assert_eq!((&e + 1).key(), (&e + 1).key());
    assert_ne!((&e + 1).key(), (&e + 2).key());
    let f = Delayed::value(1.5f64);
    assert_eq!((&f * 2.0).key(), (&f * 2.0).key());
    assert_ne!((&f * 0.0).key(), (&f * -0.0).key());
    assert_eq!((-&e).key(), (-&e).key());
    // Operand order matters where the operator is not symmetric.
    assert_ne!((&e - 1).key(), (1 - &e).key());
    assert_eq!(taskweave::compute((&(&e - 1), &(1 - &e))), (5, -5));

    // Operators over impure calls stay apart: the calls themselves are two nodes.
    let impure = delayed(|x: i64| x * 2);
    let (p, q) = (impure.call(1), impure.call(1));
    assert_ne!((&p + 1).key(), (&q + 1).key());
    assert_eq!(taskweave::prepare((&(&p + 1), &(&q + 1))).len(), 4);

    // `map` of a closure that captures values is a node per call: another closure of
    // the same type may hold another value.
    let offsets: Vec<Delayed<i64>> = (0..3i64)
        .map(|k| a.map(move |v: &Vec<i64>| v[0] + k))
        .collect();
    assert_eq!(taskweave::prepare(offsets.as_slice()).len(), 4);
    assert_eq!(taskweave::compute(offsets.as_slice()), vec![1, 2, 3]);
    // A closure with no capture keys by its type, as a fn item does.
    let g = |v: &Vec<i64>| v.len();
    assert_eq!(a.map(g).key(), a.map(g).key());

    // The synchronous scheduler computes the same.
    assert_eq!(
        res.try_compute_with(Scheduler::Sync).unwrap(),
        first(&plain) * 2
    );
}

/// Dask: `test_compute`: `a = delayed(1) + 5; b = a + 1; c = a + 2`, and
/// `compute(b, c) == (7, 8)`: a constant made a node.
#[test]
fn dask_test_compute() {
    let a = Delayed::value(1i64) + 5;
    let b = &a + 1;
    let c = &a + 2;
    let plain_a = 1 + 5;
    assert_eq!(taskweave::compute((&b, &c)), (plain_a + 1, plain_a + 2));
    assert_eq!(taskweave::compute((&b, &c)), (7, 8));
    assert_eq!(b.compute(), 7);
    assert_eq!(Delayed::value(1).compute(), 1);
    assert_eq!(Delayed::value(String::from("x")).compute(), "x");
    let v = Delayed::value(3);
    assert_eq!(v.info().len(), 1);
    assert_eq!(v.info().nodes()[0].kind, "value");
    // Prepared graphs run many times: the value is read again each run.
    let mut again = taskweave::prepare((&b, &c));
    assert_eq!(again.compute(), (7, 8));
    assert_eq!(again.compute(), (7, 8));
}

/// Dask: `test_lists`: `delayed(sum)([delayed(1), delayed(2)]) == 3`: constants made
/// nodes are arguments like any node.
#[test]
fn dask_test_lists() {
    let a = Delayed::value(1i64);
    let b = Delayed::value(2i64);
    let c = delayed(|parts: Vec<i64>| parts.iter().sum::<i64>()).call(vec![a.clone(), b]);
    assert_eq!(c.compute(), [1i64, 2].iter().sum::<i64>());
    let d = delayed(|x: i64, y: i64| x * y).call(&a, 7);
    assert_eq!(d.try_compute_with(Scheduler::Sync).unwrap(), 7);
}

/// Dask: `test_nout`: `delayed(f, nout=n)(x)` unpacks into `n` values computed together.
#[test]
fn dask_test_nout() {
    let three = delayed(|x: i64| (x, -x, x * x)).call(3);
    let (a, b, c) = three.split();
    assert_eq!(taskweave::compute((&a, &b, &c)), (3, -3, 9));

    let five = delayed(|x: i64| (x, x + 1, x.to_string(), vec![x; 2], x as f64 / 2.0)).call(4);
    let (a, b, c, d, e) = five.split();
    assert_eq!(
        taskweave::compute((&a, &b, &c, &d, &e)),
        (4, 5, String::from("4"), vec![4, 4], 2.0)
    );
    // Splitting again gives the same nodes (indexing is pure).
    let (a2, ..) = five.split();
    assert_eq!(a.key(), a2.key());
    assert_eq!(taskweave::prepare((&a, &a2)).len(), 3);

    let twelve = delayed(|x: i64| {
        (
            x,
            x + 1,
            x + 2,
            x + 3,
            x + 4,
            x + 5,
            x + 6,
            x + 7,
            x + 8,
            x + 9,
            x + 10,
            x + 11,
        )
    })
    .call(100);
    let (p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11) = twelve.split();
    let parts = vec![p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11];
    let expected: Vec<i64> = (100..112).collect();
    assert_eq!(taskweave::compute(parts.as_slice()), expected);
    let total = tree_reduce(parts, |x, y| x + y);
    assert_eq!(total.compute(), expected.iter().sum::<i64>());
    assert_eq!(
        total.try_compute_with(Scheduler::Sync).unwrap(),
        expected.iter().sum::<i64>()
    );
}

/// Dask 2026.8.0 (run): `def one(x): return (x + 1,)`; `t = delayed(one, nout=1)(1)`
/// has `len(t) == 1`, `dask.compute(*t) == (2,)` and `dask.compute(t) == ((2,),)`:
/// `nout=1` unpacks a tuple of one, as `(a,) = t` does. `split()` of a 1-tuple gives
/// its one node (it took tuples of 2 to 12 only, where `graph!` split `let (a,) =
/// one(x);` already).
#[test]
fn dask_nout_one_splits_a_tuple_of_one() {
    fn one(x: i64) -> (i64,) {
        (x + 1,)
    }
    let t = delayed(one).call(1);
    let (a,) = t.split();
    assert_eq!(a.compute(), 2);
    assert_eq!(taskweave::compute((&a, &t)), (2, (2,)));
    // Pure, as every split: the same node again.
    let (again,) = t.split();
    assert_eq!(a.key(), again.key());
    let doubled = delayed(|x: i64| x * 2).call(&a);
    assert_eq!(doubled.try_compute_with(Scheduler::Sync).unwrap(), 4);
}

/// Dask: `test_operators`: `a = delayed(10)`; `a + 1 == 11`, `1 + a == 11`, `a >> 1 == 5`:
/// a constant on the left of an operator (Python's reflected operators).
#[test]
fn dask_test_operators() {
    let a = Delayed::value(10i64);
    assert_eq!((&a + 1).compute(), 11);
    assert_eq!((1 + &a).compute(), 11);
    assert_eq!((&a >> 1).compute(), 5i64);
    assert_eq!((10 - &a).compute(), 0);
    assert_eq!((3 - a.clone()).compute(), 3 - 10);
    assert_eq!((100 / &a).compute(), 10);
    assert_eq!((7 % &a).compute(), 7);
    // Shifts take any integer on the right, so the left literal needs its type.
    assert_eq!((1i64 << &a).compute(), 1i64 << 10);
    assert_eq!((6 & &a).compute(), 6 & 10);

    let x = Delayed::value(1.25f64);
    assert_eq!((2.0 * &x).compute(), 2.0 * 1.25);
    assert_eq!((1.0 / x.clone()).compute(), 1.0 / 1.25);
    let y = Delayed::value(0.5f32);
    assert_eq!((3.0f32 - &y).compute(), 3.0 - 0.5);

    // Every std numeric type, by value and by reference.
    macro_rules! each {
        ($($t:ty),*) => {$({
            let d = Delayed::value(2 as $t);
            let plain = 2 as $t;
            assert_eq!((1 as $t + &d).compute(), 1 as $t + plain);
            assert_eq!((5 as $t - d.clone()).compute(), 5 as $t - plain);
            assert_eq!((3 as $t * &d).compute(), 3 as $t * plain);
            assert_eq!((8 as $t / d.clone()).compute(), 8 as $t / plain);
        })*};
    }
    each!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64);

    // Mixed with operators on both sides, against sequential evaluation.
    let b = Delayed::value(4i32);
    let expr = 2 * (&b + 1) - 3 * &b;
    let plain_b = 4i32;
    assert_eq!(expr.compute(), 2 * (plain_b + 1) - 3 * plain_b);
    assert_eq!(
        expr.try_compute_with(Scheduler::Sync).unwrap(),
        2 * (plain_b + 1) - 3 * plain_b
    );
}

/// Splitting one tuple twice gives the same parts (indexing is pure) even when one of
/// them is named: the parts are one node, which reads its element once. Before, a part
/// named after the split and its unnamed twin were two nodes taking the same element
/// of the tuple, and the second failed with "each part is taken once".
#[test]
fn a_named_split_part_and_its_unnamed_twin_compute_together() {
    #[delayed(pure)]
    fn pair_of(x: i64) -> (i64, String) {
        (x, format!("s{x}"))
    }
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        // One tuple split twice.
        let whole = delayed(|x: i64| (x, x.to_string())).call(3);
        let (first, _) = whole.split();
        let first = first.named("first");
        let (again, text) = whole.split();
        assert_eq!(
            taskweave::compute_with(scheduler, (&first, &again, &text)).unwrap(),
            (3, 3, String::from("3"))
        );
        // Equal pure calls (one node), each split, one part named.
        let (a, _) = delay!(pair_of(4)).split();
        let a = a.named("a");
        let (b, s) = delay!(pair_of(4)).split();
        assert_eq!(
            taskweave::compute_with(scheduler, (&a, &b, &s)).unwrap(),
            (4, 4, String::from("s4"))
        );
        // Named differently, both.
        let (x, _) = whole.split();
        let (y, _) = whole.split();
        let (x, y) = (x.named("x"), y.named("y"));
        assert_eq!(
            taskweave::compute_with(scheduler, (&x, &y)).unwrap(),
            (3, 3)
        );
    }
}

/// Dask (distributed): `test_compute_retries_annotations`: a task annotated with
/// `retries=n` that fails fewer than `n + 1` times computes; one that fails more
/// raises its error. Here per task: `delayed(f).retries(n)`.
#[test]
fn dask_test_compute_retries_annotations() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A task that panics the first `failures` times it runs.
    fn flaky(
        failures: usize,
    ) -> (
        Arc<AtomicUsize>,
        impl Fn(i64) -> i64 + Send + Sync + 'static,
    ) {
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        let f = move |x: i64| {
            let run = counter.fetch_add(1, Ordering::SeqCst);
            assert!(run >= failures, "flaky failure {run}");
            x + 1
        };
        (runs, f)
    }

    // Fails twice, then succeeds: two retries are enough, on both schedulers.
    for sync in [false, true] {
        let (runs, f) = flaky(2);
        let x = Delayed::value(41i64);
        let y = delayed(f).named("flaky").retries(2).call(&x);
        let z = &y * 2;
        let value = if sync {
            z.try_compute_with(Scheduler::Sync).unwrap()
        } else {
            z.compute()
        };
        assert_eq!(value, (41 + 1) * 2);
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    // One retry is not enough: the graph fails, naming the task, after two attempts.
    let (runs, f) = flaky(2);
    let y = delayed(f).named("flaky").retries(1).call(1);
    let error = y.try_compute().unwrap_err();
    assert_eq!(error.task(), "flaky");
    assert!(
        error.message().contains("flaky failure 1"),
        "{}",
        error.message()
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);

    // Always failing: every attempt runs (1 + 3), then the error names the task; its
    // dependents never run.
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let broken = delayed(move |x: i64| -> i64 {
        counter.fetch_add(1, Ordering::SeqCst);
        panic!("always fails on {x}")
    })
    .named("always_fails")
    .retries(3);
    let after_runs = Arc::new(AtomicUsize::new(0));
    let after_counter = after_runs.clone();
    let after = delayed(move |x: i64| {
        after_counter.fetch_add(1, Ordering::SeqCst);
        x
    })
    .call(broken.call(7));
    let error = after.try_compute().unwrap_err();
    assert_eq!(error.task(), "always_fails");
    assert!(error.message().contains("always fails on 7"));
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
    assert_eq!(after_runs.load(Ordering::SeqCst), 0);

    // No retries: the first panic fails the graph, as before.
    let (runs, f) = flaky(1);
    let error = delayed(f).named("flaky").call(1).try_compute().unwrap_err();
    assert_eq!(error.task(), "flaky");
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // Pure calls keep their key with retries, and retry as well.
    let (runs, f) = flaky(1);
    let pure = delayed(f).pure().retries(1);
    let (a, b) = (pure.call(5), pure.call(5));
    assert_eq!(a.key(), b.key());
    assert_eq!(taskweave::compute((&a, &b)), (6, 6));
    assert_eq!(runs.load(Ordering::SeqCst), 2);

    // The same pure call with and without retries is two nodes, each with its own
    // retries, whichever order a compute lays them out in (as one node, it ran with
    // the retries of whichever came first: a flaky call failed or not by the order of
    // the outputs).
    let (_, f) = flaky(0);
    let plain = delayed(f).pure();
    let plain_key = plain.call(5).key();
    assert_eq!(
        plain.clone().call(5).key(),
        plain_key,
        "equal calls, one key"
    );
    assert_ne!(plain.retries(2).call(5).key(), plain_key);
    for retried_first in [true, false] {
        let (runs, f) = flaky(1);
        let plain = delayed(f).pure();
        let retried = plain.clone().retries(1).call(5);
        let plain = plain.call(5);
        let (first, second) = if retried_first {
            (&retried, &plain)
        } else {
            (&plain, &retried)
        };
        let both = delayed(|a: i64, b: i64| (a, b)).call(first, second);
        assert_eq!(both.info().len(), 3, "two nodes and their reader");
        // Whichever runs first panics once: as `plain`, the compute fails; as
        // `retried`, it runs again. Either way each call ran as written.
        match both.try_compute_with(Scheduler::Sync) {
            Ok(values) => {
                assert_eq!(values, (6, 6));
                assert_eq!(runs.load(Ordering::SeqCst), 3);
            }
            Err(error) => {
                assert_eq!(error.task(), plain.name());
                assert_eq!(runs.load(Ordering::SeqCst), 1);
            }
        }
    }

    // A lent (`&T`) parameter is lent again to every attempt; a by-value collection is
    // cloned for each attempt but the last.
    let lent_runs = Arc::new(AtomicUsize::new(0));
    let counter = lent_runs.clone();
    let items = Delayed::value(vec![1i64, 2, 3]);
    let lent = delayed(move |v: &Vec<i64>, extra: Vec<i64>| -> i64 {
        let run = counter.fetch_add(1, Ordering::SeqCst);
        assert!(run >= 2, "lent failure {run}");
        v.iter().sum::<i64>() + extra.len() as i64
    })
    .named("lent")
    .retries(2)
    .call(&items, vec![7i64, 8]);
    for sync in [false, true] {
        lent_runs.store(0, Ordering::SeqCst);
        let value = if sync {
            lent.try_compute_with(Scheduler::Sync).unwrap()
        } else {
            lent.compute()
        };
        assert_eq!(value, 6 + 2);
        assert_eq!(lent_runs.load(Ordering::SeqCst), 3);
    }

    // A failed attempt's panic payload whose own drop panics is dropped safely.
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("payload drop panics");
        }
    }
    let bomb_runs = Arc::new(AtomicUsize::new(0));
    let counter = bomb_runs.clone();
    let bomb = delayed(move |x: i64| -> i64 {
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            std::panic::panic_any(Bomb);
        }
        x
    })
    .retries(1)
    .call(3);
    assert_eq!(bomb.compute(), 3);
    assert_eq!(bomb_runs.load(Ordering::SeqCst), 2);
}

/// Dask: `test_persist` (`dask/tests/test_distributed.py`), with several values as
/// `dask.persist(a, b)` and `client.persist([a, b])` take them: one run in which what
/// they share runs once; later graphs read the held values and run nothing again.
#[test]
fn dask_test_persist() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let loads = Arc::new(AtomicUsize::new(0));
    let load = {
        let loads = loads.clone();
        delayed(move |n: i64| {
            loads.fetch_add(1, Ordering::SeqCst);
            (1..=n).collect::<Vec<i64>>()
        })
        .call(10)
    };
    let sum = load.map(|v| v.iter().sum::<i64>());
    let max = load.map(|v| *v.iter().max().unwrap());

    let (held_sum, held_max) = taskweave::persist((&sum, &max));
    assert_eq!(loads.load(Ordering::SeqCst), 1, "shared `load` ran once");
    assert_eq!(held_sum.key(), sum.key(), "a held value keeps its key");
    let both = &held_sum + &held_max;
    assert_eq!(both.compute(), (1..=10).sum::<i64>() + 10);
    assert_eq!(
        loads.load(Ordering::SeqCst),
        1,
        "later graphs read the held values"
    );

    // A slice, and the client's form.
    let parts: Vec<_> = (1..=3).map(|k| &sum * k).collect();
    let held = taskweave::persist(parts.as_slice());
    assert_eq!(loads.load(Ordering::SeqCst), 2);
    assert_eq!(taskweave::compute(held.as_slice()), vec![55, 110, 165]);

    let client = Client::builder().threads(2).build().unwrap();
    let (a, b) = client.persist((&sum, &max));
    assert_eq!(loads.load(Ordering::SeqCst), 3);
    assert_eq!(taskweave::compute((&a, &b)), (55, 10));
    let one = client.persist(&max);
    assert_eq!(one.compute(), 10);
    assert_eq!(loads.load(Ordering::SeqCst), 4);
}

/// Dask: `persist` of a graph whose task raises raises that exception, which the caller
/// may catch (`try: x = x.persist() except MyError`): `try_persist` and `persist_with`
/// return the `TaskError`, naming the task, with its payload; what succeeds is held as
/// `persist` holds it, and runs nothing again.
#[test]
fn dask_persist_of_a_failing_task_raises_its_error() {
    #[derive(Clone, Debug, PartialEq)]
    struct Missing(u32);
    static LOADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    #[delayed]
    fn load(part: u32) -> Vec<u32> {
        LOADS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if part == 7 {
            std::panic::panic_any(Missing(part));
        }
        vec![part; 3]
    }
    #[delayed]
    fn total(values: &[u32]) -> u32 {
        values.iter().sum()
    }
    let bad = delay!(total(&delay!(load(7))));
    let error = bad.try_persist().expect_err("load(7) fails");
    assert_eq!(error.task(), "load");
    assert_eq!(error.payload::<Missing>(), Some(Missing(7)));
    let good = delay!(load(2));
    let (a, b) = (delay!(total(&good)), good.map(Vec::len));
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        let error = taskweave::persist_with(scheduler, (&a, &bad)).expect_err("load(7) fails");
        assert_eq!(error.payload::<Missing>(), Some(Missing(7)));
    }
    // The client's form: the same error, and nothing held.
    let client = Client::builder().threads(2).build().unwrap();
    let error = client.try_persist((&a, &bad)).expect_err("load(7) fails");
    assert_eq!(error.task(), "load");
    assert_eq!(error.payload::<Missing>(), Some(Missing(7)));
    LOADS.store(0, std::sync::atomic::Ordering::SeqCst);
    let held = good.try_persist().expect("load(2) succeeds");
    let (a, b) = taskweave::persist_with(Scheduler::Sync, (&a, &b)).expect("both succeed");
    let by_client = client.try_persist(&a).expect("a succeeds");
    assert_eq!(
        LOADS.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one load per persist"
    );
    assert_eq!(
        taskweave::compute((&held, &a, &b, &delay!(total(&held)), &by_client)),
        (vec![2, 2, 2], 6, 3, 6, 6)
    );
    assert_eq!(
        LOADS.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "nothing ran again"
    );
}

/// Dask: `compute(a, [b, c], (d, [e]))` traverses lists and tuples and returns the
/// same shape; here a tuple whose parts are `&Delayed`s, slices, `Vec`s, arrays and
/// tuples of those, nested, computed in one run (what they share runs once), checked
/// against plain evaluation. `persist` takes the same shapes.
#[test]
fn dask_compute_and_persist_of_nested_collections() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let loads = Arc::new(AtomicUsize::new(0));
    let load = {
        let loads = loads.clone();
        delayed(move |n: u64| {
            loads.fetch_add(1, Ordering::SeqCst);
            n * 10
        })
        .call(4)
    };
    let plain_load = 4 * 10;
    let parts: Vec<Delayed<u64>> = (1..=3).map(|k| &load + k).collect();
    let grid: Vec<Vec<Delayed<u64>>> = (0..3)
        .map(|i| (0..i).map(|j| &load * (i * 10 + j)).collect())
        .collect();
    let plain_grid: Vec<Vec<u64>> = (0..3)
        .map(|i| (0..i).map(|j| plain_load * (i * 10 + j)).collect())
        .collect();
    let none: Vec<Delayed<u64>> = Vec::new();
    let label = load.map(|x| format!("load {x}"));

    let (a, b, (c, d), e, f) =
        taskweave::compute((&load, &parts, (&label, [&parts[0], &load]), &grid, &none));
    assert_eq!(loads.load(Ordering::SeqCst), 1, "`load`, shared, ran once");
    assert_eq!(a, plain_load);
    assert_eq!(b, vec![plain_load + 1, plain_load + 2, plain_load + 3]);
    assert_eq!(c, format!("load {plain_load}"));
    assert_eq!(d, [plain_load + 1, plain_load]);
    assert_eq!(e, plain_grid);
    assert!(f.is_empty());

    // Prepared once, computed twice: the slices' lengths are kept with the plan.
    let mut again = taskweave::prepare((&grid, &parts[1..], &load));
    let want = (
        plain_grid.clone(),
        vec![plain_load + 2, plain_load + 3],
        plain_load,
    );
    assert_eq!(again.compute(), want);
    assert_eq!(again.compute(), want);

    // The client's compute: one future of the same shape.
    let client = Client::builder().threads(2).build().unwrap();
    let future = client.compute((&parts, (&load, &grid)));
    let (p, (l, g)) = future.result().unwrap();
    assert_eq!(
        (p, l, g),
        (vec![41, 42, 43], plain_load, plain_grid.clone())
    );

    // Persisted in the same shape: later graphs read the held values.
    let before = loads.load(Ordering::SeqCst);
    let (held_load, held_grid) = taskweave::persist((&load, &grid));
    assert_eq!(loads.load(Ordering::SeqCst), before + 1);
    assert_eq!(held_grid.len(), grid.len());
    let total = Delayed::value(0u64) + &held_load + &held_grid[2][1];
    assert_eq!(total.compute(), plain_load + plain_grid[2][1]);
    assert_eq!(taskweave::compute((&held_grid, &held_load)).0, plain_grid);
    assert_eq!(
        loads.load(Ordering::SeqCst),
        before + 1,
        "nothing ran again"
    );
}

/// A one-element tuple of a collection (`compute((&parts,))`, Dask's `compute([a, b])`
/// returning a 1-tuple of a list) computes as the collection does in a longer tuple:
/// slices, `Vec`s (borrowed or owned) and arrays; `persist` takes the borrowed ones.
#[test]
fn a_one_element_tuple_of_a_collection_computes() {
    let parts: Vec<Delayed<u64>> = (1..=3u64).map(|k| Delayed::value(k) * 10).collect();
    let plain = vec![10, 20, 30];
    let grid = vec![parts.clone(), vec![parts[2].clone()]];
    assert_eq!(taskweave::compute((&parts,)), (plain.clone(),));
    assert_eq!(taskweave::compute((&parts[1..],)), (plain[1..].to_vec(),));
    assert_eq!(taskweave::compute((parts.clone(),)), (plain.clone(),));
    assert_eq!(
        taskweave::compute((&grid,)),
        (vec![plain.clone(), vec![30]],)
    );
    let array = [&parts[0], &parts[2]];
    assert_eq!(taskweave::compute((&array,)), ([10, 30],));
    assert_eq!(taskweave::compute((array,)), ([10, 30],));
    assert_eq!(taskweave::prepare((&grid,)).compute().0[1], [30]);
    let (held,) = taskweave::persist((&parts,));
    assert_eq!((Delayed::value(0u64) + &held[1]).compute(), 20);
}

/// A failure in a nested part is the compute's error, naming the failed task, as for
/// a flat tuple.
#[test]
fn a_failure_in_a_nested_part_names_its_task() {
    let good = Delayed::value(1u64);
    let bad = delayed(|x: u64| -> u64 { panic!("no value for {x}") })
        .named("bad_part")
        .call(7);
    let error = taskweave::compute_with(Scheduler::Sync, (&good, vec![vec![good.clone(), bad]]))
        .unwrap_err();
    assert_eq!(error.task(), "bad_part");
    assert!(error.message().contains("no value for 7"), "{error}");
}

mod retries_attribute {
    //! `#[delayed(retries = n)]`: the attribute form of `delayed(f).retries(n)`, for
    //! `delay!` and `graph!` alike (distributed's `test_compute_retries_annotations`).
    use std::sync::atomic::{AtomicUsize, Ordering};
    use taskweave::prelude::*;

    #[delayed]
    fn numbers(n: i64) -> Vec<i64> {
        (0..n).collect()
    }

    static DYNAMIC_CALLS: AtomicUsize = AtomicUsize::new(0);

    /// Panics on its first two calls: a by-value `Vec` (cloned for attempts but the
    /// last) and a lent `&i64`.
    #[delayed(retries = 2)]
    fn flaky_total(values: Vec<i64>, scale: &i64) -> i64 {
        if DYNAMIC_CALLS.fetch_add(1, Ordering::SeqCst) < 2 {
            panic!("flaky");
        }
        values.iter().sum::<i64>() * scale
    }

    #[test]
    fn delay_retries_a_task_marked_with_retries() {
        let values = delay!(numbers(4));
        let scale = delay!(numbers(11)).map(|v| v.len() as i64 - 1);
        let total = delay!(flaky_total(values, &scale));
        // Sequentially: the third attempt succeeds.
        assert_eq!(total.compute(), (0..4).sum::<i64>() * 10);
        assert_eq!(DYNAMIC_CALLS.load(Ordering::SeqCst), 3);
    }

    static STATIC_CALLS: AtomicUsize = AtomicUsize::new(0);

    // `&Vec`: a node of `Vec<i64>` is lent as it is.
    #[allow(clippy::ptr_arg)]
    #[delayed(retries = 2)]
    fn flaky_sum(a: Vec<i64>, b: &Vec<i64>) -> i64 {
        if STATIC_CALLS.fetch_add(1, Ordering::SeqCst) < 2 {
            panic!("flaky");
        }
        a.iter().sum::<i64>() + b.iter().sum::<i64>()
    }

    #[test]
    fn graph_retries_a_task_marked_with_retries() {
        let job = graph!(|n: i64| -> i64 {
            let a = numbers(n);
            let b = numbers(n + 1);
            // `b` is read twice: lent to `flaky_sum`, given to the sum after it.
            let s = flaky_sum(a, &b);
            s + b.len() as i64
        });
        let want = (0..3).sum::<i64>() + (0..4).sum::<i64>() + 4;
        assert_eq!(job.compute(3), want);
        assert_eq!(STATIC_CALLS.load(Ordering::SeqCst), 3);
    }

    static FAILING_CALLS: AtomicUsize = AtomicUsize::new(0);

    #[delayed(retries = 1)]
    fn always_fails(x: i64) -> i64 {
        FAILING_CALLS.fetch_add(1, Ordering::SeqCst);
        panic!("still failing at {x}")
    }

    #[test]
    fn a_task_failing_every_attempt_fails_with_the_last_panic() {
        let failing = delay!(always_fails(7));
        let error = failing.try_compute().expect_err("every attempt panics");
        assert_eq!(error.task(), "always_fails");
        assert!(error.message().contains("still failing at 7"));
        assert_eq!(FAILING_CALLS.load(Ordering::SeqCst), 2, "1 + 1 retry");
    }
}
