//! Panicking tasks, `?` early exits, dropping of intermediates, and parallelism.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::Duration;

use taskweave::prelude::*;

#[path = "support/watchdog.rs"]
mod watchdog;

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a pool")
}

// ---- drop counting ------------------------------------------------------------

/// Every live `Tracked` value's id; ids are never reused, so a double drop is caught.
static LIVE: Mutex<Option<HashSet<u64>>> = Mutex::new(None);
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);
static DOUBLE_DROPS: AtomicUsize = AtomicUsize::new(0);
/// Tests in this file that track values run one at a time.
static TRACKING: Mutex<()> = Mutex::new(());

#[derive(Debug)]
struct Tracked {
    id: u64,
    value: i64,
}

impl Tracked {
    fn new(value: i64) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::SeqCst) as u64;
        LIVE.lock()
            .unwrap()
            .get_or_insert_with(HashSet::new)
            .insert(id);
        Tracked { id, value }
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        Tracked::new(self.value)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let removed = LIVE
            .lock()
            .unwrap()
            .get_or_insert_with(HashSet::new)
            .remove(&self.id);
        if !removed {
            DOUBLE_DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn live() -> usize {
    LIVE.lock().unwrap().get_or_insert_with(HashSet::new).len()
}

#[delayed]
fn make(v: i64) -> Tracked {
    Tracked::new(v)
}

#[delayed]
fn bump(t: Tracked) -> Tracked {
    Tracked::new(t.value + 1)
}

#[delayed]
fn peek(t: &Tracked) -> i64 {
    t.value
}

#[delayed]
fn merge(a: Tracked, b: Tracked) -> Tracked {
    Tracked::new(a.value + b.value)
}

#[delayed]
fn explode(t: &Tracked) -> Tracked {
    if t.value >= 0 {
        panic!("exploded on {}", t.value);
    }
    Tracked::new(0)
}

#[delayed]
fn check_positive(t: &Tracked) -> Result<i64, String> {
    if t.value > 0 {
        Ok(t.value)
    } else {
        Err(format!("{} is not positive", t.value))
    }
}

/// Runs `f` with tracking isolated, then checks nothing leaked or dropped twice.
fn tracked<R>(f: impl FnOnce() -> R) -> R {
    let _guard = TRACKING.lock().unwrap_or_else(|e| e.into_inner());
    let before = live();
    DOUBLE_DROPS.store(0, Ordering::SeqCst);
    let out = f();
    assert_eq!(
        DOUBLE_DROPS.load(Ordering::SeqCst),
        0,
        "a value was dropped twice"
    );
    assert_eq!(live(), before, "a value was leaked");
    out
}

#[test]
fn every_intermediate_dropped_once_on_success() {
    tracked(|| {
        let g = graph!(|x: i64| -> i64 {
            let a = make(x);
            let b = bump(a);
            let c = make(x + 10);
            let d = merge(b, c);
            let e = bump(d);
            peek(&e) + peek(&e)
        });
        for scheduler in [Scheduler::Threads, Scheduler::Sync] {
            assert_eq!(g.compute_with(scheduler, 1), 2 * (1 + 1 + 11 + 1));
        }
    });
}

#[test]
fn shared_values_cloned_and_dropped_once() {
    tracked(|| {
        let g = graph!(|x: i64| -> i64 {
            let a = make(x);
            let b = bump(a);
            let c = bump(a);
            let d = merge(a, b);
            peek(&c) + peek(&d) + peek(&a)
        });
        for scheduler in [Scheduler::Threads, Scheduler::Sync] {
            assert_eq!(g.compute_with(scheduler, 5), 6 + 11 + 5);
        }
    });
}

#[test]
fn intermediates_are_dropped_as_soon_as_their_last_consumer_ran() {
    #[delayed]
    fn live_count(_after: i64) -> usize {
        live()
    }
    tracked(|| {
        let g = graph!(|x: i64| -> usize {
            let a = make(x);
            let b = bump(a);
            let c = bump(b);
            let v = peek(&c);
            live_count(v)
        });
        let base = live();
        // When `live_count` runs, every `Tracked` of the chain has been dropped.
        assert_eq!(g.compute_with(Scheduler::Sync, 1), base);
        assert_eq!(g.compute(1), base);
    });
}

#[test]
fn panic_names_the_task_and_call_site() {
    tracked(|| {
        let g = graph!(|x: i64| -> i64 {
            let a = make(x);
            let b = explode(&a);
            peek(&b)
        });
        let line = line!() - 3;
        for scheduler in [Scheduler::Threads, Scheduler::Sync] {
            let err = g.try_compute_with(scheduler, 3).unwrap_err();
            assert_eq!(err.task(), "explode");
            assert_eq!(err.message(), "exploded on 3");
            assert!(
                err.call_site()
                    .starts_with(&format!("tests/failures_and_drops.rs:{line}:")),
                "{}",
                err.call_site()
            );
            assert!(err
                .to_string()
                .contains("task `explode` at tests/failures_and_drops.rs"));
        }
    });
}

#[delayed]
fn check_below(i: i64) -> i64 {
    assert!(i != 3, "iteration {i} is wrong");
    i
}

#[delayed]
fn sum2(a: i64, b: i64) -> i64 {
    a + b
}

/// A task in an unrolled loop is named with its iteration in its error, on both the
/// tree (8 copies) and the dispatcher (a node read twice); its name in the node table
/// stays the function's, so that a picture or a profile still groups the copies.
#[test]
fn panic_in_an_unrolled_loop_names_the_iteration() {
    let tree = graph!(|| -> i64 {
        let mut s = 0;
        for i in 0..8 {
            s = sum2(s, check_below(i));
        }
        s
    });
    let table = graph!(|| -> (i64, i64) {
        let mut s = 0;
        for i in 0..8 {
            for j in [1, 2] {
                s = sum2(s, check_below(i * j));
            }
        }
        (s, s)
    });
    let line = line!() - 5;
    assert!(tree.__runs_as_tree() && !table.__runs_as_tree());
    for scheduler in [Scheduler::Threads, Scheduler::Sync] {
        let err = tree.try_compute_with(scheduler).unwrap_err();
        assert_eq!(err.task(), "check_below (i = 3)");
        assert!(
            err.to_string().contains("task `check_below (i = 3)` at "),
            "{err}"
        );
        let err = table.try_compute_with(scheduler).unwrap_err();
        assert_eq!(err.task(), "check_below (i = 3, j = 1)");
        assert!(
            err.call_site()
                .starts_with(&format!("tests/failures_and_drops.rs:{line}:")),
            "{}",
            err.call_site()
        );
    }
    let info = tree.info();
    let names: Vec<&str> = info.nodes().iter().map(|n| n.name.as_str()).collect();
    assert_eq!(&names[..4], ["check_below", "sum2", "check_below", "sum2"]);
}

#[test]
fn compute_resumes_the_panic_with_the_task_name() {
    tracked(|| {
        let g = graph!(|x: i64| -> i64 {
            let a = make(x);
            peek(&explode(&a))
        });
        let payload =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.compute(1))).unwrap_err();
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            message.starts_with("task `explode` at tests/failures_and_drops.rs:"),
            "{message}"
        );
        assert!(message.ends_with("panicked: exploded on 1"), "{message}");
    });
}

static AFTER_PANIC: AtomicUsize = AtomicUsize::new(0);
static IN_FLIGHT_DONE: AtomicUsize = AtomicUsize::new(0);
static UNWINDING: AtomicUsize = AtomicUsize::new(0);

