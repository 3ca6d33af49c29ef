//! One submitted task, from its options ([`TaskBuilder`]) to its end: the job the pool
//! runs, its dependencies counted down, its retries, cancellation, the task running on
//! this thread ([`cancelled`]) and the continuation that runs a chain of futures like a
//! loop on one worker.

use std::any::Any;
use std::cell::RefCell;
use std::hash::Hasher;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::args::{Fallible, KeptArgs, PureArgs, SubmitArgs, TaskFn};
use super::client::{Client, Inner, JobClient};
use super::error::FutureError;
use super::future::{Future, Status};
use super::state::{Core, Dependent, HasCore, Outcome, State, TaskName, TaskOf};
use crate::dynamic::{Impure, Pure};
use crate::engine::error::TaskError;
use crate::engine::lock::Recover;
use crate::engine::names::short_type_name;
use crate::engine::observe::{FutureEvent, Observer, TaskOutcome};
use crate::engine::owner::{OwnerRef, OwnerScope};

/// Runs `job` on this worker of `pool`, then each job its end handed over to run next,
/// unless the worker is to park (see `Pool::park`): that job goes to the pool's queue.
pub(super) fn run_jobs(pool: &Arc<super::pool::Pool>, mut job: Arc<dyn Runnable>) {
    loop {
        // A panic escaping a rayon `spawn` aborts the process. The task's own panic is
        // caught in `run`; what is left is a `Drop` that panics (of a discarded result,
        // of the task's arguments, of a result whose last handle was the job's) or a
        // dependent's callback: the future has its outcome by then, the panic hook has
        // printed the message, and the pool thread goes on.
        crate::engine::error::discard_panic(move || job.run());
        // A task that polled ends: its thread counts as the pool's again.
        super::pool::end_polling(true);
        match continuation::take() {
            // This worker is to park (a blocked one is back): the next goes to another.
            Some(next) if pool.surplus() => return pool.push(next),
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
pub(super) mod continuation {
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
    pub(in crate::futures) fn offer(
        client: &Inner,
        job: Arc<dyn Runnable>,
    ) -> Result<(), Arc<dyn Runnable>> {
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
    pub(in crate::futures) fn take() -> Option<Arc<dyn Runnable>> {
        NEXT.with(|next| next.borrow_mut().take())
    }

    /// Runs `f`, user code run while a task ends (a done callback), as code outside
    /// the ending: the job kept to run next goes to the pool first, and the jobs `f`
    /// spawns go there too, where idle workers see them (`f` may wait for any of them,
    /// with a timeout that running it here after `f` would only make expire).
    pub(in crate::futures) fn outside<R>(f: impl FnOnce() -> R) -> R {
        /// Puts the ending back, unwinding too.
        struct Restore(*const Inner);
        impl Drop for Restore {
            fn drop(&mut self) {
                ENDING.with(|e| e.set(self.0));
            }
        }
        let client = ENDING.with(|e| e.replace(std::ptr::null()));
        let _restore = Restore(client);
        if !client.is_null() {
            if let Some(job) = take() {
                // SAFETY: `ENDING` holds a client only while an `Ending` made from a
                // reference to it is alive on this thread's stack, below this frame.
                unsafe { &*client }.spawn(job);
            }
        }
        f()
    }
}

// ---- tasks ----------------------------------------------------------------------

/// A task's options before it is submitted; made by [`Client::task`].
#[must_use = "a `TaskBuilder` runs nothing until `.submit(args)`; builder methods return the changed builder"]
pub struct TaskBuilder<F, P = Impure> {
    pub(super) client: Client,
    pub(super) f: Arc<F>,
    /// Given with `named`, or the function's own (looked up once, for every task).
    pub(super) name: TaskName,
    pub(super) retries: u32,
    pub(super) priority: i32,
    pub(super) location: &'static std::panic::Location<'static>,
    /// What observers are told the task is ([`FutureEvent::kind`]).
    pub(super) kind: &'static str,
    /// The function's instance in pure keys (see [`TaskBuilder::pure`]); 0 otherwise.
    pub(super) instance: u64,
    /// [`Impure`] (the default: every submission a task of its own) or [`Pure`].
    pub(super) _purity: PhantomData<P>,
}

impl<F, P> TaskBuilder<F, P> {
    /// Names the task (default: the function's name). The name is the start of the
    /// task's [`key`](Future::key) (`name-number`), so `named("k").map(items)` keys
    /// the tasks as Dask's `client.map(f, items, key="k")` prefixes them. It is not
    /// the whole key, as Dask's `client.submit(f, x, key="k")` makes it: there a
    /// second submission with the key `"k"` returns the first one's future whatever its
    /// arguments, and nothing runs; here each submission is a task of its own, and
    /// only equal calls of a [pure](TaskBuilder::pure) builder share one.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = TaskName::Shared(Arc::from(name.into()));
        self
    }

    /// Makes a function returning `Result<T, E>` a task whose `Err` is an error, as
    /// Dask's `raise` in a task is: its future is a `Future<T>`, and `Err(e)` ends the
    /// task in error exactly as a panic would. It is retried ([`retries`](Self::retries)),
    /// its future's [`status`](Future::status) is [`Status::Error`], its dependents fail
    /// with its error (naming it), [`wait`](crate::wait) with
    /// [`WaitMode::FirstException`](crate::WaitMode::FirstException) stops at it,
    /// [`Future::exception`] returns it, and observers see a failure. The error is a
    /// [`TaskError`] whose [`message`](TaskError::message) is `e`'s `Display` and whose
    /// [`payload`](TaskError::payload)`::<E>()` is `e` itself (for an `E: Clone`;
    /// any `E`, `std::io::Error` too, is read by reference with
    /// [`with_payload`](TaskError::with_payload));
    /// its [`backtrace`](TaskError::backtrace) is where the task returned, when
    /// backtraces are enabled. The `Err` is returned, not unwound: nothing is
    /// printed, and under `panic = "abort"` it is still the future's error. Without
    /// `fallible`, a task returning `Result` finishes with it as its value, `Err` or
    /// not. `E` must be `Send + Sync + 'static`, as any task's result.
    ///
    /// ```
    /// use graph_runtime::{Client, FutureError, Status};
    ///
    /// let client = Client::builder().threads(2).build()?;
    /// let parse = client.task(|s: String| s.parse::<i64>()).fallible();
    /// let good = parse.submit(("42".to_string(),));
    /// let bad = parse.submit(("x".to_string(),));
    /// assert_eq!(good.result()?, 42);
    /// let Err(FutureError::Task(error)) = bad.result() else { unreachable!() };
    /// assert_eq!(bad.status(), Status::Error);
    /// assert_eq!(error.message(), "invalid digit found in string");
    /// assert!(error.payload::<std::num::ParseIntError>().is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A success costs what any task's does: no allocation, no check beyond the
    /// `match` on the `Result`.
    pub fn fallible(self) -> TaskBuilder<Fallible<F>, P> {
        TaskBuilder {
            client: self.client,
            f: Fallible::of(self.f),
            name: self.name,
            retries: self.retries,
            priority: self.priority,
            location: self.location,
            kind: self.kind,
            instance: self.instance,
            _purity: PhantomData,
        }
    }

    /// What a job keeps of the builder's options.
    fn options(&self) -> JobOptions {
        JobOptions {
            retries: self.retries,
            priority: self.priority,
            location: self.location,
            kind: self.kind,
        }
    }

    /// Runs a panicking task (or a [`fallible`](Self::fallible) one that returned
    /// `Err`) again, up to `retries` more times.
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
}

impl<F> TaskBuilder<F> {
    /// Makes submissions of equal calls one task (Dask's `pure=True`, its default for
    /// `submit` and `map`; taskweave's default is impure, Dask's `pure=False`): the
    /// returned builder's `submit`, or an item of its `map`, whose call equals a task
    /// of this client that still has a handle returns a handle of that task (the same
    /// [`key`](Future::key)), which runs once; the handles share its fate:
    /// cancelling one cancels the task for all of them, as in Dask, where they are
    /// futures of one key.
    ///
    /// Equal calls are those of one function (a fn item or a closure that captures
    /// nothing, through any builder; a closure with state, through this builder only,
    /// since another may hold other values), with the same name, retries and
    /// fallibility, and with equal arguments: plain values with equal keys (see
    /// [`PureKey`](crate::PureKey): `Hash` values by their hash, floats by their
    /// bits), futures of the same task (whatever their values). The priority is no
    /// part of it, as in Dask's keys. An argument that has no key does not compile.
    /// Arguments are not compared, only their keys: a `Hash` that leaves out part of a
    /// value (legal for `Hash`) makes calls that differ only there one task.
    ///
    /// A task whose last handle went (cancelled, or its result let go), or that was
    /// cancelled, is not found: an equal submission makes a new task, as Dask makes a
    /// new one for a released key. A task that ended in error is found, and returns
    /// its error, as Dask's erred key does until it is released. A pure task's
    /// result stays in place for the later submissions that may read it: a dependent
    /// holding its last handle clones it rather than moves it.
    ///
    /// ```
    /// use graph_runtime::Client;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// static CALLS: AtomicUsize = AtomicUsize::new(0);
    /// fn counted(x: i64) -> i64 {
    ///     CALLS.fetch_add(1, Ordering::SeqCst);
    ///     x + 1
    /// }
    /// let client = Client::builder().threads(2).build()?;
    /// let pure = client.task(counted).pure();
    /// let a = pure.submit((1,));
    /// let b = pure.submit((1,));
    /// let c = pure.map([5, 5, 5]);
    /// assert_eq!(a.key(), b.key());
    /// assert_eq!((a.result()?, client.gather(&c)?), (2, vec![6, 6, 6]));
    /// assert_eq!(CALLS.load(Ordering::SeqCst), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A submission through a builder without `pure` pays nothing for it.
    pub fn pure(self) -> TaskBuilder<F, Pure> {
        TaskBuilder {
            client: self.client,
            instance: crate::dynamic::fn_instance::<F>(),
            f: self.f,
            name: self.name,
            retries: self.retries,
            priority: self.priority,
            location: self.location,
            kind: self.kind,
            _purity: PhantomData,
        }
    }

    /// One task per item, with this builder's name and retries: `f(item)` for each
    /// (Dask's `client.map(f, items, key=…, retries=…)`).
    #[must_use = "dropping the last handle of a future cancels its task: keep them, wait for them, or pass them to `client.fire_and_forget`"]
    pub fn map<V, I>(&self, items: I) -> Vec<Future<F::Output>>
    where
        F: TaskFn<V>,
        I: IntoIterator,
        (I::Item,): SubmitArgs<V>,
    {
        self.submit_all(items.into_iter().map(|item| (item,)))
    }

    /// One task per argument tuple, submitted as one batch (see [`submit_each`]).
    pub(super) fn submit_all<V, A>(&self, all: impl Iterator<Item = A>) -> Vec<Future<F::Output>>
    where
        F: TaskFn<V>,
        A: SubmitArgs<V>,
    {
        submit_each(self.client.inner(), all, |args, batch| {
            self.submit_to(args, batch)
        })
    }

    /// Submits the task with these arguments (see [`Client::submit`]).
    pub fn submit<V, A>(&self, args: A) -> Future<F::Output>
    where
        F: TaskFn<V>,
        A: SubmitArgs<V>, // a task runs after `submit` returns: pass owned values (a clone, an `Arc`) or futures, not borrows
    {
        // Large arguments: see `Client::submit`. The function stays in the builder's
        // `Arc`, whatever its size: the job holds a clone of that (see `Shared`).
        if const { crate::engine::sync::is_large::<A>() } {
            // SAFETY: `args` is not used after this call but to be forgotten.
            let submitted = unsafe {
                crate::engine::sync::with_room_reading::<A, _, _>(&args, |args| {
                    self.submit_to(args, &mut Alone)
                })
            };
            if const { core::mem::needs_drop::<A>() } {
                core::mem::forget(args);
            }
            return submitted.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        }
        let mut args = Some(args);
        crate::engine::sync::with_room_taking(&mut args, |args| self.submit_to(args, &mut Alone))
    }

    /// Submits the task; if it is ready at once, `ready` queues it.
    fn submit_to<V, A>(&self, args: A, ready: &mut impl Ready) -> Future<F::Output>
    where
        F: TaskFn<V>,
        A: SubmitArgs<V>,
    {
        submit_job(
            self.client.inner(),
            Shared(self.f.clone()),
            self.name.clone(),
            self.options(),
            args,
            ready,
        )
    }
}

impl<F> TaskBuilder<F, Pure> {
    /// Submits the task with these arguments, or returns a handle of a live equal
    /// task of this client (see [`pure`](TaskBuilder::pure)).
    pub fn submit<V, A, M>(&self, args: A) -> Future<F::Output>
    where
        F: TaskFn<V>,
        A: SubmitArgs<V>, // a task runs after `submit` returns: pass owned values (a clone, an `Arc`) or futures, not borrows
        A::Kept: PureArgs<M>,
    {
        // Large arguments: see `Client::submit`. The function stays in the builder's
        // `Arc`, whatever its size: the job holds a clone of that (see `Shared`).
        if const { crate::engine::sync::is_large::<A>() } {
            // SAFETY: `args` is not used after this call but to be forgotten.
            let submitted = unsafe {
                crate::engine::sync::with_room_reading::<A, _, _>(&args, |args| {
                    self.submit_to(args, &mut Alone)
                })
            };
            if const { core::mem::needs_drop::<A>() } {
                core::mem::forget(args);
            }
            return submitted.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        }
        let mut args = Some(args);
        crate::engine::sync::with_room_taking(&mut args, |args| self.submit_to(args, &mut Alone))
    }

    /// One task per item, as [`TaskBuilder::map`], equal items (and items equal to a
    /// live task's call) one task (Dask's `client.map(f, [5, 5, 5])`, one key).
    #[must_use = "dropping the last handle of a future cancels its task: keep them, wait for them, or pass them to `client.fire_and_forget`"]
    pub fn map<V, I, M>(&self, items: I) -> Vec<Future<F::Output>>
    where
        F: TaskFn<V>,
        I: IntoIterator,
        (I::Item,): SubmitArgs<V>,
        <(I::Item,) as SubmitArgs<V>>::Kept: PureArgs<M>,
    {
        let all = items.into_iter().map(|item| (item,));
        submit_each(self.client.inner(), all, |args, batch| {
            self.submit_to(args, batch)
        })
    }

    /// Submits the task, or finds a live equal one; if a new one is ready at once,
    /// `ready` queues it.
    fn submit_to<V, A, M>(&self, args: A, ready: &mut impl Ready) -> Future<F::Output>
    where
        F: TaskFn<V>,
        A: SubmitArgs<V>,
        A::Kept: PureArgs<M>,
    {
        let kept = args.into_kept();
        // Keyed as `Delayed`'s pure calls are: the function, what the builder sets
        // that a task's outcome depends on (its name, its retries: twins that differ
        // there are tasks of their own, never one that takes the other's fate), and
        // the arguments. Hashing runs the arguments' `Hash`, the user's code: before
        // any lock is taken.
        let key = crate::dynamic::pure_key(
            crate::dynamic::fn_identity::<F>(self.instance),
            &[
                &|h: &mut dyn Hasher| {
                    h.write(self.name.as_bytes());
                    h.write_u32(self.retries);
                },
                &|h: &mut dyn Hasher| kept.pure_key(h),
            ],
        );
        submit_pure(
            self.client.inner(),
            Shared(self.f.clone()),
            self.name.clone(),
            self.options(),
            kept,
            key,
            ready,
        )
    }
}

/// Submits one task per argument tuple of `all` with `submit`, as one batch: the tasks
/// ready at once are queued [`BATCH`] at a time, each batch one entry of the pool's
/// queue, which the workers share out among themselves as they run it (see `pool`).
/// Only while the iterator promises more items (its `size_hint`): before asking one
/// it does not promise (a channel's, which may wait for a task of this very `map`),
/// what is submitted is queued.
///
/// Large arguments are made (by `all`) and submitted inside stack room for them (see
/// `with_room_taking`), by a plain loop: each frame they passed through by value kept a
/// copy, and a 2 MiB item of `client.map` overflowed an 8 MiB `main` where plain code
/// holding it runs (in an optimised build too). The tasks' function is not: each job
/// holds a clone of the builder's `Arc` (see [`Shared`]).
fn submit_each<A, R>(
    client: &Inner,
    mut all: impl Iterator<Item = A>,
    mut submit: impl FnMut(A, &mut Submitted<'_>) -> Future<R>,
) -> Vec<Future<R>> {
    crate::engine::sync::with_room_for_run::<A, _>(|| {
        let mut batch = Submitted::new(client);
        let mut futures = Vec::with_capacity(all.size_hint().0);
        loop {
            if all.size_hint().0 == 0 {
                batch.flush();
            }
            let Some(args) = all.next() else {
                break;
            };
            futures.push(submit(args, &mut batch));
        }
        batch.flush();
        futures
    })
}

/// How many ready jobs of one `map` go into one entry of the pool's queue: enough
/// that the push and the wake-up cost nothing per task, few enough that the workers
/// start while the rest is being submitted.
pub(super) const BATCH: usize = 32;

/// Where a job ready at submission goes.
pub(super) trait Ready {
    /// Queues `job`, a job of `client` that is ready to run.
    fn ready(&mut self, client: &Inner, job: Arc<dyn Runnable>);
}

/// Queued at once, alone: `submit`.
pub(super) struct Alone;

impl Ready for Alone {
    fn ready(&mut self, client: &Inner, job: Arc<dyn Runnable>) {
        client.spawn(job);
    }
}

/// The ready jobs of one `map`, queued [`BATCH`] at a time (see
/// [`Pool::push_batch`](super::pool::Pool::push_batch)). What is left is queued by
/// [`flush`](Submitted::flush), or when the batch is dropped (a panicking iterator of
/// arguments: the futures made so far are dropped, and cancelled, meanwhile).
pub(super) struct Submitted<'a> {
    client: &'a Inner,
    jobs: Vec<Arc<dyn Runnable>>,
}

impl<'a> Submitted<'a> {
    pub(super) fn new(client: &'a Inner) -> Self {
        Submitted {
            client,
            jobs: Vec::new(),
        }
    }

    /// Queues the jobs gathered so far.
    pub(super) fn flush(&mut self) {
        self.client.spawn_batch(&mut self.jobs);
    }
}

impl Ready for Submitted<'_> {
    fn ready(&mut self, client: &Inner, job: Arc<dyn Runnable>) {
        // Ordered among the ready ones by priority: never in a batch.
        if job.priority() != 0 {
            return client.spawn(job);
        }
        if self.jobs.capacity() == 0 {
            self.jobs.reserve_exact(BATCH);
        }
        self.jobs.push(job);
        if self.jobs.len() >= BATCH {
            self.flush();
        }
    }
}

impl Drop for Submitted<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// What a job keeps of its builder's options.
#[derive(Clone, Copy)]
pub(super) struct JobOptions {
    pub(super) retries: u32,
    pub(super) priority: i32,
    pub(super) location: &'static std::panic::Location<'static>,
    pub(super) kind: &'static str,
}

/// How a job holds its function, which its type names (`Job<H, K, R>`), so that a job
/// is as large as what it holds: its own ([`Own`]: `client.submit`, no allocation and
/// no count shared with other tasks) or one shared by the tasks of a builder
/// ([`Shared`]: `map`, `TaskBuilder::submit`), the builder's `Arc` only. (One type
/// for both, an enum, was as large as the function: each task of a builder whose
/// function captures 2 MiB allocated 2 MiB more that it never used.)
pub(super) trait Holds: Send + Sync + 'static {
    /// The function.
    type F;
    /// What the job holds until it runs, or ends without running: its own function,
    /// or nothing.
    type Work: Send + Sync;
    /// What the job holds to its end: nothing, or the builder's `Arc`, kept so that no
    /// worker touches its shared count.
    type Kept: Send + Sync;
    /// What the job holds, split.
    fn into_parts(self) -> (Option<Self::Work>, Self::Kept);
    /// The function, from what the job holds (`work` as taken out for the run): none
    /// once the work is released.
    fn function<'a>(work: Option<&'a Self::Work>, kept: &'a Self::Kept) -> Option<&'a Self::F>;
}

/// A job's own function (see [`Holds`]).
pub(super) struct Own<F>(pub(super) F);

impl<F: Send + Sync + 'static> Holds for Own<F> {
    type F = F;
    type Work = F;
    type Kept = ();
    #[inline(always)]
    fn into_parts(self) -> (Option<F>, ()) {
        (Some(self.0), ())
    }
    #[inline(always)]
    fn function<'a>(work: Option<&'a F>, _: &'a ()) -> Option<&'a F> {
        work
    }
}

