//! Task errors: which task failed, where it was written, and why.

use crate::engine::dispatch::RunEnd;
use crate::engine::lock::Recover;
use crate::engine::observe::StopPanic;
use crate::engine::slot::Unread;
use crate::engine::table::Table;
use core::fmt;
use std::any::Any;
use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::{Cell, RefCell};
use std::sync::{Arc, Mutex, Once};

/// A task that panicked (or, for a fallible future's task, returned `Err`), named with
/// its call site.
///
/// `compute` resumes the panic with this error's message; `try_compute` returns it.
///
/// A task that failed because a compute nested in it failed (its `compute` resumed the
/// inner error's panic) names, in its message, the innermost failing task, not every
/// task in between: "task `outer` at … panicked: task `bottom` at … panicked: boom
/// (through 998 enclosing tasks)". The message stays the same length however deep the
/// computes nest (it held every level's, 64 KB 1,000 levels deep, and the panic hook
/// printed each level's: 32 MB). The innermost task's error is the
/// [`source`](std::error::Error::source), as Dask re-raises the original exception.
pub struct TaskError {
    task: String,
    call_site: String,
    message: String,
    /// How it ended (a panic, a fallible future's `Err`, an observer's panic): only
    /// what `Display` says differs.
    ended: Ended,
    /// In a `Mutex` so that the error is `Sync` (futures share it between readers).
    payload: Mutex<Option<Box<dyn Any + Send>>>,
    /// Where the task panicked, when the environment asks for backtraces.
    backtrace: Option<Arc<Backtrace>>,
    /// The failure of a compute nested in the task, that the task's panic resumed.
    nested: Option<Box<Nested>>,
}

/// A failure that came up through computes nested in tasks: what a [`TaskError`] keeps
/// of it, the same size at any depth.
#[derive(Clone)]
struct Nested {
    /// The error of the innermost task that failed, without its payload.
    innermost: Arc<TaskError>,
    /// How many tasks it went through between the innermost and this error's task.
    through: usize,
}

/// How a [`TaskError`]'s task ended.
#[derive(Clone, Copy, Debug)]
enum Ended {
    /// It panicked.
    Panicked,
    /// It returned its error (a fallible future's `Err`).
    Returned,
    /// The observer of the run that computed it panicked in this hook.
    ObserverPanicked(GraphHook),
    /// The run's stop predicate (`RunOptions::stop_when`) panicked, asked before it
    /// started or by its `cancelled()`.
    StopPanicked,
    /// It never started: the run was stopped before it (`RunOptions::stop_when`).
    NotStarted,
}

/// A graph hook of an [`Observer`](crate::Observer): which one panicked (a byte, so
/// that a [`TaskError`] stays as small as the `Result`s it is in want).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GraphHook {
    GraphStarted,
    TaskStarted,
    TaskFinished,
    GraphFinished,
}

impl GraphHook {
    /// The hook's method name.
    fn name(self) -> &'static str {
        match self {
            GraphHook::GraphStarted => "graph_started",
            GraphHook::TaskStarted => "task_started",
            GraphHook::TaskFinished => "task_finished",
            GraphHook::GraphFinished => "graph_finished",
        }
    }
}

impl TaskError {
    /// An error for `task`, written at `call_site`, that panicked with `payload`.
    /// The `Err` a fallible future's task returned, carried out as its payload,
    /// makes the error of that `Err`: its `Display` the message, the error itself the
    /// payload. A panic of a run's stop condition, asked by the task's
    /// [`cancelled()`](crate::cancelled), makes the condition's error (as
    /// [`RunOptions::stop_when`](crate::RunOptions::stop_when) says).
    pub fn from_panic(task: &str, call_site: &str, payload: Box<dyn Any + Send>) -> Self {
        let payload = match payload.downcast::<Returned>() {
            Ok(returned) => return TaskError::from_returned(task, call_site, *returned),
            Err(payload) => payload,
        };
        // The run's stop condition panicked, asked by the task's `cancelled()`.
        let payload = match payload.downcast::<StopPanic>() {
            Ok(stop) => return TaskError::stop_panicked(task, call_site, stop.0),
            Err(payload) => payload,
        };
        let message = panic_message(&*payload);
        // A compute nested in the task failed and the task's panic is its error's,
        // resumed: the innermost failure is kept, and how many tasks it went through,
        // rather than every level's message inside the next one's.
        let nested = take_resumed(&message);
        let message = match &nested {
            Some(nested) if nested.through > 0 => nested_message(nested),
            _ => message,
        };
        TaskError {
            task: task.to_owned(),
            call_site: call_site.to_owned(),
            message,
            ended: Ended::Panicked,
            payload: Mutex::new(Some(payload)),
            backtrace: take_backtrace(),
            nested: nested.map(Box::new),
        }
    }

