//! Dynamic graphs, and the dispatcher they share with static graphs, under shapes the
//! other tests do not reach: a warning handler that panics (warnings made errors)
//! after a run whose end its caller tells the observers; runs nested a thousand deep,
//! each following its task (`stop_when(taskweave::cancelled)`); a stop condition whose
//! capture's `Drop` panics, dropped last by a run that went on after its caller
//! returned the run's first failure. And shapes that were
//! found to work, kept so that they go on working: random graphs mixing every kind of
//! node (constants, pure twins, `map`, `split`, `tree_reduce`, retried tasks, tasks
//! computing graphs over their own graph's nodes, persisted and renamed nodes),
//! checked against sequential evaluation on both schedulers, in a pool, from several
//! threads at once, nested in a task and prepared, every value dropped once; `Clone`s
//! and `Drop`s that panic where a run reads, lends, clones or leaves a value; results
//! of no size and aligned to a page; empty outputs; graphs computed in a thread
//! local's destructor and inside an observer's hooks; 2 MiB values through `split`,
//! `tree_reduce`, `map`, retries and prepared graphs.
//!
//! The larger sizes are `#[ignore]`d: `cargo test --release -p taskweave-tests --test
//! adversarial_dynamic -- --ignored`.

#[path = "support/watchdog.rs"]
mod watchdog;

use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use taskweave::prelude::*;
use taskweave::Scheduler;
use watchdog::within;

const LIMIT: Duration = Duration::from_secs(60);

