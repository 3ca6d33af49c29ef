//! `tracing` spans around every task, of graphs and of futures (cargo feature
//! `tracing`).

use std::cell::RefCell;

use tracing::span::EnteredSpan;

use crate::engine::error::TaskError;
use crate::engine::observe::{FutureEvent, Observer, TaskOutcome};
use crate::engine::table::NodeInfo;

thread_local! {
    /// The spans of the tasks running on this thread, innermost last (a task that
    /// waits may run others on its thread, which end before it does).
    static OPEN: RefCell<Vec<EnteredSpan>> = const { RefCell::new(Vec::new()) };
}

/// Opens an `INFO` span named `task` while each task runs, on the thread that runs
/// it, with the fields `task` (its name), `kind`, `call_site`, `node` and, when it
/// ends, `outcome` (`finished`, `failed`, `stopped`); a failed run also emits an
/// `ERROR` event naming the task. Any `tracing` subscriber shows them
/// (`tracing-subscriber`'s `fmt`, `tracing-chrome`, `tracing-tracy`, …).
///
/// ```ignore
/// job.compute_with(RunOptions::new().observer(Arc::new(TracingObserver)), x);
/// ```
///
/// On a [`Client`](crate::Client) (`Client::builder().observer(Arc::new(TracingObserver))`),
/// every attempt of a task that runs is a span named `task` too, on the client's
/// thread that runs it, with the fields `task`, `kind` (`future`, or `compute` for a
/// `client.compute`, whose graph's tasks get spans of their own), `call_site`, `key`
/// (as [`Future::key`](crate::Future::key) writes it), `attempt` and `outcome`
/// (`finished`, `failed`, `cancelled`, or `retried` for an attempt that runs again);
/// a task that panicked on its last attempt also emits an `ERROR` event naming it, and
/// one that ended before it ran (cancelled, or a dependency failed) a `DEBUG` event
/// instead of a span.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingObserver;

impl TracingObserver {
    /// The observer (it has no state).
    #[must_use = "a `TracingObserver` emits nothing until given to a run (`RunOptions::observer`)"]
    pub fn new() -> Self {
        TracingObserver
    }
}

impl Observer for TracingObserver {
    fn graph_started(&self, nodes: &[NodeInfo<'_>]) {
        tracing::debug!(nodes = nodes.len(), "taskweave graph started");
    }

    fn task_started(&self, node: u32, info: &NodeInfo<'_>) {
        let span = tracing::info_span!(
            "task",
            task = info.name(),
            kind = info.kind(),
            call_site = info.call_site(),
            node,
            outcome = tracing::field::Empty,
        );
        OPEN.with(|open| open.borrow_mut().push(span.entered()));
    }

    fn task_finished(&self, _node: u32, _info: &NodeInfo<'_>, outcome: TaskOutcome) {
        close(outcome);
    }

    fn graph_finished(&self, result: Result<(), &TaskError>) {
        match result {
            Ok(()) => tracing::debug!("taskweave graph finished"),
            Err(error) => tracing::error!(
                task = error.task(),
                call_site = error.call_site(),
                message = error.message(),
                "taskweave task failed"
            ),
        }
    }

    fn future_started(&self, task: &FutureEvent<'_>) {
        let span = tracing::info_span!(
            "task",
            task = task.name,
            kind = task.kind,
            call_site = task.call_site,
            key = %Key(task),
            attempt = task.attempt,
            outcome = tracing::field::Empty,
        );
        OPEN.with(|open| open.borrow_mut().push(span.entered()));
    }

    fn future_finished(&self, task: &FutureEvent<'_>, outcome: TaskOutcome) {
        if !task.started {
            tracing::debug!(
                task = task.name,
                call_site = task.call_site,
                key = %Key(task),
                outcome = outcome.as_str(),
                "taskweave future ended before it ran"
            );
            return;
        }
        if outcome == TaskOutcome::Failed {
            // Inside the task's span, as the panic was.
            tracing::error!(
                task = task.name,
                call_site = task.call_site,
                key = %Key(task),
                "taskweave future failed"
            );
        }
        close(outcome);
    }
}

/// Closes the innermost span open on this thread, with its outcome.
fn close(outcome: TaskOutcome) {
    let span = OPEN.with(|open| open.borrow_mut().pop());
    if let Some(span) = span {
        span.record("outcome", outcome.as_str());
        // Exits and closes the span, here, on the thread that entered it.
        drop(span);
    }
}

/// A future's key, written as `Future::key` writes it, without a `String`.
struct Key<'a, 'b>(&'a FutureEvent<'b>);

impl std::fmt::Display for Key<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{:x}", self.0.name, self.0.key)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread::ThreadId;

    use tracing::span::{Attributes, Id, Record};
    use tracing::subscriber::Subscriber;
    use tracing::{Event, Metadata};

    use super::*;
    use crate::engine::dispatch::{dispatch, Flow};
    use crate::engine::options::{RunOptions, Scheduler};
    use crate::engine::table::Table;

    /// Counts spans, and checks that each is exited on the thread that entered it.
    #[derive(Default)]
    struct Spans {
        next: AtomicU64,
        names: Mutex<HashMap<u64, String>>,
        entered: Mutex<HashMap<u64, ThreadId>>,
        exits: AtomicU32,
        wrong_thread: AtomicU32,
        errors: AtomicU32,
    }