/// A function shared by the tasks of a builder (see [`Holds`]).
pub(super) struct Shared<F>(pub(super) Arc<F>);

impl<F: Send + Sync + 'static> Holds for Shared<F> {
    type F = F;
    /// Nothing: an `Option` of it takes no room.
    type Work = std::convert::Infallible;
    type Kept = Arc<F>;
    #[inline(always)]
    fn into_parts(self) -> (Option<Self::Work>, Arc<F>) {
        (None, self.0)
    }
    #[inline(always)]
    fn function<'a>(_: Option<&'a Self::Work>, kept: &'a Arc<F>) -> Option<&'a F> {
        Some(kept)
    }
}

/// The result of a task whose function is held as `H` and called with `V`.
type OutputOf<H, V> = <<H as Holds>::F as TaskFn<V>>::Output;

/// The job of a task whose function is held as `H`, with arguments kept as `K` and
/// read as `V`.
type JobOf<H, K, V> = Job<H, K, OutputOf<H, V>>;

/// The task's name when none is given: its function's.
pub(super) fn default_name<F>() -> TaskName {
    TaskName::Static(short_type_name::<F>())
}

/// Submits one task of `client`: `f(args)` once its futures have finished.
pub(super) fn submit_job<H, V, A>(
    client: &Arc<Inner>,
    f: H,
    name: TaskName,
    options: JobOptions,
    args: A,
    ready: &mut impl Ready,
) -> Future<OutputOf<H, V>>
where
    H: Holds,
    H::F: TaskFn<V>,
    A: SubmitArgs<V>,
{
    let (job, dependencies) = new_job(client, f, name, options, args.into_kept());
    launch(client, job, dependencies, ready, false)
}

