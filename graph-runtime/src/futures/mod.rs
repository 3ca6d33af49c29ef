//! Futures: eager tasks on a pool the [`Client`] owns, as `dask.distributed` runs them
//! on a local cluster. A future passed as an argument makes a dependency (the task
//! starts when it finishes), never a blocking wait in the caller.
//!
//! The engine room, and the rules it keeps:
//! - `pool`: the client's threads and how a thread waits. A task that waits never
//!   runs an unrelated task on its stack: it runs a ready task that what it awaits
//!   needs (which cannot be waiting for it), or hands its place to another thread
//!   while it sleeps (Dask's `secede`/`rejoin`), so nested waits neither deadlock nor
//!   grow a stack. The full rule is in that module's docs.
//! - `blocked`: the tasks blocked in waits, as a wait-for graph: a wait that could
//!   never end (a task waiting for itself, a cycle of waits) fails instead of
//!   blocking.
//! - `state`: a future's status, result and waiters. Ending a task tells its waiters
//!   through a work list, so failure and cancellation go down a chain of any length
//!   in constant stack.
//!
//! Where things are:
//! - `client`: the [`Client`], its builder, its pool's owner and its shutdown.
//! - `job`: one submitted task, from its [`TaskBuilder`] to its end.
//! - `future`: the [`Future`] handle and its [`Status`].
//! - `error`: [`FutureError`] and [`ClientError`].
//! - `info`: the graph of futures, for inspection ([`futures_info`]).
//! - `as_arg`: futures as arguments of delayed calls.
//! - `args`: what `submit` accepts; `erased`, `waiting`: futures of any type, and
//!   `wait`/`as_completed`; `list`: the small list of a future's waiters.

mod args;
mod as_arg;
mod blocked;
mod client;
mod erased;
mod error;
mod future;
#[cfg(all(test, not(loom)))]
mod hook;
mod info;
mod job;
mod list;
mod pool;
pub(crate) mod state;
mod waiting;

pub use args::{
    Dependencies, Fallible, FutArg, IntoFutArg, KeptArgs, PureArgs, SubmitArgs, TaskFn,
};
pub use client::{Client, ClientBuilder, Forget};
pub use erased::ErasedFuture;
pub use error::{ClientError, CycleLink, CycleStep, FutureError, TimedWait};
pub use future::{Future, Status};
pub use info::{futures_info, AnyFuture, FutureRef};
pub(crate) use job::futures_task_innermost;
pub use job::{cancelled, get_client, secede, TaskBuilder};
/// A deadline from a timeout, none for `Duration::MAX` (shared with the cluster transports).
#[cfg_attr(not(feature = "hyperqueue"), allow(unused_imports))]
pub(crate) use pool::deadline_after;
pub use waiting::{
    as_completed, progress, wait, AsCompleted, AsCompletedTimeout, WaitMode, Waitable,
};
