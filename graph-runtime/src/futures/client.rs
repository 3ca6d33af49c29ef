//! The [`Client`]: the pool it owns, how it is built ([`ClientBuilder`]), what it
//! submits (`submit`, `map`, `gather`, `scatter`, `compute`, `persist`) and its
//! shutdown; [`get_client`](super::job::get_client) inside a task.

use core::fmt;
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use super::args::{FutArg, IntoFutArg, SubmitArgs, TaskFn};
use super::error::{ClientError, FutureError};
use super::future::Future;
use super::info::{AnyFuture, FutureRef};
use super::job::{
    continuation, current_client, current_task, default_name, submit_job, Alone, Cancel,
    JobOptions, Own, Runnable, TaskBuilder,
};
use super::pool::{self, Pool};
use super::state::{HasCore, State, TaskName};
use super::waiting::Waitable;
use crate::dynamic::ToCompute;
use crate::engine::error::FirstPanic;
use crate::engine::lock::Recover;
use crate::engine::observe::{Observer, Observers};

// ---- the client -----------------------------------------------------------------

/// Eager execution with handles (Dask's `Client`): `submit`, `map`, `gather`,
/// `scatter`, `compute` of a `Delayed`. Cloning shares the same pool; dropping the last
/// clone shuts it down: pending tasks are cancelled, running ones finish, and their
/// threads end (the `Drop` of what tasks left in their thread-locals included: the
/// drop waits for that too). Finished futures keep their results, readable after the
/// drop, and a running task's future gets its result when it finishes (Dask's
/// `client.close()` releases every future of the client, finished ones too: all read
/// `'cancelled'` after it). The drop waits for them up to [`ClientBuilder::shutdown_timeout`]
/// (60 s by default); a thread whose task is still running then is left detached.
/// Dropped inside a task (of this client or another, or a graph task of a run one of
/// them computes), or on any rayon thread (which may be running part of a task's own
/// work, a plain `par_iter`, that the task's thread waits for), it does not wait: the
/// running tasks finish on their own threads.
///
/// # Tasks that wait
///
/// A task may wait for other futures (`result`, `gather`, [`wait`](crate::wait),
/// [`as_completed`](crate::as_completed), or a [`Client::compute`] inside it), also for
/// tasks it submits itself, on any number of threads, one included. While it waits, it
/// runs ready tasks that the future it awaits needs (for a wait for any one of several:
/// the first of them still queued, see [`as_completed`](crate::as_completed)), at most
/// 16 deep on its stack, or else hands its place to another thread, which the pool
/// starts if needed, so that `threads` tasks keep running, as Dask's `secede`/`rejoin`
/// do. The pool grows this way up to [`ClientBuilder::max_threads`] (`threads` + 1024
/// by default). When the wait ends, the task goes on at once (Dask's `rejoin` waits for
/// a free place instead), and the next thread to finish a task parks rather than start
/// another, so that `threads` tasks run at once again (a task already running when the
/// wait ends finishes first); a parked thread takes the place of the next task that
/// waits, and parked or idle spare threads end after a second. A waiting task never
/// runs an unrelated task on its own stack: one that waited for it in turn would
/// deadlock. Past `max_threads`, further waits sleep until a thread frees up; if every
/// thread is blocked while tasks are queued (waits nested deeper than the bound, every
/// task in a `par_iter` whose items wait, see below, or many tasks in
/// [`secede`](crate::secede)), the pool starts one more thread anyway, and warns once
/// on stderr, rather than deadlock: up to one more for each thread so blocked.
///
/// Only the library's waits hand a place over: a task blocked in another (a
/// `std::thread`'s `join`, a channel's `recv`, a lock) keeps its thread meanwhile. A
/// `std::thread` the task started counts as any thread outside the pool (the pool
/// cannot tell it from `main`), so while such tasks hold every thread, a future
/// still queued that such a thread waits for never starts: `result` waits for ever
/// there, `result_timeout` returns at its timeout. A task that wraps such a wait in
/// [`secede`](crate::secede) gives its place over meanwhile, as the library's waits
/// do. The items of a plain rayon `par_iter`
/// in a task do count: a rayon thread asleep for a future holds up one of the
/// client's threads, and a replacement starts (within `max_threads`; past it, one
/// more when no thread is left to run queued tasks, as for blocked ones). Such an
/// item's wait that is not the library's gives a place over inside
/// [`Client::secede`] (the free `secede` cannot know the client there).
///
/// A panic in the `Drop` of a value the client drops (a cancelled task's arguments, a
/// discarded result) never aborts: on a pool thread it is caught (the panic hook
/// prints it) and the thread goes on; on the caller's thread (`cancel`, dropping a
/// future or the client) it propagates once every dependent has been told and the
/// shutdown is done. A task of the client holding its last handle (`get_client()`,
/// the users' dropped meanwhile) shuts it down as a pool thread: such a panic is
/// caught there, not the task's.
#[derive(Clone)]
pub struct Client {
    pub(super) owner: Arc<Owner>,
}

/// How long dropping the last client waits for running tasks to finish, unless
/// [`ClientBuilder::shutdown_timeout`] says otherwise.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);

/// Dropped with the last user handle: shuts the pool down.
pub(super) struct Owner {
    pub(super) inner: Arc<Inner>,
    /// The dashboard the client serves ([`ClientBuilder::dashboard`]): stopped after
    /// the pool's shutdown, with the owner.
    #[cfg(feature = "dashboard")]
    dashboard: Option<crate::observers::dashboard::Dashboard>,
}

/// What tasks keep of the client: the pool, and what must be cancelled at shutdown.
pub(crate) struct Inner {
    pub(super) name: String,
    pub(super) threads: usize,
    pub(super) pool: Arc<Pool>,
    pub(super) closed: AtomicBool,
    /// Tasks not yet ended, for cancelling at shutdown (see [`LiveTasks`]); shared
    /// with the pool, whose idle workers prune it.
    pub(super) live: Arc<LiveTasks>,
    /// How long the shutdown waits for running tasks.
    pub(super) shutdown_timeout: Duration,
    /// The users' handle, for [`get_client`](super::job::get_client) inside tasks: weak, since the client
    /// shuts down when the users' last handle goes.
    pub(super) owner: OnceLock<Weak<Owner>>,
    /// Who watches the tasks ([`ClientBuilder::observer`]; several combined in one).
    pub(super) observer: Option<Arc<dyn Observer>>,
    /// The pure tasks by key ([`TaskBuilder::pure`]); touched by pure submissions only.
    pub(super) pure: Mutex<PureTasks>,
}

/// The client's pure tasks by key (see [`TaskBuilder::pure`]), each weak: an entry
/// whose task has no handle left is dead (an equal submission makes a new task and
/// takes its place), and the entries of freed tasks are pruned as [`Inner::register`]
/// prunes, once the map has doubled since the last pruning.
pub(super) struct PureTasks {
    pub(super) tasks: std::collections::HashMap<u64, Weak<dyn std::any::Any + Send + Sync>>,
    /// The length at which `tasks` is next pruned of freed tasks.
    pub(super) prune_at: usize,
}

impl Default for PureTasks {
    fn default() -> Self {
        PureTasks {
            tasks: std::collections::HashMap::new(),
            prune_at: PRUNE_FROM,
        }
    }
}

impl PureTasks {
    /// Adds or replaces the entry of `key`; prunes first if it is time. What it
    /// replaces is returned, to be dropped outside the lock.
    pub(super) fn insert(
        &mut self,
        key: u64,
        task: Weak<dyn std::any::Any + Send + Sync>,
    ) -> Option<Weak<dyn std::any::Any + Send + Sync>> {
        if self.tasks.len() >= self.prune_at {
            // A weak handle's drop frees at most the allocation: no user code runs.
            self.tasks.retain(|_, t| t.strong_count() > 0);
            self.prune_at = (2 * self.tasks.len()).max(PRUNE_FROM);
        }
        self.tasks.insert(key, task)
    }
}

