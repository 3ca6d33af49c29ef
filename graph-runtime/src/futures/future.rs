//! The handle on a submitted task's result ([`Future`]) and where it stands ([`Status`]):
//! waiting for, reading, cancelling and naming one future.

use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use std::sync::Arc;
use std::time::Duration;

use super::error::FutureError;
use super::pool::{self};
use super::state::{Core, ReadByCallback, State, Taken, TaskOf};
use crate::engine::error::TaskError;

/// Where a future stands (Dask's `future.status`). Displayed (`{}`) as Dask spells
/// its statuses: `pending`, `running`, `finished`, `error`, `cancelled`.
///
/// Two differences from Dask's: a task running now is [`Running`](Status::Running)
/// here, where Dask's `future.status` stays `'pending'` until it ends (its scheduler
/// knows "processing", the future does not); and there is no `'lost'`, which Dask
/// gives a future whose workers all went away: this client's threads are in the
/// process that holds the future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// Waiting for its dependencies or for a thread.
    Pending,
    /// Running now (Dask's future says `'pending'` meanwhile).
    Running,
    /// Finished with a result.
    Finished,
    /// Its task (or a task it depends on) panicked.
    Error,
    /// Cancelled before it ended, or released by a cancel after it finished.
    Cancelled,
}

impl fmt::Display for Status {
    /// Dask's spelling: `pending`, `running`, `finished`, `error`, `cancelled`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Finished => "finished",
            Status::Error => "error",
            Status::Cancelled => "cancelled",
        })
    }
}

// ---- futures --------------------------------------------------------------------

/// The handle on a submitted task's result (Dask's `Future`). Cloning makes another
/// handle; dropping the last handle of a pending task cancels it (unless
/// [`Client::fire_and_forget`](crate::Client::fire_and_forget)), and of a finished one
/// frees its result, on the thread that drops it (but a pure task's goes with the
/// task's last reference, perhaps a pool thread's, and one a done callback is still
/// to read, once it has).
///
/// So `client.submit(f, args);` as a statement submits a task and cancels it at once:
/// `#[must_use]` makes that a warning.
// The comment on the `struct` line is shown by rustc under an operator's error on a
// `Future` (`f + 1`, `f > 3`): "`Future<i64>` does not implement `Add<…>`", then this
// line (see `crate::prohibited`).
#[must_use = "dropping the last handle of a future cancels its task: keep it, wait for it, or pass it to `client.fire_and_forget`"]
pub struct Future<T> /* no value until its task ends: pass it to a task (`client.submit(g, (&f,))`) or use `f.result()?` */
{
    /// The task (its job and state, one allocation), whose count of handles this one
    /// is part of (see [`Core::add_handle`]): no allocation of its own.
    /// Let go of through [`release`](super::state::release) when dropped.
    task: ManuallyDrop<Arc<dyn TaskOf<T>>>,
    /// `Send` and `Sync` only when `T` is both, as the `Arc<T>` of the result its
    /// handles share with the pool's threads (the task itself is always both).
    _value: PhantomData<Arc<T>>,
}

impl<T> Drop for Future<T> {
    fn drop(&mut self) {
        // SAFETY: taken once, here, and not used after.
        let task = unsafe { ManuallyDrop::take(&mut self.task) };
        let mut first_panic = crate::engine::error::FirstPanic::default();
        if task.core().drop_handle() {
            // Cancelling a pending task drops its arguments, whose `Drop` may panic:
            // this handle's reference is let go of all the same, then the panic goes
            // on. (Skipped by the unwinding, it leaked the task, and with it what its
            // builder's function had captured.)
            let shared = Arc::strong_count(&task) > 1;
            first_panic.catch(|| task.last_handle_dropped(shared));
        }
        super::state::release(task);
        first_panic.resume();
    }
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future::from_task(Arc::clone(&self.task))
    }
}

/// Futures are equal when they are handles of one task, as Dask's futures of one key
/// are: they can key a `HashMap` (`{future: input}`). The hash is the task's identity,
/// which nothing changes; clippy's `mutable_key_type` cannot know that: list
/// `"taskweave::Future"` under `ignore-interior-mutability` in `clippy.toml`.
impl<T> PartialEq for Future<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.task, &other.task)
    }
}

impl<T> Eq for Future<T> {}

