//! Static graphs (`graph!`) at run time under shapes the other tests do not reach, each
//! under a watchdog: trees (every value read once) of large values, whose joins nest
//! and whose result comes back from rayon's pool (a 64 KiB result overflowed a 2 MiB
//! worker in a debug build; a comb of 16 KiB arrays eight joins deep, or of 64 KiB
//! arrays three deep, overflowed its stack, optimised too at 64 KiB, where plain code
//! runs in a loop), and such a comb failing at a leaf; `for` loops over a range a
//! `macro_rules!` passes in (rejected at compile time). And shapes found to work, kept
//! so that they go on working, their values checked against the same `#[delayed]` fns
//! called as plain code: values whose `Drop` panics while another task fails, in a
//! tree, on the dispatcher and with a `?` early exit, each dropped once and the
//! observers told once; `?` errors racing panics (the first in program order decides);
//! one graph computed from eight threads at once; graphs computed in a thread local's
//! destructor, inside their own tasks (recursion), and in a futures task; page-aligned
//! and zero-sized values; captures whose `Clone` panics; retried tasks; stop conditions
//! that stop at every node in turn, then the same graph computed again; a node over 100
//! and over 200 node values (a tree and the dispatcher); a chain of 300 nodes of 8 KiB
//! values failing at each place.

#[path = "support/watchdog.rs"]
mod watchdog;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use taskweave::prelude::*;
use taskweave::{NodeInfo, Observer, RunOptions, Scheduler, TaskError, TaskOutcome};
use watchdog::within;

const LIMIT: Duration = Duration::from_secs(60);

const SCHEDULERS: [Scheduler; 2] = [Scheduler::Sync, Scheduler::Threads];

// ---- trees of large values ---------------------------------------------------------

#[delayed]
fn leaf<const N: usize>(i: u8) -> [u8; N] {
    [i; N]
}

#[delayed]
fn mix<const N: usize>(a: [u8; N], b: [u8; N]) -> [u8; N] {
    let mut out = a;
    for (o, b) in out.iter_mut().zip(b) {
        *o = o.wrapping_mul(3).wrapping_add(b);
    }
    out
}

macro_rules! comb {
    ($n:literal) => {
        graph!(|| -> [u8; $n] {
            let mut x = leaf::<$n>(0);
            for i in 1..24 {
                x = mix::<$n>(x, leaf::<$n>(i));
            }
            x
        })
    };
}

fn comb_plain<const N: usize>() -> [u8; N] {
    let mut x = leaf::<N>(0);
    for i in 1..24 {
        x = mix::<N>(x, leaf::<N>(i));
    }
    x
}

/// Combs (`x = mix(x, leaf(i))`) of 23 joins nested, `graph!`'s most for a tree, of
/// 8, 16 and 64 KiB arrays, on the calling thread and in a pool. Each level of nesting
/// kept about ten copies of its values in its frames in a debug build, seven optimised,
/// with no stack room for them (a node's room covers its own code, not the joins
/// around it): 16 KiB arrays overflowed a 2 MiB stack eight levels deep, 64 KiB arrays
/// three deep (optimised, a 2 MiB worker at 24), and aborted the process.
#[test]
fn joins_of_large_values_nest_as_deep_as_a_tree_goes() {
    let firsts = within(LIMIT, "nested joins of large values", || {
        let (small, middling, large) = (comb!(8192), comb!(16384), comb!(65536));
        assert!(small.__runs_as_tree() && middling.__runs_as_tree() && large.__runs_as_tree());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        [
            small.compute_with(Scheduler::Sync)[0],
            middling.compute_with(Scheduler::Sync)[0],
            large.compute_with(Scheduler::Sync)[0],
            pool.install(|| small.compute()[0]),
            pool.install(|| middling.compute()[0]),
            pool.install(|| large.compute()[0]),
        ]
    });
    let plain = [
        comb_plain::<8192>()[0],
        comb_plain::<16384>()[0],
        comb_plain::<65536>()[0],
    ];
    assert_eq!(firsts, [plain, plain].concat()[..]);
}

