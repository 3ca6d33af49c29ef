//! Locks whose poisoning is ignored: the engine's data stays consistent when a task
//! panics (panics are caught around user code, never while a lock is in a half-done
//! state), so a poisoned lock is taken as it is.

use std::sync::{LockResult, PoisonError};

/// The guard of a lock, poisoned or not.
pub(crate) trait Recover<G> {
    /// The guard, whether or not a panic poisoned the lock.
    fn recover(self) -> G;
}

impl<G> Recover<G> for LockResult<G> {
    #[inline]
    fn recover(self) -> G {
        self.unwrap_or_else(PoisonError::into_inner)
    }
}