/// A job's handle of its client: an `Arc<Inner>` whose count, when the job is dropped
/// on one of the client's own workers, that worker owes and gives back later with
/// others (see [`pool::owe`]), so that the count does not move between the submitting
/// thread's core and the workers' for every task.
pub(super) struct JobClient(ManuallyDrop<Arc<Inner>>);

impl JobClient {
    pub(super) fn new(client: Arc<Inner>) -> Self {
        JobClient(ManuallyDrop::new(client))
    }
}

impl std::ops::Deref for JobClient {
    type Target = Arc<Inner>;

    fn deref(&self) -> &Arc<Inner> {
        &self.0
    }
}

impl Drop for JobClient {
    fn drop(&mut self) {
        // SAFETY: taken once, here; the field is not used after.
        let client = unsafe { ManuallyDrop::take(&mut self.0) };
        /// Gives back `n` counts of an `Arc<Inner>` forgotten by `JobClient`'s drop.
        ///
        /// # Safety
        /// `handle` is an `Arc<Inner>`'s pointer whose owners forgot `n` counts.
        unsafe fn give_back(handle: *const (), n: usize) {
            for _ in 0..n {
                // SAFETY: one of the `n` counts the caller vouches for; the handle
                // stays valid until the last.
                unsafe { Arc::decrement_strong_count(handle.cast::<Inner>()) };
            }
        }
        if pool::owe(&client.pool, Arc::as_ptr(&client).cast(), give_back) {
            std::mem::forget(client);
        }
    }
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
    /// How many threads the pool may start in all before the next start fails as
    /// the system's would (see [`__thread_start_limit`](Self::__thread_start_limit)).
    thread_start_limit: Option<usize>,
    /// Where to serve a dashboard, and how.
    #[cfg(feature = "dashboard")]
    dashboard: Option<(String, crate::observers::dashboard::DashboardBuilder)>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("threads", &self.threads)
            .field("max_threads", &self.max_threads)
            .field("name", &self.name)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("observers", &self.observers.len())
            .finish_non_exhaustive()
    }
}

/// How many threads a client may start beyond its own while its tasks wait, unless
/// [`ClientBuilder::max_threads`] says otherwise.
const EXTRA_THREADS: usize = 1024;

impl ClientBuilder {
    /// Worker threads (default: one per core), 1 to [`Client::MAX_THREADS`]: `build`
    /// fails with [`ClientError::ZeroThreads`] or [`ClientError::TooManyThreads`]
    /// otherwise.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// The most threads the pool may have while its tasks wait (default: `threads` +
    /// 1024). A task that waits for a future hands its place to another thread, so
    /// that `threads` keep running (Dask's `secede`); see the [`Client`] docs. Values
    /// below `threads` mean `threads`, and values above [`Client::MAX_THREADS`] + 1024
    /// mean that. The excess allowed: when every thread is blocked (waiting for a
    /// future or in [`secede`](crate::secede), or its task's `par_iter` items wait for
    /// futures) and tasks are queued, one more starts (with a warning), since no thread
    /// might ever free up; so with many tasks blocked at once the pool may grow past
    /// the bound by up to one thread for each, as Dask's pool grows under `secede`.
    /// And a rayon thread whose awaited task stays queued while no thread of the
    /// client is idle has it run on a thread of its own, past the bound too, one at a
    /// time (the client cannot see whether its threads wait in rayon for that very
    /// thread; see the README).
    pub fn max_threads(mut self, max_threads: usize) -> Self {
        self.max_threads = Some(max_threads);
        self
    }

    /// For tests: past `limit` threads started in all, the pool's next thread start
    /// fails as when the system refuses one (out of processes or address space), so
    /// that what the pool does then can be tested. Not part of the API.
    #[doc(hidden)]
    pub fn __thread_start_limit(mut self, limit: usize) -> Self {
        self.thread_start_limit = Some(limit);
        self
    }

    /// The client's name, used for its threads' names: it may not contain a NUL byte
    /// (`build` fails with [`ClientError::InvalidName`]).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// How long dropping the last client waits for its running tasks to finish
    /// (default: 60 s). A task still running then keeps its thread: the drop returns,
    /// the thread is left detached, and it ends when the task returns (its result is
    /// still published to the task's future). Pending tasks are cancelled either way.
    /// A drop inside a task, or on a rayon thread, does not wait (see [`Client`]).
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

    /// Serves a live dashboard on `addr` while the client lives (Dask's
    /// `Client(dashboard_address=…)`): a [`Dashboard`](crate::Dashboard), which
    /// [`Client::dashboard`] gives (its [`addr`](crate::Dashboard::addr) and
    /// [`url`](crate::Dashboard::url)); it stops when the last handle of the client
    /// is dropped, after the pool's shutdown. `addr` must be a loopback address
    /// (`"127.0.0.1:8787"`; port 0 picks a free port), or `build` fails with
    /// [`ClientError::Dashboard`]; see [`dashboard_public`](Self::dashboard_public)
    /// for others. Like any dashboard it shows every task of the process, this
    /// client's and others', graphs computed outside it included.
    ///
    /// ```no_run
    /// use graph_runtime::Client;
    ///
    /// let client = Client::builder().dashboard("127.0.0.1:8787").build()?;
    /// println!("dashboard: {}", client.dashboard().unwrap().url());
    /// # Ok::<(), graph_runtime::ClientError>(())
    /// ```
    ///
    /// Needs the cargo feature `dashboard`.
    #[cfg(feature = "dashboard")]
    pub fn dashboard(self, addr: impl ToString) -> Self {
        self.dashboard_with(crate::observers::dashboard::Dashboard::builder(), addr)
    }

    /// Like [`dashboard`](Self::dashboard), made by `dashboard` (how many task runs
    /// it keeps, whether it binds beyond loopback):
    ///
    /// ```no_run
    /// use graph_runtime::{Client, Dashboard};
    ///
    /// let client = Client::builder()
    ///     .dashboard_with(Dashboard::builder().keep(200_000), "127.0.0.1:8787")
    ///     .build()?;
    /// # Ok::<(), graph_runtime::ClientError>(())
    /// ```
    ///
    /// Needs the cargo feature `dashboard`.
    #[cfg(feature = "dashboard")]
    pub fn dashboard_with(
        mut self,
        dashboard: crate::observers::dashboard::DashboardBuilder,
        addr: impl ToString,
    ) -> Self {
        self.dashboard = Some((addr.to_string(), dashboard));
        self
    }

    /// Like [`dashboard`](Self::dashboard), on any address (`"0.0.0.0:8787"`).
    ///
    /// **Warning**: whoever reaches the port reads the page, unauthenticated and
    /// unencrypted (task names, source paths, timings, host name); see
    /// [`Dashboard::serve_public`](crate::Dashboard::serve_public).
    #[cfg(feature = "dashboard")]
    pub fn dashboard_public(self, addr: impl ToString) -> Self {
        let dashboard = crate::observers::dashboard::Dashboard::builder().public(true);
        self.dashboard_with(dashboard, addr)
    }