/// A tree of large values whose result comes back from rayon's pool to a caller outside
/// it (a 64 KiB and a 256 KiB result, two 64 KiB results, the comb above). It came back
/// through rayon's frames on the worker, a copy in each, with no stack room there: a
/// 2 MiB worker overflowed and aborted the process in a debug build, where a chain (run
/// on the caller's thread) or the dispatcher's form (whose values stay in their slots)
/// ran.
#[test]
fn a_tree_of_large_values_returns_its_result_from_the_pool() {
    let firsts = within(LIMIT, "a tree's large result", || {
        let pair = graph!(|| -> [u8; 65536] { mix::<65536>(leaf::<65536>(1), leaf::<65536>(2)) });
        let two = graph!(|| -> ([u8; 65536], [u8; 65536]) { (leaf::<65536>(1), leaf::<65536>(2)) });
        let big =
            graph!(|| -> [u8; 262144] { mix::<262144>(leaf::<262144>(1), leaf::<262144>(2)) });
        let large = comb!(65536);
        assert!(pair.__runs_as_tree() && two.__runs_as_tree() && big.__runs_as_tree());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let (a, b) = two.compute();
        [
            pair.compute()[7],
            pair.try_compute().expect("no task fails")[7],
            pair.compute_on(&pool)[7],
            a[7] + b[7],
            big.compute()[7],
            large.compute()[7],
        ]
    });
    assert_eq!(firsts, [5, 5, 5, 3, 5, comb_plain::<65536>()[7]]);
}

// ---- values whose Drop panics, observers ------------------------------------------

/// Counts its live instances (a second drop fails the test); its `Drop` panics when
/// `boom` and the thread is not unwinding already.
struct Tracked {
    live: Arc<AtomicUsize>,
    boom: bool,
    v: u64,
}

impl Tracked {
    fn new(live: &Arc<AtomicUsize>, v: u64, boom: bool) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Tracked {
            live: live.clone(),
            boom,
            v,
        }
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        Tracked::new(&self.live, self.v, self.boom)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let before = self.live.fetch_sub(1, Ordering::SeqCst);
        assert!(before > 0, "a value dropped twice");
        if self.boom && !std::thread::panicking() {
            panic!("drop of {} panics", self.v);
        }
    }
}

#[delayed]
fn make_t(live: Arc<AtomicUsize>, v: u64, boom: bool) -> Tracked {
    Tracked::new(&live, v, boom)
}

#[delayed]
fn fail_t(t: Tracked, fail: bool) -> Tracked {
    if fail {
        panic!("fail_t {}", t.v);
    }
    t
}

#[delayed]
fn both_t(a: Tracked, b: Tracked) -> u64 {
    a.v + b.v
}

#[delayed]
fn peek_t(a: &Tracked) -> u64 {
    a.v
}

#[delayed]
fn check_t(t: Tracked, limit: u64) -> Result<Tracked, String> {
    if t.v > limit {
        // Sequential code drops `t` here: its `Drop` panics in this task.
        Err(format!("{} > {limit}", t.v))
    } else {
        Ok(t)
    }
}

/// Counts a run's hooks.
#[derive(Default)]
struct Count {
    started: AtomicUsize,
    finished: AtomicUsize,
    failed: AtomicUsize,
    tasks_started: AtomicUsize,
    tasks_finished: AtomicUsize,
}

