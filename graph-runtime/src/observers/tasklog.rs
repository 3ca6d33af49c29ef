//! Where a graph run's task runs are written while they run: one log per thread, in
//! chunks, appended by that thread alone (no lock, no read-modify-write: a record is
//! published by one release store of the log's count, a plain store on x86-64), read
//! from any thread up to what was published. The profiler and the performance
//! report (and the live dashboard) record graph tasks here.
//!
//! **One clock read per task boundary.** A task's end is read from the clock; its
//! start is the end of the task before it on the same thread, when the thread went
//! straight from one to the other (the dispatcher's glue between them, a few tens of
//! nanoseconds, counts in the later task), and is read from the clock otherwise: the
//! thread's first task of the log, a task of a job stolen from another thread or run
//! after a join whose other half was stolen (the thread may have waited or run other
//! work meanwhile), after a graph run started or ended on the thread, or a task that
//! starts inside another one. The dispatcher notes these breaks
//! ([`observe::note_break`](crate::engine::observe::note_break)); work that rayon
//! runs on the thread between two tasks without a steal (a job the task itself
//! `rayon::spawn`ed, say) is not seen, and counts in the later task.
//!
//! Times are the clock's raw readings (`quanta`'s: the CPU's time-stamp counter where
//! it is invariant) since an epoch, plus one; converted to nanoseconds when read.

use std::cell::{Cell, UnsafeCell};
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::engine::lock::Recover;
use crate::engine::observe::{break_mark, TaskOutcome};

/// Records per chunk (48 KiB).
pub(crate) const CHUNK: usize = 2048;
/// Logs in the first segment; segment `k` holds `FIRST_LOGS << k`.
const FIRST_LOGS: usize = 16;
/// Enough segments for any number of threads a process makes.
const LOG_SEGMENTS: usize = 24;
/// No node: a log's current task when none runs.
pub(crate) const NO_NODE: u32 = u32::MAX;

/// One task run: its start and end (raw clock units since the epoch, plus one), its
/// node (in a log; what it stands for is the reader's: a recording stores its
/// function there), and its thread and outcome packed (`thread << 3 | outcome`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Rec {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) id: u32,
    packed: u32,
}

impl Rec {
    /// A record of `id` on `thread`.
    #[inline]
    pub(crate) fn new(start: u64, end: u64, id: u32, thread: u32, outcome: TaskOutcome) -> Rec {
        Rec {
            start,
            end,
            id,
            packed: thread << 3 | outcome_code(outcome),
        }
    }

    /// The thread that ran it (`Profiler::thread_id`).
    #[inline]
    pub(crate) fn thread(&self) -> u32 {
        self.packed >> 3
    }

    /// How it ended.
    #[inline]
    pub(crate) fn outcome(&self) -> TaskOutcome {
        outcome_from(self.packed & 7)
    }

    /// The same run, standing for `id`.
    #[inline]
    #[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
    pub(crate) fn with_id(self, id: u32) -> Rec {
        Rec { id, ..self }
    }
}

/// An outcome as a record stores it.
#[inline]
pub(crate) fn outcome_code(outcome: TaskOutcome) -> u32 {
    match outcome {
        TaskOutcome::Finished => 0,
        TaskOutcome::Failed => 1,
        TaskOutcome::Stopped => 2,
        TaskOutcome::Cancelled => 3,
        TaskOutcome::Retried => 4,
    }
}

/// The outcome a record stores as `code`.
#[inline]
pub(crate) fn outcome_from(code: u32) -> TaskOutcome {
    match code {
        1 => TaskOutcome::Failed,
        2 => TaskOutcome::Stopped,
        3 => TaskOutcome::Cancelled,
        4 => TaskOutcome::Retried,
        _ => TaskOutcome::Finished,
    }
}

/// The clock every log reads (`quanta`'s, calibrated once per process) and an epoch.
#[derive(Clone)]
pub(crate) struct Clock {
    clock: quanta::Clock,
    epoch: u64,
    /// The number of the profiler whose axis it is (0: none): the threads that write
    /// in a log on it are noted as seen by that profiler, which keeps their names.
    pub(crate) owner: u64,
}

impl Clock {
    /// A clock whose times count from now.
    pub(crate) fn new() -> Clock {
        static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
        let clock = CLOCK.get_or_init(quanta::Clock::new).clone();
        Clock {
            epoch: clock.raw(),
            clock,
            owner: 0,
        }
    }

    /// Now: raw units since the epoch, plus one (never 0).
    #[inline(always)]
    pub(crate) fn now(&self) -> u64 {
        self.clock.raw().wrapping_sub(self.epoch).max(1)
    }