std::thread_local! {
    /// Whether the warning handler panics on this thread (it is the process's: other
    /// tests' warnings only print).
    static FATAL_WARNINGS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Counts the runs it is told started and ended.
#[derive(Default)]
struct Ends {
    started: AtomicUsize,
    finished: AtomicUsize,
}

impl taskweave::Observer for Ends {
    fn graph_started(&self, _nodes: &[taskweave::NodeInfo<'_>]) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }
    fn graph_finished(&self, _result: Result<(), &taskweave::TaskError>) {
        self.finished.fetch_add(1, Ordering::SeqCst);
    }
}

/// A warning handler that panics (`on_warning(|m| panic!("{m}"))`, warnings made
/// errors) unwinds out of the compute that warned, and the run's observers hear it end
/// first. (The tiny-task warning came after the run had left its end to the caller to
/// tell, and the panic skipped that: the observer heard `graph_started` and never
/// `graph_finished`, so a progress bar or a profile waited for an end that never came.)
/// The warning needs tasks under 1 µs each, about 0.35 µs here in a debug build; a
/// machine too slow for it gives no warning, and the run ends as any other.
#[test]
fn a_warning_handler_that_panics_leaves_no_run_untold() {
    static WARNED: AtomicBool = AtomicBool::new(false);
    taskweave::on_warning(|message| {
        if FATAL_WARNINGS.with(|fatal| fatal.get()) {
            WARNED.store(true, Ordering::SeqCst);
            panic!("warnings are errors: {message}");
        }
        eprintln!("{message}");
    });
    within(LIMIT, "a warning handler that panics", || {
        let n = 200_000u64;
        let mut x = Delayed::value(0u64);
        for _ in 0..n {
            x = x.map(|v| v + 1);
        }
        let ends = Arc::new(Ends::default());
        let options = taskweave::RunOptions::new().observer(ends.clone());
        FATAL_WARNINGS.with(|fatal| fatal.set(true));
        let ran =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| x.try_compute_with(options)));
        FATAL_WARNINGS.with(|fatal| fatal.set(false));
        match ran {
            Ok(value) => {
                assert!(!WARNED.load(Ordering::SeqCst));
                assert_eq!(value.expect("no task fails"), n);
            }
            Err(payload) => {
                assert!(WARNED.load(Ordering::SeqCst), "only the handler panics");
                let text = payload
                    .downcast_ref::<String>()
                    .expect("the handler's text");
                assert!(text.starts_with("warnings are errors"), "{text}");
            }
        }
        assert_eq!(ends.started.load(Ordering::SeqCst), 1);
        assert_eq!(
            ends.finished.load(Ordering::SeqCst),
            1,
            "the observer hears the run end"
        );
        // The graph computes again, and its values are whole.
        assert_eq!(x.compute(), n);
    });
}

/// A dynamic graph per level, the level below computed inside a task beside a leaf
/// (so that the graph runs on the pool), each run following its task
/// (`stop_when(taskweave::cancelled)`, as `RunOptions::stop_when` says to), the bottom
/// asking `cancelled()`: the sum of the levels, plus 1 for "not cancelled".
fn following(depth: u64) -> u64 {
    if depth == 0 {
        return u64::from(!taskweave::cancelled());
    }
    let inner = delayed(|d: u64| following(d - 1)).call(depth);
    let leaf = delayed(|d: u64| d).call(depth);
    let sum = delayed(|a: u64, b: u64| a + b).call(inner, leaf);
    let options = taskweave::RunOptions::new().stop_when(taskweave::cancelled);
    sum.try_compute_with(options).expect("no task fails")
}

/// Runs `following(depth)` under the watchdog in pools of one and two threads with
/// 2 MiB stacks, and checks it against the sum.
fn runs_following_their_tasks(depth: u64, limit: Duration) {
    for threads in [1, 2] {
        let got = within(limit, "nested runs following their tasks", move || {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .stack_size(2 << 20)
                .build()
                .expect("a pool");
            pool.install(|| following(depth))
        });
        assert_eq!(got, depth * (depth + 1) / 2 + 1, "{threads} thread(s)");
    }
}

/// Runs nested 1,000 deep, each following its task: a task's question (its
/// `cancelled()`, and the dispatcher's before each task starts) asks its run's
/// condition as the task the run was started in, which asks its own run's, and so on
/// to the top, a few KiB of stack per level. It overflowed the stack about 600 levels
/// down and killed the process (SIGSEGV on the run's stack segment); each question now
/// moves to a new segment when the stack runs low, as nested runs do.
#[test]
fn runs_nested_1_000_deep_following_their_tasks() {
    runs_following_their_tasks(1_000, LIMIT);
}

/// [`runs_nested_1_000_deep_following_their_tasks`] 10,000 deep. Each question walked
/// every level above it, so the whole took time in the square of the depth: about
/// 90 s per pool in a debug build, past the watchdog's minute. A run that follows its
/// task now reads what it found of the runs above, looked at again only after one of
/// them stops (`tests/nesting.rs` counts the looks).
#[test]
fn runs_nested_10_000_deep_following_their_tasks() {
    runs_following_their_tasks(10_000, Duration::from_secs(60));
}

// ---- Random graphs of every kind of node ------------------------------------------

#[path = "support/random.rs"]
mod random;

/// Values of [`S`] alive now: each is made by `S::new` or a clone and dropped once.
static S_LIVE: AtomicIsize = AtomicIsize::new(0);

/// A value that is not `Copy`, counted in [`S_LIVE`].
#[derive(PartialEq, Eq, Debug)]
struct S(String);

impl S {
    fn new(s: String) -> S {
        S_LIVE.fetch_add(1, Ordering::SeqCst);
        S(s)
    }
}

impl Clone for S {
    fn clone(&self) -> S {
        S::new(self.0.clone())
    }
}

impl Drop for S {
    fn drop(&mut self) {
        S_LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A node's value from its kind, its number and its inputs' values, in order.
fn h(tag: &str, i: usize, parts: &[&str]) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (tag, i, parts).hash(&mut hasher);
    format!("{tag}{:x}", hasher.finish())
}

fn pure_step(s: S, k: u64) -> S {
    S::new(h("p", k as usize, &[&s.0]))
}

fn pure_lent(s: &S, k: u64) -> S {
    S::new(h("q", k as usize, &[&s.0]))
}

fn mapped(s: &S) -> S {
    S::new(h("m", 0, &[&s.0]))
}

std::thread_local! {
    /// Whether this thread's last retried attempt failed (attempts of one task run on
    /// one thread, one after the other).
    static FAILED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// One random graph of up to 61 nodes, a quarter of them with a node that panics,
/// computed every way and checked against the values worked out as it is built.
fn random_round(seed: u64) {
    let mut rng = random::Rng(seed);
    let n = 2 + rng.below(60);
    let boom = (rng.below(4) == 0).then(|| rng.below(n));
    let mut nodes: Vec<Delayed<S>> = Vec::new();
    // Each node's value, and whether computing it fails.
    let mut want: Vec<String> = Vec::new();
    let mut bad: Vec<bool> = Vec::new();
    // The nodes replaced by persisted ones, kept alive beside them.
    let mut kept = Vec::new();
    for i in 0..n {
        let pick = |rng: &mut random::Rng| rng.below(i.max(1));
        let kind = if i == 0 { 0 } else { rng.below(17) };
        let (node, value, fails): (Delayed<S>, String, bool) = match kind {
            0 => (
                delayed(move || S::new(h("l", i, &[]))).call(),
                h("l", i, &[]),
                false,
            ),
            1 => {
                let v = h("v", i, &[]);
                (Delayed::value(S::new(v.clone())), v, false)
            }
            2 => {
                let p = pick(&mut rng);
                let f = move |s: S| S::new(h("u", i, &[&s.0]));
                let d = if rng.below(2) == 0 {
                    delayed(f).call(&nodes[p])
                } else {
                    delayed(f).call(nodes[p].clone())
                };
                (d, h("u", i, &[&want[p]]), bad[p])
            }
            3 => {
                let p = pick(&mut rng);
                let d = delayed(move |s: &S| S::new(h("r", i, &[&s.0]))).call(&nodes[p]);
                (d, h("r", i, &[&want[p]]), bad[p])
            }
            4 => {
                let (p, q) = (pick(&mut rng), pick(&mut rng));
                let d = delayed(move |a: S, b: &S| S::new(h("b", i, &[&a.0, &b.0])))
                    .call(&nodes[p], &nodes[q]);
                (d, h("b", i, &[&want[p], &want[q]]), bad[p] || bad[q])
            }
            5 | 6 => {
                let k = rng.below(6);
                let ps: Vec<usize> = (0..k).map(|_| pick(&mut rng)).collect();
                let strs: Vec<&str> = ps.iter().map(|&p| want[p].as_str()).collect();
                let v = h("w", i, &strs);
                let args: Vec<Delayed<S>> = ps.iter().map(|&p| nodes[p].clone()).collect();
                let d = if kind == 5 {
                    delayed(move |v: Vec<S>| {
                        let s: Vec<&str> = v.iter().map(|s| s.0.as_str()).collect();
                        S::new(h("w", i, &s))
                    })
                    .call(args)
                } else {
                    delayed(move |v: &[S]| {
                        let s: Vec<&str> = v.iter().map(|s| s.0.as_str()).collect();
                        S::new(h("w", i, &s))
                    })
                    .call(&args)
                };
                (d, v, ps.iter().any(|&p| bad[p]))
            }
            7 => {
                let (p, k) = (pick(&mut rng), rng.below(3) as u64);
                let d = delayed(pure_step).pure().call(&nodes[p], k);
                (d, h("p", k as usize, &[&want[p]]), bad[p])
            }
            8 => {
                let (p, k) = (pick(&mut rng), rng.below(3) as u64);
                let d = delayed(pure_lent).pure().call(&nodes[p], k);
                (d, h("q", k as usize, &[&want[p]]), bad[p])
            }
            9 => {
                let p = pick(&mut rng);
                (nodes[p].map(mapped), h("m", 0, &[&want[p]]), bad[p])
            }
            10 => {
                let p = pick(&mut rng);
                let t =
                    delayed(move |s: S| (S::new(h("x", i, &[&s.0])), S::new(h("y", i, &[&s.0]))))
                        .call(&nodes[p]);
                let (x, y) = t.split();
                if rng.below(2) == 0 {
                    (x, h("x", i, &[&want[p]]), bad[p])
                } else {
                    (y, h("y", i, &[&want[p]]), bad[p])
                }
            }
            11 => {
                let k = 1 + rng.below(5);
                let ps: Vec<usize> = (0..k).map(|_| pick(&mut rng)).collect();
                let v = ps
                    .iter()
                    .map(|&p| want[p].as_str())
                    .collect::<Vec<_>>()
                    .join("+");
                let parts = ps.iter().map(|&p| nodes[p].clone()).collect();
                let d =
                    taskweave::tree_reduce(parts, |a: S, b: S| S::new(format!("{}+{}", a.0, b.0)));
                (d, v, ps.iter().any(|&p| bad[p]))
            }
            12 => {
                // Persisted mid-way: a node replaced by one holding its value.
                let p = pick(&mut rng);
                if bad[p] {
                    (nodes[p].clone(), want[p].clone(), true)
                } else {
                    let scheduler = if rng.below(2) == 0 {
                        Scheduler::Sync
                    } else {
                        Scheduler::Threads
                    };
                    let held = taskweave::persist_with(scheduler, &nodes[p]).expect("no failure");
                    kept.push(nodes[p].clone());
                    (held, want[p].clone(), false)
                }
            }
            13 => {
                // Retried: every other attempt panics.
                let p = pick(&mut rng);
                let d = delayed(move |s: S| {
                    if !FAILED.with(|failed| failed.replace(!failed.get())) {
                        std::panic::panic_any("boom");
                    }
                    S::new(h("t", i, &[&s.0]))
                })
                .retries(1)
                .call(&nodes[p]);
                (d, h("t", i, &[&want[p]]), bad[p])
            }
            14 => {
                // A task computing a graph over a node of its own graph.
                let (p, q) = (pick(&mut rng), pick(&mut rng));
                let inner = nodes[q].clone();
                let d = delayed(move |s: &S| {
                    let m = inner.map(mapped);
                    let (a, _) = taskweave::compute((&m, &inner));
                    S::new(h("c", i, &[&s.0, &a.0]))
                })
                .call(&nodes[p]);
                let v = h("c", i, &[&want[p], &h("m", 0, &[&want[q]])]);
                (d, v, bad[p] || bad[q])
            }
            _ => {
                // Renamed in place (names shared by several nodes, pure twins too).
                let p = pick(&mut rng);
                let name = format!("n{}", rng.below(3));
                (nodes[p].clone().named(name), want[p].clone(), bad[p])
            }
        };
        let (node, fails) = if boom == Some(i) {
            (node.map(|_| -> S { std::panic::panic_any("boom") }), true)
        } else {
            (node, fails)
        };
        nodes.push(node);
        want.push(value);
        bad.push(fails);
    }
    let outs: Vec<usize> = (0..1 + rng.below(6)).map(|_| rng.below(n)).collect();
    let out_nodes: Vec<Delayed<S>> = outs.iter().map(|&o| nodes[o].clone()).collect();
    let failing = outs.iter().any(|&o| bad[o]);
    let check = |got: Result<Vec<S>, taskweave::TaskError>, how: &str| match got {
        Ok(values) => {
            assert!(!failing, "seed {seed} {how}: a failing graph succeeded");
            let got: Vec<&str> = values.iter().map(|v| v.0.as_str()).collect();
            let expected: Vec<&str> = outs.iter().map(|&o| want[o].as_str()).collect();
            assert_eq!(got, expected, "seed {seed} {how}");
        }
        Err(error) => assert!(failing, "seed {seed} {how}: {error}"),
    };
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        check(taskweave::compute_with(scheduler, &out_nodes), "alone");
    }
    let threads = 1 + (seed % 3) as usize;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a pool");
    let in_pool = pool.install(|| taskweave::compute_with(Scheduler::Threads, &out_nodes));
    check(in_pool, "in a pool");
    std::thread::scope(|scope| {
        let computes: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| taskweave::compute_with(Scheduler::Threads, &out_nodes)))
            .collect();
        for compute in computes {
            check(compute.join().expect("no panic"), "from threads");
        }
    });
    let outer = {
        let out_nodes = out_nodes.clone();
        delayed(move |x: u64| {
            let inner = taskweave::compute_with(Scheduler::Threads, &out_nodes);
            x + inner.map_or(0, |values| values.len() as u64)
        })
        .call(1u64)
    };
    let expected = if failing { 1 } else { 1 + outs.len() as u64 };
    assert_eq!(outer.compute(), expected, "seed {seed}: nested");
    let mut prepared = taskweave::prepare(&out_nodes);
    for _ in 0..2 {
        check(prepared.try_compute_with(Scheduler::Threads), "prepared");
    }
}