impl Observer for Count {
    fn graph_started(&self, _nodes: &[NodeInfo<'_>]) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }
    fn task_started(&self, _node: u32, _info: &NodeInfo<'_>) {
        self.tasks_started.fetch_add(1, Ordering::SeqCst);
    }
    fn task_finished(&self, _node: u32, _info: &NodeInfo<'_>, _outcome: TaskOutcome) {
        self.tasks_finished.fetch_add(1, Ordering::SeqCst);
    }
    fn graph_finished(&self, result: Result<(), &TaskError>) {
        self.failed
            .fetch_add(usize::from(result.is_err()), Ordering::SeqCst);
        self.finished.fetch_add(1, Ordering::SeqCst);
    }
}

impl Count {
    /// Asserts `runs` runs were each told their start and end, `failed` of them failed,
    /// and every task told started was told finished.
    fn assert_told(&self, runs: usize, failed: usize) {
        assert_eq!(self.started.load(Ordering::SeqCst), runs);
        assert_eq!(self.finished.load(Ordering::SeqCst), runs);
        assert_eq!(self.failed.load(Ordering::SeqCst), failed);
        assert_eq!(
            self.tasks_started.load(Ordering::SeqCst),
            self.tasks_finished.load(Ordering::SeqCst)
        );
    }
}

/// Options for a run on `scheduler` watched by `count`.
fn observed(scheduler: Scheduler, count: &Arc<Count>) -> RunOptions {
    RunOptions::new()
        .scheduler(scheduler)
        .observer(count.clone())
}

/// Values whose `Drop` panics, in each form of a graph, when one or two tasks fail:
/// the error is the failure sequential code meets first, each value is dropped once,
/// none is left, and the observers hear each run end once, in error.
#[test]
fn values_whose_drop_panics_while_tasks_fail() {
    within(LIMIT, "drops that panic", || {
        for scheduler in SCHEDULERS {
            let live = Arc::new(AtomicUsize::new(0));
            let count = Arc::new(Count::default());
            let l = live.clone();
            let tree = graph!(|f1: bool, f2: bool| -> u64 {
                both_t(
                    fail_t(make_t(l.clone(), 1, true), f1),
                    fail_t(make_t(l.clone(), 2, true), f2),
                )
            });
            let l = live.clone();
            let shared = graph!(|f1: bool, f2: bool| -> (u64, u64) {
                let a = make_t(l.clone(), 1, true);
                let b = fail_t(make_t(l.clone(), 2, true), f2);
                (both_t(fail_t(a, f1), b), peek_t(&a))
            });
            assert!(tree.__runs_as_tree() && !shared.__runs_as_tree());
            for (f1, f2) in [(true, false), (false, true), (true, true)] {
                let options = observed(scheduler, &count);
                let error = tree.try_compute_with(options, f1, f2).unwrap_err();
                // Both failing: the first in program order under `Sync`, either in the pool.
                let first = if f1 { "fail_t 1" } else { "fail_t 2" };
                if scheduler == Scheduler::Sync || f1 != f2 {
                    assert_eq!(error.message(), first, "{scheduler:?}");
                }
                let options = observed(scheduler, &count);
                let error = shared.try_compute_with(options, f1, f2).unwrap_err();
                let first = if f2 { "fail_t 2" } else { "fail_t 1" };
                if scheduler == Scheduler::Sync || f1 != f2 {
                    assert_eq!(error.message(), first, "{scheduler:?}");
                }
                assert_eq!(live.load(Ordering::SeqCst), 0, "a value left undropped");
            }
            let l = live.clone();
            let exit = graph!(|limit: u64, f2: bool| -> Result<u64, String> {
                let a = check_t(make_t(l.clone(), 5, true), limit)?;
                let b = fail_t(make_t(l.clone(), 2, true), f2);
                Ok(both_t(a, b))
            });
            for (limit, f2, message) in [
                (1, false, "drop of 5 panics"),
                (1, true, "drop of 5 panics"),
                (10, true, "fail_t 2"),
            ] {
                let options = observed(scheduler, &count);
                let error = exit.try_compute_with(options, limit, f2).unwrap_err();
                assert_eq!(error.message(), message, "{scheduler:?} {limit} {f2}");
                assert_eq!(live.load(Ordering::SeqCst), 0, "a value left undropped");
            }
            count.assert_told(9, 9);
        }
    });
}

/// A 64 KiB value that counts itself in `live`; its `Drop` panics when `boom`, unless
/// the thread is unwinding already.
struct Big {
    data: [u8; 65536],
    boom: bool,
    live: Arc<AtomicUsize>,
}

impl Drop for Big {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        if self.boom && !std::thread::panicking() {
            panic!("big drop {} panics", self.data[0]);
        }
    }
}

#[delayed]
fn big_leaf(i: u8, fail: bool, live: Arc<AtomicUsize>) -> Big {
    if fail {
        panic!("big leaf {i} fails");
    }
    live.fetch_add(1, Ordering::SeqCst);
    Big {
        data: [i; 65536],
        boom: true,
        live,
    }
}

#[delayed]
fn big_mix(mut a: Big, mut b: Big) -> Big {
    // Read, these do not panic: only a leaf's value left unread does.
    (a.boom, b.boom) = (false, false);
    a.live.fetch_add(1, Ordering::SeqCst);
    let mut data = a.data;
    data[0] = data[0].wrapping_add(b.data[0]);
    Big {
        data,
        boom: false,
        live: a.live.clone(),
    }
}

#[delayed]
fn first_of_big(b: &Big) -> u8 {
    b.data[0]
}

/// The 64 KiB comb failing at a leaf, with the leaves' values, whose `Drop` panics,
/// left unread by the failure: those panics unwind out of the branches through the
/// joins' stack rooms (segments of their own) and give way to the failure; every value
/// is dropped once and the observers hear the run end once.
#[test]
fn a_comb_of_large_values_failing_at_a_leaf() {
    within(LIMIT, "a failing comb of large values", || {
        for s in SCHEDULERS {
            let live = Arc::new(AtomicUsize::new(0));
            let l = live.clone();
            let job = graph!(|f: u8| -> u8 {
                let mut x = big_leaf(0, f == 0, l.clone());
                for i in 1..24 {
                    x = big_mix(x, big_leaf(i, f == i, l.clone()));
                }
                first_of_big(&x)
            });
            assert!(job.__runs_as_tree());
            let count = Arc::new(Count::default());
            for f in [0, 12, 23] {
                let error = job.try_compute_with(observed(s, &count), f).unwrap_err();
                assert_eq!(error.message(), format!("big leaf {f} fails"));
                assert_eq!(live.load(Ordering::SeqCst), 0, "a value left undropped");
            }
            count.assert_told(3, 3);
            let plain = {
                let mut x = big_leaf(0, false, live.clone());
                for i in 1..24 {
                    x = big_mix(x, big_leaf(i, false, live.clone()));
                }
                first_of_big(&x)
            };
            assert_eq!(job.compute_with(s, 100), plain);
            assert_eq!(live.load(Ordering::SeqCst), 0, "a value left undropped");
        }
    });
}

// ---- failures, in order and at once -----------------------------------------------

#[delayed]
fn slow_boom(x: u64, boom: bool, ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    if boom {
        panic!("slow boom {x}")
    }
    x
}

#[delayed]
fn slow_check(x: u64, limit: u64, ms: u64) -> Result<u64, String> {
    std::thread::sleep(Duration::from_millis(ms));
    if x > limit {
        Err(format!("{x} > {limit}"))
    } else {
        Ok(x)
    }
}

#[delayed]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

/// The graph of `a_question_mark_racing_panics`, as plain code: its result, or the
/// message of its panic.
fn racing_plain(a_boom: bool, limit: u64, c_boom: bool) -> Result<Result<u64, String>, String> {
    std::panic::catch_unwind(|| -> Result<u64, String> {
        let a = slow_boom(1, a_boom, 0);
        let b = slow_check(5, limit, 0)?;
        let c = slow_boom(3, c_boom, 0);
        Ok(add(add(a, b), c))
    })
    .map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default()
    })
}

