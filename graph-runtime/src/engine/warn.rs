//! Warnings about how graphs are used, printed once per call site: today, dynamic graphs
//! whose tasks are too small for what scheduling each one costs (Dask warns about large
//! graphs for the same reason; here the limit is the size of a task, not the count).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use std::sync::OnceLock;

use crate::engine::config::{Switch, SWITCH};
use crate::engine::lock::Recover;
use crate::engine::table::NodeInfo;

/// Graphs smaller than this are never warned about: their overhead is small in total.
const MIN_TASKS: usize = 10_000;
/// Below this much CPU time per task (the run's wall time × threads ÷ tasks), most of
/// a task's time is the scheduler's (about 0.3 µs per dynamic task, `BENCHMARKS.md`).
const MIN_TASK_TIME: Duration = Duration::from_micros(1);

static DISABLED: AtomicBool = AtomicBool::new(false);

/// Turns taskweave's warnings on or off for this process (on by default, unless the
/// environment variable `TASKWEAVE_WARNINGS` is `off`, `false`, `0` or `never`; `on`,
/// `true` and `1` mean the default; other values are ignored with a warning).
///
/// The one warning today: a dynamic graph of 10,000 tasks or more whose tasks take
/// under 1 µs of CPU on average, where scheduling costs about as much as the work;
/// it names the graph's result and where it was built, once per call site.
pub fn set_warnings(enabled: bool) {
    DISABLED.store(!enabled, Ordering::Relaxed);
}

/// `TASKWEAVE_WARNINGS`: `Off` silences the warnings of [`crate::engine::warn`] (not these
/// ones about the variables themselves, which would otherwise hide their own typos).
fn warnings() -> Switch {
    static VALUE: OnceLock<Option<Switch>> = OnceLock::new();
    read_env(&VALUE, "TASKWEAVE_WARNINGS", "on or off", SWITCH).unwrap_or(Switch::On)
}

/// `var` from the environment, parsed (see [`crate::engine::config`]) once per process
/// into `cell`; the first reader prints the warning if any. Here, where warnings go, so
/// that `config` depends on nothing.
///
/// The warning is printed once `cell` holds the value, outside its initialisation: an
/// [`on_warning`] handler that computes a graph reads the variable again, and a read
/// inside the initialisation would wait for itself for ever (`OnceLock`'s reentrant
/// initialisation deadlocks).
pub(crate) fn read_env<T: Copy>(
    cell: &OnceLock<Option<T>>,
    var: &str,
    what: &str,
    accepted: &[(&str, T)],
) -> Option<T> {
    let mut warning = None;
    let value = *cell.get_or_init(|| {
        let raw = std::env::var_os(var);
        let (value, warned) = crate::engine::config::parse(
            var,
            raw.as_ref().map(|v| v.to_string_lossy()).as_deref(),
            what,
            accepted,
        );
        warning = warned;
        value
    });
    if let Some(warning) = warning {
        print(&warning);
    }
    value
}

pub(crate) fn enabled() -> bool {
    warnings() == Switch::On && !DISABLED.load(Ordering::Relaxed)
}

/// Where warnings go instead of stderr (see [`on_warning`]).
type Handler = std::sync::Arc<dyn Fn(&str) + Send + Sync>;
static HANDLER: std::sync::RwLock<Option<Handler>> = std::sync::RwLock::new(None);

/// Sends taskweave's warnings to `handler` instead of stderr, for programs that log
/// (`taskweave::on_warning(|message| log::warn!("{message}"))`) or collect them; the
/// last handler set wins. [`set_warnings(false)`](set_warnings) still silences them.
/// With the `tracing` feature, each warning is also a `tracing` event (target
/// `taskweave`) whether or not a handler is set. A handler that panics (warnings made
/// errors) unwinds out of the compute that warned, once its run's observers have heard
/// it end.
pub fn on_warning(handler: impl Fn(&str) + Send + Sync + 'static) {
    *HANDLER.write().recover() = Some(std::sync::Arc::new(handler));
}

