//! The client's threads, and how any thread waits for a future.
//!
//! Ready jobs go into one lock-free queue, one entry each, or one entry for a batch of
//! a `map`'s jobs that every worker taking it shares; workers take them about half
//! the queue at a time (up to 32 entries) into a queue of their own, which idle
//! workers steal from, and sleep when every queue is empty. The first job a finishing
//! task makes ready does not go through the queue: it runs next on the same thread
//! (see `continuation` in the parent module).
//!
//! # Waiting inside a task (Dask's `secede`/`rejoin`)
//!
//! A task that waits (`result`, `gather`, `wait`, `as_completed`, a `compute` of a
//! graph) never runs an unrelated task on its own stack: a task run there could wait
//! for the very task under it, and neither could return (a deadlock), and every such
//! waiter would nest one more frame (a stack overflow with thousands of waiters). The
//! rule, in order:
//!
//! 1. **Run what the awaited task needs.** Without a deadline, the waiter looks for a
//!    job that is ready but not started among the awaited task and its unfinished
//!    dependencies ([`SEARCH`] futures at most), and runs it itself (for a wait for
//!    every one of several futures: among the first one's, then each other's own job;
//!    for a wait for any one: the own job of the first awaited future, in the
//!    caller's order, still queued, whose end ends the wait; each future looked at
//!    once a wait, or once an `as_completed` iteration; while it runs, the waiter sees
//!    no other end, as rayon's `join` does). Such a job has
//!    every argument already: it cannot be waiting for the waiter (short of a future
//!    smuggled to it some other way, a wait that `blocked` refuses: for a wait for any
//!    one, also when another awaited future could have ended it, the price of running
//!    one inline). At most [`MAX_INLINE`] jobs deep on one stack.
//! 2. **Hand its place over.** Otherwise the waiter's thread stops counting as one of
//!    the pool's threads while it sleeps: when fewer than `threads` others are left to
//!    run queued jobs, a parked worker takes the place, else a new one starts. So the
//!    pool grows while threads are blocked, up to [`ClientBuilder::max_threads`]
//!    (`threads + 1024` by default). When the wait ends (Dask's `rejoin`), the task
//!    goes on at once, and the pool is back to `threads` at the next job boundary: the
//!    first worker there while more than `threads` run parks instead of taking a job
//!    (see [`Pool::park`]), for the next waiter's place; parked workers and idle
//!    spares end after a second.
//! 3. **Sleep**, until the awaited future ends or the deadline passes. A task that
//!    sleeps without a deadline first publishes what its thread waits for, and fails
//!    the wait instead if it could never end (see `blocked`).
//!
//! A wait whose deadline passes (a task polling a future with timeouts) while jobs are
//! queued, the second time in a task, hands the thread's place over as step 2 does,
//! and keeps it handed over until the task stops polling (a wait of it ends done, it
//! blocks outside the library's waits, or it ends): tasks polling their queued
//! children in loops would otherwise hold every thread, and the children would never
//! run. Past `max_threads` the pool does not grow for pollers, which are not stuck:
//! what a poller's polls need, still queued 2 ms later, runs on a thread started for
//! it (see [`polled`]). A timed wait due to end within [`BRIEF`] sleeps without
//! handing its place over, as a spin does.
//!
//! `max_threads` bounds the growth while some thread still runs tasks: a waiter then
//! sleeps without a replacement, and the queued tasks wait for a thread to free up.
//! When every thread is blocked and tasks are queued, nothing could ever free one (a
//! program that nests waits that deep: each task waiting for a child that waits …):
//! then, and only then, the pool starts one more thread past `max_threads`, and says
//! so once on stderr, rather than deadlock. Should the system refuse to start a thread
//! (out of processes or address space; said once on stderr too), the waiting tasks
//! run the queued jobs themselves for as long as no thread is left to, what their
//! waits need first, on stacks grown as needed (see [`run_while_refused`]): rule 1
//! past [`MAX_INLINE`], and past "never an unrelated task" when nothing they need is
//! ready, since otherwise nothing would ever run them; a task already asleep in its
//! wait looks for a refusal within a second (see [`sleep_on_worker`]). A timeout (`result_timeout`,
//! `wait(.., Some(t))`) always returns.
//!
//! A rayon worker that waits for a future (a `Delayed` task, say) runs its own pending
//! rayon work meanwhile (what the graphs under it on its stack left to run, which was
//! made before the future it waits for and cannot be waiting for it), [`MAX_HELP`]
//! waits deep at most, on a stack grown as needed (the user's pool may have small
//! stacks), then sleeps. Never another worker's jobs nor one queued from
//! outside the pool: such a job (a graph computed by a task, say) could wait for a
//! future that needs the very graph under the waiter, and neither could return. A
//! graph entered from outside the pool while every worker waits so is run by its
//! caller instead (see `engine::sync::WaitingForFuture`). But while every worker
//! waits, work queued from outside that is not the engine's (a futures task's own
//! `par_iter`) has no one else to run it: a sleeping worker looks for it every
//! `STRANDED_POLL` and runs it (see [`sleep_on_rayon`]); a graph's run queued there
//! declines, for its caller to run. While it sleeps, it counts
//! as holding up one of the awaited future's pool's threads, which starts another
//! (within `max_threads`): it may be running part of a task's own work, a plain
//! `par_iter`, whose worker waits for it in rayon's `join`, a wait the pool cannot
//! see (see [`Pool::lend`]). When no thread is left to run queued jobs, blocked or
//! held up so, the pool starts one past `max_threads` as above: every worker may be
//! in such a `join`. Those counts can still fall short (a sleeping item may hold up
//! several workers: tasks whose `par_iter` items ran nested in its wait), so a rayon
//! worker asleep for a future also looks, every `STRANDED_POLL`, at the job its wait
//! needs (as in step 1): still queued and ready at two looks running, with no worker
//! of the pool asleep, it gets a thread of its own that runs it first (past
//! `max_threads` too, said once; one at a time for each lent thread), and ends after
//! it unless fewer than `threads` run without it (see [`Pool::run_for`]).
//!
//! [`ClientBuilder::max_threads`]: super::ClientBuilder::max_threads

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal, Stealer, Worker};

use smallvec::SmallVec;

use super::blocked::{self, Awaited};
use super::job::{continuation, run_jobs, Runnable, BATCH};
use super::state::{Core, HasCore};
use super::{ClientError, FutureError};
use crate::engine::lock::Recover;
use crate::engine::sync::{sleep_until, spin_rounds, spin_rounds_yielding, yield_gave_away, Spun};
// The engine's primitives (the standard library's; loom's under `cfg(loom)`, where the
// pool is built but never run), so that `sleep_until` serves it too.
use crate::engine::sync::{Condvar, Mutex, MutexGuard};

/// How many jobs deep a waiter runs what its awaited task needs, on its own stack.
pub(crate) const MAX_INLINE: u32 = 16;
/// How many unfinished futures a waiter looks through for a ready job.
pub(crate) const SEARCH: usize = 64;
/// How many waits deep a rayon worker runs other rayon jobs while it waits.
pub(crate) const MAX_HELP: u32 = 32;
/// How long a spare worker (started for a blocked one) stays without work, or parked.
const SPARE_IDLE: Duration = Duration::from_secs(1);
/// How near a wait's deadline is for its sleep to keep the thread's place (see
/// `wait`).
const BRIEF: Duration = Duration::from_millis(2);
/// Rounds of looking for work before a worker sleeps.
const SPIN_ROUNDS: u32 = 64;
/// Of those rounds, one in this many looks at the other workers' queues too: looking
/// at them every round made an idle round several times dearer (a shared lock, lines
/// the owners write), and trivial tasks' graphs slower (`bench_report --compare`,
/// futures: a 31 × 31 wavefront 1.48x, a binary tree of 1,023 1.16x), while they
/// hold work only while their owner runs a task. Before sleeping a worker looks at
/// them all the same (`has_work`).
const STEAL_EVERY: u32 = 16;

thread_local! {
    /// The pool whose worker this thread is.
    static WORKER: RefCell<Option<Arc<Pool>>> = const { RefCell::new(None) };
    /// On a worker: a handle of its own queue, the entries it took from its pool's
    /// queue and has not run yet (see [`Pool::stealers`]), to put them back when it
    /// blocks (the queue itself is `work`'s).
    static LOCAL: RefCell<Option<Stealer<Queued>>> = const { RefCell::new(None) };
    /// Jobs run by waiters on this thread's stack, nested.
    static INLINE: Cell<u32> = const { Cell::new(0) };
    /// Waits on this rayon worker that run other rayon jobs, nested.
    static HELPING: Cell<u32> = const { Cell::new(0) };
    /// Whether this worker has handed its place over (see [`Pool::secede`]).
    static SECEDED: Cell<bool> = const { Cell::new(false) };
    /// The task on this worker that polls a future, since its first poll that missed
    /// (see [`polled`]).
    static POLLING: RefCell<Polling> = const { RefCell::new(Polling::No) };
    /// On a worker: counts of its client's handle that jobs ended here let go of, owed
    /// to the handle (see [`owe`]).
    static OWED: Cell<Option<Owed>> = const { Cell::new(None) };
    /// On a worker: its pool, told when the thread's locals are destroyed (see
    /// [`Exiting`]).
    static EXITING: RefCell<Option<Exiting>> = const { RefCell::new(None) };
}

/// A worker's last thread-local: the first one it sets, so destroyed after those the
/// tasks it ran set, whose `Drop` may still be running the users' code when the
/// worker's loop has ended (thread-locals are destroyed in the reverse order of their
/// first use where the standard library hands their destructors to the C library, as
/// on Linux and macOS). Its own `Drop` tells the pool the thread is gone (see
/// `Counts::alive`).
struct Exiting(Arc<Pool>);

impl Drop for Exiting {
    fn drop(&mut self) {
        let mut counts = self.0.lock();
        counts.alive -= 1;
        if counts.alive == 0 {
            self.0.exited.notify_all();
        }
    }
}

/// How many counts a worker owes before it gives them back at once (see [`owe`]).
const OWED_AT_MOST: usize = 256;

/// Counts of one shared handle a worker let go of and has not given back yet.
#[derive(Clone, Copy)]
struct Owed {
    handle: *const (),
    /// Gives back `n` counts of `handle` (the last one may free it).
    give_back: unsafe fn(handle: *const (), n: usize),
    count: usize,
}