/// A `?` that meets an error, and panics before and after it in program order, each
/// made slow in turn so that they end in every order: the result is what sequential
/// code gives (the first of them in program order), and the observers hear the run end
/// once.
#[test]
fn a_question_mark_racing_panics() {
    within(LIMIT, "? racing panics", || {
        let job = graph!(|a_boom: bool,
                          a_ms: u64,
                          limit: u64,
                          b_ms: u64,
                          c_boom: bool|
         -> Result<u64, String> {
            let a = slow_boom(1, a_boom, a_ms);
            let b = slow_check(5, limit, b_ms)?;
            let c = slow_boom(3, c_boom, 0);
            Ok(add(add(a, b), c))
        });
        for scheduler in SCHEDULERS {
            for (a_boom, limit, c_boom) in
                (0..8).map(|k| (k & 1 != 0, if k & 2 != 0 { 1 } else { 10 }, k & 4 != 0))
            {
                for (a_ms, b_ms) in [(0, 0), (20, 0), (0, 20)] {
                    let count = Arc::new(Count::default());
                    let options = observed(scheduler, &count);
                    let got = job
                        .try_compute_with(options, a_boom, a_ms, limit, b_ms, c_boom)
                        .map_err(|e| e.message().to_owned());
                    let want = racing_plain(a_boom, limit, c_boom);
                    assert_eq!(
                        got, want,
                        "{scheduler:?} {a_boom} {limit} {c_boom} {a_ms} {b_ms}"
                    );
                    count.assert_told(1, usize::from(want.is_err()));
                }
            }
        }
    });
}

#[delayed]
fn boom_if(x: u64, boom: bool) -> u64 {
    if boom {
        panic!("boom at {x}")
    }
    x + 1
}

#[delayed]
fn checked(x: u64) -> Result<u64, String> {
    if x > 10 {
        Err(format!("{x} too big"))
    } else {
        Ok(x)
    }
}

/// One graph of each form computed from eight threads at once, a third of the runs
/// failing: each caller gets its own run's outcome (a failure is kept per thread until
/// its run returns it), and one observer shared by all hears every run.
#[test]
fn one_graph_of_each_form_from_eight_threads_at_once() {
    within(LIMIT, "eight threads", || {
        let shared = graph!(|x: u64, b: bool| -> u64 {
            let a = boom_if(x, b);
            add(add(a, a), boom_if(x, false))
        });
        let tree = graph!(|x: u64, b: bool| -> u64 { add(boom_if(x, b), boom_if(x + 1, false)) });
        let exit = graph!(|x: u64| -> Result<u64, String> {
            let a = checked(x)?;
            Ok(add(boom_if(a, a == 7), 1))
        });
        let count = Arc::new(Count::default());
        std::thread::scope(|s| {
            for t in 0..8u64 {
                let (shared, tree, exit, count) = (&shared, &tree, &exit, &count);
                s.spawn(move || {
                    for i in 0..200u64 {
                        let (x, b) = ((t * 1000 + i) % 13, (t + i) % 3 == 0);
                        let options = RunOptions::new().observer(count.clone());
                        match shared.try_compute_with(options, x, b) {
                            Ok(v) => assert!(!b && v == 3 * (x + 1)),
                            Err(e) => assert!(b && e.message() == format!("boom at {x}"), "{e}"),
                        }
                        match tree.try_compute(x, b) {
                            Ok(v) => assert!(!b && v == 2 * x + 3),
                            Err(e) => assert!(b && e.message() == format!("boom at {x}"), "{e}"),
                        }
                        match exit.try_compute(x) {
                            Ok(Ok(v)) => assert_eq!(v, x + 2),
                            Ok(Err(e)) => assert!(x > 10, "{e}"),
                            Err(e) => assert_eq!((x, e.message()), (7, "boom at 7")),
                        }
                    }
                });
            }
        });
        let failed = (0..8u64)
            .flat_map(|t| (0..200u64).map(move |i| (t + i) % 3 == 0))
            .filter(|&b| b)
            .count();
        count.assert_told(1600, failed);
    });
}

