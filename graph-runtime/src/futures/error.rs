//! Why a future has no result ([`FutureError`]) and why a client could not be built
//! ([`ClientError`]).

use core::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::state::Core;
use crate::engine::error::TaskError;

/// Why a future has no result.
#[derive(Clone)]
#[non_exhaustive]
pub enum FutureError {
    /// The task, or one it depends on, panicked: the error names that task.
    Task(Arc<TaskError>),
    /// The task was cancelled (by `cancel`, by dropping its last handle, by a
    /// cancelled dependency, or by the client shutting down).
    Cancelled {
        /// The cancelled task's name.
        task: String,
        /// Where it was submitted, as `file:line:column`.
        call_site: &'static str,
    },
    /// A task waited, without a timeout, for a future that cannot end before the task
    /// itself does: its own future, one that needs it (the waiting task's future is
    /// among the arguments of a task the awaited one needs, however far down), or,
    /// for a task run inline by a task waiting under it on the same thread (see
    /// [`Future::result`](crate::Future::result)), the future of that task or of one
    /// that needs it. Dask waits forever there; here the wait fails as soon as it
    /// would block, and the futures go on. A timeout too long for the clock to hold a
    /// deadline (`Duration::MAX`) counts as none, so such a wait fails so too. A cycle
    /// that passes through the wait of another task is a
    /// [`WaitCycle`](FutureError::WaitCycle).
    WaitsForItself {
        /// The task waited for.
        task: String,
        /// Where it was submitted, as `file:line:column`.
        call_site: &'static str,
        /// The waiting task, which the awaited one needs.
        waiter: String,
        /// Where the waiting task was submitted.
        waiter_call_site: &'static str,
        /// Whether the wait is a task's of a graph that the waiting task computes (a
        /// `Delayed::compute` inside it), on whichever thread that graph task runs,
        /// rather than the waiting task's own.
        in_graph: bool,
    },
    /// Tasks wait for one another in a cycle (task `a` waits for `b`'s future while
    /// `b` waits for `a`'s, say, the futures handed over by channels or shared
    /// slots rather than as arguments), however long the cycle: none of those waits
    /// could ever end. The wait that closed the cycle (the last of them to block)
    /// fails with this error, which breaks the cycle: the other waits go on, and end
    /// once the failing task does. `cycle` starts with that task; each step cannot end
    /// before the next one does, and the last before the first.
    WaitCycle {
        /// The tasks of the cycle, from the one whose wait failed.
        cycle: Vec<CycleStep>,
    },
    /// A wait with a timeout gave up: `result_timeout` (the task goes on), or
    /// [`AsCompleted::next_timeout`](crate::AsCompleted::next_timeout) or an
    /// iteration under [`AsCompleted::timeout`](crate::AsCompleted::timeout) (its
    /// futures go on); `waited` says which.
    Timeout {
        /// The task waited for (for `next_timeout`, which waits for whichever of its
        /// futures ends first, `as_completed`).
        task: String,
        /// Where it was submitted, as `file:line:column` (for `next_timeout` and
        /// `timeout`, where that was called).
        call_site: &'static str,
        /// How long it waited.
        after: Duration,
        /// Which wait timed out.
        waited: TimedWait,
    },
}

/// Which wait gave up ([`FutureError::Timeout`]'s `waited`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimedWait {
    /// [`Future::result_timeout`](crate::Future::result_timeout) (or
    /// `result_timeout_shared`): its task did not finish in time.
    Result,
    /// [`AsCompleted::next_timeout`](crate::AsCompleted::next_timeout) or
    /// [`AsCompleted::timeout`](crate::AsCompleted::timeout): none of the futures it
    /// still expected finished in time.
    AsCompleted,
}

/// One task of a cycle of waits ([`FutureError::WaitCycle`]): it cannot end before the
/// next task of the cycle does (the last one: before the first).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CycleStep {
    /// The task's name.
    pub task: String,
    /// Where it was submitted, as `file:line:column`.
    pub call_site: &'static str,
    /// Why it cannot end before the next task does.
    pub then: CycleLink,
}