/// Submits `Client::compute`'s task of `client`, `f()`, to start once every task of
/// `after` (the futures its graph reads) has ended, however it ended (see
/// [`AfterEnds`](super::args::AfterEnds)). Its own function: the graph it holds is
/// dropped when it has run, or at once if it is cancelled before, releasing the
/// futures the graph reads, as a cancelled task's arguments are.
pub(super) fn submit_after<F>(
    client: &Arc<Inner>,
    f: F,
    name: TaskName,
    options: JobOptions,
    after: Vec<Arc<dyn HasCore>>,
) -> Future<F::Output>
where
    F: TaskFn<()>,
{
    let kept = super::args::AfterEnds(after);
    let (job, dependencies) = new_job(client, Own(f), name, options, kept);
    launch(client, job, dependencies, &mut Alone, false)
}

/// The dependencies a new job waits for, until [`launch`] registers it with them.
type Waits = crate::futures::list::InlineList<Arc<dyn HasCore>>;

/// A new job of `client`, `f(kept)`, not launched yet: nothing runs it, waits for it
/// or observes it until [`launch`]. (Inlined: see [`Core::new`].)
#[inline(always)]
fn new_job<H, V, K>(
    client: &Arc<Inner>,
    f: H,
    name: TaskName,
    options: JobOptions,
    kept: K,
) -> (Arc<JobOf<H, K, V>>, Waits)
where
    H: Holds,
    H::F: TaskFn<V>,
    K: KeptArgs<Values = V>,
{
    // The job holds its arguments and its result's cell inline, and is built on the
    // stack before it moves into its allocation: room for copies of it when large.
    let size = std::mem::size_of::<JobOf<H, K, V>>() + std::mem::size_of::<K>();
    let mut parts = Some((f, name, options, kept));
    // The job is made in the closure's frames, not this function's.
    crate::engine::sync::with_room(size, || {
        let (f, name, options, kept) = parts.take().expect("built once");
        let mut dependencies = super::args::Dependencies::default();
        kept.dependencies(&mut dependencies);
        let dependencies = dependencies.0;
        let records = Core::dependency_records(&dependencies);
        let (own, held) = f.into_parts();
        // One allocation for the job and its future's state; the state's weak
        // reference to its job (for a waiter that runs it, and to release a cancelled
        // task's arguments) points into the same allocation.
        let job: Arc<JobOf<H, K, V>> = Arc::new_cyclic(|me| Job {
            state: State::of_job(
                name,
                options.location,
                Some(me.clone() as Weak<dyn Runnable>),
                records,
            ),
            work: Mutex::new(Work {
                f: own,
                args: Some(kept),
            }),
            held: Some(held),
            remaining: AtomicUsize::new(dependencies.len() + 1),
            retries: options.retries,
            priority: options.priority,
            client: JobClient::new(client.clone()),
            kind: options.kind,
        });
        (job, dependencies)
    })
}

