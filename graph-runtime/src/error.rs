//! Task errors: which task failed, where it was written, and why.

use core::fmt;
use std::any::Any;
use std::sync::Mutex;

/// A task that panicked, named with its call site.
///
/// `compute` resumes the panic with this error's message; `try_compute` returns it.
pub struct TaskError {
    task: String,
    call_site: String,
    message: String,
    /// In a `Mutex` so that the error is `Sync` (futures share it between readers).
    payload: Mutex<Option<Box<dyn Any + Send>>>,
}

impl TaskError {
    /// An error for `task`, written at `call_site`, that panicked with `payload`.
    pub fn from_panic(task: &str, call_site: &str, payload: Box<dyn Any + Send>) -> Self {
        TaskError {
            task: task.to_owned(),
            call_site: call_site.to_owned(),
            message: panic_message(&*payload),
            payload: Mutex::new(Some(payload)),
        }
    }

    /// The failed task's name.
    pub fn task(&self) -> &str {
        &self.task
    }

    /// Where the failed task was written, as `file:line:column`.
    pub fn call_site(&self) -> &str {
        &self.call_site
    }

    /// The panic message (or a description of a non-string panic payload).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The original panic payload, for `std::panic::resume_unwind`.
    pub fn into_panic(self) -> Box<dyn Any + Send> {
        let payload = self.payload.into_inner().unwrap_or_else(|e| e.into_inner());
        payload.unwrap_or_else(|| Box::new(self.message))
    }

    /// The same task, call site and message, without the panic payload.
    pub fn detached(&self) -> TaskError {
        TaskError {
            task: self.task.clone(),
            call_site: self.call_site.clone(),
            message: self.message.clone(),
            payload: Mutex::new(None),
        }
    }

    /// Panics with this error's message, naming the task and its call site.
    #[track_caller]
    pub fn resume(self) -> ! {
        panic!("{self}")
    }
}

/// The text of a panic payload, as the default panic hook would print it.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task `{}` at {} panicked: {}",
            self.task, self.call_site, self.message
        )
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskError")
            .field("task", &self.task)
            .field("call_site", &self.call_site)
            .field("message", &self.message)
            .finish()
    }
}

impl std::error::Error for TaskError {}
