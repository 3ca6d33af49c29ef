//! One observer layer for graphs and futures: a client built with
//! `ClientBuilder::observer` reports its tasks to the `Observer`'s future hooks
//! (`Profiler`, `RunRecord`, `Progress`, custom observers), and the graphs of its
//! `compute`s to the graph hooks.

#[path = "support/watchdog.rs"]
mod watchdog;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use taskweave::prelude::*;
use taskweave::{
    FutureEvent, NodeInfo, NodeOutcome, Observer, Profiler, Progress, RunRecord, TaskOutcome,
};

const LIMIT: Duration = Duration::from_secs(60);

fn square(x: u64) -> u64 {
    x * x
}

fn fails(x: u64) -> u64 {
    panic!("fails on {x}")
}

/// Waits until the test opens the gate.
fn gate(rx: Arc<Mutex<mpsc::Receiver<()>>>) -> u64 {
    rx.lock().unwrap().recv().unwrap();
    1
}

/// A client of two threads named `observed-…`, watched by `observers`.
fn observed<const N: usize>(observers: [Arc<dyn Observer>; N]) -> Client {
    let builder = Client::builder().threads(2).name("observed");
    let builder = observers.into_iter().fold(builder, |b, o| b.observer(o));
    builder.build().unwrap()
}

/// A task that runs until the sender sends (or is dropped).
fn gated(client: &Client) -> (mpsc::Sender<()>, Future<u64>) {
    let (open, rx) = mpsc::channel();
    (open, client.submit(gate, (Arc::new(Mutex::new(rx)),)))
}

/// A task that panics twice and finishes on its third attempt.
fn retried(client: &Client) -> Future<u64> {
    client
        .task(flaky)
        .retries(2)
        .submit((Arc::new(AtomicUsize::new(0)),))
}

fn after(x: u64) -> u64 {
    x + 1
}

/// Panics on its first two attempts.
fn flaky(attempts: Arc<AtomicUsize>) -> u64 {
    if attempts.fetch_add(1, Ordering::SeqCst) < 2 {
        panic!("not yet");
    }
    7
}

#[delayed]
fn inc(x: u64) -> u64 {
    x + 1
}

#[delayed]
fn sum(parts: Vec<u64>) -> u64 {
    parts.iter().sum()
}

/// A graph of 11 nodes: ten `inc`s and their `sum`.
fn eleven_nodes() -> Delayed<u64> {
    let parts: Vec<Delayed<u64>> = (0..10).map(|i| delay!(inc(i))).collect();
    delay!(sum(parts))
}