/// Marks, while the panic unwinds through the task, that it is about to be caught.
struct UnwindFlag;
impl Drop for UnwindFlag {
    fn drop(&mut self) {
        UNWINDING.store(1, Ordering::SeqCst);
    }
}

#[delayed]
fn wait_then_panic(barrier: &Barrier) -> i64 {
    barrier.wait();
    let _flag = UnwindFlag;
    panic!("boom")
}

#[delayed]
fn wait_then_finish(barrier: &Barrier) -> i64 {
    barrier.wait();
    // Still running when the other task's panic is caught: wait for its unwinding,
    // then leave the dispatcher ample time to record it.
    let start = std::time::Instant::now();
    while UNWINDING.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(10) {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(200));
    IN_FLIGHT_DONE.fetch_add(1, Ordering::SeqCst);
    1
}

#[delayed]
fn after(x: i64) -> i64 {
    AFTER_PANIC.fetch_add(1, Ordering::SeqCst);
    x
}

#[test]
fn after_a_panic_no_new_task_starts_and_tasks_in_flight_finish() {
    let barrier = Barrier::new(2);
    let g = graph!(|b: &Barrier| -> (i64, i64) {
        let bad = wait_then_panic(b);
        let good = wait_then_finish(b);
        (after(bad), after(good))
    });
    let err = g.try_compute_on(&pool(2), &barrier).unwrap_err();
    assert_eq!(err.task(), "wait_then_panic");
    // The task already running when the panic happened finished ...
    assert_eq!(IN_FLIGHT_DONE.load(Ordering::SeqCst), 1);
    // ... and nothing started after it.
    assert_eq!(AFTER_PANIC.load(Ordering::SeqCst), 0);
}

#[test]
fn early_exit_drops_every_value_once() {
    tracked(|| {
        let g = graph!(|x: i64| -> Result<i64, String> {
            let a = make(x);
            let checked = check_positive(&a)?;
            let b = bump(a);
            Ok(peek(&b) + checked)
        });
        for scheduler in [Scheduler::Threads, Scheduler::Sync] {
            assert_eq!(g.compute_with(scheduler, 4), Ok(9));
            assert_eq!(
                g.compute_with(scheduler, -4),
                Err("-4 is not positive".to_owned())
            );
        }
    });
}

#[test]
fn panic_drops_every_value_once() {
    tracked(|| {
        let g = graph!(|x: i64| -> i64 {
            let a = make(x);
            let kept = make(x + 1);
            let b = explode(&a);
            let c = merge(b, kept);
            peek(&c)
        });
        for scheduler in [Scheduler::Threads, Scheduler::Sync] {
            assert!(g.try_compute_with(scheduler, 0).is_err());
        }
    });
}

// ---- parallelism ----------------------------------------------------------------

#[delayed]
fn meet(barrier: &Barrier, x: i64) -> i64 {
    barrier.wait();
    x
}

/// Two independent tasks that both wait on one barrier of two can only finish if
/// they run at the same time.
#[test]
fn independent_tasks_run_in_parallel() {
    let barrier = Barrier::new(2);
    let g = graph!(|b: &Barrier| -> i64 {
        let x = meet(b, 1);
        let y = meet(b, 2);
        x + y
    });
    assert_eq!(g.compute_on(&pool(2), &barrier), 3);
    // Also when entered from outside the pool (the global pool has >= 2 threads when
    // the machine has >= 2 cores).
    if rayon::current_num_threads() >= 2 {
        assert_eq!(g.compute(&barrier), 3);
    }
}

/// Ready successors of one node are handed to other workers too.
#[test]
fn ready_successors_run_in_parallel() {
    let barrier = Barrier::new(3);
    // The root waits alone, on a barrier of one; its three successors meet.
    let one = Barrier::new(1);
    let g = graph!(|one: &Barrier, b: &Barrier| -> i64 {
        let root = meet(one, 0);
        let x = meet(b, root + 1);
        let y = meet(b, root + 2);
        let z = meet(b, root + 3);
        x + y + z
    });
    assert_eq!(g.compute_on(&pool(3), &one, &barrier), 6);
}

/// A meeting of `n` tasks that gives up after a while: a test of parallelism fails,
/// rather than hangs, when fewer run at once.
struct Meeting {
    arrived: Mutex<usize>,
    all: std::sync::Condvar,
    n: usize,
}

impl Meeting {
    fn new(n: usize) -> Self {
        Meeting {
            arrived: Mutex::new(0),
            all: std::sync::Condvar::new(),
            n,
        }
    }

    fn meet(&self) {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.all.notify_all();
        let (arrived, waited) = self
            .all
            .wait_timeout_while(arrived, Duration::from_secs(60), |a| *a < self.n)
            .unwrap();
        assert!(
            !waited.timed_out(),
            "only {} of {} ready siblings ran at once",
            *arrived,
            self.n
        );
    }
}

/// Every ready sibling is offered to other workers before any runs, whatever their
/// number: eight successors of one node, and forty roots (a list split in parts, each
/// shared among the workers), each meet all the others, so all must run at once.
#[test]
fn many_ready_siblings_all_run_at_once() {
    for (roots, threads) in [(false, 8), (true, 40)] {
        let meeting = std::sync::Arc::new(Meeting::new(threads));
        let start = Delayed::value(1u64);
        let siblings: Vec<Delayed<u64>> = (0..threads as u64)
            .map(|i| {
                let meeting = meeting.clone();
                let meet = delayed(move |x: u64| {
                    meeting.meet();
                    x + i
                });
                if roots {
                    meet.call(1)
                } else {
                    meet.call(&start)
                }
            })
            .collect();
        let expected: Vec<u64> = (0..threads as u64).map(|i| 1 + i).collect();
        let got = pool(threads).install(|| taskweave::compute(siblings.as_slice()));
        assert_eq!(got, expected);
    }
}

/// A graph run from inside a task of another graph (nested parallelism).
#[test]
fn nested_compute_inside_a_task() {
    #[delayed]
    fn inner(x: i64) -> i64 {
        let g = graph!(|x: i64| -> i64 {
            let a = add1(x);
            let b = add1(x + 1);
            a + b
        });
        g.compute(x)
    }
    #[delayed]
    fn add1(x: i64) -> i64 {
        x + 1
    }
    let g = graph!(|x: i64| -> i64 {
        let a = inner(x);
        let b = inner(x * 2);
        a + b
    });
    assert_eq!(g.compute_on(&pool(2), 1), (2 + 3) + (3 + 4));
}

/// An error whose `Drop` panics when it holds -2.
#[derive(Debug)]
struct PanicsOnDrop(i64);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if self.0 == -2 && !std::thread::panicking() {
            panic!("error {} dropped", self.0);
        }
    }
}

#[delayed]
fn check_after(x: i64, millis: u64) -> Result<i64, PanicsOnDrop> {
    std::thread::sleep(std::time::Duration::from_millis(millis));
    if x > 0 {
        Ok(x)
    } else {
        Err(PanicsOnDrop(x))
    }
}

#[delayed]
fn add_two(a: i64, b: i64) -> i64 {
    a + b
}

/// Two `?` that fail, the later one first: the graph returns the earlier one's error,
/// as sequential code does, on either scheduler, and the later error's `Drop` (a value
/// sequential code never makes) panicking does not fail the run. (It failed the run,
/// naming the earlier task, and the earlier error was lost.)
#[test]
fn a_later_error_dropped_for_an_earlier_one_does_not_fail_the_run() {
    let g = graph!(|a: i64, b: i64| -> Result<i64, PanicsOnDrop> {
        let x = check_after(a, 200)?;
        let y = check_after(b, 0)?;
        Ok(add_two(x, y))
    });
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        let result = g
            .try_compute_with(scheduler, -1, -2)
            .expect("no task failed");
        assert_eq!(result.unwrap_err().0, -1, "{scheduler:?}");
    }
}