/// [`random_round`] over 200 seeds (`ROUNDS=n` for more; 30,000 passed), every value
/// dropped once after each.
#[test]
fn random_graphs_of_every_kind_of_node() {
    within(LIMIT, "random graphs", || {
        let rounds: u64 = std::env::var("ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(200);
        let hook = std::panic::take_hook();
        // The injected panics are expected; any other is printed.
        std::panic::set_hook(Box::new(|info| {
            if info.payload().downcast_ref::<&str>() != Some(&"boom") {
                eprintln!("{info}");
            }
        }));
        for seed in 0..rounds {
            random_round(seed);
            // A failed run returns at once; what its other tasks hold is freed as they end.
            let mut waited = 0;
            while S_LIVE.load(Ordering::SeqCst) != 0 && waited < 5_000 {
                std::thread::sleep(Duration::from_millis(1));
                waited += 1;
            }
            assert_eq!(
                S_LIVE.load(Ordering::SeqCst),
                0,
                "seed {seed}: values leaked"
            );
        }
        std::panic::set_hook(hook);
    });
}

// ---- Clones and drops that panic -----------------------------------------------------

/// `Touchy` values alive now.
static TOUCHY_LIVE: AtomicIsize = AtomicIsize::new(0);
/// `Touchy` clones made so far, and the one that panics.
static CLONES: AtomicUsize = AtomicUsize::new(0);
static PANIC_AT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// A value whose `Clone` number [`PANIC_AT`] panics, counted in [`TOUCHY_LIVE`].
struct Touchy(u64);

impl Touchy {
    fn new(v: u64) -> Self {
        TOUCHY_LIVE.fetch_add(1, Ordering::SeqCst);
        Touchy(v)
    }
}

impl Clone for Touchy {
    fn clone(&self) -> Self {
        let n = CLONES.fetch_add(1, Ordering::SeqCst);
        if n == PANIC_AT.load(Ordering::SeqCst) {
            panic!("clone {n} panics");
        }
        Touchy::new(self.0)
    }
}

impl Drop for Touchy {
    fn drop(&mut self) {
        TOUCHY_LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Each clone a run makes panics in turn (an input read by value twice, by one task and
/// by two, a constant read twice, outputs requested twice): the run fails naming a
/// task of its graph, or succeeds once no clone panics, and every value is dropped
/// once either way.
#[test]
fn each_clone_a_run_makes_panics_in_turn() {
    within(LIMIT, "clones that panic", || {
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            for at in 0..12 {
                CLONES.store(0, Ordering::SeqCst);
                PANIC_AT.store(at, Ordering::SeqCst);
                {
                    let a = delayed(Touchy::new).call(5u64);
                    let b = delayed(|t: Touchy, u: Touchy| Touchy::new(t.0 + u.0)).call(&a, &a);
                    let c = delayed(|t: Touchy| Touchy::new(t.0 * 2)).call(&a);
                    let d = delayed(|t: &Touchy| t.0).call(&a);
                    let h = Delayed::value(Touchy::new(3));
                    let e = delayed(|t: Touchy, u: Touchy| Touchy::new(t.0 + u.0)).call(&h, &h);
                    match taskweave::compute_with(scheduler, (&a, &b, &c, &d, &e, &b, &h)) {
                        Ok((a, b, c, d, e, b2, h)) => {
                            assert!(CLONES.load(Ordering::SeqCst) <= at, "{scheduler:?} {at}");
                            let got = (a.0, b.0, c.0, d, e.0, b2.0, h.0);
                            assert_eq!(got, (5, 10, 10, 5, 6, 10, 3));
                        }
                        Err(error) => {
                            assert!(["closure", "value"].contains(&error.task()), "{error}");
                            assert!(error.call_site().contains("adversarial_dynamic.rs"));
                            assert_eq!(error.message(), format!("clone {at} panics"));
                        }
                    }
                }
                // A failed run returns at once; its other tasks free what they hold.
                let mut waited = 0;
                while TOUCHY_LIVE.load(Ordering::SeqCst) != 0 && waited < 5_000 {
                    std::thread::sleep(Duration::from_millis(1));
                    waited += 1;
                }
                assert_eq!(TOUCHY_LIVE.load(Ordering::SeqCst), 0, "{scheduler:?} {at}");
            }
        }
        PANIC_AT.store(usize::MAX, Ordering::SeqCst);
    });
}

/// A value whose `Drop` always panics, even while another panic unwinds.
#[derive(Clone)]
struct Always(u64);

impl Drop for Always {
    fn drop(&mut self) {
        panic!("dropped {}", self.0);
    }
}

/// Values whose `Drop` panics, dropped by a run after their last reader lent them,
/// left in a split by its unread part, read by `map`, or left unread (two of them) by
/// a failure: each run fails with an error naming a task, and none aborts.
#[test]
fn drops_that_panic_where_a_run_drops_values() {
    within(LIMIT, "drops that panic", || {
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            let a = delayed(|| Always(1)).call();
            let r1 = delayed(|a: &Always| a.0).call(&a);
            let r2 = delayed(|a: &Always| a.0 + 1).call(&a);
            let error = taskweave::compute_with(scheduler, (&r1, &r2)).unwrap_err();
            assert_eq!((error.task(), error.message()), ("closure", "dropped 1"));
            let t = delayed(|| (Always(2), 5u64)).call();
            let (_unread, five) = t.split();
            let error = five.try_compute_with(scheduler).unwrap_err();
            assert_eq!((error.task(), error.message()), ("split.1", "dropped 2"));
            let error = a.map(|a| a.0).try_compute_with(scheduler).unwrap_err();
            assert_eq!((error.task(), error.message()), ("map", "dropped 1"));
            let b = delayed(|| Always(3)).call();
            let boom = delayed(|| -> u64 { panic!("boom") }).call();
            let all = delayed(|a: &Always, b: &Always, c: u64| a.0 + b.0 + c).call(&a, &b, &boom);
            let error = all.try_compute_with(scheduler).unwrap_err();
            assert_eq!(error.message(), "boom");
            let mut prepared = taskweave::prepare((&all,));
            assert_eq!(
                prepared.try_compute_with(scheduler).unwrap_err().message(),
                "boom"
            );
        }
    });
}

// ---- Shapes of values and outputs ----------------------------------------------------

/// A result aligned to a page: a slot of its own alignment in a mixed arena.
#[repr(align(4096))]
#[derive(Clone, Copy, PartialEq, Debug)]
struct Page(u8);

/// Results of no size (`()`, `[u64; 0]`), aligned to a page, and bytes, in one graph
/// and as outputs, on both schedulers.
#[test]
fn results_of_no_size_and_aligned_to_a_page() {
    within(LIMIT, "sizes and alignments", || {
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            let units: Vec<Delayed<()>> = (0..1000).map(|_| delayed(|| ()).call()).collect();
            assert_eq!(
                taskweave::compute_with(scheduler, &units).unwrap().len(),
                1000
            );
            let zero: Vec<Delayed<[u64; 0]>> =
                (0..10).map(|_| delayed(|| [0u64; 0]).call()).collect();
            let pages: Vec<Delayed<Page>> =
                (0..10u8).map(|i| delayed(move || Page(i)).call()).collect();
            let bytes: Vec<Delayed<u8>> = (0..10u8).map(|i| delayed(move || i).call()).collect();
            let all = delayed(|z: Vec<[u64; 0]>, p: Vec<Page>, b: Vec<u8>, u: Vec<()>| {
                let pages: u64 = p.iter().map(|p| u64::from(p.0)).sum();
                let bytes: u64 = b.iter().map(|&b| u64::from(b)).sum();
                z.len() as u64 + pages * 7 + bytes + u.len() as u64
            })
            .call(zero.clone(), pages.clone(), bytes, units);
            let (total, pages, zero) =
                taskweave::compute_with(scheduler, (&all, &pages, &zero)).unwrap();
            assert_eq!(total, 10 + 45 * 7 + 45 + 1000);
            assert_eq!(pages, (0..10u8).map(Page).collect::<Vec<_>>());
            assert_eq!(zero.len(), 10);
        }
    });
}

/// No outputs at all, computed, persisted and prepared, watched by an observer; and
/// tuples nesting empty slices beside repeated nodes.
#[test]
fn empty_and_nested_outputs() {
    within(LIMIT, "empty and nested outputs", || {
        let none: Vec<Delayed<String>> = Vec::new();
        let a = delayed(|x: u64| x.to_string()).call(1u64);
        let v: Vec<Delayed<String>> = (0..3u64)
            .map(|i| delayed(|x: u64| x.to_string()).call(i))
            .collect();
        let strings: Vec<String> = (0..3u64).map(|i| i.to_string()).collect();
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            let watched = taskweave::RunOptions::new()
                .scheduler(scheduler)
                .observer(Arc::new(Ends::default()));
            assert!(taskweave::compute_with(watched.clone(), &none)
                .unwrap()
                .is_empty());
            assert!(taskweave::persist_with(watched.clone(), &none)
                .unwrap()
                .is_empty());
            let mut prepared = taskweave::prepare(&none);
            assert!(prepared.try_compute_with(watched).unwrap().is_empty());
            assert!(prepared.info().is_empty());
            let got =
                taskweave::compute_with(scheduler, (&a, (&v, &none, (&a, &v)), [&a, &a], &none))
                    .unwrap();
            assert_eq!(got.0, "1");
            assert_eq!(((got.1).0, (got.1).1.len()), (strings.clone(), 0));
            assert_eq!(((got.1).2).0, "1");
            assert_eq!(((got.1).2).1, strings);
            assert_eq!(
                (got.2, got.3.len()),
                (["1".to_string(), "1".to_string()], 0)
            );
        }
        let mut prepared = taskweave::prepare((&none, &a, &none, (&none, &v)));
        for _ in 0..3 {
            let got = prepared.compute();
            assert_eq!((got.1, (got.3).1), ("1".to_string(), strings.clone()));
        }
    });
}