// ---- where a graph is computed ----------------------------------------------------

struct OnDrop(Option<Box<dyn FnOnce()>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

std::thread_local! {
    static ON_EXIT: std::cell::RefCell<OnDrop> = const { std::cell::RefCell::new(OnDrop(None)) };
}

/// Each form of a graph computed, succeeding and failing, in a thread local's
/// destructor, after the thread's runs have made the engine's thread locals (which
/// may be gone by then): each gives its own outcome.
#[test]
fn graphs_computed_in_a_thread_locals_destructor() {
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let thread = std::thread::spawn(move || {
        ON_EXIT.with(|on_exit| {
            on_exit.borrow_mut().0 = Some(Box::new(move || {
                let tree = graph!(|b: bool| -> u64 { add(boom_if(1, b), boom_if(2, false)) });
                let shared = graph!(|b: bool| -> u64 {
                    let a = boom_if(1, b);
                    add(a, a)
                });
                let exit = graph!(|x: u64| -> Result<u64, String> {
                    let a = checked(x)?;
                    Ok(add(boom_if(a, false), 1))
                });
                let message = |r: Result<u64, TaskError>| {
                    format!("{:?}", r.map_err(|e| e.message().to_owned()))
                };
                for s in SCHEDULERS {
                    for b in [false, true] {
                        let _ = tx.send(message(tree.try_compute_with(s, b)));
                        let _ = tx.send(message(shared.try_compute_with(s, b)));
                    }
                    for x in [1, 11] {
                        let r = exit
                            .try_compute_with(s, x)
                            .map_err(|e| e.message().to_owned());
                        let _ = tx.send(format!("{r:?}"));
                    }
                }
            }));
        });
        let g = graph!(|b: bool| -> u64 {
            let a = boom_if(1, b);
            add(a, a)
        });
        assert!(g.try_compute(true).is_err());
    });
    within(LIMIT, "thread locals' destructor", move || {
        thread.join().unwrap()
    });
    let got: Vec<String> = rx.iter().collect();
    let one = [
        "Ok(5)",
        "Ok(4)",
        "Err(\"boom at 1\")",
        "Err(\"boom at 1\")",
        "Ok(Ok(3))",
        "Ok(Err(\"11 too big\"))",
    ];
    assert_eq!(got, [one, one].concat());
}

#[delayed]
fn nested_fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    graph!(|n: u64| -> u64 { add(nested_fib(n - 1), nested_fib(n - 2)) }).compute(n)
}

#[delayed]
fn nested_fail(n: u64) -> u64 {
    if n == 0 {
        panic!("bottom")
    }
    let job = graph!(|n: u64| -> u64 {
        let a = nested_fail(n - 1);
        add(a, a)
    });
    match job.try_compute(n) {
        Ok(v) => v,
        Err(e) => panic!("{n}: {}", e.message()),
    }
}

/// A graph computed inside its own tasks: a tree-shaped recursion (fib), and 200
/// levels of a graph failing at the bottom, each level's failure kept for its own run
/// (the failures of one table nest on one thread); and inside a futures task.
#[test]
fn graphs_computed_inside_their_own_tasks_and_a_futures_task() {
    within(LIMIT, "nested", || {
        assert_eq!(nested_fib(15), 610);
        let failed = std::panic::catch_unwind(|| nested_fail(200)).unwrap_err();
        let message = failed.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.starts_with("200: 199: "), "{message:.200}");
        assert!(message.ends_with("1: bottom"), "{message:.200}");
        let client = Client::builder().threads(1).build().unwrap();
        let computed = client.submit(
            || {
                let shared = graph!(|x: u64| -> u64 {
                    let a = boom_if(x, false);
                    add(a, add(a, boom_if(x, false)))
                });
                let fails = graph!(|x: u64| -> u64 { add(boom_if(x, true), boom_if(x, false)) });
                (
                    shared.compute(2),
                    fails.try_compute(3).is_err(),
                    nested_fib(10),
                )
            },
            (),
        );
        assert_eq!(computed.result().unwrap(), (9, true, 55));
    });
}

// ---- odd values -------------------------------------------------------------------

#[repr(align(4096))]
#[derive(Clone, Debug, PartialEq)]
struct Page(u64);

