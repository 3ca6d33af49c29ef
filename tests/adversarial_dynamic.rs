//! Dynamic graphs, and the dispatcher they share with static graphs, under shapes the
//! other tests do not reach: a warning handler that panics (warnings made errors)
//! after a run whose end its caller tells the observers.

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
