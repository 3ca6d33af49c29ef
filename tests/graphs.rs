//! Graphs of many shapes compute the same results as calling the same functions
//! directly, on the thread pool and on the synchronous scheduler.

use std::sync::Arc;

use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[delayed]
fn double(x: i64) -> i64 {
    x * 2
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
fn sum_all(parts: &[i64]) -> i64 {
    parts.iter().sum()
}

#[delayed]
fn sum_vec(parts: Vec<i64>) -> i64 {
    parts.iter().sum()
}

#[delayed]
fn split(x: i64) -> (i64, i64) {
    (x / 2, x % 2)
}

#[delayed]
fn triple(x: i64) -> (i64, (i64, i64)) {
    (x, (x + 1, x + 2))
}

#[delayed]
fn parse(s: &str) -> Result<i64, String> {
    s.trim().parse().map_err(|e| format!("{s:?}: {e}"))
}

#[delayed]
fn half(x: i64) -> Option<i64> {
    (x % 2 == 0).then_some(x / 2)
}

// A `&Vec` parameter on purpose: a node of `Vec<f64>` lent as it is.
#[allow(clippy::ptr_arg)]
#[delayed]
fn len_of(v: &Vec<f64>) -> usize {
    v.len()
}

#[delayed]
fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

#[delayed]
fn join(parts: &[String]) -> String {
    parts.join("+")
}

#[delayed]
fn make_point(x: i64, y: i64) -> Point {
    Point { x, y }
}

#[delayed]
fn identity<T: Send>(x: T) -> T {
    x
}

#[delayed]
fn seven() -> i64 {
    7
}

#[derive(Debug, Clone, PartialEq)]
struct Point {
    x: i64,
    y: i64,
}

impl Point {
    fn norm1(&self) -> i64 {
        self.x.abs() + self.y.abs()
    }
}

/// Both schedulers give `expected`.
fn check<T: PartialEq + std::fmt::Debug>(threads: T, sync: T, expected: T) {
    assert_eq!(threads, expected, "thread pool");
    assert_eq!(sync, expected, "synchronous scheduler");
}

#[test]
fn chain() {
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        let b = inc(a);
        let c = inc(b);
        inc(c)
    });
    check(
        g.compute(1),
        g.compute_with(Scheduler::Sync, 1),
        inc(inc(inc(inc(1)))),
    );
    assert_eq!(g.len(), 4);
}

#[test]
fn nested_calls() {
    let g = graph!(|x: i64| -> i64 { double(inc(double(x))) });
    check(
        g.compute(5),
        g.compute_with(Scheduler::Sync, 5),
        double(inc(double(5))),
    );
}

#[test]
fn diamond() {
    let g = graph!(|x: i64| -> i64 {
        let top = inc(x);
        let left = double(top);
        let right = inc(top);
        add(left, right)
    });
    let top = inc(3);
    check(
        g.compute(3),
        g.compute_with(Scheduler::Sync, 3),
        add(double(top), inc(top)),
    );
}

#[test]
fn fan_out_fan_in() {
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        let b = double(x);
        let c = add(x, 10);
        let d = inc(x + 100);
        sum_all([a, b, c, d])
    });
    let expected = sum_all(&[inc(4), double(4), add(4, 10), inc(104)]);
    check(g.compute(4), g.compute_with(Scheduler::Sync, 4), expected);
}

#[test]
fn quickstart_shape() {
    let g = graph!(|n: u32| -> f64 {
        let a = clean(load(n));
        let b = clean(load(n + 1));
        total([a, b]) * 2.0
    });
    let expected = total(&[clean(load(3)), clean(load(4))]) * 2.0;
    check(g.compute(3), g.compute_with(Scheduler::Sync, 3), expected);
    assert_eq!(g.len(), 6);
}

#[test]
fn wide() {
    let g = graph! {
        let a0 = inc(0); let a1 = inc(1); let a2 = inc(2); let a3 = inc(3);
        let a4 = inc(4); let a5 = inc(5); let a6 = inc(6); let a7 = inc(7);
        sum_vec(vec![a0, a1, a2, a3, a4, a5, a6, a7])
    };
    let expected = sum_vec((0..8).map(inc).collect());
    check(g.compute(), g.compute_with(Scheduler::Sync), expected);
}