    /// A stamp of [`now`](Self::now) as a time since the epoch.
    #[inline]
    pub(crate) fn since_epoch(&self, stamp: u64) -> Duration {
        Duration::from_nanos(self.nanos(stamp))
    }

    /// A stamp of [`now`](Self::now) as nanoseconds since the epoch.
    #[inline]
    pub(crate) fn nanos(&self, stamp: u64) -> u64 {
        self.clock.delta_as_nanos(0, stamp.saturating_sub(1))
    }

    /// The raw units in `d` (at least 1).
    #[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
    pub(crate) fn units(&self, d: Duration) -> u64 {
        // The scale is linear: measure it over a long stretch to keep the rounding small.
        let probe = 1u64 << 40;
        let nanos = self.clock.delta_as_nanos(0, probe).max(1);
        ((d.as_nanos() * u128::from(probe)) / u128::from(nanos)).max(1) as u64
    }
}

/// A chunk of records: written by its log's thread, read up to the count published.
struct Chunk {
    recs: UnsafeCell<[MaybeUninit<Rec>; CHUNK]>,
    /// The next chunk, once this one is full (set before any record in it is
    /// published).
    next: AtomicPtr<Chunk>,
}

impl Chunk {
    fn new() -> *mut Chunk {
        let mut chunk = Box::<Chunk>::new_uninit();
        let at = chunk.as_mut_ptr();
        // SAFETY: `at` points to the box's memory, valid for writes of a `Chunk`;
        // `recs` may stay uninitialised (`MaybeUninit`, behind an `UnsafeCell` of
        // them), and `next` is written before the box is assumed initialised.
        unsafe {
            ptr::addr_of_mut!((*at).next).write(AtomicPtr::new(ptr::null_mut()));
        }
        // SAFETY: every field that needs initialising was written above.
        Box::into_raw(unsafe { chunk.assume_init() })
    }
}

/// One thread's log: claimed by the thread once, written by it alone.
#[repr(align(128))]
struct Log {
    /// The thread that owns it ([`crate::Profiler::thread_id`]); 0: free.
    owner: AtomicU32,
    /// Its rayon worker index plus one (0: not a pool thread); set when claimed.
    worker: AtomicU32,
    /// The first chunk (null until the first record); the chunks follow by `next`.
    head: AtomicPtr<Chunk>,
    /// How many chunks it has.
    chunks: AtomicUsize,
    /// The records published since the log's run began (see [`TaskLog::begin`]).
    published: AtomicU64,
    /// The run key the log's records belong to (set by its thread when it first
    /// writes in a run, after resetting `published`).
    key: AtomicU64,
    /// The task running on the thread, for live views: its node ([`NO_NODE`]: none)
    /// and start.
    current: AtomicU32,
    current_start: AtomicU64,
    /// The owner's own state.
    w: UnsafeCell<Writer>,
}

/// What only a log's thread reads and writes.
struct Writer {
    /// The run key it writes for.
    key: u64,
    thread: u32,
    /// The chunk written, and how many records it holds.
    tail: *mut Chunk,
    at: usize,
    /// Records written since the run began.
    count: u64,
    /// The task running (`NO_NODE`: none) and its start; the tasks it interrupted on
    /// this thread, innermost last.
    node: u32,
    start: u64,
    outer: Vec<(u32, u64)>,
    /// The end of the thread's last task, and the dispatcher's break mark then.
    last_end: u64,
    last_mark: u64,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            owner: AtomicU32::new(0),
            worker: AtomicU32::new(0),
            head: AtomicPtr::new(ptr::null_mut()),
            chunks: AtomicUsize::new(0),
            published: AtomicU64::new(0),
            key: AtomicU64::new(0),
            current: AtomicU32::new(NO_NODE),
            current_start: AtomicU64::new(0),
            w: UnsafeCell::new(Writer {
                key: 0,
                thread: 0,
                tail: ptr::null_mut(),
                at: 0,
                count: 0,
                node: NO_NODE,
                start: 0,
                outer: Vec::new(),
                last_end: 0,
                last_mark: 0,
            }),
        }
    }
}

/// Run keys, unique in the process (0: none).
static KEYS: AtomicU64 = AtomicU64::new(1);

/// The task logs, each with the threads that own one of its logs and those of them
/// that ended: their logs are free again (with their chunks) from its next run on if
/// it rewinds, from its next [`forget`](TaskLog::forget) if not. Each list holds at
/// most the threads that own its logs: a list of every thread that ever ended grew for
/// a service that makes threads and observes their runs, as long as a log that
/// rewinds lived (a live dashboard keeps a few).
static ENDED: Mutex<Vec<Reader>> = Mutex::new(Vec::new());

