//! Adversarial probes of runs taken back onto their callers: a graph computed from
//! outside rayon's pool while every worker waits for a future runs on its caller's
//! thread, its joins offered to the pool (`engine::sync::run_taken_back`,
//! `join_outside`). Each test runs again in a child process of its own, with one or
//! two rayon threads made to wait for a gate's future (`support/taken_back.rs`), under
//! a watchdog; results are checked against plain sequential evaluation.

#[path = "support/taken_back.rs"]
mod taken_back;
#[path = "support/watchdog.rs"]
mod watchdog;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use taken_back::the_worker_waits_until;
use taskweave::prelude::*;
use taskweave::{NodeInfo, Observer, RunOptions, Scheduler, TaskError, TaskOutcome};
use watchdog::within;

const LIMIT: Duration = Duration::from_secs(100);

/// Set in the child process of each test.
const CHILD: &str = "TASKWEAVE_TAKEN_BACK_CHILD";

/// Runs `name` again in a process of its own with `threads` rayon threads; true in
/// the parent, which then has nothing else to do.
fn parent_runs_child(name: &str, threads: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return false;
    }
    taken_back::in_a_process_of_its_own(
        CHILD,
        name,
        &[
            ("RAYON_NUM_THREADS", threads),
            ("TASKWEAVE_WARNINGS", "off"),
        ],
    );
    true
}

/// A channel's sender handed out once: told when `count` reaches `at`.
struct FreeAt {
    count: AtomicUsize,
    at: usize,
    free: Mutex<Option<mpsc::Sender<()>>>,
}

impl FreeAt {
    /// The counter, and the receiver a gate's opener waits on.
    fn new(at: usize) -> (Arc<FreeAt>, mpsc::Receiver<()>) {
        let (free, freed) = mpsc::channel();
        let counter = Arc::new(FreeAt {
            count: AtomicUsize::new(0),
            at,
            free: Mutex::new(Some(free)),
        });
        (counter, freed)
    }

    fn tick(&self) {
        if self.count.fetch_add(1, SeqCst) == self.at {
            self.release();
        }
    }

    /// Frees the workers now, if not yet.
    fn release(&self) {
        if let Some(free) = self.free.lock().unwrap().take() {
            let _ = free.send(());
        }
    }
}

/// The sum of `range` by a binary tree of `delayed` additions, each leaf ticking `at`.
fn tree_sum(range: std::ops::Range<u64>, at: &Arc<FreeAt>) -> Delayed<u64> {
    if range.end - range.start == 1 {
        let (i, at) = (range.start, at.clone());
        return delayed(move || {
            at.tick();
            i
        })
        .call();
    }
    let mid = range.start + (range.end - range.start) / 2;
    delayed(|a: u64, b: u64| a + b)
        .call(tree_sum(range.start..mid, at), tree_sum(mid..range.end, at))
}

fn sum_of(range: std::ops::Range<u64>) -> u64 {
    range.sum()
}

// ---- meeting tasks after many offers ----------------------------------------------

static MET: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];
static FIRST_STARTED: Mutex<Option<mpsc::Sender<()>>> = Mutex::new(None);

/// One side of two tasks that each wait (up to 20 s) for the other to start.
fn meet_as(side: usize) -> bool {
    MET[side].store(true, SeqCst);
    if let Some(started) = FIRST_STARTED.lock().unwrap().take() {
        let _ = started.send(());
    }
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while !MET[1 - side].load(SeqCst) {
        if std::time::Instant::now() > until {
            return false;
        }
        std::thread::yield_now();
    }
    true
}

/// While rayon's only worker waits, a large graph is taken back first (its joins'
/// offers, taken back, stay queued: as many as the engine lets stay), then a graph of
/// two tasks that wait for each other to start; the gate opens once the first has
/// started, and the free worker must be able to take the second.
#[test]
fn tasks_meet_after_a_large_graph_taken_back_while_the_worker_waited() {
    if parent_runs_child(
        "tasks_meet_after_a_large_graph_taken_back_while_the_worker_waited",
        "1",
    ) {
        return;
    }
    let got = within(LIMIT, "meet after many offers", || {
        let (started, first_started) = mpsc::channel();
        *FIRST_STARTED.lock().unwrap() = Some(started);
        let opener = the_worker_waits_until(None, move || {
            let _ = first_started.recv();
        });
        let (never, _) = FreeAt::new(usize::MAX);
        let sum = tree_sum(0..2_000, &never).compute();
        let a = delayed(|| meet_as(0)).call();
        let b = delayed(|| meet_as(1)).call();
        let met = delayed(|a: bool, b: bool| [a, b]).call(a, b).compute();
        drop(FIRST_STARTED.lock().unwrap().take());
        opener.join().unwrap();
        (sum, met)
    });
    assert_eq!(got, (sum_of(0..2_000), [true, true]));
}

/// As above, the meeting graph a static one (a tree of joins).
#[test]
fn static_tasks_meet_after_a_large_graph_taken_back_while_the_worker_waited() {
    if parent_runs_child(
        "static_tasks_meet_after_a_large_graph_taken_back_while_the_worker_waited",
        "1",
    ) {
        return;
    }
    let got = within(LIMIT, "static meet after many offers", || {
        let (started, first_started) = mpsc::channel();
        *FIRST_STARTED.lock().unwrap() = Some(started);
        let opener = the_worker_waits_until(None, move || {
            let _ = first_started.recv();
        });
        let (never, _) = FreeAt::new(usize::MAX);
        let sum = tree_sum(0..2_000, &never).compute();
        let g = graph!(|x: u64| -> [bool; 2] {
            let a = side(x);
            let b = side(x + 1);
            pair(a, b)
        });
        let met = g.compute(0);
        drop(FIRST_STARTED.lock().unwrap().take());
        opener.join().unwrap();
        (sum, met)
    });
    assert_eq!(got, (sum_of(0..2_000), [true, true]));
}

#[delayed]
fn side(x: u64) -> bool {
    meet_as((x % 2) as usize)
}

#[delayed]
fn pair(a: bool, b: bool) -> [bool; 2] {
    [a, b]
}

// ---- observers --------------------------------------------------------------------