#[test]
fn tuple_result() {
    let g = graph!(|x: i64, y: i64| -> (i64, bool) {
        let s = add(x, y);
        (double(s), s > 10)
    });
    check(
        g.compute(3, 4),
        g.compute_with(Scheduler::Sync, 3, 4),
        (double(add(3, 4)), add(3, 4) > 10),
    );
    assert_eq!(g.compute(8, 4), (24, true));
}

#[test]
fn tuple_split() {
    let g = graph!(|x: i64| -> i64 {
        let (q, r) = split(x);
        add(double(q), r)
    });
    let (q, r) = split(17);
    check(
        g.compute(17),
        g.compute_with(Scheduler::Sync, 17),
        add(double(q), r),
    );
}

#[test]
fn nested_tuple_split_with_wildcard() {
    let g = graph!(|x: i64| -> i64 {
        let (a, (_, c)) = triple(x);
        add(a, c)
    });
    let (a, (_, c)) = triple(5);
    check(g.compute(5), g.compute_with(Scheduler::Sync, 5), add(a, c));
}

#[test]
fn split_of_a_bound_value() {
    let g = graph!(|x: i64| -> i64 {
        let pair = split(x);
        let (q, r) = pair;
        q * 10 + r
    });
    let (q, r) = split(9);
    check(g.compute(9), g.compute_with(Scheduler::Sync, 9), q * 10 + r);
}

#[test]
fn question_mark_ok() {
    let g = graph!(|a: String, b: String| -> Result<i64, String> {
        let x = parse(&a)?;
        let y = parse(&b)?;
        Ok(add(x, y))
    });
    let expected: Result<i64, String> = (|| Ok(add(parse("2")?, parse("40")?)))();
    let sync = g.compute_with(Scheduler::Sync, "2".into(), "40".into());
    check(g.compute("2".into(), "40".into()), sync, expected);
}

#[test]
fn question_mark_err_stops_the_graph() {
    let g = graph!(|a: String, b: String| -> Result<i64, String> {
        let x = parse(&a)?;
        let y = parse(&b)?;
        Ok(double(add(x, y)))
    });
    let expected: Result<i64, String> = (|| Ok(double(add(parse("2")?, parse("x")?))))();
    let sync = g.compute_with(Scheduler::Sync, "2".into(), "x".into());
    check(g.compute("2".into(), "x".into()), sync, expected);
}

#[delayed]
fn slow_parse(s: &str) -> Result<i64, String> {
    std::thread::sleep(std::time::Duration::from_millis(20));
    parse(s)
}