/// Hands a warning to the [`on_warning`] handler, or prints it on stderr; and as a
/// `tracing` event with the `tracing` feature.
pub(crate) fn print(message: &str) {
    let handler = HANDLER.read().recover().clone();
    match handler {
        Some(handler) => handler(message),
        None => eprintln!("{message}"),
    }
    #[cfg(feature = "tracing")]
    tracing::warn!(target: "taskweave", "{message}");
}

/// The CPU time per task of a finished run of `tasks` nodes, `elapsed` on `threads`
/// threads, when its tasks are too small for their overhead; `None` otherwise.
fn tiny(tasks: usize, elapsed: Duration, threads: usize) -> Option<Duration> {
    if tasks < MIN_TASKS {
        return None;
    }
    let per_task = elapsed.mul_f64(threads.max(1) as f64) / tasks as u32;
    (per_task < MIN_TASK_TIME).then_some(per_task)
}

/// The tiny-task warning for a graph whose result is `output`.
fn tiny_tasks_message(output: &NodeInfo<'_>, tasks: usize, per_task: Duration) -> String {
    format!(
        "taskweave: warning: the graph of `{}` ({}) ran {tasks} tasks at about {:.2} µs of \
         CPU each, scheduling included: tasks this small spend much of their time being \
         scheduled; batch the work into fewer, larger tasks of several µs (see \
         `taskweave::docs::guide`, \"Best practices\"); silence this with \
         TASKWEAVE_WARNINGS=off or `taskweave::set_warnings(false)`",
        output.name(),
        output.call_site(),
        per_task.as_secs_f64() * 1e6,
    )
}

/// Prints the tiny-task warning for this run, once per call site of the graph's result.
/// `threads`, how many threads the run could use at once, is asked for only when the
/// run's tasks are tiny on one thread (more threads make each task's CPU time larger)
/// and its call site has not been warned about yet. Allocates only to print, and for
/// `threads` (a dynamic plan counts its levels once, the first time it is asked): a
/// prepared graph's computes allocate nothing here after its first.
pub(crate) fn tiny_tasks(
    output: &NodeInfo<'_>,
    tasks: usize,
    elapsed: Duration,
    threads: impl FnOnce() -> usize,
) {
    if !enabled() || tiny(tasks, elapsed, 1).is_none() {
        return;
    }
    static WARNED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let warned = |site: &str| {
        WARNED
            .lock()
            .recover()
            .as_ref()
            .is_some_and(|w| w.contains(site))
    };
    if warned(output.call_site()) {
        return;
    }
    let Some(per_task) = tiny(tasks, elapsed, threads()) else {
        return;
    };
    let first = WARNED
        .lock()
        .recover()
        .get_or_insert_with(HashSet::new)
        .insert(output.call_site().to_owned());
    if first {
        print(&tiny_tasks_message(output, tasks, per_task));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> NodeInfo<'static> {
        NodeInfo::new(
            &const { crate::engine::table::Label::task("total", "src/main.rs:12:9") },
            0,
            0,
            0,
        )
    }

    #[test]
    fn a_handler_takes_warnings_instead_of_stderr() {
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        on_warning(move |m| sink.lock().unwrap().push(m.to_owned()));
        print("taskweave: warning: a test");
        assert!(seen
            .lock()
            .unwrap()
            .iter()
            .any(|m| m == "taskweave: warning: a test"));
    }

    #[test]
    fn warns_only_for_many_tiny_tasks() {
        let ms = Duration::from_millis;
        // 100,000 tasks in 20 ms on 2 threads: 0.4 µs each.
        let per_task = tiny(100_000, ms(20), 2).expect("a warning");
        assert_eq!(per_task, Duration::from_nanos(400));
        let message = tiny_tasks_message(&info(), 100_000, per_task);
        assert!(
            message.contains("`total` (src/main.rs:12:9) ran 100000 tasks at about 0.40 µs"),
            "{message}"
        );
        // The same tasks taking 10 µs each: no warning.
        assert_eq!(tiny(100_000, ms(500), 2), None);
        // Few tasks: no warning, however small.
        assert_eq!(tiny(9_999, ms(1), 2), None);
    }
}