/// Counts each node's starts and ends, and the run's.
#[derive(Default)]
struct Counting {
    nodes: Mutex<Vec<(u32, u32)>>,
    graphs: AtomicUsize,
    ends: AtomicUsize,
    threads: Mutex<std::collections::HashSet<std::thread::ThreadId>>,
}

impl Observer for Counting {
    fn graph_started(&self, nodes: &[NodeInfo<'_>]) {
        self.graphs.fetch_add(1, SeqCst);
        *self.nodes.lock().unwrap() = vec![(0, 0); nodes.len()];
    }
    fn task_started(&self, node: u32, _info: &NodeInfo<'_>) {
        self.nodes.lock().unwrap()[node as usize].0 += 1;
        self.threads
            .lock()
            .unwrap()
            .insert(std::thread::current().id());
    }
    fn task_finished(&self, node: u32, _info: &NodeInfo<'_>, outcome: TaskOutcome) {
        assert!(matches!(outcome, TaskOutcome::Finished), "{outcome:?}");
        self.nodes.lock().unwrap()[node as usize].1 += 1;
    }
    fn graph_finished(&self, _result: Result<(), &TaskError>) {
        self.ends.fetch_add(1, SeqCst);
    }
}

impl Counting {
    /// Every node started and finished once, the run once; how many threads ran tasks.
    fn check(&self, what: &str) -> usize {
        let nodes = self.nodes.lock().unwrap();
        assert!(!nodes.is_empty(), "{what}: no nodes");
        for (i, &(s, f)) in nodes.iter().enumerate() {
            assert_eq!((s, f), (1, 1), "{what}: node {i} started/finished");
        }
        assert_eq!(
            (self.graphs.load(SeqCst), self.ends.load(SeqCst)),
            (1, 1),
            "{what}"
        );
        self.threads.lock().unwrap().len()
    }
}

/// Observed runs taken back (a dynamic graph, a static one run by the dispatcher),
/// the worker coming back midway: every task reported started and finished once.
#[test]
fn observers_see_every_task_of_a_taken_back_run_once() {
    if parent_runs_child("observers_see_every_task_of_a_taken_back_run_once", "2") {
        return;
    }
    within(LIMIT, "observed runs taken back", || {
        for free_at in [0, 300, usize::MAX] {
            let (at, freed) = FreeAt::new(free_at);
            let opener = the_worker_waits_until(None, move || {
                let _ = freed.recv();
            });
            let counting = Arc::new(Counting::default());
            let got = tree_sum(0..2_000, &at)
                .try_compute_with(RunOptions::new().observer(counting.clone()))
                .unwrap();
            let profiler = Arc::new(taskweave::Profiler::new());
            let again = tree_sum(0..500, &at)
                .try_compute_with(RunOptions::new().observer(profiler.clone()))
                .unwrap();
            at.release();
            opener.join().unwrap();
            assert_eq!((got, again), (sum_of(0..2_000), sum_of(0..500)));
            counting.check(&format!("dynamic, free at {free_at}"));
            let records = profiler.records();
            assert_eq!(records.len(), 999, "free at {free_at}");
            assert!(records.iter().all(|r| r.outcome == TaskOutcome::Finished));

            let (at, freed) = FreeAt::new(free_at.min(20));
            let opener = the_worker_waits_until(None, move || {
                let _ = freed.recv();
            });
            let counting = Arc::new(Counting::default());
            let shared = graph!(|x: u64| -> u64 {
                let mut spine = twice(x);
                let mut acc = twice(x);
                for i in 0..40 {
                    acc = plus(acc, plus(spine, i));
                    spine = plus(spine, i);
                }
                plus(acc, spine)
            });
            let shared_plain = {
                let (mut spine, mut acc) = (6u64, 6u64);
                for i in 0..40 {
                    acc += spine + i;
                    spine += i;
                }
                acc + spine
            };
            let got = shared.compute_with(RunOptions::new().observer(counting.clone()), 3);
            at.release();
            opener.join().unwrap();
            assert_eq!(got, shared_plain);
            counting.check(&format!("static, free at {free_at}"));
        }
    });
}

#[delayed]
fn twice(x: u64) -> u64 {
    2 * x
}

#[delayed]
fn plus(a: u64, b: u64) -> u64 {
    a + b
}

// ---- stop conditions and cancelled() ----------------------------------------------

/// A taken-back run stopped by its stop condition (set by a leaf, on the caller or
/// on the worker come back) fails; a long task sees `cancelled()`; the next run,
/// with no stop condition, is whole.
#[test]
fn a_taken_back_run_stops_when_asked_and_the_next_is_whole() {
    if parent_runs_child(
        "a_taken_back_run_stops_when_asked_and_the_next_is_whole",
        "1",
    ) {
        return;
    }
    within(LIMIT, "stopped runs taken back", || {
        for free_at in [0, 100, usize::MAX] {
            let (at, freed) = FreeAt::new(free_at);
            let opener = the_worker_waits_until(None, move || {
                let _ = freed.recv();
            });
            let stop = Arc::new(AtomicBool::new(false));
            let saw_cancel = Arc::new(AtomicBool::new(false));
            let leaves: Vec<Delayed<u64>> = (0..1_000u64)
                .map(|i| {
                    let (at, stop, saw) = (at.clone(), stop.clone(), saw_cancel.clone());
                    delayed(move || {
                        at.tick();
                        if i == 500 {
                            stop.store(true, SeqCst);
                            // A long task: returns once it sees the run stopped.
                            let until = std::time::Instant::now() + Duration::from_secs(20);
                            while !taskweave::cancelled() {
                                assert!(std::time::Instant::now() < until, "never cancelled");
                                std::thread::yield_now();
                            }
                            saw.store(true, SeqCst);
                        }
                        i
                    })
                    .call()
                })
                .collect();
            let total = delayed(|xs: Vec<u64>| xs.iter().sum::<u64>()).call(leaves);
            let flag = stop.clone();
            let stopped =
                total.try_compute_with(RunOptions::new().stop_when(move || flag.load(SeqCst)));
            assert!(stopped.is_err(), "free at {free_at}: {stopped:?}");
            assert!(saw_cancel.load(SeqCst), "free at {free_at}");
            // The next run, inside the same wait (or after it).
            let (never, _) = FreeAt::new(usize::MAX);
            assert_eq!(tree_sum(0..1_000, &never).compute(), sum_of(0..1_000));
            at.release();
            opener.join().unwrap();
        }
    });
}

// ---- failures on either side of an offered join --------------------------------------

/// A value whose `Drop` panics.
#[derive(Clone)]
struct PanicsOnDrop(u64);
impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("dropping {}", self.0);
        }
    }
}