/// Of two failing `?`, the one first in program order decides the result, as in the
/// sequential code, even when the later one fails first and the earlier one has not
/// started yet.
#[test]
fn question_mark_first_error_in_program_order_wins() {
    let g = graph!(|a: String, b: String| -> Result<i64, String> {
        let x = slow_parse(&a)?;
        let y = parse(&b)?;
        Ok(add(x, y))
    });
    let direct = |a: &str, b: &str| -> Result<i64, String> { Ok(add(slow_parse(a)?, parse(b)?)) };
    for _ in 0..10 {
        let sync = g.compute_with(Scheduler::Sync, "a".into(), "b".into());
        check(g.compute("a".into(), "b".into()), sync, direct("a", "b"));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    assert_eq!(
        g.compute_on(&pool, "a".into(), "b".into()),
        direct("a", "b")
    );
    // Only the later one fails: its error.
    assert_eq!(g.compute("1".into(), "b".into()), direct("1", "b"));
}

#[delayed]
fn panics_on(s: &str) -> i64 {
    assert!(s != "boom", "a panic after the `?`");
    0
}

/// A `?` that fails before a node that panics decides the result, as in the
/// sequential code (which never reaches the panic), even when the panic comes first:
/// the `?`'s node was running then, and its error is returned rather than the panic.
#[test]
fn question_mark_before_a_panicking_node_wins() {
    let g = graph!(|a: String, b: String| -> Result<i64, String> {
        let x = slow_parse(&a)?;
        let y = panics_on(&b);
        Ok(add(x, y))
    });
    let direct = |a: &str, b: &str| -> Result<i64, String> {
        let x = slow_parse(a)?;
        Ok(add(x, panics_on(b)))
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for _ in 0..5 {
        let threads = g.try_compute_on(&pool, "a".into(), "boom".into());
        assert_eq!(threads.expect("the `?` decides"), direct("a", "boom"));
        let sync = g.try_compute_with(Scheduler::Sync, "a".into(), "boom".into());
        assert_eq!(sync.expect("the `?` decides"), direct("a", "boom"));
    }
    // No `?` fails: the panic is the error, naming its task.
    let error = g
        .try_compute_on(&pool, "1".into(), "boom".into())
        .expect_err("the panic");
    assert!(error.to_string().contains("panics_on"), "{error}");
}

/// A type written on a `let` bound to a node types the node's result: it drives
/// inference (`collect`, `into`) as it does outside `graph!`.
#[test]
fn let_type_annotations_type_the_node() {
    let g = graph!(|x: i64| {
        let a: i64 = inc(x);
        let b: i64 = a;
        let (q, r): (i64, i64) = split(b);
        let v: Vec<i64> = vec![a, q, r];
        let w: Vec<i64> = v.iter().map(|x| x * 2).collect();
        let s: i64 = w.iter().sum();
        let f: i128 = s.into();
        (s, f)
    });
    let direct = |x: i64| {
        let a = inc(x);
        let (q, r) = split(a);
        let s: i64 = [a, q, r].iter().map(|x| x * 2).sum();
        (s, i128::from(s))
    };
    check(g.compute(5), g.compute_with(Scheduler::Sync, 5), direct(5));
}

/// Constants from `let` and loop counters: `!=` on them, slices of them given to a
/// `&[T]` parameter, and arithmetic that unrolling makes constant (`j * 2` with j = 0).
#[test]
fn constants_in_comparisons_slices_and_unrolled_arithmetic() {
    let g = graph!(|x: i64| {
        let d = 14;
        let mut s = inc(x);
        for j in 0..3 {
            let b = j * 2 - j;
            s = add(s, b);
            s = add(s, (j != 1) as i64);
        }
        let p = [d, 2];
        (
            s + (d != 14) as i64,
            sum_all(&[d, 2]),
            sum_all(&p),
            sum_all(&[d, s]),
        )
    });
    let direct = |x: i64| {
        let d = 14;
        let mut s = inc(x);
        for j in 0..3 {
            s = add(s, j * 2 - j);
            s = add(s, (j != 1) as i64);
        }
        (
            s + (d != 14) as i64,
            sum_all(&[d, 2]),
            sum_all(&[d, 2]),
            sum_all(&[d, s]),
        )
    };
    check(g.compute(1), g.compute_with(Scheduler::Sync, 1), direct(1));
}

#[derive(Debug, PartialEq)]
enum AppError {
    Parse(String),
}

impl From<String> for AppError {
    fn from(s: String) -> Self {
        AppError::Parse(s)
    }
}

#[test]
fn question_mark_converts_errors_with_from() {
    let g = graph!(|a: String| -> Result<i64, AppError> {
        let x = parse(&a)?;
        Ok(inc(x))
    });
    let direct = |a: &str| -> Result<i64, AppError> { Ok(inc(parse(a)?)) };
    check(
        g.compute("4".into()),
        g.compute_with(Scheduler::Sync, "4".into()),
        direct("4"),
    );
    check(
        g.compute("z".into()),
        g.compute_with(Scheduler::Sync, "z".into()),
        direct("z"),
    );
}

#[test]
fn question_mark_on_option() {
    let g = graph!(|x: i64| -> Option<i64> {
        let h = half(x)?;
        let q = half(h)?;
        Some(inc(q))
    });
    let direct = |x: i64| -> Option<i64> { Some(inc(half(half(x)?)?)) };
    for x in [8, 6, 5] {
        check(g.compute(x), g.compute_with(Scheduler::Sync, x), direct(x));
    }
}

#[test]
fn shared_value_cloned_for_by_value_uses() {
    let g = graph!(|n: u32| -> (f64, usize, Vec<f64>) {
        let v = load(n);
        let c = clean(v);
        let l = len_of(&v);
        (total([c]), l, v)
    });
    let v = load(2);
    let expected = (total(&[clean(v.clone())]), len_of(&v), v);
    check(g.compute(2), g.compute_with(Scheduler::Sync, 2), expected);
}

#[test]
fn shared_value_lent_to_ref_parameters() {
    let g = graph!(|s: String| -> (String, usize) {
        let w = words(&s);
        let j = join(&w);
        let k = join(&w);
        (j + "|" + &k, w.len())
    });
    let w = words("a b c");
    let expected = (join(&w) + "|" + &join(&w), w.len());
    check(
        g.compute("a b c".into()),
        g.compute_with(Scheduler::Sync, "a b c".into()),
        expected,
    );
}

#[test]
fn value_used_twice_in_one_call() {
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        add(a, a) * a
    });
    let a = inc(6);
    check(
        g.compute(6),
        g.compute_with(Scheduler::Sync, 6),
        add(a, a) * a,
    );
}