    /// The error of a run whose observer panicked in its hook `hook` (no task of the
    /// graph did) while computing task `task` (the graph's output for a hook of the
    /// whole run): said so, rather than as the task's panic.
    #[cold]
    pub(crate) fn observer_panicked(
        hook: GraphHook,
        task: &str,
        call_site: &str,
        payload: Box<dyn Any + Send>,
    ) -> Self {
        let mut error = TaskError::from_panic(task, call_site, payload);
        error.ended = Ended::ObserverPanicked(hook);
        error
    }

    /// The error of a run whose stop predicate (`RunOptions::stop_when`) panicked,
    /// asked before task `task` started or by its `cancelled()`: said so, rather than
    /// as the task's panic.
    #[cold]
    pub(crate) fn stop_panicked(task: &str, call_site: &str, payload: Box<dyn Any + Send>) -> Self {
        let mut error = TaskError::from_panic(task, call_site, payload);
        error.ended = Ended::StopPanicked;
        error
    }

    /// The error of a run stopped (`RunOptions::stop_when`) before task `task` started:
    /// said so, not as a panic of the task, which never ran. Its payload is the message,
    /// as a panic's with a string is.
    #[cold]
    pub(crate) fn not_started(task: &str, call_site: &str) -> Self {
        let message = String::from("the run was stopped before this task started");
        TaskError {
            task: task.to_owned(),
            call_site: call_site.to_owned(),
            message: message.clone(),
            ended: Ended::NotStarted,
            payload: Mutex::new(Some(Box::new(message))),
            backtrace: None,
            nested: None,
        }
    }

    /// The hook of the run's observer whose panic this error is, if it is one.
    pub(crate) fn observer_hook(&self) -> Option<GraphHook> {
        match self.ended {
            Ended::ObserverPanicked(hook) => Some(hook),
            _ => None,
        }
    }

    /// This error, naming task `task` at `call_site` instead of its own (a
    /// `Client::compute`'s task, for a panic of its graph's observer).
    #[cold]
    pub(crate) fn renamed(mut self, task: &str, call_site: &str) -> Self {
        task.clone_into(&mut self.task);
        call_site.clone_into(&mut self.call_site);
        self
    }

    /// The error of a task that returned `Err` (see [`Returned`]).
    #[cold]
    fn from_returned(task: &str, call_site: &str, returned: Returned) -> Self {
        TaskError {
            task: task.to_owned(),
            call_site: call_site.to_owned(),
            message: returned.message,
            ended: Ended::Returned,
            payload: Mutex::new(Some(returned.error)),
            backtrace: returned.backtrace.map(Arc::new),
            nested: None,
        }
    }

    /// Where the task panicked (Dask's `future.traceback()`), when backtraces are
    /// enabled in the environment (`RUST_BACKTRACE=1` or `RUST_LIB_BACKTRACE=1`, read once,
    /// before the first task ran): then taskweave keeps each task panic's backtrace,
    /// through a panic hook that still calls the one before it (for a fallible future's
    /// task that returned `Err`: where it returned). `None` otherwise.
    pub fn backtrace(&self) -> Option<&Arc<Backtrace>> {
        self.backtrace.as_ref()
    }

