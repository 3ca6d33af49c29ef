//! Issue 13: a pure key identifies the function (not its short name) and its result
//! type, and tells closures with different captures apart; a `Prepared` graph computes
//! right again after a run that failed (an observer's panic, a task's).
//! Every value is checked against calling the functions directly.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use taskweave::prelude::*;
use taskweave::{NodeInfo, Observer, RunOptions, TaskOutcome};

// ---- Item A: pure keys -------------------------------------------------------------

#[test]
fn two_closures_with_equal_arguments_are_two_nodes() {
    let double = |x: i64| x * 2;
    let square = |x: i64| x * x;
    let a = delayed(double).pure().call(5);
    let b = delayed(square).pure().call(5);
    assert_eq!(taskweave::compute((&a, &b)), (double(5), square(5)));
    let both = delayed(|a: i64, b: i64| (a, b)).call(a, b);
    assert_eq!(
        both.info().len(),
        3,
        "double(5) and square(5) are not merged"
    );

    // The same display name changes nothing: identity is the function, not the name.
    let a = delayed(double).pure().named("step").call(7);
    let b = delayed(square).pure().named("step").call(7);
    assert_eq!(a.name(), b.name());
    assert_eq!(taskweave::compute((&a, &b)), (double(7), square(7)));
}

mod a {
    pub(crate) fn load(x: u64) -> u64 {
        x + 1
    }
}

mod b {
    pub(crate) fn load(x: u64) -> String {
        format!("b{x}")
    }
}

mod c {
    pub(crate) fn load(x: u64) -> u64 {
        x * 10
    }
}

#[test]
fn fns_of_one_name_in_different_modules_are_different_nodes() {
    // Different result types: merged, the second read its slot as the wrong type.
    let x = delayed(a::load).pure().call(3);
    let y = delayed(b::load).pure().call(3);
    assert_eq!(taskweave::compute((&x, &y)), (a::load(3), b::load(3)));
    // The same result type: merged, one of them got the other's value.
    let z = delayed(c::load).pure().call(3);
    let pair = delayed(|x: u64, z: u64| (x, z)).call(&x, &z);
    assert_eq!(pair.compute(), (a::load(3), c::load(3)));
    assert_eq!(pair.info().len(), 3);
}

/// One closure expression: every closure it makes has the same type.
fn adder(k: i64) -> impl Fn(i64) -> i64 + Send + Sync + 'static {
    move |x| x + k
}

#[test]
fn closures_of_one_type_with_different_captures_are_different_nodes() {
    let plus_one = delayed(adder(1)).pure();
    let plus_hundred = delayed(adder(100)).pure();
    let x = plus_one.call(10);
    let y = plus_hundred.call(10);
    assert_eq!(taskweave::compute((&x, &y)), (adder(1)(10), adder(100)(10)));

    // Built in a loop, from one closure expression.
    let times = |k: i64| move |x: i64| x * k;
    let ks = [1i64, 2, 3];
    let nodes: Vec<Delayed<i64>> = ks
        .iter()
        .map(|&k| delayed(times(k)).pure().call(10))
        .collect();
    let expected: Vec<i64> = ks.iter().map(|&k| times(k)(10)).collect();
    assert_eq!(taskweave::compute(nodes.as_slice()), expected);

    // One handle called twice with equal arguments is still one node.
    let twice = delayed(|a: i64, b: i64| a + b).call(plus_one.call(4), plus_one.call(4));
    assert_eq!(twice.info().len(), 2);
    assert_eq!(twice.compute(), adder(1)(4) * 2);
}

#[test]
fn one_fn_item_delayed_twice_is_still_one_node() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    fn triple(x: u64) -> u64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        x * 3
    }
    let first = delayed(triple).pure().call(4);
    let second = delayed(triple).pure().call(4);
    let total = delayed(|a: u64, b: u64| a + b).call(first, second);
    assert_eq!(total.info().len(), 2, "triple(4) twice is one node");
    assert_eq!(total.compute(), 4 * 3 + 4 * 3);
    assert_eq!(RUNS.load(Ordering::SeqCst), 1, "triple(4) ran once");
}