impl<T> std::hash::Hash for Future<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // The task's key number, which no other task of the process ever has (its
        // address is another task's once it is freed): a pure `Delayed` call keyed
        // by this hash is keyed by the task, as `TaskBuilder::pure` keys futures.
        state.write_u64(self.core().key_number());
    }
}

/// What Dask's `repr` of a future shows (`<Future: finished, type: int, key: inc-3f>`):
/// `Future { key: "inc-3f", status: Finished, type: "i64" }`. The type is the result's
/// Rust type, known for every future (Dask's, once it has finished); the call site
/// is [`Future::call_site`].
impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Future")
            .field("key", &self.key())
            .field("status", &self.status())
            .field("type", &std::any::type_name::<T>())
            .finish()
    }
}

impl<T> Future<T> {
    /// A new handle of `task`.
    pub(super) fn from_task(task: Arc<dyn TaskOf<T>>) -> Self {
        task.core().add_handle();
        Future {
            task: ManuallyDrop::new(task),
            _value: PhantomData,
        }
    }

    /// A handle of `task` whose count was added already (see
    /// [`Core::try_add_live_handle`](super::state::Core::try_add_live_handle)).
    pub(super) fn from_counted(task: Arc<dyn TaskOf<T>>) -> Self {
        Future {
            task: ManuallyDrop::new(task),
            _value: PhantomData,
        }
    }

    /// The task's state.
    pub(crate) fn state(&self) -> &State<T> {
        self.task.state()
    }

    /// The task itself (another reference, not another handle).
    pub(crate) fn task(&self) -> &Arc<dyn TaskOf<T>> {
        &self.task
    }

    pub(crate) fn core(&self) -> &Core {
        &self.state().core
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        &self.core().name
    }

    /// The task's key, as Dask names a future's task: its name and a number unique to
    /// the task in this process (`inc-3f`). Handles of one task share it, those of
    /// equal [pure](crate::TaskBuilder::pure) submissions too; every other submission
    /// is a task of its own, where Dask's default (`pure=True`) gives equal calls one
    /// key.
    pub fn key(&self) -> String {
        format!("{}-{:x}", self.name(), self.core().key_number())
    }

    /// Where the task was submitted, as `file:line:column`.
    pub fn call_site(&self) -> &str {
        self.core().call_site()
    }

    /// Pending, running, finished, error or cancelled.
    pub fn status(&self) -> Status {
        self.core().status()
    }

    /// Whether the task was cancelled (Dask's `future.cancelled()`): its status is
    /// [`Status::Cancelled`] (by [`cancel`](Self::cancel), a cancelled dependency or its
    /// client's shutdown; or released by `cancel` after it finished). It only looks, as
    /// [`done`](Self::done) does.
    pub fn cancelled(&self) -> bool {
        self.status() == Status::Cancelled
    }

    /// Whether the task has ended (finished, failed or cancelled).
    ///
    /// It only looks: a task that polls `done()` in a loop keeps its thread, so on a
    /// client with one thread the task it polls for never starts. Wait instead
    /// ([`result`](Self::result), [`result_timeout`](Self::result_timeout),
    /// [`wait`](crate::wait)), which hands the thread over while the task waits.
    pub fn done(&self) -> bool {
        self.core().is_done()
    }

    /// Cancels the task and, as Dask's `cancel` does, every dependent of it, however far
    /// each got: a pending one never runs, a running one has its result discarded (and
    /// can see [`cancelled`](crate::cancelled)). A finished one is released, as Dask
    /// releases a cancelled key: it becomes cancelled, readers get
    /// [`FutureError::Cancelled`] from then on (a reader that took its value shared,
    /// with [`result_shared`](Self::result_shared), keeps that), and its value is freed
    /// once no reader holds it. This goes on through the dependents of the dependents:
    /// those that finished are released the same way, those that had not are cancelled,
    /// and so is whatever is submitted on any of them later. A task that ended in error
    /// (or was cancelled already) stays so, and so do its dependents. A dependent no
    /// handle holds any more is gone, and the cancel does not go on through it, as Dask
    /// stops at a key no client wants.
    ///
    /// A chain of finished futures of any length, or a future with any number of
    /// dependents, is cancelled in bounded stack, on this thread. The done callbacks of
    /// what it ends run once all of it is cancelled, on this thread: one may wait for
    /// any other future the cancel reaches. A value's `Drop` that panics (or a done
    /// callback's panic) comes out of this call once everything is cancelled.
    pub fn cancel(&self) {
        self.state().cancel();
    }