/// Failing leaves at both ends of a tree (the caller's side and the offered side of
/// the top join), and values whose `Drop` panics, taken back with the worker waiting
/// throughout or coming back: each run fails with one of the failures it holds, and
/// the process goes on (the next run is whole).
#[test]
fn failures_on_both_sides_of_offered_joins_fail_the_run() {
    if parent_runs_child("failures_on_both_sides_of_offered_joins_fail_the_run", "1") {
        return;
    }
    within(LIMIT, "failures taken back", || {
        for free_at in [0, 10, usize::MAX] {
            let (at, freed) = FreeAt::new(free_at);
            let opener = the_worker_waits_until(None, move || {
                let _ = freed.recv();
            });
            let failing = |range: std::ops::Range<u64>, fails: [u64; 2]| {
                let leaves: Vec<Delayed<u64>> = range
                    .map(|i| {
                        let at = at.clone();
                        delayed(move || {
                            at.tick();
                            assert!(!fails.contains(&i), "leaf {i} fails");
                            i
                        })
                        .call()
                    })
                    .collect();
                let mut level = leaves;
                while level.len() > 1 {
                    level = level
                        .chunks(2)
                        .map(|c| match c {
                            [a, b] => delayed(|a: u64, b: u64| a + b).call(a, b),
                            [a] => a.clone(),
                            _ => unreachable!(),
                        })
                        .collect();
                }
                level.pop().unwrap()
            };
            let message = failing(0..256, [3, 250])
                .try_compute_with(RunOptions::new())
                .unwrap_err()
                .to_string();
            assert!(
                message.contains("leaf 3 fails") || message.contains("leaf 250 fails"),
                "free at {free_at}: {message}"
            );
            // Values whose drop panics, read by a task each.
            let dropped: Vec<Delayed<u64>> = (0..64u64)
                .map(|i| {
                    let made = delayed(move || PanicsOnDrop(i)).call();
                    delayed(|p: PanicsOnDrop| p.0).call(made)
                })
                .collect();
            let dropped = delayed(|xs: Vec<u64>| xs.iter().sum::<u64>())
                .call(dropped)
                .try_compute_with(RunOptions::new());
            let message = dropped.expect_err("a drop panics").to_string();
            assert!(message.contains("dropping"), "free at {free_at}: {message}");
            let (never, _) = FreeAt::new(usize::MAX);
            assert_eq!(tree_sum(0..300, &never).compute(), sum_of(0..300));
            at.release();
            opener.join().unwrap();
        }
    });
}

// ---- futures tasks computing graphs while the workers wait for them -------------------

/// The classic case: every rayon worker waits for a futures task's own future, and
/// that task computes graphs (its own `compute`, a `Client::compute`, a `persist`):
/// they still finish, on the task's thread.
#[test]
fn futures_tasks_compute_graphs_while_the_workers_wait_for_them() {
    if parent_runs_child(
        "futures_tasks_compute_graphs_while_the_workers_wait_for_them",
        "2",
    ) {
        return;
    }
    within(LIMIT, "futures tasks computing while waited for", || {
        let client = Client::builder()
            .threads(2)
            .name("classic")
            .build()
            .unwrap();
        let (go, gone) = mpsc::channel::<()>();
        let gone = Mutex::new(gone);
        let task = client.submit(
            move || {
                gone.lock().unwrap().recv().unwrap();
                let client = taskweave::get_client().unwrap();
                let (never, _) = FreeAt::new(usize::MAX);
                let a = tree_sum(0..1_000, &never).compute();
                let b = client.compute(tree_sum(0..1_000, &never)).result().unwrap();
                let persisted = client.persist(&tree_sum(0..500, &never));
                let c = delayed(|x: u64| x + 1).call(persisted).compute();
                let g = graph!(|x: u64| -> u64 {
                    let a = twice(x);
                    let b = twice(x);
                    plus(a, b)
                });
                a + b + c + g.compute(1)
            },
            (),
        );
        let (waiting, all_wait) = mpsc::channel();
        for _ in 0..rayon::current_num_threads() {
            let (task, waiting) = (task.clone(), waiting.clone());
            rayon::spawn(move || {
                waiting.send(()).unwrap();
                task.result().unwrap();
            });
        }
        for _ in 0..rayon::current_num_threads() {
            all_wait.recv().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
        go.send(()).unwrap();
        assert_eq!(
            task.result().unwrap(),
            2 * sum_of(0..1_000) + sum_of(0..500) + 1 + 4
        );
    });
}

// ---- nested runs --------------------------------------------------------------------

/// A taken-back dynamic run whose tasks compute static graphs, dynamic graphs and
/// `compute_on` a pool of the user's; and a static one whose tasks compute dynamic
/// graphs. The worker comes back midway, or not.
#[test]
fn nested_runs_inside_a_taken_back_run() {
    if parent_runs_child("nested_runs_inside_a_taken_back_run", "1") {
        return;
    }
    within(LIMIT, "nested runs taken back", || {
        let pool = Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap(),
        );
        for free_at in [0, 40, usize::MAX] {
            let (at, freed) = FreeAt::new(free_at);
            let opener = the_worker_waits_until(None, move || {
                let _ = freed.recv();
            });
            let leaves: Vec<Delayed<u64>> = (0..100u64)
                .map(|i| {
                    let (at, pool) = (at.clone(), pool.clone());
                    delayed(move || {
                        at.tick();
                        let g = graph!(|x: u64| -> u64 {
                            let a = twice(x);
                            let b = plus(x, x);
                            plus(a, b)
                        });
                        let (never, _) = FreeAt::new(usize::MAX);
                        match i % 3 {
                            0 => g.compute(i) / 4,
                            1 => tree_sum(0..8, &never).compute() - sum_of(0..8) + i,
                            _ => g.compute_on(&pool, i) / 4,
                        }
                    })
                    .call()
                })
                .collect();
            let total = delayed(|xs: Vec<u64>| xs.iter().sum::<u64>())
                .call(leaves)
                .compute();
            assert_eq!(total, sum_of(0..100), "free at {free_at}");
            let outer = graph!(|x: u64| -> u64 {
                let a = nested_dynamic(x);
                let b = nested_dynamic(x + 1);
                let c = nested_dynamic(x + 2);
                let d = plus(a, b);
                plus(d, c)
            });
            assert_eq!(outer.compute(10), 3 * sum_of(0..16) + 33);
            at.release();
            opener.join().unwrap();
        }
    });
}