/// A split whose tuple is requested too, split twice, its parts requested twice and
/// read by value and lent; `tree_reduce` of one node repeated; `persist` of one node
/// repeated (one run, every request held).
#[test]
fn splits_reductions_and_persists_of_repeated_nodes() {
    within(LIMIT, "repeated nodes", || {
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            let d = delayed(|x: u64| (x.to_string(), vec![x; 3])).call(7u64);
            let (p0, p1) = d.split();
            let (q0, q1) = d.split();
            let got = taskweave::compute_with(scheduler, (&d, &p0, &q1, &p1, &q0, &p0)).unwrap();
            assert_eq!(got.0, ("7".to_string(), vec![7; 3]));
            assert_eq!(
                (got.1, got.2, got.3),
                ("7".to_string(), vec![7; 3], vec![7; 3])
            );
            assert_eq!((got.4, got.5), ("7".to_string(), "7".to_string()));
            let both = delayed(|a: String, b: &String, c: Vec<u64>| format!("{a}{b}{}", c.len()))
                .call(&p0, &q0, &p1);
            assert_eq!(both.try_compute_with(scheduler).unwrap(), "773");
            let a = delayed(|x: u64| x.to_string()).call(3u64);
            let three =
                taskweave::tree_reduce(vec![a.clone(), a.clone(), a.clone()], |x, y| x + &y);
            assert_eq!(three.try_compute_with(scheduler).unwrap(), "333");
            let two = taskweave::tree_reduce(vec![a.clone(), a.clone()], |x, y| x + &y);
            let got = taskweave::compute_with(scheduler, (&two, &a)).unwrap();
            assert_eq!(got, ("33".to_string(), "3".to_string()));
        }
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let a = delayed(move |x: u64| {
            counted.fetch_add(1, Ordering::SeqCst);
            x.to_string()
        })
        .call(3u64);
        let held = taskweave::persist(&vec![a.clone(), a.clone(), a.clone()]);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(
            delayed(|v: Vec<String>| v.concat())
                .call(held.clone())
                .compute(),
            "333"
        );
        let (x, y) = taskweave::persist((&held[0], &a));
        assert_eq!(
            taskweave::compute((&x, &y, &held[1])),
            ("3".into(), "3".into(), "3".into())
        );
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    });
}