/// Launches `job`: tells the observers, registers it with its dependencies, and has
/// `ready` queue it if none is left; returns its future. A `pure` job's handle was
/// added already, and it may have been found, and ended, before it was told (see
/// [`submit_pure`]).
#[inline(always)]
fn launch<H, V, K>(
    client: &Arc<Inner>,
    job: Arc<JobOf<H, K, V>>,
    mut dependencies: Waits,
    ready: &mut impl Ready,
    pure: bool,
) -> Future<OutputOf<H, V>>
where
    H: Holds,
    H::F: TaskFn<V>,
    K: KeptArgs<Values = V>,
{
    // Before anything can start or end it (a dependency that failed already ends
    // it in the loop below), or, for a pure job, before its end is reported.
    job.observe(0, false, |observer, task| observer.future_submitted(task));
    if pure && job.state.core.submission_told() {
        // Cancelled meanwhile through a handle an equal submission found: its end,
        // held back, is told now. It has released its arguments and left its
        // dependencies' lists (it was in none): nothing is left to register or queue.
        let outcome = match job.state.core.status() {
            Status::Error => TaskOutcome::Failed,
            _ => TaskOutcome::Cancelled,
        };
        job.observe(0, false, |observer, task| {
            observer.future_finished(task, outcome);
        });
        return Future::from_counted(job);
    }
    if !dependencies.is_empty() {
        client.register(Arc::downgrade(&job) as Weak<dyn Cancel>);
    }
    for dependency in dependencies.take() {
        if dependency.core().on_end_dependent(job.clone()) {
            client.live.watch(Arc::downgrade(&dependency));
        }
    }
    // The submission's own count: the job is ready if no dependency is left.
    if job.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
        ready.ready(client, job.clone());
    }
    if pure {
        Future::from_counted(job)
    } else {
        Future::from_task(job)
    }
}

/// Submits one pure task of `client` keyed `key` (see [`TaskBuilder::pure`]): a
/// handle of the live task of that key, if there is one, else of a new task,
/// `f(kept)`, which becomes the key's task.
fn submit_pure<F, V, K>(
    client: &Arc<Inner>,
    f: Shared<F>,
    name: TaskName,
    options: JobOptions,
    kept: K,
    key: u64,
    ready: &mut impl Ready,
) -> Future<F::Output>
where
    F: TaskFn<V>,
    K: KeptArgs<Values = V>,
{
    // The arguments of a call found are dropped on return, outside the lock.
    if let Some(live) = live_pure::<Job<Shared<F>, K, F::Output>, F::Output>(client, key, None) {
        return live;
    }
    let (job, dependencies) = new_job(client, f, name, options, kept);
    // Found before `launch` has told the observers of it, it may be cancelled: its
    // end is told after its submission, by `launch`.
    job.state.core.hold_end_report();
    if let Some(live) = register_pure::<Job<Shared<F>, K, F::Output>, F::Output>(client, key, &job)
    {
        // An equal submission made its task meanwhile: this one, never launched,
        // goes (its arguments dropped here, outside the lock).
        drop(job);
        return live;
    }
    launch(client, job, dependencies, ready, true)
}

