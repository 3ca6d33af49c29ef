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
//! - `state`: a future's status, result and waiters. Ending a task tells its waiters
//!   through a work list, so failure and cancellation go down a chain of any length
//!   in constant stack.

mod args;
mod erased;
mod list;
mod pool;
pub(crate) mod state;
mod waiting;

use core::fmt;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

pub use args::{Dependencies, FutArg, IntoFutArg, KeptArgs, SubmitArgs, TaskFn};
pub use erased::ErasedFuture;
pub use waiting::{as_completed, wait, AsCompleted, WaitMode, Waitable};

use crate::dynamic::{call_site_of, ToCompute};
use crate::error::TaskError;
use crate::observe::{FutureEvent, Observer, Observers, TaskOutcome};
use pool::Pool;
use state::{Core, Dependent, HasCore, Outcome, State, TaskName};

/// Where a future stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// Waiting for its dependencies or for a thread.
    Pending,
    /// Running now.
    Running,
    /// Finished with a result.
    Finished,
    /// Its task (or a task it depends on) panicked.
    Error,
    /// Cancelled before it finished.
    Cancelled,
}

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
    },
    /// `result_timeout` gave up waiting; the task goes on.
    Timeout {
        /// The task waited for.
        task: String,
        /// How long it waited.
        after: Duration,
    },
}

impl fmt::Display for FutureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FutureError::Task(error) => error.fmt(f),
            FutureError::Cancelled { task } => write!(f, "task `{task}` was cancelled"),
            FutureError::Timeout { task, after } => {
                write!(f, "task `{task}` did not finish within {after:?}")
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
}

/// Equal when of one kind (and, for `Spawn`, of one [`std::io::ErrorKind`]).
impl PartialEq for ClientError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ClientError::ZeroThreads, ClientError::ZeroThreads) => true,
            (ClientError::Spawn(a), ClientError::Spawn(b)) => a.kind() == b.kind(),
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
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Spawn(error) => Some(&**error),
            ClientError::ZeroThreads => None,
        }
    }
}

// ---- the client -----------------------------------------------------------------

/// Eager execution with handles (Dask's `Client`): `submit`, `map`, `gather`,
/// `scatter`, `compute` of a `Delayed`. Cloning shares the same pool; dropping the last
/// clone shuts it down: pending tasks are cancelled, running ones finish, and their
/// threads end. The drop waits for them up to [`ClientBuilder::shutdown_timeout`]
/// (60 s by default); a thread whose task is still running then is left detached.
///
/// # Tasks that wait
///
/// A task may wait for other futures (`result`, `gather`, [`wait`], [`as_completed`],
/// or a [`Client::compute`] inside it), also for tasks it submits itself, on any number
/// of threads, one included. While it waits, it runs ready tasks that the future it
/// awaits needs (at most 16 deep on its stack), or else hands its place to another
/// thread, which the pool starts if needed, so that `threads` tasks keep running, as
/// Dask's `secede`/`rejoin` do. The pool grows this way up to
/// [`ClientBuilder::max_threads`] (`threads` + 1024 by default); spare threads end after
/// a second without work. A waiting task never runs an unrelated task on its own stack:
/// one that waited for it in turn would deadlock. Past `max_threads`, further waits
/// sleep until a thread frees up; if every thread is blocked while tasks are queued
/// (waits nested deeper than the bound), the pool starts one more thread anyway, and
/// warns once on stderr, rather than deadlock.
///
/// A panic in the `Drop` of a value the client drops (a cancelled task's arguments, a
/// discarded result) never aborts: on a pool thread it is caught (the panic hook
/// prints it) and the thread goes on; on the caller's thread (`cancel`, dropping a
/// future or the client) it propagates once every dependent has been told and the
/// shutdown is done.
#[derive(Clone)]
pub struct Client {
    owner: Arc<Owner>,
}

/// How long dropping the last client waits for running tasks to finish, unless
/// [`ClientBuilder::shutdown_timeout`] says otherwise.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);

/// Dropped with the last user handle: shuts the pool down.
struct Owner {
    inner: Arc<Inner>,
}

/// What tasks keep of the client: the pool, and what must be cancelled at shutdown.
pub(crate) struct Inner {
    name: String,
    threads: usize,
    pool: Arc<Pool>,
    closed: AtomicBool,
    /// Tasks not yet ended, for cancelling at shutdown.
    live: Mutex<Vec<Weak<dyn Cancel>>>,
    /// How long the shutdown waits for running tasks.
    shutdown_timeout: Duration,
    /// The users' handle, for [`get_client`] inside tasks: weak, since the client
    /// shuts down when the users' last handle goes.
    owner: OnceLock<Weak<Owner>>,
    /// Who watches the tasks ([`ClientBuilder::observer`]; several combined in one).
    observer: Option<Arc<dyn Observer>>,
}

/// Builds a [`Client`].
#[derive(Default, Clone)]
#[must_use = "a `ClientBuilder` starts nothing until `.build()`; builder methods return the changed builder"]
pub struct ClientBuilder {
    threads: Option<usize>,
    max_threads: Option<usize>,
    name: Option<String>,
    shutdown_timeout: Option<Duration>,
    observers: Vec<Arc<dyn Observer>>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("threads", &self.threads)
            .field("max_threads", &self.max_threads)
            .field("name", &self.name)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("observers", &self.observers.len())
            .finish()
    }
}