struct PanicsIn(&'static str);

impl PanicsIn {
    fn fire(&self, hook: &str) {
        if self.0 == hook {
            panic!("obs {hook}");
        }
    }
}

impl taskweave::Observer for PanicsIn {
    fn graph_started(&self, _nodes: &[taskweave::NodeInfo<'_>]) {
        self.fire("graph_started");
    }
    fn task_started(&self, _node: u32, _info: &taskweave::NodeInfo<'_>) {
        self.fire("task_started");
    }
    fn task_finished(
        &self,
        _node: u32,
        _info: &taskweave::NodeInfo<'_>,
        _outcome: taskweave::TaskOutcome,
    ) {
        self.fire("task_finished");
    }
    fn graph_finished(&self, _result: Result<(), &TaskError>) {
        self.fire("graph_finished");
    }
}

/// What each run panics in: a hook of its observer, or its stop predicate.
const PANICS_IN: [&str; 5] = [
    "graph_started",
    "task_started",
    "task_finished",
    "graph_finished",
    "stop_when",
];

/// Options whose observer or stop predicate panics in `hook` (see [`PANICS_IN`]).
fn panicking(scheduler: Scheduler, hook: &'static str) -> taskweave::RunOptions {
    let options = taskweave::RunOptions::new().scheduler(scheduler);
    if hook == "stop_when" {
        options.stop_when(|| panic!("obs stop_when"))
    } else {
        options.observer(std::sync::Arc::new(PanicsIn(hook)))
    }
}

/// Checks that `error` is the panic of `hook` (see [`PANICS_IN`]) of a run whose
/// output is `output` and whose tasks are `tasks`: a graph hook names the output, a
/// task's hook or the stop predicate one of the tasks.
fn assert_hook_error(error: &TaskError, hook: &str, output: &str, tasks: &[&str]) {
    let text = error.to_string();
    let task = error.task();
    if hook.starts_with("graph") {
        assert_eq!(task, output, "{text}");
    } else {
        assert!(tasks.contains(&task), "{text}");
    }
    let head = match hook {
        "stop_when" => format!("the run's stop predicate panicked while computing `{task}` at "),
        _ => format!("the observer panicked in `{hook}` while computing `{task}` at "),
    };
    assert!(text.starts_with(&head), "{text}");
    assert!(
        text.contains(&format!("at {}: obs {hook}", error.call_site())),
        "{text}"
    );
    assert!(
        error
            .call_site()
            .starts_with("tests/failures_and_drops.rs:"),
        "{text}"
    );
    assert_eq!(error.message(), format!("obs {hook}"), "{text}");
}

/// The text `compute`'s panic carries.
fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or_else(|| "?".to_owned(), |text| (*text).to_owned()),
    }
}

#[delayed]
fn one_more(x: u64) -> u64 {
    x + 1
}

#[delayed]
fn times(a: u64, b: u64) -> u64 {
    a * b
}

/// A panic of a `graph!` run's observer, in any hook, or of its stop predicate, is the
/// run's failure, said so and naming the task (or, for a graph hook, the output):
/// `try_compute_with` returns it and `compute_with` panics with it, in the
/// dispatcher's form (a value read twice) and a tree, on either scheduler. (It
/// unwound out of `try_compute_with` with the observer's bare message.)
#[test]
fn an_observers_or_stop_predicates_panic_fails_a_graph_run_naming_it() {
    watchdog::within(Duration::from_secs(60), "graph! observer panics", || {
        let shared = graph!(|x: u64| -> u64 {
            let a = one_more(x);
            let b = one_more(a);
            let c = one_more(a);
            times(b, c)
        });
        let tree = graph!(|x: u64| -> u64 {
            let a = one_more(x);
            let b = one_more(x);
            times(a, b)
        });
        let tasks = ["one_more", "times"];
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            for hook in PANICS_IN {
                let error = shared
                    .try_compute_with(panicking(scheduler, hook), 1)
                    .expect_err("the observer's panic fails the run");
                assert_hook_error(&error, hook, "times", &tasks);
                let error = tree
                    .try_compute_with(panicking(scheduler, hook), 1)
                    .expect_err("the observer's panic fails the run");
                assert_hook_error(&error, hook, "times", &tasks);
                let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    shared.compute_with(panicking(scheduler, hook), 1)
                }))
                .expect_err("compute panics");
                assert!(
                    panic_text(panicked).contains(&format!(": obs {hook}")),
                    "{scheduler:?} {hook}"
                );
                // The graph computes again.
                assert_eq!(shared.compute_with(scheduler, 1), 9);
                assert_eq!(tree.compute_with(scheduler, 1), 4);
            }
        }
    });
}

/// Set by [`polls`] around its `cancelled()`: the stop predicate of
/// [`a_stop_predicate_panicking_in_a_tasks_cancelled_is_the_predicates_error`] panics
/// only then, so that it is asked by the task, not before a task starts.
static POLLING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A task that asks whether its run was told to stop, as a long task does.
#[delayed]
fn polls(x: u64) -> u64 {
    POLLING.store(true, Ordering::SeqCst);
    let stop = taskweave::cancelled();
    POLLING.store(false, Ordering::SeqCst);
    x + u64::from(stop)
}

/// A panic of the run's stop predicate asked by a task's own `cancelled()` is the
/// predicate's error, as one asked before a task starts, naming the task that asked:
/// "the run's stop predicate panicked while computing `polls` at …" (it was the task's
/// own panic, "task `polls` at … panicked"), in `graph!` (a tree and the
/// dispatcher's form) and a `Delayed`, on either scheduler; the graphs compute again.
#[test]
fn a_stop_predicate_panicking_in_a_tasks_cancelled_is_the_predicates_error() {
    watchdog::within(
        Duration::from_secs(60),
        "stop predicate in cancelled()",
        || {
            let options = |scheduler| {
                taskweave::RunOptions::new()
                    .scheduler(scheduler)
                    .stop_when(|| POLLING.load(Ordering::SeqCst) && panic!("obs stop_when"))
            };
            let tree = graph!(|x: u64| -> u64 { one_more(polls(x)) });
            let shared = graph!(|x: u64| -> u64 {
                let a = polls(x);
                times(one_more(a), a)
            });
            let polled = delayed(|x: u64| x * 2)
                .named("double")
                .call(&delay!(polls(3)));
            let tasks = ["polls"];
            for scheduler in [Scheduler::Sync, Scheduler::Threads] {
                let error = tree
                    .try_compute_with(options(scheduler), 1)
                    .expect_err("the predicate's panic fails the run");
                assert_hook_error(&error, "stop_when", "", &tasks);
                let error = shared
                    .try_compute_with(options(scheduler), 1)
                    .expect_err("the predicate's panic fails the run");
                assert_hook_error(&error, "stop_when", "", &tasks);
                let error = polled
                    .try_compute_with(options(scheduler))
                    .expect_err("the predicate's panic fails the run");
                assert_hook_error(&error, "stop_when", "", &tasks);
                assert_eq!(tree.compute_with(scheduler, 1), 2);
                assert_eq!(shared.compute_with(scheduler, 1), 2);
                assert_eq!(polled.try_compute_with(scheduler).ok(), Some(6));
            }
        },
    );
}

