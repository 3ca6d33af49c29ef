//! `graph!`'s two paths: a graph whose every node's value has one reader (and no `?`)
//! runs as nested joins with values handed over by return, any other through the
//! dispatcher. Both must give what the same code gives called directly, on the pool
//! and synchronously, and treat failures, observers, stop conditions and
//! `cancelled()` alike: each node observed once, a panic named with its task and call
//! site, nothing started after it, nothing dropped twice and no abort.

#[path = "support/watchdog.rs"]
mod watchdog;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskweave::prelude::*;
use taskweave::{NodeInfo, Observer, RunOptions, TaskOutcome};
use watchdog::within;

const LIMIT: Duration = Duration::from_secs(60);

#[delayed]
fn leaf(x: u64, i: u64) -> u64 {
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i)
}

#[delayed]
fn combine(a: u64, b: u64) -> u64 {
    a.rotate_left(7) ^ b
}

#[delayed]
fn total(parts: &[u64]) -> u64 {
    parts.iter().fold(0, |acc, &p| combine(acc, p))
}

#[delayed]
fn step(x: u64) -> u64 {
    x.wrapping_mul(6364136223846793005).wrapping_add(1)
}

#[delayed]
fn len_of(s: &str) -> usize {
    s.len()
}

#[delayed]
fn name(i: u64) -> String {
    format!("node-{i}")
}

#[delayed]
fn fails_at(x: u64, at: u64) -> u64 {
    if x == at {
        panic!("leaf {at} failed");
    }
    x
}

/// The same program twice: inside `graph!`, and as a closure calling the tasks directly.
macro_rules! graph_and_direct {
    ($x:ident => $($body:tt)*) => {
        (
            graph!(|$x: u64| -> (u64, usize) { $($body)* }),
            |$x: u64| -> (u64, usize) { $($body)* },
        )
    };
}

/// A balanced tree of 16 leaves, a wide node over 8 more, a chain, operators and a
/// method call: every value read once.
macro_rules! tree_graph {
    () => {
        graph_and_direct! { x =>
            let a0 = combine(leaf(x, 0), leaf(x, 1));
            let a1 = combine(leaf(x, 2), leaf(x, 3));
            let a2 = combine(leaf(x, 4), leaf(x, 5));
            let a3 = combine(leaf(x, 6), leaf(x, 7));
            let b0 = combine(a0, a1);
            let b1 = combine(a2, a3);
            let wide = total(&[
                leaf(x, 10),
                leaf(x, 11),
                leaf(x, 12),
                leaf(x, 13),
                leaf(x, 14),
                leaf(x, 15),
                leaf(x, 16),
                leaf(x, 17),
            ]);
            let mut c = step(combine(b0, b1));
            for _ in 0..20 {
                c = step(c);
            }
            let s = name(x % 7);
            let n = len_of(&s) + 1;
            (c ^ wide, n)
        }
    };
}

#[test]
fn a_tree_runs_as_joins_and_computes_what_the_direct_code_does() {
    let (g, tree_direct) = tree_graph!();
    assert!(g.__runs_as_tree(), "every value is read once");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .expect("a pool");
    for x in [0, 1, 42, u64::MAX] {
        let want = tree_direct(x);
        assert_eq!(g.compute(x), want, "from outside the pool");
        assert_eq!(pool.install(|| g.compute(x)), want, "inside the pool");
        assert_eq!(g.compute_with(Scheduler::Sync, x), want, "synchronously");
    }
}

#[test]
fn shared_values_question_marks_splits_and_combs_take_the_dispatcher() {
    let shared = graph!(|x: u64| -> u64 {
        let a = leaf(x, 1);
        combine(a, a)
    });
    assert!(!shared.__runs_as_tree());
    assert_eq!(shared.compute(5), combine(leaf(5, 1), leaf(5, 1)));

    let question = graph!(|x: u64| -> Result<u64, String> {
        let a = checked(x)?;
        Ok(step(a))
    });
    assert!(!question.__runs_as_tree());
    assert_eq!(question.compute(3), Ok(step(3)));
    assert_eq!(question.compute(0), Err("zero".to_string()));

    // Joins nested once per step: past the bound, the dispatcher runs it.
    let comb = graph!(|x: u64| -> u64 {
        let mut acc = leaf(x, 0);
        for i in 1..40 {
            acc = combine(acc, leaf(x, i));
        }
        acc
    });
    assert!(!comb.__runs_as_tree());
    let mut want = leaf(7, 0);
    for i in 1..40 {
        want = combine(want, leaf(7, i));
    }
    assert_eq!(comb.compute(7), want);

    // A comb short enough to nest stays a tree.
    let short = graph!(|x: u64| -> u64 {
        let mut acc = leaf(x, 0);
        for i in 1..8 {
            acc = combine(acc, leaf(x, i));
        }
        acc
    });
    assert!(short.__runs_as_tree());
    let mut want = leaf(7, 0);
    for i in 1..8 {
        want = combine(want, leaf(7, i));
    }
    assert_eq!(short.compute(7), want);
}