    /// Starts the pool (and the dashboard, if asked for).
    pub fn build(self) -> Result<Client, ClientError> {
        // From now on a rayon worker may wait for a future (see `engine::sync::enter_pool`),
        // and a futures task may run under a graph task's nested run.
        crate::engine::sync::note_client();
        crate::engine::observe::set_futures_task_innermost(crate::futures::futures_task_innermost);
        crate::dynamic::set_await_reads(super::args::await_reads);
        let threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if threads == 0 {
            return Err(ClientError::ZeroThreads);
        }
        if threads > Client::MAX_THREADS {
            return Err(ClientError::TooManyThreads(threads));
        }
        let name = self.name.unwrap_or_else(|| "taskweave".to_owned());
        // Its threads are named after it: checked here, or spawning one would panic.
        if name.contains('\0') {
            return Err(ClientError::InvalidName(name));
        }
        let max_threads = self
            .max_threads
            .unwrap_or_else(|| threads.saturating_add(EXTRA_THREADS))
            .min(Client::MAX_THREADS + EXTRA_THREADS);
        #[cfg(feature = "dashboard")]
        let dashboard = match self.dashboard {
            None => None,
            Some((addr, dashboard)) => Some(
                dashboard
                    .serve(addr.as_str())
                    .map_err(|error| ClientError::Dashboard(Arc::new(error)))?,
            ),
        };
        let start_limit = self.thread_start_limit.unwrap_or(usize::MAX);
        let pool = Pool::start(name.clone(), threads, max_threads, start_limit)?;
        let live = Arc::new(LiveTasks::default());
        pool.prunes(live.clone());
        let owner = Arc::new(Owner {
            #[cfg(feature = "dashboard")]
            dashboard,
            inner: Arc::new(Inner {
                name,
                threads,
                pool,
                closed: AtomicBool::new(false),
                live,
                shutdown_timeout: self.shutdown_timeout.unwrap_or(SHUTDOWN_GRACE),
                owner: OnceLock::new(),
                observer: Observers::combine(self.observers),
                pure: Mutex::default(),
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
    /// The most worker threads a client starts ([`ClientBuilder::threads`]): past it,
    /// `build` fails at once with [`ClientError::TooManyThreads`]. Linux's default
    /// limit on a process's memory maps (`vm.max_map_count`, 65,530; two per thread)
    /// ends the process, in the standard library's start of a thread, at about 18,000
    /// threads, rather than refusing one with an error: a client stays well below,
    /// its waits' extra threads ([`ClientBuilder::max_threads`]) included.
    pub const MAX_THREADS: usize = 4096;

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

    /// Runs `f`, a wait that is not the library's (a channel's `recv`, a
    /// `std::thread`'s `join`, a lock), without holding a place of this client's
    /// pool meanwhile: [`secede`](crate::secede) that works in the items of a plain
    /// rayon `par_iter` inside one of the client's tasks too, where the free one
    /// cannot know the client (as [`get_client`](crate::get_client) cannot). There,
    /// on one of rayon's threads, the item counts as holding up one of the client's
    /// threads while `f` runs (the task's own thread waits for it in rayon's `join`),
    /// as an item asleep for a future does, so a replacement runs the client's queued
    /// tasks. In a task it is `secede(f)`: the task's thread gives its place over.
    /// Elsewhere (`main`, a `std::thread`) it only runs `f`.
    ///
    /// ```
    /// use graph_runtime::Client;
    /// use rayon::prelude::*;
    /// use std::sync::mpsc;
    ///
    /// let client = Client::builder().threads(1).build()?;
    /// let c = client.clone();
    /// let outer = client.submit(
    ///     move || {
    ///         (0..4u32)
    ///             .into_par_iter()
    ///             .map(|i| {
    ///                 // Fed by another task of the client, whose only thread this
    ///                 // task holds while it waits for its items.
    ///                 let (tx, rx) = mpsc::channel();
    ///                 let _feeding = c.submit(move || tx.send(i * 10).unwrap(), ());
    ///                 c.secede(|| rx.recv().unwrap())
    ///             })
    ///             .sum::<u32>()
    ///     },
    ///     (),
    /// );
    /// assert_eq!(outer.result()?, 60);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn secede<R, F>(&self, f: F) -> R
    where
        F: FnOnce() -> R,
    {
        // A closure that captures a large value runs in stack room for it in a debug
        // build (see `taken_into_room`): each frame it passed through by value kept a
        // copy, and one of 2 MiB overflowed an 8 MiB `main` where plain code calling it
        // runs. Each branch moves `f` first.
        if const { crate::engine::sync::taken_into_room::<F>() } {
            let mut f = Some(f);
            crate::engine::sync::with_room_taking(&mut f, |f| {
                pool::blocking_for(&self.owner.inner.pool, f)
            })
        } else {
            #[cfg(debug_assertions)]
            let f = f;
            pool::blocking_for(&self.owner.inner.pool, f)
        }
    }

    /// The dashboard the client serves, if built with
    /// [`ClientBuilder::dashboard`]: its [`url`](crate::Dashboard::url) to open.
    #[cfg(feature = "dashboard")]
    pub fn dashboard(&self) -> Option<&crate::observers::dashboard::Dashboard> {
        self.owner.dashboard.as_ref()
    }

    pub(super) fn inner(&self) -> &Arc<Inner> {
        &self.owner.inner
    }

    /// Runs `f(args)` on the pool; returns its future at once. `args` is a tuple whose
    /// items are plain values or futures (`Future<T>` or `&Future<T>`, for a `T` or an
    /// `Arc<T>` parameter): a future makes a dependency, not a wait. A future passed by
    /// value, when no other handle of it is left, gives its value to the task without a
    /// copy (a chain `x = client.submit(f, (x,))` moves its values along); a future
    /// still held elsewhere is cloned for a `T` parameter, shared for an `Arc<T>` one.
    ///
    /// Every submission is a task of its own, as Dask's `submit(…, pure=False)`:
    /// Dask's default, `pure=True`, makes equal calls one task, as
    /// [`TaskBuilder::pure`] does (`client.task(f).pure().submit(args)`).
    #[track_caller]
    pub fn submit<F, V, A>(&self, f: F, args: A) -> Future<F::Output>
    where
        F: TaskFn<V>,
        A: SubmitArgs<V>, // a task runs after `submit` returns: pass owned values (a clone, an `Arc`) or futures, not borrows
    {
        // Large arguments go on in stack room for them: each frame they passed through
        // by value kept a copy in a debug build, where a 2 MiB one overflowed an 8 MiB
        // `main` where plain code holding it runs. They are read into the room from
        // where the caller passed them (see `with_room_reading`): an `Option` of them
        // here was a copy more. So does a function that captures a large value, with
        // the arguments (in an optimised build too: its job's frames kept two copies
        // of it), from an `Option` made first. No branch moves `args` but the last,
        // for small ones: a function that moves a parameter it also borrows copies it.
        if const { crate::engine::sync::is_large::<A>() } {
            let mut f = Some(f);
            let location = Location::caller();
            // SAFETY: `args` is not used after this call but to be forgotten.
            let submitted = unsafe {
                crate::engine::sync::with_room_reading::<(F, A), _, _>(&args, |args| {
                    let f = f.take().expect("with_room runs its closure once");
                    self.submit_at(f, args, location)
                })
            };
            if const { core::mem::needs_drop::<A>() } {
                core::mem::forget(args);
            }
            submitted.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        } else if const { crate::engine::sync::is_large::<F>() } {
            // An `Option` each: one of a tuple of them was two copies more.
            let mut f = Some(f);
            let mut args = Some(args);
            let location = Location::caller();
            crate::engine::sync::with_room_for_run::<(F, A), _>(|| {
                let (Some(f), Some(args)) = (f.take(), args.take()) else {
                    unreachable!("with_room runs its closure once")
                };
                self.submit_at(f, args, location)
            })
        } else {
            #[cfg(debug_assertions)]
            let f = f;
            let mut args = Some(args);
            let location = Location::caller();
            crate::engine::sync::with_room_taking(&mut args, |args| {
                self.submit_at(f, args, location)
            })
        }
    }

    /// [`submit`](Self::submit) at `location`.
    #[inline(always)]
    fn submit_at<F, V, A>(
        &self,
        f: F,
        args: A,
        location: &'static Location<'static>,
    ) -> Future<F::Output>
    where
        F: TaskFn<V>,
        A: SubmitArgs<V>,
    {
        let options = JobOptions {
            retries: 0,
            priority: 0,
            location,
            kind: "future",
        };
        // The function is the job's own: no builder, no shared count.
        submit_job(
            self.inner(),
            Own(f),
            default_name::<F>(),
            options,
            args,
            &mut Alone,
        )
    }

    /// A task with options (name, retries) before it is submitted.
    #[track_caller]
    pub fn task<F>(&self, f: F) -> TaskBuilder<F> {
        // A function that captures a large value is moved into its `Arc` inside stack
        // room for it in a debug build, as `delayed(f)`'s is (see `taken_into_room`):
        // each frame it passed through kept a copy, and one of 2 MiB overflowed an
        // 8 MiB `main` where plain code keeping it runs. Each branch moves `f` first.
        if const { crate::engine::sync::taken_into_room::<F>() } {
            let mut f = Some(f);
            let location = Location::caller();
            crate::engine::sync::with_room_taking(&mut f, |f| self.task_at(f, location))
        } else {
            #[cfg(debug_assertions)]
            let f = f;
            self.task_at(f, Location::caller())
        }
    }

    /// [`task`](Self::task) at `location`.
    #[inline(always)]
    fn task_at<F>(&self, f: F, location: &'static Location<'static>) -> TaskBuilder<F> {
        TaskBuilder {
            client: self.clone(),
            f: Arc::new(f),
            name: default_name::<F>(),
            retries: 0,
            priority: 0,
            location,
            kind: "future",
            instance: 0,
            _purity: std::marker::PhantomData,
        }
    }

    /// One future per pair of items: `f(a, b)` for each, the two sequences zipped
    /// (Dask's `client.map(f, a, b)`, stopping at the shorter, as Python's `map`). For
    /// more, zip them into tuples and `map` a function of one tuple, or use
    /// [`TaskBuilder::map`] with `submit`'s argument tuples.
    #[track_caller]
    #[must_use = "dropping the last handle of a future cancels its task: keep them, wait for them, or pass them to `client.fire_and_forget`"]
    pub fn map2<F, V, A, B>(&self, f: F, a: A, b: B) -> Vec<Future<F::Output>>
    where
        F: TaskFn<V>,
        A: IntoIterator,
        B: IntoIterator,
        (A::Item, B::Item): SubmitArgs<V>,
    {
        // A function that captures a large value: see `map`.
        if const { crate::engine::sync::taken_into_room::<F>() } {
            let mut f = Some(f);
            let location = Location::caller();
            crate::engine::sync::with_room_taking(&mut f, |f| {
                self.task_at(f, location).submit_all(a.into_iter().zip(b))
            })
        } else {
            #[cfg(debug_assertions)]
            let f = f;
            self.task(f).submit_all(a.into_iter().zip(b))
        }
    }

    /// One future per item: `f(item)` for each (Dask's `client.map`, with
    /// `pure=False`: equal items run each; `client.task(f).pure().map(items)` merges
    /// them, see [`TaskBuilder::pure`]).
    #[track_caller]
    #[must_use = "dropping the last handle of a future cancels its task: keep them, wait for them, or pass them to `client.fire_and_forget`"]
    pub fn map<F, I, T, R>(&self, f: F, items: I) -> Vec<Future<R>>
    where
        F: Fn(T) -> R + Send + Sync + 'static, // one item per call: for two parameters, `client.map2(f, xs, ys)`
        I: IntoIterator,
        I::Item: IntoFutArg<T>,
        T: 'static,
        R: Send + Sync + 'static,
        <I::Item as IntoFutArg<T>>::Arg: FutArg<Value = T>,
    {
        // Large items given by value (an array of them) are taken into stack room for
        // them (see `with_room_taking`), made into tasks there (see `submit_each`); so is
        // a function that captures a large value, in a debug build (see `task`), with
        // them: passed on to `task` by value, it was one copy more in this frame.
        if const { crate::engine::sync::is_large::<I>() || crate::engine::sync::taken_into_room::<F>() }
        {
            // An `Option` each: one of a tuple of them was two copies more.
            let mut f = Some(f);
            let mut items = Some(items);
            let location = Location::caller();
            return crate::engine::sync::with_room_for_run::<(F, I), _>(|| {
                let (Some(f), Some(items)) = (f.take(), items.take()) else {
                    unreachable!("with_room runs its closure once")
                };
                self.task_at(f, location)
                    .submit_all(items.into_iter().map(|item| (item,)))
            });
        }
        #[cfg(debug_assertions)]
        let f = f;
        #[cfg(debug_assertions)]
        let items = items;
        self.task(f)
            .submit_all(items.into_iter().map(|item| (item,)))
    }

    /// Waits for every future and returns their results, in order; or, as soon as one
    /// of them has failed or been cancelled, that one's error (of those that have by
    /// then, the first in the list), without waiting for the others (Dask's
    /// `client.gather(futures)`, `errors="raise"`; see [`gather_skip`](Self::gather_skip)
    /// for `errors="skip"`). An error of the wait itself (a wait for the waiting task's
    /// own future, a cycle of waits) is returned as [`Future::result`] returns it.
    ///
    /// The list is flat, of one result type: Dask's `gather` of a nested structure
    /// (`client.gather({"x": [a, (a, 5)], "y": 3})`) returns the same shape, its plain
    /// values as they are; here gather each part (`parts.iter().map(|p|
    /// client.gather(p)).collect::<Result<Vec<_>, _>>()`). A future given twice is
    /// read twice, as in Dask (`gather([a, a]) == [2, 2]`).
    pub fn gather<T: Clone>(&self, futures: &[Future<T>]) -> Result<Vec<T>, FutureError> {
        // Room for the values' copies on the caller's stack (see `with_room_taking`), and a plain
        // loop: a debug build's `collect` of `Result`s keeps a copy of each value in
        // each of its dozen frames, which overflowed even the room.
        crate::engine::sync::with_room_for::<T, _>(|| {
            let mut values = Vec::with_capacity(futures.len());
            let mut gathering = super::waiting::Gathering::default();
            for (at, future) in futures.iter().enumerate() {
                if !future.done() {
                    super::waiting::wait_in_gather(&futures[at..], &mut gathering)?;
                }
                values.push(future.result()?);
            }
            Ok(values)
        })
    }

    /// Waits for every future and returns the results of those that finished, in
    /// order, leaving out those that ended in error or were cancelled (Dask's
    /// `client.gather(futures, errors="skip")`, which skips the same two). An error
    /// of the wait itself is no future's end, and is returned as
    /// [`gather`](Self::gather) returns it: a wait for the waiting task's own future,
    /// or a cycle of waits ([`FutureError::WaitsForItself`],
    /// [`FutureError::WaitCycle`]). The list is flat: Dask's `gather` of a nested
    /// structure with `errors="skip"` keeps each skipped place as `None`
    /// (`{"x": [2, None]}`); here gather each part, or map the futures to
    /// `f.result().ok()`.
    ///
    /// ```
    /// use graph_runtime::Client;
    ///
    /// let client = Client::builder().threads(2).build()?;
    /// let good = client.submit(|| 1, ());
    /// let bad = client.submit(|| -> i32 { panic!("boom") }, ());
    /// assert_eq!(client.gather_skip(&[good.clone(), bad, good])?, [1, 1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn gather_skip<T: Clone>(&self, futures: &[Future<T>]) -> Result<Vec<T>, FutureError> {
        // Room for the values' copies on the caller's stack, as `gather` has.
        crate::engine::sync::with_room_for::<T, _>(|| {
            let mut values = Vec::with_capacity(futures.len());
            for future in futures {
                match future.result() {
                    Ok(value) => values.push(value),
                    Err(FutureError::Task(_) | FutureError::Cancelled { .. }) => {}
                    Err(error) => return Err(error),
                }
            }
            Ok(values)
        })
    }

    /// A finished future holding `value`: shared by every task that reads it, never
    /// copied (take it as `Arc<T>`), like Dask's `scatter` of one object. A
    /// collection is one future of the whole: for one future per item, as Dask's
    /// `client.scatter([a, b, c])` gives, see [`scatter_each`](Self::scatter_each).
    /// Each call is a future of its own, equal values too (Dask's `hash=False`; for
    /// its default, `hash=True`, see [`scatter_pure`](Self::scatter_pure)).
    #[track_caller]
    pub fn scatter<T: Send + Sync + 'static>(&self, value: T) -> Future<T> {
        // The value's `Option` first: moved after a call, it was copied to a temporary
        // first (see `with_room_taking`).
        let mut value = Some(value);
        let location = Location::caller();
        crate::engine::sync::with_room_taking(&mut value, |value| scattered(value, location))
    }

    /// One finished future per item, in order (Dask's `client.scatter([a, b, c])`, a
    /// list of futures): to [`map`](Self::map) a task over the items, each task
    /// depending on its own. Each is shared by the tasks that read it, as
    /// [`scatter`](Self::scatter)'s. Every item is a future of its own, with its own
    /// key: equal items are not merged into one key, as Dask's default `hash=True`
    /// merges them (its `hash=False`; [`scatter_each_pure`](Self::scatter_each_pure)
    /// is `hash=True`). For a map (Dask's `scatter({"a": 1})`, a dict of
    /// futures), scatter its values: `map.into_iter().map(|(k, v)| (k,
    /// client.scatter(v))).collect()`.
    ///
    /// ```
    /// use graph_runtime::Client;
    ///
    /// let client = Client::builder().threads(2).build()?;
    /// let parts = client.scatter_each(vec![vec![1, 2], vec![3], vec![4, 5, 6]]);
    /// let sums = client.map(|part: Vec<i32>| part.iter().sum::<i32>(), parts);
    /// assert_eq!(client.gather(&sums)?, [3, 3, 15]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn scatter_each<I>(&self, items: I) -> Vec<Future<I::Item>>
    where
        I: IntoIterator,
        I::Item: Send + Sync + 'static,
    {
        let location = Location::caller();
        in_room_each(items, |item| scattered(item, location))
    }

    /// [`scatter`](Self::scatter), keyed by the value (Dask's default, `hash=True`):
    /// a value equal to one scattered this way whose future still has a handle gives a
    /// handle of that future (the same [`key`](Future::key)), and is dropped; the
    /// value is kept once, however often it is scattered. Equal values are those of
    /// one type with equal keys (see [`PureKey`](crate::PureKey): `Hash` values by
    /// their hash, floats by their bits), as [pure](crate::TaskBuilder::pure) tasks'
    /// arguments are; a type with no key does not compile. The values themselves are
    /// not compared: a `Hash` that leaves out part of a value (legal for `Hash`) makes
    /// values that differ only there one future, holding the first. A future whose
    /// last handle went, or that was cancelled (released), is not found: the value is
    /// scattered anew, as Dask scatters a released key again.
    /// [`scatter`](Self::scatter) is Dask's `hash=False`.
    ///
    /// ```
    /// use graph_runtime::Client;
    ///
    /// let client = Client::builder().threads(2).build()?;
    /// let a = client.scatter_pure(vec![1, 2, 3]);
    /// let b = client.scatter_pure(vec![1, 2, 3]);
    /// assert_eq!(a.key(), b.key());
    /// assert_ne!(a.key(), client.scatter_pure(vec![4]).key());
    /// assert_ne!(a.key(), client.scatter(vec![1, 2, 3]).key());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Keying runs the value's `Hash` and takes a lock of the client's; a plain
    /// `scatter` does neither. The value stays in place for the equal scatters that
    /// may find it: a task holding its last handle clones it (or shares it, as
    /// `Arc<T>`) rather than moving it out, as for a pure task's result.
    #[track_caller]
    pub fn scatter_pure<T, M>(&self, value: T) -> Future<T>
    where
        T: crate::PureKey<M> + Send + Sync + 'static,
    {
        // The value's `Option` first: see `scatter`.
        let mut value = Some(value);
        let location = Location::caller();
        crate::engine::sync::with_room_taking(&mut value, |value| {
            scattered_pure(self.inner(), value, location)
        })
    }

    /// [`scatter_each`](Self::scatter_each), each item keyed by its value as
    /// [`scatter_pure`](Self::scatter_pure) keys it (Dask's `client.scatter([a, b,
    /// a])`, whose default `hash=True` gives the two `a`s one key).
    ///
    /// ```
    /// use graph_runtime::Client;
    ///
    /// let client = Client::builder().threads(2).build()?;
    /// let parts = client.scatter_each_pure(["a", "b", "a"]);
    /// assert_eq!(parts[0], parts[2]);
    /// assert_ne!(parts[0], parts[1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn scatter_each_pure<I, M>(&self, items: I) -> Vec<Future<I::Item>>
    where
        I: IntoIterator,
        I::Item: crate::PureKey<M> + Send + Sync + 'static,
    {
        let location = Location::caller();
        in_room_each(items, |item| scattered_pure(self.inner(), item, location))
    }

    /// Computes a dynamic graph as a task of this client; returns its future at once:
    /// one value (`client.compute(&total)`, or `client.compute(total)` as Dask writes
    /// it) or several in one run that share their
    /// nodes (`client.compute((&a, &b))`, any [`Outputs`](crate::Outputs); shared nodes
    /// run once), as Dask's `client.compute` (see [`ToCompute`]). Several values are
    /// one future of all of them (`Future<(A, B)>`), where Dask's
    /// `client.compute([a, b])` returns a list of futures, one per value: to wait for
    /// each on its own (`as_completed`), compute each (`client.compute(&a)`), after
    /// [`persist`](Self::persist)ing what they share so that it runs once. The graph is laid
    /// out now; its tasks run on rayon's pool, as [`Delayed::compute`](crate::Delayed::compute)'s do, while the
    /// client's thread waits for them without holding its place. Every task of the
    /// graph finds this client with [`get_client`](crate::get_client), whichever
    /// thread runs it. A task failing inside the graph fails the future with that
    /// task's error, naming it and its own call site (as
    /// [`Delayed::try_compute`](crate::Delayed::try_compute)'s error does), and nothing
    /// more is printed than its panic. A panic of the client's observer in a graph
    /// hook fails it too, with an error that names the observer and the hook
    /// ("the observer panicked in `graph_started` while computing `sum` at …: …"),
    /// not as the output task's panic. Cancelling the future, dropping its last handle,
    /// or the client's shutdown (its last handle dropped) stops the graph: no task of
    /// it starts after that, running ones see [`cancelled`](crate::cancelled), and the
    /// future ends cancelled.
    ///
    /// The futures a graph reads (`delayed(f).call(&future)`, of this client or
    /// another) are dependencies of the compute, as [`submit`](Self::submit)'s future
    /// arguments are (Dask's `client.compute` makes them dependencies of the graph's
    /// tasks): it stays [`Pending`](crate::Status::Pending), on no thread, until they
    /// have ended, so a chain of computes each reading the one before
    /// (`f = client.compute(&g(&f))`) runs one link after another, however long. One
    /// that failed or was cancelled does not fail the compute in its stead: the graph
    /// runs, and its task that reads the future fails, naming itself and the future
    /// ("task `g` at … failed: its argument, future `…`, has no result: …"), with the
    /// first failure of a chain of such computes as the cause.
    #[track_caller]
    pub fn compute<O>(&self, outputs: O) -> Future<O::Values>
    where
        O: ToCompute,
        O::Values: Send + Sync + 'static,
    {
        let name = crate::dynamic::outputs_name(&outputs);
        let prepared = crate::dynamic::prepare_any(outputs);
        // The futures the graph reads: the task's dependencies, so that it starts once
        // they have ended and none of its graph's tasks waits for one.
        let awaited = super::args::awaited_tasks(prepared.awaited());
        let prepared = Mutex::new(prepared);
        // The client's observers watch the graph too.
        let observer = self.inner().observer.clone();
        let run = move || {
            let mut options = crate::engine::options::RunOptions::new();
            if let Some(observer) = &observer {
                options = options.observer(observer.clone());
            }
            // Stopped by the future's cancel, or by the client's shutdown: a graph
            // task must see `cancelled()` as the client's own tasks do, or a long one
            // that polls it keeps the shutdown waiting.
            let task = current_task();
            let client = current_client();
            let stopped = move || {
                task.as_ref()
                    .is_some_and(|t| t.core().cancel.load(Ordering::Acquire))
                    || client
                        .as_ref()
                        .is_some_and(|c| c.closed.load(Ordering::Acquire))
            };
            let stopped = Arc::new(stopped);
            let stop = stopped.clone();
            options = options.stop_when(move || stop());
            let mut prepared = prepared.lock().recover();
            let ran = pool::blocking(|| prepared.try_compute_with(options));
            match ran {
                Ok(values) => values,
                // Stopped by the future's own cancel, which has ended it, or by the
                // shutdown: no panic message for a cancel.
                Err(_) if stopped() => {
                    std::panic::resume_unwind(Box::new(super::args::TaskCancelled))
                }
                // The observer's panic (the run says which hook) names the compute, as
                // its future's error: the observer is the client's, not the graph's.
                Err(error) if error.observer_hook().is_some() => {
                    std::panic::resume_unwind(Box::new(GraphFailed(observer_panicked(error))))
                }
                // The graph's task that failed is the future's error, as it is
                // `try_compute`'s: carried out of the task by an unwinding that no
                // panic hook reports (see `GraphFailed`), not a panic of its own.
                Err(error) => std::panic::resume_unwind(Box::new(GraphFailed(error))),
            }
        };
        let options = JobOptions {
            retries: 0,
            priority: 0,
            location: Location::caller(),
            kind: "compute",
        };
        let name = TaskName::Shared(Arc::from(name));
        super::job::submit_after(self.inner(), run, name, options, awaited)
    }

    /// Computes dynamic graphs now and keeps their results (Dask's `client.persist`):
    /// one `&Delayed`, a tuple of them or a slice, in one run (what they share runs
    /// once); later graphs that use the returned values read them instead of running
    /// them again. Its tasks run on rayon's pool, as [`Delayed::persist`](crate::Delayed::persist)'s do, and find
    /// this client with [`get_client`](crate::get_client); called from one of this
    /// client's tasks, the waiting thread hands its place over meanwhile. Called
    /// inside a futures task (of any client), its tasks' waits for futures are that
    /// task's, which waits for them: one that could never end fails, as it does under
    /// [`Delayed::persist`](crate::Delayed::persist).
    #[track_caller]
    pub fn persist<P: crate::dynamic::Persist>(&self, outputs: P) -> P::Persisted {
        match self.try_persist(outputs) {
            Ok(held) => held,
            Err(error) => error.resume(),
        }
    }

    /// [`persist`](Self::persist) that returns a task's failure as a [`TaskError`](crate::TaskError)
    /// (naming the task and its call site) rather than panicking, as Dask's
    /// `client.persist` raises the task's exception for the caller to catch; nothing
    /// is held then, and the graphs may be persisted or computed again.
    pub fn try_persist<P: crate::dynamic::Persist>(
        &self,
        outputs: P,
    ) -> Result<P::Persisted, crate::engine::error::TaskError> {
        // The run belongs to this client, and, called inside a futures task (of any
        // client) or a task of its graph, to that task too, which waits for it: its
        // graph tasks' waits are that task's (see `blocked`). Owned by this client
        // alone, a wait of one for the calling task's own future hung for ever.
        let mut options = crate::engine::options::RunOptions::new();
        options.client = Some(super::job::run_owner_for(self.inner()));
        pool::blocking(|| crate::dynamic::persist_with(options, outputs))
    }

    /// Cancels every future of `futures` (Dask's `client.cancel(futures)`), and every
    /// dependent of each, finished ones included (released: their readers get
    /// `Cancelled`, their values are freed once no reader holds them); see
    /// [`Future::cancel`]. A panic of one cancel (a done callback's, a released
    /// value's `Drop`) comes out of this call once every future has been cancelled.
    pub fn cancel<T>(&self, futures: &[Future<T>]) {
        // Each one cancelled all the same: a panic stopping the loop left the futures
        // after it uncancelled, and they ran.
        // And every one cancelled before any callback runs: one may wait for another.
        super::state::as_one_telling(|| {
            let mut first_panic = crate::engine::error::FirstPanic::default();
            for future in futures {
                first_panic.catch(|| future.cancel());
            }
            first_panic.resume();
        });
    }

    /// Keeps each task of `futures` running after its handles are dropped (Dask's
    /// `fire_and_forget`), and with it the tasks it needs, whose handles may go too.
    /// Takes one future or several, as Dask's takes a future or a collection (see
    /// [`Forget`]): `client.fire_and_forget(f)`, `client.fire_and_forget(vec![a, b])`,
    /// `client.fire_and_forget((a, b))` for futures of different result types, or
    /// `client.fire_and_forget(&futures[..])` to keep the handles.
    pub fn fire_and_forget(&self, futures: impl Forget) {
        // Each one marked before any handle given here is dropped (when `futures`
        // goes, after this): a handle dropped first would cancel its task.
        futures.each_future(&mut |future| {
            future
                .state()
                .core()
                .forgotten
                .store(true, Ordering::Release);
        });
    }
}

/// What [`Client::fire_and_forget`] takes: one future or several, as Dask's
/// `fire_and_forget` takes a future or any collection of futures. A [`Future`], an
/// [`ErasedFuture`](super::ErasedFuture) or a `&dyn AnyFuture` (anything [`wait`]
/// takes, see [`Waitable`]); a `Vec`, an array or a slice of one of those; a reference
/// to any of these (the handles stay the caller's, and dropping them later no longer
/// cancels the tasks); and tuples of up to four of any of these, to mix result types.
///
/// [`wait`]: super::wait
pub trait Forget {
    /// Calls `f` with each future's state.
    #[doc(hidden)]
    fn each_future(&self, f: &mut dyn FnMut(&FutureRef));
}

impl<T: Send + Sync + 'static> Forget for Future<T> {
    fn each_future(&self, f: &mut dyn FnMut(&FutureRef)) {
        f(&self.waited());
    }
}

impl Forget for super::ErasedFuture {
    fn each_future(&self, f: &mut dyn FnMut(&FutureRef)) {
        f(&self.waited());
    }
}

impl Forget for dyn AnyFuture + '_ {
    fn each_future(&self, f: &mut dyn FnMut(&FutureRef)) {
        f(&self.state_ref());
    }
}

impl<W: Waitable> Forget for [W] {
    fn each_future(&self, f: &mut dyn FnMut(&FutureRef)) {
        for future in self {
            f(&future.waited());
        }
    }
}

impl<W: Waitable> Forget for Vec<W> {
    fn each_future(&self, f: &mut dyn FnMut(&FutureRef)) {
        self.as_slice().each_future(f);
    }
}

impl<W: Waitable, const N: usize> Forget for [W; N] {
    fn each_future(&self, f: &mut dyn FnMut(&FutureRef)) {
        self.as_slice().each_future(f);
    }
}

impl<F: Forget + ?Sized> Forget for &F {
    fn each_future(&self, f: &mut dyn FnMut(&FutureRef)) {
        (**self).each_future(f);
    }
}

/// `Forget` for tuples of `Forget`s.
macro_rules! forget_tuples {
    ($(($($name:ident),+))+) => {$(
        impl<$($name: Forget),+> Forget for ($($name,)+) {
            fn each_future(&self, f: &mut dyn FnMut(&FutureRef)) {
                #[allow(non_snake_case)]
                let ($($name,)+) = self;
                $($name.each_future(f);)+
            }
        }
    )+};
}

forget_tuples! {
    (A)
    (A, B)
    (A, B, C)
    (A, B, C, D)
}

/// `f` of each item, collected, with stack room for copies of an item (see
/// [`with_room_taking`](crate::engine::sync::with_room_taking)): the items are made and handed to `f` inside the room, by a plain
/// loop (see `gather`).
fn in_room_each<I: IntoIterator, R>(items: I, mut f: impl FnMut(I::Item) -> R) -> Vec<R> {
    let mut items = Some(items);
    crate::engine::sync::with_room_for_run::<I::Item, _>(|| {
        let items = items
            .take()
            .expect("with_room runs its closure once")
            .into_iter();
        let mut out = Vec::with_capacity(items.size_hint().0);
        for item in items {
            out.push(f(item));
        }
        out
    })
}

/// A finished future holding `value`, scattered at `location`.
fn scattered<T: Send + Sync + 'static>(
    value: T,
    location: &'static Location<'static>,
) -> Future<T> {
    let state = Arc::new(State::new(TaskName::Static("scatter"), location));
    state.finish(value);
    Future::from_task(state)
}