#[delayed]
fn nested_dynamic(x: u64) -> u64 {
    let (never, _) = FreeAt::new(usize::MAX);
    tree_sum(0..16, &never).compute() + x
}

// ---- size ---------------------------------------------------------------------------

/// 100,000 leaves read by one task, and a 100,000-long chain, taken back onto a
/// 256 KiB thread while the worker waits throughout or comes back midway.
#[test]
fn wide_and_deep_graphs_taken_back_onto_a_small_thread() {
    if parent_runs_child("wide_and_deep_graphs_taken_back_onto_a_small_thread", "1") {
        return;
    }
    within(LIMIT, "wide and deep taken back", || {
        for free_at in [5_000, usize::MAX] {
            let (at, freed) = FreeAt::new(free_at);
            let opener = the_worker_waits_until(None, move || {
                let _ = freed.recv();
            });
            let counted = at.clone();
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    const N: u64 = 100_000;
                    let leaves: Vec<Delayed<u64>> = (0..N)
                        .map(|i| {
                            let at = counted.clone();
                            delayed(move || {
                                at.tick();
                                i
                            })
                            .call()
                        })
                        .collect();
                    let wide = delayed(|xs: Vec<u64>| xs.iter().sum::<u64>())
                        .call(leaves)
                        .compute();
                    assert_eq!(wide, sum_of(0..N));
                    let mut chain = delayed(|| 0u64).call();
                    for _ in 0..N {
                        let at = counted.clone();
                        chain = delayed(move |x: u64| {
                            at.tick();
                            x + 1
                        })
                        .call(chain);
                    }
                    assert_eq!(chain.compute(), N);
                })
                .unwrap()
                .join()
                .unwrap();
            at.release();
            opener.join().unwrap();
        }
    });
}

// ---- many callers -------------------------------------------------------------------