/// How many threads a client may start beyond its own while its tasks wait, unless
/// [`ClientBuilder::max_threads`] says otherwise.
const EXTRA_THREADS: usize = 1024;

impl ClientBuilder {
    /// Worker threads (default: one per core).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// The most threads the pool may have while its tasks wait (default: `threads` +
    /// 1024). A task that waits for a future hands its place to another thread, so
    /// that `threads` keep running (Dask's `secede`); see the [`Client`] docs. Values
    /// below `threads` mean `threads`. The one excess allowed: when every thread is
    /// blocked and tasks are queued, one more starts (with a warning), since no
    /// thread could ever free up.
    pub fn max_threads(mut self, max_threads: usize) -> Self {
        self.max_threads = Some(max_threads);
        self
    }

    /// The client's name, used for its threads' names.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// How long dropping the last client waits for its running tasks to finish
    /// (default: 60 s). A task still running then keeps its thread: the drop returns,
    /// the thread is left detached, and it ends when the task returns (its result is
    /// still published to the task's future). Pending tasks are cancelled either way.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// Reports the client's tasks to `observer` (a [`Profiler`](crate::Profiler), a
    /// [`RunRecord`](crate::RunRecord), a [`Progress`](crate::Progress), a
    /// `TracingObserver`, your own): its future hooks see every task submitted,
    /// started and ended (see [`Observer`] for which events come when), and the graph
    /// of every [`Client::compute`] runs with it as its observer, so its graph hooks
    /// see that graph's tasks. Called again, it adds another: each observer gets every
    /// event, in the order they were added. Without one, a task pays a test of one
    /// field where an observer would be called.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Starts the pool.
    pub fn build(self) -> Result<Client, ClientError> {
        let threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if threads == 0 {
            return Err(ClientError::ZeroThreads);
        }
        let name = self.name.unwrap_or_else(|| "taskweave".to_owned());
        let max_threads = self
            .max_threads
            .unwrap_or_else(|| threads.saturating_add(EXTRA_THREADS));
        let pool = Pool::start(name.clone(), threads, max_threads)?;
        let owner = Arc::new(Owner {
            inner: Arc::new(Inner {
                name,
                threads,
                pool,
                closed: AtomicBool::new(false),
                live: Mutex::new(Vec::new()),
                shutdown_timeout: self.shutdown_timeout.unwrap_or(SHUTDOWN_GRACE),
                owner: OnceLock::new(),
                observer: Observers::combine(self.observers),
            }),
        });
        let _ = owner.inner.owner.set(Arc::downgrade(&owner));
        Ok(Client { owner })
    }
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.owner.inner.name)
            .field("threads", &self.owner.inner.threads)
            .finish()
    }
}

impl Client {
    /// A client with one worker thread per core.
    ///
    /// # Panics
    /// If the operating system refuses the threads.
    #[must_use = "dropping the last handle of a client shuts its pool down: keep it to submit tasks"]
    pub fn new() -> Client {
        match Client::builder().build() {
            Ok(client) => client,
            Err(error) => panic!("{error}"),
        }
    }

    /// A builder: threads, name.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The number of worker threads.
    pub fn threads(&self) -> usize {
        self.owner.inner.threads
    }

    fn inner(&self) -> &Arc<Inner> {
        &self.owner.inner
    }

    /// Runs `f(args)` on the pool; returns its future at once. `args` is a tuple whose
    /// items are plain values or futures (`Future<T>` or `&Future<T>`, for a `T` or an
    /// `Arc<T>` parameter): a future makes a dependency, not a wait. A future passed by
    /// value, when no other handle of it is left, gives its value to the task without a
    /// copy (a chain `x = client.submit(f, (x,))` moves its values along); a future
    /// still held elsewhere is cloned for a `T` parameter, shared for an `Arc<T>` one.
    #[track_caller]
    pub fn submit<F, V, A>(&self, f: F, args: A) -> Future<F::Output>
    where
        F: TaskFn<V>,
        A: SubmitArgs<V>, // a task runs after `submit` returns: pass owned values (a clone, an `Arc`) or futures, not borrows
    {
        self.task(f).submit(args)
    }

    /// A task with options (name, retries) before it is submitted.
    #[track_caller]
    pub fn task<F>(&self, f: F) -> TaskBuilder<F> {
        TaskBuilder {
            client: self.clone(),
            f: Arc::new(f),
            name: None,
            retries: 0,
            priority: 0,
            call_site: call_site_of(Location::caller()),
            kind: "future",
        }
    }