/// A task log, in [`ENDED`].
struct Reader {
    /// The task log's number.
    number: u64,
    /// The threads that own one of its logs and have not ended.
    owners: Vec<u32>,
    /// The threads that owned one of its logs and ended since it last looked.
    ended: Vec<u32>,
}

/// Numbers of task logs (see [`Reader`]).
static READERS: AtomicU64 = AtomicU64::new(1);

/// Notes its thread in [`ENDED`] when the thread ends.
struct Alive(u32);

impl Drop for Alive {
    fn drop(&mut self) {
        for reader in ENDED.lock().recover().iter_mut() {
            if let Some(at) = reader.owners.iter().position(|&owner| owner == self.0) {
                reader.owners.swap_remove(at);
                reader.ended.push(self.0);
            }
        }
    }
}

std::thread_local! {
    /// The log this thread last wrote: the run key it was for, and the log.
    static CACHE: Cell<(u64, *const Log)> = const { Cell::new((0, ptr::null())) };
    /// Made when the thread first writes a log; dropped when it ends.
    static ALIVE: Alive = Alive(crate::observers::profile::Profiler::thread_id());
}

/// The task runs of graph runs, one log per thread (see the module's docs).
///
/// Runs are begun with [`begin`](Self::begin). A log made with `rewind` starts each
/// run from its first chunk again (its records of the run before were read: a
/// recording's, whose logs watch one run at a time); without, records accumulate
/// (the profiler's, which keeps them all).
pub(crate) struct TaskLog {
    clock: Clock,
    rewind: bool,
    /// The current run's key.
    key: AtomicU64,
    logs: [OnceLock<Box<[Log]>>; LOG_SEGMENTS],
    /// The key of the first run after the last [`forget`](Self::forget) (0: none):
    /// the records of runs before it are forgotten.
    forgotten_before: AtomicU64,
    /// Its number in [`ENDED`]: it frees the logs of threads that ended when it
    /// rewinds, and when it forgets (see [`forget`](Self::forget)).
    reader: u64,
}

// SAFETY: a `Log`'s `Writer` (the only state that is not atomic) is read and written
// only by the thread that claimed the log (`owner`, set once by a compare-exchange),
// and the records in its chunks are read by other threads only below the count the
// owner published with a release store after writing them.
unsafe impl Sync for TaskLog {}
// SAFETY: the raw pointers are to chunks the log owns (freed when it is dropped).
unsafe impl Send for TaskLog {}

impl TaskLog {
    /// An empty log on `clock`'s time axis.
    pub(crate) fn new(clock: Clock, rewind: bool) -> TaskLog {
        TaskLog {
            clock,
            rewind,
            key: AtomicU64::new(KEYS.fetch_add(1, Ordering::Relaxed)),
            logs: [const { OnceLock::new() }; LOG_SEGMENTS],
            forgotten_before: AtomicU64::new(0),
            reader: {
                let number = READERS.fetch_add(1, Ordering::Relaxed);
                ENDED.lock().recover().push(Reader {
                    number,
                    owners: Vec::new(),
                    ended: Vec::new(),
                });
                number
            },
        }
    }

    /// Its clock (the time axis of its records).
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// A run begins: its tasks' records follow (for a log that rewinds, the records
    /// of the run before are forgotten, so read them first). Call it before the run's
    /// first task, not while another run's tasks write here.
    pub(crate) fn begin(&self) {
        if self.rewind {
            self.free_ended();
        }
        self.key
            .store(KEYS.fetch_add(1, Ordering::Relaxed), Ordering::Release);
    }

    /// Frees the logs of threads that ended since the last look, chunks and all, for
    /// threads to come (between runs, when nothing writes: a log that rewinds, or one
    /// that forgets).
    fn free_ended(&self) {
        let mut readers = ENDED.lock().recover();
        let Some(reader) = readers.iter_mut().find(|r| r.number == self.reader) else {
            return;
        };
        if reader.ended.is_empty() {
            return;
        }
        let new = &reader.ended;
        for segment in self.logs.iter().map_while(OnceLock::get) {
            for log in segment.iter() {
                let owner = log.owner.load(Ordering::Acquire);
                if owner != 0 && new.contains(&owner) {
                    // Its thread ended (its last writes came before it was noted in
                    // `ENDED`, whose lock orders them before this): the next thread
                    // to claim it starts it afresh (`enter`).
                    log.key.store(0, Ordering::Relaxed);
                    log.owner.store(0, Ordering::Release);
                }
            }
        }
        reader.ended.clear();
    }

