//! Issue 14, items 3 and 4: a value requested more than once in one compute is
//! returned each time (as Dask does), and pure calls are keyed the same way for every
//! argument type, floats by their exact bits. Every value is checked against calling the
//! functions directly, in order.

use std::sync::atomic::{AtomicUsize, Ordering};

use taskweave::prelude::*;
use taskweave::Scheduler;

// ---- Item 3: a value requested twice -----------------------------------------------

fn add(a: u64, b: u64) -> u64 {
    a * 31 + b
}

#[delayed(pure)]
fn sq(x: u64) -> u64 {
    x * x
}

#[test]
fn one_value_requested_twice_is_returned_twice() {
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        let a = delayed(add).call(2, 3);
        let got = taskweave::compute_with(scheduler, (&a, &a)).unwrap();
        assert_eq!(got, (add(2, 3), add(2, 3)));
        // A `String` (not `Copy`): the clone and the moved value are both whole.
        let s = a.map(|v| format!("value {v}"));
        let got = taskweave::compute_with(scheduler, (&s, &a, &s)).unwrap();
        let want = format!("value {}", add(2, 3));
        assert_eq!(got, (want.clone(), add(2, 3), want));
    }
    let a = delayed(add).call(4, 5);
    assert_eq!(taskweave::compute((&a, &a)), (add(4, 5), add(4, 5)));
    // Laid out once, computed again: each run returns it twice.
    let mut prepared = taskweave::prepare((&a, &a));
    for _ in 0..3 {
        assert_eq!(prepared.compute(), (add(4, 5), add(4, 5)));
    }
}

#[test]
fn pure_twins_computed_together_are_one_node_returned_twice() {
    let x = delay!(sq(3));
    let y = delay!(sq(3));
    assert_eq!(taskweave::compute((&x, &y)), (sq(3), sq(3)));
    // The explicit form too: one node, read by both requests.
    let p = delayed(add).pure();
    let (a, b) = (p.call(1, 2), p.call(1, 2));
    let mut prepared = taskweave::prepare((&a, &b));
    assert_eq!(prepared.len(), 1);
    for _ in 0..3 {
        assert_eq!(prepared.compute(), (add(1, 2), add(1, 2)));
    }
}

#[test]
fn a_chain_end_requested_three_times_and_an_intermediate_too() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let step = delayed(|x: Vec<u64>, i: u64| {
        RUNS.fetch_add(1, Ordering::SeqCst);
        let mut x = x;
        x.push(x.last().copied().unwrap_or(1) * 3 + i);
        x
    });
    let mut nodes = vec![delayed(|| vec![1u64]).call()];
    let mut expected = vec![vec![1u64]];
    for i in 0..10 {
        nodes.push(step.call(nodes.last().unwrap(), i));
        let mut next = expected.last().unwrap().clone();
        next.push(next.last().copied().unwrap_or(1) * 3 + i);
        expected.push(next);
    }
    let (end, middle) = (&nodes[10], &nodes[5]);
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        RUNS.store(0, Ordering::SeqCst);
        let got = taskweave::compute_with(scheduler, (end, middle, end, end)).unwrap();
        assert_eq!(
            got,
            (
                expected[10].clone(),
                expected[5].clone(),
                expected[10].clone(),
                expected[10].clone()
            )
        );
        assert_eq!(RUNS.load(Ordering::SeqCst), 10, "every step ran once");
        // A slice with repeats, and a persisted end requested twice.
        let wanted = [end.clone(), middle.clone(), end.clone(), middle.clone()];
        let got = taskweave::compute_with(scheduler, &wanted[..]).unwrap();
        let want = [10, 5, 10, 5].map(|i| expected[i].clone()).to_vec();
        assert_eq!(got, want);
    }
    let held = end.persist();
    assert_eq!(
        taskweave::compute((&held, &held)),
        (expected[10].clone(), expected[10].clone())
    );
}

/// Not `Clone`: computed alone, or once among others of other types.
#[derive(Debug, PartialEq)]
struct Token(u64);