/// Makes `ours`, new (a pure task not yet launched, a value being scattered, made
/// after [`live_pure`] found none), the live task of `key`, with the handle of the
/// future its caller returns; unless an equal one was made meanwhile: then a handle of
/// that one, and `ours` is left as it was, never found, for the caller to drop
/// outside the lock. Its result is kept in place for the equal ones that may find it.
pub(super) fn register_pure<X, R>(client: &Inner, key: u64, ours: &Arc<X>) -> Option<Future<R>>
where
    X: TaskOf<R> + 'static,
{
    let core = ours.core();
    core.keep_result();
    // The handle of the future returned, counted before the entry can be found: a
    // task found has a handle, and `try_add_live_handle` takes one more.
    core.add_handle();
    let entry = Arc::downgrade(ours) as Weak<dyn Any + Send + Sync>;
    let live = live_pure::<X, R>(client, key, Some(entry))?;
    core.drop_handle();
    Some(live)
}

/// A handle of the live task of `key` in `client`'s pure tasks: one of type `X` (a
/// `Job<H, K, R>`, or a scattered `State<R>`) that has a handle and was not cancelled.
/// If there is none and `ours` is given, `ours` becomes the key's task. The lock is
/// held for the map and the handle's count only: what it lets go of (a task found
/// dead, an entry replaced) is dropped after it, since that may drop a task and its
/// values, and run their `Drop`.
pub(super) fn live_pure<X, R>(
    client: &Inner,
    key: u64,
    ours: Option<Weak<dyn Any + Send + Sync>>,
) -> Option<Future<R>>
where
    X: TaskOf<R> + 'static,
{
    let mut dead: Option<Arc<dyn Any + Send + Sync>> = None;
    let mut replaced = None;
    let found = {
        let mut pure = client.pure.lock().recover();
        let found = match pure.tasks.get(&key).and_then(Weak::upgrade) {
            None => None,
            // Another type of task under an equal key (a hash collision) is not it.
            Some(task) => match task.downcast::<X>() {
                Ok(job) => {
                    if job.core().try_add_live_handle() {
                        Some(job)
                    } else {
                        dead = Some(job);
                        None
                    }
                }
                Err(other) => {
                    dead = Some(other);
                    None
                }
            },
        };
        if let (None, Some(ours)) = (&found, ours) {
            replaced = pure.insert(key, ours);
        }
        found
    };
    drop(dead);
    drop(replaced);
    found.map(|job| Future::from_counted(job))
}

/// One submitted task: its future's state, its function (held as `H` says), its
/// arguments, how many dependencies remain. Its futures point at it (see [`TaskOf`]),
/// so it lives as long as they do; what the task needs only to run (its own function,
/// its arguments) is dropped when it ends. The state first (see [`Core`]'s layout).
#[repr(C)]
pub(super) struct Job<H: Holds, K, R> {
    state: State<R>,
    /// Taken by the run, or released when the task ends without running.
    work: Mutex<Work<H::Work, K>>,
    /// What it holds of its function to its end (a builder's `Arc`, see [`Holds`]);
    /// taken by its `Drop` (see [`drop_function`]).
    held: Option<H::Kept>,
    remaining: AtomicUsize,
    retries: u32,
    priority: i32,
    client: JobClient,
    kind: &'static str,
}

/// What a job needs to run, dropped when it ends: its own function (`client.submit`;
/// of a builder's job, nothing, of no size) and its arguments.
struct Work<F, K> {
    f: Option<F>,
    args: Option<K>,
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
    /// The client shuts down: cancels the task unless it has started (see [`Cancel`]).
    fn shut_down(&self);
    /// The task's state, for a wait that records what it waits for.
    fn task(self: Arc<Self>) -> Arc<dyn HasCore>;
    /// The task ended without running: leaves its dependencies' lists of dependents
    /// (see [`Core::dependent_left`]).
    fn leave_dependencies(&self);
    /// Its client's pool (which a rayon worker sleeping for it lends its place to, see
    /// `Pool::lend`).
    fn pool(&self) -> &Arc<super::pool::Pool>;
}

/// A live task that shutdown may cancel.
pub(super) trait Cancel: Send + Sync {
    fn cancel(&self);
}

impl<H, K, R> Job<H, K, R>
where
    H: Holds,
    H::F: TaskFn<K::Values, Output = R>,
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

impl<H: Holds, K, R> Job<H, K, R> {
    /// Tells the client's observer, if it has one, and the ambient observers (a
    /// performance report), if any, about attempt `attempt` of this task
    /// (`started`: see [`FutureEvent::started`]). A panic of the observer is dropped
    /// here: it must not leave the task unended.
    #[inline]
    fn observe(&self, attempt: u32, started: bool, tell: impl Fn(&dyn Observer, &FutureEvent<'_>)) {
        // A performance report watches every client: one relaxed load when none is.
        let ambient = crate::engine::observe::ambient_active();
        let own = self.client.observer.as_deref();
        if own.is_none() && !ambient {
            return;
        }
        let core = &self.state.core;
        let task = FutureEvent {
            name: &core.name,
            kind: self.kind,
            call_site: core.call_site(),
            key: core.key_number(),
            attempt,
            started,
        };
        if let Some(observer) = own {
            crate::engine::error::discard_panic(|| tell(observer, &task));
        }
        if ambient {
            crate::engine::observe::for_each_ambient_future_observer(|observer| {
                crate::engine::error::discard_panic(|| tell(observer, &task));
            });
        }
    }

    /// Drops the arguments and the job's own function. Taken out under the lock,
    /// dropped after it: dropping the last handle of a pending dependency cancels it,
    /// and that tells this very job.
    fn release_args(&self) {
        let (f, args) = {
            let mut work = self.work.lock().recover();
            (work.f.take(), work.args.take())
        };
        drop(args);
        drop_function(f, &self.state.core);
    }
}

impl<H: Holds, K, R> Drop for Job<H, K, R> {
    fn drop(&mut self) {
        // The last job of a builder's tasks drops its function wherever the job goes
        // last (a worker's spent batch, a queue, a waiter that ran it): a panic of that
        // `Drop` ended the worker, and its client's drop then waited for it forever.
        drop_function(self.held.take(), &self.state.core);
        // A task that waited for others has an entry in the client's live tasks (see
        // `launch`), whose weak handle keeps this allocation until it is pruned.
        if !self.state.core.dependencies.is_empty() && self.client.live.freed() {
            self.client.pool.nudge();
        }
    }
}

/// Drops a task's function (its own, or a builder's through its last job), whose
/// `Drop` is the user's: a panic there goes no further (the task's end stands), and a
/// warning names the task (the panic hook has printed the message and the `Drop`'s
/// line only). Futures the function captured are let go of after it, by the release
/// that freed it (`state::release` defers them, so as not to recurse): a panic of
/// their values' `Drop` comes out of that release, as any last handle's does.
fn drop_function<T>(f: T, core: &Core) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(f))) {
        function_drop_panicked(core, &*payload);
        crate::engine::error::drop_payload(payload);
    }
}