#[test]
fn rebinding() {
    let g = graph!(|x: i64| -> i64 {
        let mut y = inc(x);
        y = double(y);
        y = add(y, x);
        y
    });
    check(
        g.compute(3),
        g.compute_with(Scheduler::Sync, 3),
        add(double(inc(3)), 3),
    );
}

#[test]
fn unrolled_loop() {
    let g = graph!(|x: i64| -> i64 {
        let mut acc = inc(x);
        for i in 0..5 {
            acc = add(acc, i);
        }
        acc
    });
    let mut acc = inc(2);
    for i in 0..5 {
        acc = add(acc, i);
    }
    check(g.compute(2), g.compute_with(Scheduler::Sync, 2), acc);
    assert_eq!(g.len(), 6);
}

#[test]
fn unrolled_inclusive_loop_with_local_lets() {
    let g = graph!(|x: i64| -> i64 {
        let mut acc = seven();
        for k in 1..=3 {
            let step = double(k * 10 + x);
            acc = add(acc, step);
        }
        acc
    });
    let mut acc = seven();
    for k in 1..=3 {
        acc = add(acc, double(k * 10 + 1));
    }
    check(g.compute(1), g.compute_with(Scheduler::Sync, 1), acc);
}

#[test]
fn nested_unrolled_loops() {
    let g = graph! {
        let mut acc = seven();
        for i in 0..3 {
            for j in 0..2 {
                acc = add(acc, i * 10 + j);
            }
        }
        acc
    };
    let mut acc = seven();
    for i in 0..3 {
        for j in 0..2 {
            acc = add(acc, i * 10 + j);
        }
    }
    check(g.compute(), g.compute_with(Scheduler::Sync), acc);
}

#[test]
#[allow(clippy::nonminimal_bool)] // `!` on a node of `bool` is what is tested
fn operators() {
    let g = graph!(
        |x: i64, y: i64| -> (i64, i64, i64, i64, i64, bool, bool, i64) {
            let a = inc(x);
            let b = double(y);
            (
                a + b,
                a - b,
                a * b,
                a / 2,
                -a,
                a == b,
                !(a < b),
                (a & b) | (a ^ 3) << 1,
            )
        }
    );
    let (a, b) = (inc(5), double(7));
    let expected = (
        a + b,
        a - b,
        a * b,
        a / 2,
        -a,
        a == b,
        !(a < b),
        (a & b) | (a ^ 3) << 1,
    );
    check(
        g.compute(5, 7),
        g.compute_with(Scheduler::Sync, 5, 7),
        expected,
    );
}

#[test]
fn methods_fields_and_indexing() {
    let g = graph!(|x: i64, y: i64| -> (i64, i64, i64, f64, usize) {
        let p = make_point(x, y);
        let v = load(2);
        (p.x, p.norm1(), p.y.pow(2), v[1], v.len())
    });
    let p = make_point(-3, 4);
    let v = load(2);
    let expected = (p.x, p.norm1(), p.y.pow(2), v[1], v.len());
    check(
        g.compute(-3, 4),
        g.compute_with(Scheduler::Sync, -3, 4),
        expected,
    );
}

#[test]
fn casts_and_constant_expressions() {
    let g = graph!(|n: u32| -> f64 {
        let l = len_of(&load(n));
        l as f64 * 1.5 + f64::from(n * 2)
    });
    let expected = len_of(&load(3)) as f64 * 1.5 + f64::from(3 * 2);
    check(g.compute(3), g.compute_with(Scheduler::Sync, 3), expected);
}