/// Eight threads each computing graphs (dynamic and static, some `Scheduler::Sync`) while both workers wait, and come back midway.
#[test]
fn many_threads_computing_taken_back_graphs_at_once() {
    if parent_runs_child("many_threads_computing_taken_back_graphs_at_once", "2") {
        return;
    }
    within(LIMIT, "many callers taken back", || {
        for free_at in [1_000, usize::MAX] {
            let (at, freed) = FreeAt::new(free_at);
            let opener = the_worker_waits_until(None, move || {
                let _ = freed.recv();
            });
            let threads: Vec<_> = (0..8u64)
                .map(|t| {
                    let at = at.clone();
                    std::thread::spawn(move || {
                        for round in 0..5u64 {
                            let sum = tree_sum(0..200 + t + round, &at);
                            let options = match round % 2 {
                                0 => RunOptions::new(),
                                _ => RunOptions::new().scheduler(Scheduler::Sync),
                            };
                            assert_eq!(
                                sum.try_compute_with(options).unwrap(),
                                sum_of(0..200 + t + round)
                            );
                            let g = graph!(|x: u64| -> u64 {
                                let a = twice(x);
                                let b = plus(x, x);
                                let c = plus(a, b);
                                plus(c, a)
                            });
                            assert_eq!(g.compute(t), 6 * t);
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
            at.release();
            opener.join().unwrap();
        }
    });
}

// ---- pools of the user's ------------------------------------------------------------

/// `compute_on` one-thread pools whose worker waits, each pool dropped right after,
/// from the test's thread and across pools (from a worker of another pool).
#[test]
fn compute_on_pools_dropped_right_after_a_taken_back_run() {
    if parent_runs_child("compute_on_pools_dropped_right_after_a_taken_back_run", "1") {
        return;
    }
    within(LIMIT, "compute_on, pools dropped", || {
        let other = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let g = graph!(|x: u64| -> u64 {
            let mut acc = twice(x);
            for i in 0..30 {
                acc = plus(acc, twice(i));
            }
            acc
        });
        let plain = |x: u64| (0..30).fold(2 * x, |acc, i| acc + 2 * i);
        for round in 0..10u64 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap();
            let opener = the_worker_waits_until(Some(&pool), || ());
            let got = if round % 2 == 0 {
                g.compute_on(&pool, round)
            } else {
                other.install(|| g.compute_on(&pool, round))
            };
            drop(pool);
            opener.join().unwrap();
            assert_eq!(got, plain(round), "round {round}");
        }
    });
}

// ---- hooks that panic -----------------------------------------------------------------

/// Panics in `task_started` of one node.
struct PanicsAt(u32);
impl Observer for PanicsAt {
    fn task_started(&self, node: u32, _info: &NodeInfo<'_>) {
        assert!(node != self.0, "the hook of node {node}");
    }
}

/// An observer's hook and a stop predicate that panic in runs taken back (the
/// worker waiting throughout, or coming back early): the run fails, naming them, and
/// the next run is whole; a progress bar's counts are whole.
#[test]
fn panicking_hooks_and_progress_on_taken_back_runs() {
    if parent_runs_child("panicking_hooks_and_progress_on_taken_back_runs", "1") {
        return;
    }
    within(LIMIT, "hooks taken back", || {
        for free_at in [3, usize::MAX] {
            let (at, freed) = FreeAt::new(free_at);
            let opener = the_worker_waits_until(None, move || {
                let _ = freed.recv();
            });
            for node in [0, 100, 300, 510] {
                let message = tree_sum(0..256, &at)
                    .try_compute_with(RunOptions::new().observer(Arc::new(PanicsAt(node))))
                    .unwrap_err()
                    .to_string();
                assert!(
                    message.contains(&format!("the hook of node {node}")),
                    "free at {free_at}: {message}"
                );
            }
            let asked = Arc::new(AtomicUsize::new(0));
            let counted = asked.clone();
            let message = tree_sum(0..256, &at)
                .try_compute_with(RunOptions::new().stop_when(move || {
                    assert!(counted.fetch_add(1, SeqCst) != 200, "the stop predicate");
                    false
                }))
                .unwrap_err()
                .to_string();
            assert!(message.contains("the stop predicate"), "{message}");
            let progress = Arc::new(taskweave::Progress::hidden());
            let got = tree_sum(0..256, &at)
                .try_compute_with(RunOptions::new().observer(progress.clone()))
                .unwrap();
            assert_eq!(got, sum_of(0..256));
            assert_eq!((progress.done(), progress.total()), (511, 511));
            let (never, _) = FreeAt::new(usize::MAX);
            assert_eq!(tree_sum(0..300, &never).compute(), sum_of(0..300));
            at.release();
            opener.join().unwrap();
        }
    });
}

// ---- waits inside taken-back runs ------------------------------------------------------

/// A taken-back run whose tasks wait for futures whose tasks compute graphs, and
/// whose tasks, on a worker come back, make it wait for a future again now and then:
/// the workers come back and leave again many times during the run.
#[test]
fn workers_come_back_and_leave_again_during_a_taken_back_run() {
    if parent_runs_child(
        "workers_come_back_and_leave_again_during_a_taken_back_run",
        "2",
    ) {
        return;
    }
    within(LIMIT, "workers coming and going", || {
        let client = Client::builder().threads(2).name("cycles").build().unwrap();
        for free_at in [0, 50, usize::MAX] {
            let (at, freed) = FreeAt::new(free_at);
            let opener = the_worker_waits_until(None, move || {
                let _ = freed.recv();
            });
            let leaves: Vec<Delayed<u64>> = (0..300u64)
                .map(|i| {
                    let (at, client) = (at.clone(), client.clone());
                    delayed(move || {
                        at.tick();
                        if i % 7 == 0 {
                            // A future whose task computes a graph, waited for here.
                            let f = client.submit(
                                move |x: u64| {
                                    let (never, _) = FreeAt::new(usize::MAX);
                                    tree_sum(0..10, &never).compute() - sum_of(0..10) + x
                                },
                                (i,),
                            );
                            return f.result().unwrap();
                        }
                        if i % 5 == 0 && rayon::current_thread_index().is_some() {
                            // A worker waits for a future again for a while.
                            let f = client.submit(
                                |x: u64| {
                                    std::thread::sleep(Duration::from_millis(1));
                                    x
                                },
                                (i,),
                            );
                            return f.result().unwrap();
                        }
                        i
                    })
                    .call()
                })
                .collect();
            let mut level = leaves;
            while level.len() > 1 {
                level = level
                    .chunks(2)
                    .map(|c| match c {
                        [a, b] => delayed(|a: u64, b: u64| a + b).call(a, b),
                        [a] => a.clone(),
                        _ => unreachable!(),
                    })
                    .collect();
            }
            let got = level.pop().unwrap().compute();
            at.release();
            opener.join().unwrap();
            assert_eq!(got, sum_of(0..300), "free at {free_at}");
        }
    });
}

// ---- stack ----------------------------------------------------------------------------

/// A graph whose task computes a graph whose task computes one … 200 deep.
fn nested(depth: u64) -> u64 {
    if depth == 0 {
        return 0;
    }
    let inner = delayed(move || nested(depth - 1)).call();
    let other = delayed(move || depth).call();
    delayed(|a: u64, b: u64| a + b).call(inner, other).compute()
}

#[delayed]
fn block(x: u64) -> [u64; 2048] {
    [x; 2048]
}

#[delayed]
fn add_blocks(a: [u64; 2048], b: [u64; 2048]) -> [u64; 2048] {
    let mut out = a;
    for (o, b) in out.iter_mut().zip(b) {
        *o += b;
    }
    out
}

/// Computes nested 200 deep, and a tree of 16 KiB values 12 joins deep, taken back
/// onto a 256 KiB thread while the worker waits throughout or comes back early: the
/// runs nest on the caller's stack, and must grow it rather than overflow.
#[test]
fn nested_runs_and_large_values_taken_back_onto_a_small_thread() {
    if parent_runs_child(
        "nested_runs_and_large_values_taken_back_onto_a_small_thread",
        "1",
    ) {
        return;
    }
    within(LIMIT, "nested and large taken back", || {
        for free_at in [20, usize::MAX] {
            let (at, freed) = FreeAt::new(free_at);
            let opener = the_worker_waits_until(None, move || {
                let _ = freed.recv();
            });
            let ticking = at.clone();
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    let leaves: Vec<Delayed<u64>> = (0..40u64)
                        .map(|i| {
                            let at = ticking.clone();
                            delayed(move || {
                                at.tick();
                                nested(if i == 0 { 200 } else { 2 })
                            })
                            .call()
                        })
                        .collect();
                    let got = delayed(|xs: Vec<u64>| xs.iter().sum::<u64>())
                        .call(leaves)
                        .compute();
                    assert_eq!(got, sum_of(0..201) + 39 * 3);
                    let comb = graph!(|x: u64| -> [u64; 2048] {
                        let mut acc = block(x);
                        for i in 0..12 {
                            acc = add_blocks(acc, block(i));
                        }
                        acc
                    });
                    let got = comb.compute(1);
                    assert!(got.iter().all(|&v| v == 1 + sum_of(0..12)));
                })
                .unwrap()
                .join()
                .unwrap();
            at.release();
            opener.join().unwrap();
        }
    });
}

// ---- across pools ----------------------------------------------------------------------

/// `compute_on` a one-thread pool from workers of another, many times, while the
/// target's worker waits (the run taken back onto the calling worker) or is free,
/// with the calling pool busy with other work meanwhile; the runs' tasks compute
/// graphs on the global pool too.
#[test]
fn compute_on_across_pools_while_the_target_waits_or_not() {
    if parent_runs_child("compute_on_across_pools_while_the_target_waits_or_not", "2") {
        return;
    }
    within(LIMIT, "compute_on across pools", || {
        let callers = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let g = graph!(|x: u64| -> u64 {
            let a = twice(x);
            let b = global_sum(x);
            let c = plus(a, b);
            plus(c, a)
        });
        let plain = |x: u64| 4 * x + sum_of(0..50) + x;
        for round in 0..6u64 {
            let target = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap();
            let (free, freed) = mpsc::channel::<()>();
            let opener = (round % 2 == 0).then(|| {
                the_worker_waits_until(Some(&target), move || {
                    let _ = freed.recv();
                })
            });
            let got: Vec<u64> = callers.install(|| {
                use rayon::prelude::*;
                (0..16u64)
                    .into_par_iter()
                    .map(|i| g.compute_on(&target, i))
                    .collect()
            });
            drop(free);
            if let Some(opener) = opener {
                opener.join().unwrap();
            }
            drop(target);
            assert_eq!(got, (0..16).map(plain).collect::<Vec<_>>(), "round {round}");
        }
    });
}

#[delayed]
fn global_sum(x: u64) -> u64 {
    let (never, _) = FreeAt::new(usize::MAX);
    tree_sum(0..50, &never).compute() + x
}

// ---- what a run leaves behind on its caller's thread -----------------------------------

/// After runs taken back that stopped, failed or panicked in a hook, the caller's
/// thread is as before: `cancelled()` is false there, and a tree run with an
/// observer (every node reported once) and a plain run are whole.
#[test]
fn a_caller_thread_is_clean_after_taken_back_runs_that_stopped_or_failed() {
    if parent_runs_child(
        "a_caller_thread_is_clean_after_taken_back_runs_that_stopped_or_failed",
        "1",
    ) {
        return;
    }
    within(LIMIT, "caller clean after taken-back runs", || {
        for free_at in [5, usize::MAX] {
            let (at, freed) = FreeAt::new(free_at);
            let opener = the_worker_waits_until(None, move || {
                let _ = freed.recv();
            });
            let stop = Arc::new(AtomicBool::new(false));
            let (flag, set) = (stop.clone(), stop.clone());
            let leaves: Vec<Delayed<u64>> = (0..200u64)
                .map(|i| {
                    let (at, set) = (at.clone(), set.clone());
                    delayed(move || {
                        at.tick();
                        if i == 150 {
                            set.store(true, SeqCst);
                        }
                        i
                    })
                    .call()
                })
                .collect();
            let stopped = delayed(|xs: Vec<u64>| xs.iter().sum::<u64>())
                .call(leaves)
                .try_compute_with(RunOptions::new().stop_when(move || flag.load(SeqCst)));
            assert!(stopped.is_err());
            assert!(!taskweave::cancelled(), "free at {free_at}");
            let failed = tree_sum(0..64, &at)
                .try_compute_with(RunOptions::new().observer(Arc::new(PanicsAt(40))));
            assert!(failed.is_err());
            assert!(!taskweave::cancelled(), "free at {free_at}");
            let tree = graph!(|x: u64| -> u64 {
                let mut acc = twice(x);
                for i in 0..20 {
                    acc = plus(acc, twice(i));
                }
                acc
            });
            assert!(tree.__runs_as_tree());
            let counting = Arc::new(Counting::default());
            let got = tree.compute_with(RunOptions::new().observer(counting.clone()), 2);
            assert_eq!(got, (0..20).fold(4, |acc, i| acc + 2 * i));
            counting.check(&format!("tree, free at {free_at}"));
            let (never, _) = FreeAt::new(usize::MAX);
            assert_eq!(tree_sum(0..100, &never).compute(), sum_of(0..100));
            at.release();
            opener.join().unwrap();
        }
    });
}

// ---- runs once, dropped once --------------------------------------------------------------

/// Values made and dropped, counted.
static MADE: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicUsize = AtomicUsize::new(0);

/// A counted value.
#[derive(Debug)]
struct Counted(u64);
impl Counted {
    fn new(v: u64) -> Counted {
        MADE.fetch_add(1, SeqCst);
        Counted(v)
    }
}
impl Clone for Counted {
    fn clone(&self) -> Counted {
        Counted::new(self.0)
    }
}
impl Drop for Counted {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, SeqCst);
    }
}