#[test]
fn a_profiler_on_a_client_sees_every_task_with_its_name_and_outcome() {
    watchdog::within(LIMIT, "profiler on a client", || {
        let profiler = Arc::new(Profiler::new());
        let client = observed([profiler.clone()]);
        let squares = client.map(square, 0..8u64);
        let failing = client.submit(fails, (3u64,));
        let (open, gated) = gated(&client);
        // Waits for `gated`, which waits for the test: cancelled before it starts.
        let cancelled = client.submit(after, (gated.clone(),));
        cancelled.cancel();
        open.send(()).unwrap();
        let retried = retried(&client);

        assert_eq!(client.gather(&squares).unwrap().len(), 8);
        assert!(failing.result().is_err());
        assert_eq!(gated.result().unwrap(), 1);
        assert!(cancelled.result().is_err());
        assert_eq!(retried.result().unwrap(), 7);

        let records = profiler.records();
        let of = |name: &str| -> Vec<taskweave::TaskRecord> {
            records
                .iter()
                .filter(|r| &*r.name == name)
                .cloned()
                .collect()
        };
        let squares_seen = of("square");
        assert_eq!(squares_seen.len(), 8);
        assert!(squares_seen
            .iter()
            .all(|r| r.outcome == TaskOutcome::Finished && &*r.kind == "future"));
        let mut keys: Vec<String> = squares_seen
            .iter()
            .map(|r| format!("{}-{:x}", r.name, r.key.unwrap()))
            .collect();
        let mut expected: Vec<String> = squares.iter().map(Future::key).collect();
        keys.sort();
        expected.sort();
        assert_eq!(keys, expected, "one record per task, by key");

        let failed = of("fails");
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].outcome, TaskOutcome::Failed);
        assert_eq!(
            format!("{}-{:x}", failed[0].name, failed[0].key.unwrap()),
            failing.key()
        );

        let never_ran = of("after");
        assert_eq!(never_ran.len(), 1);
        assert_eq!(never_ran[0].outcome, TaskOutcome::Cancelled);
        assert_eq!(never_ran[0].duration(), Duration::ZERO, "it never ran");
        assert_eq!(never_ran[0].thread, Profiler::thread_id(), "ended here");

        assert_eq!(of("gate")[0].outcome, TaskOutcome::Finished);

        let attempts = of("flaky");
        let outcomes: Vec<(u32, TaskOutcome)> =
            attempts.iter().map(|r| (r.attempt, r.outcome)).collect();
        assert_eq!(
            outcomes,
            [
                (0, TaskOutcome::Retried),
                (1, TaskOutcome::Retried),
                (2, TaskOutcome::Finished)
            ]
        );

        // The tasks that ran ran on the client's threads, which the trace names.
        let trace: serde_json::Value = serde_json::from_str(&profiler.to_chrome_trace()).unwrap();
        let events = trace["traceEvents"].as_array().unwrap();
        let names: HashMap<u64, &str> = events
            .iter()
            .filter(|e| e["name"] == "thread_name")
            .map(|e| {
                (
                    e["tid"].as_u64().unwrap(),
                    e["args"]["name"].as_str().unwrap(),
                )
            })
            .collect();
        for r in records.iter().filter(|r| &*r.name != "after") {
            let thread = names[&u64::from(r.thread)];
            assert!(
                thread.starts_with("observed-"),
                "{} ran on {thread}",
                r.name
            );
        }
        let square_event = events
            .iter()
            .find(|e| e["name"] == "square" && e["ph"] == "X")
            .unwrap();
        assert_eq!(square_event["cat"], "future");
        assert!(square_event["args"]["key"]
            .as_str()
            .unwrap()
            .starts_with("square-"));

        let summary = profiler.summary();
        assert_eq!(summary.row("square").unwrap().count, 8);
        assert_eq!(summary.row("flaky").unwrap().count, 3, "one per attempt");
        assert_eq!(profiler.runs(), 0, "no graph ran");
    });
}

/// Counts every event it is told.
#[derive(Default)]
struct Counts {
    submitted: AtomicUsize,
    started: AtomicUsize,
    finished: AtomicUsize,
    outcomes: Mutex<HashMap<&'static str, usize>>,
    kinds: Mutex<Vec<String>>,
    graphs_started: AtomicUsize,
    graph_tasks_started: AtomicUsize,
    graph_tasks_finished: AtomicUsize,
    graphs_finished: AtomicUsize,
}