#[delayed]
fn checked(x: u64) -> Result<u64, String> {
    if x == 0 {
        Err("zero".to_string())
    } else {
        Ok(x)
    }
}

/// Counts each node's starts and finishes, and the outcomes.
#[derive(Default)]
struct Watch {
    started: Mutex<HashMap<u32, usize>>,
    finished: Mutex<HashMap<u32, (usize, &'static str)>>,
    graphs: AtomicUsize,
}

impl Observer for Watch {
    fn graph_started(&self, _nodes: &[NodeInfo<'_>]) {
        self.graphs.fetch_add(1, Ordering::SeqCst);
    }
    fn task_started(&self, node: u32, _info: &NodeInfo<'_>) {
        *self.started.lock().unwrap().entry(node).or_default() += 1;
    }
    fn task_finished(&self, node: u32, _info: &NodeInfo<'_>, outcome: TaskOutcome) {
        let mut finished = self.finished.lock().unwrap();
        let entry = finished.entry(node).or_insert((0, ""));
        entry.0 += 1;
        entry.1 = outcome.as_str();
    }
}

#[test]
fn observers_see_every_node_of_a_tree_once() {
    let (g, tree_direct) = tree_graph!();
    assert!(g.__runs_as_tree());
    for scheduler in [Scheduler::Threads, Scheduler::Sync] {
        let watch = Arc::new(Watch::default());
        let options = RunOptions::new()
            .scheduler(scheduler)
            .observer(watch.clone());
        assert_eq!(g.compute_with(options, 9), tree_direct(9));
        let started = watch.started.lock().unwrap();
        let finished = watch.finished.lock().unwrap();
        assert_eq!(started.len(), g.len(), "{scheduler:?}: every node started");
        assert!(started.values().all(|&n| n == 1), "{scheduler:?}: once");
        assert_eq!(finished.len(), g.len());
        assert!(finished.values().all(|&(n, o)| n == 1 && o == "finished"));
        assert_eq!(watch.graphs.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn a_failing_node_of_a_tree_is_named_and_nothing_starts_after_it() {
    within(LIMIT, "a failing tree", || {
        // Synchronously the tree runs inputs first, left to right: the failing leaf is
        // the third node to run, and the run stops there.
        let g = graph!(|x: u64| -> u64 {
            let a = combine(fails_at(x, 1), fails_at(x + 1, 99));
            let b = combine(fails_at(x + 2, 99), fails_at(x + 3, 99));
            combine(a, b)
        });
        assert!(g.__runs_as_tree());
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            let watch = Arc::new(Watch::default());
            let options = RunOptions::new()
                .scheduler(scheduler)
                .observer(watch.clone());
            let error = g.try_compute_with(options, 1).expect_err("leaf 1 panics");
            assert_eq!(error.task(), "fails_at");
            assert!(error.message().contains("leaf 1 failed"), "{error}");
            assert!(error.call_site().contains("trees.rs"), "{error}");
            let finished = watch.finished.lock().unwrap();
            let failed: Vec<_> = finished.iter().filter(|(_, v)| v.1 == "failed").collect();
            assert_eq!(failed.len(), 1, "{scheduler:?}: one node failed");
            // The combines above the failure never ran.
            assert!(
                finished.len() < g.len(),
                "{scheduler:?}: not every node ran"
            );
            if scheduler == Scheduler::Sync {
                assert_eq!(finished.len(), 1, "only the failing leaf ran");
            }
        }
        // A later compute of the same graph is unaffected.
        assert_eq!(g.compute(10), {
            let a = combine(10, 11);
            let b = combine(12, 13);
            combine(a, b)
        });
    });
}

#[test]
fn a_stop_condition_stops_a_tree_and_names_the_first_node_not_started() {
    let (g, _) = tree_graph!();
    let runs = Arc::new(AtomicUsize::new(0));
    let count = runs.clone();
    let options = RunOptions::new()
        .scheduler(Scheduler::Sync)
        .stop_when(move || count.fetch_add(1, Ordering::SeqCst) >= 5);
    let error = g.try_compute_with(options, 3).expect_err("stopped");
    assert!(
        error.message().contains("stopped before this task started"),
        "{error}"
    );
    // Asked once per node until it said stop: five nodes ran.
    assert_eq!(runs.load(Ordering::SeqCst), 6);
}

#[delayed]
fn waits_for_cancel(started: Arc<AtomicBool>) -> u64 {
    started.store(true, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !taskweave::cancelled() {
        assert!(std::time::Instant::now() < deadline, "never cancelled");
        std::thread::yield_now();
    }
    0
}

#[delayed]
fn fails_when(started: Arc<AtomicBool>) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !started.load(Ordering::SeqCst) {
        assert!(
            std::time::Instant::now() < deadline,
            "the sibling never started"
        );
        std::thread::yield_now();
    }
    panic!("tree boom")
}

#[test]
fn a_running_node_of_a_failed_tree_sees_cancelled() {
    within(LIMIT, "cancelled in a tree", || {
        // On either side of the join: the waiting node may run on this thread or be
        // stolen, and both must see the run's failure.
        let left = graph!(|s: Arc<AtomicBool>| -> u64 {
            combine(waits_for_cancel(s.clone()), fails_when(s))
        });
        let right = graph!(|s: Arc<AtomicBool>| -> u64 {
            combine(fails_when(s.clone()), waits_for_cancel(s))
        });
        assert!(left.__runs_as_tree() && right.__runs_as_tree());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a pool");
        for _ in 0..5 {
            let runs = [
                pool.install(|| left.try_compute(Arc::new(AtomicBool::new(false)))),
                pool.install(|| right.try_compute(Arc::new(AtomicBool::new(false)))),
            ];
            for run in runs {
                let error = run.expect_err("a node fails");
                assert!(error.message().contains("tree boom"), "{error}");
            }
        }
    });
}

/// Counts its drops; panics in `Drop` when asked to.
struct Noisy {
    drops: Arc<AtomicUsize>,
    panic_on_drop: bool,
}

impl Drop for Noisy {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.panic_on_drop {
            panic!("drop panicked");
        }
    }
}

#[delayed]
fn make(drops: Arc<AtomicUsize>, panic_on_drop: bool) -> Noisy {
    Noisy {
        drops,
        panic_on_drop,
    }
}

#[delayed]
fn inspect_then_fail(value: &Noisy) -> u64 {
    let _ = value.panic_on_drop;
    panic!("the reader failed")
}

#[delayed]
fn consume(value: Noisy) -> u64 {
    drop(value);
    1
}

#[test]
fn every_value_of_a_tree_is_dropped_once_even_when_its_reader_panics() {
    within(LIMIT, "drops in a tree", || {
        let g = graph!(|drops: Arc<AtomicUsize>, noisy: bool| -> u64 {
            let a = make(drops.clone(), noisy);
            let b = make(drops, false);
            let fail = inspect_then_fail(&a);
            combine(fail, consume(b))
        });
        assert!(g.__runs_as_tree());
        for noisy in [false, true] {
            for scheduler in [Scheduler::Sync, Scheduler::Threads] {
                let drops = Arc::new(AtomicUsize::new(0));
                let error = g
                    .try_compute_with(scheduler, drops.clone(), noisy)
                    .expect_err("the reader panics");
                assert!(error.message().contains("the reader failed"), "{error}");
                // `a` was dropped once, while its reader's panic unwound (a panic in its
                // `Drop` then is caught, not an abort); `b` once if `consume` ran.
                let n = drops.load(Ordering::SeqCst);
                assert!(
                    (1..=2).contains(&n),
                    "{scheduler:?} noisy {noisy}: {n} drops"
                );
            }
        }
    });
}

#[test]
fn a_long_chain_is_straight_line_code() {
    within(LIMIT, "a long chain in a tree", || {
        // 300 single-input nodes: no join at all, so no nesting however long.
        let g = graph!(|x: u64| -> u64 {
            let mut y = step(x);
            for _ in 0..299 {
                y = step(y);
            }
            y
        });
        assert!(g.__runs_as_tree());
        assert_eq!(g.len(), 300);
        let mut want = step(5);
        for _ in 0..299 {
            want = step(want);
        }
        assert_eq!(g.compute(5), want);
        assert_eq!(g.compute_with(Scheduler::Sync, 5), want);
    });
}