    /// The failed task's name.
    pub fn task(&self) -> &str {
        &self.task
    }

    /// Where the failed task was written, as `file:line:column`.
    pub fn call_site(&self) -> &str {
        &self.call_site
    }

    /// The panic message (or a description of a non-string panic payload); for a
    /// fallible future's task that returned `Err(e)`, `e`'s `Display`. For a task
    /// that failed because a compute nested in it failed, the innermost failing
    /// task's error, and how many enclosing tasks it went through when there were
    /// any between: "task `bottom` at … panicked: boom (through 998 enclosing tasks)".
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error of the innermost task that failed, when this task failed because a
    /// compute nested in it failed, directly or through further nested computes (its
    /// `compute` resumed that error's panic): the original failure, without its
    /// payload. The same error is the [`source`](std::error::Error::source). This
    /// error itself for a task that failed on its own.
    pub fn innermost(&self) -> &TaskError {
        self.nested
            .as_ref()
            .map_or(self, |nested| &nested.innermost)
    }

    /// How many tasks the failure went through between the [`innermost`](Self::innermost)
    /// one and this error's task: 0 for a task that failed on its own or whose
    /// nested compute's task failed on its own.
    pub fn enclosing(&self) -> usize {
        self.nested.as_ref().map_or(0, |nested| nested.through)
    }

    /// A copy of the task's panic payload if it is a `T` (a task that panicked with
    /// `std::panic::panic_any(MyError { .. })`, or a fallible future's task that
    /// returned `Err(MyError { .. })`, see
    /// [`TaskBuilder::fallible`](crate::TaskBuilder::fallible)): its typed error, as
    /// Dask's `except MyError as e:` catches the task's own exception. Readable through the shared
    /// error of a future (`FutureError::Task`), where [`into_panic`](Self::into_panic),
    /// which takes the error, is not. `None` for a payload of another type, or for an
    /// error kept without its payload. A payload that is not `Clone` is read by
    /// reference with [`with_payload`](Self::with_payload).
    pub fn payload<T: Any + Clone>(&self) -> Option<T> {
        self.payload
            .lock()
            .recover()
            .as_ref()?
            .downcast_ref::<T>()
            .cloned()
    }

    /// `read` of the task's panic payload if it is a `T`, by reference: for a typed
    /// error that is not `Clone` (a fallible task's `std::io::Error`), which
    /// [`payload`](Self::payload) cannot copy out. `None` for a payload of another
    /// type, or for an error kept without its payload.
    ///
    /// ```
    /// use graph_runtime::{Client, FutureError};
    /// use std::io;
    ///
    /// let client = Client::builder().threads(1).build()?;
    /// let read = client.task(|path: String| std::fs::read_to_string(path)).fallible();
    /// let future = read.submit(("/no/such/file".to_owned(),));
    /// let Err(FutureError::Task(error)) = future.result() else { unreachable!() };
    /// let kind = error.with_payload(|e: &io::Error| e.kind());
    /// assert_eq!(kind, Some(io::ErrorKind::NotFound));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// `read` runs without a lock: it may read this error again (or wait for a
    /// thread that does), which is why `T` must be `Sync` (a payload read by several
    /// threads at once).
    pub fn with_payload<T: Any + Sync, R>(&self, read: impl FnOnce(&T) -> R) -> Option<R> {
        let value: *const T = self
            .payload
            .lock()
            .recover()
            .as_ref()?
            .downcast_ref::<T>()?;
        // SAFETY: the payload is taken or dropped only through `&mut self`
        // (`into_panic`, `Drop`), so the boxed value stays where it is, unchanged, for
        // as long as `self` is borrowed, which bounds `read`'s borrow. The lock makes
        // payloads that are not `Sync` safe to share; this one is `Sync`, so shared
        // references to it may be used on several threads at once, as the lock's other
        // holders (`payload`'s clone, another `with_payload`) use theirs.
        Some(read(unsafe { &*value }))
    }