/// Says whose function panicked when dropped (see [`drop_function`]).
#[cold]
#[inline(never)]
fn function_drop_panicked(core: &Core, payload: &(dyn Any + Send)) {
    if crate::engine::warn::enabled() {
        crate::engine::warn::print(&format!(
            "taskweave: the function of task `{}` at {} panicked when dropped: {} (the \
             task's end stands; a builder's function is dropped with the last of its \
             tasks, wherever that goes)",
            &*core.name,
            core.call_site(),
            crate::engine::error::panic_message(payload),
        ));
    }
}

/// The task running on this thread: its state (for its cancellation flag) and its
/// client.
struct Running {
    /// The job itself (its own count, not the client's, which every thread shares).
    job: Arc<dyn RunningTask>,
    /// The graph task beneath it on its thread when it started (none, or one whose
    /// wait runs it inline): while that is still the graph task running here, the
    /// futures task is the innermost task, and answers `cancelled()`.
    beneath: crate::engine::observe::GraphMark,
}

/// What the task running on a thread tells about itself.
trait RunningTask: HasCore {
    fn client(&self) -> &Inner;
}

impl<H, K, R> RunningTask for Job<H, K, R>
where
    H: Holds,
    H::F: TaskFn<K::Values, Output = R>,
    K: KeptArgs,
    R: Send + Sync + 'static,
{
    fn client(&self) -> &Inner {
        &self.client
    }
}

impl<H, K, R> HasCore for Job<H, K, R>
where
    H: Holds,
    H::F: TaskFn<K::Values, Output = R>,
    K: KeptArgs,
    R: Send + Sync + 'static,
{
    fn core(&self) -> &Core {
        &self.state.core
    }
    fn last_handle_dropped(&self, shared: bool) {
        self.state.last_handle_dropped(shared);
    }
}

impl<H, K, R> TaskOf<R> for Job<H, K, R>
where
    H: Holds,
    H::F: TaskFn<K::Values, Output = R>,
    K: KeptArgs,
    R: Send + Sync + 'static,
{
    fn state(&self) -> &State<R> {
        &self.state
    }
}

thread_local! {
    /// The task running on this thread, if any.
    static CURRENT: RefCell<Option<Running>> = const { RefCell::new(None) };
}

/// A task made the running one again while its end is told to an observer; puts back
/// the one before it when dropped, the hook's panic included.
struct RunningAgain(Option<Running>);

impl Drop for RunningAgain {
    fn drop(&mut self) {
        let previous = self.0.take();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = previous);
    }
}

/// Whether a futures task is the innermost task on this thread, which answers
/// `cancelled()` here rather than the graph task beneath it (see [`cancelled`]).
pub(crate) fn futures_task_innermost() -> bool {
    CURRENT
        .try_with(|current| {
            current
                .borrow()
                .as_ref()
                .is_some_and(|running| running.beneath == crate::engine::observe::graph_mark())
        })
        .unwrap_or(false)
}

/// Whether the task running on this thread was cancelled: a long task may poll it and
/// stop early (Dask cannot stop a task that is already running). For a futures task:
/// its future was cancelled, or its client's last handle was dropped (the client shuts
/// down). For a task of a graph: whether its result is no longer wanted, because its
/// run was told to stop (`RunOptions::stop_when`; a cancelled `client.compute`) or has
/// already failed (another task panicked, or a `?` before it met an error), on
/// whichever thread it runs: a graph computed inside a futures task stops when that
/// task is cancelled only if it follows it (`stop_when(taskweave::cancelled)`). A task
/// with retries stops retrying once this is true. `false` outside tasks.
pub fn cancelled() -> bool {
    // The innermost task on this thread answers: a futures task, unless a graph task
    // of a run it started runs above it here; a graph task for its run only.
    // (Called from another thread-local's `Drop` once `CURRENT` is gone: no task runs.)
    let futures_task = CURRENT
        .try_with(|current| {
            current
                .borrow()
                .as_ref()
                .filter(|running| running.beneath == crate::engine::observe::graph_mark())
                .map(|running| {
                    running.job.core().cancel.load(Ordering::Acquire)
                        || running.job.client().closed.load(Ordering::Acquire)
                })
        })
        .ok()
        .flatten();
    match futures_task {
        Some(cancelled) => cancelled,
        None if crate::engine::observe::in_graph_task() => crate::engine::observe::run_stopped(),
        // Asked for a futures task on another thread: the stop condition of a graph
        // run started inside it, which follows it (`stop_when(taskweave::cancelled)`).
        None => crate::engine::owner::owner_cancelled(),
    }
}

/// Runs `f`, a wait that is not the library's (a `std::thread`'s `join`, a channel's
/// `recv`, a lock, I/O), with the calling task's place in its client's pool given
/// over meanwhile, as Dask's `secede()` … `rejoin()` around it: another thread runs
/// the client's queued tasks, so a task that waits for work it handed to a thread of
/// its own does not hold every thread of the client while that work waits for one
/// (with `result()` there it would wait for ever; see [`Client`]).
/// The library's own waits (`result`, `gather`, `wait`, a graph's `compute`) do this
/// already. Outside a client's task (on `main`, on a rayon thread) it only runs `f`:
/// in the items of a plain rayon `par_iter` inside a task, which run on rayon's
/// threads while the task's own thread waits for them in rayon's `join`, use
/// [`Client::secede`](crate::Client::secede), which knows the client to give a place
/// of.
///
/// ```
/// use graph_runtime::{secede, Client};
///
/// let client = Client::builder().threads(1).build()?;
/// let c = client.clone();
/// let outer = client.submit(
///     move || {
///         // A thread of the task's own waits for a future of the same client,
///         // whose only thread this task holds while it joins.
///         let c = c.clone();
///         let helper = std::thread::spawn(move || c.submit(|| 20, ()).result().unwrap());
///         secede(|| helper.join().unwrap()) + 1
///     },
///     (),
/// );
/// assert_eq!(outer.result()?, 21);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn secede<R, F>(f: F) -> R
where
    F: FnOnce() -> R,
{
    // A closure that captures a large value: see `Client::secede`.
    if const { crate::engine::sync::taken_into_room::<F>() } {
        let mut f = Some(f);
        crate::engine::sync::with_room_taking(&mut f, super::pool::blocking)
    } else {
        #[cfg(debug_assertions)]
        let f = f;
        super::pool::blocking(f)
    }
}

/// The state of the futures task running on this thread, and whether a graph task of
/// a run it started runs above it here (a run in order, on the task's own thread).
/// None while the thread's thread-locals are being destroyed (no task runs then).
pub(super) fn current_task_under_graph() -> Option<(Arc<dyn HasCore>, bool)> {
    CURRENT
        .try_with(|current| {
            current.borrow().as_ref().map(|r| {
                let under_graph = r.beneath != crate::engine::observe::graph_mark();
                (r.job.clone() as Arc<dyn HasCore>, under_graph)
            })
        })
        .ok()
        .flatten()
}