#[delayed]
fn page(x: u64) -> Page {
    Page(x)
}

#[delayed]
fn pages(a: Page, b: Page) -> Page {
    assert_eq!(
        core::ptr::addr_of!(a) as usize % 4096,
        0,
        "a misaligned value"
    );
    Page(a.0 + b.0)
}

#[derive(Clone, Debug, PartialEq)]
struct Nothing;

#[delayed]
fn nothing(_x: u64) -> Nothing {
    Nothing
}

#[delayed]
fn nothings(_a: Nothing, _b: &Nothing) -> Nothing {
    Nothing
}

#[delayed]
fn page_checked(p: Page) -> Result<Page, Nothing> {
    if p.0 > 100 {
        Err(Nothing)
    } else {
        Ok(p)
    }
}

/// Page-aligned and zero-sized values in each form of a graph.
#[test]
fn page_aligned_and_zero_sized_values() {
    within(LIMIT, "aligned values", || {
        let tree = graph!(|x: u64| -> Page { pages(page(x), page(x + 1)) });
        let shared = graph!(|x: u64| -> (Page, Nothing) {
            let a = page(x);
            let z = nothing(x);
            (pages(a.clone(), a), nothings(z.clone(), &z))
        });
        let exit = graph!(|x: u64| -> Result<Page, Nothing> {
            let a = page_checked(page(x))?;
            Ok(pages(a, page(1)))
        });
        for s in SCHEDULERS {
            assert_eq!(tree.compute_with(s, 1), Page(3));
            assert_eq!(shared.compute_with(s, 1), (Page(2), Nothing));
            assert_eq!(exit.compute_with(s, 1), Ok(Page(2)));
            assert_eq!(exit.compute_with(s, 1000), Err(Nothing));
        }
    });
}

/// A value whose every second `Clone` panics.
struct CloneBoom(u64, Arc<AtomicUsize>);

impl Clone for CloneBoom {
    fn clone(&self) -> Self {
        if self.1.fetch_add(1, Ordering::SeqCst) % 2 == 1 {
            panic!("clone {} panics", self.0)
        }
        CloneBoom(self.0, self.1.clone())
    }
}

#[delayed]
fn take_clone_boom(c: CloneBoom, x: u64) -> u64 {
    c.0 + x
}

#[delayed(retries = 2)]
fn flaky_clone_boom(c: CloneBoom, fails: Arc<AtomicUsize>) -> u64 {
    if fails.fetch_sub(1, Ordering::SeqCst) > 0 {
        panic!("flaky")
    }
    c.0
}

/// A capture cloned on every run (passed by value to two tasks), whose second clone
/// of each run panics: the task that clones it fails, run after run; and the clones a
/// retried task's attempts take, where a clone that panics is an attempt that failed.
#[test]
fn captures_whose_clone_panics() {
    within(LIMIT, "clones that panic", || {
        let c = CloneBoom(5, Arc::new(AtomicUsize::new(0)));
        let job = graph!(|x: u64| -> u64 { add(take_clone_boom(c, x), take_clone_boom(c, x + 1)) });
        for s in SCHEDULERS {
            for _ in 0..3 {
                let error = job.try_compute_with(s, 1).unwrap_err();
                assert_eq!(
                    (error.task(), error.message()),
                    ("take_clone_boom", "clone 5 panics")
                );
            }
        }
        for s in SCHEDULERS {
            // Attempts: a clone (fails), a clone that panics, the value itself.
            for (fails, ok) in [(0, true), (1, true), (2, false)] {
                let c = CloneBoom(4, Arc::new(AtomicUsize::new(0)));
                let fails = Arc::new(AtomicUsize::new(fails));
                let job = graph!(|| -> u64 { flaky_clone_boom(c, fails.clone()) });
                let got = job.try_compute_with(s).map_err(|e| e.message().to_owned());
                assert_eq!(got, if ok { Ok(4) } else { Err("flaky".to_owned()) });
            }
        }
    });
}

#[delayed(retries = 3)]
fn flaky_t(t: Tracked, fails: Arc<AtomicUsize>) -> Tracked {
    if fails.fetch_sub(1, Ordering::SeqCst) > 0 {
        panic!("flaky {}", t.v)
    }
    t
}

#[delayed(retries = 3)]
fn flaky_ref(t: &Tracked, fails: Arc<AtomicUsize>) -> u64 {
    if fails.fetch_sub(1, Ordering::SeqCst) > 0 {
        panic!("flaky ref {}", t.v)
    }
    t.v
}

