//! Dynamic graphs, and the dispatcher they share with static graphs, under shapes the
//! other tests do not reach: a warning handler that panics (warnings made errors)
//! after a run whose end its caller tells the observers; runs nested a thousand deep,
//! each following its task (`stop_when(taskweave::cancelled)`).
//!
//! The larger sizes are `#[ignore]`d: `cargo test --release -p taskweave-tests --test
//! adversarial_dynamic -- --ignored`.

#[path = "support/watchdog.rs"]
mod watchdog;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use taskweave::prelude::*;
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

/// [`runs_nested_1_000_deep_following_their_tasks`] 10,000 deep. Each question walks
/// every level above it, so the whole takes time in the square of the depth: about
/// 90 s per pool in a debug build.
#[test]
#[ignore = "10,000 levels: run with --release -- --ignored"]
fn runs_nested_10_000_deep_following_their_tasks() {
    runs_following_their_tasks(10_000, Duration::from_secs(600));
}