/// A finished future holding `value`, keyed by it in `client`'s pure tasks (see
/// [`Client::scatter_pure`]): the live future of an equal value, if there is one.
fn scattered_pure<T, M>(client: &Inner, value: T, location: &'static Location<'static>) -> Future<T>
where
    T: crate::PureKey<M> + Send + Sync + 'static,
{
    // Keyed as a pure task is: the identity of what makes it (the scattered state of
    // its type, never a task's function) and the value's key. Hashing runs the
    // value's `Hash`, the user's code: before any lock is taken.
    let key = crate::dynamic::pure_key(
        crate::dynamic::fn_identity::<State<T>>(0),
        &[&|h: &mut dyn std::hash::Hasher| value.pure_key(h)],
    );
    // The value of a future found is dropped on return, outside the lock.
    if let Some(live) = super::job::live_pure::<State<T>, T>(client, key, None) {
        return live;
    }
    let state = Arc::new(State::new(TaskName::Static("scatter"), location));
    state.finish(value);
    // An equal scatter made its future meanwhile: this one goes (its value dropped on
    // return, outside the lock).
    super::job::register_pure::<State<T>, T>(client, key, &state)
        .unwrap_or_else(|| Future::from_counted(state))
}

/// The error of `Client::compute`'s task whose graph's observer panicked (`error`,
/// the run's), naming the compute's task (found through `current_task`, as the one
/// running on this thread) rather than the graph's node.
#[cold]
fn observer_panicked(error: crate::engine::error::TaskError) -> crate::engine::error::TaskError {
    match current_task() {
        Some(task) => {
            let core = task.core();
            error.renamed(&core.name, core.call_site())
        }
        None => error,
    }
}