    /// The original panic payload, for `std::panic::resume_unwind`.
    pub fn into_panic(mut self) -> Box<dyn Any + Send> {
        let payload = self.payload.get_mut().recover().take();
        payload.unwrap_or_else(|| Box::new(std::mem::take(&mut self.message)))
    }

    /// The same task, call site and message, without the panic payload.
    pub fn detached(&self) -> TaskError {
        TaskError {
            task: self.task.clone(),
            call_site: self.call_site.clone(),
            message: self.message.clone(),
            ended: self.ended,
            payload: Mutex::new(None),
            backtrace: self.backtrace.clone(),
            nested: self.nested.clone(),
        }
    }

    /// Panics with this error's message, naming the task and its call site. Inside a
    /// task, the task's error made from this panic keeps this one's innermost failure
    /// (see [`innermost`](Self::innermost)), so that its message does not grow with
    /// each level of nested computes.
    #[track_caller]
    pub fn resume(mut self) -> ! {
        // The task's payload goes first, outside the panic: one whose own `Drop`
        // panics, dropped while this panic unwinds, would abort the process.
        if let Some(payload) = self.payload.get_mut().recover().take() {
            drop_payload(payload);
        }
        let text = self.to_string();
        let nested = match self.nested.take() {
            Some(nested) => Nested {
                innermost: nested.innermost,
                through: nested.through + 1,
            },
            None => Nested {
                innermost: Arc::new(self),
                through: 0,
            },
        };
        keep_resumed(&text, nested);
        panic!("{text}")
    }
}

impl Drop for TaskError {
    /// Drops the panic payload where its own `Drop` may panic harmlessly: an error
    /// dropped while a panic unwinds (a future's failed state, a run's failure) would
    /// otherwise abort the process.
    fn drop(&mut self) {
        if let Some(payload) = self.payload.get_mut().recover().take() {
            drop_payload(payload);
        }
    }
}

/// An `Err` returned by a fallible task (a future's, see `TaskBuilder::fallible`),
/// returned by the call (`TaskFn::try_call`) boxed as a panic's payload is, without
/// unwinding (no panic hook runs, nothing is printed, and `panic = "abort"` does not
/// abort), so that it takes a panic's path (retries, the error of the future and of
/// its dependents) and becomes its [`TaskError`] there.
pub(crate) struct Returned {
    /// The error's `Display`.
    message: String,
    /// The error itself, for [`TaskError::payload`].
    error: Box<dyn Any + Send>,
    /// Where it was returned, when the environment asks for backtraces.
    backtrace: Option<Backtrace>,
}

impl Returned {
    /// `error` as the running task's error, boxed as a panic's payload is.
    #[cold]
    #[inline(never)]
    pub(crate) fn boxed<E: fmt::Display + Send + 'static>(error: E) -> Box<dyn Any + Send> {
        let backtrace = Backtrace::capture();
        Box::new(Returned {
            message: error.to_string(),
            error: Box::new(error),
            backtrace: (backtrace.status() == BacktraceStatus::Captured).then_some(backtrace),
        })
    }
}

/// Drops a panic payload (a failed attempt's, an error's) inside `catch_unwind`: one
/// dropped while a panic unwinds, whose `Drop` panics (`panic_any` of such a type),
/// would abort the process. The payload of that drop's own panic is dropped the same
/// way, and so on a few times (a `&str` or `String` payload, the usual one, ends it);
/// only a payload still panicking after that is forgotten, rather than looping forever.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    const ATTEMPTS: usize = 8;
    let mut payload = payload;
    for _ in 0..ATTEMPTS {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(payload))) {
            Ok(()) => return,
            Err(again) => payload = again,
        }
    }
    std::mem::forget(payload);
}

/// Runs `f`, whose panic, if any, is discarded (its payload dropped by
/// [`drop_payload`]): for code whose panic the hook has reported and that must not end
/// its caller (a `Drop` of a value, an observer's hook).
pub(crate) fn discard_panic(f: impl FnOnce()) {
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        drop_payload(payload);
    }
}