#[test]
fn a_non_clone_output_is_computed_alone() {
    // A value requested twice must be cloned; that it is `Clone` is checked where it
    // is requested, at compile time (tests/ui/fail/output_not_clone.rs).
    let t = delayed(|x: u64| Token(x)).call(7);
    assert_eq!(t.compute(), Token(7));
    assert_eq!(taskweave::compute((&t,)), (Token(7),));
    assert_eq!(t.try_compute().unwrap(), Token(7));
}

// ---- Item 4: floats in pure keys ---------------------------------------------------

static SCALES: AtomicUsize = AtomicUsize::new(0);

#[delayed(pure)]
fn scale(x: f64) -> f64 {
    SCALES.fetch_add(1, Ordering::SeqCst);
    x * 2.0
}

fn sum(parts: Vec<f64>) -> f64 {
    parts.iter().sum()
}

#[test]
fn equal_float_arguments_are_one_node() {
    let parts = vec![delay!(scale(1.5)), delay!(scale(2.5)), delay!(scale(1.5))];
    let total = delayed(sum).call(parts);
    // scale(1.5), scale(2.5), the sum.
    assert_eq!(total.info().len(), 3);
    let before = SCALES.load(Ordering::SeqCst);
    assert_eq!(
        total.compute(),
        sum(vec![scale(1.5), scale(2.5), scale(1.5)])
    );
    // Two calls in the graph, then three direct ones.
    assert_eq!(SCALES.load(Ordering::SeqCst) - before, 2 + 3);

    // The explicit form: the same keys.
    let half = delayed(|x: f64| x / 2.0).pure();
    let parts = vec![half.call(1.5), half.call(2.5), half.call(1.5)];
    let total = delayed(sum).call(parts);
    assert_eq!(total.info().len(), 3);
    assert_eq!(total.compute(), 0.75 + 1.25 + 0.75);
}

#[test]
fn minus_zero_and_zero_are_two_nodes() {
    // Not normalised: f(-0.0) may differ from f(0.0).
    let recip = delayed(|x: f64| 1.0 / x).pure();
    let (neg, pos) = (recip.call(-0.0), recip.call(0.0));
    let both = delayed(|a: f64, b: f64| (a, b)).call(&neg, &pos);
    assert_eq!(both.info().len(), 3);
    assert_eq!(both.compute(), (f64::NEG_INFINITY, f64::INFINITY));
    let parts = vec![delay!(scale(-0.0)), delay!(scale(0.0))];
    assert_eq!(delayed(sum).call(parts).info().len(), 3);
}

#[test]
fn a_nan_equals_only_a_nan_with_the_same_bits() {
    let other_nan = f64::from_bits(f64::NAN.to_bits() ^ 1);
    assert!(other_nan.is_nan());
    let id = delayed(|x: f64| x.to_bits()).pure();
    let parts = vec![id.call(f64::NAN), id.call(f64::NAN), id.call(other_nan)];
    let all = delayed(|v: Vec<u64>| v).call(parts);
    // One node for the two equal NaNs, one for the other, one for the list.
    assert_eq!(all.info().len(), 3);
    assert_eq!(
        all.compute(),
        vec![f64::NAN.to_bits(), f64::NAN.to_bits(), other_nan.to_bits()]
    );
    let parts = vec![
        delay!(scale(f64::NAN)),
        delay!(scale(f64::NAN)),
        delay!(scale(other_nan)),
    ];
    assert_eq!(delayed(|v: Vec<f64>| v.len()).call(parts).info().len(), 3);
}

#[test]
fn f32_and_collections_of_floats_are_keyed_by_bits() {
    let norm = delayed(|v: Vec<f32>| v.iter().map(|x| x * x).sum::<f32>()).pure();
    let parts = vec![
        norm.call(vec![1.0f32, 2.0]),
        norm.call(vec![1.0f32, 2.0]),
        norm.call(vec![2.0f32, 1.0]),
    ];
    let all = delayed(|v: Vec<f32>| v).call(parts);
    assert_eq!(all.info().len(), 3);
    assert_eq!(all.compute(), vec![5.0, 5.0, 5.0]);
    let pick = delayed(|o: Option<f64>, a: [f64; 2]| o.unwrap_or(a[0]) + a[1]).pure();
    let (x, y, z) = (
        pick.call(Some(1.0), [0.0, 2.0]),
        pick.call(Some(1.0), [0.0, 2.0]),
        pick.call(None, [1.0, 2.0]),
    );
    let all = delayed(|a: f64, b: f64, c: f64| vec![a, b, c]).call(x, y, z);
    assert_eq!(all.info().len(), 3);
    assert_eq!(all.compute(), vec![3.0, 3.0, 3.0]);
}