/// The state of the futures task running on this thread (none while the thread's
/// thread-locals are being destroyed).
pub(super) fn current_task() -> Option<Arc<dyn HasCore>> {
    CURRENT
        .try_with(|current| {
            current
                .borrow()
                .as_ref()
                .map(|r| r.job.clone() as Arc<dyn HasCore>)
        })
        .ok()
        .flatten()
}

/// The client whose task is running on this thread (Dask's `get_client()`), so that a
/// task can submit tasks and wait for them without being handed its client: in a
/// client's task, and in every task of a graph computed by one (`client.compute`, or a
/// `Delayed::compute` inside a client's task or inside such a graph's task), whichever
/// thread runs it. `None` outside those, or once the client's last handle was dropped
/// (it is shutting down: its tasks see [`cancelled`], and what they would submit
/// would be cancelled). A task holding the returned client may drop the last handle
/// of it: the shutdown then does not wait for the task's own client, which waits for
/// it, and a `Drop` panic of a value it releases (a pending task's argument) is caught
/// as on any pool thread, not the task's panic (which handle is last is a race).
///
/// `None` too on the threads a task's own work runs on outside the client's: in the
/// items of a plain rayon `par_iter` in a task (and in the tasks of graphs they
/// compute), or in a `std::thread` it starts. Take the client before and clone it into
/// them (`let client = get_client().unwrap();` before the `par_iter`): a `par_iter`
/// item's wait for its futures counts as the task's, as the README's futures section
/// says.
pub fn get_client() -> Option<Client> {
    let owner = current_client()?.owner.get()?.upgrade()?;
    Some(Client { owner })
}

/// The client of the task running on this thread, if any: a client's task, or a graph
/// task of a run started inside one (see [`engine::owner`](crate::engine::owner)).
pub(crate) fn current_client() -> Option<Arc<Inner>> {
    match crate::engine::owner::current_owner()?.downcast::<Inner>() {
        Ok(client) => Some(client),
        Err(owner) => Some(owner.downcast::<TaskOwner>().ok()?.client.clone()),
    }
}

/// What a graph run started inside a futures task belongs to: the task's client (for
/// `get_client` in its tasks) and the task, which waits for the run to end, so that a
/// wait of one of the run's tasks for a future is the futures task's wait (see
/// `blocked`), on whichever thread it runs.
pub(crate) struct TaskOwner {
    client: Arc<Inner>,
    pub(super) task: Weak<dyn HasCore>,
    /// The tasks under it on its thread when the run started, which resume only once
    /// it returns (see `blocked::run_inline`).
    pub(super) under: Vec<super::blocked::Under>,
}

/// What a run of `client`'s started on this thread belongs to: `client`, and the task
/// that waits for the run, if any (a futures task running here, or the one a graph
/// task running here works for), whichever client that task is of.
pub(super) fn run_owner_for(client: &Arc<Inner>) -> crate::engine::owner::Owner {
    let Some(owner) = crate::engine::owner::current_run_owner() else {
        return client.clone();
    };
    match owner.downcast::<TaskOwner>() {
        Ok(owner) if Arc::ptr_eq(&owner.client, client) => owner,
        Ok(owner) => Arc::new(TaskOwner {
            client: client.clone(),
            task: owner.task.clone(),
            under: owner.under.clone(),
        }),
        // A client's own (a graph task of `Client::compute` or of a persist outside
        // any task): no task waits as this run's.
        Err(_) => client.clone(),
    }
}

/// What the graph task running on this thread belongs to, if a futures task started
/// its run (or the run that started that run ...).
pub(super) fn graph_task_owner() -> Option<Arc<TaskOwner>> {
    crate::engine::owner::current_owner()?
        .downcast::<TaskOwner>()
        .ok()
}

/// `job`'s client, lent as the owner of its task (see [`TaskOwner`]).
fn lend_owner<H, K, R>(job: &Arc<Job<H, K, R>>) -> OwnerRef
where
    H: Holds,
    H::F: TaskFn<K::Values, Output = R>,
    K: KeptArgs,
    R: Send + Sync + 'static,
{
    // SAFETY: the table's functions read the `Arc<Job<H, K, R>>` they are lent with.
    unsafe { OwnerRef::with(job, &Job::<H, K, R>::OWNER_FNS) }
}

impl<H, K, R> Job<H, K, R>
where
    H: Holds,
    H::F: TaskFn<K::Values, Output = R>,
    K: KeptArgs,
    R: Send + Sync + 'static,
{
    /// What the owner lent by [`lend_owner`] makes of its handle, an `Arc<Self>`.
    const OWNER_FNS: crate::engine::owner::OwnerFns = crate::engine::owner::OwnerFns {
        own: Self::lent_client,
        for_run: Self::lent_for_run,
        cancelled: Self::lent_cancelled,
    };

    /// # Safety
    /// `job` points to a live `Arc<Self>`.
    unsafe fn lent<'a>(job: *const ()) -> &'a Arc<Self> {
        // SAFETY: the caller's contract.
        unsafe { &*job.cast::<Arc<Self>>() }
    }

    /// The client.
    ///
    /// # Safety
    /// As for [`lent`](Self::lent).
    unsafe fn lent_client(job: *const ()) -> crate::engine::owner::Owner {
        // SAFETY: the caller's contract.
        unsafe { Self::lent(job) }.client.clone()
    }

    /// The client and the task, for a run started in it.
    ///
    /// # Safety
    /// As for [`lent`](Self::lent).
    unsafe fn lent_for_run(job: *const ()) -> crate::engine::owner::Owner {
        // SAFETY: the caller's contract.
        let job = unsafe { Self::lent(job) };
        let task: Arc<dyn HasCore> = job.clone();
        Arc::new(TaskOwner {
            client: job.client.clone(),
            task: Arc::downgrade(&task),
            under: super::blocked::under_here(),
        })
    }

    /// Whether the task was cancelled, or its client closed.
    ///
    /// # Safety
    /// As for [`lent`](Self::lent).
    unsafe fn lent_cancelled(job: *const ()) -> bool {
        // SAFETY: the caller's contract.
        let job = unsafe { Self::lent(job) };
        job.state.core.cancel.load(Ordering::Acquire) || job.client.closed.load(Ordering::Acquire)
    }
}

impl<H, K, R> Dependent for Job<H, K, R>
where
    H: Holds,
    H::F: TaskFn<K::Values, Output = R>,
    K: KeptArgs,
    R: Send + Sync + 'static,
{
    fn dependency_ended(self: Arc<Self>, outcome: &Outcome) {
        if K::AFTER_ANY_END {
            // Its own run reports a dependency without a result (see `AfterEnds`).
            return self.release();
        }
        match outcome {
            Outcome::Finished => self.release(),
            Outcome::Failed(error) => {
                self.end(|state| state.fail(FutureError::clone(error)));
            }
            Outcome::Cancelled => {
                self.end(|state| state.fail(FutureError::cancelled(&state.core)));
            }
        }
    }

    fn has_ended(&self) -> bool {
        self.state.core.is_done()
    }

    fn cancel_with_dependency(&self, work: &mut Vec<Weak<dyn Dependent>>) {
        self.state.cancel_alone(work);
    }
}