    /// One future per pair of items: `f(a, b)` for each, the two sequences zipped
    /// (Dask's `client.map(f, a, b)`, stopping at the shorter, as Python's `map`). For
    /// more, zip them into tuples and `map` a function of one tuple, or use
    /// [`TaskBuilder::map`] with `submit`'s argument tuples.
    #[track_caller]
    #[must_use = "dropping the last handle of a future cancels its task: keep them, wait for them, or pass each to `client.fire_and_forget`"]
    pub fn map2<F, V, A, B>(&self, f: F, a: A, b: B) -> Vec<Future<F::Output>>
    where
        F: TaskFn<V>,
        A: IntoIterator,
        B: IntoIterator,
        (A::Item, B::Item): SubmitArgs<V>,
    {
        let builder = self.task(f);
        a.into_iter()
            .zip(b)
            .map(|args| builder.submit(args))
            .collect()
    }

    /// One future per item: `f(item)` for each (Dask's `client.map`).
    #[track_caller]
    #[must_use = "dropping the last handle of a future cancels its task: keep them, wait for them, or pass each to `client.fire_and_forget`"]
    pub fn map<F, I, T, R>(&self, f: F, items: I) -> Vec<Future<R>>
    where
        F: Fn(T) -> R + Send + Sync + 'static, // one item per call: for two parameters, `client.map2(f, xs, ys)`
        I: IntoIterator,
        I::Item: IntoFutArg<T>,
        T: 'static,
        R: Send + Sync + 'static,
        <I::Item as IntoFutArg<T>>::Arg: FutArg<Value = T>,
    {
        let builder = self.task(f);
        items
            .into_iter()
            .map(|item| builder.submit((item,)))
            .collect()
    }

    /// Waits for every future and returns their results, in order.
    pub fn gather<T: Clone>(&self, futures: &[Future<T>]) -> Result<Vec<T>, FutureError> {
        futures.iter().map(Future::result).collect()
    }

    /// A finished future holding `value`: shared by every task that reads it, never
    /// copied (take it as `Arc<T>`), like Dask's `scatter`.
    #[track_caller]
    pub fn scatter<T: Send + Sync + 'static>(&self, value: T) -> Future<T> {
        let state = Arc::new(State::new(
            TaskName::Static("scatter"),
            call_site_of(Location::caller()),
        ));
        state.finish(Arc::new(value));
        Future::from_state(state)
    }

    /// Computes a dynamic graph as a task of this client; returns its future at once:
    /// one value (`client.compute(&total)`) or several in one run that share their
    /// nodes (`client.compute((&a, &b))`, any [`Outputs`](crate::Outputs); shared nodes
    /// run once), as Dask's `client.compute` (see [`ToCompute`]). The graph is laid
    /// out now; its tasks run on rayon's pool, as [`Delayed::compute`](crate::Delayed::compute)'s do, while the
    /// client's thread waits for them without holding its place. A task failing inside
    /// the graph fails the future, with the task named. Cancelling the future, or
    /// dropping its last handle, stops the graph: no task of it starts after that, and
    /// running ones see [`cancelled`].
    #[track_caller]
    pub fn compute<O>(&self, outputs: O) -> Future<O::Values>
    where
        O: ToCompute,
        O::Values: Send + Sync + 'static,
    {
        let name = crate::dynamic::outputs_name(&outputs);
        let prepared = Mutex::new(crate::dynamic::prepare_any(outputs));
        // The client's observers watch the graph too.
        let observer = self.inner().observer.clone();
        let run = move || {
            let mut options = crate::observe::RunOptions::new();
            if let Some(observer) = &observer {
                options = options.observer(observer.clone());
            }
            if let Some(task) = current_task() {
                options = options.stop_when(move || task.core().cancel.load(Ordering::Acquire));
            }
            let mut prepared = prepared.lock().unwrap_or_else(|e| e.into_inner());
            match pool::blocking(|| prepared.try_compute_with(options)) {
                Ok(values) => values,
                Err(error) => error.resume(),
            }
        };
        TaskBuilder {
            client: self.clone(),
            f: Arc::new(run),
            name: Some(Arc::from(name)),
            retries: 0,
            priority: 0,
            call_site: call_site_of(Location::caller()),
            kind: "compute",
        }
        .submit(())
    }

    /// Computes dynamic graphs now and keeps their results (Dask's `client.persist`):
    /// one `&Delayed`, a tuple of them or a slice, in one run (what they share runs
    /// once); later graphs that use the returned values read them instead of running
    /// them again. Its tasks run on rayon's pool, as [`Delayed::persist`](crate::Delayed::persist)'s do; called
    /// from one of this client's tasks, the waiting thread hands its place over
    /// meanwhile.
    #[track_caller]
    pub fn persist<P: crate::dynamic::Persist>(&self, outputs: P) -> P::Persisted {
        pool::blocking(|| crate::dynamic::persist(outputs))
    }

    /// Cancels every future of `futures` (Dask's `client.cancel(futures)`); see
    /// [`Future::cancel`].
    pub fn cancel<T>(&self, futures: &[Future<T>]) {
        for future in futures {
            future.cancel();
        }
    }

    /// Keeps `future`'s task running after its handles are dropped.
    pub fn fire_and_forget<T>(&self, future: Future<T>) {
        future.state().core.forgotten.store(true, Ordering::Release);
    }
}