/// Retried tasks of a tree and of the dispatcher's form, failing 0 to 5 times (3
/// retries): the value each attempt takes is dropped once, none is left.
#[test]
fn retried_tasks_drop_each_attempts_values_once() {
    within(LIMIT, "retries", || {
        for s in SCHEDULERS {
            for k in 0..6usize {
                let live = Arc::new(AtomicUsize::new(0));
                let (l, fails) = (live.clone(), Arc::new(AtomicUsize::new(k)));
                let tree = graph!(|| -> u64 {
                    both_t(
                        flaky_t(make_t(l.clone(), 1, false), fails.clone()),
                        make_t(l.clone(), 2, false),
                    )
                });
                let got = tree.try_compute_with(s).map_err(|e| e.message().to_owned());
                assert_eq!(
                    got,
                    if k <= 3 {
                        Ok(3)
                    } else {
                        Err("flaky 1".to_owned())
                    }
                );
                assert_eq!(live.load(Ordering::SeqCst), 0, "a value left undropped");
                let (l, fails) = (live.clone(), Arc::new(AtomicUsize::new(k)));
                let shared = graph!(|| -> (u64, u64) {
                    let a = make_t(l.clone(), 1, false);
                    (
                        flaky_ref(&a, fails.clone()),
                        both_t(a, make_t(l.clone(), 2, false)),
                    )
                });
                let got = shared
                    .try_compute_with(s)
                    .map_err(|e| e.message().to_owned());
                assert_eq!(
                    got,
                    if k <= 3 {
                        Ok((1, 3))
                    } else {
                        Err("flaky ref 1".to_owned())
                    }
                );
                assert_eq!(live.load(Ordering::SeqCst), 0, "a value left undropped");
            }
        }
    });
}

// ---- stop conditions --------------------------------------------------------------

/// A stop condition that says stop from its `after`-th question on, for every `after`
/// up to past the last node, in each form of a graph: a run stopped fails naming a node
/// that did not run (or a `?` before it decides), the observers hear every run end once,
/// and the same graphs then compute as before.
#[test]
fn stop_conditions_at_every_node_then_the_same_graphs_again() {
    within(LIMIT, "stop conditions", || {
        let tree = graph!(|x: u64| -> u64 {
            add(
                slow_boom(x, false, 2),
                add(slow_boom(x, false, 2), slow_boom(x, false, 2)),
            )
        });
        let shared = graph!(|x: u64| -> u64 {
            let a = slow_boom(x, false, 2);
            add(a, add(a, slow_boom(x, false, 2)))
        });
        let exit = graph!(|x: u64| -> Result<u64, String> {
            let a = slow_check(x, 10, 2)?;
            Ok(add(a, slow_boom(x, false, 2)))
        });
        let stopped = |r: Result<u64, TaskError>, whole: u64| match r {
            Ok(v) => assert_eq!(v, whole),
            Err(e) => assert!(e.to_string().contains("did not run"), "{e}"),
        };
        for s in SCHEDULERS {
            let count = Arc::new(Count::default());
            for after in 0..6usize {
                let options = || {
                    let asked = AtomicUsize::new(0);
                    observed(s, &count)
                        .stop_when(move || asked.fetch_add(1, Ordering::SeqCst) >= after)
                };
                stopped(tree.try_compute_with(options(), 1), 3);
                stopped(shared.try_compute_with(options(), 1), 3);
                match exit.try_compute_with(options(), 1) {
                    Ok(v) => assert_eq!(v, Ok(2)),
                    Err(e) => assert!(e.to_string().contains("did not run"), "{e}"),
                }
                match exit.try_compute_with(options(), 11) {
                    Ok(v) => assert_eq!(v, Err("11 > 10".to_owned())),
                    Err(e) => assert!(e.to_string().contains("did not run"), "{e}"),
                }
                assert_eq!(tree.compute_with(s, 1), 3);
                assert_eq!(shared.compute_with(s, 1), 3);
                assert_eq!(exit.compute_with(s, 1), Ok(2));
            }
            let failed = count.failed.load(Ordering::SeqCst);
            assert!(
                failed >= 4,
                "{failed}: every graph stopped at its first node"
            );
            count.assert_told(24, failed);
        }
    });
}

// ---- wide nodes and long chains ---------------------------------------------------

#[delayed]
fn total(parts: &[u64]) -> u64 {
    parts.iter().sum()
}

macro_rules! wide {
    ($($i:literal)*) => {
        graph!(|x: u64, b: u64| -> u64 { total(&[$(boom_if(x + $i, $i == b)),*]) })
    };
}

macro_rules! wide_exit {
    ($($i:literal)*) => {
        graph!(|x: u64, b: u64| -> Result<u64, String> {
            let y = checked(x)?;
            Ok(total(&[$(boom_if(y + $i, $i == b)),*]))
        })
    };
}