    /// Waits for the result, shared: no copy however many read it (the first shared
    /// read moves the value out of the task into an `Arc`, which every later one
    /// shares; [`result`](Self::result) clones it where it is). A wait that could
    /// never end fails instead, as [`result`](Self::result) says.
    pub fn result_shared(&self) -> Result<Arc<T>, FutureError> {
        self.wait_end(Duration::MAX)?;
        self.read()
    }

    /// Waits at most `timeout` for the result; on timeout the task goes on.
    /// A timeout too long to be a deadline (`Duration::MAX`) waits without one (and
    /// fails as [`result`](Self::result) does when it could never end); `Duration::ZERO`
    /// only looks.
    pub fn result_timeout_shared(&self, timeout: Duration) -> Result<Arc<T>, FutureError> {
        self.wait_end(timeout)?;
        self.read()
    }

    /// Waits at most `timeout` (`Duration::MAX`: no limit) for the task to end; a
    /// wait without a limit that could never end gets the error that says why (see
    /// `blocked`).
    fn wait_end(&self, timeout: Duration) -> Result<(), FutureError> {
        // Ended already: no deadline to compute.
        if self.core().is_done() {
            return Ok(());
        }
        if !self.core().wait(pool::deadline_after(timeout))? {
            return Err(FutureError::Timeout {
                task: self.name().to_owned(),
                call_site: self.core().call_site(),
                after: timeout,
                waited: super::error::TimedWait::Result,
            });
        }
        Ok(())
    }

    /// The ended task's result, shared. The first shared read moves the value into an
    /// `Arc` on the reader's stack (out of the slot, into the `Arc`): with room for
    /// its copies (`with_room`), as a task's run has, since the reader is the caller's
    /// thread (a 2 MiB result overflowed an 8 MiB `main` in a debug build and aborted).
    fn read(&self) -> Result<Arc<T>, FutureError> {
        crate::engine::sync::with_room_for::<T, _>(|| match self.state().value.get() {
            Some(result) => result,
            None => Err(FutureError::cancelled(self.core())),
        })
    }

    /// The result of a finished future, taken out of it when this is its last handle
    /// (no one else can read it then): a dependent task that received the only handle
    /// gets the value without a copy, and the future stops holding it. `None` when it
    /// is not the last handle: read the result in place then.
    pub(crate) fn take_result(&self) -> Option<Option<Result<Taken<T>, FutureError>>> {
        // Holding the last handle, no other can be made from one meanwhile.
        self.core().may_take().then(|| self.state().value.take())
    }

    /// Calls `callback` with this future once its task has ended, finished, failed or
    /// cancelled (at once, on this thread, if it has; otherwise on the thread that ends
    /// it), as Dask's `add_done_callback`. The callback does not keep the task alive:
    /// dropping every handle still cancels it, and the callback then sees it cancelled.
    /// Keep callbacks short: they run on a pool thread, before its next task.
    ///
    /// A callback that panics does not stop the others, nor the task's end: on a pool
    /// thread the panic is printed and the thread goes on; run on the caller's thread
    /// (added to a future that has ended, or called by a [`cancel`](Self::cancel) or a
    /// last handle's drop there) it comes out of that call once the other callbacks
    /// have run, as a panic of code the caller runs does. Either way a warning (see
    /// [`on_warning`](crate::on_warning)) names the task whose callback panicked and
    /// where it was submitted. (Dask logs a callback's exception on its callback thread
    /// and goes on.)
    ///
    /// The callbacks of the ends that one failure or cancel causes (its dependents,
    /// however far down) run once every one of those ends is told, so a callback may
    /// wait for any future that failure or cancel reaches.
    ///
    /// A callback that ends another future (cancels it, say), or adds a callback to
    /// one that has ended, runs that future's callbacks at once, inside it; 16
    /// callbacks deep, those run after the callback that caused them returns instead,
    /// so that a chain of callbacks of any length runs in bounded stack. A callback
    /// that deep must not wait for a callback it causes.
    ///
    /// A callback is no task: [`get_client`](crate::get_client) in it finds a client
    /// only where the code that runs it has one (a callback run inside a client's task,
    /// by a `cancel` there say), and `None` on a pool thread between tasks. A callback
    /// that submits captures a clone of the client instead (`let c = client.clone();
    /// f.add_done_callback(move |f| { c.submit(...); })`).
    pub fn add_done_callback<C>(&self, callback: C)
    where
        C: FnOnce(&Future<T>) + Send + 'static,
        T: Send + Sync + 'static,
    {
        // A callback that captures a large value is boxed at once, and called in stack
        // room for it, wherever it runs: passed by value through the frames that keep
        // it, or moved out of its box onto the stack of the thread that ends the task
        // (a worker's 2 MiB), a callback capturing 2 MiB overflowed where plain code
        // keeping it runs. A debug build boxes it in stack room too (see
        // `taken_into_room`); an optimised one moves it straight into its box, where
        // an `Option` of it was one copy more.
        if const { crate::engine::sync::taken_into_room::<C>() } {
            let mut callback = Some(callback);
            let callback = crate::engine::sync::with_room_taking(&mut callback, Box::new);
            return self.add_boxed_done_callback(callback);
        }
        if const { crate::engine::sync::is_large::<C>() } {
            return self.add_boxed_done_callback(Box::new(callback));
        }
        self.add_done_callback_here(callback);
    }