    /// The key of the oldest run whose records are read, the current run's being
    /// `key`: that one for a log that rewinds at each run (older logs' keys are
    /// smaller), else the first after the last [`forget`](Self::forget).
    fn oldest(&self, key: u64) -> u64 {
        if self.rewind {
            key
        } else {
            self.forgotten_before.load(Ordering::Acquire)
        }
    }

    /// Forgets every record, and lets the next runs write from each log's first chunk
    /// again (a profiler cleared: its graph tasks' records, kept in chunks that only
    /// grew, were skipped from then on and held for the profiler's life). Call it
    /// between runs: no run may have begun and not ended (none writes here).
    pub(crate) fn forget(&self) {
        // Every key given so far is smaller, every key given later not (`KEYS` only
        // grows): each log's thread rewinds at its first record of a later run.
        self.forgotten_before
            .store(KEYS.load(Ordering::SeqCst), Ordering::Release);
        // The logs of threads that ended are free for threads to come, chunks and all
        // (threads that come and go each took a log and a chunk of 48 KiB).
        self.free_ended();
    }

    /// The current run's key.
    #[inline]
    fn run_key(&self) -> u64 {
        self.key.load(Ordering::Acquire)
    }

    /// The calling thread's writer for the current run.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    fn writer(&self) -> (&Log, &mut Writer) {
        let key = self.run_key();
        let (cached, log) = CACHE.with(Cell::get);
        let log = if cached == key {
            // SAFETY: the cache holds a log of this `TaskLog` (keys are unique to a
            // `TaskLog` and run), which lives while `self` does.
            unsafe { &*log }
        } else {
            self.enter(key)
        };
        // SAFETY: `log` is owned by this thread (claimed in `enter`), the only one that
        // touches its writer; no reference to it outlives this call's use.
        (log, unsafe { &mut *log.w.get() })
    }

    /// Finds (or claims) this thread's log and starts it on run `key`.
    #[cold]
    fn enter(&self, key: u64) -> &Log {
        crate::observers::profile::note_thread_seen(self.clock.owner);
        let me = crate::observers::profile::Profiler::thread_id();
        // Noted in `ENDED` when this thread ends (not at all if it is ending now).
        let _ = ALIVE.try_with(|_| ());
        let log = self.claim(me);
        // SAFETY: `log` is this thread's (claimed by it), so this is the only access
        // to its writer.
        let w = unsafe { &mut *log.w.get() };
        if w.key != key {
            // Written before its records were forgotten (see `forget`).
            let forgotten = w.key < self.forgotten_before.load(Ordering::Acquire);
            w.key = key;
            w.thread = me;
            w.last_end = 0;
            w.node = NO_NODE;
            w.outer.clear();
            if self.rewind || forgotten {
                // Back to the first chunk: the records before were read (see `begin`),
                // or forgotten.
                w.tail = log.head.load(Ordering::Relaxed);
                w.at = 0;
                w.count = 0;
                log.published.store(0, Ordering::Relaxed);
            }
            log.key.store(key, Ordering::Release);
        }
        CACHE.with(|c| c.set((key, log as *const Log)));
        log
    }

    /// This thread's log, claimed if it has none (the first free one: a log freed
    /// when its thread ended may come before this thread's own, so that is looked
    /// for first).
    fn claim(&self, me: u32) -> &Log {
        let logs = || {
            self.logs
                .iter()
                .map_while(OnceLock::get)
                .flat_map(|segment| segment.iter())
        };
        if let Some(own) = logs().find(|log| log.owner.load(Ordering::Acquire) == me) {
            return own;
        }
        for (k, segment) in self.logs.iter().enumerate() {
            let segment =
                segment.get_or_init(|| (0..FIRST_LOGS << k).map(|_| Log::default()).collect());
            for log in segment.iter() {
                if log.owner.load(Ordering::Relaxed) == 0
                    && log
                        .owner
                        .compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                {
                    let worker = rayon::current_thread_index().map_or(0, |w| w as u32 + 1);
                    log.worker.store(worker, Ordering::Relaxed);
                    // Told when this thread ends (`Alive`), to free the log then.
                    let mut readers = ENDED.lock().recover();
                    if let Some(reader) = readers.iter_mut().find(|r| r.number == self.reader) {
                        reader.owners.push(me);
                    }
                    return log;
                }
                // Taken by another thread (meanwhile, perhaps): the next one.
            }
        }
        panic!("taskweave: more threads than a task log holds ({LOG_SEGMENTS} segments of logs)")
    }

    /// Task `node` starts on this thread.
    #[inline]
    pub(crate) fn started(&self, node: u32) {
        let (log, w) = self.writer();
        // Before the clock is read: the first store to the log's shared line in a run
        // waits for the line (readers shared it), which is not the task's time. Its
        // start follows; 0 till then, which readers skip.
        log.current_start.store(0, Ordering::Relaxed);
        log.current.store(node, Ordering::Release);
        let start = if w.last_end != 0 && w.last_mark == break_mark() {
            w.last_end
        } else {
            self.clock.now()
        };
        if w.node != NO_NODE {
            w.outer.push((w.node, w.start));
        }
        w.node = node;
        w.start = start;
        log.current_start.store(start, Ordering::Release);
    }

    /// Task `node` ended on this thread (it started here: [`started`](Self::started)).
    #[inline]
    pub(crate) fn finished(&self, node: u32, outcome: TaskOutcome) {
        let (log, w) = self.writer();
        let end = self.clock.now();
        let start = if w.node == node {
            let start = w.start;
            (w.node, w.start) = w.outer.pop().unwrap_or((NO_NODE, 0));
            start
        } else {
            // Not the innermost (an observer was added while it ran): look for it.
            match w.outer.iter().rposition(|&(n, _)| n == node) {
                Some(at) => w.outer.remove(at).1,
                None => end,
            }
        };
        let rec = Rec::new(start, end, node, w.thread, outcome);
        if w.at == CHUNK || w.tail.is_null() {
            self.next_chunk(log, w);
        }
        // SAFETY: `w.tail` is a chunk of this thread's log with room at `w.at`; no
        // other thread reads that slot before `published` says it is written (the
        // write goes through a raw pointer to that slot alone: readers may be reading
        // the slots before it).
        unsafe {
            (*w.tail).recs.get().cast::<Rec>().add(w.at).write(rec);
        }
        w.at += 1;
        w.count += 1;
        log.published.store(w.count, Ordering::Release);
        log.current_start.store(w.start, Ordering::Relaxed);
        log.current.store(w.node, Ordering::Release);
        w.last_end = end;
        w.last_mark = break_mark();
    }

    /// Moves `w` to its next chunk (the first, or a new one).
    #[cold]
    fn next_chunk(&self, log: &Log, w: &mut Writer) {
        let next = if w.tail.is_null() {
            log.head.load(Ordering::Relaxed)
        } else {
            // SAFETY: `w.tail` is a chunk of this log, alive while the log is.
            unsafe { (*w.tail).next.load(Ordering::Relaxed) }
        };
        let next = if next.is_null() {
            let new = Chunk::new();
            log.chunks.fetch_add(1, Ordering::Relaxed);
            if w.tail.is_null() {
                log.head.store(new, Ordering::Release);
            } else {
                // SAFETY: as above.
                unsafe { (*w.tail).next.store(new, Ordering::Release) };
            }
            new
        } else {
            next
        };
        w.tail = next;
        w.at = 0;
    }

    /// Each log that holds records of the current run (or, for a log that does not
    /// rewind, any records): `each(index, thread, worker, published)`, the log's
    /// index (for [`read`](Self::read) and cursors), its thread, rayon worker plus
    /// one, and the records published.
    pub(crate) fn logs(&self, mut each: impl FnMut(usize, u32, u32, u64)) {
        let key = self.run_key();
        let mut index = 0;
        for segment in self.logs.iter().map_while(OnceLock::get) {
            for log in segment.iter() {
                let owner = log.owner.load(Ordering::Acquire);
                if owner != 0 && log.key.load(Ordering::Acquire) >= self.oldest(key) {
                    let published = log.published.load(Ordering::Acquire);
                    each(index, owner, log.worker.load(Ordering::Relaxed), published);
                }
                index += 1;
            }
        }
    }

    /// Log number `index` (as [`logs`](Self::logs) numbers them), if there is one.
    fn log(&self, index: usize) -> Option<&Log> {
        let mut index = index;
        for segment in self.logs.iter().map_while(OnceLock::get) {
            if index < segment.len() {
                return Some(&segment[index]);
            }
            index -= segment.len();
        }
        None
    }

    /// The records of log `index` from `cursor` on, up to what is published now:
    /// `each(record)`, in the order written; moves the cursor past them.
    pub(crate) fn read(&self, index: usize, cursor: &mut Cursor, mut each: impl FnMut(Rec)) {
        let Some(log) = self.log(index) else { return };
        if log.key.load(Ordering::Acquire) < self.oldest(self.run_key()) {
            return;
        }
        let published = log.published.load(Ordering::Acquire);
        if cursor.position >= published {
            return;
        }
        if cursor.chunk.is_null() {
            cursor.chunk = log.head.load(Ordering::Acquire);
            cursor.at = 0;
        }
        while cursor.position < published {
            if cursor.at == CHUNK {
                // SAFETY: the chunk is the log's (chunks live as long as the log); its
                // `next` was set before a record past it was published.
                cursor.chunk = unsafe { (*cursor.chunk).next.load(Ordering::Acquire) };
                cursor.at = 0;
            }
            let n = ((published - cursor.position) as usize).min(CHUNK - cursor.at);
            // SAFETY: the chunk is the log's, alive while the log is.
            let recs = unsafe { (*cursor.chunk).recs.get().cast::<Rec>() };
            for i in cursor.at..cursor.at + n {
                // SAFETY: records below `published` were written before it was
                // published (release store, acquire load above) and are not written
                // again until the log rewinds, which a reader's caller orders after its
                // reads (`begin`); each is read through a raw pointer to it alone, as
                // the owner may be writing the slots after it.
                each(unsafe { recs.add(i).read() });
            }
            cursor.at += n;
            cursor.position += n as u64;
        }
    }

    /// The task running now on each thread of the current run, if any:
    /// `each(thread, node, start)`. Racy by nature (a live view's).
    #[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
    pub(crate) fn running(&self, mut each: impl FnMut(u32, u32, u64)) {
        let key = self.run_key();
        for segment in self.logs.iter().map_while(OnceLock::get) {
            for log in segment.iter() {
                let owner = log.owner.load(Ordering::Acquire);
                if owner == 0 || log.key.load(Ordering::Acquire) != key {
                    continue;
                }
                let node = log.current.load(Ordering::Acquire);
                let start = log.current_start.load(Ordering::Acquire);
                if node != NO_NODE && start != 0 && log.current.load(Ordering::Acquire) == node {
                    each(owner, node, start);
                }
            }
        }
    }

    /// About how many bytes its chunks hold.
    #[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
    pub(crate) fn memory(&self) -> usize {
        let chunks: usize = self
            .logs
            .iter()
            .map_while(OnceLock::get)
            .flat_map(|segment| segment.iter())
            .map(|log| log.chunks.load(Ordering::Relaxed))
            .sum();
        chunks * std::mem::size_of::<Chunk>()
    }
}