impl<H, K, R> Job<H, K, R>
where
    H: Holds,
    H::F: TaskFn<K::Values, Output = R>,
    K: KeptArgs,
    R: Send + Sync + 'static,
{
    /// [`Runnable::run`], in frames of its own (see `with_room`).
    fn run_here(self: Arc<Self>) {
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
            job: self.clone() as Arc<dyn RunningTask>,
            beneath: crate::engine::observe::graph_mark(),
        };
        let previous = CURRENT.with(|c| c.replace(Some(current)));
        let client = OwnerScope::enter(Some(lend_owner(&self)));
        let mut attempts = 0;
        // The job's own function, taken out for the run (a cancel that releases the
        // arguments meanwhile must not drop it under the call) and dropped after.
        let mut own = None;
        let outcome = loop {
            self.observe(attempts, true, |observer, task| {
                observer.future_started(task)
            });
            // Reading the arguments clones plain values, and a `Clone` may panic too:
            // that is the task's panic, reported (and retried) as one.
            let attempt = panic::catch_unwind(AssertUnwindSafe(|| {
                let mut work = self.work.lock().recover();
                if own.is_none() {
                    own = work.f.take();
                }
                let values = if attempts < self.retries {
                    work.args.as_ref().map(|args| args.values())
                } else {
                    // The last attempt consumes the arguments: a dependency whose last
                    // handle they hold gives its value up rather than a copy.
                    work.args.take().map(KeptArgs::into_values)
                };
                drop(work);
                // Released meanwhile (cancelled): neither is there.
                let f = H::function(own.as_ref(), self.held.as_ref()?)?;
                values.map(|values| f.try_call(values))
            }))
            // A fallible task's `Err`, returned: its error, as a panic's payload is.
            .and_then(Option::transpose);
            match attempt {
                Ok(None) => break None,
                Ok(Some(value)) => break Some(Ok(value)),
                // Cancelled quietly (see `TaskCancelled`).
                Err(payload) if payload.is::<super::args::TaskCancelled>() => {
                    break Some(Err(FutureError::cancelled(&self.state.core)));
                }
                // A graph computed by the task (`Client::compute`) failed: its failed
                // task, not this one, is the error, with its own name and call site.
                Err(payload) if payload.is::<super::client::GraphFailed>() => {
                    let error = match payload.downcast::<super::client::GraphFailed>() {
                        Ok(failed) => failed.0,
                        Err(_) => unreachable!("checked just above"),
                    };
                    break Some(Err(FutureError::Task(Arc::new(error))));
                }
                // No more attempts once the future is cancelled or its client closed
                // (a task retried without end would keep its thread, and the client's
                // drop, waiting).
                Err(payload) if attempts < self.retries && !cancelled() => {
                    self.observe(attempts, true, |observer, task| {
                        observer.future_finished(task, TaskOutcome::Retried);
                    });
                    attempts += 1;
                    // Its own `Drop` may panic: that must not end the run unended.
                    crate::engine::error::drop_payload(payload);
                }
                Err(payload) => {
                    let core = &self.state.core;
                    let error = TaskError::from_panic(&core.name, core.call_site(), payload);
                    break Some(Err(FutureError::Task(Arc::new(error))));
                }
            }
        };
        drop(client);
        CURRENT.with(|c| *c.borrow_mut() = previous);
        // Before the end, so that what it captured is gone once the result is read;
        // its `Drop` may panic, which must not leave the task unended.
        drop_function(own, &self.state.core);
        // Told before the end publishes the result, so that the task's time excludes
        // its dependents' release, and its end comes before theirs. Told as the task
        // still runs on this thread: a hook's wait for its future, or for one that
        // needs it, would never end (the end waits for the hook), and fails as the
        // task's own wait would (it hung).
        self.observe(attempts, true, |observer, task| {
            let cancelled = self.state.core.cancel.load(Ordering::Acquire);
            let outcome = match &outcome {
                Some(Ok(_)) if !cancelled => TaskOutcome::Finished,
                Some(Err(FutureError::Task(_))) => TaskOutcome::Failed,
                // Cancelled while it ran (a dependency's value gone, or its own
                // arguments released by the cancel).
                _ => TaskOutcome::Cancelled,
            };
            let current = Running {
                job: self.clone() as Arc<dyn RunningTask>,
                beneath: crate::engine::observe::graph_mark(),
            };
            let _running = RunningAgain(CURRENT.with(|c| c.replace(Some(current))));
            observer.future_finished(task, outcome);
        });
        // Ending releases the dependents: the first ready one runs next on this thread.
        let _ending = continuation::Ending::new(&self.client);
        match outcome {
            // A running task cancelled meanwhile: its result is discarded.
            Some(Ok(value)) => self.end(|state| state.finish(value)),
            Some(Err(error)) => self.end(|state| state.fail(error)),
            None => self.end(|_| false),
        }
    }
}

impl<H, K, R> Runnable for Job<H, K, R>
where
    H: Holds,
    H::F: TaskFn<K::Values, Output = R>,
    K: KeptArgs,
    R: Send + Sync + 'static,
{
    fn run(self: Arc<Self>) {
        // Its arguments, as kept and as passed, and its result pass through the run's
        // frames by value: room for copies of them when large, as a graph's task has
        // (a 256 KiB argument overflowed a 2 MiB worker stack, optimised builds too).
        // Twice a graph task's room: the result also passes through the attempt's
        // `catch_unwind`, the outcome and the end's closure (about 25 copies in a
        // debug build). The function's size too, its own or shared: its own is taken
        // out for the run, and a call may copy what it captures (one that captures a
        // 2 MiB value overflowed a worker's stack).
        let size = std::mem::size_of::<H::F>()
            + std::mem::size_of::<K>()
            + std::mem::size_of::<K::Values>()
            + std::mem::size_of::<R>();
        let size = size.saturating_mul(2);
        let mut job = Some(self);
        crate::engine::sync::with_room(size, || {
            if let Some(job) = job.take() {
                job.run_here();
            }
        });
    }

    fn cancel(&self) {
        self.end(|state| state.fail(FutureError::cancelled(&state.core)));
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

    fn pool(&self) -> &Arc<super::pool::Pool> {
        &self.client.pool
    }

    fn shut_down(&self) {
        Cancel::cancel(self);
    }

    fn task(self: Arc<Self>) -> Arc<dyn HasCore> {
        self
    }

    fn leave_dependencies(&self) {
        self.state.core.leave_dependencies();
    }

    fn ended_unstarted(&self, outcome: &Outcome) {
        if !self.state.core.may_report_end() {
            // A pure task whose submission has not told the observers yet: it will
            // tell them of this end after (see `launch`).
            return;
        }
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

impl<H, K, R> Cancel for Job<H, K, R>
where
    H: Holds,
    H::F: TaskFn<K::Values, Output = R>,
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

impl<F, P> std::fmt::Debug for TaskBuilder<F, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskBuilder")
            .field("name", &&*self.name)
            .field("retries", &self.retries)
            .field("priority", &self.priority)
            .field(
                "pure",
                &(std::any::type_name::<P>() == std::any::type_name::<Pure>()),
            )
            .finish_non_exhaustive()
    }
}