#[test]
fn captured_variables_are_constants() {
    let offset = 100;
    let label = String::from("x");
    let g = graph!(|x: i64| -> (i64, String) {
        let a = add(x, offset);
        (a, label.clone() + "!")
    });
    check(
        g.compute(1),
        g.compute_with(Scheduler::Sync, 1),
        (add(1, offset), "x!".to_owned()),
    );
    // Reusable: run again with other inputs.
    assert_eq!(g.compute(2).0, 102);
}

#[test]
fn constant_lets_and_shadowing() {
    let g = graph!(|x: i64| -> i64 {
        let k = 3;
        let a = add(x, k);
        let k = 5;
        let b = add(x, k);
        add(a, b)
    });
    check(
        g.compute(1),
        g.compute_with(Scheduler::Sync, 1),
        add(add(1, 3), add(1, 5)),
    );
}

#[test]
fn input_shadowed_by_a_node() {
    let g = graph!(|x: i64| -> i64 {
        let x = inc(x);
        let x = double(x);
        x
    });
    check(
        g.compute(4),
        g.compute_with(Scheduler::Sync, 4),
        double(inc(4)),
    );
}

#[test]
fn collections_bound_by_let() {
    let g = graph!(|x: i64| -> (i64, i64) {
        let parts = [inc(x), double(x), seven()];
        let v = vec![inc(x), inc(x + 1)];
        (sum_all(&parts), sum_vec(v))
    });
    let expected = (
        sum_all(&[inc(2), double(2), seven()]),
        sum_vec(vec![inc(2), inc(3)]),
    );
    check(g.compute(2), g.compute_with(Scheduler::Sync, 2), expected);
}

#[test]
fn constructors_and_struct_literals() {
    let g = graph!(|x: i64| -> (Option<i64>, Point) {
        let a = inc(x);
        (Some(a), Point { x: a, y: double(a) })
    });
    let a = inc(1);
    let expected = (Some(a), Point { x: a, y: double(a) });
    check(g.compute(1), g.compute_with(Scheduler::Sync, 1), expected);
}

#[test]
fn generic_task() {
    let g = graph!(|x: i64| -> (i64, String) {
        let a = identity(inc(x));
        (a, identity::<String>(String::from("s")))
    });
    check(
        g.compute(1),
        g.compute_with(Scheduler::Sync, 1),
        (2, "s".to_owned()),
    );
}

#[test]
fn block_form_without_inputs() {
    let g = graph! {
        let a = seven();
        let b = inc(a);
        add(a, b)
    };
    check(g.compute(), g.compute_with(Scheduler::Sync), add(7, inc(7)));
}

#[test]
fn block_form_with_question_mark() {
    let g = graph! {
        let x = parse("12")?;
        let y = parse("oops")?;
        Ok::<i64, String>(add(x, y))
    };
    let expected: Result<i64, String> = (|| Ok(add(parse("12")?, parse("oops")?)))();
    check(g.compute(), g.compute_with(Scheduler::Sync), expected);
}

#[test]
fn constant_result() {
    let g = graph!(|x: i64| -> i64 { x * 2 });
    check(g.compute(21), g.compute_with(Scheduler::Sync, 21), 42);
    assert!(g.is_empty());
}

#[test]
fn arc_values_are_shared_not_copied() {
    #[delayed]
    fn make(n: usize) -> Arc<Vec<u8>> {
        Arc::new(vec![1; n])
    }
    #[delayed]
    fn size(v: Arc<Vec<u8>>) -> usize {
        v.len()
    }
    let g = graph!(|n: usize| -> usize {
        let v = make(n);
        size(v) + size(v)
    });
    check(g.compute(10), g.compute_with(Scheduler::Sync, 10), 20);
}

#[test]
fn task_without_consumers_still_runs() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    #[delayed]
    fn record(x: i64) -> i64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        x
    }
    let g = graph!(|x: i64| -> i64 {
        record(x);
        inc(x)
    });
    assert_eq!(g.compute(1), 2);
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
}

