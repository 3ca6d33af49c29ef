//! A future of any result type: what lets futures of different types wait, complete
//! and be inspected together (`as_completed`, `wait`, `futures_info`), as Dask's
//! futures, which have no type, do.

use std::any::Any;
use std::fmt;
use std::mem::ManuallyDrop;
use std::sync::Arc;

use super::info::{AnyFuture, FutureRef};
use super::state::{HasCore, TaskOf};
use super::{Future, Status};

/// A [`Future`] with its result type erased (`future.erase()`): a handle like the
/// typed one (it keeps the task: the task is cancelled only when the last handle of
/// either kind is dropped), equal and hashed as the task, and turned back into the
/// typed future with [`downcast`](Self::downcast).
///
/// ```
/// use graph_runtime::{as_completed, Client};
///
/// let client = Client::builder().threads(2).build()?;
/// let n = client.submit(|x: i64| x + 1, (1,));
/// let s = client.submit(|x: i64| format!("#{x}"), (7,));
/// let mut seen = Vec::new();
/// for done in as_completed([n.erase(), s.erase()]) {
///     if let Some(n) = done.downcast::<i64>() {
///         seen.push(n.result()?.to_string());
///     } else if let Some(s) = done.downcast::<String>() {
///         seen.push(s.result()?);
///     }
/// }
/// seen.sort();
/// assert_eq!(seen, ["#7", "2"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ErasedFuture {
    /// The typed task, an `Arc<dyn TaskOf<T>>` (boxed once more, so that it can be an
    /// `Any`), for `downcast`.
    typed: ManuallyDrop<Arc<dyn Any + Send + Sync>>,
    /// The same state: this is one of its handles (counted as a `Future`'s is). Let
    /// go of through [`release`](super::state::release) when dropped.
    state: ManuallyDrop<Arc<dyn HasCore>>,
}

impl Clone for ErasedFuture {
    fn clone(&self) -> Self {
        self.state.core().add_handle();
        ErasedFuture {
            typed: ManuallyDrop::new(Arc::clone(&self.typed)),
            state: ManuallyDrop::new(Arc::clone(&self.state)),
        }
    }
}

impl Drop for ErasedFuture {
    fn drop(&mut self) {
        // As `Future`'s drop: a panic of what the last handle drops (a cancelled task's
        // arguments, a finished one's result) comes out once the references are let go
        // of, not instead (skipped by the unwinding, they leaked the task).
        let mut first_panic = crate::engine::error::FirstPanic::default();
        if self.state.core().drop_handle() {
            // Its typed reference is one more of the same task.
            first_panic.catch(|| self.state.last_handle_dropped(true));
        }
        // SAFETY: each taken once, here, and not used after. The typed reference goes
        // first: `state` is then the last one where this handle was.
        let (typed, state) = unsafe {
            (
                ManuallyDrop::take(&mut self.typed),
                ManuallyDrop::take(&mut self.state),
            )
        };
        drop(typed);
        super::state::release(state);
        first_panic.resume();
    }
}

impl<T: Send + Sync + 'static> Future<T> {
    /// This future with its result type erased, to mix futures of different types in
    /// [`as_completed`](crate::as_completed) or [`wait`](crate::wait).
    /// Allocates once: the typed handle kept for [`downcast`](ErasedFuture::downcast)
    /// (the task and its state are one allocation, whose type names its function).
    pub fn erase(&self) -> ErasedFuture {
        self.core().add_handle();
        ErasedFuture {
            typed: ManuallyDrop::new(Arc::new(self.task().clone())),
            state: ManuallyDrop::new(self.task().clone()),
        }
    }
}

impl ErasedFuture {
    /// The typed future, if its result type is `T`.
    pub fn downcast<T: Send + Sync + 'static>(&self) -> Option<Future<T>> {
        let task = self.typed.downcast_ref::<Arc<dyn TaskOf<T>>>()?;
        Some(Future::from_task(task.clone()))
    }

    /// Whether its result type is `T`.
    pub fn is<T: Send + Sync + 'static>(&self) -> bool {
        self.typed.is::<Arc<dyn TaskOf<T>>>()
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        &self.state.core().name
    }

    /// The task's key (see [`Future::key`]).
    pub fn key(&self) -> String {
        format!("{}-{:x}", self.name(), self.state.core().key_number())
    }

    /// Pending, running, finished, error or cancelled.
    pub fn status(&self) -> Status {
        self.state.core().status()
    }

    /// Whether the task has ended (finished, failed or cancelled).
    pub fn done(&self) -> bool {
        self.state.core().is_done()
    }
}

impl AnyFuture for ErasedFuture {
    fn task_name(&self) -> &str {
        self.name()
    }

    fn task_status(&self) -> Status {
        self.status()
    }

    fn state_ref(&self) -> FutureRef {
        FutureRef::new(Arc::clone(&self.state))
    }
}

impl PartialEq for ErasedFuture {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.state, &other.state)
    }
}

impl Eq for ErasedFuture {}

impl std::hash::Hash for ErasedFuture {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // The task's address, thin: the vtable is no part of its identity.
        std::ptr::hash(Arc::as_ptr(&self.state) as *const (), state);
    }
}

impl fmt::Debug for ErasedFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErasedFuture")
            .field("task", &self.name())
            .field("status", &self.status())
            .finish()
    }
}