/// On one of `pool`'s workers: takes over one count of `handle`, a shared handle of
/// the pool's client (an `Arc`'s count that its caller then forgets), and gives it
/// back later with the others in one go, through `give_back`: once it owes
/// [`OWED_AT_MOST`], before it sleeps, and when it ends. False on any other thread,
/// where the caller lets go of its count itself.
///
/// Every job holds its client, so a count shared by every submission: taken by the
/// submitting thread for each task and let go of by the worker that drops the ended
/// job, it moved between their cores twice a task (perf, `futures_loop chain`: 15% of
/// the submitting thread's samples on the increment). Owed, it moves once per
/// [`OWED_AT_MOST`] tasks. Owing only delays a release: the handle outlives its last
/// user a little, never the reverse.
pub(super) fn owe(
    pool: &Arc<Pool>,
    handle: *const (),
    give_back: unsafe fn(*const (), usize),
) -> bool {
    let worker = WORKER
        .try_with(|w| w.borrow().as_ref().is_some_and(|p| Arc::ptr_eq(p, pool)))
        .unwrap_or(false);
    if !worker {
        return false;
    }
    // What was owed before goes back first when it is another handle's (a worker
    // serves one client; a job of another dropped here) or reached the bound: the
    // caller still holds its count of `handle` meanwhile, so this never frees it
    // while `pool`, borrowed from it, is in use. (Looked at again after: what that
    // frees may drop jobs, and owe again.)
    loop {
        match OWED.get() {
            Some(owed) if owed.handle == handle && owed.count < OWED_AT_MOST => {
                OWED.set(Some(Owed {
                    count: owed.count + 1,
                    ..owed
                }));
                return true;
            }
            None => {
                OWED.set(Some(Owed {
                    handle,
                    give_back,
                    count: 1,
                }));
                return true;
            }
            Some(_) => settle(),
        }
    }
}

/// Gives back what this thread owes (see [`owe`]).
fn settle() {
    // Taken out first: the last count may free the client, whose drop may end jobs
    // whose drops come back here.
    if let Some(owed) = OWED.take() {
        // SAFETY: `owe` took over `count` counts of `handle`, each an `Arc`'s count its
        // owner forgot; they are given back once, here, and `handle` stays valid until
        // the last of them.
        unsafe { (owed.give_back)(owed.handle, owed.count) };
    }
}

/// What the queue of ready jobs holds: one job, or a batch of jobs made ready together
/// (a `map`'s, see [`Pool::push_batch`]).
enum Queued {
    Job(Arc<dyn Runnable>),
    Batch(Arc<Batch>),
}

/// Jobs made ready together, queued as one entry: whoever takes the entry puts it
/// back at once while jobs are left, then claims jobs one by one, in order, from the
/// shared cursor. So the batch costs one push and one wake-up per taker rather than
/// per job, every idle worker can join in (as rayon's workers share a `par_iter`),
/// and no job waits behind a long or blocked one while another worker is free.
struct Batch {
    /// In the batch's own allocation: one per batch.
    jobs: SmallVec<[Arc<dyn Runnable>; BATCH]>,
    /// The next job to claim (past the end once all are claimed).
    next: AtomicUsize,
}

/// Lets go of a batch's references to its jobs. They may be the last of jobs that
/// ended (tasks forgotten, or whose handles went while the batch held them), whose
/// results' `Drop` may panic: one that unwound out of a worker ended it, leaving the
/// client no thread (its next `result()` waited for ever, its drop for the shutdown
/// timeout). Caught as `run_jobs` catches a job's (the hook has printed it).
fn drop_jobs(jobs: &mut SmallVec<[Arc<dyn Runnable>; BATCH]>) {
    for job in jobs.drain(..) {
        crate::engine::error::discard_panic(move || drop(job));
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        // The last holder, wherever it lets go (see `drop_jobs`).
        drop_jobs(&mut self.jobs);
    }
}