    /// [`add_done_callback`](Self::add_done_callback) of a large callback, boxed: called
    /// in stack room for it.
    fn add_boxed_done_callback<C>(&self, callback: Box<C>)
    where
        C: FnOnce(&Future<T>) + Send + 'static,
        T: Send + Sync + 'static,
    {
        let mut callback = Some(callback);
        self.add_done_callback_here(move |future| {
            crate::engine::sync::with_room_for_run::<C, _>(|| {
                let callback = callback.take().expect("called once");
                callback(future);
            });
        });
    }

    /// [`add_done_callback`](Self::add_done_callback) of a callback moved on by value.
    #[inline(always)]
    fn add_done_callback_here(&self, callback: impl FnOnce(&Future<T>) + Send + 'static)
    where
        T: Send + Sync + 'static,
    {
        let task = Arc::clone(&self.task);
        // A handle of its own, made when called: holding one before would keep the
        // task from being cancelled by its users' drops. Counted meanwhile as a reader
        // to come, so that a dependent holding the last handle clones the value
        // rather than moving it out from under the callback.
        self.core().callback_to_read();
        self.core().on_end_user(move |_| {
            let future = Future::from_task(task);
            let _read = ReadByCallback(future.core());
            // The panic hook names only the callback's own line: on a pool thread,
            // where the panic goes no further, nothing said whose callback it was.
            let called =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(&future)));
            if let Err(payload) = called {
                callback_panicked(future.core(), &*payload);
                std::panic::resume_unwind(payload);
            }
        });
    }

    /// Where the failed task panicked (Dask's `future.traceback()`), once the task has
    /// ended, as [`exception`](Self::exception) waits: the backtrace of a task that
    /// ended in error (for a dependency's failure, the dependency's), when backtraces
    /// are enabled in the environment (see [`TaskError::backtrace`]); `Ok(None)` for a
    /// task that finished, or one whose backtrace was not kept. A cancelled task is
    /// `Err(FutureError::Cancelled)`, as for [`exception`](Self::exception) (Dask's
    /// `traceback()` returns `None` for a cancelled future).
    pub fn traceback(&self) -> Result<Option<Arc<std::backtrace::Backtrace>>, FutureError> {
        Ok(self
            .exception()?
            .and_then(|error| error.backtrace().cloned()))
    }

    /// Waits for the task to end, then gives the error it ended in (Dask's
    /// `future.exception()`): `Ok(Some(error))` for a task that panicked, naming the
    /// failed task, its call site and message (for a dependency's failure, the
    /// dependency's); `Ok(None)` for one that finished. A cancelled task is
    /// `Err(FutureError::Cancelled)`, as its [`result`](Self::result) is, so that a
    /// task with no result never reads as "no error" (Dask's `exception()` returns
    /// `None` for a cancelled future, as for a finished one: look at its `status`
    /// there), and a wait that could never end fails as [`result`](Self::result)'s
    /// does.
    pub fn exception(&self) -> Result<Option<Arc<TaskError>>, FutureError> {
        self.exception_timeout(Duration::MAX)
    }

    /// [`exception`](Self::exception), waiting at most `timeout`
    /// ([`FutureError::Timeout`] then; the task goes on).
    pub fn exception_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Option<Arc<TaskError>>, FutureError> {
        self.wait_end(timeout)?;
        match self.state().value.error() {
            Some(FutureError::Task(error)) => Ok(Some(error)),
            Some(other) => Err(other),
            None if self.status() == Status::Cancelled => Err(FutureError::cancelled(self.core())),
            None => Ok(None),
        }
    }

    /// The error of a task that has ended in error, without waiting.
    pub(crate) fn error_now(&self) -> Option<Arc<TaskError>> {
        match self.state().value.error() {
            Some(FutureError::Task(error)) => Some(error),
            _ => None,
        }
    }
}