/// As for `graph!`, for a dynamic graph: `try_compute_with` returns the panic of its
/// observer or stop predicate as the run's error, on either scheduler, from outside
/// the pool (a parallel run with a stop predicate only goes on on the pool) and
/// inside it, prepared (which computes again after it) or not.
#[test]
fn an_observers_or_stop_predicates_panic_fails_a_delayed_run_naming_it() {
    watchdog::within(Duration::from_secs(60), "Delayed observer panics", || {
        let inc = delayed(|x: u64| x + 1).named("inc");
        let parts: Vec<Delayed<u64>> = (0..8).map(|i| inc.call(i)).collect();
        let sum = delayed(|parts: Vec<u64>| parts.iter().sum::<u64>())
            .named("sum")
            .call(parts);
        let tasks = ["inc", "sum"];
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            for hook in PANICS_IN {
                let error = sum
                    .try_compute_with(panicking(scheduler, hook))
                    .expect_err("the observer's panic fails the run");
                assert_hook_error(&error, hook, "sum", &tasks);
                let error = pool(2)
                    .install(|| sum.try_compute_with(panicking(scheduler, hook)))
                    .expect_err("the observer's panic fails the run");
                assert_hook_error(&error, hook, "sum", &tasks);
                let mut prepared = taskweave::prepare((&sum,));
                let error = prepared
                    .try_compute_with(panicking(scheduler, hook))
                    .expect_err("the observer's panic fails the run");
                assert_hook_error(&error, hook, "sum", &tasks);
                assert_eq!(prepared.compute(), (36,), "{scheduler:?} {hook}");
                let error = taskweave::compute_with(panicking(scheduler, hook), (&sum, &sum))
                    .expect_err("the observer's panic fails the run");
                assert_hook_error(&error, hook, "sum", &tasks);
            }
        }
    });
}

/// A run stopped by its stop predicate fails naming the first task that did not
/// start, and says that it did not run: it never panicked ("task `inc` at … panicked:
/// the run was stopped before this task started" said it did). Dynamic and static
/// graphs, both schedulers; the message and its payload are as before.
#[test]
fn a_stopped_run_says_its_task_did_not_run() {
    #[delayed]
    fn bump(x: i64) -> i64 {
        x + 1
    }
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        let asked = std::sync::Arc::new(AtomicUsize::new(0));
        let stop_after = |n: usize| {
            let asked = asked.clone();
            asked.store(0, Ordering::SeqCst);
            taskweave::RunOptions::new()
                .scheduler(scheduler)
                .stop_when(move || asked.fetch_add(1, Ordering::SeqCst) >= n)
        };
        let chain = delay!(bump(bump(bump(0))));
        let error = chain.try_compute_with(stop_after(2)).expect_err("stopped");
        let static_graph = graph!(|x: i64| -> i64 { bump(bump(bump(x))) });
        let static_error = static_graph
            .try_compute_with(stop_after(1), 0)
            .expect_err("stopped");
        for error in [error, static_error] {
            let shown = error.to_string();
            assert!(
                shown.starts_with("task `bump` at ")
                    && shown
                        .ends_with(" did not run: the run was stopped before this task started"),
                "{shown}"
            );
            assert_eq!(
                error.message(),
                "the run was stopped before this task started"
            );
            assert_eq!(error.payload::<String>().as_deref(), Some(error.message()));
        }
    }
}

/// A value whose `Drop`, when it is `failing`, computes two graphs that fail: another
/// graph, and the one that made it ([`fails_reading`]); each error's task is recorded
/// in [`INNER_ERRORS`].
struct ComputesOnDrop {
    failing: bool,
}

/// The tasks named by the errors of the graphs computed by `ComputesOnDrop`'s `Drop`.
static INNER_ERRORS: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl Drop for ComputesOnDrop {
    fn drop(&mut self) {
        if !self.failing {
            return;
        }
        let other = graph!(|x: i64| -> i64 {
            let a = sum2(x, 1);
            sum2(a, too_large(a))
        });
        let error = other.try_compute(20).expect_err("too_large fails");
        INNER_ERRORS.lock().unwrap().push(error.task().to_owned());
        let again = fails_reading(false, Scheduler::Sync);
        INNER_ERRORS.lock().unwrap().push(again.task().to_owned());
    }
}

#[delayed]
fn too_large(i: i64) -> i64 {
    assert!(i < 10, "{i} is too large");
    i
}

#[delayed]
fn computes_on_drop(failing: bool) -> ComputesOnDrop {
    ComputesOnDrop { failing }
}

#[delayed]
fn too_large_with(_d: &ComputesOnDrop, i: i64) -> i64 {
    assert!(i < 10, "{i} is too large");
    i
}

#[delayed]
fn read_after(d: &ComputesOnDrop, x: i64) -> i64 {
    x + i64::from(d.failing)
}

/// The error of a graph whose task fails reading `d`, whose later readers then do not
/// run: `d` is dropped in the run's teardown.
fn fails_reading(failing: bool, scheduler: Scheduler) -> TaskError {
    let g = graph!(|failing: bool, x: i64| -> i64 {
        let d = computes_on_drop(failing);
        let p = too_large_with(&d, x);
        let q = read_after(&d, p);
        read_after(&d, q)
    });
    g.try_compute_with(scheduler, failing, 50)
        .expect_err("too_large_with fails")
}

/// A failed run whose unread value's `Drop` computes graphs that fail too (another
/// graph, and the same one) returns its own failure, on either scheduler, and the
/// inner runs theirs. (The inner run took the one failure a thread kept for the
/// outer's teardown: the outer run returned an error with no task, no call site and
/// no message, "task `` at  panicked: ".)
#[test]
fn a_graph_failing_in_a_drop_in_a_failed_runs_teardown_keeps_both_errors() {
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        INNER_ERRORS.lock().unwrap().clear();
        let error = fails_reading(true, scheduler);
        assert_eq!(error.task(), "too_large_with", "{scheduler:?}: {error}");
        assert!(error.message().contains("50"), "{scheduler:?}: {error}");
        assert_eq!(
            *INNER_ERRORS.lock().unwrap(),
            ["too_large", "too_large_with"],
            "{scheduler:?}"
        );
    }
}

/// A value whose `Drop` panics when it is `armed`, and counts its drops in
/// [`UNREAD_DROPS`].
struct PanicsWhenDropped {
    armed: bool,
}

/// How many `PanicsWhenDropped` have been dropped.
static UNREAD_DROPS: AtomicUsize = AtomicUsize::new(0);

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        UNREAD_DROPS.fetch_add(1, Ordering::SeqCst);
        if self.armed {
            panic!("dropped an armed value");
        }
    }
}

#[delayed]
fn unread_value(armed: bool) -> PanicsWhenDropped {
    PanicsWhenDropped { armed }
}

#[delayed]
fn drops_so_far(x: i64) -> usize {
    let _ = x;
    UNREAD_DROPS.load(Ordering::SeqCst)
}