/// The first of the panics of several steps that must all run (every dependent told,
/// every task cancelled), resumed once they have; the later ones' payloads dropped by
/// [`drop_payload`].
#[derive(Default)]
pub(crate) struct FirstPanic(Option<Box<dyn Any + Send>>);

impl FirstPanic {
    /// Runs `step`, keeping its panic if it is the first.
    pub(crate) fn catch(&mut self, step: impl FnOnce()) {
        if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)) {
            match self.0 {
                None => self.0 = Some(payload),
                Some(_) => drop_payload(payload),
            }
        }
    }

    /// Resumes the first panic, if any, unless this thread is unwinding already (a
    /// second panic there would abort): then it is dropped.
    pub(crate) fn resume(self) {
        if let Some(payload) = self.0 {
            if std::thread::panicking() {
                drop_payload(payload);
            } else {
                std::panic::resume_unwind(payload);
            }
        }
    }
}

thread_local! {
    /// The failures of the failed runs of `graph!`s on this thread whose slots are
    /// being dropped, innermost last, each with the address of its node table (see
    /// [`failure_before_teardown`]). More than one when a `Drop` there runs a graph that
    /// fails too: its failure is kept and taken above the outer one's, which one cell
    /// would have lost (the outer run then returned an error naming no task).
    static KEPT_FAILURES: Cell<Vec<(usize, TaskError)>> = const { Cell::new(Vec::new()) };
}

/// The result of a run of the node table at address `table` as the generated code of
/// a `graph!` receives it: a failure is kept on this thread for
/// [`failure_before_teardown`], and the generated code gets an empty stand-in (no
/// heap), which its `?` returns. The body's return value is lost when a `Drop` after
/// it unwinds (rust-lang/rust#47949); the stand-in, unlike the error, owns nothing
/// that would leak. Only failed runs pay for it.
#[inline(always)]
pub(crate) fn kept_for_teardown<T>(
    table: usize,
    ran: Result<T, TaskError>,
) -> Result<T, TaskError> {
    match ran {
        Ok(value) => Ok(value),
        Err(error) => Err(keep_failure(table, error)),
    }
}

#[cold]
fn keep_failure(table: usize, error: TaskError) -> TaskError {
    let mut error = Some(error);
    let _ = KEPT_FAILURES.try_with(|kept| {
        let mut failures = kept.take();
        failures.extend(error.take().map(|error| (table, error)));
        kept.set(failures);
    });
    // Not kept only while the thread's locals are destroyed: the error itself then.
    error.unwrap_or_else(|| TaskError {
        task: String::new(),
        call_site: String::new(),
        message: String::new(),
        ended: Ended::Panicked,
        payload: Mutex::new(None),
        backtrace: None,
        nested: None,
    })
}

/// How many panics of [`TaskError::resume`] are kept for the errors their catchers
/// make ([`take_resumed`]): those of the few failures unwinding at once. A panic
/// nobody makes an error of (a `compute` on `main`) stays until pushed out.
const RESUMED_KEPT: usize = 64;

/// The panics of [`TaskError::resume`] not yet made errors: each one's text (its
/// payload) and what the error made from it keeps. Shared by every thread, since a
/// payload may be resumed on another thread than its panic's (a rayon `join` in the
/// task); read and written only on failures.
static RESUMED: Mutex<std::collections::VecDeque<(String, Nested)>> =
    Mutex::new(std::collections::VecDeque::new());

/// How many entries [`RESUMED`] holds: a task's panic when none is kept (a task that
/// failed on its own, where no compute failed) takes no lock.
static RESUMED_COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Keeps what the error made from the panic of text `text` keeps (see [`RESUMED`]).
#[cold]
fn keep_resumed(text: &str, nested: Nested) {
    let mut resumed = RESUMED.lock().recover();
    if resumed.len() == RESUMED_KEPT {
        resumed.pop_front();
    }
    resumed.push_back((text.to_owned(), nested));
    RESUMED_COUNT.store(resumed.len(), std::sync::atomic::Ordering::Release);
}