impl<T: Clone> Future<T> {
    /// Waits for the result (a clone of the value, which the future keeps).
    ///
    /// Inside a task, a wait that could never end fails instead of hanging, as soon as
    /// it would block (Dask hangs there):
    /// - [`FutureError::WaitsForItself`]: the future cannot end before the waiting task
    ///   does. It is the task's own future, or needs it through arguments (the waiting
    ///   task's future is an argument of a task it needs, however far down the chain),
    ///   or, for a task run inline by a task waiting under it on the same thread (a
    ///   waiter runs the ready tasks its awaited future needs itself), the future of
    ///   that task under it or one that needs it.
    /// - [`FutureError::WaitCycle`]: tasks wait for one another's futures in a cycle,
    ///   however long (futures handed over through channels, shared slots or
    ///   [`get_client`](crate::get_client) rather than as arguments). Of the cycle's
    ///   waits, the last to block fails, naming every task of the cycle; the others go
    ///   on once its task ends. A wait in any task (a graph's too, computed outside the
    ///   client) that a rayon thread took up while it waited in a join of a graph that
    ///   a futures task computes is that task's wait as well (the thread resumes the
    ///   join only after it): waiting there for that task's future fails so
    ///   ([`CycleLink::PartUnderWait`](crate::CycleLink::PartUnderWait)).
    ///
    /// Only what no one can end is refused: a future whose task runs on a thread that
    /// is not blocked, or is queued, or waits with a timeout, or can be ended by any
    /// one of several futures a wait takes that could itself end, is waited for. A
    /// future cancelled from elsewhere ends the wait in any case (a task cancelled
    /// while it runs goes on: its own waits, and the tasks under it on its thread,
    /// count as before). Other waits outside the client's tasks
    /// (and inside user code run while a task ends, a done callback) are not looked
    /// at.
    pub fn result(&self) -> Result<T, FutureError> {
        self.wait_end(Duration::MAX)?;
        self.read_cloned()
    }

    /// Waits at most `timeout`; on timeout the task goes on.
    pub fn result_timeout(&self, timeout: Duration) -> Result<T, FutureError> {
        self.wait_end(timeout)?;
        self.read_cloned()
    }

    /// The ended task's result, cloned in place (no `Arc` made for it), with stack
    /// room for the clone's copies (see [`read`](Self::read)): only the one it
    /// returns lands on the reader's stack.
    fn read_cloned(&self) -> Result<T, FutureError> {
        crate::engine::sync::with_room_for::<T, _>(|| match self.state().value.get_cloned() {
            Some(result) => result,
            None => Err(FutureError::cancelled(self.core())),
        })
    }
}

impl<T: Send + Sync + 'static> Future<T> {
    /// This future and every future it depends on, directly or not, with each one's
    /// [`Status`] as its outcome. See [`futures_info`](crate::futures_info) for several.
    pub fn info(&self) -> crate::inspect::GraphInfo {
        super::info::futures_info(&[self])
    }

    /// Writes [`info`](Self::info) as an SVG picture to `path` (DOT text for a `.dot`
    /// path; see [`GraphInfo::visualize`](crate::GraphInfo::visualize)).
    pub fn visualize(&self, path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
        self.info().visualize(path)
    }
}

/// Says which future's done callback panicked (the panic hook has printed its message
/// and the callback's line), and where that future was submitted.
#[cold]
#[inline(never)]
fn callback_panicked(core: &Core, payload: &(dyn std::any::Any + Send)) {
    if crate::engine::warn::enabled() {
        crate::engine::warn::print(&format!(
            "taskweave: a done callback of task `{}` at {} panicked: {} (the other \
             callbacks ran, and the task's end stands; on a pool thread the thread goes \
             on, elsewhere the panic comes out of the call that ran the callback)",
            &*core.name,
            core.call_site(),
            crate::engine::error::panic_message(payload),
        ));
    }
}