/// Why a task of a cycle of waits cannot end before the next one ([`CycleStep::then`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CycleLink {
    /// It is blocked waiting for the next task's future (`result`, `wait`,
    /// `as_completed`).
    Waits,
    /// It computes a graph (a `Delayed::compute` inside it), and a task of that graph
    /// is blocked waiting for the next task's future: the graph's run, and so the
    /// task, cannot end before that wait does.
    GraphWaits,
    /// It has not started, and the next task's future is among its arguments.
    Argument,
    /// The next task runs on its thread, above it (run inline while it waited): it
    /// resumes only once that task returns.
    RunsInline,
    /// It computes a graph, and a thread running a part of that graph took up other
    /// work while it waited in the graph (rayon's workers do, in a `join`): a task of
    /// that work, above the part, is blocked waiting for the next task's future. The
    /// part, and so the graph and the task, resume only once that wait ends. A task
    /// that waits for a future in its own code (`result`) can meet this; a future
    /// passed to a graph's task as an argument is waited for before the graph starts.
    PartUnderWait,
    /// It computes a graph, and a thread running a part of that graph took up other
    /// work while it waited in the graph: the next task runs there, above the part,
    /// which resumes only once that task returns.
    PartUnderTask,
}

impl FutureError {
    /// The error of the cancelled task of `core`.
    pub(crate) fn cancelled(core: &Core) -> FutureError {
        FutureError::Cancelled {
            task: core.name.to_string(),
            call_site: core.call_site(),
        }
    }
}

impl fmt::Display for FutureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FutureError::Task(error) => error.fmt(f),
            FutureError::Cancelled { task, call_site } => {
                write!(f, "task `{task}` at {call_site} was cancelled")
            }
            FutureError::WaitsForItself {
                task,
                call_site,
                waiter,
                waiter_call_site,
                in_graph,
            } => {
                if *in_graph {
                    write!(
                        f,
                        "a task of the graph that task `{waiter}` at {waiter_call_site} \
                         computes waits for "
                    )?;
                } else {
                    write!(f, "task `{waiter}` at {waiter_call_site} waits for ")?;
                }
                write!(
                    f,
                    "task `{task}` at {call_site}, which cannot end before `{waiter}` \
                     does: the wait would never end"
                )
            }
            FutureError::WaitCycle { cycle } => write_cycle(f, cycle, CycleAdvice::Wait),
            FutureError::Timeout {
                task,
                call_site,
                after,
                waited: TimedWait::Result,
            } => {
                write!(
                    f,
                    "task `{task}` at {call_site} did not finish within {after:?}"
                )
            }
            FutureError::Timeout {
                call_site,
                after,
                waited: TimedWait::AsCompleted,
                ..
            } => {
                write!(
                    f,
                    "as_completed at {call_site}: none of the futures it still expected \
                     finished within {after:?}"
                )
            }
        }
    }
}

impl fmt::Debug for FutureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for FutureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FutureError::Task(error) => Some(&**error),
            _ => None,
        }
    }
}

/// A clear error for a client that cannot be built.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientError {
    /// A pool of zero threads could never run anything.
    ZeroThreads,
    /// More threads asked for ([`ClientBuilder::threads`](crate::ClientBuilder::threads))
    /// than a client starts, [`MAX_THREADS`](crate::Client::MAX_THREADS): the
    /// operating system would refuse long before, after a long while of starting them.
    TooManyThreads(usize),
    /// The operating system refused the threads: its error is the
    /// [`source`](std::error::Error::source).
    Spawn(Arc<std::io::Error>),
    /// The dashboard asked for ([`ClientBuilder::dashboard`](crate::ClientBuilder::dashboard))
    /// could not be served: an address that is not loopback, or the socket's error
    /// (the port is taken); the error is the [`source`](std::error::Error::source).
    #[cfg(feature = "dashboard")]
    Dashboard(Arc<std::io::Error>),
    /// The client's name ([`ClientBuilder::name`](crate::ClientBuilder::name)), which
    /// its threads are named after, contains a NUL byte, which no thread name may.
    InvalidName(String),
}