/// A value no task reads, in a graph run as nested joins: dropped in its own node,
/// as the dispatcher drops a value of no use when it is made, so that a panic of its
/// `Drop` fails the run naming that node, and the value does not outlive it. (It was
/// dropped with the tree's locals after every node had run: the panic unwound out of
/// `try_compute`, "dropped an armed value", naming no task.)
#[test]
fn a_value_nobody_reads_is_dropped_in_its_node() {
    let _guard = TRACKING.lock().unwrap_or_else(|e| e.into_inner());
    let g = graph!(|armed: bool, x: i64| -> usize {
        let _unread = unread_value(armed);
        drops_so_far(x)
    });
    assert!(g.__runs_as_tree());
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        let error = g
            .try_compute_with(scheduler, true, 1)
            .expect_err("the unread value's Drop panics");
        assert_eq!(error.task(), "unread_value", "{scheduler:?}: {error}");
        assert!(
            error.call_site().contains("failures_and_drops.rs"),
            "{scheduler:?}: {error}"
        );
        assert_eq!(error.message(), "dropped an armed value", "{scheduler:?}");
    }
    // In program order (the synchronous scheduler), the value is gone before the
    // node after it runs.
    let before = UNREAD_DROPS.load(Ordering::SeqCst);
    assert_eq!(g.compute_with(Scheduler::Sync, false, 1), before + 1);
}

#[delayed]
fn below_ten(i: i64) -> Result<i64, String> {
    if i < 10 {
        Ok(i)
    } else {
        Err(format!("{i} is not below ten"))
    }
}

#[delayed]
fn reads_unread(_v: &PanicsWhenDropped, x: i64) -> i64 {
    x
}

/// Values a `?` leaves unread when it returns early (one read once, one read twice,
/// the first read done) are dropped, once each, and a panic of one's `Drop` fails the
/// run naming the task that made it, on either scheduler. (They were dropped with
/// the graph's slots after its code had returned: the panic unwound out of
/// `try_compute`, "dropped an armed value", naming no task.)
#[test]
fn values_left_unread_by_an_early_exit_name_their_task_when_their_drop_panics() {
    let _guard = TRACKING.lock().unwrap_or_else(|e| e.into_inner());
    let g = graph!(|armed: bool, x: i64| -> Result<i64, String> {
        let kept = unread_value(armed);
        let shared = unread_value(armed);
        let a = reads_unread(&shared, x);
        let c = below_ten(a)?;
        Ok(reads_unread(&kept, reads_unread(&shared, c)))
    });
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        let error = g
            .try_compute_with(scheduler, true, 50)
            .expect_err("the unread values' Drop panics");
        assert_eq!(error.task(), "unread_value", "{scheduler:?}: {error}");
        assert!(
            error.call_site().contains("failures_and_drops.rs"),
            "{scheduler:?}: {error}"
        );
        assert_eq!(error.message(), "dropped an armed value", "{scheduler:?}");
        let before = UNREAD_DROPS.load(Ordering::SeqCst);
        let exit = g
            .try_compute_with(scheduler, false, 50)
            .expect("no task failed");
        assert_eq!(exit, Err("50 is not below ten".to_owned()), "{scheduler:?}");
        assert_eq!(
            UNREAD_DROPS.load(Ordering::SeqCst),
            before + 2,
            "{scheduler:?}"
        );
        assert_eq!(g.compute_with(scheduler, false, 5), Ok(5), "{scheduler:?}");
    }
}

/// Records how each run it watches ended, as its observer hears it: `None` for
/// success, the failing task's name otherwise.
#[derive(Default)]
struct Ends(Mutex<Vec<Option<String>>>);

impl taskweave::Observer for Ends {
    fn graph_finished(&self, result: Result<(), &TaskError>) {
        let end = result.err().map(|error| error.task().to_owned());
        self.0.lock().unwrap().push(end);
    }
}

impl Ends {
    /// Options of `scheduler` watched by this observer.
    fn watching(self: &std::sync::Arc<Self>, scheduler: Scheduler) -> taskweave::RunOptions {
        taskweave::RunOptions::new()
            .scheduler(scheduler)
            .observer(self.clone())
    }

    /// The ends heard so far, forgotten.
    fn take(&self) -> Vec<Option<String>> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A run that a `Drop` panic of a value its early exit left unread fails is told so to
/// its observers, as its caller is: a failure naming the task that made the value
/// (`Ends`, and a `RunRecord`'s error), on either scheduler; an early exit that drops
/// its values quietly is told success. (The observers heard success before the
/// values were dropped, while the caller got the failure.)
#[test]
fn observers_hear_the_failure_of_a_value_left_unread_by_an_early_exit() {
    let _guard = TRACKING.lock().unwrap_or_else(|e| e.into_inner());
    let g = graph!(|armed: bool, x: i64| -> Result<i64, String> {
        let kept = unread_value(armed);
        let c = below_ten(x)?;
        Ok(reads_unread(&kept, c))
    });
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        let ends = std::sync::Arc::new(Ends::default());
        let record = std::sync::Arc::new(taskweave::RunRecord::new());
        let both = |ends: &std::sync::Arc<Ends>| ends.watching(scheduler).observer(record.clone());
        let error = g
            .try_compute_with(both(&ends), true, 50)
            .expect_err("the unread value's Drop panics");
        assert_eq!(error.task(), "unread_value", "{scheduler:?}: {error}");
        assert_eq!(
            ends.take(),
            [Some("unread_value".to_owned())],
            "{scheduler:?}"
        );
        assert_eq!(
            record.error().as_deref(),
            Some(error.to_string().as_str()),
            "{scheduler:?}"
        );
        let exit = g
            .try_compute_with(both(&ends), false, 50)
            .expect("no task failed");
        assert_eq!(exit, Err("50 is not below ten".to_owned()), "{scheduler:?}");
        assert_eq!(ends.take(), [None], "{scheduler:?}");
        assert_eq!(record.error(), None, "{scheduler:?}");
    }
}

#[delayed]
fn takes_unread(_v: PanicsWhenDropped, x: i64) -> i64 {
    x
}

/// An input given to one task (moved into it) that a `?` before that task leaves
/// unread is dropped before the run returns, and a panic of its `Drop` fails the run
/// naming the task it was given to, as a value a node made does (its observers told
/// the same); an earlier failure, a task's panic, is not replaced by it. (It was
/// dropped with the graph's locals after its code had returned: the panic unwound out
/// of `try_compute`, "dropped an armed value", naming no task.)
#[test]
fn an_input_left_unread_by_an_early_exit_names_its_task_when_its_drop_panics() {
    let _guard = TRACKING.lock().unwrap_or_else(|e| e.into_inner());
    let g = graph!(|v: PanicsWhenDropped, x: i64| -> Result<i64, String> {
        let c = below_ten(x)?;
        Ok(takes_unread(v, check_below(c)))
    });
    let armed = |armed| PanicsWhenDropped { armed };
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        let error = g
            .try_compute_with(scheduler, armed(true), 3)
            .expect_err("check_below fails");
        assert_eq!(error.task(), "check_below", "{scheduler:?}: {error}");
        let ends = std::sync::Arc::new(Ends::default());
        let error = g
            .try_compute_with(ends.watching(scheduler), armed(true), 50)
            .expect_err("the unread input's Drop panics");
        assert_eq!(error.task(), "takes_unread", "{scheduler:?}: {error}");
        assert!(
            error.call_site().contains("failures_and_drops.rs"),
            "{scheduler:?}: {error}"
        );
        assert_eq!(error.message(), "dropped an armed value", "{scheduler:?}");
        assert_eq!(
            ends.take(),
            [Some("takes_unread".to_owned())],
            "{scheduler:?}"
        );
        let before = UNREAD_DROPS.load(Ordering::SeqCst);
        let exit = g
            .try_compute_with(scheduler, armed(false), 50)
            .expect("no task failed");
        assert_eq!(exit, Err("50 is not below ten".to_owned()), "{scheduler:?}");
        assert_eq!(
            UNREAD_DROPS.load(Ordering::SeqCst),
            before + 1,
            "{scheduler:?}"
        );
        assert_eq!(
            g.compute_with(scheduler, armed(false), 5),
            Ok(5),
            "{scheduler:?}"
        );
    }
}