#[test]
fn pure_twins_named_differently_are_nodes_of_their_own() {
    fn triple(x: u64) -> u64 {
        x * 3
    }
    // As in Dask, where `delayed(f, name=…)` and `dask_key_name=` change the key: each
    // shows its own name, whichever order a compute meets them in (as one node, the
    // name shown was the first laid out's).
    for names in [["one", "two"], ["two", "one"]] {
        let first = delayed(triple).pure().named(names[0]).call(4);
        let second = delayed(triple).pure().named(names[1]).call(4);
        let alike = delayed(triple).pure().named(names[0]).call(4);
        assert_ne!(first.key(), second.key());
        assert_eq!(first.key(), alike.key(), "named alike: one node");
        let total = delayed(|a: u64, b: u64, c: u64| a + b + c).call(&first, &second, &alike);
        let info = total.info();
        assert_eq!(info.len(), 3, "two named nodes and their reader");
        let shown: Vec<&str> = info.nodes().iter().map(|node| node.name.as_str()).collect();
        assert!(
            shown.contains(&"one") && shown.contains(&"two"),
            "{shown:?}"
        );
        assert_eq!(total.compute(), 3 * 4 * 3);
        // Named after they were built (the name is then the whole key).
        let (a, b) = (
            delayed(triple).pure().call(5).named(names[0]),
            delayed(triple).pure().call(5).named(names[1]),
        );
        let pair = delayed(|a: u64, b: u64| (a, b)).call(&a, &b);
        assert_eq!(pair.info().len(), 3, "two named nodes and their reader");
        assert_eq!(pair.compute(), (15, 15));
        assert_eq!((a.name(), b.name()), (names[0], names[1]));
    }
}

/// One of two equal pure calls named, the other not: two nodes, each run, as in Dask,
/// where `dask_key_name=` makes the named one's key the name and the other keeps its
/// hash (`Delayed::named` said they were still one).
#[test]
fn a_pure_call_named_and_its_unnamed_twin_are_two_nodes() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    fn triple(x: u64) -> u64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        x * 3
    }
    let named = delayed(triple).pure().call(4).named("mine");
    let unnamed = delayed(triple).pure().call(4);
    assert_ne!(named.key(), unnamed.key());
    assert_eq!(taskweave::compute((&named, &unnamed)), (12, 12));
    assert_eq!(RUNS.swap(0, Ordering::SeqCst), 2, "each ran");
    // Named by the builder, the same.
    let built = delayed(triple).pure().named("mine").call(4);
    assert_eq!(taskweave::compute((&built, &unnamed)), (12, 12));
    assert_eq!(RUNS.swap(0, Ordering::SeqCst), 2, "each ran");
}

mod m1 {
    use taskweave::prelude::*;

    #[delayed(pure)]
    pub(crate) fn load(x: u64) -> u64 {
        x + 1
    }
}

mod m2 {
    use taskweave::prelude::*;

    #[delayed(pure)]
    pub(crate) fn load(x: u64) -> String {
        format!("m2:{x}")
    }
}

mod m3 {
    use taskweave::prelude::*;

    #[delayed(pure)]
    pub(crate) fn load(x: u64) -> u64 {
        x * 10
    }
}

#[test]
fn delayed_pure_fns_of_one_name_in_different_modules_are_different_nodes() {
    let x = delay!(m1::load(3));
    let y = delay!(m2::load(3));
    let z = delay!(m3::load(3));
    assert_eq!(
        taskweave::compute((&x, &y, &z)),
        (m1::load(3), m2::load(3), m3::load(3))
    );
    // Equal calls of one of them still merge.
    let again = delay!(m1::load(3));
    let pair = delayed(|a: u64, b: u64| a + b).call(&x, &again);
    assert_eq!(pair.info().len(), 2);
    assert_eq!(pair.compute(), m1::load(3) * 2);
}