#[test]
fn tuples_of_floats_are_keyed_by_bits() {
    // As Dask tokenizes `(1.0, 2.0)`; this did not compile ("neither `Hash` nor a
    // float").
    let dist = delayed(|p: (f64, f64), q: (f32, Vec<f64>, [f64; 1])| {
        p.0 * p.1 + f64::from(q.0) + q.1.iter().sum::<f64>() + q.2[0]
    })
    .pure();
    let (x, y, z) = (
        dist.call((1.0, 2.0), (1.0f32, vec![1.0], [0.5])),
        dist.call((1.0, 2.0), (1.0f32, vec![1.0], [0.5])),
        dist.call((2.0, 1.0), (1.0f32, vec![1.0], [-0.0])),
    );
    let all = delayed(|a: f64, b: f64, c: f64| vec![a, b, c]).call(x, y, z);
    assert_eq!(all.info().len(), 3, "the first two are one node");
    assert_eq!(all.compute(), vec![4.5, 4.5, 4.0]);
}

#[test]
fn a_float_and_an_integer_with_equal_bits_are_two_nodes() {
    #[delayed(pure)]
    fn show<T: ToString>(x: T) -> String {
        x.to_string()
    }
    let f = delay!(show(1.0f64));
    let i = delay!(show(1.0f64.to_bits()));
    let both = delayed(|a: String, b: String| a + "/" + &b).call(&f, &i);
    assert_eq!(both.info().len(), 3);
    assert_eq!(both.compute(), show(1.0f64) + "/" + &show(1.0f64.to_bits()));
}

#[delayed]
fn val(x: i64) -> i64 {
    x
}

#[delayed(pure)]
fn diff(a: Vec<i64>, b: Vec<i64>) -> i64 {
    a.iter().sum::<i64>() - b.iter().sum::<i64>()
}

/// Collections of nodes are keyed with their lengths: `diff([x, y], [z])` and
/// `diff([x], [y, z])` read the same nodes in the same order, and are two calls (they
/// were one node, and one returned the other's value).
#[test]
fn pure_calls_split_their_nodes_differently_are_two_nodes() {
    let (x, y, z) = (delay!(val(1)), delay!(val(2)), delay!(val(3)));
    let p = delay!(diff(vec![x.clone(), y.clone()], vec![z.clone()]));
    let q = delay!(diff(vec![x.clone()], vec![y.clone(), z.clone()]));
    assert_ne!(p.key(), q.key());
    assert_eq!(taskweave::compute((&p, &q)), (1 + 2 - 3, 1 - (2 + 3)));
    let f = delayed(|a: Vec<i64>, b: Vec<i64>| a.len() * 10 + b.len()).pure();
    let r = f.call(vec![x.clone(), y.clone()], vec![z.clone()]);
    let s = f.call(vec![x], vec![y, z]);
    assert_eq!(taskweave::compute((&r, &s)), (21, 12));
}

#[delayed(pure)]
fn bits<T>() -> usize {
    std::mem::size_of::<T>() * 8
}

#[delayed(pure)]
fn parses_as<T: std::str::FromStr>(s: String) -> bool {
    s.parse::<T>().is_ok()
}

/// A generic pure function named with a turbofish is one function per instance: its
/// type parameter may be in neither its arguments nor its result (`bits::<u8>()` and
/// `bits::<u64>()` were one node).
#[test]
fn pure_calls_of_two_instances_of_a_generic_function_are_two_nodes() {
    let (a, b) = (delay!(bits::<u8>()), delay!(bits::<u64>()));
    assert_eq!(taskweave::compute((&a, &b)), (8, 64));
    let c = delay!(parses_as::<u8>(String::from("300")));
    let d = delay!(parses_as::<u32>(String::from("300")));
    assert_eq!(taskweave::compute((&c, &d)), (false, true));
    // The same instance twice is still one node.
    let e = delay!(bits::<u8>());
    assert_eq!(a.key(), e.key());
}