/// A value whose `Clone` panics.
#[derive(Debug)]
struct ClonePanics;

impl Clone for ClonePanics {
    fn clone(&self) -> Self {
        panic!("cloned a value that cannot be")
    }
}

/// A dynamic compute whose output's `Clone` panics when it reads its outputs (one
/// value requested twice) fails naming the value's task, and its observers hear that
/// failure, as its caller does: a plain compute, a prepared one, on either scheduler,
/// from outside the pool and inside it. A compute whose reads clone nothing is told
/// success. (The observers heard success before the outputs were read.)
#[test]
fn observers_hear_the_failure_of_a_dynamic_outputs_clone() {
    let made = delayed(|_x: i64| ClonePanics).named("made").call(1);
    let within = pool(2);
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        let ends = std::sync::Arc::new(Ends::default());
        let record = std::sync::Arc::new(taskweave::RunRecord::new());
        let watching = || ends.watching(scheduler).observer(record.clone());
        let error = taskweave::compute_with(watching(), (&made, &made))
            .expect_err("the second request's clone panics");
        assert_eq!(error.task(), "made", "{scheduler:?}: {error}");
        assert_eq!(ends.take(), [Some("made".to_owned())], "{scheduler:?}");
        assert_eq!(
            record.error().as_deref(),
            Some(error.to_string().as_str()),
            "{scheduler:?}"
        );
        let error = within
            .install(|| taskweave::compute_with(watching(), (&made, &made)))
            .expect_err("the second request's clone panics");
        assert_eq!(error.task(), "made", "{scheduler:?}: {error}");
        assert_eq!(ends.take(), [Some("made".to_owned())], "{scheduler:?}");
        let mut prepared = taskweave::prepare((&made, &made));
        let error = prepared
            .try_compute_with(watching())
            .expect_err("the second request's clone panics");
        assert_eq!(error.task(), "made", "{scheduler:?}: {error}");
        assert_eq!(ends.take(), [Some("made".to_owned())], "{scheduler:?}");
        taskweave::compute_with(watching(), (&made,)).expect("nothing is cloned");
        assert_eq!(ends.take(), [None], "{scheduler:?}");
        assert_eq!(record.error(), None, "{scheduler:?}");
    }
}

/// How many `Fragile` values have been dropped.
static FRAGILE_DROPS: AtomicUsize = AtomicUsize::new(0);

/// A value whose `Clone` panics when `clone` says so, and whose `Drop` (a clone's too)
/// panics when `drop` says so; drops are counted in [`FRAGILE_DROPS`].
#[derive(Debug)]
struct Fragile {
    clone: bool,
    drop: bool,
}

impl Clone for Fragile {
    fn clone(&self) -> Self {
        assert!(!self.clone, "cloned a fragile value");
        Fragile {
            clone: false,
            drop: self.drop,
        }
    }
}

impl Drop for Fragile {
    fn drop(&mut self) {
        FRAGILE_DROPS.fetch_add(1, Ordering::SeqCst);
        // Even while a panic unwinds, which aborts the process.
        assert!(!self.drop, "dropped a fragile value");
    }
}

/// A dynamic compute of several outputs whose `Clone` panics for a value requested
/// twice, after another output whose `Drop` panics was read (and one whose clone was
/// made), fails naming the task of the value that did not clone, drops every value
/// once, and does not abort: a tuple, nested parts and a slice, on either scheduler.
/// (The clone was made while the outputs' tuple was built: its panic unwound through
/// the values read before it, whose `Drop` panicked then, and the process aborted.)
#[test]
fn an_outputs_clone_that_panics_after_a_value_whose_drop_panics_does_not_abort() {
    let fragile = |clone, drop| {
        delayed(move |_x: i64| Fragile { clone, drop })
            .named(if clone { "uncloneable" } else { "undroppable" })
            .call(0)
    };
    let (dropping, cloning) = (fragile(false, true), fragile(true, false));
    // The drops are counted process-wide: one test that counts them at a time.
    let _guard = TRACKING.lock().unwrap_or_else(|e| e.into_inner());
    // What a failed compute of `shape` drops: `drops` values, each once.
    let fails = |shape: &str, drops: usize, run: &dyn Fn() -> Result<(), TaskError>| {
        let before = FRAGILE_DROPS.load(Ordering::SeqCst);
        let error = run().expect_err("the second request's clone panics");
        assert_eq!(error.task(), "uncloneable", "{shape}: {error}");
        assert_eq!(error.message(), "cloned a fragile value", "{shape}");
        let dropped = FRAGILE_DROPS.load(Ordering::SeqCst) - before;
        assert_eq!(dropped, drops, "{shape}: each value dropped once");
    };
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        // The dropping value and its clone, the cloning value.
        fails("tuple", 3, &|| {
            let outputs = (&dropping, &dropping, &cloning, &cloning);
            taskweave::compute_with(scheduler, outputs).map(drop)
        });
        fails("nested", 2, &|| {
            let outputs = (&dropping, (&cloning, [&cloning]));
            taskweave::compute_with(scheduler, outputs).map(drop)
        });
        fails("slice", 2, &|| {
            let outputs = [dropping.clone(), cloning.clone(), cloning.clone()];
            taskweave::compute_with(scheduler, &outputs[..]).map(drop)
        });
    }
}

/// An input given to a task that a failure keeps from running, whose `Drop` panics,
/// gives way to that failure, which came first, in a graph run as nested joins as in
/// the dispatcher's form, on either scheduler, and is dropped once. (In a tree its
/// panic unwound out of `try_compute` in place of the failure: the tree's run
/// returned the failure itself, and nothing kept it past the drop of the inputs.)
#[test]
fn an_input_a_failure_left_unread_gives_way_to_it_in_a_tree() {
    let _guard = TRACKING.lock().unwrap_or_else(|e| e.into_inner());
    let tree = graph!(|v: PanicsWhenDropped, x: i64| -> i64 { takes_unread(v, too_large(x)) });
    let shared = graph!(|v: PanicsWhenDropped, x: i64| -> i64 {
        let a = too_large(x);
        takes_unread(v, sum2(a, a))
    });
    assert!(tree.__runs_as_tree() && !shared.__runs_as_tree());
    let armed = |armed| PanicsWhenDropped { armed };
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        let fails = |form: &str, run: &dyn Fn() -> Result<i64, TaskError>| {
            let before = UNREAD_DROPS.load(Ordering::SeqCst);
            let error = run().expect_err("too_large fails");
            assert_eq!(error.task(), "too_large", "{scheduler:?} {form}: {error}");
            assert_eq!(error.message(), "50 is too large", "{scheduler:?} {form}");
            assert_eq!(UNREAD_DROPS.load(Ordering::SeqCst), before + 1, "{form}");
        };
        fails("tree", &|| {
            tree.try_compute_with(scheduler, armed(true), 50)
        });
        fails("dispatcher", &|| {
            shared.try_compute_with(scheduler, armed(true), 50)
        });
        assert_eq!(tree.compute_with(scheduler, armed(false), 5), 5);
        assert_eq!(shared.compute_with(scheduler, armed(false), 5), 10);
    }
}