    struct Name<'a>(&'a mut String);

    impl tracing::field::Visit for Name<'_> {
        fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
            if field.name() == "task" {
                self.0.push_str(value);
            }
        }
        fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
    }

    struct Counting(Arc<Spans>);

    impl std::ops::Deref for Counting {
        type Target = Spans;
        fn deref(&self) -> &Spans {
            &self.0
        }
    }

    impl Subscriber for Counting {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
            let mut name = String::new();
            span.record(&mut Name(&mut name));
            self.names.lock().unwrap().insert(id, name);
            Id::from_u64(id)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            if *event.metadata().level() == tracing::Level::ERROR {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        fn enter(&self, span: &Id) {
            let me = std::thread::current().id();
            self.entered.lock().unwrap().insert(span.into_u64(), me);
        }
        fn exit(&self, span: &Id) {
            let me = std::thread::current().id();
            if self.entered.lock().unwrap().get(&span.into_u64()) != Some(&me) {
                self.wrong_thread.fetch_add(1, Ordering::Relaxed);
            }
            self.exits.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn one_span_per_task_closed_on_its_thread() {
        // A root, 8 middles, a sink: 10 nodes, 8 in parallel.
        let mut nodes = vec![NodeInfo::new(
            &const { crate::engine::table::Label::task("root", "t.rs:1:1") },
            0,
            0,
            8,
        )];
        for i in 0..8 {
            nodes.push(NodeInfo::new(
                &const { crate::engine::table::Label::task("middle", "t.rs:2:1") },
                1,
                8 + i,
                1,
            ));
        }
        nodes.push(NodeInfo::new(
            &const { crate::engine::table::Label::task("sink", "t.rs:3:1") },
            8,
            16,
            0,
        ));
        let successors: Vec<u32> = (1..9).chain([9; 8]).collect();
        let table = Table::from_parts(&nodes, &successors, &[0], 8);
        let pending: Vec<AtomicU32> = (0..10).map(|_| AtomicU32::new(0)).collect();
        let spans = Arc::new(Spans::default());
        let dispatcher = tracing::Dispatch::new(Counting(spans.clone()));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .start_handler({
                let dispatcher = dispatcher.clone();
                move |_| {
                    // Leaked for the pool thread's life, which the test outlives.
                    std::mem::forget(tracing::dispatcher::set_default(&dispatcher));
                }
            })
            .build()
            .unwrap();
        let run = |node: u32| {
            if node == 9 {
                panic!("sink fails");
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
            Flow::Continue
        };
        let observed = RunOptions::new()
            .scheduler(Scheduler::Threads)
            .observer(Arc::new(TracingObserver));
        let result = tracing::dispatcher::with_default(&dispatcher, || {
            pool.install(|| dispatch(&table, &pending, &run, &observed))
        });
        assert_eq!(result.unwrap_err().task(), "sink");
        let names = spans.names.lock().unwrap();
        assert_eq!(names.len(), 10, "one span per task");
        assert_eq!(names.values().filter(|n| *n == "middle").count(), 8);
        assert_eq!(spans.exits.load(Ordering::Relaxed), 10);
        assert_eq!(spans.wrong_thread.load(Ordering::Relaxed), 0);
        assert_eq!(spans.errors.load(Ordering::Relaxed), 1);
    }

    fn twice(x: u64) -> u64 {
        x * 2
    }

    fn fails(x: u64) -> u64 {
        panic!("fails on {x}")
    }

    fn flaky(attempts: Arc<AtomicU32>) -> u64 {
        if attempts.fetch_add(1, Ordering::SeqCst) < 2 {
            panic!("not yet");
        }
        1
    }

    fn gate(rx: Arc<Mutex<std::sync::mpsc::Receiver<()>>>) -> u64 {
        rx.lock().unwrap().recv().unwrap();
        1
    }

    #[test]
    fn one_span_per_attempt_of_a_clients_task() {
        // The client's threads have no hook to set a scoped subscriber: the global
        // one counts (the other test here sets its own on every thread it uses).
        let spans = Arc::new(Spans::default());
        tracing::subscriber::set_global_default(Counting(spans.clone())).unwrap();
        let client = crate::Client::builder()
            .threads(2)
            .observer(Arc::new(TracingObserver))
            .build()
            .unwrap();
        let (open, rx) = std::sync::mpsc::channel();
        let gated = client.submit(gate, (Arc::new(Mutex::new(rx)),));
        let never = client.submit(twice, (gated.clone(),));
        never.cancel();
        open.send(()).unwrap();
        let doubled: Vec<_> = (0..3u64).map(|i| client.submit(twice, (i,))).collect();
        let failing = client.submit(fails, (1u64,));
        let retried = client
            .task(flaky)
            .retries(2)
            .submit((Arc::new(AtomicU32::new(0)),));
        assert_eq!(client.gather(&doubled).unwrap(), [0, 2, 4]);
        assert!(failing.result().is_err());
        assert_eq!(retried.result().unwrap(), 1);
        assert_eq!(gated.result().unwrap(), 1);
        drop(client);

        let names = spans.names.lock().unwrap();
        let count = |task: &str| names.values().filter(|n| *n == task).count();
        // Every attempt that ran, none for the task cancelled before it ran.
        assert_eq!(
            (
                count("twice"),
                count("fails"),
                count("flaky"),
                count("gate")
            ),
            (3, 1, 3, 1)
        );
        assert_eq!(names.len(), 8);
        assert_eq!(spans.exits.load(Ordering::Relaxed), 8);
        assert_eq!(spans.wrong_thread.load(Ordering::Relaxed), 0);
        assert_eq!(spans.errors.load(Ordering::Relaxed), 1, "the failed task");
    }
}
