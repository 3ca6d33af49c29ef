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
    /// A task waited for a future that cannot end before the task itself does: its
    /// own future, or one that depends on it (found among the awaited future's
    /// unfinished dependencies, the nearest 64). Dask waits forever there; here the
    /// wait fails at once, and the futures go on.
    WaitsForItself {
        /// The task waited for.
        task: String,
        /// Where it was submitted, as `file:line:column`.
        call_site: &'static str,
        /// The waiting task, which the awaited one needs.
        waiter: String,
        /// Where the waiting task was submitted.
        waiter_call_site: &'static str,
    },
    /// `result_timeout` gave up waiting; the task goes on.
    Timeout {
        /// The task waited for.
        task: String,
        /// Where it was submitted, as `file:line:column` (for
        /// [`AsCompleted::next_timeout`](crate::AsCompleted::next_timeout), where it
        /// was called).
        call_site: &'static str,
        /// How long it waited.
        after: Duration,
    },
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
            } => write!(
                f,
                "task `{waiter}` at {waiter_call_site} waits for task `{task}` at \
                 {call_site}, which cannot end before `{waiter}` does: the wait would \
                 never end"
            ),
            FutureError::Timeout {
                task,
                call_site,
                after,
            } => {
                write!(
                    f,
                    "task `{task}` at {call_site} did not finish within {after:?}"
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
    /// The operating system refused the threads: its error is the
    /// [`source`](std::error::Error::source).
    Spawn(Arc<std::io::Error>),
    /// The dashboard asked for ([`ClientBuilder::dashboard`](crate::ClientBuilder::dashboard))
    /// could not be served: an address that is not loopback, or the socket's error
    /// (the port is taken); the error is the [`source`](std::error::Error::source).
    #[cfg(feature = "dashboard")]
    Dashboard(Arc<std::io::Error>),
}

/// Equal when of one kind (and, for `Spawn` and `Dashboard`, of one
/// [`std::io::ErrorKind`]).
impl PartialEq for ClientError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ClientError::ZeroThreads, ClientError::ZeroThreads) => true,
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
            ClientError::Spawn(why) => write!(f, "could not start the client's threads: {why}"),
            #[cfg(feature = "dashboard")]
            ClientError::Dashboard(why) => write!(f, "could not serve the dashboard: {why}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Spawn(error) => Some(&**error),
            #[cfg(feature = "dashboard")]
            ClientError::Dashboard(error) => Some(&**error),
            ClientError::ZeroThreads => None,
        }
    }
}