/// An observer that panics when told a dynamic compute ended fails it (as before its
/// end waited for the outputs' reads) with no value handed out: each value, and the
/// clone made for a value requested twice, is dropped by itself, and a `Drop` that
/// panics in two of them does not abort, on either scheduler. (Told after the reads,
/// its panic dropped the outputs' tuple as one: the second `Drop` panic came while
/// the first unwound.)
#[test]
fn an_observers_panic_at_a_dynamic_runs_end_drops_each_output_by_itself() {
    let fragile = |x: i64| {
        delayed(|_x: i64| Fragile {
            clone: false,
            drop: true,
        })
        .named("undroppable")
        .call(x)
    };
    let (first, second) = (fragile(0), fragile(1));
    // The drops are counted process-wide: one test that counts them at a time.
    let _guard = TRACKING.lock().unwrap_or_else(|e| e.into_inner());
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        let before = FRAGILE_DROPS.load(Ordering::SeqCst);
        let outputs = (&first, &first, &second);
        let error = taskweave::compute_with(panicking(scheduler, "graph_finished"), outputs)
            .map(drop)
            .expect_err("the observer's panic fails the run");
        assert_hook_error(&error, "graph_finished", "undroppable", &[]);
        assert_eq!(
            FRAGILE_DROPS.load(Ordering::SeqCst) - before,
            3,
            "{scheduler:?}: both values and a clone, each dropped once"
        );
    }
}

/// An observer that panics in `task_finished` when told a task stopped.
struct PanicsOnStopped;

impl taskweave::Observer for PanicsOnStopped {
    fn task_finished(
        &self,
        _node: u32,
        _info: &taskweave::NodeInfo<'_>,
        outcome: taskweave::TaskOutcome,
    ) {
        assert!(
            outcome != taskweave::TaskOutcome::Stopped,
            "obs task_finished"
        );
    }
}

/// An observer's panic in `task_finished` of the task whose `?` stopped the run fails
/// the run naming that hook and task, as its panic does for a task that finished and
/// in `graph_finished` after the stop, on either scheduler. (It was discarded, and
/// the run returned the early exit: a failure at the stopping node counted as one
/// after the stop.)
#[test]
fn an_observers_panic_told_of_the_stopping_task_fails_the_run() {
    let g = graph!(|x: i64| -> Result<i64, String> {
        let c = below_ten(x)?;
        Ok(sum2(c, 1))
    });
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        let options = taskweave::RunOptions::new()
            .scheduler(scheduler)
            .observer(std::sync::Arc::new(PanicsOnStopped));
        let error = g
            .try_compute_with(options.clone(), 50)
            .expect_err("the observer's panic fails the run");
        assert_hook_error(&error, "task_finished", "", &["below_ten"]);
        assert_eq!(g.try_compute_with(options, 5).ok(), Some(Ok(6)));
    }
}

// ---- outcomes of graphs with `?`, against a sequential model --------------------------

/// A value whose `Drop` panics if it was made so (`fuse`).
struct Fused {
    id: u64,
    fuse: bool,
}

/// `Fused` values made and dropped: only the two tests below make them, one at a
/// time (`FUSED_TESTS`).
static FUSED_MADE: AtomicUsize = AtomicUsize::new(0);
static FUSED_TESTS: Mutex<()> = Mutex::new(());
static FUSED_DROPPED: AtomicUsize = AtomicUsize::new(0);

impl Fused {
    fn new(id: u64, fuse: bool) -> Fused {
        FUSED_MADE.fetch_add(1, Ordering::SeqCst);
        Fused { id, fuse }
    }
}

impl Drop for Fused {
    fn drop(&mut self) {
        FUSED_DROPPED.fetch_add(1, Ordering::SeqCst);
        if self.fuse {
            panic!("drop of {}", self.id);
        }
    }
}

/// What node `id` of [`outcomes_graph`] does: for a node that makes a value,
/// `PANICS` or `FUSED` (its value's `Drop` panics); for a `?` node, `PANICS` or
/// `EXITS` (it returns an `Err`); `OK` otherwise.
const OK: u8 = 0;
const PANICS: u8 = 1;
const EXITS: u8 = 2;
const FUSED: u8 = 3;

#[delayed]
fn made(id: u64, modes: &[u8; 8]) -> Fused {
    match modes[id as usize] {
        PANICS => panic!("task {id} panics"),
        mode => Fused::new(id, mode == FUSED),
    }
}

#[delayed]
fn joined(id: u64, a: &Fused, b: &Fused, modes: &[u8; 8]) -> Fused {
    assert!(a.id < id && b.id < id);
    match modes[id as usize] {
        PANICS => panic!("task {id} panics"),
        mode => Fused::new(id, mode == FUSED),
    }
}

#[delayed]
fn checked(id: u64, v: &Fused, modes: &[u8; 8]) -> Result<u64, String> {
    match modes[id as usize] {
        PANICS => panic!("task {id} panics"),
        EXITS => Err(format!("exit {id}")),
        _ => Ok(v.id + 1),
    }
}

#[delayed]
fn total(x: u64, y: u64, z: u64) -> u64 {
    x + y + z
}

/// How a run of [`outcomes_graph`] ends.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Value(u64),
    Exit(String),
    /// A task's panic, by the task's id.
    Panicked(u64),
    /// A value's `Drop` panicked, by the id of the task that made it.
    Dropped(u64),
}

/// The outcome sequential code gives, under the rules a graph's run follows: nodes
/// run in program order; a task's panic ends the run with that panic (a value's
/// `Drop` panicking while it unwinds is discarded); a `?` that meets an `Err` drops
/// the values made so far, the earliest made whose `Drop` panics failing the run,
/// and returns the `Err` otherwise; at the end, the same for every value.
fn sequential_outcome(modes: &[u8; 8]) -> Outcome {
    // The nodes that make a value; the others are `?`s, each reading one of them.
    const MAKES: [u64; 4] = [0, 1, 3, 5];
    let mut made = Vec::new();
    let mut sum = 0;
    let dropped = |made: &Vec<(u64, bool)>| made.iter().find(|(_, fuse)| *fuse).map(|(id, _)| *id);
    for id in 0..7u64 {
        let mode = modes[id as usize];
        if mode == PANICS {
            return Outcome::Panicked(id);
        }
        if MAKES.contains(&id) {
            made.push((id, mode == FUSED));
        } else if mode == EXITS {
            return match dropped(&made) {
                Some(maker) => Outcome::Dropped(maker),
                None => Outcome::Exit(format!("exit {id}")),
            };
        } else {
            // `checked(2, &a)`, `checked(4, &c)`, `checked(6, &d)`
            sum += [0, 3, 5][(id as usize - 2) / 2] + 1;
        }
    }
    match dropped(&made) {
        Some(maker) => Outcome::Dropped(maker),
        None => Outcome::Value(sum),
    }
}

/// The outcome a run's error gives: a value's `Drop` (in a graph with `?`, `exits`,
/// named after the task that made it) or a task's panic.
fn outcome_of_error(text: &str, modes: &[u8; 8], exits: bool) -> Outcome {
    let id = |prefix: &str| {
        let at = text.rfind(prefix)? + prefix.len();
        text[at..].split(' ').next()?.parse::<u64>().ok()
    };
    match (id("panicked: drop of "), id("panicked: task ")) {
        (Some(maker), _) => {
            if exits {
                let name = if maker == 3 { "`joined`" } else { "`made`" };
                assert!(text.contains(name), "{modes:?}: {text}");
            }
            Outcome::Dropped(maker)
        }
        (None, Some(task)) => Outcome::Panicked(task),
        _ => panic!("{modes:?}: unexpected error {text}"),
    }
}