/// Equal when of one kind (and, for `Spawn` and `Dashboard`, of one
/// [`std::io::ErrorKind`]; for `InvalidName`, of one name).
impl PartialEq for ClientError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ClientError::ZeroThreads, ClientError::ZeroThreads) => true,
            (ClientError::TooManyThreads(a), ClientError::TooManyThreads(b)) => a == b,
            (ClientError::InvalidName(a), ClientError::InvalidName(b)) => a == b,
            (ClientError::Spawn(a), ClientError::Spawn(b)) => a.kind() == b.kind(),
            #[cfg(feature = "dashboard")]
            (ClientError::Dashboard(a), ClientError::Dashboard(b)) => a.kind() == b.kind(),
            _ => false,
        }
    }
}

impl Eq for ClientError {}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::ZeroThreads => {
                f.write_str("a client needs at least one thread; use `threads(1)` or more")
            }
            ClientError::TooManyThreads(threads) => write!(
                f,
                "a client starts at most {} threads, not {threads}; ask for fewer \
                 (`threads(n)`, one per core by default)",
                crate::Client::MAX_THREADS
            ),
            ClientError::Spawn(why) => write!(f, "could not start the client's threads: {why}"),
            #[cfg(feature = "dashboard")]
            ClientError::Dashboard(why) => write!(f, "could not serve the dashboard: {why}"),
            ClientError::InvalidName(name) => write!(
                f,
                "a client's name may not contain a NUL byte (its threads are named \
                 after it): {name:?}"
            ),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Spawn(error) => Some(&**error),
            #[cfg(feature = "dashboard")]
            ClientError::Dashboard(error) => Some(&**error),
            ClientError::ZeroThreads
            | ClientError::TooManyThreads(_)
            | ClientError::InvalidName(_) => None,
        }
    }
}

/// What a cycle's message advises where its first wait is above a part of a graph
/// (`CycleLink::PartUnderWait`): the wait was in a task's own code, or a graph task's
/// read of its future argument (in a run started on rayon's pool, which does not wait
/// for the futures it reads before it starts).
#[derive(Clone, Copy)]
pub(crate) enum CycleAdvice {
    Wait,
    Argument,
}

/// The message of [`FutureError::WaitCycle`], with `advice` for a first wait above a
/// part of a graph.
pub(crate) fn write_cycle(
    f: &mut fmt::Formatter<'_>,
    cycle: &[CycleStep],
    advice: CycleAdvice,
) -> fmt::Result {
    f.write_str("tasks wait for one another in a cycle, and the waits would never end: ")?;
    for (at, step) in cycle.iter().enumerate() {
        let next = &cycle[(at + 1) % cycle.len()].task;
        let CycleStep {
            task, call_site, ..
        } = step;
        if at > 0 {
            f.write_str("; ")?;
        }
        match step.then {
            CycleLink::Waits => write!(f, "`{task}` at {call_site} waits for `{next}`")?,
            CycleLink::GraphWaits => write!(
                f,
                "`{task}` at {call_site} computes a graph, a task of which \
                 waits for `{next}`"
            )?,
            CycleLink::Argument => write!(
                f,
                "`{task}` at {call_site} has not started and needs `{next}` \
                 (an argument)"
            )?,
            CycleLink::RunsInline => write!(
                f,
                "`{task}` at {call_site} resumes only once `{next}`, run \
                 inline on its thread, returns"
            )?,
            CycleLink::PartUnderWait => write!(
                f,
                "`{task}` at {call_site} computes a graph, a part of which \
                 resumes only once a task run above it on its thread (taken \
                 up while it waited) ends its wait for `{next}`"
            )?,
            CycleLink::PartUnderTask => write!(
                f,
                "`{task}` at {call_site} computes a graph, a part of which \
                 resumes only once `{next}`, run above it on its thread \
                 (taken up while it waited), returns"
            )?,
        }
    }
    match cycle.first() {
        Some(first) if first.then == CycleLink::PartUnderWait => write!(
            f,
            "; that wait, in a task that runs above the graph's part, fails, to \
             break the cycle ({})",
            match advice {
                CycleAdvice::Wait => {
                    "pass the future to the task as an argument instead: it is \
                     waited for before the graph starts"
                }
                CycleAdvice::Argument => {
                    "compute the graph that reads the future with `client.compute`, \
                     or from outside rayon's pool: its run then waits for the futures \
                     it reads before it starts"
                }
            }
        )?,
        Some(first) => write!(
            f,
            "; the wait of `{}` fails, to break the cycle",
            first.task
        )?,
        None => {}
    }
    Ok(())
}