#[test]
fn compute_on_a_given_pool() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        let b = double(x);
        add(a, b)
    });
    assert_eq!(g.compute_on(&pool, 5), add(inc(5), double(5)));
}

#[test]
fn reruns_give_fresh_results() {
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        let b = double(a);
        add(a, b)
    });
    for x in 0..200 {
        assert_eq!(g.compute(x), add(inc(x), double(inc(x))));
    }
}

#[test]
fn method_chains_run_in_one_task() {
    let g = graph!(|n: u32| -> (f64, usize, String) {
        let v = load(n);
        let total: f64 = v.iter().sum();
        let evens = v.iter().filter(|x| *x % 2.0 == 0.0).count();
        (total, evens, v.len().to_string().repeat(2))
    });
    let v = load(3);
    let expected = (
        v.iter().sum::<f64>(),
        v.iter().filter(|x| *x % 2.0 == 0.0).count(),
        v.len().to_string().repeat(2),
    );
    check(g.compute(3), g.compute_with(Scheduler::Sync, 3), expected);
    // Three chains and the load: four nodes.
    assert_eq!(g.len(), 4);
}

/// A constant argument that calls something or reads a `mut` constant is read where
/// the call is written, as sequential code reads it, not when the task runs (after
/// all constant code of the graph): `v.clone()`, `v.len()`, an atomic's `load`, `m + 1`
/// each changed by constant code after the call. A non-`Clone` argument built by a
/// call is moved into its task, and a borrow of a constant is lent.
#[test]
fn constant_arguments_are_read_where_the_call_is_written() {
    use std::sync::atomic::{AtomicI64, Ordering::SeqCst};

    #[delayed]
    fn owned_len(s: NotClone) -> usize {
        s.0.len()
    }
    struct NotClone(String);

    let counter = Arc::new(AtomicI64::new(1));
    let shared = counter.clone();
    let g = graph!(|x: i64| -> (i64, i64, i64, i64, i64, usize, i64) {
        let mut v = vec![x, x];
        let a = sum_vec(v.clone());
        let b = inc(v.len() as i64 + x);
        let c = sum_all(&v.to_vec());
        v.push(100);
        let d = inc(shared.load(SeqCst) + x);
        shared.store(100, SeqCst);
        let mut m = x;
        let e = inc(m + 1);
        m = m + 10;
        let f = owned_len(NotClone(format!("{m}")));
        (a, b, c, d, e, f, inc(m))
    });
    let sequential = |x: i64, counter: &AtomicI64| {
        let mut v = vec![x, x];
        let a = sum_vec(v.clone());
        let b = inc(v.len() as i64 + x);
        let c = sum_all(&v.to_vec());
        v.push(100);
        let d = inc(counter.load(SeqCst) + x);
        counter.store(100, SeqCst);
        let mut m = x;
        let e = inc(m + 1);
        m += 10;
        let f = owned_len(NotClone(format!("{m}")));
        (a, b, c, d, e, f, inc(m))
    };
    let expected = sequential(3, &AtomicI64::new(1));
    assert_eq!(expected, (6, 6, 6, 5, 5, 2, 14));
    counter.store(1, SeqCst);
    let threads = g.compute(3);
    counter.store(1, SeqCst);
    check(threads, g.compute_with(Scheduler::Sync, 3), expected);

    // Two arguments that each change what the other reads: in program order, though
    // the second's task is ready long before the first's (whose operand waits for a
    // slow task). They were read in the order their tasks ran: (1, 1).
    #[delayed]
    fn slowly(x: i64) -> i64 {
        std::thread::sleep(std::time::Duration::from_millis(30));
        x
    }
    let ticket = Arc::new(AtomicI64::new(0));
    let next = ticket.clone();
    let g = graph!(|x: i64| -> (i64, i64) {
        let s = slowly(x);
        let a = add(s, next.fetch_add(1, SeqCst));
        let b = inc(next.fetch_add(1, SeqCst));
        (a, b)
    });
    let sequential = |x: i64, next: &AtomicI64| {
        let s = slowly(x);
        let a = add(s, next.fetch_add(1, SeqCst));
        let b = inc(next.fetch_add(1, SeqCst));
        (a, b)
    };
    let expected = sequential(0, &AtomicI64::new(0));
    assert_eq!(expected, (0, 2));
    let threads = g.compute(0);
    ticket.store(0, SeqCst);
    check(threads, g.compute_with(Scheduler::Sync, 0), expected);

    // Constant code that changes state inside a closure counts as such code: the
    // argument before it is read first (it was read after it: 51 for 1).
    let cell = Arc::new(AtomicI64::new(0));
    let inside = cell.clone();
    let g = graph!(|x: i64| -> i64 {
        let a = inc(inside.load(SeqCst) + x);
        (0..1).for_each(|_| inside.store(50, SeqCst));
        a
    });
    let threads = g.compute(0);
    cell.store(0, SeqCst);
    check(threads, g.compute_with(Scheduler::Sync, 0), inc(0));
}