#[delayed]
fn counted(x: u64) -> Counted {
    Counted::new(x)
}

#[delayed]
fn add_counted(a: Counted, b: Counted) -> Counted {
    Counted::new(a.0 + b.0)
}

#[delayed]
fn fails_on(a: Counted, at: u64) -> Counted {
    assert!(a.0 != at, "counted {at} fails");
    a
}

/// Graphs of counted values (dynamic and static, read once and twice), some failing,
/// taken back while the worker waits or comes back midway: every task runs once
/// (counted per task), and every value made is dropped once by the time the compute
/// returns.
#[test]
fn every_task_runs_once_and_every_value_drops_once_when_taken_back() {
    if parent_runs_child(
        "every_task_runs_once_and_every_value_drops_once_when_taken_back",
        "1",
    ) {
        return;
    }
    within(LIMIT, "runs once, drops once", || {
        for free_at in [0, 30, 200, usize::MAX] {
            for fail in [None, Some(7u64), Some(120)] {
                let (at, freed) = FreeAt::new(free_at);
                let opener = the_worker_waits_until(None, move || {
                    let _ = freed.recv();
                });
                let runs: Arc<Vec<AtomicUsize>> =
                    Arc::new((0..256).map(|_| AtomicUsize::new(0)).collect());
                let leaves: Vec<Delayed<Counted>> = (0..256u64)
                    .map(|i| {
                        let (at, runs) = (at.clone(), runs.clone());
                        delayed(move || {
                            at.tick();
                            runs[i as usize].fetch_add(1, SeqCst);
                            assert!(fail != Some(i), "leaf {i} fails");
                            Counted::new(i)
                        })
                        .call()
                    })
                    .collect();
                // Each leaf read twice: by the sum and by a pair.
                let pairs: Vec<Delayed<u64>> = leaves
                    .chunks(2)
                    .map(|c| delayed(|a: Counted, b: Counted| a.0 * b.0).call(&c[0], &c[1]))
                    .collect();
                let sum =
                    delayed(|xs: Vec<Counted>| xs.iter().map(|c| c.0).sum::<u64>()).call(leaves);
                let products = delayed(|xs: Vec<u64>| xs.iter().sum::<u64>()).call(pairs);
                let got = taskweave::compute_with(RunOptions::new(), (&sum, &products));
                drop((sum, products));
                let what = format!("free at {free_at}, fail {fail:?}");
                match fail {
                    None => {
                        let expected_products: u64 = (0..128u64).map(|k| 2 * k * (2 * k + 1)).sum();
                        assert_eq!(got.unwrap(), (sum_of(0..256), expected_products), "{what}");
                        assert!(runs.iter().all(|r| r.load(SeqCst) == 1), "{what}");
                    }
                    Some(f) => {
                        let message = got.unwrap_err().to_string();
                        assert!(
                            message.contains(&format!("leaf {f} fails")),
                            "{what}: {message}"
                        );
                        assert!(runs.iter().all(|r| r.load(SeqCst) <= 1), "{what}");
                    }
                }
                let g = graph!(|x: u64| -> u64 {
                    let mut acc = counted(x);
                    let mut spine = counted(x);
                    for i in 0..30 {
                        let c = counted(i);
                        acc = add_counted(acc, c);
                        spine = add_counted(spine, fails_on(counted(i), 99));
                    }
                    let both = add_counted(acc, spine);
                    both_value(both)
                });
                assert_eq!(g.compute(1), 2 + 2 * sum_of(0..30), "{what}");
                at.release();
                opener.join().unwrap();
                assert_eq!(MADE.load(SeqCst), DROPPED.load(SeqCst), "{what}");
            }
        }
    });
}