#[delayed(pure)]
fn widen<T: From<u8> + Send>(x: u8) -> T {
    T::from(x)
}

#[delayed(pure)]
fn show<T: ToString>(x: T) -> String {
    x.to_string()
}

#[test]
fn a_generic_delayed_pure_fn_is_keyed_by_result_and_argument_types() {
    // One companion type, equal arguments: only the result type differs.
    let narrow = delay!(widen::<u32>(7));
    let wide = delay!(widen::<u64>(7));
    assert_eq!(
        taskweave::compute((&narrow, &wide)),
        (widen::<u32>(7), widen::<u64>(7))
    );
    // Equal bytes (`true` and `1u8` hash alike), different argument types.
    let flag = delay!(show(true));
    let byte = delay!(show(1u8));
    assert_eq!(taskweave::compute((&flag, &byte)), (show(true), show(1u8)));
}

#[delayed]
fn plus_one(x: u64) -> u64 {
    x + 1
}

#[delayed(pure)]
fn pair_diff(p: (u64, u64)) -> u64 {
    p.0 * 10 + p.1
}

#[delayed(pure)]
fn triple_sum(p: &(u64, u64, u64)) -> u64 {
    p.0 + p.1 + p.2
}

#[test]
fn a_tuple_of_nodes_is_keyed_by_its_nodes() {
    let (a, b) = (delay!(plus_one(1)), delay!(plus_one(2)));
    // Equal tuples (of nodes, or of references to them), one node; another order,
    // another node.
    let ab = delay!(pair_diff((&a, &b)));
    let again = delay!(pair_diff((a.clone(), b.clone())));
    let ba = delay!(pair_diff((&b, &a)));
    assert_eq!(ab.key(), again.key());
    assert_ne!(ab.key(), ba.key());
    let both = delayed(|x: u64, y: u64, z: u64| (x, y, z)).call(&ab, &again, &ba);
    assert_eq!(
        both.info().len(),
        5,
        "a, b, ab (= again) and ba, then the tuple"
    );
    assert_eq!(
        both.compute(),
        (
            pair_diff((plus_one(1), plus_one(2))),
            pair_diff((plus_one(1), plus_one(2))),
            pair_diff((plus_one(2), plus_one(1)))
        )
    );
    let c = delay!(plus_one(3));
    let sum = delay!(triple_sum((&a, &b, &c)));
    assert_eq!(
        sum.compute(),
        triple_sum(&(plus_one(1), plus_one(2), plus_one(3)))
    );
}

// ---- Item B: a `Prepared` after an unwind ------------------------------------------

/// Which observer hook panics.
#[derive(Clone, Copy, Debug)]
enum Hook {
    GraphStarted,
    TaskFinished,
    GraphFinished,
}

/// Panics once, in `hook`.
struct PanicsOnce {
    hook: Hook,
    armed: AtomicBool,
}

impl PanicsOnce {
    fn fire(&self, hook: Hook) {
        if std::mem::discriminant(&hook) == std::mem::discriminant(&self.hook)
            && self.armed.swap(false, Ordering::SeqCst)
        {
            panic!("the observer panics in {hook:?}");
        }
    }
}