/// A graph computed by [`Client::compute`] failed: the error its task carries out
/// (with `resume_unwind`, which prints nothing), to be its future's error as it is.
pub(super) struct GraphFailed(pub(super) crate::engine::error::TaskError);

impl Inner {
    /// Queues a ready job, or cancels it if the client is shutting down. The first job
    /// a finishing task makes ready runs next on the same thread instead (see
    /// [`run_jobs`](super::job::run_jobs)).
    pub(super) fn spawn(&self, job: Arc<dyn Runnable>) {
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

    /// Queues ready jobs of the default priority submitted together (a `map`'s, see
    /// `job::Submitted`) as one entry of the pool's queue, or cancels them if the client is
    /// shutting down. Leaves `jobs` empty.
    pub(super) fn spawn_batch(&self, jobs: &mut Vec<Arc<dyn Runnable>>) {
        if self.closed.load(Ordering::Acquire) {
            for job in jobs.drain(..) {
                job.cancel();
            }
            return;
        }
        self.pool.push_batch(jobs);
    }

    /// Records a live task for the shutdown to cancel (see [`LiveTasks::register`]).
    pub(super) fn register(&self, task: Weak<dyn Cancel>) {
        self.live.register(task);
    }
}

/// A client's tasks not yet ended, for cancelling at shutdown: one list per shard of
/// submitting threads, so that no lock is shared by the whole client on the submit
/// path (a thread's own shard is uncontended but for shutdown and pruning).
#[derive(Default)]
pub(crate) struct LiveTasks {
    shards: [Shard; SHARDS],
    /// Finished tasks with long lists of dependents, pruned with the shards (see
    /// [`watch`](Self::watch)).
    watched: Mutex<Vec<Weak<dyn HasCore>>>,
    /// Held by the worker that prunes (see [`prune_if_due`](Self::prune_if_due)).
    pruning: Mutex<()>,
}

impl LiveTasks {
    /// Records a live task, in the calling thread's shard: one that waits for
    /// dependencies. A task with none is ready at once, so it is in the pool's queue
    /// (which the shutdown empties), running, or ended: it needs no entry, and a `map`
    /// takes no lock per task and pins no ended task's memory.
    ///
    /// An entry is weak, but a weak handle keeps its allocation (the whole job) until
    /// it is dropped: the entries of freed tasks are pruned once the shard has doubled
    /// since the last pruning (and has [`PRUNE_FROM`] entries), so that pruning costs
    /// a constant per task, amortised, and a shard pins at most as many freed tasks as
    /// it had live ones then (or [`PRUNE_FROM`]); and when the pool runs out of work
    /// once [`IDLE_PRUNE_AFTER`] tasks with entries have been freed (see
    /// [`prune_if_due`](Self::prune_if_due)).
    fn register(&self, task: Weak<dyn Cancel>) {
        let mut live = self.shards[shard_of_thread()].0.lock().recover();
        if live.tasks.len() >= live.prune_at {
            live.prune();
        }
        live.tasks.push(task);
    }