/// What a panic of [`TaskError::resume`] with text `message` left for its error, if
/// it was one: the latest such panic of that text. Another panic whose text happens to
/// be the same reads as it, which it is in all but its payload.
#[cold]
fn take_resumed(message: &str) -> Option<Nested> {
    // A panic of `resume` stored its entry before it unwound, on a thread that
    // happened-before this one caught it: seen here.
    if RESUMED_COUNT.load(std::sync::atomic::Ordering::Acquire) == 0 {
        return None;
    }
    let mut resumed = RESUMED.lock().recover();
    let at = resumed.iter().rposition(|(text, _)| text == message)?;
    let nested = resumed.remove(at).map(|(_, nested)| nested);
    RESUMED_COUNT.store(resumed.len(), std::sync::atomic::Ordering::Release);
    nested
}

/// The message of a task's error whose nested compute failed: the innermost failure,
/// and how many enclosing tasks it went through.
fn nested_message(nested: &Nested) -> String {
    let through = nested.through;
    let tasks = if through == 1 { "task" } else { "tasks" };
    format!("{} (through {through} enclosing {tasks})", nested.innermost)
}

/// The failure kept on this thread for the run of `table` that is ending: the
/// innermost one kept for `table` (a graph may fail again inside its own teardown).
/// Any kept above it belong to runs inside this one's teardown, all ended: they are
/// dropped, after the list is back in its place (a payload's `Drop` may run a graph).
#[cold]
fn take_failure(table: usize) -> Option<TaskError> {
    let (error, ended) = KEPT_FAILURES
        .try_with(|kept| {
            let mut failures = kept.take();
            let Some(at) = failures.iter().rposition(|(kept, _)| *kept == table) else {
                kept.set(failures);
                return (None, Vec::new());
            };
            let ended = failures.split_off(at + 1);
            let error = failures.pop().map(|(_, error)| error);
            kept.set(failures);
            (error, ended)
        })
        .ok()?;
    drop(ended);
    error
}

/// Runs `run`, a static graph's body over the node table at address `table` (the
/// dispatcher's form): its run, then the drop of the values its failure left unread
/// (the slots on the body's stack). Such a value's `Drop` that panics would otherwise
/// unwind out of `try_compute` in place of the task's error that came first: the
/// run's failure is returned instead, and that panic, which the hook has printed, is
/// discarded, as later ones are while it unwinds. A panic with no failure of this
/// graph's before it (the caller's own code in the graph, an observer's) is resumed.
/// The failure itself comes from [`kept_for_teardown`] (the body returns a stand-in);
/// nothing is read or written on a run that neither fails nor unwinds.
#[inline(always)]
pub(crate) fn failure_before_teardown<R>(
    table: usize,
    run: impl FnOnce() -> Result<R, TaskError>,
) -> Result<R, TaskError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(take_failure(table).unwrap_or(error)),
        Err(payload) => match take_failure(table) {
            Some(error) => {
                drop_payload(payload);
                Err(error)
            }
            None => std::panic::resume_unwind(payload),
        },
    }
}

