//! How to run a graph ([`RunOptions`]): which threads ([`Scheduler`], and the
//! `TASKWEAVE_SCHEDULER` override), who watches, when to stop and whom to tell of the
//! first failure. Read by the dispatcher and by every front end.

use std::sync::Arc;
use std::sync::OnceLock;

use crate::engine::error::TaskError;
use crate::engine::observe::{Observer, Observers};

/// Which threads run a graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheduler {
    /// Rayon's pool: the current one when called from a pool thread, the global one
    /// otherwise. Graphs with no parallelism run on the calling thread.
    #[default]
    Threads,
    /// Every node on the calling thread, one after the other in topological order:
    /// for debuggers, and for deterministic tests.
    Sync,
}

/// How to run a graph: the scheduler, and who watches. `Scheduler` converts into it,
/// so `compute_with(Scheduler::Sync, …)` reads as it did.
#[derive(Clone, Default)]
pub struct RunOptions {
    pub(crate) scheduler: Scheduler,
    pub(crate) observer: Option<Arc<dyn Observer>>,
    /// The observers given, when more than one: `observer` is this list, so that one
    /// more is added to it rather than nested (each `observer` call nested the list in
    /// a new one, one call deeper per observer when telling them: 20,000 observers
    /// overflowed the stack).
    given: Option<Arc<Observers>>,
    pub(crate) stop: Option<Arc<dyn Fn() -> bool + Send + Sync>>,
    /// `stop` is `taskweave::cancelled` itself: the run follows its caller's task,
    /// which the engine answers without asking (see `engine::observe::RunStop`).
    pub(crate) follows: bool,
    /// Told the run's first failure as it happens, while tasks beside it may still run
    /// (a one-shot dynamic compute returns it at once; see `dynamic::plan`).
    pub(crate) on_failure: Option<Arc<dyn Fn(TaskError) + Send + Sync>>,
    /// The client the run belongs to, for `get_client` in its tasks: taken from the
    /// thread that starts the run (see [`with_current_client`](Self::with_current_client)).
    pub(crate) client: Option<crate::engine::owner::Owner>,
    /// The graph task the run was started in, when it starts on another thread than
    /// its caller's (see `engine::observe::Caller`).
    pub(crate) caller: crate::engine::observe::Caller,
    /// A front end's request that a `graph!` describe its nodes rather than run them
    /// (feature `hyperqueue`: a static graph on a cluster). Opaque here: the remote
    /// front end makes it and reads it back.
    #[cfg(feature = "hyperqueue")]
    pub(crate) describe: Option<Arc<dyn std::any::Any + Send + Sync>>,
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

    /// Reports every task to `observer`; called again, to each observer given, in
    /// order (a profiler and a progress bar on one run). A panic of an observer's hook
    /// fails the run as a task's panic does, with an error that names the hook and the
    /// task (for `graph_started` and `graph_finished`, the graph's output): "the
    /// observer panicked in `task_finished` while computing `sum` at …: …".
    #[must_use = "builder methods return the changed builder"]
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        let list = match (self.observer.take(), self.given.take()) {
            (None, _) => {
                self.observer = Some(observer);
                return self;
            }
            // `observer` is `given`: one more in the list (a copy of it when these
            // options were cloned).
            (Some(combined), Some(mut given))
                if std::ptr::addr_eq(Arc::as_ptr(&combined), Arc::as_ptr(&given)) =>
            {
                drop(combined);
                match Arc::get_mut(&mut given) {
                    Some(list) => {
                        list.0.push(observer);
                        given
                    }
                    None => Arc::new(Observers(
                        given.0.iter().cloned().chain([observer]).collect(),
                    )),
                }
            }
            (Some(first), _) => Arc::new(Observers(vec![first, observer])),
        };
        self.observer = Some(list.clone());
        self.given = Some(list);
        self
    }

    /// Stops the run once `stop()` returns true: no task starts after that (the run
    /// fails with an error naming the first task that did not start), and running
    /// tasks see it through [`taskweave::cancelled()`](crate::cancelled), so that long
    /// ones can return early. `stop` is called before each task; keep it cheap (an
    /// atomic load). A future of `Client::compute` stops its graph this way when it is
    /// cancelled or its last handle dropped. A run started inside a task of this run
    /// follows it only when asked: `stop_when(taskweave::cancelled)`; so does a run
    /// started inside a futures task, which then stops once that task is cancelled.
    /// Given `taskweave::cancelled` itself, a run nested in a graph task reads whether
    /// any run above it stopped without asking each level in turn: its questions cost
    /// the same at any depth of nesting (a closure that calls it asks every level).
    /// `stop` is asked as the task the run was started in, on whichever thread. A run
    /// started from outside rayon's pool whose tasks read futures waits for them
    /// before its first task starts: `stop` is asked every 2 ms meanwhile, and once it
    /// says stop, the run stops at once. A panic of `stop` fails the run as the task's
    /// panic would, said so: "the run's stop predicate panicked while computing `sum`
    /// at …: …", whether it was asked before the task started or by the task's
    /// `cancelled()` (which unwinds the task).
    #[must_use = "builder methods return the changed builder"]
    pub fn stop_when(mut self, stop: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.follows = is_cancelled(&stop);
        self.stop = Some(Arc::new(stop));
        self
    }

    /// These options, belonging to the client of the task running on this thread if
    /// they belong to none yet: a run started inside a client's task, or inside a task
    /// of a run of one, is that client's, whichever thread then runs it (a run may
    /// move to rayon's pool before its tasks start).
    pub(crate) fn with_current_client(mut self) -> Self {
        if self.client.is_none() {
            self.client = crate::engine::owner::current_run_owner();
        }
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

/// Whether `f` is `taskweave::cancelled` itself (its function item, a type of its own).
fn is_cancelled<F: 'static>(_: &F) -> bool {
    fn type_of<T: 'static>(_: &T) -> std::any::TypeId {
        std::any::TypeId::of::<T>()
    }
    std::any::TypeId::of::<F>() == type_of(&crate::cancelled)
}

/// The values accepted by `TASKWEAVE_SCHEDULER`.
pub(crate) const SCHEDULER: &[(&str, Scheduler)] =
    &[("sync", Scheduler::Sync), ("threads", Scheduler::Threads)];

/// `TASKWEAVE_SCHEDULER`: `Some(Scheduler::Sync)` turns every `Threads` run into a
/// synchronous one; `threads`, unset or invalid leave each run's own choice.
fn scheduler_from_env() -> Option<Scheduler> {
    static VALUE: OnceLock<Option<Scheduler>> = OnceLock::new();
    crate::engine::warn::read_env(&VALUE, "TASKWEAVE_SCHEDULER", "a scheduler", SCHEDULER)
}

/// `TASKWEAVE_SCHEDULER=sync` (see [`crate::engine::config`]).
fn sync_from_env() -> bool {
    scheduler_from_env() == Some(Scheduler::Sync)
}