impl Inner {
    /// Queues a ready job, or cancels it if the client is shutting down. The first job
    /// a finishing task makes ready runs next on the same thread instead (see
    /// [`run_jobs`]).
    fn spawn(&self, job: Arc<dyn Runnable>) {
        if self.closed.load(Ordering::Acquire) {
            return job.cancel();
        }
        if job.priority() != 0 {
            // Ordered among the ready ones, never run ahead of them as a continuation.
            return self.pool.push(job);
        }
        let Err(job) = continuation::offer(self, job) else {
            return;
        };
        self.pool.push(job);
    }

    fn register(&self, task: Weak<dyn Cancel>) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if live.len() >= 1024 && live.len().is_power_of_two() {
            live.retain(|t| t.strong_count() > 0);
        }
        live.push(task);
    }
}

/// Runs `job` on this pool thread, then each job its end handed over to run next.
fn run_jobs(mut job: Arc<dyn Runnable>) {
    loop {
        // A panic escaping a rayon `spawn` aborts the process. The task's own panic is
        // caught in `run`; what is left is a `Drop` that panics (of a discarded result,
        // of the task's arguments, of a result whose last handle was the job's) or a
        // dependent's callback: the future has its outcome by then, the panic hook has
        // printed the message, and the pool thread goes on.
        let _ = panic::catch_unwind(AssertUnwindSafe(move || job.run()));
        match continuation::take() {
            Some(next) => job = next,
            None => return,
        }
    }
}

/// The job a finishing task made ready, run next on the same thread: a chain of
/// futures runs like a loop on one worker (the value just made is still in its cache,
/// and freed in the allocator's arena of the thread that made it) rather than going
/// through the pool's queues, where another worker would steal each link. Only jobs
/// released while a task of the same client ends are kept (a task's body that submits
/// and waits must find its jobs in the pool); the rest are spawned as usual.
mod continuation {
    use std::cell::{Cell, RefCell};
    use std::sync::Arc;

    use super::{Inner, Runnable};

    thread_local! {
        /// The client whose task is ending on this thread, if any.
        static ENDING: Cell<*const Inner> = const { Cell::new(std::ptr::null()) };
        static NEXT: RefCell<Option<Arc<dyn Runnable>>> = const { RefCell::new(None) };
    }

    /// Marks a task of `client` as ending on this thread until dropped.
    pub(super) struct Ending(*const Inner);

    impl Ending {
        pub(super) fn new(client: &Inner) -> Ending {
            Ending(ENDING.with(|e| e.replace(client)))
        }
    }

    impl Drop for Ending {
        fn drop(&mut self) {
            ENDING.with(|e| e.set(self.0));
        }
    }

    /// Keeps `job` to run next if a task of `client` is ending here and nothing is
    /// kept yet; gives it back otherwise.
    pub(super) fn offer(client: &Inner, job: Arc<dyn Runnable>) -> Result<(), Arc<dyn Runnable>> {
        if !std::ptr::eq(ENDING.with(Cell::get), client) {
            return Err(job);
        }
        NEXT.with(|next| {
            let mut next = next.borrow_mut();
            if next.is_some() {
                return Err(job);
            }
            *next = Some(job);
            Ok(())
        })
    }

    /// The job kept to run next.
    pub(super) fn take() -> Option<Arc<dyn Runnable>> {
        NEXT.with(|next| next.borrow_mut().take())
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let inner = &self.inner;
        inner.closed.store(true, Ordering::Release);
        let live = std::mem::take(&mut *inner.live.lock().unwrap_or_else(|e| e.into_inner()));
        // Cancelling drops the tasks' arguments, whose `Drop` may panic: every task is
        // cancelled and the pool shut down all the same, and the first such panic goes
        // on once the shutdown is done.
        let mut first_panic = None;
        for task in &live {
            let cancel = || {
                if let Some(task) = task.upgrade() {
                    task.cancel();
                }
            };
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(cancel)) {
                first_panic.get_or_insert(payload);
            }
        }
        drop(live);
        self.shut_down();
        if let Some(payload) = first_panic {
            // Not while this drop is part of another panic's unwinding (that aborts).
            if !std::thread::panicking() {
                panic::resume_unwind(payload);
            }
        }
    }
}

impl Owner {
    /// Closes the pool and waits (up to the shutdown timeout) for its threads to end.
    fn shut_down(&self) {
        let pool = &self.inner.pool;
        pool.close();
        if pool.is_current() {
            // The last handle was dropped by one of the pool's own tasks: its threads
            // end when their tasks do, but this one cannot wait for itself.
            return;
        }
        // Running tasks finish, then every thread ends. A task that never returns
        // would hold its thread forever: after the shutdown timeout, stop waiting and
        // leave that thread detached. A timeout too long for a deadline is none.
        // On another client's thread, that client keeps its threads running meanwhile.
        pool::blocking(|| pool.wait_exited(pool::deadline_after(self.inner.shutdown_timeout)));
    }
}

// ---- tasks ----------------------------------------------------------------------

/// A task's options before it is submitted; made by [`Client::task`].
#[must_use = "a `TaskBuilder` runs nothing until `.submit(args)`; builder methods return the changed builder"]
pub struct TaskBuilder<F> {
    client: Client,
    f: Arc<F>,
    name: Option<Arc<str>>,
    retries: u32,
    priority: i32,
    call_site: &'static str,
    /// What observers are told the task is ([`FutureEvent::kind`]).
    kind: &'static str,
}

