//! Test-only hooks: code a test sets to run once at one point of the engine, on the
//! thread that set it, to hold a race's window open.

use std::cell::RefCell;

/// A hook, kept in a `thread_local!`.
pub(crate) struct Hook(RefCell<Option<Box<dyn FnOnce()>>>);

impl Hook {
    pub(crate) const fn new() -> Self {
        Hook(RefCell::new(None))
    }

    /// Sets what the next [`run`](Self::run) on this thread runs.
    pub(crate) fn set(&self, hook: impl FnOnce() + 'static) {
        *self.0.borrow_mut() = Some(Box::new(hook));
    }

    /// Runs what was set, if anything, once.
    pub(crate) fn run(&self) {
        let hook = self.0.borrow_mut().take();
        if let Some(hook) = hook {
            hook();
        }
    }
}