#[delayed]
fn both_value(c: Counted) -> u64 {
    c.0
}

/// The classic case with a graph task using rayon's `par_iter`: the run is taken
/// back onto the futures task's thread, and the `par_iter` there, outside rayon's
/// pool, queues its work on the pool, whose every worker waits for the very future
/// of that task. It waited for ever (a futures task's own `par_iter` while rayon's
/// workers wait for its future did so too). Now a worker asleep in a wait for a
/// future runs the work queued on its pool while every worker waits so (the futures
/// pool's `sleep_on_rayon`): the `par_iter` ends, and so does the task.
#[test]
fn par_iter_in_a_task_of_a_run_taken_back_for_a_futures_task() {
    if parent_runs_child(
        "par_iter_in_a_task_of_a_run_taken_back_for_a_futures_task",
        "1",
    ) {
        return;
    }
    within(Duration::from_secs(20), "par_iter taken back", || {
        let client = Client::builder()
            .threads(2)
            .name("classic")
            .build()
            .unwrap();
        let (go, gone) = mpsc::channel::<()>();
        let gone = Mutex::new(gone);
        let task = client.submit(
            move || {
                gone.lock().unwrap().recv().unwrap();
                let leaves: Vec<Delayed<u64>> = (0..4u64)
                    .map(|i| {
                        delayed(move || {
                            use rayon::prelude::*;
                            (0..100u64).into_par_iter().map(|x| x + i).sum::<u64>()
                        })
                        .call()
                    })
                    .collect();
                delayed(|xs: Vec<u64>| xs.iter().sum::<u64>())
                    .call(leaves)
                    .compute()
            },
            (),
        );
        let (waiting, all_wait) = mpsc::channel();
        for _ in 0..rayon::current_num_threads() {
            let (task, waiting) = (task.clone(), waiting.clone());
            rayon::spawn(move || {
                waiting.send(()).unwrap();
                task.result().unwrap();
            });
        }
        for _ in 0..rayon::current_num_threads() {
            all_wait.recv().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
        go.send(()).unwrap();
        assert_eq!(task.result().unwrap(), 4 * sum_of(0..100) + 600);
    });
}

// ---- following runs ------------------------------------------------------------------------

/// A run nested in a task of a taken-back run, following it
/// (`stop_when(taskweave::cancelled)`): its first task stops the outer run, and its
/// tasks, on the caller or on the worker come back, see `cancelled()` and return; both
/// runs fail, and the caller's next run is whole.
#[test]
fn a_following_run_nested_in_a_taken_back_run_stops_with_it() {
    if parent_runs_child(
        "a_following_run_nested_in_a_taken_back_run_stops_with_it",
        "1",
    ) {
        return;
    }
    within(LIMIT, "following runs taken back", || {
        for free_at in [0, 3, usize::MAX] {
            let (at, freed) = FreeAt::new(free_at);
            let opener = the_worker_waits_until(None, move || {
                let _ = freed.recv();
            });
            let stop = Arc::new(AtomicBool::new(false));
            let nested_failed = Arc::new(AtomicBool::new(false));
            let leaves: Vec<Delayed<u64>> = (0..6u64)
                .map(|i| {
                    let (at, stop, nested_failed) =
                        (at.clone(), stop.clone(), nested_failed.clone());
                    delayed(move || {
                        at.tick();
                        if i != 2 {
                            return i;
                        }
                        let inner: Vec<Delayed<u64>> = (0..20u64)
                            .map(|j| {
                                let (at, stop) = (at.clone(), stop.clone());
                                delayed(move || {
                                    at.tick();
                                    stop.store(true, SeqCst);
                                    let until = std::time::Instant::now() + Duration::from_secs(20);
                                    while !taskweave::cancelled() {
                                        assert!(
                                            std::time::Instant::now() < until,
                                            "nested task {j} never saw the run stop"
                                        );
                                        std::thread::yield_now();
                                    }
                                    j
                                })
                                .call()
                            })
                            .collect();
                        let got = delayed(|xs: Vec<u64>| xs.iter().sum::<u64>())
                            .call(inner)
                            .try_compute_with(RunOptions::new().stop_when(taskweave::cancelled));
                        if let Err(e) = &got {
                            assert!(!e.to_string().contains("never saw"), "{e}");
                            nested_failed.store(true, SeqCst);
                        }
                        got.unwrap_or(0)
                    })
                    .call()
                })
                .collect();
            let flag = stop.clone();
            let outer = delayed(|xs: Vec<u64>| xs.iter().sum::<u64>())
                .call(leaves)
                .try_compute_with(RunOptions::new().stop_when(move || flag.load(SeqCst)));
            assert!(outer.is_err(), "free at {free_at}: {outer:?}");
            assert!(nested_failed.load(SeqCst), "free at {free_at}");
            assert!(!taskweave::cancelled());
            let (never, _) = FreeAt::new(usize::MAX);
            assert_eq!(tree_sum(0..100, &never).compute(), sum_of(0..100));
            at.release();
            opener.join().unwrap();
        }
    });
}

#[delayed]
fn on_pool(x: u64, pool: Arc<rayon::ThreadPool>) -> u64 {
    let inner = graph!(|x: u64| -> u64 {
        let a = twice(x);
        let b = twice(x);
        plus(a, b)
    });
    inner.compute_on(&pool, x)
}

/// `compute_on` ping-pong between two one-thread pools: a run on pool B, computed
/// from pool A's worker, whose tasks `compute_on` pool A (whose only worker waits in
/// the first `compute_on` meanwhile); with B's worker waiting for a future (the outer
/// run taken back onto A's worker) or not.
#[test]
fn compute_on_ping_pong_between_two_one_thread_pools() {
    if parent_runs_child("compute_on_ping_pong_between_two_one_thread_pools", "1") {
        return;
    }
    within(LIMIT, "compute_on ping-pong", || {
        let one = || {
            Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .build()
                    .unwrap(),
            )
        };
        let (a, b) = (one(), one());
        let outer = graph!(|x: u64, pool: Arc<rayon::ThreadPool>| -> u64 {
            let l = on_pool(x, pool);
            let r = on_pool(x + 1, pool);
            plus(l, r)
        });
        for round in 0..4u64 {
            let (free, freed) = mpsc::channel::<()>();
            let opener = (round % 2 == 1).then(|| {
                the_worker_waits_until(Some(&b), move || {
                    let _ = freed.recv();
                })
            });
            let got = a.install(|| outer.compute_on(&b, round, a.clone()));
            drop(free);
            if let Some(opener) = opener {
                opener.join().unwrap();
            }
            assert_eq!(got, 4 * round + 4 * (round + 1), "round {round}");
        }
    });
}