impl<F> TaskBuilder<F> {
    /// Names the task (default: the function's name).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(Arc::from(name.into()));
        self
    }

    /// Runs a panicking task again, up to `retries` more times.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Orders the task among ready ones (Dask's `priority=`): higher runs first; equal
    /// priorities in the order they became ready. The default is 0. A task with the
    /// default may run first all the same when a task it depends on has just finished
    /// on a thread (that thread goes on with it), or when a task waiting for it runs
    /// it; one with another priority always waits its turn in the queue.
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// One task per item, with this builder's name and retries: `f(item)` for each
    /// (Dask's `client.map(f, items, key=…, retries=…)`).
    #[must_use = "dropping the last handle of a future cancels its task: keep them, wait for them, or pass each to `client.fire_and_forget`"]
    pub fn map<V, I>(&self, items: I) -> Vec<Future<F::Output>>
    where
        F: TaskFn<V>,
        I: IntoIterator,
        (I::Item,): SubmitArgs<V>,
    {
        items.into_iter().map(|item| self.submit((item,))).collect()
    }

    /// Submits the task with these arguments (see [`Client::submit`]).
    pub fn submit<V, A>(&self, args: A) -> Future<F::Output>
    where
        F: TaskFn<V>,
        A: SubmitArgs<V>, // a task runs after `submit` returns: pass owned values (a clone, an `Arc`) or futures, not borrows
    {
        let name = match &self.name {
            Some(name) => TaskName::Shared(name.clone()),
            None => TaskName::Static(short_name::<F>()),
        };
        let state = Arc::new(State::new(name, self.call_site));
        let kept = args.into_kept();
        let mut dependencies = args::Dependencies::default();
        kept.dependencies(&mut dependencies);
        let mut dependencies = dependencies.0;
        state.core.record_dependencies(&dependencies);
        let job: Arc<Job<F, A::Kept, F::Output>> = Arc::new(Job {
            state: state.clone(),
            f: self.f.clone(),
            args: Mutex::new(Some(kept)),
            remaining: AtomicUsize::new(dependencies.len() + 1),
            retries: self.retries,
            priority: self.priority,
            client: self.client.inner().clone(),
            kind: self.kind,
        });
        // Before anything can start or end it (a dependency that failed already ends
        // it in the loop below).
        job.observe(0, false, |observer, task| observer.future_submitted(task));
        self.client
            .inner()
            .register(Arc::downgrade(&job) as Weak<dyn Cancel>);
        // For a task waiting for this one, which may run it itself (see `pool`).
        let _ = state
            .core
            .job
            .set(Arc::downgrade(&job) as Weak<dyn Runnable>);
        for dependency in dependencies.take() {
            dependency.core().on_end_dependent(job.clone());
        }
        job.release();
        Future::from_state(state)
    }
}

fn short_name<F>() -> &'static str {
    let full = std::any::type_name::<F>();
    if full.ends_with("{{closure}}") {
        return "closure";
    }
    full.rsplit("::").next().unwrap_or(full)
}

/// One submitted task: its function, its arguments, how many dependencies remain.
struct Job<F, K, R> {
    state: Arc<State<R>>,
    f: Arc<F>,
    /// Taken when the task ends, so finished dependencies are released.
    args: Mutex<Option<K>>,
    remaining: AtomicUsize,
    retries: u32,
    priority: i32,
    client: Arc<Inner>,
    kind: &'static str,
}

/// A job the pool can run.
pub(crate) trait Runnable: Send + Sync {
    /// Runs the task, unless it has started or ended already.
    fn run(self: Arc<Self>);
    /// Ends the task cancelled.
    fn cancel(&self);
    /// Whether every dependency has finished and the task has not started: it may run.
    fn is_ready(&self) -> bool;
    /// Queues the job on its client's pool.
    fn requeue(self: Arc<Self>);
    /// Drops the arguments of a task that ended without running (or whose result is
    /// discarded), releasing the futures it held.
    fn release(&self);
    /// Its place among ready tasks: higher first (see [`TaskBuilder::priority`]).
    fn priority(&self) -> i32;
    /// The task ended, failed or cancelled, before it started: tells the client's
    /// observer (called by whoever ended it, right after the end).
    fn ended_unstarted(&self, outcome: &Outcome);
}

/// A live task that shutdown may cancel.
trait Cancel: Send + Sync {
    fn cancel(&self);
}

impl<F, K, R> Job<F, K, R>
where
    F: TaskFn<K::Values, Output = R>,
    K: KeptArgs,
    R: Send + Sync + 'static,
{
    /// One dependency done (or the submission itself): queue the job when none is left.
    fn release(self: &Arc<Self>) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.client.spawn(self.clone());
        }
    }

    /// Ends the job's future, dropping its arguments.
    fn end(&self, end: impl FnOnce(&State<R>) -> bool) {
        // Ending tells the dependents, whose callbacks may panic (a `Drop` of their
        // arguments): the arguments are dropped all the same, not left to a drop of
        // the job during that panic's unwinding, where a second panic would abort.
        let ended = panic::catch_unwind(AssertUnwindSafe(|| end(&self.state)));
        self.release_args();
        if let Err(payload) = ended {
            panic::resume_unwind(payload);
        }
    }
}

