//! A failing task fails its compute at once (Dask's `test_get_stops_work_after_error`):
//! tasks still running beside it are told to stop (`taskweave::cancelled()`), start no
//! successor, and what they hold is freed when they end, after the compute returned.
//!
//! The slow siblings here block on a channel the test opens only after the compute has
//! returned, so a compute that waited for them would hang: the watchdog fails it.

#[path = "support/watchdog.rs"]
mod watchdog;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, Once};
use std::time::Duration;

use taskweave::prelude::*;
use taskweave::RunOptions;
use watchdog::within;

const LIMIT: Duration = Duration::from_secs(60);

/// Enough threads in rayon's global pool for the blocked siblings and failing tasks
/// of every test here running at once,
/// whatever the machine (every test file is a binary of its own).
fn threads() {
    static POOL: Once = Once::new();
    POOL.call_once(|| {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(16)
            .build_global();
    });
}

/// Counts its drops: shows what a stopped run still held is freed.
struct Held(Arc<AtomicUsize>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Waits until `done()` holds (under the watchdog: a value never freed fails the test).
fn eventually(done: impl Fn() -> bool) {
    while !done() {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A gate a task waits at until the test opens it.
#[derive(Clone)]
struct Gate(Arc<Mutex<mpsc::Receiver<()>>>);

fn gate() -> (mpsc::Sender<()>, Gate) {
    let (open, wait) = mpsc::channel();
    (open, Gate(Arc::new(Mutex::new(wait))))
}

impl Gate {
    fn wait(&self) {
        let _ = self.0.lock().unwrap().recv();
    }
}

/// A task that holds a [`Held`] counting into `freed`, says it `started`, and blocks
/// at `gate` until the test opens it.
fn blocked_at(gate: &Gate, started: &Arc<AtomicBool>, freed: &Arc<AtomicUsize>) -> Delayed<i64> {
    let (gate, started, freed) = (gate.clone(), started.clone(), freed.clone());
    delayed(move |x: i64| {
        let held = Held(freed.clone());
        started.store(true, Ordering::SeqCst);
        gate.wait();
        drop(held);
        x + 1
    })
    .named("slow")
    .call(1)
}

/// A task named `fails` that panics with "boom" once a sibling has `started`, so the
/// failure happens while that sibling runs.
fn fails_after(started: &Arc<AtomicBool>) -> Delayed<i64> {
    let started = started.clone();
    fails_once(move || started.load(Ordering::SeqCst))
}

/// A task named `fails` that panics with "boom" once `ready()` holds. Every sibling a
/// test counts on must be in `ready()`: after the failure no task starts, so a sibling
/// still waiting for a worker then would never run, whatever the test waits for.
fn fails_once(ready: impl Fn() -> bool + Send + Sync + 'static) -> Delayed<i64> {
    delayed(move |_: i64| -> i64 {
        eventually(&ready);
        panic!("boom")
    })
    .named("fails")
    .call(2)
}

/// Dask: `test_get_stops_work_after_error`: a task raises while a sibling sleeps;
/// `get` raises promptly, not after the sibling's sleep.
#[test]
fn dask_test_get_stops_work_after_error() {
    threads();
    within(LIMIT, "prompt failure", || {
        let (open, gate) = gate();
        let started = Arc::new(AtomicBool::new(false));
        let freed = Arc::new(AtomicUsize::new(0));
        let slow = blocked_at(&gate, &started, &freed);
        let total = delayed(|a: i64, b: i64| a + b).call(slow, fails_after(&started));

        let error = total.try_compute().expect_err("a task failed");
        assert_eq!(error.task(), "fails");
        assert!(error.message().contains("boom"));
        // The compute returned while `slow` still runs: its value is not freed yet.
        assert_eq!(freed.load(Ordering::SeqCst), 0);
        open.send(()).unwrap();
        eventually(|| freed.load(Ordering::SeqCst) == 1);
    });
}

/// A compute of a slice borrows its outputs rather than taking handles of them; when it
/// returns a failure at once, the run still going keeps the graph alive by itself: the
/// caller drops every handle, and the running task's node (and what its function
/// holds) is freed only once it ends.
#[test]
fn a_slice_compute_that_fails_promptly_keeps_its_graph_for_the_running_tasks() {
    threads();
    within(LIMIT, "slice compute prompt failure", || {
        let (open, gate) = gate();
        // One flag per slow task: the failure waits for both (see `fails_once`).
        let (slow_started, blocked_started) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let freed = Arc::new(AtomicUsize::new(0));
        let function_freed = Arc::new(AtomicUsize::new(0));
        let slow = {
            let (gate, started, held) = (
                gate.clone(),
                slow_started.clone(),
                Held(function_freed.clone()),
            );
            delayed(move |x: i64| {
                let _held = &held;
                started.store(true, Ordering::SeqCst);
                gate.wait();
                x + 1
            })
            .named("slow")
            .call(1)
        };
        let fails = {
            let (a, b) = (slow_started.clone(), blocked_started.clone());
            fails_once(move || a.load(Ordering::SeqCst) && b.load(Ordering::SeqCst))
        };
        let parts = vec![slow, fails, blocked_at(&gate, &blocked_started, &freed)];
        let error = taskweave::compute_with(RunOptions::new(), parts.as_slice())
            .expect_err("a task failed");
        assert_eq!(error.task(), "fails");
        drop(parts);
        // Every handle of the caller is gone; the run still holds the graph.
        assert_eq!(function_freed.load(Ordering::SeqCst), 0);
        assert_eq!(freed.load(Ordering::SeqCst), 0);
        open.send(()).unwrap();
        open.send(()).unwrap();
        eventually(|| function_freed.load(Ordering::SeqCst) == 1);
        eventually(|| freed.load(Ordering::SeqCst) == 1);
    });
}

/// Running siblings of a failed task see `cancelled()`; results already computed and
/// never read are freed once the run ends.
#[test]
fn running_siblings_of_a_failure_see_cancelled_and_their_results_are_freed() {
    threads();
    within(LIMIT, "siblings see cancelled", || {
        let (open, gate) = gate();
        let started = Arc::new(AtomicBool::new(false));
        let computed = Arc::new(AtomicBool::new(false));
        let saw_cancelled = Arc::new(AtomicBool::new(false));
        let freed = Arc::new(AtomicUsize::new(0));
        let kept = {
            let (freed, computed) = (freed.clone(), computed.clone());
            delayed(move |_: i64| {
                let value = Arc::new(Held(freed.clone()));
                computed.store(true, Ordering::SeqCst);
                value
            })
            .call(0)
        };
        let polls = {
            let (started, saw) = (started.clone(), saw_cancelled.clone());
            delayed(move |x: i64| {
                started.store(true, Ordering::SeqCst);
                eventually(taskweave::cancelled);
                saw.store(true, Ordering::SeqCst);
                // Keeps the run going, so that the test sees `kept`'s result is not
                // freed before the run ends.
                gate.wait();
                x
            })
            .call(1)
        };
        // `kept` must have run before the failure: a task not started by then never
        // is, and its result would never exist to be freed.
        let fails = {
            let (started, computed) = (started.clone(), computed.clone());
            fails_once(move || started.load(Ordering::SeqCst) && computed.load(Ordering::SeqCst))
        };
        let after = delayed(|_: Arc<Held>, a: i64, b: i64| a + b).call(kept, polls, fails);
        let error = after.try_compute().expect_err("a task failed");
        assert!(error.message().contains("boom"));
        eventually(|| saw_cancelled.load(Ordering::SeqCst));
        // `polls` still runs: the run, and the result it holds, go on.
        assert_eq!(freed.load(Ordering::SeqCst), 0);
        open.send(()).unwrap();
        eventually(|| freed.load(Ordering::SeqCst) == 1);
    });
}

/// A prepared graph computed again while its failed run's sibling still runs gets
/// fresh slots: the new run and the old sibling do not meet.
#[test]
fn a_prepared_graph_runs_again_while_its_failed_run_still_ends() {
    threads();
    within(LIMIT, "prepared after a prompt failure", || {
        let (open, gate) = gate();
        let first = Arc::new(AtomicBool::new(true));
        let started = Arc::new(AtomicBool::new(false));
        let slow = {
            let (gate, first, started) = (gate.clone(), first.clone(), started.clone());
            delayed(move |x: i64| {
                if first.load(Ordering::SeqCst) {
                    started.store(true, Ordering::SeqCst);
                    gate.wait();
                }
                x * 10
            })
            .call(4)
        };
        let flaky = {
            let (first, started) = (first.clone(), started.clone());
            delayed(move |x: i64| {
                if first.load(Ordering::SeqCst) {
                    eventually(|| started.load(Ordering::SeqCst));
                    panic!("first run fails")
                }
                x + 1
            })
            .call(5)
        };
        let total = delayed(|a: i64, b: i64| a + b).call(slow, flaky);
        let mut prepared = taskweave::prepare((&total,));
        let error = prepared
            .try_compute_with(RunOptions::new())
            .expect_err("the first run fails");
        assert!(error.message().contains("first run fails"));
        first.store(false, Ordering::SeqCst);
        // The first run's `slow` is still blocked; this run is a new one.
        assert_eq!(prepared.compute(), (4 * 10 + (5 + 1),));
        open.send(()).unwrap();
    });
}

/// `client.compute` of a graph fails its future at once too.
#[test]
fn client_compute_fails_promptly() {
    threads();
    within(LIMIT, "client.compute prompt failure", || {
        let client = Client::builder().threads(2).build().unwrap();
        let (open, gate) = gate();
        let started = Arc::new(AtomicBool::new(false));
        let freed = Arc::new(AtomicUsize::new(0));
        let slow = blocked_at(&gate, &started, &freed);
        let total = delayed(|a: i64, b: i64| a + b).call(slow, fails_after(&started));
        let future = client.compute(&total);
        let error = future.result().expect_err("a task failed");
        assert!(error.to_string().contains("fails"), "{error}");
        // The future failed while `slow` still runs.
        assert_eq!(freed.load(Ordering::SeqCst), 0);
        open.send(()).unwrap();
        eventually(|| freed.load(Ordering::SeqCst) == 1);
    });
}

#[delayed]
fn waits_for_cancel(started: Arc<AtomicBool>) -> i64 {
    started.store(true, Ordering::SeqCst);
    eventually(taskweave::cancelled);
    1
}

#[delayed]
fn fails_once_started(started: Arc<AtomicBool>) -> i64 {
    eventually(|| started.load(Ordering::SeqCst));
    panic!("static boom")
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// A static graph's compute waits for its running tasks (their storage is its stack),
/// but they are told to stop: a sibling that polls `cancelled()` ends, and so does the
/// compute.
#[test]
fn static_graph_siblings_of_a_failure_see_cancelled() {
    threads();
    within(LIMIT, "static graph siblings see cancelled", || {
        let job = graph!(|started: Arc<AtomicBool>| -> i64 {
            let a = waits_for_cancel(started.clone());
            let b = fails_once_started(started);
            add(a, b)
        });
        let error = job
            .try_compute_with(RunOptions::new(), Arc::new(AtomicBool::new(false)))
            .expect_err("a task failed");
        assert!(error.message().contains("static boom"));
    });
}

#[delayed]
fn first_step(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn next_step_waits_for_cancel(x: i64, started: Arc<AtomicBool>) -> i64 {
    started.store(true, Ordering::SeqCst);
    eventually(taskweave::cancelled);
    x + 1
}

#[delayed]
fn stops_once_started(started: Arc<AtomicBool>) -> Result<i64, String> {
    eventually(|| started.load(Ordering::SeqCst));
    Err("stopped early".to_string())
}

/// A `?` that stops a static graph at a task stops the tasks after it (in the graph's
/// order) that are running: `cancelled()` tells each running task by its own index.
/// Here the task after the stop runs right after its parent, which the dispatcher
/// runs one after the other on one thread without leaving the run's scope between
/// them: it must still see its own index, not its parent's (before the stop, which
/// would never say cancelled).
#[test]
fn a_task_run_right_after_its_parent_sees_a_stop_between_them_by_its_own_index() {
    threads();
    within(LIMIT, "the task after a stop sees cancelled", || {
        let job = graph!(|started: Arc<AtomicBool>| -> Result<i64, String> {
            let a = first_step(1);
            let stop = stops_once_started(started.clone())?;
            let b = next_step_waits_for_cancel(a, started);
            Ok(add(b, stop))
        });
        let result = job.compute(Arc::new(AtomicBool::new(false)));
        assert_eq!(result, Err("stopped early".to_string()));
    });
}