/// `$graph!` of the numbers 0 to 199.
macro_rules! node_values_0_to_199 {
    ($graph:ident) => {
        $graph!(
            0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30
            31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58
            59 60 61 62 63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79 80 81 82 83 84 85 86
            87 88 89 90 91 92 93 94 95 96 97 98 99 100 101 102 103 104 105 106 107 108 109 110
            111 112 113 114 115 116 117 118 119 120 121 122 123 124 125 126 127 128 129 130 131
            132 133 134 135 136 137 138 139 140 141 142 143 144 145 146 147 148 149 150 151 152
            153 154 155 156 157 158 159 160 161 162 163 164 165 166 167 168 169 170 171 172 173
            174 175 176 177 178 179 180 181 182 183 184 185 186 187 188 189 190 191 192 193 194
            195 196 197 198 199

        )
    };
}

/// A node over 100 node values (99 joins: a tree) and over 200 (the dispatcher's form,
/// plain and with a `?` before), failing at its first, a middle and its last input.
#[test]
fn a_node_over_hundreds_of_node_values() {
    within(LIMIT, "wide nodes", || {
        let hundred = wide!(
        0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30
        31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58
        59 60 61 62 63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79 80 81 82 83 84 85 86
        87 88 89 90 91 92 93 94 95 96 97 98 99
        );
        let two_hundred = node_values_0_to_199!(wide);
        let exit = node_values_0_to_199!(wide_exit);
        assert!(hundred.__runs_as_tree() && !two_hundred.__runs_as_tree());
        let sum = |n: u64| (0..n).map(|i| i + 2).sum::<u64>();
        for s in SCHEDULERS {
            assert_eq!(hundred.compute_with(s, 1, 1000), sum(100));
            assert_eq!(two_hundred.compute_with(s, 1, 1000), sum(200));
            assert_eq!(exit.compute_with(s, 1, 1000), Ok(sum(200)));
            assert_eq!(exit.compute_with(s, 11, 5), Err("11 too big".to_owned()));
            for b in [0, 50, 99] {
                let error = hundred.try_compute_with(s, 1, b).unwrap_err();
                assert_eq!(error.message(), format!("boom at {}", b + 1));
            }
            for b in [0, 100, 199] {
                let error = two_hundred.try_compute_with(s, 1, b).unwrap_err();
                assert_eq!(error.message(), format!("boom at {}", b + 1));
                let error = exit.try_compute_with(s, 1, b).unwrap_err();
                assert_eq!(error.message(), format!("boom at {}", b + 1));
            }
        }
    });
}

/// A graph unrolling `for` loops over a range whose bound, or which itself, a
/// `macro_rules!` passes in (`$n:literal`, `$r:expr`), as a graph of each size is
/// written once: the fragment comes in an invisible group, which the unrolling did not
/// see through ("`for` inside `graph!` ... needs a literal range"), a compile error.
macro_rules! sum_up_to {
    ($n:literal) => {
        graph!(|x: u64| -> u64 {
            let mut y = x;
            for i in 1..=$n {
                y = add(y, i);
            }
            y
        })
    };
}

macro_rules! sum_over {
    ($r:expr) => {
        graph!(|x: u64| -> u64 {
            let mut y = x;
            for i in $r {
                y = add(y, i);
            }
            y
        })
    };
}

#[test]
fn loops_over_ranges_a_macro_passes_in() {
    let (up_to, over) = (sum_up_to!(10), sum_over!(2..5));
    assert_eq!((up_to.len(), over.len()), (10, 3));
    assert_eq!(
        within(LIMIT, "loops", move || (up_to.compute(1), over.compute(1))),
        (56, 10)
    );
}

#[delayed]
fn step(a: [u8; 8192], boom: bool) -> [u8; 8192] {
    if boom {
        panic!("step boom")
    }
    let mut a = a;
    a[0] = a[0].wrapping_add(1);
    a
}

#[delayed]
fn start(x: u8) -> [u8; 8192] {
    [x; 8192]
}

#[delayed]
fn first(a: &[u8; 8192]) -> u8 {
    a[0]
}

/// A chain of 300 nodes of 8 KiB values (a tree whose locals are made in one stack
/// room), failing at its first, middle and last link, then computed whole.
#[test]
fn a_chain_of_300_large_values_failing_anywhere() {
    within(LIMIT, "a long chain", || {
        let job = graph!(|x: u8, b: u64| -> u8 {
            let mut a = start(x);
            for i in 0..300 {
                a = step(a, i == b);
            }
            first(&a)
        });
        assert!(job.__runs_as_tree());
        let mut plain = start(1);
        for _ in 0..300 {
            plain = step(plain, false);
        }
        for s in SCHEDULERS {
            for b in [0, 150, 299] {
                let error = job.try_compute_with(s, 1, b).unwrap_err();
                assert_eq!(error.message(), "step boom");
            }
            assert_eq!(job.compute_with(s, 1, 1000), first(&plain));
        }
    });
}