/// One node read 10,011 times by one task (as a `Vec` and lent as a slice), and twice
/// over by another, beside another node.
#[test]
fn one_node_read_ten_thousand_times_by_one_task() {
    within(LIMIT, "one node read many times", || {
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            let a = delayed(|x: u64| x.to_string()).call(7u64);
            let b = delayed(|x: u64| x.to_string()).call(8u64);
            let mut many = vec![a.clone(); 10_000];
            many.push(b.clone());
            many.extend(vec![a.clone(); 10]);
            let owned = delayed(|v: Vec<String>| v.concat().len()).call(many.clone());
            let lent = delayed(|v: &[String]| v.iter().map(String::len).sum::<usize>()).call(&many);
            let twice = delayed(|v: Vec<String>, w: Vec<String>| v.len() + w.len())
                .call(many.clone(), many.clone());
            let got = taskweave::compute_with(scheduler, (&owned, &lent, &a, &twice)).unwrap();
            assert_eq!(got, (10_011, 10_011, "7".to_string(), 20_022));
        }
    });
}

// ---- Graphs computed from odd places -------------------------------------------------

/// Graphs built, computed and persisted in a thread local's destructor as the thread
/// ends, whether the runtime's own thread locals were made before it or after.
#[test]
fn graphs_computed_in_a_thread_local_destructor() {
    struct OnExit;
    impl Drop for OnExit {
        fn drop(&mut self) {
            let parts: Vec<Delayed<u64>> = (0..100u64)
                .map(|i| delayed(|x: u64| x * 2).call(i))
                .collect();
            let total = delayed(|v: Vec<u64>| v.iter().sum::<u64>()).call(parts);
            let chain = (0..1000).fold(Delayed::value(0u64), |d, _| d.map(|x| x + 1));
            assert_eq!(taskweave::compute((&total, &chain)), (9900, 1000));
            let held = total.persist();
            assert_eq!((&held + 1).compute(), 9901);
            COMPUTED.fetch_add(1, Ordering::SeqCst);
        }
    }
    std::thread_local! {
        static EXIT: std::cell::RefCell<Option<OnExit>> = const { std::cell::RefCell::new(None) };
    }
    static COMPUTED: AtomicUsize = AtomicUsize::new(0);
    within(LIMIT, "a thread local's destructor", || {
        std::thread::spawn(|| {
            assert_eq!(delayed(|x: u64| x + 1).call(1u64).compute(), 2);
            EXIT.with(|exit| *exit.borrow_mut() = Some(OnExit));
        })
        .join()
        .expect("the thread ends");
        std::thread::spawn(|| {
            EXIT.with(|exit| *exit.borrow_mut() = Some(OnExit));
            assert_eq!(delayed(|x: u64| x + 1).call(1u64).compute(), 2);
        })
        .join()
        .expect("the thread ends");
        assert_eq!(COMPUTED.load(Ordering::SeqCst), 2);
    });
}