impl Observer for Counts {
    fn graph_started(&self, _nodes: &[NodeInfo<'_>]) {
        self.graphs_started.fetch_add(1, Ordering::SeqCst);
    }
    fn task_started(&self, _node: u32, _info: &NodeInfo<'_>) {
        self.graph_tasks_started.fetch_add(1, Ordering::SeqCst);
    }
    fn task_finished(&self, _node: u32, _info: &NodeInfo<'_>, _outcome: TaskOutcome) {
        self.graph_tasks_finished.fetch_add(1, Ordering::SeqCst);
    }
    fn graph_finished(&self, _result: Result<(), &taskweave::TaskError>) {
        self.graphs_finished.fetch_add(1, Ordering::SeqCst);
    }
    fn future_submitted(&self, task: &FutureEvent<'_>) {
        self.submitted.fetch_add(1, Ordering::SeqCst);
        self.kinds.lock().unwrap().push(task.kind.to_owned());
    }
    fn future_started(&self, task: &FutureEvent<'_>) {
        assert!(task.started);
        self.started.fetch_add(1, Ordering::SeqCst);
    }
    fn future_finished(&self, _task: &FutureEvent<'_>, outcome: TaskOutcome) {
        self.finished.fetch_add(1, Ordering::SeqCst);
        *self
            .outcomes
            .lock()
            .unwrap()
            .entry(outcome.as_str())
            .or_default() += 1;
    }
}

#[test]
fn a_custom_observer_counts_started_and_finished_for_a_map() {
    const N: usize = 200;
    watchdog::within(LIMIT, "custom observer on a client's map", || {
        let (a, b) = (Arc::new(Counts::default()), Arc::new(Counts::default()));
        // Two observers: each gets every event.
        let client = Client::builder()
            .threads(3)
            .observer(a.clone())
            .observer(b.clone())
            .build()
            .unwrap();
        let futures = client.map(square, 0..N as u64);
        assert_eq!(client.gather(&futures).unwrap().len(), N);
        for counts in [&a, &b] {
            assert_eq!(counts.submitted.load(Ordering::SeqCst), N);
            assert_eq!(counts.started.load(Ordering::SeqCst), N);
            assert_eq!(counts.finished.load(Ordering::SeqCst), N);
            assert_eq!(counts.outcomes.lock().unwrap()["finished"], N);
            assert!(counts.kinds.lock().unwrap().iter().all(|k| k == "future"));
            assert_eq!(counts.graphs_started.load(Ordering::SeqCst), 0);
        }
    });
}

/// The client lets go of its observer once the client and every future are gone:
/// what its workers hold of it for the tasks they ended (each task holds its client;
/// a worker dropping ended tasks gives those holds back in one go, later) is given
/// back before they end, so nothing of the client outlives its shutdown.
#[test]
fn a_clients_observer_goes_with_the_client_once_its_workers_ended_its_tasks() {
    watchdog::within(
        LIMIT,
        "a client's observer released at its shutdown",
        || {
            for chain_len in [1, 100, 2_000] {
                let counts = Arc::new(Counts::default());
                let client = Client::builder()
                    .threads(2)
                    .observer(counts.clone())
                    .build()
                    .unwrap();
                // A chain's tasks are dropped by the workers (each task's successor holds
                // it, and lets go when it runs); a map's by this thread, with the futures.
                let mut x = client.submit(inc, (0,));
                for _ in 1..chain_len {
                    x = client.submit(inc, (x,));
                }
                assert_eq!(x.result().unwrap(), chain_len as u64);
                let mapped = client.map(square, 0..100u64);
                assert_eq!(client.gather(&mapped).unwrap().len(), 100);
                assert!(
                    Arc::strong_count(&counts) > 1,
                    "the client holds its observer"
                );
                drop((x, mapped));
                drop(client);
                assert_eq!(
                Arc::strong_count(&counts),
                1,
                "a chain of {chain_len}: the client's observer outlived the client and its futures"
            );
                assert_eq!(counts.finished.load(Ordering::SeqCst), chain_len + 100);
            }
        },
    );
}

#[test]
fn client_compute_reports_its_graph_to_the_clients_observer() {
    watchdog::within(LIMIT, "client.compute observed", || {
        let counts = Arc::new(Counts::default());
        let profiler = Arc::new(Profiler::new());
        let client = observed([counts.clone(), profiler.clone()]);
        let total = eleven_nodes();
        assert_eq!(client.compute(&total).result().unwrap(), 55);

        // The compute is one task of the client …
        assert_eq!(counts.submitted.load(Ordering::SeqCst), 1);
        assert_eq!(*counts.kinds.lock().unwrap(), ["compute"]);
        assert_eq!(counts.started.load(Ordering::SeqCst), 1);
        assert_eq!(counts.finished.load(Ordering::SeqCst), 1);
        // … and its graph a run, told through the dispatcher.
        assert_eq!(counts.graphs_started.load(Ordering::SeqCst), 1);
        assert_eq!(counts.graph_tasks_started.load(Ordering::SeqCst), 11);
        assert_eq!(counts.graph_tasks_finished.load(Ordering::SeqCst), 11);
        assert_eq!(counts.graphs_finished.load(Ordering::SeqCst), 1);

        assert_eq!(profiler.runs(), 1);
        let summary = profiler.summary();
        assert_eq!(summary.row("inc").unwrap().count, 10);
        // The graph's `sum`, and the compute's task, named after its output.
        assert_eq!(summary.row("sum").unwrap().count, 2);
        assert_eq!(summary.count(), 12, "the graph's 11 tasks and the compute");
        assert!(profiler
            .records()
            .iter()
            .any(|r| &*r.kind == "compute" && r.outcome == TaskOutcome::Finished));
    });
}

#[test]
fn a_run_record_on_a_client_keeps_each_tasks_outcome() {
    watchdog::within(LIMIT, "run record on a client", || {
        let record = Arc::new(RunRecord::new());
        let client = observed([record.clone()]);
        let ok = client.submit(square, (3u64,));
        let failing = client.submit(fails, (1u64,));
        // Its dependency fails: it never runs, and fails too.
        let dependent = client.submit(after, (failing.clone(),));
        let (open, gated) = gated(&client);
        let cancelled = client.submit(after, (gated.clone(),));
        assert_eq!(
            record.future_outcome(&cancelled),
            Some(NodeOutcome::Pending)
        );
        cancelled.cancel();
        open.send(()).unwrap();
        let retried = retried(&client);

        assert_eq!(ok.result().unwrap(), 9);
        assert!(dependent.result().is_err());
        assert_eq!(gated.result().unwrap(), 1);
        assert_eq!(retried.result().unwrap(), 7);

        assert_eq!(record.future_outcome(&ok), Some(NodeOutcome::Finished));
        assert_eq!(record.future_outcome(&failing), Some(NodeOutcome::Failed));
        // A task that never ran is told by the thread that ended it, right after the
        // end: a waiter may wake first.
        while record.future_outcome(&dependent) != Some(NodeOutcome::Failed) {
            std::thread::yield_now();
        }
        assert_eq!(
            record.future_outcome(&cancelled),
            Some(NodeOutcome::Cancelled)
        );
        let records = record.future_records();
        let keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
        let expected = [
            ok.key(),
            failing.key(),
            dependent.key(),
            gated.key(),
            cancelled.key(),
            retried.key(),
        ];
        assert_eq!(keys, expected, "in submission order");
        assert_eq!(records[5].name, "flaky");
        assert_eq!(records[5].retries, 2);
        assert_eq!(records[5].outcome, NodeOutcome::Finished);
        assert!(!record.has_run(), "no graph ran");
        record.clear_futures();
        assert!(record.future_records().is_empty());
    });
}

#[test]
fn a_progress_on_a_client_counts_its_tasks_and_its_computes_graphs() {
    watchdog::within(LIMIT, "progress on a client", || {
        let progress = Progress::hidden();
        let client = observed([Arc::new(progress.clone())]);
        let futures = client.map(square, 0..10u64);
        client.gather(&futures).unwrap();
        assert_eq!((progress.done(), progress.total()), (10, 10));
        // Every task ended: the next one starts a new run, which the compute's graph
        // joins.
        let total = eleven_nodes();
        assert_eq!(client.compute(&total).result().unwrap(), 55);
        assert_eq!((progress.done(), progress.total()), (12, 12));
        let failing = client.submit(fails, (1u64,));
        assert!(failing.result().is_err());
        assert_eq!(
            (progress.done(), progress.total(), progress.failed()),
            (1, 1, 1)
        );
    });
}

/// Panics in every future hook.
struct Panics;

impl Observer for Panics {
    fn future_submitted(&self, _task: &FutureEvent<'_>) {
        panic!("observer panics at submit");
    }
    fn future_started(&self, _task: &FutureEvent<'_>) {
        panic!("observer panics at start");
    }
    fn future_finished(&self, _task: &FutureEvent<'_>, _outcome: TaskOutcome) {
        panic!("observer panics at the end");
    }
}

#[test]
fn a_panicking_observer_leaves_no_task_unended() {
    watchdog::within(LIMIT, "panicking observer", || {
        let client = observed([Arc::new(Panics)]);
        let a = client.submit(square, (4u64,));
        let b = client.submit(after, (a.clone(),));
        assert_eq!(b.result().unwrap(), 17);
        let (open, gated) = gated(&client);
        let c = client.submit(after, (gated.clone(),));
        c.cancel();
        assert!(c.result().is_err());
        drop(open);
        // The gate's sender is gone: its task panics, and fails.
        assert!(gated.result().is_err());
    });
}

/// An observer that panics in every hook, placed before another: the other is told
/// every event all the same (it was told none of the events the first panicked on: a
/// progress bar stayed at 9 of 10 tasks, drawing).
#[test]
fn a_panicking_observer_keeps_no_event_from_the_observers_after_it() {
    watchdog::within(LIMIT, "a panicking observer before another", || {
        let counts = Arc::new(Counts::default());
        let client = observed([Arc::new(Panics), counts.clone()]);
        let mapped = client.map(square, 0..10u64);
        assert_eq!(client.gather(&mapped).unwrap().len(), 10);
        drop(mapped);
        drop(client);
        assert_eq!(counts.submitted.load(Ordering::SeqCst), 10);
        assert_eq!(counts.started.load(Ordering::SeqCst), 10);
        assert_eq!(counts.finished.load(Ordering::SeqCst), 10);
    });
}

/// Panics when a graph task starts.
struct PanicsAtTaskStart;

impl Observer for PanicsAtTaskStart {
    fn task_started(&self, _node: u32, _info: &NodeInfo<'_>) {
        panic!("observer panics at a task's start");
    }
}

/// An observer that panics when a graph task starts: the panic fails the run, and the
/// observers told the start (one before it, and one after) are told the task's end (a
/// tracing span stayed entered on the thread, and every later task's span nested in
/// it).
#[test]
fn observers_told_a_tasks_start_are_told_its_end_when_another_panics_there() {
    let counts = Arc::new(Counts::default());
    let after = Arc::new(Counts::default());
    let options = taskweave::RunOptions::new()
        .scheduler(taskweave::Scheduler::Sync)
        .observer(counts.clone())
        .observer(Arc::new(PanicsAtTaskStart))
        .observer(after.clone());
    let node = delayed(inc).call(1);
    let error = node
        .try_compute_with(options)
        .expect_err("the observer's panic fails the run");
    assert!(
        error
            .to_string()
            .starts_with("the observer panicked in `task_started` while computing `inc` at "),
        "{error}"
    );
    for seen in [&counts, &after] {
        assert_eq!(seen.graph_tasks_started.load(Ordering::SeqCst), 1);
        assert_eq!(seen.graph_tasks_finished.load(Ordering::SeqCst), 1);
    }
}

/// Panics in one graph hook, named.
struct PanicsInGraphHook(&'static str);

impl Observer for PanicsInGraphHook {
    fn graph_started(&self, _nodes: &[NodeInfo<'_>]) {
        if self.0 == "graph_started" {
            panic!("obs graph_started");
        }
    }
    fn task_started(&self, _node: u32, _info: &NodeInfo<'_>) {
        if self.0 == "task_started" {
            panic!("obs task_started");
        }
    }
    fn graph_finished(&self, _result: Result<(), &taskweave::TaskError>) {
        if self.0 == "graph_finished" {
            panic!("obs graph_finished");
        }
    }
}

/// A client's observer that panics in a graph hook of a `client.compute` fails the
/// compute's future with an error that says the observer panicked, in which hook,
/// while computing which output: it read "task `sum` at … panicked: obs
/// graph_started", as if the graph's output had panicked.
#[test]
fn an_observers_graph_hook_panic_in_client_compute_is_named_as_the_observers() {
    watchdog::within(LIMIT, "observer panics in a compute's graph hook", || {
        for hook in ["graph_started", "task_started", "graph_finished"] {
            let client = observed([Arc::new(PanicsInGraphHook(hook))]);
            let total = eleven_nodes();
            let future = client.compute(&total);
            let error = match future.result() {
                Err(FutureError::Task(error)) => error,
                other => panic!("expected the observer's error, got {other:?}"),
            };
            let text = error.to_string();
            let expected = format!("the observer panicked in `{hook}` while computing `sum` at ");
            assert!(text.starts_with(&expected), "{text}");
            assert!(text.ends_with(&format!(": obs {hook}")), "{text}");
            assert_eq!(error.message(), format!("obs {hook}"));
            assert_eq!(error.task(), "sum");
            assert_eq!(error.call_site(), future.call_site());
            // The client goes on.
            assert_eq!(client.submit(square, (3u64,)).result().unwrap(), 9);
        }
        // A graph task's own panic still names the task.
        let client = observed([Arc::new(PanicsInGraphHook("none"))]);
        let failing = delayed(fails).call(1);
        let error = match client.compute(&failing).result() {
            Err(FutureError::Task(error)) => error,
            other => panic!("expected the task's error, got {other:?}"),
        };
        assert!(error.to_string().starts_with("task `fails` at "), "{error}");
    });
}

fn queued(x: u64) -> u64 {
    x + 1
}

/// Tasks cancelled while queued, before they ever ran, are no runs in a profiler's
/// summary (a run of no time would drag the mean towards zero): counted apart, as
/// not run; their records say they did not run, and the trace draws no slice for
/// them.
#[test]
fn a_profiler_counts_tasks_cancelled_before_they_ran_apart() {
    watchdog::within(LIMIT, "profiler and cancelled tasks", || {
        let profiler = Arc::new(Profiler::new());
        let client = Client::builder()
            .threads(1)
            .observer(profiler.clone())
            .build()
            .unwrap();
        let (open, hold) = gated(&client);
        while hold.status() == Status::Pending {
            std::thread::yield_now();
        }
        let never = client.map(queued, 0..20u64);
        client.cancel(&never);
        open.send(()).unwrap();
        assert_eq!(hold.result().unwrap(), 1);
        let later = client.map(queued, 0..3u64);
        assert_eq!(client.gather(&later).unwrap().len(), 3);

        let summary = profiler.summary();
        let row = summary.row("queued").unwrap();
        assert_eq!(row.count, 3, "only the tasks that ran");
        assert_eq!(row.not_run, 20);
        assert_eq!(row.mean, row.total / 3);
        assert_eq!(summary.count(), 4, "the gate and the three that ran");
        assert!(summary.to_string().contains("not run"));

        let records = profiler.records();
        let queued: Vec<_> = records.iter().filter(|r| &*r.name == "queued").collect();
        assert_eq!(queued.len(), 23);
        let not_run: Vec<_> = queued.iter().filter(|r| !r.ran).collect();
        assert_eq!(not_run.len(), 20);
        assert!(not_run
            .iter()
            .all(|r| r.outcome == TaskOutcome::Cancelled && r.duration().is_zero()));

        let trace: serde_json::Value = serde_json::from_str(&profiler.to_chrome_trace()).unwrap();
        let slices = trace["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["name"] == "queued" && e["ph"] == "X")
            .count();
        assert_eq!(slices, 3, "a slice per run");
    });
}