impl<F, K, R> Job<F, K, R> {
    /// Tells the client's observer, if it has one, about attempt `attempt` of this task
    /// (`started`: see [`FutureEvent::started`]). A panic of the observer is dropped
    /// here: it must not leave the task unended.
    #[inline]
    fn observe(
        &self,
        attempt: u32,
        started: bool,
        tell: impl FnOnce(&dyn Observer, &FutureEvent<'_>),
    ) {
        if let Some(observer) = self.client.observer.as_deref() {
            let core = &self.state.core;
            let task = FutureEvent {
                name: &core.name,
                kind: self.kind,
                call_site: core.call_site,
                key: core.key_number(),
                attempt,
                started,
            };
            let _ = panic::catch_unwind(AssertUnwindSafe(|| tell(observer, &task)));
        }
    }

    /// Drops the arguments. Taken out under the lock, dropped after it: dropping the
    /// last handle of a pending dependency cancels it, and that tells this very job.
    fn release_args(&self) {
        let args = self.args.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(args);
    }
}

/// The task running on this thread: its state (for its cancellation flag) and its
/// client.
struct Running {
    task: Arc<dyn HasCore>,
    client: Arc<Inner>,
}

thread_local! {
    /// The task running on this thread, if any.
    static CURRENT: RefCell<Option<Running>> = const { RefCell::new(None) };
}

/// Whether the task running on this thread was cancelled: a long task may poll it and
/// stop early (Dask cannot stop a task that is already running). For a task of a
/// graph: whether its result is no longer wanted, because its run was told to stop
/// (`RunOptions::stop_when`; a cancelled `client.compute`) or has already failed
/// (another task panicked, or a `?` before it met an error). `false` outside tasks.
pub fn cancelled() -> bool {
    CURRENT.with(|current| {
        current
            .borrow()
            .as_ref()
            .is_some_and(|running| running.task.core().cancel.load(Ordering::Acquire))
    }) || crate::observe::run_stopped()
}

/// The state of the futures task running on this thread.
fn current_task() -> Option<Arc<dyn HasCore>> {
    CURRENT.with(|current| current.borrow().as_ref().map(|r| r.task.clone()))
}

/// The client whose task is running on this thread (Dask's `get_client()`), so that a
/// task can submit tasks and wait for them without being handed its client; `None`
/// outside a task, or once the client's last handle outside it was dropped (the client
/// is shutting down).
pub fn get_client() -> Option<Client> {
    CURRENT.with(|current| {
        let current = current.borrow();
        let owner = current.as_ref()?.client.owner.get()?.upgrade()?;
        Some(Client { owner })
    })
}

impl<F, K, R> Dependent for Job<F, K, R>
where
    F: TaskFn<K::Values, Output = R>,
    K: KeptArgs,
    R: Send + Sync + 'static,
{
    fn dependency_ended(self: Arc<Self>, outcome: &Outcome) {
        match outcome {
            Outcome::Finished => self.release(),
            Outcome::Failed(error) => {
                self.end(|state| state.fail(error.clone()));
            }
            Outcome::Cancelled => {
                self.end(|state| {
                    state.fail(FutureError::Cancelled {
                        task: state.core.name.to_string(),
                    })
                });
            }
        }
    }
}

impl<F, K, R> Runnable for Job<F, K, R>
where
    F: TaskFn<K::Values, Output = R>,
    K: KeptArgs,
    R: Send + Sync + 'static,
{
    fn run(self: Arc<Self>) {
        if self.client.closed.load(Ordering::Acquire) {
            return Runnable::cancel(&*self);
        }
        if !self.state.core.start() {
            // Cancelled while queued: drop the arguments. Or started already, by a task
            // waiting for it (see `pool`): the queued copy has nothing to do.
            if self.state.core.is_done() {
                self.end(|_| false);
            }
            return;
        }
        let current = Running {
            task: self.state.clone(),
            client: self.client.clone(),
        };
        let previous = CURRENT.with(|c| c.replace(Some(current)));
        let mut attempts = 0;
        let outcome = loop {
            self.observe(attempts, true, |observer, task| {
                observer.future_started(task)
            });
            // Reading the arguments clones plain values, and a `Clone` may panic too:
            // that is the task's panic, reported (and retried) as one.
            let attempt = panic::catch_unwind(AssertUnwindSafe(|| {
                let mut args = self.args.lock().unwrap_or_else(|e| e.into_inner());
                let values = if attempts < self.retries {
                    args.as_ref().map(|args| args.values())
                } else {
                    // The last attempt consumes the arguments: a dependency whose last
                    // handle they hold gives its value up rather than a copy.
                    args.take().map(KeptArgs::into_values)
                };
                drop(args);
                values.map(|values| self.f.call(values))
            }));
            match attempt {
                Ok(None) => break None,
                Ok(Some(value)) => break Some(Ok(value)),
                // A dependency was cancelled after it finished: so is this task.
                Err(payload) if payload.is::<args::DependencyCancelled>() => {
                    let task = self.state.core.name.to_string();
                    break Some(Err(FutureError::Cancelled { task }));
                }
                Err(payload) if attempts < self.retries => {
                    self.observe(attempts, true, |observer, task| {
                        observer.future_finished(task, TaskOutcome::Retried);
                    });
                    attempts += 1;
                    drop(payload);
                }
                Err(payload) => {
                    let core = &self.state.core;
                    let error = TaskError::from_panic(&core.name, core.call_site, payload);
                    break Some(Err(FutureError::Task(Arc::new(error))));
                }
            }
        };
        CURRENT.with(|c| *c.borrow_mut() = previous);
        // Told before the end publishes the result, so that the task's time excludes
        // its dependents' release, and its end comes before theirs.
        self.observe(attempts, true, |observer, task| {
            let cancelled = self.state.core.cancel.load(Ordering::Acquire);
            let outcome = match &outcome {
                Some(Ok(_)) if !cancelled => TaskOutcome::Finished,
                Some(Err(FutureError::Task(_))) => TaskOutcome::Failed,
                // Cancelled while it ran (a dependency's value gone, or its own
                // arguments released by the cancel).
                _ => TaskOutcome::Cancelled,
            };
            observer.future_finished(task, outcome);
        });
        // Ending releases the dependents: the first ready one runs next on this thread.
        let _ending = continuation::Ending::new(&self.client);
        match outcome {
            // A running task cancelled meanwhile: its result is discarded.
            Some(Ok(value)) => self.end(|state| state.finish(Arc::new(value))),
            Some(Err(error)) => self.end(|state| state.fail(error)),
            None => self.end(|_| false),
        }
    }

    fn cancel(&self) {
        self.end(|state| {
            state.fail(FutureError::Cancelled {
                task: state.core.name.to_string(),
            })
        });
    }

    fn is_ready(&self) -> bool {
        self.remaining.load(Ordering::Acquire) == 0 && self.state.core.status() == Status::Pending
    }

    fn requeue(self: Arc<Self>) {
        let client = self.client.clone();
        client.spawn(self);
    }

    fn release(&self) {
        self.release_args();
    }

    fn priority(&self) -> i32 {
        self.priority
    }

    fn ended_unstarted(&self, outcome: &Outcome) {
        let outcome = match outcome {
            Outcome::Failed(_) => TaskOutcome::Failed,
            Outcome::Cancelled => TaskOutcome::Cancelled,
            // Not called for a finished task (every job runs to finish).
            Outcome::Finished => TaskOutcome::Finished,
        };
        self.observe(0, false, |observer, task| {
            observer.future_finished(task, outcome);
        });
    }
}

impl<F, K, R> Cancel for Job<F, K, R>
where
    F: TaskFn<K::Values, Output = R>,
    K: KeptArgs,
    R: Send + Sync + 'static,
{
    fn cancel(&self) {
        // Shutdown cancels what has not started; running tasks finish.
        if self.state.core.claim_pending() {
            Runnable::cancel(self);
        }
    }
}

// ---- futures --------------------------------------------------------------------

/// The handle on a submitted task's result (Dask's `Future`). Cloning makes another
/// handle; dropping the last handle of a pending task cancels it (unless
/// [`Client::fire_and_forget`]), and of a finished one frees its result.
///
/// So `client.submit(f, args);` as a statement submits a task and cancels it at once:
/// `#[must_use]` makes that a warning.
// The comment on the `struct` line is shown by rustc under an operator's error on a
// `Future` (`f + 1`, `f > 3`): "`Future<i64>` does not implement `Add<…>`", then this
// line (see `crate::prohibited`).
#[must_use = "dropping the last handle of a future cancels its task: keep it, wait for it, or pass it to `client.fire_and_forget`"]
pub struct Future<T> /* no value until its task ends: pass it to a task (`client.submit(g, (&f,))`) or use `f.result()?` */
{
    handle: Arc<Handle<T>>,
}

struct Handle<T> {
    state: Arc<State<T>>,
}

impl<T> Drop for Handle<T> {
    fn drop(&mut self) {
        let core = &self.state.core;
        if !core.is_done() && !core.forgotten.load(Ordering::Acquire) {
            self.state.fail(FutureError::Cancelled {
                task: core.name.to_string(),
            });
        }
    }
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future {
            handle: self.handle.clone(),
        }
    }
}