#[delayed]
fn inner_fails(x: u64) -> u64 {
    let g = graph!(|x: u64| -> u64 {
        let a = twice(x);
        let b = fails_at_ten(a);
        plus(a, b)
    });
    g.try_compute_with(RunOptions::new(), x)
        .unwrap_or_else(|e| e.resume())
}

#[delayed]
fn fails_at_ten(x: u64) -> u64 {
    assert!(x != 10, "ten is too many");
    x
}

/// A failure two runs deep (a static graph's task computing one whose task fails),
/// static and dynamic outer runs, taken back while the worker waits, and again with
/// the worker free: the same message both times.
#[test]
fn a_nested_failure_reads_the_same_taken_back_or_not() {
    if parent_runs_child("a_nested_failure_reads_the_same_taken_back_or_not", "1") {
        return;
    }
    within(LIMIT, "nested failure taken back", || {
        let outer = graph!(|x: u64| -> u64 {
            let a = inner_fails(x);
            let b = twice(x);
            plus(a, b)
        });
        let messages = |what: &str| {
            let static_run = outer.try_compute_with(RunOptions::new(), 5).unwrap_err();
            let dynamic_run = delay!(plus(delay!(inner_fails(5)), delay!(twice(1))))
                .try_compute_with(RunOptions::new())
                .unwrap_err();
            let out = (static_run.to_string(), dynamic_run.to_string());
            assert!(out.0.contains("ten is too many"), "{what}: {}", out.0);
            assert!(out.1.contains("ten is too many"), "{what}: {}", out.1);
            out
        };
        let (done, run_done) = mpsc::channel::<()>();
        let opener = the_worker_waits_until(None, move || {
            let _ = run_done.recv();
        });
        let taken_back = messages("taken back");
        done.send(()).unwrap();
        opener.join().unwrap();
        let free = messages("free");
        assert_eq!(taken_back, free);
    });
}

/// Computes graphs when dropped: at its thread's end, as a thread-local.
struct ComputesOnDrop(mpsc::Sender<(u64, u64)>);
impl Drop for ComputesOnDrop {
    fn drop(&mut self) {
        let (never, _) = FreeAt::new(usize::MAX);
        let dynamic = tree_sum(0..300, &never).compute();
        let g = graph!(|x: u64| -> u64 {
            let a = twice(x);
            let b = twice(x);
            plus(a, b)
        });
        let _ = self.0.send((dynamic, g.compute(2)));
    }
}

std::thread_local! {
    static AT_EXIT: std::cell::RefCell<Option<ComputesOnDrop>> = const { std::cell::RefCell::new(None) };
}

/// A thread-local's destructor computes graphs at its thread's end while rayon's
/// worker waits: the runs are taken back onto a thread whose other thread-locals may
/// be gone, and their joins offered all the same.
#[test]
fn graphs_taken_back_in_a_thread_local_destructor() {
    if parent_runs_child("graphs_taken_back_in_a_thread_local_destructor", "1") {
        return;
    }
    within(LIMIT, "taken back at thread exit", || {
        for free in [false, true] {
            let (done, run_done) = mpsc::channel::<()>();
            let opener = the_worker_waits_until(None, move || {
                let _ = run_done.recv();
            });
            let (tell, told) = mpsc::channel();
            std::thread::spawn(move || {
                AT_EXIT.with(|slot| *slot.borrow_mut() = Some(ComputesOnDrop(tell)));
            })
            .join()
            .unwrap();
            if free {
                done.send(()).unwrap();
            }
            assert_eq!(told.recv().unwrap(), (sum_of(0..300), 8));
            drop(done);
            opener.join().unwrap();
        }
    });
}
