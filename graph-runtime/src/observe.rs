//! Watching a run: hooks the dispatcher calls around every task, for progress bars,
//! task-stream profiles and tracing. With no observer the dispatcher pays one branch.

use std::sync::Arc;

use crate::dispatch::Scheduler;
use crate::error::TaskError;
use crate::table::NodeInfo;

/// How one task's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskOutcome {
    /// It stored its result.
    Finished,
    /// It panicked.
    Failed,
    /// It stopped the graph early (a `?` met an error).
    Stopped,
}

/// Receives the events of a run. Every method has an empty default; methods are called
/// from the threads that run the tasks, concurrently.
pub trait Observer: Send + Sync {
    /// The run starts: its nodes, in topological order.
    fn graph_started(&self, _nodes: &[NodeInfo<'_>]) {}
    /// Node `node` starts running on this thread.
    fn task_started(&self, _node: u32, _info: &NodeInfo<'_>) {}
    /// Node `node` ended on this thread.
    fn task_finished(&self, _node: u32, _info: &NodeInfo<'_>, _outcome: TaskOutcome) {}
    /// The run ended (nodes that never started had no events).
    fn graph_finished(&self, _result: Result<(), &TaskError>) {}
}

/// How to run a graph: the scheduler, and who watches. `Scheduler` converts into it,
/// so `compute_with(Scheduler::Sync, …)` reads as it did.
#[derive(Clone, Default)]
pub struct RunOptions {
    pub(crate) scheduler: Scheduler,
    pub(crate) observer: Option<Arc<dyn Observer>>,
    pub(crate) stop: Option<Arc<dyn Fn() -> bool + Send + Sync>>,
    /// Told the run's first failure as it happens, while tasks beside it may still run
    /// (a one-shot dynamic compute returns it at once; see `dynamic::plan`).
    pub(crate) on_failure: Option<Arc<dyn Fn(TaskError) + Send + Sync>>,
}

impl RunOptions {
    /// Rayon's pool, nobody watching.
    #[must_use = "builder methods return the changed builder"]
    pub fn new() -> Self {
        RunOptions::default()
    }

    /// Runs with `scheduler`.
    #[must_use = "builder methods return the changed builder"]
    pub fn scheduler(mut self, scheduler: Scheduler) -> Self {
        self.scheduler = scheduler;
        self
    }

    /// Reports every task to `observer`.
    #[must_use = "builder methods return the changed builder"]
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Stops the run once `stop()` returns true: no task starts after that (the run
    /// fails with an error naming the first task that did not start), and running
    /// tasks see it through [`taskweave::cancelled()`](crate::cancelled), so that long
    /// ones can return early. `stop` is called before each task; keep it cheap (an
    /// atomic load). A future of `Client::compute` stops its graph this way when it is
    /// cancelled or its last handle dropped.
    #[must_use = "builder methods return the changed builder"]
    pub fn stop_when(mut self, stop: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.stop = Some(Arc::new(stop));
        self
    }

    /// The scheduler that will run: `TASKWEAVE_SCHEDULER=sync` in the environment
    /// turns the thread pool into the synchronous scheduler, for debugging without
    /// changing code (`threads`, the default, leaves the scheduler asked for; any
    /// other value is ignored with a warning on stderr).
    pub fn effective_scheduler(&self) -> Scheduler {
        match self.scheduler {
            Scheduler::Threads if sync_from_env() => Scheduler::Sync,
            other => other,
        }
    }
}

std::thread_local! {
    /// The stop condition of the run whose task is running on this thread, if it has
    /// one (set by the dispatcher around each task), for [`crate::cancelled`].
    static STOP: std::cell::RefCell<Option<Arc<dyn Fn() -> bool + Send + Sync>>> =
        const { std::cell::RefCell::new(None) };
    /// The run whose task is running on this thread: its stop index (see the
    /// dispatcher's `Ctx::stop`) and the task's own index; null outside a graph task.
    static RUN: std::cell::Cell<(*const crate::sync::AtomicU32, u32)> =
        const { std::cell::Cell::new((std::ptr::null(), 0)) };
}

/// Whether the graph task running on this thread belongs to a run told to stop: by its
/// caller's condition ([`RunOptions::stop_when`]), or because the run failed (a task
/// panicked) or stopped (a `?` met an error) at or before this task, so that its result
/// is no longer wanted.
pub(crate) fn run_stopped() -> bool {
    let (stop, node) = RUN.with(std::cell::Cell::get);
    // SAFETY: `RUN` holds a pointer only while a `TaskScope` is alive on this thread,
    // and the scope is made by the dispatcher from a `&AtomicU32` of the run that
    // outlives the task (the scope is dropped before the task's `run_node` returns).
    let failed = !stop.is_null() && unsafe { &*stop }.load(crate::sync::Ordering::Relaxed) <= node;
    failed || STOP.with(|stop| stop.borrow().as_ref().is_some_and(|stop| stop()))
}

/// Makes one graph task's run visible to [`run_stopped`] on this thread until dropped:
/// the run's stop index, the task's index, and the caller's stop condition if any.
/// Nested runs (a task computing a graph) restore the outer task's on drop.
pub(crate) struct TaskScope {
    previous: (*const crate::sync::AtomicU32, u32),
    stop: Option<Option<Arc<dyn Fn() -> bool + Send + Sync>>>,
}

impl TaskScope {
    #[inline]
    pub(crate) fn enter(
        run_stop: &crate::sync::AtomicU32,
        node: u32,
        stop: Option<&Arc<dyn Fn() -> bool + Send + Sync>>,
    ) -> TaskScope {
        let previous = RUN.with(|run| run.replace((run_stop as *const _, node)));
        let stop = stop.map(|stop| STOP.with(|s| s.replace(Some(stop.clone()))));
        TaskScope { previous, stop }
    }
}

impl Drop for TaskScope {
    #[inline]
    fn drop(&mut self) {
        RUN.with(|run| run.set(self.previous));
        if let Some(previous) = self.stop.take() {
            STOP.with(|s| *s.borrow_mut() = previous);
        }
    }
}

impl From<Scheduler> for RunOptions {
    fn from(scheduler: Scheduler) -> Self {
        RunOptions::new().scheduler(scheduler)
    }
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("scheduler", &self.scheduler)
            .field("observed", &self.observer.is_some())
            .finish()
    }
}

/// `TASKWEAVE_SCHEDULER=sync` (see [`crate::config`]).
fn sync_from_env() -> bool {
    crate::config::scheduler() == Some(Scheduler::Sync)
}