impl Observer for PanicsOnce {
    fn graph_started(&self, _nodes: &[NodeInfo<'_>]) {
        self.fire(Hook::GraphStarted);
    }
    fn task_finished(&self, _node: u32, _info: &NodeInfo<'_>, _outcome: TaskOutcome) {
        self.fire(Hook::TaskFinished);
    }
    fn graph_finished(&self, _result: Result<(), &TaskError>) {
        self.fire(Hook::GraphFinished);
    }
}

fn inc(x: u64) -> u64 {
    x + 1
}

fn total(parts: Vec<u64>) -> u64 {
    parts.iter().sum()
}

/// Eight independent tasks and their sum: wide enough for the thread pool's path.
fn wide_graph() -> (Delayed<u64>, u64) {
    let inc_d = delayed(inc);
    let parts: Vec<Delayed<u64>> = (0..8).map(|i| inc_d.call(i)).collect();
    let expected = total((0..8).map(inc).collect());
    (delayed(total).call(parts), expected)
}

#[test]
fn a_prepared_graph_computes_again_after_an_observer_panicked() {
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        for hook in [Hook::GraphStarted, Hook::TaskFinished, Hook::GraphFinished] {
            let (sum, expected) = wide_graph();
            let mut prepared = taskweave::prepare((&sum,));
            let observer = Arc::new(PanicsOnce {
                hook,
                armed: AtomicBool::new(true),
            });
            let options = RunOptions::new()
                .scheduler(scheduler)
                .observer(observer.clone());
            let first = prepared.try_compute_with(options);
            let error = first.expect_err("the first run fails");
            assert!(
                error.to_string().starts_with("the observer panicked in `"),
                "{scheduler:?} {hook:?}: {error}"
            );
            assert!(!observer.armed.load(Ordering::SeqCst));
            for _ in 0..2 {
                assert_eq!(prepared.compute(), (expected,), "{scheduler:?} {hook:?}");
            }
        }
    }
}

/// Counts the runs it is told of, and how they ended.
#[derive(Default)]
struct Ends {
    started: AtomicUsize,
    finished: AtomicUsize,
    failed: AtomicUsize,
}

impl Observer for Ends {
    fn graph_started(&self, _nodes: &[NodeInfo<'_>]) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }
    fn graph_finished(&self, result: Result<(), &TaskError>) {
        self.finished.fetch_add(1, Ordering::SeqCst);
        if result.is_err() {
            self.failed.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// An observer that panics at a run's start, in a task's bookkeeping or at its end
/// fails the run, and every observer beside it still hears that the run started and
/// ended, once: in error when the panic came before its end.
#[test]
fn observers_beside_one_that_panics_hear_the_run_end() {
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        for hook in [Hook::GraphStarted, Hook::TaskFinished, Hook::GraphFinished] {
            let (sum, _) = wide_graph();
            let panics = Arc::new(PanicsOnce {
                hook,
                armed: AtomicBool::new(true),
            });
            let ends = Arc::new(Ends::default());
            let options = RunOptions::new()
                .scheduler(scheduler)
                .observer(panics)
                .observer(ends.clone());
            let run = sum.try_compute_with(options);
            assert!(run.is_err(), "{scheduler:?} {hook:?}: the run fails");
            let seen = (
                ends.started.load(Ordering::SeqCst),
                ends.finished.load(Ordering::SeqCst),
                ends.failed.load(Ordering::SeqCst),
            );
            let failed = usize::from(!matches!(hook, Hook::GraphFinished));
            assert_eq!(seen, (1, 1, failed), "{scheduler:?} {hook:?}");
        }
    }
}

#[test]
fn a_prepared_graph_computes_again_after_a_task_panicked() {
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        let fail = Arc::new(AtomicBool::new(true));
        let inc_d = delayed(inc);
        // The failing task comes after its siblings, which have filled their slots.
        let mut parts: Vec<Delayed<u64>> = (0..8).map(|i| inc_d.call(i)).collect();
        let flag = fail.clone();
        parts.push(
            delayed(move |x: u64| {
                if flag.swap(false, Ordering::SeqCst) {
                    panic!("fails once");
                }
                inc(x)
            })
            .call(8),
        );
        let sum = delayed(total).call(parts);
        let expected = total((0..9).map(inc).collect());
        let mut prepared = taskweave::prepare((&sum,));
        // As `compute` does, with a scheduler: the task's panic goes on unwinding.
        let first = catch_unwind(AssertUnwindSafe(|| {
            match prepared.try_compute_with(scheduler) {
                Ok(values) => values,
                Err(error) => error.resume(),
            }
        }));
        assert!(first.is_err(), "{scheduler:?}: the first run panics");
        assert!(!fail.load(Ordering::SeqCst));
        for _ in 0..2 {
            assert_eq!(prepared.compute(), (expected,), "{scheduler:?}");
        }
    }
}