/// Futures are equal when they are handles of one task, as Dask's futures of one key
/// are: they can key a `HashMap` (`{future: input}`). The hash is the task's identity,
/// which nothing changes; clippy's `mutable_key_type` cannot know that: list
/// `"taskweave::Future"` under `ignore-interior-mutability` in `clippy.toml`.
impl<T> PartialEq for Future<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(self.state(), other.state())
    }
}

impl<T> Eq for Future<T> {}

impl<T> std::hash::Hash for Future<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::ptr::hash(Arc::as_ptr(self.state()), state);
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Future")
            .field("task", &self.name())
            .field("status", &self.status())
            .finish()
    }
}

impl<T> Future<T> {
    fn from_state(state: Arc<State<T>>) -> Self {
        Future {
            handle: Arc::new(Handle { state }),
        }
    }

    pub(crate) fn state(&self) -> &Arc<State<T>> {
        &self.handle.state
    }

    pub(crate) fn core(&self) -> &Core {
        &self.handle.state.core
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        &self.core().name
    }

    /// The task's key, as Dask names a future's task: its name and a number unique to
    /// the task in this process (`inc-3f`). Handles of one task share it.
    pub fn key(&self) -> String {
        format!("{}-{:x}", self.name(), self.core().key_number())
    }

    /// Where the task was submitted, as `file:line:column`.
    pub fn call_site(&self) -> &str {
        self.core().call_site
    }