/// A task that returns a `Delayed` built on a node of its graph, computed afterwards;
/// a task that computes a `Delayed` it was given as a value, and a node of its own
/// graph it captured.
#[test]
fn tasks_returning_and_computing_delayed_values() {
    within(LIMIT, "graphs of graphs", || {
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            let base = delayed(|x: u64| x * 3).call(5u64);
            let captured = base.clone();
            let maker = delayed(move |k: u64| &captured + k).call(4u64);
            assert_eq!(maker.try_compute_with(scheduler).unwrap().compute(), 19);
            let captured = base.clone();
            let nested =
                delayed(move |d: Delayed<u64>, b: u64| d.compute() + b + captured.compute())
                    .call(maker.clone(), &base);
            let (n, b, m) = taskweave::compute_with(scheduler, (&nested, &base, &maker)).unwrap();
            assert_eq!((n, b, m.compute()), (19 + 15 + 15, 15, 19));
        }
    });
}

/// Computes `parts` in each hook it is told, and counts them.
struct Computes(Vec<Delayed<u64>>, AtomicUsize);

impl Computes {
    fn compute(&self) {
        let values = taskweave::compute(&self.0);
        assert_eq!(
            values,
            (0..self.0.len() as u64).map(|i| i * 2).collect::<Vec<_>>()
        );
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

impl taskweave::Observer for Computes {
    fn graph_started(&self, _nodes: &[taskweave::NodeInfo<'_>]) {
        self.compute();
    }
    fn task_started(&self, _node: u32, _info: &taskweave::NodeInfo<'_>) {
        self.compute();
    }
    fn task_finished(
        &self,
        _node: u32,
        _info: &taskweave::NodeInfo<'_>,
        _: taskweave::TaskOutcome,
    ) {
        self.compute();
    }
    fn graph_finished(&self, _result: Result<(), &taskweave::TaskError>) {
        self.compute();
    }
}

/// An observer that computes a graph sharing the watched graph's nodes in every hook,
/// on both schedulers, in a one-thread pool, and of a prepared graph.
#[test]
fn an_observer_computing_graphs_in_its_hooks() {
    within(LIMIT, "an observer that computes", || {
        let parts: Vec<Delayed<u64>> = (0..20u64)
            .map(|i| delayed(|x: u64| x * 2).call(i))
            .collect();
        let total = delayed(|v: Vec<u64>| v.iter().sum::<u64>()).call(parts.clone());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("a pool");
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            let observer = Arc::new(Computes(parts.clone(), AtomicUsize::new(0)));
            let options = taskweave::RunOptions::new()
                .scheduler(scheduler)
                .observer(observer.clone());
            assert_eq!(total.try_compute_with(options.clone()).unwrap(), 380);
            // Two ends and a start and an end per task (21).
            assert_eq!(observer.1.load(Ordering::SeqCst), 2 + 2 * 21);
            assert_eq!(
                pool.install(|| total.try_compute_with(options.clone()))
                    .unwrap(),
                380
            );
            let mut prepared = taskweave::prepare((&total, &parts));
            assert_eq!(prepared.try_compute_with(options).unwrap().0, 380);
        }
    });
}

/// A stop condition true from the start: no task runs, and the error names the first
/// one that did not (a constant's node too); no outputs, no error.
#[test]
fn a_run_stopped_before_it_starts() {
    within(LIMIT, "stopped at once", || {
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            let stopped = taskweave::RunOptions::new()
                .scheduler(scheduler)
                .stop_when(|| true);
            let none: Vec<Delayed<u64>> = Vec::new();
            assert!(taskweave::compute_with(stopped.clone(), &none)
                .unwrap()
                .is_empty());
            let error = Delayed::value(3u64)
                .try_compute_with(stopped.clone())
                .unwrap_err();
            assert_eq!(error.task(), "value");
            assert!(
                error.message().contains("stopped before this task started"),
                "{error}"
            );
            let wide: Vec<Delayed<u64>> = (0..10).map(|i| delayed(|x: u64| x).call(i)).collect();
            let error = taskweave::compute_with(stopped, &wide).unwrap_err();
            assert_eq!(error.task(), "closure");
            assert!(
                error.message().contains("stopped before this task started"),
                "{error}"
            );
        }
    });
}

// ---- 2 MiB values ------------------------------------------------------------------

const BIG: usize = 2 << 20;

/// Runs `f` on a thread whose stack is that of a program's `main` (8 MiB).
fn on_main_stack(f: impl FnOnce() -> u64 + Send + 'static) -> u64 {
    within(LIMIT, "2 MiB values", move || {
        std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(f)
            .expect("the thread starts")
            .join()
            .unwrap_or_else(|payload| std::panic::resume_unwind(payload))
    })
}

fn big(x: u8) -> [u8; BIG] {
    [x; BIG]
}

fn big_sum(a: &[u8; BIG]) -> u64 {
    a.iter().map(|&v| u64::from(v)).sum()
}

/// 2 MiB values through `split`, `tree_reduce`, `map`, a retried task, a constant
/// read twice, `persist` of two and a prepared graph, on a `main`-sized stack, as
/// plain code passing one such value runs there.
#[test]
fn two_mib_values_through_every_kind_of_node() {
    let split = on_main_stack(|| {
        let (a, b) = delayed(|x: u8| (big(x), u64::from(x))).call(1u8).split();
        delayed(|a: [u8; BIG], b: u64| big_sum(&a) + b)
            .call(a, b)
            .compute()
    });
    assert_eq!(split, BIG as u64 + 1);
    let reduced = on_main_stack(|| {
        let parts: Vec<Delayed<[u8; BIG]>> = (0..5u8).map(|i| delayed(big).call(i)).collect();
        let sum = taskweave::tree_reduce(parts, |mut a, b| {
            for (x, y) in a.iter_mut().zip(b.iter()) {
                *x = x.wrapping_add(*y);
            }
            a
        });
        sum.map(big_sum).compute()
    });
    assert_eq!(reduced, 10 * BIG as u64);
    let mapped = on_main_stack(|| {
        let b = delayed(big).call(3u8).map(|a: &[u8; BIG]| {
            let mut b = *a;
            b[0] = 1;
            b
        });
        big_sum(&b.compute())
    });
    assert_eq!(mapped, 3 * BIG as u64 - 2);
    let retried = on_main_stack(|| {
        let a = delayed(big).call(3u8);
        delayed(|a: [u8; BIG]| big_sum(&a))
            .retries(2)
            .call(&a)
            .compute()
    });
    assert_eq!(retried, 3 * BIG as u64);
    let constant = on_main_stack(|| {
        let a = Delayed::value(big(3));
        delayed(|a: [u8; BIG], b: &[u8; BIG]| big_sum(&a) + big_sum(b))
            .call(&a, &a)
            .compute()
    });
    assert_eq!(constant, 6 * BIG as u64);
    let persisted = on_main_stack(|| {
        let (a, b) = (delayed(big).call(3u8), delayed(big).call(4u8));
        let (a, b) = taskweave::persist((&a, &b));
        a.map(big_sum).compute() + b.map(big_sum).compute()
    });
    assert_eq!(persisted, 7 * BIG as u64);
    let prepared = on_main_stack(|| {
        let mut prepared = taskweave::prepare((&delayed(big).call(3u8),));
        (0..2)
            .map(|_| u64::from(prepared.compute().0[BIG - 1]))
            .sum()
    });
    assert_eq!(prepared, 6);
}

// ---- A stop condition dropped last by a run that went on after its caller -----------

/// Panics when dropped: a capture of a stop condition.
struct PanicsWhenDropped;

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        panic!("the stop condition's capture panics when dropped");
    }
}