    /// A task that has an entry was freed (its last handle and its job's are gone):
    /// counted in the calling thread's shard, which is mostly its own cache line. True
    /// each [`IDLE_PRUNE_AFTER`] in a shard: the caller then wakes a sleeping worker
    /// to prune (see [`Pool::nudge`]), since tasks freed after every worker has gone to
    /// sleep (their futures dropped once gathered) find none awake to.
    pub(super) fn freed(&self) -> bool {
        let shard = &self.shards[shard_of_thread()].1;
        (shard.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(IDLE_PRUNE_AFTER)
    }

    /// Prunes every shard of its freed tasks' entries, once [`IDLE_PRUNE_AFTER`] tasks
    /// with entries have been freed since the last time; called by a worker of the
    /// client's pool that has run out of work. A burst of tasks that wait for others
    /// (a fan-in of a million) would otherwise pin the memory of every one of them
    /// after its end, about 460 bytes each, until as many were submitted again: a shard
    /// prunes itself only as it grows. Costs a load per shard when nothing is due;
    /// when something is, a walk of every entry, on a worker that has nothing else to
    /// do: with many tasks live meanwhile (a million waiting for one future), a walk
    /// of them all per 1,024 tasks freed, with the shards' and watched tasks' locks
    /// held that long (a submission into the same shard waits for it).
    pub(super) fn prune_if_due(&self) {
        loop {
            let freed = self.shards.iter().fold(0usize, |freed, shard| {
                freed.saturating_add(shard.1.load(Ordering::Relaxed))
            });
            if freed < IDLE_PRUNE_AFTER {
                return;
            }
            // One worker prunes at a time; the others go to sleep, and the one that
            // prunes looks again once it has let go of the lock: a worker woken for
            // tasks freed meanwhile may have found it held.
            let Ok(pruning) = self.pruning.try_lock() else {
                return;
            };
            self.prune();
            drop(pruning);
        }
    }

    /// Prunes the shards, then the watched lists of finished dependents.
    fn prune(&self) {
        for shard in &self.shards {
            // Before the shard's pruning: a task counted after it was freed before the
            // pruning, or is counted for the next one.
            shard.1.store(0, Ordering::Relaxed);
            shard.0.lock().recover().prune();
        }
        // The freed tasks' entries in finished tasks' lists of dependents too. The
        // list is taken out of its lock: a task found is held, and may be let go, here.
        let mut watched = std::mem::take(&mut *self.watched.lock().recover());
        // A task is watched again each time its list grows back to that length: once
        // here.
        watched.sort_unstable_by_key(|task| task.as_ptr().cast::<()>() as usize);
        watched.dedup_by(|a, b| Weak::ptr_eq(a, b));
        let mut kept = Vec::with_capacity(watched.len());
        for weak in watched {
            let Some(task) = weak.upgrade() else {
                continue;
            };
            if task.core().prune_finished() {
                kept.push(weak);
            }
            // The last handle of a task, and with it its value, whose `Drop` is the
            // user's, may go here: a panic there goes no further than this worker's
            // housekeeping.
            crate::engine::error::discard_panic(move || drop(task));
        }
        self.watched.lock().recover().append(&mut kept);
    }

    /// Has a finished task's list of dependents, grown long (see `WATCH_FROM` in
    /// `state.rs`), pruned with the live tasks, of the dependents freed since.
    pub(crate) fn watch(&self, task: Weak<dyn HasCore>) {
        self.watched.lock().recover().push(task);
    }

    /// Takes every entry out (the client's shutdown).
    fn take_all(&self) -> Vec<Weak<dyn Cancel>> {
        self.shards
            .iter()
            .flat_map(|shard| std::mem::take(&mut shard.0.lock().recover().tasks))
            .collect()
    }
}

/// Tasks with entries in the live tasks freed, after which these are pruned when the
/// pool has no work (see [`LiveTasks::prune_if_due`]): fewer pin under half a MiB.
const IDLE_PRUNE_AFTER: usize = 1024;

/// Shards of a client's list of live tasks: a power of two, more than the threads
/// that usually submit at once.
const SHARDS: usize = 32;

/// The fewest entries a shard of live tasks is pruned at (see [`Inner::register`]).
const PRUNE_FROM: usize = 64;

/// One shard of the live tasks, with the count of tasks freed that had entries (see
/// [`LiveTasks::freed`]), alone on its cache lines.
#[derive(Default)]
#[repr(align(128))]
pub(super) struct Shard(Mutex<Live>, std::sync::atomic::AtomicUsize);

/// The live tasks of one shard.
pub(super) struct Live {
    tasks: Vec<Weak<dyn Cancel>>,
    /// The length at which `tasks` is next pruned of freed tasks.
    prune_at: usize,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            tasks: Vec::new(),
            prune_at: PRUNE_FROM,
        }
    }
}