    /// Pending, running, finished, error or cancelled.
    pub fn status(&self) -> Status {
        self.core().status()
    }

    /// Whether the task has ended (finished, failed or cancelled).
    pub fn done(&self) -> bool {
        self.core().is_done()
    }

    /// Cancels the task: a pending one never runs, a running one has its result
    /// discarded (and can see [`cancelled`]), and its dependents are cancelled. A
    /// finished one is released, as Dask releases a cancelled key: it becomes cancelled,
    /// readers get [`FutureError::Cancelled`], its value is freed once no reader holds
    /// it, and dependents that have not run yet (or are submitted later) are cancelled.
    /// A task that ended in error stays so.
    pub fn cancel(&self) {
        let task = self.name().to_owned();
        if self.status() == Status::Finished && self.state().cancel_finished(task.clone()) {
            return;
        }
        self.state().fail(FutureError::Cancelled { task });
    }

    /// Waits for the result, shared: no copy however many read it.
    pub fn result_shared(&self) -> Result<Arc<T>, FutureError> {
        self.core().wait(None);
        self.read()
    }

    /// Waits at most `timeout` for the result; on timeout the task goes on.
    /// A timeout too long to be a deadline (`Duration::MAX`) waits without one;
    /// `Duration::ZERO` only looks.
    pub fn result_timeout_shared(&self, timeout: Duration) -> Result<Arc<T>, FutureError> {
        if !self.core().wait(pool::deadline_after(timeout)) {
            return Err(FutureError::Timeout {
                task: self.name().to_owned(),
                after: timeout,
            });
        }
        self.read()
    }

    fn read(&self) -> Result<Arc<T>, FutureError> {
        match self.state().value.get() {
            Some(result) => result,
            None => Err(FutureError::Cancelled {
                task: self.name().to_owned(),
            }),
        }
    }

    /// The result of a finished future, taken out of it when this is its last handle
    /// (no one else can read it then): a dependent task that received the only handle
    /// gets the value without a copy, and the future stops holding it.
    pub(crate) fn into_result(self) -> Option<Result<Arc<T>, FutureError>> {
        match Arc::try_unwrap(self.handle) {
            Ok(handle) => handle.state.value.take(),
            Err(handle) => handle.state.value.get(),
        }
    }

    /// Calls `callback` with this future once its task has ended, finished, failed or
    /// cancelled (at once, on this thread, if it has; otherwise on the thread that ends
    /// it), as Dask's `add_done_callback`. The callback does not keep the task alive:
    /// dropping every handle still cancels it, and the callback then sees it cancelled.
    /// Keep callbacks short: they run on a pool thread, before its next task.
    pub fn add_done_callback(&self, callback: impl FnOnce(&Future<T>) + Send + 'static)
    where
        T: Send + Sync + 'static,
    {
        let state = self.state().clone();
        // A handle of its own, made when called: holding one before would keep the
        // task from being cancelled by its users' drops.
        let _ = self
            .core()
            .on_end(move |_| callback(&Future::from_state(state)));
    }

    /// Where the failed task panicked (Dask's `future.traceback()`): the backtrace of a
    /// task that ended in error (for a dependency's failure, the dependency's), when
    /// backtraces are enabled in the environment (see [`TaskError::backtrace`]).
    pub fn traceback(&self) -> Option<Arc<std::backtrace::Backtrace>> {
        self.exception()?.backtrace().cloned()
    }

    /// The error of a task that ended in error: the failed task's name, call site and
    /// message (for a dependency's failure, the dependency's).
    pub fn exception(&self) -> Option<Arc<TaskError>> {
        match self.state().value.get() {
            Some(Err(FutureError::Task(error))) => Some(error),
            _ => None,
        }
    }
}

impl<T: Clone> Future<T> {
    /// Waits for the result (a clone of the shared value).
    pub fn result(&self) -> Result<T, FutureError> {
        self.result_shared().map(|v| T::clone(&v))
    }

    /// Waits at most `timeout`; on timeout the task goes on.
    pub fn result_timeout(&self, timeout: Duration) -> Result<T, FutureError> {
        self.result_timeout_shared(timeout).map(|v| T::clone(&v))
    }
}

impl<F> std::fmt::Debug for TaskBuilder<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskBuilder")
            .field("name", &self.name)
            .field("retries", &self.retries)
            .field("priority", &self.priority)
            .finish_non_exhaustive()
    }
}
