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