impl Live {
    /// Drops the entries of freed tasks (and what they pin), and sets the next length
    /// to prune at.
    fn prune(&mut self) {
        self.tasks.retain(|t| t.strong_count() > 0);
        self.prune_at = (2 * self.tasks.len()).max(PRUNE_FROM);
        if self.tasks.len() < self.tasks.capacity() / 4 {
            self.tasks.shrink_to(self.prune_at);
        }
    }
}

/// The calling thread's shard: threads are numbered as they first submit.
fn shard_of_thread() -> usize {
    use std::cell::Cell;
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    SHARD
        .try_with(|shard| {
            if shard.get() == usize::MAX {
                shard.set(NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS);
            }
            shard.get()
        })
        .unwrap_or(0)
}

impl Drop for Owner {
    fn drop(&mut self) {
        let inner = &self.inner;
        inner.closed.store(true, Ordering::Release);
        let live = inner.live.take_all();
        // Cancelling drops the tasks' arguments, whose `Drop` may panic: every task is
        // cancelled and the pool shut down all the same, and the first such panic goes
        // on once the shutdown is done.
        let mut first_panic = FirstPanic::default();
        // Every task cancelled before any done callback runs: one may wait for another.
        first_panic.catch(|| {
            super::state::as_one_telling(|| {
                let mut first_panic = FirstPanic::default();
                for task in &live {
                    first_panic.catch(|| {
                        if let Some(task) = task.upgrade() {
                            task.cancel();
                        }
                    });
                }
                // Tasks with no dependencies are not in the list (see `register`):
                // those still queued are cancelled here, as the list's are; those a
                // worker has taken see the client closed and cancel themselves.
                for job in inner.pool.take_queued() {
                    // Let go of in the catch too: the queue's reference may be the
                    // last of a task that ended, whose result's `Drop` may panic (that
                    // left the jobs after it uncancelled, pending for ever).
                    first_panic.catch(move || job.shut_down());
                }
                first_panic.resume();
            })
        });
        drop(live);
        // Asked before the shutdown, which changes neither.
        let in_own_task = self.in_own_task();
        self.shut_down();
        if in_own_task {
            // A task's handle (`get_client()`) is the last only by a race with the
            // users' drop of theirs: the values released are other tasks', not the
            // task's to fail with. Let go of as a pool thread lets go of such a value
            // (the panic hook has printed it), and the task keeps its own outcome.
            crate::engine::error::discard_panic(|| first_panic.resume());
            return;
        }
        // Not while this drop is part of another panic's unwinding (that aborts).
        first_panic.resume();
    }
}