/// Every combination of what each node does, on both schedulers (on threads several
/// times, as a value's last reader may run beside a `?` after it, or before it), gives
/// sequential code's outcome: the same error or exit, whichever thread ran what; and
/// every value made is dropped, once.
#[test]
fn outcomes_of_graphs_with_early_exits_are_sequential_codes() {
    let g = graph!(|modes: [u8; 8]| -> Result<u64, String> {
        let a = made(0, &modes);
        let b = made(1, &modes);
        let x = checked(2, &a, &modes)?;
        let c = joined(3, &a, &b, &modes);
        let y = checked(4, &c, &modes)?;
        let d = made(5, &modes);
        let z = checked(6, &d, &modes)?;
        Ok(total(x, y, z))
    });
    let choices: [&[u8]; 7] = [
        &[OK, PANICS, FUSED],
        &[OK, PANICS, FUSED],
        &[OK, PANICS, EXITS],
        &[OK, PANICS, FUSED],
        &[OK, PANICS, EXITS],
        &[OK, PANICS, FUSED],
        &[OK, PANICS, EXITS],
    ];
    watchdog::within(
        Duration::from_secs(120),
        "outcomes of ? graphs",
        move || {
            let _alone = FUSED_TESTS.lock().unwrap_or_else(|e| e.into_inner());
            let mut modes = [OK; 8];
            let combinations = choices.iter().map(|c| c.len()).product::<usize>();
            for mut n in 0..combinations {
                for (node, choice) in choices.iter().enumerate() {
                    modes[node] = choice[n % choice.len()];
                    n /= choice.len();
                }
                let expected = sequential_outcome(&modes);
                for (scheduler, runs) in [(Scheduler::Sync, 1), (Scheduler::Threads, 4)] {
                    for _ in 0..runs {
                        let outcome = match g.try_compute_with(scheduler, modes) {
                            Ok(Ok(value)) => Outcome::Value(value),
                            Ok(Err(exit)) => Outcome::Exit(exit),
                            Err(error) => outcome_of_error(&error.to_string(), &modes, true),
                        };
                        assert_eq!(outcome, expected, "{scheduler:?} {modes:?}");
                        assert_eq!(
                            FUSED_MADE.load(Ordering::SeqCst),
                            FUSED_DROPPED.load(Ordering::SeqCst),
                            "every value made is dropped once: {scheduler:?} {modes:?}"
                        );
                    }
                }
            }
        },
    );
}

#[delayed]
fn read(id: u64, v: &Fused, modes: &[u8; 8]) -> u64 {
    match modes[id as usize] {
        PANICS => panic!("task {id} panics"),
        _ => v.id + 1,
    }
}

#[delayed]
fn total2(x: u64, y: u64) -> u64 {
    x + y
}

/// Graphs without `?`, on the dispatcher (a value read twice), as nested joins (each
/// value read once) and as a dynamic graph: every combination of what each node does,
/// on both schedulers.
/// Such a run stops at its first failure, whichever ran first (Dask's semantics), so
/// the check is that it fails exactly when sequential code does, with the panic of a
/// task told to panic or the `Drop` of a value made to panic, and that every value
/// made is dropped, once.
#[test]
fn outcomes_of_graphs_without_early_exits_are_failures_sequential_code_has() {
    let shared = graph!(|modes: [u8; 8]| -> u64 {
        let a = made(0, &modes);
        let b = made(1, &modes);
        let x = read(2, &a, &modes);
        let c = joined(3, &a, &b, &modes);
        let y = read(4, &c, &modes);
        let d = made(5, &modes);
        let z = read(6, &d, &modes);
        total(x, y, z)
    });
    let tree = graph!(|modes: [u8; 8]| -> u64 {
        let a = made(0, &modes);
        let b = made(1, &modes);
        let c = joined(2, &a, &b, &modes);
        let x = read(3, &c, &modes);
        let d = made(4, &modes);
        let y = read(5, &d, &modes);
        total2(x, y)
    });
    assert!(tree.__runs_as_tree() && !shared.__runs_as_tree());
    // The dispatcher's graph as a dynamic one.
    let dynamic = |modes: [u8; 8]| {
        // A dynamic graph's constant read by reference lives as long as the graph may.
        let modes: &'static [u8; 8] = Box::leak(Box::new(modes));
        let a = delay!(made(0, modes));
        let b = delay!(made(1, modes));
        let x = delay!(read(2, &a, modes));
        let c = delay!(joined(3, &a, &b, modes));
        let y = delay!(read(4, &c, modes));
        let d = delay!(made(5, modes));
        let z = delay!(read(6, &d, modes));
        delay!(total(&x, &y, &z))
    };
    // Which nodes make a value (the others read one).
    let makes = |graph: usize| match graph {
        1 => [true, true, true, false, true, false, false],
        _ => [true, true, false, true, false, true, false],
    };
    watchdog::within(Duration::from_secs(120), "outcomes without ?", move || {
        let _alone = FUSED_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        for (which, nodes) in [(0usize, 7usize), (1, 6), (2, 7)] {
            let mut modes = [OK; 8];
            for mut n in 0..3usize.pow(nodes as u32) {
                for (node, mode) in modes.iter_mut().enumerate().take(nodes) {
                    let choices = match makes(which)[node] {
                        true => [OK, PANICS, FUSED],
                        false => [OK, PANICS, OK],
                    };
                    *mode = choices[n % 3];
                    n /= 3;
                }
                let fails = modes.iter().any(|&m| m == PANICS || m == FUSED);
                for (scheduler, runs) in [(Scheduler::Sync, 1), (Scheduler::Threads, 2)] {
                    for _ in 0..runs {
                        let ran = match which {
                            0 => shared.try_compute_with(scheduler, modes),
                            1 => tree.try_compute_with(scheduler, modes),
                            _ => dynamic(modes).try_compute_with(
                                taskweave::RunOptions::new().scheduler(scheduler),
                            ),
                        };
                        let what = format!("graph {which} {scheduler:?} {modes:?}");
                        check_failure_or_value(ran, fails, which, &modes, &what);
                        // A failed dynamic run returns at its failure (as Dask's
                        // `compute` raises), while its tasks in flight still end and
                        // drop their values.
                        let settled = std::time::Instant::now();
                        while which == 2
                            && FUSED_MADE.load(Ordering::SeqCst)
                                != FUSED_DROPPED.load(Ordering::SeqCst)
                            && settled.elapsed() < Duration::from_secs(10)
                        {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        assert_eq!(
                            FUSED_MADE.load(Ordering::SeqCst),
                            FUSED_DROPPED.load(Ordering::SeqCst),
                            "every value made is dropped once: {what}"
                        );
                    }
                }
            }
        }
    });
}

/// A run of one of the graphs without `?` above: a value when nothing `fails`, else
/// the panic of a task told to panic or the `Drop` of a value made to panic.
fn check_failure_or_value(
    ran: Result<u64, TaskError>,
    fails: bool,
    which: usize,
    modes: &[u8; 8],
    what: &str,
) {
    match ran {
        Ok(value) => {
            assert!(!fails, "{what}: {value}");
            let expected = if which == 1 { 3 + 5 } else { 1 + 4 + 6 };
            assert_eq!(value, expected, "{what}");
        }
        Err(error) => match outcome_of_error(&error.to_string(), modes, false) {
            Outcome::Panicked(task) => assert_eq!(modes[task as usize], PANICS, "{what}: {error}"),
            Outcome::Dropped(maker) => assert_eq!(modes[maker as usize], FUSED, "{what}: {error}"),
            other => panic!("{what}: {other:?}"),
        },
    }
}
