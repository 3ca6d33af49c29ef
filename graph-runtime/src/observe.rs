//! Watching a run: hooks the dispatcher calls around every task, for progress bars,
//! task-stream profiles and tracing. With no observer the dispatcher pays one branch.

use std::sync::Arc;

use crate::dispatch::Scheduler;
use crate::error::TaskError;
use crate::table::NodeInfo;

/// How one task's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// Whether the graph task running on this thread belongs to a run told to stop.
pub(crate) fn run_stopped() -> bool {
    STOP.with(|stop| stop.borrow().as_ref().is_some_and(|stop| stop()))
}

/// Makes `stop` the condition [`run_stopped`] reads on this thread until dropped.
pub(crate) struct StopScope(Option<Arc<dyn Fn() -> bool + Send + Sync>>);

impl StopScope {
    pub(crate) fn enter(stop: &Arc<dyn Fn() -> bool + Send + Sync>) -> StopScope {
        StopScope(STOP.with(|s| s.replace(Some(stop.clone()))))
    }
}

impl Drop for StopScope {
    fn drop(&mut self) {
        let previous = self.0.take();
        STOP.with(|s| *s.borrow_mut() = previous);
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