impl Owner {
    /// Whether this thread runs one of this client's tasks: a futures task on its
    /// pool, or a task of a graph one of them computes (on rayon's threads too).
    fn in_own_task(&self) -> bool {
        let inner = &self.inner;
        inner.pool.is_current()
            || super::job::current_client().is_some_and(|client| Arc::ptr_eq(&client, inner))
    }

    /// Closes the pool and waits (up to the shutdown timeout) for its threads to end.
    fn shut_down(&self) {
        let pool = &self.inner.pool;
        pool.close();
        if pool.is_current()
            || pool.is_exiting_here()
            || crate::engine::owner::current_ref().is_some()
            || rayon::current_thread_index().is_some()
        {
            // The last handle was dropped by one of the pool's own tasks (or by one of
            // its threads as its thread-locals are destroyed), or by a task of a graph
            // the client computes (on rayon's thread, which a thread of the pool waits
            // for): its threads end when their tasks do, but this one cannot wait for
            // itself. Nor inside another client's task (or a graph
            // task of its runs): a running task of this client may be waiting for
            // that very task (a wait the drop's join would make a cycle of, hung for
            // the whole shutdown timeout, or for ever). Nor on any rayon thread: it
            // may be running part of a task's own work (a plain `par_iter` in the
            // task), which the task's thread waits for in rayon's `join`, and nothing
            // tells that wait or that work apart from others.
            return;
        }
        // Running tasks finish, then every thread ends. A task that never returns
        // would hold its thread forever: after the shutdown timeout, stop waiting and
        // leave that thread detached. A timeout too long for a deadline is none.
        // On another client's thread, that client keeps its threads running meanwhile.
        pool::blocking(|| pool.wait_exited(pool::deadline_after(self.inner.shutdown_timeout)));
    }
}