/// A constant argument after a `?`, which no later constant code can change, stays in
/// its task (one before any `?` that calls something is read where it is written,
/// `constant_code.rs`): after a `?` that stops the graph its panic does not replace the `?`'s error (the first in
/// program order), on the synchronous scheduler it is never evaluated (an atomic is
/// not incremented: its task never starts; on the pool, a task that does not read the
/// `?`'s value may start before the stop, as Dask's would), and when it panics, the
/// error names its task.
#[test]
fn constant_arguments_after_a_stopping_question_mark_are_not_evaluated() {
    use std::sync::atomic::{AtomicI64, Ordering::SeqCst};

    let g = graph!(|s: String, v: Vec<i64>| -> Result<i64, String> {
        let a = parse(&s)?;
        let b = inc(v[5]);
        Ok(add(a, b))
    });
    let expected: Result<i64, String> = Err(parse("x").unwrap_err());
    assert_eq!(
        g.try_compute("x".into(), vec![]).ok(),
        Some(expected.clone())
    );
    assert_eq!(
        g.try_compute_with(Scheduler::Sync, "x".into(), vec![]).ok(),
        Some(expected.clone())
    );
    assert_eq!(g.compute("2".into(), vec![0, 1, 2, 3, 4, 5]), Ok(2 + 6));
    let error = g.try_compute("2".into(), vec![]).unwrap_err();
    assert_eq!(error.task(), "inc");
    assert!(error.message().contains("index out of bounds"), "{error}");

    let counter = Arc::new(AtomicI64::new(0));
    let shared = counter.clone();
    let g = graph!(|s: String| -> Result<i64, String> {
        let a = parse(&s)?;
        let b = inc(shared.fetch_add(1, SeqCst));
        Ok(add(a, b))
    });
    assert_eq!(g.compute_with(Scheduler::Sync, "x".into()), expected);
    assert_eq!(counter.load(SeqCst), 0, "never reached");
    assert_eq!(g.compute_with(Scheduler::Sync, "2".into()), Ok(2 + 1));
    assert_eq!(counter.load(SeqCst), 1);
    assert_eq!(g.compute("x".into()), expected);
}

#[delayed]
fn fails_soon(x: i64) -> i64 {
    std::thread::sleep(std::time::Duration::from_millis(50));
    panic!("fails soon: {x}")
}

#[delayed]
fn ends_late(x: i64) -> i64 {
    std::thread::sleep(std::time::Duration::from_millis(400));
    x
}

/// A tree-form graph (every value read once) holds its run's task scope around its
/// nodes only, not across its joins: rayon work of someone else's that a thread runs
/// while it waits in the tree's join reads `cancelled()` false, after the run has
/// failed. (Every item of such a `par_iter` read true.)
#[test]
fn other_work_run_while_a_tree_waits_is_not_its_task() {
    use rayon::prelude::*;
    let tree = graph!(|n: i64| -> i64 { add(fails_soon(n), ends_late(n)) });
    let seen_cancelled = std::thread::scope(|s| {
        let other = s.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            (0..64u32)
                .into_par_iter()
                .filter(|_| {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    taskweave::cancelled()
                })
                .count()
        });
        let error = tree.try_compute(1).unwrap_err();
        assert_eq!(error.task(), "fails_soon");
        other.join().unwrap()
    });
    assert_eq!(
        seen_cancelled, 0,
        "items of another par_iter read cancelled()"
    );
}