/// The early exit `exit` of a run of `table` (a `?` of node `at` that met an error),
/// once the values the run left unread are dropped, each inside `catch_unwind`: those
/// of nodes (`made`, each with the node that made it) and those made before the run
/// (`given`, each with the node it was given to, which did not run). A panic of such
/// a value's `Drop` is the run's failure, naming that node, and the exit is dropped,
/// as sequential code drops them at the `?`; but not for a value of a node after
/// `at`, which ran beside the `?` and which sequential code never made: its panic is
/// discarded. Dropped with the body's locals after it returned, that panic unwound
/// out of `try_compute` naming no task. Later panics are discarded (the hook has
/// printed them), as while one unwinds. The run's observers are told its end (`end`)
/// after the drops, with the outcome this returns: told before, they heard success of
/// a run its caller saw fail.
#[cold]
pub(crate) fn early_exit<R>(
    table: &Table<'_>,
    (at, exit): (u32, R),
    made: &mut [(u32, &mut dyn Unread)],
    given: &mut [(u32, &mut dyn Unread)],
    end: RunEnd<'_>,
) -> Result<R, TaskError> {
    let mut failure = None;
    let mut drop_unread = |node: u32, never_made: bool, slot: &mut dyn Unread| {
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| slot.drop_unread()));
        if let Err(payload) = dropped {
            match failure {
                None if !never_made => {
                    let info = &table.nodes()[node as usize];
                    failure = Some(TaskError::from_panic(
                        &info.task_name(),
                        info.call_site(),
                        payload,
                    ));
                }
                _ => drop_payload(payload),
            }
        }
    };
    for (node, slot) in made {
        drop_unread(*node, *node > at, &mut **slot);
    }
    for (node, slot) in given {
        drop_unread(*node, false, &mut **slot);
    }
    match failure {
        None => end.tell_result(Ok(exit)),
        Some(error) => {
            discard_panic(|| drop(exit));
            end.tell_result(Err(error))
        }
    }
}

thread_local! {
    /// The backtrace of the last panic on this thread, kept by the hook of
    /// [`keep_backtraces`] for the `TaskError` made from that panic.
    static LAST_BACKTRACE: RefCell<Option<Backtrace>> = const { RefCell::new(None) };
}

/// The backtrace the hook kept for the panic just caught on this thread, if any.
fn take_backtrace() -> Option<Arc<Backtrace>> {
    LAST_BACKTRACE
        .try_with(|last| last.borrow_mut().take())
        .ok()
        .flatten()
        .map(Arc::new)
}

/// Forgets a kept backtrace, before an error that no panic made.
pub(crate) fn forget_backtrace() {
    let _ = LAST_BACKTRACE.try_with(|last| last.borrow_mut().take());
}

/// When the environment enables backtraces, installs (once) a panic hook that keeps
/// each panic's backtrace for the `TaskError` made from it, then calls the hook that
/// was in place. Without backtraces enabled it installs nothing: no side effect.
pub(crate) fn keep_backtraces() {
    static ONCE: Once = Once::new();
    // `take_hook` panics on a thread that is unwinding: a first run in a value's `Drop`
    // during a panic aborted the process there (that panic escaped the `Drop`), or,
    // caught, poisoned `ONCE`, and every later run panicked. A later run installs it.
    if std::thread::panicking() {
        return;
    }
    ONCE.call_once(|| {
        if Backtrace::capture().status() != BacktraceStatus::Captured {
            return;
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let backtrace = Backtrace::capture();
            if backtrace.status() == BacktraceStatus::Captured {
                let _ = LAST_BACKTRACE.try_with(|last| *last.borrow_mut() = Some(backtrace));
            }
            previous(info);
        }));
    });
}

/// The text of a panic payload, as the default panic hook would print it.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(StopPanic(inner)) = payload.downcast_ref::<StopPanic>() {
        // Read where a task's panic is not made an error (a user's own catch).
        panic_message(&**inner)
    } else {
        "Box<dyn Any> (a panic payload that is not a string)".to_owned()
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (task, site, message) = (&self.task, &self.call_site, &self.message);
        match self.ended {
            Ended::Panicked => write!(f, "task `{task}` at {site} panicked: {message}"),
            Ended::Returned => write!(f, "task `{task}` at {site} failed: {message}"),
            Ended::NotStarted => write!(f, "task `{task}` at {site} did not run: {message}"),
            Ended::ObserverPanicked(hook) => write!(
                f,
                "the observer panicked in `{}` while computing `{task}` at {site}: {message}",
                hook.name()
            ),
            Ended::StopPanicked => write!(
                f,
                "the run's stop predicate panicked while computing `{task}` at {site}: {message}"
            ),
        }
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

impl std::error::Error for TaskError {
    /// The innermost failing task's error, for a task whose nested compute failed
    /// (see [`TaskError::innermost`]).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.nested
            .as_ref()
            .map(|nested| &*nested.innermost as &(dyn std::error::Error + 'static))
    }
}