/// A parallel run entered from outside the pool returns its first failure at once
/// while a task beside it still runs, and the run, on rayon's thread, then holds the
/// last handle of its options: a stop condition whose capture's `Drop` panics no longer
/// aborts the process there ("Rayon: detected unexpected panic; aborting"), as the
/// values the run leaves already did not. (Where the caller holds the last handle, the
/// panic comes out of its call, as a value's `Drop` of an argument would.)
#[test]
fn a_stop_condition_dropped_last_by_a_run_that_outlived_its_caller() {
    within(LIMIT, "a stop condition dropped by the run", || {
        for _ in 0..5 {
            let started = Arc::new(AtomicBool::new(false));
            let told = started.clone();
            let slow = delayed(move || {
                told.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(50));
                1u64
            })
            .call();
            // Fails once the slow task runs (or after a second, on a pool of one thread).
            let boom = delayed(move || -> u64 {
                let waited = std::time::Instant::now();
                while !started.load(Ordering::SeqCst) && waited.elapsed() < Duration::from_secs(1) {
                    std::thread::yield_now();
                }
                panic!("boom")
            })
            .call();
            let sum = delayed(|a: u64, b: u64| a + b).call(&slow, &boom);
            let capture = PanicsWhenDropped;
            let options = taskweave::RunOptions::new().stop_when(move || {
                let _ = &capture;
                false
            });
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                sum.try_compute_with(options)
            }));
            match ran {
                Ok(result) => assert_eq!(result.unwrap_err().message(), "boom"),
                Err(payload) => {
                    let text = payload.downcast_ref::<&str>().copied().unwrap_or_default();
                    assert!(text.contains("capture panics when dropped"), "{text}");
                }
            }
            // The slow task, and the run with it, end meanwhile.
            std::thread::sleep(Duration::from_millis(100));
        }
    });
}