/// Counts its clones, in a counter of its own.
#[derive(Debug)]
struct Counted(Arc<std::sync::atomic::AtomicUsize>, i64);

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Counted(self.0.clone(), self.1)
    }
}

#[delayed]
fn open(c: Counted) -> i64 {
    c.1
}

#[delayed]
fn peek(c: &Counted) -> i64 {
    c.1
}

/// Not `Clone`.
struct Unique(Vec<i64>);

#[delayed]
fn take_unique(u: Unique) -> i64 {
    u.0.iter().sum()
}

/// An input read once, by one task that takes it by value, is moved into it, as in
/// sequential code: never cloned, and it may be of a type that is not `Clone`. One read
/// several times is cloned for each by-value reader (the graph cannot know which runs
/// last). Both in a tree (nested joins) and through the dispatcher (a value read twice).
#[test]
fn an_input_read_once_is_moved_into_its_task() {
    let clones = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = |n| Counted(clones.clone(), n);
    let cloned = || clones.swap(0, std::sync::atomic::Ordering::Relaxed);

    // A tree.
    let tree = graph!(|c: Counted, x: i64| -> i64 { add(open(c), inc(x)) });
    check(
        tree.compute(counted(5), 1),
        tree.compute_with(Scheduler::Sync, counted(5), 1),
        add(open(counted(5)), inc(1)),
    );
    assert_eq!(cloned(), 0, "an input read once, in a tree");

    // The dispatcher: `a` is read twice.
    let dispatched = graph!(|c: Counted, x: i64| -> i64 {
        let a = inc(x);
        add(add(open(c), a), a)
    });
    check(
        dispatched.compute(counted(5), 1),
        dispatched.compute_with(Scheduler::Sync, counted(5), 1),
        5 + 2 + 2,
    );
    assert_eq!(cloned(), 0, "an input read once, through the dispatcher");

    // Read twice by value: cloned for each (the graph keeps it for the other).
    let twice = graph!(|c: Counted| -> i64 { add(open(c), open(c)) });
    assert_eq!(twice.compute(counted(3)), 6);
    assert_eq!(cloned(), 2, "an input read twice by value");
    // Lent to one and taken by another: cloned for the one that takes it.
    let lent = graph!(|c: Counted| -> i64 { add(peek(&c), open(c)) });
    assert_eq!(lent.compute(counted(3)), 6);
    assert_eq!(cloned(), 1, "an input lent once and taken once");

    // Not `Clone`, read once: moved, and dropped in its task.
    let unique = graph!(|u: Unique, x: i64| -> i64 { add(take_unique(u), double(x)) });
    let expected = take_unique(Unique(vec![1, 2, 3])) + double(4);
    check(
        unique.compute(Unique(vec![1, 2, 3]), 4),
        unique.compute_with(Scheduler::Sync, Unique(vec![1, 2, 3]), 4),
        expected,
    );
    // The value lives in the graph's result slot while the tree form is not used: a
    // failure before its reader runs drops it with the run.
    let failing = graph!(|u: Unique, s: String| -> Result<i64, String> {
        let n = parse(&s)?;
        Ok(add(take_unique(u), n))
    });
    assert_eq!(
        failing.compute(Unique(vec![1]), "x".into()),
        parse("x").map(|_| 0)
    );
    assert_eq!(failing.compute(Unique(vec![1]), "2".into()), Ok(3));
}

/// A raw identifier is the name it spells, as in Rust: `r#a` binds `a`, and `a` reads
/// it (the graph read the captured `a` instead, 100).
#[test]
fn raw_identifiers_name_what_they_spell() {
    let a = 100i64;
    let g = graph!(|x: i64| -> i64 {
        let r#a = inc(x);
        a
    });
    let h = graph!(|x: i64| -> i64 {
        let a = inc(x);
        double(r#a)
    });
    let sequential = |x: i64| {
        let r#a = inc(x);
        let first = a;
        let a = inc(x);
        (first, double(r#a))
    };
    assert_eq!(sequential(1), (2, 4));
    check(
        (g.compute(1), h.compute(1)),
        (
            g.compute_with(Scheduler::Sync, 1),
            h.compute_with(Scheduler::Sync, 1),
        ),
        sequential(1),
    );
    let _ = a;
}