impl Batch {
    /// The next unclaimed job; each is claimed once.
    fn claim(&self) -> Option<&Arc<dyn Runnable>> {
        self.jobs.get(self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// Whether every job has been claimed.
    fn exhausted(&self) -> bool {
        self.next.load(Ordering::Relaxed) >= self.jobs.len()
    }
}

/// How many emptied batches a pool keeps for reuse (see `Pool::spare_batches`):
/// about 17 KiB at most.
const SPARE_BATCHES: usize = 32;

/// What `steal` takes once it no longer has to be retried (another thread took from
/// the same queue meanwhile): the entry, or `None` when the queue is empty.
fn settled<T>(mut steal: impl FnMut() -> Steal<T>) -> Option<T> {
    loop {
        match steal() {
            Steal::Success(taken) => return Some(taken),
            Steal::Empty => return None,
            Steal::Retry => {}
        }
    }
}

/// A value on cache lines of its own: a lock that readers write (`stealers`) shares
/// none with the fields every push and every look for work reads.
#[repr(align(128))]
struct OwnLine<T>(T);

/// A client's threads and its queue of ready jobs.
pub(crate) struct Pool {
    /// Ready jobs of the default priority, in order.
    queue: Injector<Queued>,
    /// The workers' own queues, for idle workers to steal from (`None`: a slot free
    /// for the next worker). A worker takes entries from `queue` about half of it at
    /// a time, so that neighbouring tasks run on one thread: the two leaves of a
    /// fan-in's combine, whose results and counts then stay in that thread's cache
    /// (`futures_loop fan_in_10us`, 2 threads: 1.87x one thread's speed with one
    /// entry taken at a time, 1.94x with batches; the run alone 1.94x and 2.01x). A
    /// worker that blocks in a wait puts its entries back on `queue` first (see
    /// [`Pool::secede`]).
    stealers: OwnLine<std::sync::RwLock<Vec<Option<Stealer<Queued>>>>>,
    /// Ready jobs with another priority: those above the default run before `queue`'s,
    /// those below after it.
    prioritized: Mutex<BinaryHeap<Prioritized>>,
    /// `prioritized`'s length, read without its lock (0 in programs that never set a
    /// priority, which then never take that lock).
    prioritized_len: AtomicUsize,
    /// Orders equal priorities by arrival.
    arrivals: AtomicU64,
    /// Batches run to their end, emptied, for the next `push_batch` to fill (at most
    /// [`SPARE_BATCHES`]): a batch is made by the submitting thread and let go by a
    /// worker, and freed there it would go back to the submitting thread's allocator
    /// arena from another thread, under that arena's lock, which the submitting
    /// thread takes for every task it submits (glibc's `malloc`).
    spare_batches: Mutex<Vec<Arc<Batch>>>,
    /// Workers asleep on `wake` that no push has woken yet: changed under the lock,
    /// read without it by `push`, which takes the lock only when it is not zero. A
    /// push claims one (takes it off, counting it in `Counts::woken`) as it wakes it,
    /// so the pushes that follow while that worker wakes up take no lock.
    sleeping: AtomicUsize,
    /// Threads free to run queued jobs ([`Counts::running`], kept under the lock and
    /// read without it by `push`): none, with tasks queued, is a deadlock in the making.
    running: AtomicUsize,
    /// Whether the pool has grown past `max_threads` (told once).
    past_bound: std::sync::atomic::AtomicBool,
    /// Whether the last thread start failed (the system refused one: out of processes
    /// or address space); cleared by the next that succeeds. While set, waiting tasks
    /// run queued jobs themselves when no thread is left to (see [`run_while_refused`]).
    refused: std::sync::atomic::AtomicBool,
    /// Whether a refused thread start has been told (once).
    told_refused: std::sync::atomic::AtomicBool,
    /// How many threads may be started in all (`usize::MAX`; lower in tests, see
    /// `ClientBuilder::__thread_start_limit`).
    start_limit: usize,
    counts: Mutex<Counts>,
    wake: Condvar,
    /// Where parked workers sleep (see [`Pool::park`]): apart from `wake`, so that a
    /// push never wakes one in place of a sleeping worker.
    unpark: Condvar,
    exited: Condvar,
    /// Threads that run jobs while none is blocked.
    threads: usize,
    /// The most threads, blocked ones included.
    max_threads: usize,
    name: String,
    /// The client's live tasks, which a worker that has run out of work prunes
    /// before it sleeps (see `LiveTasks::prune_if_due`).
    live: OnceLock<Arc<super::client::LiveTasks>>,
}

struct Counts {
    /// Threads started and not yet ended.
    live: usize,
    /// Threads started whose thread-locals have not all been destroyed yet: those
    /// `live`, and those that ended their loop and are still running the `Drop` of
    /// what their tasks left in thread-locals. What the client's drop waits for.
    alive: usize,
    /// Of those, the ones blocked in a wait.
    blocked: usize,
    /// Rayon workers outside the pool asleep for one of its futures, each counted as
    /// holding up one of its threads (see [`Pool::lend`]).
    lent: usize,
    /// Threads ever started, for their names.
    started: usize,
    /// Workers started for rayon threads' waits that are still on the job they were
    /// started for (see [`Pool::run_for`]): at most one for each lent thread.
    proxies: usize,
    /// Wake-ups sent to sleeping workers (each taken off `Pool::sleeping`) that no
    /// worker has woken from yet: a worker that wakes takes one, or else takes itself
    /// off `sleeping` (it woke on its own: a timeout, the pool's close).
    woken: usize,
    /// Workers parked while more than `threads` ran (see [`Pool::park`]), not yet
    /// called back.
    parked: usize,
    /// Parked workers called back to take a blocked one's place (each taken off
    /// `parked`) that none has woken for yet: a parked worker that wakes takes one.
    unparked: usize,
    /// Tasks on workers that keep polling futures, each counted as holding its
    /// thread's place handed over, as a blocked one, within `max_threads` (see
    /// [`polled`]).
    polling: usize,
    closed: bool,
}

impl Counts {
    /// The threads free to run queued jobs: neither blocked in a wait, nor polling, nor
    /// held up by a lent one, nor parked (a parked worker called back counts again at
    /// once).
    fn running(&self) -> usize {
        (self.live).saturating_sub(self.blocked + self.polling + self.lent + self.parked)
    }
}

impl Pool {
    /// Starts `threads` workers.
    pub(crate) fn start(
        name: String,
        threads: usize,
        max_threads: usize,
        start_limit: usize,
    ) -> Result<Arc<Pool>, ClientError> {
        crate::engine::error::keep_backtraces();
        let pool = Arc::new(Pool {
            queue: Injector::new(),
            stealers: OwnLine(std::sync::RwLock::new(Vec::new())),
            prioritized: Mutex::new(BinaryHeap::new()),
            prioritized_len: AtomicUsize::new(0),
            arrivals: AtomicU64::new(0),
            spare_batches: Mutex::new(Vec::new()),
            sleeping: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            past_bound: std::sync::atomic::AtomicBool::new(false),
            refused: std::sync::atomic::AtomicBool::new(false),
            told_refused: std::sync::atomic::AtomicBool::new(false),
            start_limit,
            counts: Mutex::new(Counts {
                live: 0,
                alive: 0,
                blocked: 0,
                lent: 0,
                started: 0,
                woken: 0,
                proxies: 0,
                parked: 0,
                unparked: 0,
                polling: 0,
                closed: false,
            }),
            wake: Condvar::new(),
            unpark: Condvar::new(),
            exited: Condvar::new(),
            threads,
            max_threads: max_threads.max(threads),
            name,
            live: OnceLock::new(),
        });
        let mut counts = pool.counts.lock().recover();
        let mut warnings = Warnings::default();
        for _ in 0..threads {
            if let Err(error) = pool.add_worker(&mut counts, &mut warnings) {
                counts.closed = true;
                pool.wake.notify_all();
                drop(counts);
                warnings.print();
                return Err(ClientError::Spawn(Arc::new(error)));
            }
        }
        drop(counts);
        warnings.print();
        Ok(pool)
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().recover()
    }

    /// Gives the pool its client's live tasks, to prune when out of work (once; not
    /// the client itself, whose last handle, dropped on a worker, would wait for that
    /// worker to end).
    pub(crate) fn prunes(&self, live: Arc<super::client::LiveTasks>) {
        let _ = self.live.set(live);
    }

    /// Wakes a sleeping worker, if any, with no work for it: it finds none, and prunes
    /// the client's live tasks (see `LiveTasks::freed`) before it sleeps again.
    pub(crate) fn nudge(self: &Arc<Self>) {
        if self.sleeping.load(Ordering::Relaxed) > 0 {
            self.wake_sleeping();
        }
    }

    /// Wakes a sleeping worker, if one still sleeps.
    fn wake_sleeping(&self) {
        let mut counts = self.lock();
        // Claimed under the lock, where sleepers count themselves in and out.
        if self.sleeping.load(Ordering::Relaxed) > 0 {
            self.sleeping.fetch_sub(1, Ordering::Relaxed);
            counts.woken += 1;
            self.wake.notify_one();
        }
    }

    /// Has the client's idle workers prune a finished task's long list of dependents
    /// (see `LiveTasks::watch`).
    pub(crate) fn watch(&self, task: std::sync::Weak<dyn super::state::HasCore>) {
        if let Some(live) = self.live.get() {
            live.watch(task);
        }
    }

    /// Starts one more worker. A start the system refuses is remembered (see
    /// [`refused`](Self::refused)) and, the first time, added to `warnings`.
    fn add_worker(
        self: &Arc<Self>,
        counts: &mut Counts,
        warnings: &mut Warnings,
    ) -> std::io::Result<()> {
        self.add_worker_for(counts, warnings, None)
    }

    /// [`add_worker`](Self::add_worker), whose worker runs `first` before anything
    /// else, and then ends if more than `threads` run (see [`Pool::run_for`]).
    fn add_worker_for(
        self: &Arc<Self>,
        counts: &mut Counts,
        warnings: &mut Warnings,
        first: Option<(Arc<dyn Runnable>, Waiter)>,
    ) -> std::io::Result<()> {
        let pool = self.clone();
        let started = if counts.started >= self.start_limit {
            Err(std::io::Error::other("thread start limit reached (test)"))
        } else {
            std::thread::Builder::new()
                .name(format!("{}-{}", self.name, counts.started))
                .spawn(move || pool.work(first))
                .map(drop)
        };
        if let Err(error) = started {
            self.refused.store(true, Ordering::SeqCst);
            if !self.told_refused.swap(true, Ordering::Relaxed) {
                warnings.0.push(format!(
                    "taskweave: client `{}` could not start a thread ({error}; {} running \
                     or blocked); while none is left to run its queued tasks, the tasks \
                     that wait run them themselves",
                    self.name, counts.live
                ));
            }
            return Err(error);
        }
        self.refused.store(false, Ordering::SeqCst);
        counts.live += 1;
        counts.alive += 1;
        counts.started += 1;
        self.count_running(counts);
        Ok(())
    }

    /// Whether the last thread start was refused and every thread is blocked while
    /// jobs are queued: no one would run them (see [`run_while_refused`]).
    fn stalled_refused(&self) -> bool {
        self.refused.load(Ordering::SeqCst) && self.stalled(&self.lock())
    }

    /// Whether jobs are queued and no thread will take them: none runs, none is asleep
    /// or woken to (under the lock).
    fn stalled(&self, counts: &Counts) -> bool {
        // A worker asleep or woken will take the job (lent threads may hold up none of
        // the pool's: a `par_iter` on `main` waiting for futures).
        let awake_soon = counts.woken > 0 || self.sleeping.load(Ordering::SeqCst) > 0;
        !counts.closed && counts.running() == 0 && !awake_soon && self.has_work()
    }

    /// One queued job, taken out of the queues (a batch's next, the batch put back
    /// while jobs are left in it), for a waiter to run when no thread is left to.
    fn take_one(self: &Arc<Self>) -> Option<Arc<dyn Runnable>> {
        loop {
            match self.steal()? {
                Queued::Job(job) => return Some(job),
                Queued::Batch(batch) => {
                    let Some(job) = batch.claim().cloned() else {
                        self.recycle(batch);
                        continue;
                    };
                    if !batch.exhausted() {
                        self.queue.push(Queued::Batch(batch));
                    }
                    return Some(job);
                }
            }
        }
    }

    /// Updates `running` after `live`, `blocked` or `lent` changed (under the lock).
    fn count_running(&self, counts: &Counts) {
        self.running.store(counts.running(), Ordering::SeqCst);
    }

    /// With every worker blocked, or held up by a rayon thread asleep for one of the
    /// pool's futures (see [`Pool::lend`]), and a task queued, no thread would ever
    /// run it: starts one more, past `max_threads` if need be (under the lock). Lent
    /// threads count as holding up threads of the pool, so past the bound the pool
    /// grows by at most one thread for each of them and each blocked one; not for
    /// threads that only poll (see [`polled`]).
    /// The warning that the pool went past its bound, the first time, is added to
    /// `warnings`, printed by the caller once it has let go of the lock.
    fn unless_stalled(self: &Arc<Self>, counts: &mut Counts, warnings: &mut Warnings) {
        if !self.stalled(counts) {
            return;
        }
        if counts.parked > 0 {
            return self.unpark_one(counts);
        }
        if counts.blocked + counts.lent == 0 && counts.live >= self.max_threads {
            // Every thread polls: none is stuck, and a poller whose needs stay queued
            // gets a thread for them (see `polled`). A thread started for the queue
            // took the next task, which polled in turn: tasks that polled and then
            // worked had the pool grow by one each (151 at once on two threads).
            return;
        }
        if self.first_past_bound(counts) {
            warnings.0.push(format!(
                "taskweave: all {} threads of client `{}` are blocked (waiting for \
                 futures, in `secede`, or held up by rayon threads that wait for futures) \
                 while tasks are queued; starting more past its max_threads ({}) rather \
                 than deadlock (raise ClientBuilder::max_threads, or block less inside \
                 tasks)",
                counts.live, self.name, self.max_threads
            ));
        }
        // A refused thread leaves the deadlock in place; nothing better can be done.
        let _ = self.add_worker(counts, warnings);
    }

    /// A rayon thread asleep for a future found `job`, which the future needed at its
    /// look before, still queued and ready [`STRANDED_POLL`] later: no thread of the
    /// pool took it meanwhile (see [`look_again`]). Starts a worker that runs it first (past `max_threads` if need
    /// be, saying so once), unless one is asleep (woken, it takes it). The pool cannot
    /// tell threads held up in rayon's `join` from running ones (a task's `par_iter`
    /// whose items wait for futures, see [`Pool::lend`]): every one of its threads may
    /// be a task waiting so for this very waiter, and then no other would ever run
    /// `job`. The worker ends after it unless fewer than `threads` run without it.
    /// At most one such worker for each lent thread at a time: with the pool's threads
    /// merely busy, a rayon thread waiting for the last of a `map`'s tasks had one
    /// started every two looks, each on a task of 200 ms, 47 tasks running at once on
    /// a client of two threads.
    /// A task polling past `max_threads` gets such a worker too (see [`polled`]), one
    /// at a time for each, which ends after the job while the pool is past its bound.
    fn run_for(self: &Arc<Self>, job: Arc<dyn Runnable>, waiter: Waiter) {
        let mut counts = self.lock();
        let waiters = counts.lent + counts.polling;
        if counts.closed || !job.is_ready() || counts.proxies >= waiters {
            return;
        }
        if matches!(waiter, Waiter::Poller(_)) && counts.live < self.max_threads {
            // Below the bound a poller's place has a replacement already (`polled`).
            return;
        }
        if self.sleeping.load(Ordering::SeqCst) > 0 || counts.woken > 0 {
            drop(counts);
            return self.wake_sleeping();
        }
        let mut warnings = Warnings::default();
        if self.first_past_bound(&counts) {
            warnings.0.push(match waiter {
                Waiter::Rayon => format!(
                    "taskweave: a task of client `{}` waited on a rayon thread with none \
                     of its {} threads free to run what it waits for (they may be held up \
                     in rayon by that very wait); starting one past its max_threads ({}) \
                     to run it rather than deadlock (raise ClientBuilder::max_threads, or \
                     wait less in rayon's threads)",
                    self.name, counts.live, self.max_threads
                ),
                Waiter::Poller(_) => format!(
                    "taskweave: tasks of client `{}` poll (waits with a timeout that end \
                     without the result) on all of its {} threads while what they poll \
                     for stays queued; starting one past its max_threads ({}) to run it \
                     (raise ClientBuilder::max_threads, or wait without a timeout: such \
                     a wait runs what it waits for)",
                    self.name, counts.live, self.max_threads
                ),
            });
        }
        // A refused thread leaves the waiter asleep; it looks again.
        if self
            .add_worker_for(&mut counts, &mut warnings, Some((job, waiter)))
            .is_ok()
        {
            counts.proxies += 1;
        }
        drop(counts);
        warnings.print();
    }

    /// After the job a worker was started for (see [`Pool::run_for`]): whether it goes
    /// on as one of the pool's workers, fewer than `threads` running without it and
    /// none parked; otherwise it ends (its count taken), a parked worker called back
    /// in its place if fewer than `threads` run without it (one parked because of it:
    /// else, with a rayon thread waiting for a `map`'s last task, each worker started
    /// for it stayed and another parked, a second each).
    /// One started for a poller ends too while the pool is past `max_threads`: pollers
    /// count as running past it (see `unless_stalled`).
    fn stays_after_run_for(&self, waiter: &Waiter) -> bool {
        let mut counts = self.lock();
        counts.proxies -= 1;
        // Parked workers do not count: one parked because of this one is called back.
        let past_bound = counts.live - counts.parked > self.max_threads;
        let needed = counts.running() <= self.threads
            && !(matches!(waiter, Waiter::Poller(_)) && past_bound);
        if needed && counts.parked == 0 {
            return true;
        }
        if needed && !counts.closed {
            self.unpark_one(&mut counts);
        }
        self.end(counts);
        false
    }

    /// Whether a thread started now goes past `max_threads` for the first time, to be
    /// told once (under the lock).
    fn first_past_bound(&self, counts: &Counts) -> bool {
        counts.live >= self.max_threads && !self.past_bound.swap(true, Ordering::Relaxed)
    }

    /// Queues a ready job and wakes a sleeping worker, if any.
    pub(crate) fn push(self: &Arc<Self>, job: Arc<dyn Runnable>) {
        match job.priority() {
            0 => self.queue.push(Queued::Job(job)),
            priority => {
                let arrival = self.arrivals.fetch_add(1, Ordering::Relaxed);
                let mut heap = self.prioritized.lock().recover();
                heap.push(Prioritized {
                    priority,
                    arrival: Reverse(arrival),
                    job,
                });
                self.prioritized_len.store(heap.len(), Ordering::SeqCst);
            }
        }
        self.wake_one();
    }

    /// Queues ready jobs of the default priority made ready together (a `map`'s), in
    /// order, as one entry of the queue: one push and one wake-up for all of them.
    pub(crate) fn push_batch(self: &Arc<Self>, jobs: &mut Vec<Arc<dyn Runnable>>) {
        match jobs.len() {
            0 => return,
            1 => {
                let job = jobs.pop().expect("one job");
                return self.push(job);
            }
            _ => {}
        }
        debug_assert!(jobs.iter().all(|job| job.priority() == 0));
        let spare = self.spare_batches.lock().recover().pop();
        let batch = match spare {
            Some(mut batch) => {
                let empty = Arc::get_mut(&mut batch).expect("a spare batch is held once");
                empty.jobs.extend(jobs.drain(..));
                batch
            }
            None => Arc::new(Batch {
                jobs: jobs.drain(..).collect(),
                next: AtomicUsize::new(0),
            }),
        };
        self.queue.push(Queued::Batch(batch));
        self.wake_one();
    }

    /// Keeps `batch`, run to its end, for a later `push_batch`, if no one else holds
    /// it (the last worker done with it) and fewer than [`SPARE_BATCHES`] are kept.
    fn recycle(&self, mut batch: Arc<Batch>) {
        let Some(done) = Arc::get_mut(&mut batch) else {
            return;
        };
        drop_jobs(&mut done.jobs);
        *done.next.get_mut() = 0;
        let mut spare = self.spare_batches.lock().recover();
        if spare.len() < SPARE_BATCHES {
            spare.push(batch);
        }
    }

    /// Wakes a sleeping worker, if any, after a push (or, with every worker blocked in
    /// a wait, starts one).
    fn wake_one(self: &Arc<Self>) {
        // Pairs with the fences in `next` and `secede`: either this sees the sleeper
        // (or that no worker runs), or they see the job.
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) > 0 {
            self.wake_sleeping();
        } else if self.running.load(Ordering::Relaxed) == 0 {
            let mut warnings = Warnings::default();
            self.unless_stalled(&mut self.lock(), &mut warnings);
            warnings.print();
        }
    }

    /// On a worker, whose own queue is `local`: the next ready job (or run of jobs),
    /// of a priority above the default, else of the default (its own queue's first,
    /// else a batch of the pool's queue, else, if `others`, a batch of another
    /// worker's), else, if `others`, of one below.
    fn find(self: &Arc<Self>, local: &Worker<Queued>, others: bool) -> Option<Queued> {
        if let Some(job) = self.take_prioritized(|priority| priority > 0) {
            return Some(Queued::Job(job));
        }
        if let Some(queued) = local.pop() {
            return Some(queued);
        }
        let taken = loop {
            match self.queue.steal_batch_and_pop(local) {
                Steal::Success(queued) => break Some(queued),
                Steal::Empty if others => break self.steal_from_workers(local),
                Steal::Empty => break None,
                Steal::Retry => {}
            }
        };
        let Some(queued) = taken else {
            // Below the default only once every queue of the default was looked at.
            return others
                .then(|| self.take_prioritized(|_| true).map(Queued::Job))
                .flatten();
        };
        if !local.is_empty() {
            // Entries only this thread would see: a sleeping worker wakes to share.
            self.wake_one();
        }
        Some(queued)
    }

    /// A batch of another worker's queue, moved to `local`, and its first entry.
    fn steal_from_workers(&self, local: &Worker<Queued>) -> Option<Queued> {
        let stealers = self.stealers.0.read().recover();
        loop {
            let mut retry = false;
            for stealer in stealers.iter().flatten() {
                match stealer.steal_batch_and_pop(local) {
                    Steal::Success(queued) => return Some(queued),
                    Steal::Empty => {}
                    Steal::Retry => retry = true,
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// The calling worker's own queue, registered for the others to steal from: its
    /// slot in `stealers`.
    fn register_local(&self, local: &Worker<Queued>) -> usize {
        let mut stealers = self.stealers.0.write().recover();
        let stealer = Some(local.stealer());
        match stealers.iter().position(Option::is_none) {
            Some(slot) => {
                stealers[slot] = stealer;
                slot
            }
            None => {
                stealers.push(stealer);
                stealers.len() - 1
            }
        }
    }

    /// The calling worker's own entries back on the pool's queue: it blocks, and
    /// they must not wait for it (though idle workers may steal them, sleeping ones
    /// wake only for the pool's queue).
    fn flush_local(self: &Arc<Self>) {
        let flushed = LOCAL.with(|local| {
            let local = local.borrow();
            let Some(local) = local.as_ref() else {
                return false;
            };
            let mut any = false;
            while let Some(queued) = settled(|| local.steal()) {
                self.queue.push(queued);
                any = true;
            }
            any
        });
        if flushed {
            self.wake_one();
        }
    }

    /// The next ready job (or run of jobs) of the pool's queues, for a thread that is
    /// not a worker: of a priority above the default, else of the default (the
    /// pool's queue, else the workers'), else of one below.
    fn steal(&self) -> Option<Queued> {
        if let Some(job) = self.take_prioritized(|priority| priority > 0) {
            return Some(Queued::Job(job));
        }
        if let Some(queued) = settled(|| self.queue.steal()) {
            return Some(queued);
        }
        let from_workers = {
            let stealers = self.stealers.0.read().recover();
            (stealers.iter().flatten()).find_map(|stealer| settled(|| stealer.steal()))
        };
        from_workers.or_else(|| self.take_prioritized(|_| true).map(Queued::Job))
    }

    /// The job of the highest priority, if `wanted(its priority)`.
    fn take_prioritized(&self, wanted: impl Fn(i32) -> bool) -> Option<Arc<dyn Runnable>> {
        if self.prioritized_len.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let mut heap = self.prioritized.lock().recover();
        if !wanted(heap.peek()?.priority) {
            return None;
        }
        let job = heap.pop().map(|p| p.job);
        self.prioritized_len.store(heap.len(), Ordering::SeqCst);
        job
    }

    /// Whether a ready job is queued, in the pool's queue or a worker's.
    fn has_work(&self) -> bool {
        !self.queue.is_empty()
            || self.prioritized_len.load(Ordering::SeqCst) > 0
            || (self.stealers.0.read().recover().iter())
                .flatten()
                .any(|stealer| !stealer.is_empty())
    }

    /// A worker's life: run jobs until the pool closes (and its queue is drained) or
    /// this worker is a spare with nothing to do.
    /// `first`: a job to run before anything else, for a waiter no thread of the pool
    /// was free for (see [`Pool::run_for`]); the worker then ends unless fewer than
    /// `threads` run without it.
    fn work(self: Arc<Self>, first: Option<(Arc<dyn Runnable>, Waiter)>) {
        EXITING.with(|e| *e.borrow_mut() = Some(Exiting(self.clone())));
        WORKER.with(|w| *w.borrow_mut() = Some(self.clone()));
        // A task's compute of a graph sleeps without holding this thread's place.
        crate::engine::sync::set_blocking(Some(|wait| blocking(wait)));
        let local = Worker::new_fifo();
        let slot = self.register_local(&local);
        LOCAL.with(|l| *l.borrow_mut() = Some(local.stealer()));
        let stays = first.is_none_or(|(job, waiter)| {
            run_jobs(&self, job);
            if let Waiter::Poller(Some(seen)) = &waiter {
                // In the place of a task that still polls (see `Seen`).
                while seen.polls() {
                    let Some(job) = self.take_one() else {
                        break;
                    };
                    run_jobs(&self, job);
                }
            }
            self.stays_after_run_for(&waiter)
        });
        while let Some(queued) = stays.then(|| self.next(&local)).flatten() {
            match queued {
                Queued::Job(job) => run_jobs(&self, job),
                Queued::Batch(batch) => self.run_batch(batch),
            }
        }
        settle();
        // Empty: `next` found nothing in it before ending, and only this thread fills it.
        self.stealers.0.write().recover()[slot] = None;
        LOCAL.with(|l| *l.borrow_mut() = None);
        crate::engine::sync::set_blocking(None);
        WORKER.with(|w| *w.borrow_mut() = None);
    }

    /// Runs jobs of `batch`, taken from the queue, until none is left to claim; puts
    /// the batch back first, for other workers to join in, while any is.
    fn run_batch(self: &Arc<Self>, batch: Arc<Batch>) {
        let Some(first) = batch.claim() else {
            // The copy put back while jobs were left: often the batch's last holder.
            return self.recycle(batch);
        };
        let first = first.clone();
        if !batch.exhausted() {
            self.queue.push(Queued::Batch(batch.clone()));
            self.wake_one();
        }
        run_jobs(self, first);
        while !self.surplus() {
            let Some(job) = batch.claim() else {
                return self.recycle(batch);
            };
            run_jobs(self, job.clone());
        }
        // This worker is to park: the rest of the batch goes back to the queue.
        if !batch.exhausted() {
            self.queue.push(Queued::Batch(batch));
            self.wake_one();
        }
    }

    /// The next job (from `local`, this worker's own queue, first), or `None` when
    /// this worker must end (its count already taken).
    fn next(self: &Arc<Self>, local: &Worker<Queued>) -> Option<Queued> {
        // Woken by the pool's close: straight to the check, not through the rounds of
        // looking (thousands of workers doing both at once made a drop take seconds).
        let mut closing = false;
        // Once the pool closed, no worker parks: they drain the queue and end.
        let mut draining = false;
        'look: loop {
            // A blocked worker is back: one too many runs, and parks before a job.
            if !draining && !closing && self.surplus() {
                match self.park() {
                    Parked::Back => {}
                    Parked::Closed => draining = true,
                    Parked::Ended => return None,
                }
            }
            let rounds = if std::mem::take(&mut closing) {
                0
            } else {
                SPIN_ROUNDS
            };
            for round in 0..rounds {
                if !draining && self.surplus() {
                    continue 'look;
                }
                if let Some(queued) = self.find(local, round % STEAL_EVERY == STEAL_EVERY - 1) {
                    return Some(queued);
                }
                if round % 16 == 15 {
                    // On a busy machine each yield waits a time slice: sleep instead
                    // (a push wakes a sleeper; see `yield_gave_away`).
                    if crate::engine::sync::yield_gave_away() {
                        break;
                    }
                } else {
                    std::hint::spin_loop();
                }
            }
            if let Some(live) = self.live.get() {
                live.prune_if_due();
            }
            // Nothing owed while asleep (the client may be about to go).
            settle();
            let counts = self.lock();
            if counts.closed && !self.has_work() {
                return self.end(counts);
            }
            self.sleeping.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if self.has_work() || counts.closed {
                self.sleeping.fetch_sub(1, Ordering::Relaxed);
                continue;
            }
            // A timed sleep, so that a spare worker (more than `threads` run while none
            // is blocked) ends after a while without work. One that is not spare when
            // the time is up sleeps on, still counted asleep: idle workers cost
            // nothing (each looked for work every second: 2,000 idle workers took 6.6 s
            // of CPU in 5 s).
            let mut counts = counts;
            let (timed_out, spare) = loop {
                let (woken, timeout) = self.wake.wait_timeout(counts, SPARE_IDLE).recover();
                counts = woken;
                let spare = counts.running() > self.threads;
                if counts.woken > 0 || counts.closed || !timeout.timed_out() || spare {
                    break (timeout.timed_out(), spare);
                }
            };
            if counts.woken > 0 {
                counts.woken -= 1;
            } else {
                self.sleeping.fetch_sub(1, Ordering::Relaxed);
            }
            closing = counts.closed;
            if timed_out && spare && !self.has_work() {
                return self.end(counts);
            }
        }
    }

    fn end(&self, mut counts: MutexGuard<'_, Counts>) -> Option<Queued> {
        counts.live -= 1;
        self.count_running(&counts);
        None
    }

    /// Takes every queued job out (for the client's shutdown, which cancels those
    /// that have not started). Workers may take some meanwhile: each job is taken once.
    pub(crate) fn take_queued(&self) -> Vec<Arc<dyn Runnable>> {
        let mut jobs = Vec::new();
        while let Some(queued) = self.steal() {
            match queued {
                Queued::Job(job) => jobs.push(job),
                Queued::Batch(batch) => {
                    // Every job of it: those not claimed yet, claimed here (no worker
                    // takes them then), and those claimed already (cancelling one
                    // that has started does nothing), whose references the batch may
                    // hold last: let go of by the caller, which passes on the panic
                    // of a result's `Drop` once the shutdown is done.
                    while batch.claim().is_some() {}
                    jobs.extend(batch.jobs.iter().cloned());
                }
            }
        }
        jobs
    }

    /// No more jobs will come: workers end once the queue is empty.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_all();
        self.unpark.notify_all();
    }

    /// A thread stopped running jobs (blocked in a wait, or held up by a lent one): if
    /// fewer than `threads` are left to, another takes its place, a parked worker
    /// first, else a new one within `max_threads` (a start the system refuses leaves
    /// the wait to go on: the thread was refused, not lost); past it, one starts only
    /// when none is left at all while jobs are queued (see `unless_stalled`). Under
    /// the lock; warnings to print once it is let go.
    fn replace(self: &Arc<Self>, counts: &mut Counts, warnings: &mut Warnings) {
        if !counts.closed && counts.running() < self.threads {
            if counts.parked > 0 {
                return self.unpark_one(counts);
            }
            if counts.live < self.max_threads {
                let _ = self.add_worker(counts, warnings);
                return;
            }
        }
        self.unless_stalled(counts, warnings);
    }

    /// Calls a parked worker back (under the lock): it counts as running from now.
    fn unpark_one(&self, counts: &mut Counts) {
        counts.parked -= 1;
        counts.unparked += 1;
        self.count_running(counts);
        self.unpark.notify_one();
    }

    /// Whether more than `threads` workers run jobs: a blocked one is back (Dask's
    /// `rejoin`), and the next worker between two jobs parks (a hint, read without
    /// the lock; [`park`](Self::park) looks again under it).
    pub(super) fn surplus(&self) -> bool {
        self.running.load(Ordering::Relaxed) > self.threads
    }

    /// Between two jobs, while more than `threads` workers run: this one parks, so
    /// that `threads` run again (a task whose wait ended goes on at once, where Dask's
    /// `rejoin` waits for a place; the worker after it steps aside instead), until a
    /// blocked thread's place needs it ([`replace`](Self::replace)) or for a second
    /// (then it ends), or the pool closes. Its own queue goes to the pool's first,
    /// and a sleeping worker is woken if jobs are queued: it may have been woken
    /// itself to take them.
    fn park(self: &Arc<Self>) -> Parked {
        let mut counts = self.lock();
        if counts.closed {
            return Parked::Closed;
        }
        if counts.running() <= self.threads {
            return Parked::Back;
        }
        counts.parked += 1;
        self.count_running(&counts);
        drop(counts);
        self.flush_local();
        if self.has_work() {
            self.wake_one();
        }
        let mut counts = self.lock();
        loop {
            if counts.unparked > 0 {
                counts.unparked -= 1;
                return Parked::Back;
            }
            if counts.closed {
                counts.parked -= 1;
                self.count_running(&counts);
                return Parked::Closed;
            }
            let (woken, timeout) = self.unpark.wait_timeout(counts, SPARE_IDLE).recover();
            counts = woken;
            if timeout.timed_out() && counts.unparked == 0 && !counts.closed {
                counts.parked -= 1;
                if counts.running() <= self.threads {
                    // Needed after all (a thread left without calling it back): had
                    // it ended, a pool could be left with no thread and jobs queued.
                    self.count_running(&counts);
                    return Parked::Back;
                }
                self.end(counts);
                return Parked::Ended;
            }
        }
    }

    /// Waits until every worker has ended, the `Drop` of its thread-locals included, or
    /// the deadline passed (`None`: no deadline).
    pub(crate) fn wait_exited(&self, deadline: Option<Instant>) {
        let _ = sleep_until(
            &self.exited,
            self.lock(),
            |counts| counts.alive == 0,
            deadline,
        );
    }

    /// Whether the calling thread is one of this pool's workers (not while its
    /// thread-locals are being destroyed: a `Client` kept in one is dropped then, and
    /// a worker's have been cleared before that).
    pub(crate) fn is_current(self: &Arc<Self>) -> bool {
        WORKER
            .try_with(|w| w.borrow().as_ref().is_some_and(|p| Arc::ptr_eq(p, self)))
            .unwrap_or(false)
    }

    /// Whether the calling thread is one of this pool's workers whose loop has ended,
    /// its thread-locals being destroyed (a client kept in one dropped there): it
    /// cannot wait for itself to be gone (see [`Exiting`]).
    pub(crate) fn is_exiting_here(self: &Arc<Self>) -> bool {
        EXITING
            .try_with(|e| {
                let e = e.try_borrow().ok()?;
                Some(Arc::ptr_eq(&e.as_ref()?.0, self))
            })
            .ok()
            .flatten()
            .unwrap_or(false)
    }

    /// A rayon worker outside the pool sleeps for one of its futures until the guard
    /// drops. It may be running part of a task's own work (a plain `par_iter` inside
    /// the task), whose worker then waits for it in rayon's `join`, holding its place
    /// without counting as blocked (that wait is not the pool's to see): the sleeper
    /// counts as one more thread held up, and a replacement starts if too few are
    /// left, within `max_threads`, as for a worker that secedes. Otherwise the jobs it
    /// waits for could stay queued behind that worker for ever (a task on a one-thread
    /// client whose `par_iter` items submit to it and wait). At `max_threads`, when no
    /// thread is left to run queued jobs, one more starts anyway, as for blocked
    /// workers (see `unless_stalled`): every thread may be such a task's, in `join`.
    fn lend(self: &Arc<Self>) -> Lent {
        let mut counts = self.lock();
        counts.lent += 1;
        self.held_up(counts);
        Lent(self.clone())
    }

    /// A thread stopped running jobs (`counts`, locked, say so): a replacement takes
    /// its place if too few are left (see [`replace`](Self::replace)); then the lock
    /// is let go and the warnings printed.
    fn held_up(self: &Arc<Self>, mut counts: MutexGuard<'_, Counts>) {
        self.count_running(&counts);
        // Pairs with the fence in `wake_one`: either this sees the job, or the push
        // sees no thread running and looks for a stall itself.
        fence(Ordering::SeqCst);
        let mut warnings = Warnings::default();
        self.replace(&mut counts, &mut warnings);
        drop(counts);
        warnings.print();
    }

    /// A task on the calling worker polls (see [`polled`]): its thread stops counting
    /// as one of the pool's until it stops; a replacement starts if too few are left,
    /// within `max_threads`.
    fn hand_over_polling(self: &Arc<Self>) {
        self.flush_local();
        let mut counts = self.lock();
        counts.polling += 1;
        self.held_up(counts);
    }

    /// The calling worker stops counting as one of the pool's threads until the guard
    /// drops; a replacement starts if too few are left. A worker already seceded gets
    /// a guard that changes nothing; a polling task's place, handed over already, is
    /// counted as blocked instead (see [`polled`]).
    fn secede(self: &Arc<Self>) -> Seceded {
        self.flush_local();
        if SECEDED.replace(true) {
            return Seceded(None);
        }
        // A polling task that now blocks (a wait that sleeps longer than `BRIEF`,
        // `Client::secede`, a graph's compute): counted as blocked instead, in one go.
        let polled = take_polling(false);
        let mut counts = self.lock();
        if let Some(pool) = polled {
            debug_assert!(Arc::ptr_eq(&pool, self), "a worker polls for its own pool");
            counts.polling -= 1;
        }
        counts.blocked += 1;
        self.held_up(counts);
        Seceded(Some(self.clone()))
    }
}

/// Warnings made under the pool's lock, printed once it is let go: a warning handler
/// (`on_warning`) may submit to the client, which can take the lock, or panic.
#[derive(Default)]
#[must_use = "print them once the pool's lock is let go"]
struct Warnings(Vec<String>);

impl Warnings {
    /// Prints the warnings, unless warnings are off. Asked here, with the pool's lock let
    /// go, not where they are made: the first ask reads `TASKWEAVE_WARNINGS`, whose
    /// warning about an unknown value goes to the user's `on_warning` handler, which
    /// may use this very pool (and, under the lock, waited for it for ever).
    fn print(self) {
        if self.0.is_empty() || !crate::engine::warn::enabled() {
            return;
        }
        for warning in self.0 {
            crate::engine::warn::print(&warning);
        }
    }
}

/// Whom a worker started by [`Pool::run_for`] runs its first job for.
enum Waiter {
    /// A rayon thread asleep for a future (see [`Pool::lend`]).
    Rayon,
    /// A task polling on a worker past `max_threads` (see [`polled`]): while it goes
    /// on polling (`Some`: its place handed over), the worker runs queued jobs in its
    /// place.
    Poller(Option<Arc<Seen>>),
}

/// When a task whose place is handed over for polling last polled (see [`polled`]),
/// for the worker started for what its polls need: that worker goes on running
/// queued jobs in its place while it polls, and ends once it has not for
/// [`STRANDED_POLL`] (it works, or its place is back). One job per look had a task
/// polling 50 queued tasks on a client of one thread wait 4 ms for each.
struct Seen {
    since: Instant,
    /// Nanoseconds from `since` to its last poll; `u64::MAX` once its place is back.
    last: AtomicU64,
}

impl Seen {
    /// Polled just now.
    fn new() -> Arc<Self> {
        Arc::new(Seen {
            since: Instant::now(),
            last: AtomicU64::new(0),
        })
    }

    fn polled(&self) {
        let now = u64::try_from(self.since.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        self.last.store(now, Ordering::Relaxed);
    }

    fn stopped(&self) {
        self.last.store(u64::MAX, Ordering::Relaxed);
    }

    /// Whether the task polled within the last [`STRANDED_POLL`].
    fn polls(&self) -> bool {
        let last = self.last.load(Ordering::Relaxed);
        let now = u64::try_from(self.since.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        last != u64::MAX && now.saturating_sub(last) < STRANDED_POLL.as_nanos() as u64
    }
}

/// How a worker's [`Pool::park`] ended.
enum Parked {
    /// It runs jobs again: called back, or not one too many after all.
    Back,
    /// The pool closed: it drains the queue with the others, and parks no more.
    Closed,
    /// A second parked without a call: it ended (its count taken).
    Ended,
}

/// A rayon worker outside the pool asleep for one of its futures; no longer counted
/// so once dropped (see [`Pool::lend`]).
struct Lent(Arc<Pool>);

impl Drop for Lent {
    fn drop(&mut self) {
        let mut counts = self.0.lock();
        counts.lent -= 1;
        self.0.count_running(&counts);
    }
}

/// A ready job with a priority other than the default.
struct Prioritized {
    priority: i32,
    /// Earlier arrivals first among equal priorities (a max-heap: reversed).
    arrival: Reverse<u64>,
    job: Arc<dyn Runnable>,
}

impl PartialEq for Prioritized {
    fn eq(&self, other: &Self) -> bool {
        (self.priority, self.arrival) == (other.priority, other.arrival)
    }
}

impl Eq for Prioritized {}

impl PartialOrd for Prioritized {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Prioritized {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.priority, self.arrival).cmp(&(other.priority, other.arrival))
    }
}

/// A worker blocked in a wait; counts as one of the pool's threads again once dropped
/// (`None`: it had seceded already, and the outer guard does that).
struct Seceded(Option<Arc<Pool>>);

impl Drop for Seceded {
    fn drop(&mut self) {
        if let Some(pool) = &self.0 {
            let mut counts = pool.lock();
            counts.blocked -= 1;
            pool.count_running(&counts);
            SECEDED.set(false);
        }
    }
}

/// Where the task on a worker stands with polling (see [`polled`]).
enum Polling {
    /// It has not polled, or a wait of it ended done since.
    No,
    /// One poll missed, or it polled and a wait of it ended done since: its place is
    /// its own. `needed`: as in `HandedOver`, kept for its next poll.
    Missed { needed: Option<Needed> },
    /// It polled again: its place is handed over (counted in `Counts::polling`) until
    /// it stops polling.
    HandedOver {
        pool: Arc<Pool>,
        /// What its polls needed at the last look: still queued [`STRANDED_POLL`]
        /// later, it gets a thread.
        needed: Option<Needed>,
        /// When it last polled, for that thread.
        seen: Arc<Seen>,
    },
}

/// A wait of the task on this worker of `pool`, for `awaited`, ran out of time (before
/// it slept, or asleep), with jobs queued: the task polls. Tasks that poll their queued children
/// in loops would hold every thread, and the children never run; so from its second
/// poll on, the task hands its thread's place over as a sleeping waiter does (a parked
/// or new thread takes it, within `max_threads`), until a wait of it ends done, it
/// blocks, or it ends. Not at the first: a task that looks once and then works had
/// the pool start a thread for nothing, each such task one more. Past `max_threads`
/// the pool does not grow for pollers (`unless_stalled`): they are not stuck, and
/// one may poll and then work, whose replacement took the next task, which polled in
/// turn … Instead, a job its polls needed at a look (see [`needed_ready`]), still
/// queued and ready [`STRANDED_POLL`] later (no thread of the pool took it
/// meanwhile), runs on a thread started for it, one at a time for each poller, that
/// ends after it while the pool is past `max_threads` (see [`look_again`]). A thread busy with a
/// long task is not free: a poller waiting for it to take its child ran one task at
/// a time on a client of two threads.
/// Returns whether its place is handed over.
fn polled(pool: &Arc<Pool>, awaited: &Awaited<'_>) -> bool {
    if SECEDED.get() {
        // Its place is handed over already (a poll inside `Client::secede`).
        return true;
    }
    // Taken out while the pool is called: a warning's handler may poll in turn.
    let polling = POLLING.with(|p| std::mem::replace(&mut *p.borrow_mut(), Polling::No));
    let polling = match polling {
        Polling::No => Polling::Missed { needed: None },
        // Its place, when jobs of its pool are queued: what it polls may be another
        // pool's (its look asks that pool for a thread).
        Polling::Missed { needed } if pool.has_work() => {
            pool.hand_over_polling();
            let seen = Seen::new();
            Polling::HandedOver {
                pool: pool.clone(),
                needed: look_again(awaited, needed, || Waiter::Poller(Some(seen.clone()))),
                seen,
            }
        }
        Polling::Missed { needed } => Polling::Missed {
            needed: look_again(awaited, needed, || Waiter::Poller(None)),
        },
        Polling::HandedOver { pool, needed, seen } => {
            seen.polled();
            Polling::HandedOver {
                pool,
                needed: look_again(awaited, needed, || Waiter::Poller(Some(seen.clone()))),
                seen,
            }
        }
    };
    let handed_over = matches!(polling, Polling::HandedOver { .. });
    POLLING.with(|p| *p.borrow_mut() = polling);
    handed_over
}

/// A job that a waiter needed at a look (see [`look_again`]), and when. Not the job
/// itself: a poller keeps it between waits, and a held job could be the last holder
/// of a result whose `Drop` panics, on the worker's loop.
struct Needed {
    job: std::sync::Weak<dyn Runnable>,
    at: Instant,
}

/// A look of a waiter that cannot run what it needs itself (a task polling past
/// `max_threads`, see [`polled`]; a rayon thread, see [`sleep_on_rayon`]): the job
/// needed at the look `before`, still ready and not started at least
/// [`STRANDED_POLL`] later (no thread of its pool took it), runs on a thread started
/// for it (see [`Pool::run_for`]); else this look, to compare with next (`before`
/// while it is more recent: a poll may come every µs). The job needed then, not the
/// one needed now: a task that polls its children in turn needs another at each
/// look, and while it compared the two, none of them ever ran.
fn look_again(
    awaited: &Awaited<'_>,
    before: Option<Needed>,
    waiter: impl FnOnce() -> Waiter,
) -> Option<Needed> {
    if let Some(needed) = &before {
        if needed.at.elapsed() < STRANDED_POLL {
            return before;
        }
        if let Some(job) = needed.job.upgrade().filter(|job| job.is_ready()) {
            job.pool().clone().run_for(job, waiter());
            return None;
        }
    }
    needed_ready(awaited).map(|job| Needed {
        job: Arc::downgrade(&job),
        at: Instant::now(),
    })
}

/// The task on this worker takes its place back, if it had handed it over for polling
/// (a wait of it ended done, it blocks, or, `ended`, it ended): the pool whose place
/// it was (still counted in its `Counts::polling`). Unless it ended, its polls so far
/// still count: a task that polls between waits that end done (its own inline, say)
/// hands its place over at its next poll, and what its polls need keeps its look
/// (else such a task on a client of one thread polled for ever, its child never run).
fn take_polling(ended: bool) -> Option<Arc<Pool>> {
    POLLING
        .try_with(|p| {
            let mut polling = p.borrow_mut();
            if matches!(*polling, Polling::No) {
                // Every job's end: nothing written.
                return None;
            }
            match std::mem::replace(&mut *polling, Polling::No) {
                Polling::HandedOver { pool, needed, seen } => {
                    seen.stopped();
                    if !ended {
                        *polling = Polling::Missed { needed };
                    }
                    Some(pool)
                }
                missed if !ended => {
                    *polling = missed;
                    None
                }
                _ => None,
            }
        })
        .ok()
        .flatten()
}

/// The task on this worker no longer polls (a wait of it ended done, `ended`: or it
/// ended): it counts as one of the pool's threads again.
pub(super) fn end_polling(ended: bool) {
    if let Some(pool) = take_polling(ended) {
        let mut counts = pool.lock();
        counts.polling -= 1;
        pool.count_running(&counts);
    }
}

/// The pool whose worker the calling thread is; none while the thread's thread-locals
/// are being destroyed (a wait in another one's `Drop`: a worker clears its own before).
fn current() -> Option<Arc<Pool>> {
    WORKER.try_with(|w| w.borrow().clone()).ok().flatten()
}

/// Runs `f`, which blocks, without holding a place of the calling worker's pool (if it
/// is a worker): for a `compute` of a graph inside a task, which waits for rayon.
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    let _seceded = current().map(|pool| pool.secede());
    f()
}

/// Runs `f`, a wait that is not the library's, without holding a place of `pool`
/// (see `Client::secede`): on a worker, of any pool, as [`blocking`]; on a rayon
/// worker outside the pools, which may be running a task's own `par_iter`, lending
/// `pool` its place as a future's wait there does (see [`Pool::lend`]); elsewhere it
/// only runs `f`.
pub(crate) fn blocking_for<R>(pool: &Arc<Pool>, f: impl FnOnce() -> R) -> R {
    if let Some(own) = current() {
        let _seceded = own.secede();
        return f();
    }
    let _lent = rayon::current_thread_index().map(|_| pool.lend());
    f()
}

/// Waits until `done()` or the deadline, as the calling thread should (see the module
/// docs): `awaited` is what it waits for (one future, whose needs a worker may run
/// itself, or several), and `sleep(until)` blocks until the end or `until` (`None`:
/// no end but the wait's), true if it ended. `Ok(true)` if done, `Ok(false)` at the
/// deadline; the error of a futures task's wait without a deadline that could never
/// end (see `blocked`), found when it would sleep.
pub(crate) fn wait(
    done: &dyn Fn() -> bool,
    awaited: Awaited<'_>,
    deadline: Option<Instant>,
    sleep: impl FnMut(Option<Instant>) -> bool,
) -> Result<bool, FutureError> {
    if let Some(pool) = current() {
        match (&awaited, deadline) {
            (Awaited::One(core) | Awaited::Gather { first: core, .. }, None) => {
                run_needs(core, done, SEARCH)
            }
            // A wait for every one (`wait(.., AllCompleted, None)`) needs each of them
            // as `result` needs its one: without this, each level of tasks that wait so
            // for their children blocked a thread and started another (a fib(22) of
            // such tasks: 28,000 threads, two minutes). The first one's needs are
            // searched as `result`'s are, the others' own jobs only: a search through
            // each one's dependencies made a wait for 100,000 futures pending on one
            // long chain twice as slow.
            (
                Awaited::Several {
                    all: true, futures, ..
                },
                None,
            ) => {
                for (at, future) in futures().iter().enumerate() {
                    if done() {
                        break;
                    }
                    run_needs(future.core(), done, if at == 0 { SEARCH } else { 0 });
                }
            }
            // A wait for any one (`as_completed`, `wait(.., FirstCompleted, None)`)
            // runs the first awaited future still queued, in the caller's order, as a
            // wait for all does: without this, each level of tasks that wait so for
            // their children blocked a thread and started another (a fib(18) on one
            // thread: over 1,025 threads, 3.9 s). Only its own job, not what it needs:
            // while that job runs, the waiter sees no other end (as rayon's `join`), a
            // search through dependencies would make that longer still.
            (
                Awaited::Several {
                    all: false,
                    next_inline: Some(next),
                    ..
                },
                None,
            ) => run_first_queued(done, *next),
            _ => {}
        }
        match spin(done, deadline) {
            Some(true) => {
                end_polling(false);
                return Ok(true);
            }
            Some(false) => {
                // A deadline shorter than the polling: the wait ends without having
                // slept, and tasks that poll their children in loops of such waits
                // would keep the children queued behind them forever (no thread left
                // to run them). The task hands its place over until it stops
                // polling, as a sleeping waiter does while it sleeps: a replacement
                // runs them.
                if polled(&pool, &awaited) {
                    // A task polling in a loop of zero timeouts lets the others run:
                    // it has handed its place over, so threads beside it poll or run
                    // what it polls for. Spinning through its time slice, a chain of
                    // 100 such pollers on a client of one thread took 27 s on two
                    // cores.
                    std::thread::yield_now();
                }
                return Ok(false);
            }
            None => {}
        }
        let ended = sleep_published(&awaited, deadline, done, || {
            // A brief sleep keeps the thread's place, as a spin does (a polling
            // task's stays handed over): each such sleep handed over, past
            // `max_threads` too, started a thread whose next task polled in turn (100
            // tasks polling their children with 50 µs timeouts on a client of two
            // threads: 27 threads, 7 tasks at once). It ends within `BRIEF`, and a
            // task that polls again hands its place over then.
            let brief =
                deadline.is_some_and(|d| d.saturating_duration_since(Instant::now()) < BRIEF);
            let _seceded = (!brief).then(|| pool.secede());
            sleep_on_worker(&pool, done, &awaited, deadline, sleep)
        })?;
        if ended {
            end_polling(false);
        } else {
            // A timed wait that slept is a poll too: on a busy machine every one does.
            let _ = polled(&pool, &awaited);
        }
        return Ok(ended);
    }
    // A rayon worker counts as waiting for as long as it does, helping or asleep.
    let waiting = rayon::current_thread_index()
        .is_some()
        .then(crate::engine::sync::WaitingForFuture::enter);
    // Outside the pool, a graph task of a run started inside a futures task waits as
    // that task (see `blocked`); a rayon worker's sleep lends its place to the pools
    // of what it waits for (see `Pool::lend`).
    let mut sleep = sleep;
    let mut sleep = || {
        sleep_published(&awaited, deadline, done, || {
            let _lent = waiting.as_ref().map(|_| lend(&awaited));
            match waiting {
                Some(_) => sleep_on_rayon(done, &awaited, deadline, &mut sleep),
                None => sleep(deadline),
            }
        })
    };
    if waiting.is_some() && HELPING.get() < MAX_HELP {
        HELPING.set(HELPING.get() + 1);
        let _depth = Restore(&HELPING);
        // Each job it runs meanwhile may wait and help in turn, nested on this stack,
        // up to `MAX_HELP` deep (a `par_iter` whose items each wait for a future: 8 to
        // 20 KiB a level in a debug build), and a rayon pool of the user's may have
        // small stacks (a 256 KiB one overflowed and aborted): on a new segment when
        // this one runs short, as a graph's nested runs are.
        return crate::engine::sync::on_grown_stack(|| help_until(done, deadline, sleep));
    }
    match spin_while(done, deadline, &|| polled_long(&awaited)) {
        Some(ended) => Ok(ended),
        None => sleep(),
    }
}

/// The pools of `awaited`'s unfinished futures, each lent the calling rayon worker's
/// place while the guards live (see [`Pool::lend`]).
fn lend(awaited: &Awaited<'_>) -> SmallVec<[Lent; 1]> {
    let job = |core: &Core| {
        (!core.is_done())
            .then(|| core.job.as_ref().and_then(std::sync::Weak::upgrade))
            .flatten()
    };
    let mut pools: SmallVec<[Arc<Pool>; 1]> = SmallVec::new();
    let mut add = |job: Option<Arc<dyn Runnable>>| {
        if let Some(job) = job {
            if !pools.iter().any(|p| Arc::ptr_eq(p, job.pool())) {
                pools.push(job.pool().clone());
            }
        }
    };
    match awaited {
        Awaited::One(core) | Awaited::Gather { first: core, .. } => add(job(core)),
        Awaited::Several { futures, .. } => {
            futures().iter().for_each(|future| add(job(future.core())))
        }
    }
    pools.iter().map(Pool::lend).collect()
}

/// How often a task waiting while its pool can start no thread looks again for
/// queued jobs no one else would run (see [`run_while_refused`]).
const REFUSED_POLL: Duration = Duration::from_millis(1);

/// The wait of a task on `pool`'s thread while the pool can start no thread (the
/// system refused the last start; see [`Pool::refused`]). Sleeping, it would leave
/// queued jobs to threads that may all be blocked as it is, and nothing would end the
/// wait (tasks nested that deep, each waiting for a child, with the system out of
/// processes or address space). So, while no thread is left to run them, it runs them
/// itself: what its wait needs first (as step 1 of the module docs, past
/// [`MAX_INLINE`]), else any queued job, on a stack grown as needed (a job may wait
/// in turn, and run more, one level deeper); otherwise it looks again every
/// [`REFUSED_POLL`]. Until the wait is done (`Some(true)`), its deadline passes
/// (`Some(false)`), or a thread start succeeds again (`None`: then it sleeps as any
/// wait does).
fn run_while_refused(
    pool: &Arc<Pool>,
    done: &dyn Fn() -> bool,
    awaited: &Awaited<'_>,
    deadline: Option<Instant>,
) -> Option<bool> {
    while pool.refused.load(Ordering::SeqCst) {
        if done() {
            return Some(true);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(false);
        }
        if !pool.stalled_refused() {
            std::thread::sleep(REFUSED_POLL);
            continue;
        }
        // What the wait needs, else any queued job; run above the awaited task (the
        // first of several), for a wait of the job to see (see `blocked::run_inline`).
        let several = match awaited {
            Awaited::Several { futures, .. } => futures(),
            _ => Vec::new(),
        };
        let (core, needed) = match awaited {
            Awaited::One(core) | Awaited::Gather { first: core, .. } => {
                (Some(*core), find_ready(core, SEARCH))
            }
            Awaited::Several { .. } => (
                several.first().map(|first| first.core()),
                several.iter().find_map(|f| find_ready(f.core(), 0)),
            ),
        };
        // (A job taken from the queue is run: none is taken without a task to run above.)
        let Some((core, job)) =
            core.and_then(|core| Some((core, needed.or_else(|| pool.take_one())?)))
        else {
            std::thread::sleep(REFUSED_POLL);
            continue;
        };
        crate::engine::sync::on_grown_stack(|| run_on_this_thread(core, job));
    }
    None
}

/// The longest a task asleep in a wait on a pool thread sleeps before it looks
/// whether the pool could start no thread meanwhile (see [`sleep_on_worker`]); its
/// first look comes after [`REFUSED_LOOK_FIRST`], each next one twice as late.
const REFUSED_LOOK_LAST: Duration = Duration::from_secs(1);
/// See [`REFUSED_LOOK_LAST`].
const REFUSED_LOOK_FIRST: Duration = Duration::from_millis(8);

/// The sleep of a task's wait on `pool`'s thread (its place handed over), until the
/// wait ends (true) or its deadline passes (false). A thread start the system refuses
/// after the task fell asleep (at a push, every thread asleep so) would leave the
/// pushed job queued for as long as the waits sleep, which may be for ever (their
/// ends waiting for that job); waking each sleeper at a refusal would need a list of
/// where every one sleeps. So the task sleeps in slices, from [`REFUSED_LOOK_FIRST`]
/// doubling to [`REFUSED_LOOK_LAST`] (a long wait wakes about once a second), and
/// after each looks whether the pool was refused a thread: then it runs the queued
/// jobs itself while no thread is left to (see [`run_while_refused`]).
fn sleep_on_worker(
    pool: &Arc<Pool>,
    done: &dyn Fn() -> bool,
    awaited: &Awaited<'_>,
    deadline: Option<Instant>,
    mut sleep: impl FnMut(Option<Instant>) -> bool,
) -> bool {
    let mut slice = REFUSED_LOOK_FIRST;
    loop {
        if pool.refused.load(Ordering::SeqCst) {
            if let Some(ended) = run_while_refused(pool, done, awaited, deadline) {
                return ended;
            }
        }
        if sleep(look_by(slice, deadline)) {
            return true;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        slice = (slice * 2).min(REFUSED_LOOK_LAST);
    }
}

/// Whether a thread outside the pool waiting for `awaited` polls it for the full
/// count before it sleeps, rather than briefly: a task that waits for dependencies
/// may wait a long while, and a waiter polling all that time takes a core from the
/// workers that run them (the submitting thread of a fan-in on two cores: up to a few
/// percent of the run). A task started, or queued (its dependencies done), is polled
/// for the full count: one just submitted starts once a worker wakes up, and a waiter
/// asleep by then takes as long again to wake (`submit(..).result()` in a loop: 36–64
/// µs a round in about one run in three, both threads waking in each round, against
/// about 1 µs).
fn polled_long(awaited: &Awaited<'_>) -> bool {
    match awaited {
        Awaited::One(core) | Awaited::Gather { first: core, .. } => {
            core.status() != super::Status::Pending
                || (core.job.as_ref())
                    .and_then(std::sync::Weak::upgrade)
                    .is_some_and(|job| job.is_ready())
        }
        Awaited::Several { .. } => true,
    }
}

/// `sleep()`, the waiting thread published meanwhile, for the waits of other tasks to
/// see; the error instead when the wait could never end (see `blocked`), unless it is
/// `done()` by then. A wait with a deadline ends at it: it is neither looked at nor
/// published.
fn sleep_published(
    awaited: &Awaited<'_>,
    deadline: Option<Instant>,
    done: &dyn Fn() -> bool,
    sleep: impl FnOnce() -> bool,
) -> Result<bool, FutureError> {
    let published = match deadline {
        None => match blocked::block(awaited) {
            Ok(published) => published,
            // What ended it came after its last look and before the search, which saw
            // what had ended as nothing: a gather's future that failed, a future of a
            // wait for any one, left out of the list of those unfinished. The wait is
            // over, not refused.
            Err(_) if done() => return Ok(true),
            Err(refused) => return Err(refused),
        },
        Some(_) => None,
    };
    let ended = sleep();
    drop(published);
    Ok(ended)
}

/// Rounds of polling before a waiter sleeps.
const WAIT_SPIN_ROUNDS: u32 = 4096;
/// Rounds of polling, of those, while the awaited task has not started (see `wait`):
/// a few µs, about what a sleeping worker takes to wake up and start a task just
/// queued (`submit(..).result()`), far less than a run of dependencies may take.
const UNSTARTED_SPIN_ROUNDS: u32 = 256;

/// [`spin`], that gives up after [`UNSTARTED_SPIN_ROUNDS`] while `started()` is false.
fn spin_while(
    done: &dyn Fn() -> bool,
    deadline: Option<Instant>,
    started: &dyn Fn() -> bool,
) -> Option<bool> {
    spin_while_yielding(done, deadline, started, yield_gave_away)
}

/// [`spin_while`], yielding with `gave_away` (see `spin_rounds_yielding`).
fn spin_while_yielding(
    done: &dyn Fn() -> bool,
    deadline: Option<Instant>,
    started: &dyn Fn() -> bool,
    gave_away: fn() -> bool,
) -> Option<bool> {
    match spin_rounds_yielding(done, deadline, UNSTARTED_SPIN_ROUNDS, gave_away) {
        Spun::Ended(ended) => return Some(ended),
        // A busy machine: the second part would yield into another time slice.
        Spun::GaveAway => return None,
        Spun::Polled => {}
    }
    if !started() {
        return None;
    }
    spin_rounds_yielding(
        done,
        deadline,
        WAIT_SPIN_ROUNDS - UNSTARTED_SPIN_ROUNDS,
        gave_away,
    )
    .ended()
}

/// Polls `done` a little before the caller sleeps: most tasks are short, and being
/// woken from a condition variable costs more than a small task (a round trip drops
/// from about 10 µs to a few); on a worker, a short wait then starts no thread. The
/// deadline is looked at first, so a zero timeout only looks. `Some(done)` when the
/// wait is over, `None` to sleep.
fn spin(done: &dyn Fn() -> bool, deadline: Option<Instant>) -> Option<bool> {
    spin_rounds(done, deadline, WAIT_SPIN_ROUNDS)
}

/// Takes one off a thread-local depth when dropped (also during unwinding).
struct Restore(&'static std::thread::LocalKey<Cell<u32>>);

impl Drop for Restore {
    fn drop(&mut self) {
        self.0.with(|depth| depth.set(depth.get() - 1));
    }
}

/// Runs, on this thread, ready jobs that the task of `core` needs, until `done()` or
/// none is found (looking through `search` of its unfinished dependencies at most:
/// none, only its own job).
fn run_needs(core: &Core, done: &dyn Fn() -> bool, search: usize) {
    while !done() && INLINE.get() < MAX_INLINE {
        let Some(job) = find_ready(core, search) else {
            return;
        };
        run_on_this_thread(core, job);
    }
}

/// For a wait for any one of several futures: runs on this thread the first of them,
/// in `next`'s order, whose job is queued and not started, then looks again (its end
/// is one: the wait is then done), until `done()` or `next` has none left. Each
/// future `next` gives is looked at once: one not ready then (it waits for
/// dependencies, or has started) is left to the workers.
fn run_first_queued(done: &dyn Fn() -> bool, next: &dyn Fn() -> Option<Arc<dyn HasCore>>) {
    while !done() && INLINE.get() < MAX_INLINE {
        let Some(future) = next() else {
            return;
        };
        if let Some(job) = find_ready(future.core(), 0) {
            run_on_this_thread(future.core(), job);
        }
    }
}

/// Runs `job`, which the task of `core` needs (or is), on this thread, for a waiter
/// (see the module docs), one job deeper.
fn run_on_this_thread(core: &Core, job: Arc<dyn Runnable>) {
    INLINE.set(INLINE.get() + 1);
    let _depth = Restore(&INLINE);
    // For a wait of the job to find the task under it (see `blocked`).
    let _under = blocked::run_inline(core);
    // As in `run_jobs`: the task's own panic is caught in `run`; a panicking `Drop`
    // has been reported by the hook and must not end the waiting task.
    crate::engine::error::discard_panic(|| job.run());
    // The waiter under it takes its place back too, its polls kept (see
    // `take_polling`).
    end_polling(false);
    // The job its end made ready was meant to run next on this thread, which is
    // busy waiting: queue it.
    if let Some(next) = continuation::take() {
        next.requeue();
    }
}

/// A job that is ready and not started, among the task of `core` and its unfinished
/// dependencies (breadth first, `search` of them at most).
fn find_ready(core: &Core, search: usize) -> Option<Arc<dyn Runnable>> {
    if search == 0 {
        // Its own job only: its dependencies are not even listed.
        return (!core.is_done())
            .then(|| core.job.as_ref().and_then(std::sync::Weak::upgrade))
            .flatten()
            .filter(|job| job.is_ready());
    }
    let mut seen = 0;
    let mut todo: VecDeque<Arc<dyn super::state::HasCore>> = VecDeque::new();
    let visit = |core: &Core, todo: &mut VecDeque<_>| -> Option<Arc<dyn Runnable>> {
        if core.is_done() {
            return None;
        }
        if let Some(job) = core.job.as_ref().and_then(std::sync::Weak::upgrade) {
            if job.is_ready() {
                return Some(job);
            }
        }
        todo.extend(core.dependencies.iter().filter_map(|d| d.core.upgrade()));
        None
    };
    if let Some(job) = visit(core, &mut todo) {
        return Some(job);
    }
    while let Some(next) = todo.pop_front() {
        seen += 1;
        if seen > search {
            return None;
        }
        if let Some(job) = visit(next.core(), &mut todo) {
            return Some(job);
        }
    }
    None
}

/// The first job ready and not started that a waiter on a worker would run itself
/// (see `wait`): among what the awaited future needs; for a wait for several, among the
/// first one's needs, then the others' own jobs (for any one: in the caller's order).
fn needed_ready(awaited: &Awaited<'_>) -> Option<Arc<dyn Runnable>> {
    match awaited {
        Awaited::One(core) | Awaited::Gather { first: core, .. } => find_ready(core, SEARCH),
        Awaited::Several { all, futures, .. } => {
            (futures().iter().enumerate()).find_map(|(at, future)| {
                find_ready(future.core(), if at == 0 && *all { SEARCH } else { 0 })
            })
        }
    }
}

/// On a rayon worker: runs its own pending rayon jobs (see the module docs) until
/// `done()` or the deadline, then, with none left, polls a little and sleeps: no other
/// thread can give it more of its own.
fn help_until(
    done: &dyn Fn() -> bool,
    deadline: Option<Instant>,
    sleep: impl FnOnce() -> Result<bool, FutureError>,
) -> Result<bool, FutureError> {
    loop {
        if done() {
            return Ok(true);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(false);
        }
        if rayon::yield_local() != Some(rayon::Yield::Executed) {
            break;
        }
    }
    match spin(done, deadline) {
        Some(ended) => Ok(ended),
        None => sleep(),
    }
}

/// How often a rayon worker asleep in a wait for a future looks for work that no other
/// worker is left to run (see [`sleep_on_rayon`]).
const STRANDED_POLL: Duration = Duration::from_millis(2);

/// A rayon worker's sleep in a wait for a future, until `done` (true) or `deadline`
/// (false), in slices of [`STRANDED_POLL`]. After each, a job that `awaited` needed
/// (see [`needed_ready`]) at the slice before, still queued and ready, is run on a
/// thread of its pool's started for it (see [`look_again`]). Then, while every
/// rayon worker waits for a future, it runs the jobs queued on its pool
/// (`engine::sync::run_stranded_job`):
/// a futures task that uses rayon itself (a `par_iter` on the client's thread) queues
/// its work there, and with every worker asleep in a wait, for that very task say, no
/// one ran it: they waited for ever. A job it runs may wait and run more in turn,
/// [`MAX_HELP`] waits deep at most, on a stack grown as needed.
fn sleep_on_rayon(
    done: &dyn Fn() -> bool,
    awaited: &Awaited<'_>,
    deadline: Option<Instant>,
    sleep: &mut impl FnMut(Option<Instant>) -> bool,
) -> bool {
    // The job the wait needed at the last look, ready and queued then.
    let mut needed = None;
    loop {
        let until = look_by(STRANDED_POLL, deadline);
        if sleep(until) {
            return true;
        }
        // The deadline's turn (or no clock beyond it): the wait ends with this sleep.
        if until == deadline {
            return done();
        }
        needed = look_again(awaited, needed, || Waiter::Rayon);
        if !crate::engine::sync::workers_all_waiting() || HELPING.get() >= MAX_HELP {
            continue;
        }
        HELPING.set(HELPING.get() + 1);
        let _depth = Restore(&HELPING);
        while crate::engine::sync::on_grown_stack(crate::engine::sync::run_stranded_job) {
            if done() {
                return true;
            }
        }
    }
}

/// When a sleep that looks again every `every` wakes next: `every` from now, or
/// `deadline` if that comes first (or if `every` from now is past what an `Instant`
/// can hold).
pub(crate) fn look_by(every: Duration, deadline: Option<Instant>) -> Option<Instant> {
    match (Instant::now().checked_add(every), deadline) {
        (Some(look), Some(deadline)) => Some(look.min(deadline)),
        (look, deadline) => look.or(deadline),
    }
}

/// A deadline `timeout` from now; `None` (no deadline) when that is past what an
/// `Instant` can hold, as with `Duration::MAX`.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    // Every untimed wait (`result()`, `gather`) passes `Duration::MAX`: no clock read.
    if timeout == Duration::MAX {
        return None;
    }
    Instant::now().checked_add(timeout)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A waiter outside the pool polls a task that has not started for a few rounds
    /// only, then sleeps; one that has started, or a wait for several futures, for
    /// the full count; a done task ends the polling at once. (Its yields return at
    /// once here, as on a quiet machine: a busy one ends the polling at the first
    /// that gives the core away, see `spin_rounds`.)
    #[test]
    fn a_waiter_polls_an_unstarted_task_briefly() {
        let spin_while = |done: &dyn Fn() -> bool, deadline, started: &dyn Fn() -> bool| {
            spin_while_yielding(done, deadline, started, || false)
        };
        let polls = Cell::new(0u32);
        let never = || {
            polls.set(polls.get() + 1);
            false
        };
        assert_eq!(spin_while(&never, None, &|| false), None);
        assert_eq!(polls.replace(0), UNSTARTED_SPIN_ROUNDS);
        assert_eq!(spin_while(&never, None, &|| true), None);
        assert_eq!(polls.replace(0), WAIT_SPIN_ROUNDS);
        // A yield that gave the core away ends the polling, started or not.
        assert_eq!(spin_while_yielding(&never, None, &|| true, || true), None);
        assert_eq!(polls.replace(0), 65);
        let soon = || {
            polls.set(polls.get() + 1);
            polls.get() == 3
        };
        assert_eq!(spin_while(&soon, None, &|| false), Some(true));
        assert_eq!(polls.get(), 3);
        // A deadline already past ends it at the first look.
        let past = Instant::now();
        assert_eq!(spin_while(&|| false, Some(past), &|| true), Some(false));
    }

    /// A waiter outside the pool polls briefly only a task that waits for
    /// dependencies: a queued one (its dependencies done, its worker busy) and a
    /// started one it polls for the full count.
    #[test]
    fn a_waiter_polls_a_queued_task_as_long_as_a_started_one() {
        use crate::futures::Client;
        let client = Client::builder().threads(1).build().unwrap();
        let (open, opened) = std::sync::mpsc::channel::<u64>();
        let opened = std::sync::Mutex::new(opened);
        let (started, has_started) = std::sync::mpsc::channel::<()>();
        let started = std::sync::Mutex::new(started);
        let running = client.submit(
            move || {
                started.lock().unwrap().send(()).unwrap();
                opened.lock().unwrap().recv().unwrap()
            },
            (),
        );
        has_started.recv().unwrap();
        let queued = client.submit(|x: u64| x + 1, (1u64,));
        let waiting = client.submit(|x: u64| x + 1, (&running,));
        assert!(polled_long(&Awaited::One(running.core())), "started");
        assert!(polled_long(&Awaited::One(queued.core())), "queued");
        assert!(!polled_long(&Awaited::One(waiting.core())), "waiting");
        open.send(1).unwrap();
        assert_eq!(waiting.result().unwrap(), 2);
        assert!(polled_long(&Awaited::One(waiting.core())), "ended");
        assert_eq!(queued.result().unwrap(), 2);
    }
}