impl Drop for TaskLog {
    fn drop(&mut self) {
        ENDED.lock().recover().retain(|r| r.number != self.reader);
        for segment in self.logs.iter_mut().filter_map(OnceLock::get_mut) {
            for log in segment.iter_mut() {
                let mut chunk = *log.head.get_mut();
                while !chunk.is_null() {
                    // SAFETY: every chunk was made by `Chunk::new` (`Box::into_raw`) and
                    // is linked once; nothing else frees it, and no thread writes it
                    // any more (the log is being dropped, so no task refers to it).
                    let boxed = unsafe { Box::from_raw(chunk) };
                    chunk = boxed.next.load(Ordering::Relaxed);
                }
            }
        }
    }
}

/// Where a reader of one log is: the records before `position` were read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor {
    position: u64,
    chunk: *mut Chunk,
    at: usize,
}

// SAFETY: the pointer is only a place in a log's chunks, dereferenced by `TaskLog::read`
// of the log that owns them.
unsafe impl Send for Cursor {}

impl Default for Cursor {
    fn default() -> Self {
        Cursor {
            position: 0,
            chunk: ptr::null_mut(),
            at: 0,
        }
    }
}

impl Cursor {
    /// The records read.
    #[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
    pub(crate) fn position(&self) -> u64 {
        self.position
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::observe::note_break;

    /// Every record of `log`, per log in the order written, read in one go.
    fn all(log: &TaskLog) -> Vec<Vec<Rec>> {
        let mut logs = Vec::new();
        log.logs(|index, _, _, _| {
            let mut recs = Vec::new();
            log.read(index, &mut Cursor::default(), |r| recs.push(r));
            logs.push(recs);
        });
        logs
    }

    #[test]
    fn a_straight_successor_starts_where_its_predecessor_ended() {
        let log = TaskLog::new(Clock::new(), false);
        log.begin();
        note_break();
        log.started(0);
        log.finished(0, TaskOutcome::Finished);
        log.started(1);
        log.finished(1, TaskOutcome::Failed);
        // A break (a steal, a wait): the next start is read from the clock.
        note_break();
        std::thread::sleep(Duration::from_millis(2));
        log.started(2);
        log.finished(2, TaskOutcome::Finished);
        let recs = all(&log).concat();
        assert_eq!(recs.iter().map(|r| r.id).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(recs[1].start, recs[0].end, "straight: one clock read");
        assert_eq!(recs[1].outcome(), TaskOutcome::Failed);
        let gap = log.clock().since_epoch(recs[2].start) - log.clock().since_epoch(recs[1].end);
        assert!(gap >= Duration::from_millis(1), "after a break: {gap:?}");
        assert!(recs.iter().all(|r| r.start <= r.end && r.thread() != 0));
    }

    #[test]
    fn nested_tasks_keep_their_own_starts() {
        let log = TaskLog::new(Clock::new(), false);
        log.begin();
        log.started(7);
        note_break();
        log.started(8);
        log.finished(8, TaskOutcome::Finished);
        log.finished(7, TaskOutcome::Finished);
        let recs = all(&log).concat();
        assert_eq!(recs.iter().map(|r| r.id).collect::<Vec<_>>(), [8, 7]);
        assert!(recs[1].start <= recs[0].start && recs[0].end <= recs[1].end);
        let mut running = 0;
        log.running(|_, _, _| running += 1);
        assert_eq!(running, 0, "nothing runs once both ended");
    }

    #[test]
    fn cursors_read_what_was_published_since_across_chunks() {
        let log = TaskLog::new(Clock::new(), false);
        log.begin();
        // Two threads, more than a chunk each, at the same time.
        std::thread::scope(|s| {
            for t in 0..2u32 {
                let log = &log;
                s.spawn(move || {
                    for i in 0..CHUNK as u32 + 100 {
                        log.started(t << 20 | i);
                        log.finished(t << 20 | i, TaskOutcome::Finished);
                    }
                });
            }
        });
        // Each log in the order written; then, after more, only what came since.
        let mut seen: Vec<Vec<u32>> = Vec::new();
        let mut cursors = Vec::new();
        log.logs(|index, _, _, published| {
            assert_eq!(published, CHUNK as u64 + 100);
            let mut cursor = Cursor::default();
            let mut ids = Vec::new();
            log.read(index, &mut cursor, |r| ids.push(r.id));
            assert_eq!(cursor.position(), published);
            seen.push(ids);
            cursors.push((index, cursor));
        });
        assert_eq!(seen.len(), 2);
        for (t, ids) in seen.iter().enumerate() {
            let first = ids[0] >> 20;
            assert!(
                ids.iter()
                    .enumerate()
                    .all(|(i, &id)| id == first << 20 | i as u32),
                "log {t}"
            );
        }
        // This thread writes more: only its own log grows, and a cursor reads on.
        for i in 0..5 {
            log.started(1000 + i);
            log.finished(1000 + i, TaskOutcome::Finished);
        }
        let mut more = Vec::new();
        for (index, cursor) in &mut cursors {
            log.read(*index, cursor, |r| more.push(r.id));
        }
        assert!(
            more.is_empty(),
            "the two threads' logs did not grow: {more:?}"
        );
        let mine: usize = all(&log).iter().map(|l| l.len()).sum();
        assert_eq!(mine, 2 * (CHUNK + 100) + 5);
    }

    #[test]
    fn the_log_of_a_thread_that_ended_is_used_again() {
        let log = std::sync::Arc::new(TaskLog::new(Clock::new(), true));
        // On a thread of its own, joined: ended, its thread-locals dropped.
        let write = |first: u32| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in first..first + 10 {
                    log.started(i);
                    log.finished(i, TaskOutcome::Finished);
                }
            })
            .join()
            .unwrap();
        };
        log.begin();
        write(0);
        assert_eq!(log.memory(), std::mem::size_of::<Chunk>());
        // Each run on a new thread: the ended thread's log (and chunk) serves it.
        for run in 1..4 {
            log.begin();
            write(100 * run);
            let recs = all(&log).concat();
            assert_eq!(recs.len(), 10, "run {run}");
            assert!(recs.iter().all(|r| r.id / 100 == run), "run {run}");
            assert_eq!(log.memory(), std::mem::size_of::<Chunk>(), "run {run}");
        }
    }

    #[test]
    fn a_thread_keeps_its_own_log_when_an_earlier_one_is_freed() {
        let log = std::sync::Arc::new(TaskLog::new(Clock::new(), true));
        log.begin();
        // An earlier log, whose thread ends…
        let early = log.clone();
        std::thread::spawn(move || {
            early.started(1);
            early.finished(1, TaskOutcome::Finished);
        })
        .join()
        .unwrap();
        // …then this thread's, and the next run frees the first.
        log.started(2);
        log.finished(2, TaskOutcome::Finished);
        log.begin();
        log.started(3);
        // Another task log on this thread in between (a nested run) sends it back
        // through `enter`: it must come back to its own log, mid-task.
        let other = TaskLog::new(Clock::new(), true);
        other.begin();
        other.started(9);
        other.finished(9, TaskOutcome::Finished);
        log.finished(3, TaskOutcome::Finished);
        let logs = all(&log);
        assert_eq!(logs.len(), 1, "one log of this thread: {logs:?}");
        assert_eq!(logs[0].iter().map(|r| r.id).collect::<Vec<_>>(), [3]);
        assert!(logs[0][0].start < logs[0][0].end, "its start was kept");
        let mut running = 0;
        log.running(|_, _, _| running += 1);
        assert_eq!(running, 0);
        // The freed log (and its chunk) is left for a new thread: two chunks in all.
        let late = log.clone();
        std::thread::spawn(move || {
            late.started(4);
            late.finished(4, TaskOutcome::Finished);
        })
        .join()
        .unwrap();
        assert_eq!(all(&log).concat().len(), 2);
        assert_eq!(log.memory(), 2 * std::mem::size_of::<Chunk>());
    }

    #[test]
    fn a_rewinding_log_holds_only_the_current_run() {
        let log = TaskLog::new(Clock::new(), true);
        for run in 0..3u32 {
            log.begin();
            for i in 0..(CHUNK as u32 + 10) {
                log.started(run * 10_000 + i);
                log.finished(run * 10_000 + i, TaskOutcome::Finished);
            }
            let recs = all(&log).concat();
            assert_eq!(recs.len(), CHUNK + 10, "run {run}");
            assert!(recs.iter().all(|r| r.id / 10_000 == run), "run {run}");
        }
        // Reused chunks: two, however many runs.
        assert_eq!(log.memory(), 2 * std::mem::size_of::<Chunk>());
        log.begin();
        assert!(all(&log).is_empty(), "a new run holds nothing yet");
    }

    /// A log that keeps its runs (a profiler's) and is told to forget between runs:
    /// the runs after write from the first chunk again, in the same memory, and only
    /// their records are read (a profiler cleared after each run grew by its records).
    #[test]
    fn a_forgetting_log_writes_its_first_chunk_again() {
        let log = TaskLog::new(Clock::new(), false);
        for run in 0..3u32 {
            log.begin();
            for i in 0..CHUNK as u32 + 10 {
                log.started(run << 20 | i);
                log.finished(run << 20 | i, TaskOutcome::Finished);
            }
            let recs = all(&log).concat();
            assert_eq!(recs.len(), CHUNK + 10, "run {run}: only its own records");
            assert!(recs.iter().all(|r| r.id >> 20 == run));
            assert_eq!(log.memory(), 2 * std::mem::size_of::<Chunk>());
            log.forget();
            assert!(all(&log).is_empty(), "forgotten");
        }
        // Without `forget`, the runs' records accumulate.
        log.begin();
        log.started(1);
        log.finished(1, TaskOutcome::Finished);
        log.begin();
        log.started(2);
        log.finished(2, TaskOutcome::Finished);
        let ids: Vec<u32> = all(&log).concat().iter().map(|r| r.id).collect();
        assert_eq!(ids, [1, 2]);
    }

    /// A log that forgets frees the logs of threads that ended, chunks and all, for
    /// the threads after them (a profiler kept for a service's life and cleared, with
    /// a thread per request, took a log and a chunk of 48 KiB per thread).
    #[test]
    fn a_forgetting_log_frees_the_logs_of_threads_that_ended() {
        let log = std::sync::Arc::new(TaskLog::new(Clock::new(), false));
        for round in 0..4u32 {
            log.begin();
            let on_thread = log.clone();
            // Joined: its thread-locals dropped, its end noted.
            std::thread::spawn(move || {
                on_thread.started(round);
                on_thread.finished(round, TaskOutcome::Finished);
            })
            .join()
            .unwrap();
            let ids: Vec<u32> = all(&log).concat().iter().map(|r| r.id).collect();
            assert_eq!(ids, [round], "only this round's thread's record");
            assert_eq!(
                log.memory(),
                std::mem::size_of::<Chunk>(),
                "one chunk, used again"
            );
            log.forget();
        }
    }
}
