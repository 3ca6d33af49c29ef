//! The task stream (Dask's `Profiler` and task stream): which task ran on which
//! thread, from when to when; written as a Chrome trace (Perfetto, `chrome://tracing`)
//! and summed up per function. Graph tasks and a client's futures alike.
//!
//! A graph task is recorded in its thread's log (`observers/tasklog.rs`): one clock
//! read per task boundary and one record appended, without a lock; the node's function
//! is looked up once per run, by the address of its label, when the run starts, and
//! the records are read (named, converted to times) only when asked for. A future's
//! task has no node: its start is kept on its thread (its end comes on the same
//! thread), and its record is added under the profiler's lock when it ends. The clock
//! is `quanta`'s raw reading (the CPU's time-stamp counter where it is invariant, a
//! third of the cost of `Instant::now` on x86-64; the OS's monotonic clock elsewhere),
//! converted to nanoseconds when records are read.

use core::fmt;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::engine::error::TaskError;
use crate::engine::lock::Recover;
use crate::engine::observe::{FutureEvent, Observer, TaskOutcome};
use crate::engine::table::{Label, NodeInfo};
use crate::observers::tasklog::{outcome_code, outcome_from, Clock, Cursor, TaskLog};

/// Entries in the name cache (a power of two).
const CACHE: usize = 1024;

/// Records every task of the runs it observes: node, name, kind, call site, thread,
/// start and end; and every task of the [`Client`](crate::Client)s it observes
/// ([`ClientBuilder::observer`](crate::ClientBuilder::observer)), on the client's
/// threads that ran them.
///
/// ```ignore
/// use std::sync::Arc;
/// use taskweave::prelude::*;
/// use taskweave::{Profiler, RunOptions};
///
/// #[delayed]
/// fn square(x: u64) -> u64 { x * x }
/// #[delayed]
/// fn sum(parts: Vec<u64>) -> u64 { parts.iter().sum() }
///
/// let parts: Vec<_> = (0..10).map(|i| delay!(square(i))).collect();
/// let total = delay!(sum(parts));
/// let profiler = Arc::new(Profiler::new());
/// total.try_compute_with(RunOptions::new().observer(profiler.clone())).unwrap();
///
/// let summary = profiler.summary();
/// assert_eq!(summary.row("square").unwrap().count, 10);
/// println!("{summary}");
/// let trace = profiler.to_chrome_trace(); // or write_chrome_trace(path)
/// assert!(trace.contains(r#""ph":"X""#));
/// ```
///
/// One graph run at a time (several runs one after the other accumulate, numbered by
/// [`TaskRecord::run`]; [`clear`](Self::clear) forgets them): graphs computed at the
/// same time, `client.compute`s that overlap included, share the per-node slots and
/// mix their records. Futures tasks are recorded at any time, beside a graph run
/// too: each attempt that ran is one record (an attempt that was retried ends
/// [`TaskOutcome::Retried`]), and a task that ended before it ran (cancelled, or a
/// dependency failed) is one record of no duration, on the thread that ended it,
/// marked as not run ([`TaskRecord::ran`]): no run of the summary (counted apart,
/// [`SummaryRow::not_run`]) nor a slice of the trace.
///
/// ```
/// use std::sync::Arc;
/// use graph_runtime::{Client, Profiler, TaskOutcome};
///
/// let profiler = Arc::new(Profiler::new());
/// let client = Client::builder().threads(2).observer(profiler.clone()).build()?;
/// let futures = client.map(|x: u64| x * x, 0..10);
/// client.gather(&futures)?;
/// let records = profiler.records();
/// assert_eq!(records.len(), 10);
/// assert!(records.iter().all(|r| r.kind.as_ref() == "future" && r.key.is_some()));
/// assert!(records.iter().all(|r| r.outcome == TaskOutcome::Finished));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Profiler {
    /// The graph tasks' records, one log per thread (on the profiler's clock).
    log: TaskLog,
    inner: Mutex<Inner>,
    /// This profiler's number, unique in the process (see [`Profiler::identity`]).
    id: u64,
}

#[derive(Default)]
struct Inner {
    runs: u32,
    /// The function of every node of the current run.
    node_function: Arc<[u32]>,
    functions: Interner,
    /// Per log (by its index): where each run's records end, with the run and its
    /// nodes' functions, in order.
    spans: Vec<Vec<Span>>,
    /// Per log: the records before this position are forgotten (`clear` while a
    /// run goes on).
    cleared: Vec<u64>,
    /// Graph runs begun and not ended.
    running: u32,
    /// The futures' task runs.
    records: Vec<Raw>,
}

/// The records of one run in one log: those before `end` and after the span before.
struct Span {
    end: u64,
    run: u32,
    node_function: Arc<[u32]>,
}

/// Distinct (name, kind, call site)s, numbered from 0 in the order first seen: the
/// profiler's, and a performance report's. Looked up by address first (names and
/// call sites are mostly `'static`: a cache of recent (name address, call-site
/// address)s, checked by value), then by a hash of the text.
#[derive(Default)]
pub(crate) struct Interner {
    functions: Vec<Function>,
    /// Full hash of (name, kind, call site) to the first function with it.
    by_hash: HashMap<u64, u32>,
    /// (name address, call-site address) to a function that had them, checked by value.
    cache: Vec<(usize, usize, u32)>,
    /// Label address and run tag to function: labels are alive, and never change,
    /// while the run whose nodes they label goes on, so within one run (one tag) an
    /// address is one label. The last two looked up, then a table by address.
    last_label: [(usize, u64, u32); 2],
    labels: Vec<(usize, u64, u32)>,
}

/// A distinct (name, kind, call site).
pub(crate) struct Function {
    pub(crate) name: Arc<str>,
    pub(crate) kind: Arc<str>,
    pub(crate) call_site: Arc<str>,
    /// Another function with the same hash.
    next: Option<u32>,
}

impl Function {
    #[inline]
    fn is(&self, name: &str, kind: &str, call_site: &str) -> bool {
        *self.name == *name && *self.call_site == *call_site && *self.kind == *kind
    }
}

#[derive(Clone, Copy)]
struct Raw {
    run: u32,
    node: u32,
    /// A future's key number; 0 for a graph task.
    key: u64,
    attempt: u32,
    function: u32,
    thread: u32,
    worker: u32,
    outcome: u32,
    /// False for a future's task that ended before it started (see [`TaskRecord::ran`]).
    ran: bool,
    start: u64,
    end: u64,
}

/// One task run, as recorded: a graph task's, or one attempt of a future's task.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskRecord {
    /// Which graph run of this profiler (0 for the first since it was made or
    /// cleared); 0 for a future's task (see [`key`](Self::key)).
    pub run: u32,
    /// The node's index in its run's node table; 0 for a future's task.
    pub node: u32,
    /// For a future's task, the number in its key
    /// ([`FutureEvent::key`](crate::FutureEvent::key): `Future::key` is
    /// `{name}-{key:x}`); `None` for a graph task.
    pub key: Option<u64>,
    /// For a future's task, which attempt this was (0: the first; a task with
    /// `retries` has one record per attempt that ran); 0 for a graph task.
    pub attempt: u32,
    /// The task's name.
    pub name: Arc<str>,
    /// The node's kind (`task`, `operator`, `method`, …), or `future` / `compute` for
    /// a client's task.
    pub kind: Arc<str>,
    /// Where the task was written, as `file:line:column`.
    pub call_site: Arc<str>,
    /// The thread that ran it: [`Profiler::thread_id`] on that thread, the `tid` in
    /// a Chrome trace. (For a future's task that never ran: the thread that ended it.)
    pub thread: u32,
    /// Its rayon worker index (`rayon::current_thread_index()`), if it ran on a pool.
    pub worker: Option<usize>,
    /// When it started, since the profiler was made. For a graph task that its
    /// thread went to straight from the task before (no steal, no wait between), that
    /// task's end: one clock read per task boundary, so the dispatcher's few tens of
    /// nanoseconds between two tasks count in the later one.
    pub start: Duration,
    /// When it ended, since the profiler was made.
    pub end: Duration,
    /// How it ended.
    pub outcome: TaskOutcome,
    /// Whether it ran: false for a future's task that ended before it started
    /// (cancelled while pending, or a dependency failed), whose start is its end. Such
    /// a record is no run: the summary counts it apart ([`SummaryRow::not_run`]) and
    /// the trace shows it as an instant, not a slice.
    pub ran: bool,
}

impl TaskRecord {
    /// How long it ran.
    pub fn duration(&self) -> Duration {
        self.end.saturating_sub(self.start)
    }
}

impl Profiler {
    /// A profiler with no records; times count from now.
    #[must_use = "a `Profiler` records nothing until given to a run (`RunOptions::observer`)"]
    pub fn new() -> Profiler {
        Profiler::on(Clock::new())
    }

    /// A profiler with no records on `clock`'s time axis.
    pub(crate) fn on(mut clock: Clock) -> Profiler {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        lock(&LIVE).push(id);
        // The threads that write in its log are noted as seen by it (see `ThreadNames`).
        clock.owner = id;
        Profiler {
            log: TaskLog::new(clock, false),
            inner: Mutex::new(Inner::default()),
            id,
        }
    }

    /// Its clock (a performance report's runs share one time axis).
    #[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
    pub(crate) fn clock(&self) -> &Clock {
        self.log.clock()
    }

    /// Every graph task's record of the runs that ended (not those forgotten), in
    /// the order of the logs: `each(raw)`.
    fn graph_raws(&self, inner: &Inner, mut each: impl FnMut(Raw)) {
        self.log.logs(|index, _thread, worker, _published| {
            let Some(spans) = inner.spans.get(index) else {
                return;
            };
            let cleared = inner.cleared.get(index).copied().unwrap_or(0);
            let mut cursor = Cursor::default();
            let mut span = 0;
            let Some(last) = spans.last() else { return };
            let end = last.end;
            let mut position = 0u64;
            self.log.read(index, &mut cursor, |rec| {
                if position >= end {
                    return;
                }
                while spans[span].end <= position {
                    span += 1;
                }
                let at = position;
                position += 1;
                if at < cleared {
                    return;
                }
                let s = &spans[span];
                each(Raw {
                    run: s.run,
                    node: rec.id,
                    key: 0,
                    attempt: 0,
                    function: s.node_function.get(rec.id as usize).copied().unwrap_or(0),
                    thread: rec.thread(),
                    worker,
                    outcome: outcome_code(rec.outcome()),
                    ran: true,
                    start: rec.start,
                    end: rec.end,
                });
            });
        });
    }

    /// The name noted for thread `id` ([`thread_id`](Self::thread_id)): its own
    /// name and rayon worker index, or `thread {id}`.
    #[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
    pub(crate) fn thread_name(id: u32) -> String {
        let names = lock(thread_names());
        (names.by_id.get(&id).cloned()).unwrap_or_else(|| format!("thread {id}"))
    }

    /// The id the profiler gives the calling thread: the [`TaskRecord::thread`] and
    /// the `tid` in traces of the tasks it runs. Stable for the thread's life, never
    /// reused, the same for every profiler.
    pub fn thread_id() -> u32 {
        THREAD.with(|id| match id.get() {
            0 => {
                let new = register_thread();
                id.set(new);
                new
            }
            known => known,
        })
    }

    /// [`thread_id`](Self::thread_id), noting that this profiler records a task of
    /// the thread: the thread's name is kept for it after the thread ends.
    #[inline]
    pub(crate) fn seen_thread_id(&self) -> u32 {
        note_thread_seen(self.id);
        Profiler::thread_id()
    }

    /// Forgets every record (names seen stay known). Between graph runs, the next
    /// runs write where the forgotten ones were: a profiler kept for a service's life
    /// and cleared after each run holds one run's records, not all.
    pub fn clear(&self) {
        // It holds no record of the threads that ended now: their names may go.
        lock(thread_names()).forget_profiler(self.id);
        let mut inner = self.lock();
        let inner = &mut *inner;
        inner.records.clear();
        inner.runs = 0;
        if inner.running == 0 {
            // No graph run writes in the logs, and none begins while this holds the
            // lock: the next runs write them from their first chunks again, so that
            // a profiler cleared after each run holds one run's records, not all.
            self.log.forget();
            inner.spans.clear();
            inner.cleared.clear();
            return;
        }
        // The graph tasks' records stay in their logs, skipped from now on.
        let spans = &inner.spans;
        let cleared = &mut inner.cleared;
        self.log.logs(|index, _, _, _| {
            let end = spans.get(index).and_then(|s| s.last()).map_or(0, |s| s.end);
            if cleared.len() <= index {
                cleared.resize(index + 1, 0);
            }
            cleared[index] = end;
        });
    }

    /// The number of runs recorded since the profiler was made or cleared.
    pub fn runs(&self) -> u32 {
        self.lock().runs
    }

    /// Every task run recorded, in order of start.
    pub fn records(&self) -> Vec<TaskRecord> {
        let inner = self.lock();
        let mut raws: Vec<Raw> = Vec::new();
        self.graph_raws(&inner, |raw| raws.push(raw));
        raws.extend_from_slice(&inner.records);
        let mut records: Vec<TaskRecord> = raws
            .iter()
            .map(|raw| {
                let f = &inner.functions[raw.function];
                TaskRecord {
                    run: raw.run,
                    node: raw.node,
                    key: (raw.key != 0).then_some(raw.key),
                    attempt: raw.attempt,
                    name: f.name.clone(),
                    kind: f.kind.clone(),
                    call_site: f.call_site.clone(),
                    thread: raw.thread,
                    worker: raw.worker.checked_sub(1).map(|w| w as usize),
                    start: self.since_epoch(raw.start),
                    end: self.since_epoch(raw.end.max(raw.start)),
                    outcome: outcome_from(raw.outcome),
                    ran: raw.ran,
                }
            })
            .collect();
        records.sort_by_key(|r| (r.start, r.run, r.node, r.key, r.attempt));
        records
    }

    /// Count, total, mean and longest time per task name, longest total first;
    /// `Display` prints it as a table.
    pub fn summary(&self) -> Summary {
        let inner = self.lock();
        let mut raws: Vec<Raw> = Vec::new();
        self.graph_raws(&inner, |raw| raws.push(raw));
        raws.extend_from_slice(&inner.records);
        let mut rows: Vec<SummaryRow> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for raw in &raws {
            let name = &inner.functions[raw.function].name;
            let i = *index.entry(name).or_insert_with(|| {
                rows.push(SummaryRow {
                    name: name.clone(),
                    count: 0,
                    total: Duration::ZERO,
                    mean: Duration::ZERO,
                    max: Duration::ZERO,
                    not_run: 0,
                });
                rows.len() - 1
            });
            if !raw.ran {
                // No run: as one of no time it would drag the mean towards zero.
                rows[i].not_run += 1;
                continue;
            }
            let took = self
                .since_epoch(raw.end)
                .saturating_sub(self.since_epoch(raw.start));
            let row = &mut rows[i];
            row.count += 1;
            row.total += took;
            row.max = row.max.max(took);
        }
        for row in &mut rows {
            row.mean =
                Duration::from_nanos((row.total.as_nanos() / u128::from(row.count.max(1))) as u64);
        }
        rows.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.name.cmp(&b.name)));
        Summary { rows }
    }

    /// The records as a Chrome trace (the JSON object format): one complete event
    /// (`"ph":"X"`, `ts` and `dur` in microseconds) per task run, on the thread that
    /// ran it (`tid`), and an instant event (`"ph":"i"`, thread-scoped) where a
    /// future's task ended without running ([`TaskRecord::ran`]), with node, kind, call site, run, outcome and rayon worker as
    /// `args` (for a future's task: its `key`, as `Future::key` writes it, and its
    /// `attempt`, instead of node and run); plus the threads' names. Perfetto (ui.perfetto.dev) and
    /// `chrome://tracing` open it.
    pub fn to_chrome_trace(&self) -> String {
        let records = self.records();
        let pid = std::process::id();
        let mut out = String::with_capacity(256 + records.len() * 220);
        out.push_str("{\"displayTimeUnit\":\"ns\",\"otherData\":{\"producer\":\"taskweave\"},\"traceEvents\":[\n");
        out.push_str(&format!(
            "{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":{pid},\"tid\":0,\"args\":{{\"name\":\"taskweave\"}}}}"
        ));
        let mut threads: Vec<u32> = records.iter().map(|r| r.thread).collect();
        threads.sort_unstable();
        threads.dedup();
        {
            let names = lock(thread_names());
            for &tid in &threads {
                let name = names.by_id.get(&tid).map_or("thread", String::as_str);
                out.push_str(&format!(
                    ",\n{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":{pid},\"tid\":{tid},\"args\":{{\"name\":{}}}}}",
                    json_string(name)
                ));
                out.push_str(&format!(
                    ",\n{{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":{pid},\"tid\":{tid},\"args\":{{\"sort_index\":{tid}}}}}"
                ));
            }
        }
        for r in &records {
            let worker = r
                .worker
                .map_or_else(|| "null".to_owned(), |w| w.to_string());
            let which = match r.key {
                None => format!("\"node\":{},\"run\":{}", r.node, r.run),
                Some(key) => format!(
                    "\"key\":{},\"attempt\":{}",
                    json_string(&format!("{}-{key:x}", r.name)),
                    r.attempt
                ),
            };
            // A task that never ran is a moment, not a slice of no width.
            let span = if r.ran {
                format!(
                    "\"ph\":\"X\",\"ts\":{},\"dur\":{}",
                    micros(r.start),
                    micros(r.duration())
                )
            } else {
                format!("\"ph\":\"i\",\"s\":\"t\",\"ts\":{}", micros(r.start))
            };
            out.push_str(&format!(
                ",\n{{\"name\":{},\"cat\":{},{span},\"pid\":{pid},\"tid\":{},\"args\":{{{which},\"call_site\":{},\"outcome\":\"{}\",\"worker\":{worker}}}}}",
                json_string(&r.name),
                json_string(&r.kind),
                r.thread,
                json_string(&r.call_site),
                r.outcome.as_str(),
            ));
        }
        out.push_str("\n]}\n");
        out
    }

    /// Writes [`to_chrome_trace`](Self::to_chrome_trace) to `path`.
    pub fn write_chrome_trace(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.to_chrome_trace())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// The time since the epoch, in the clock's raw units, plus one.
    #[inline]
    fn now(&self) -> u64 {
        self.log.clock().now()
    }

    /// A stamp (raw units since the epoch, plus one) as a time since the epoch.
    fn since_epoch(&self, stamp: u64) -> Duration {
        self.log.clock().since_epoch(stamp)
    }
}

impl Default for Profiler {
    fn default() -> Self {
        Profiler::new()
    }
}

impl fmt::Debug for Profiler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("Profiler")
            .field("runs", &inner.runs)
            .field("future_records", &inner.records.len())
            .finish()
    }
}

impl Observer for Profiler {
    fn graph_started(&self, nodes: &[NodeInfo<'_>]) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        inner.running += 1;
        self.log.begin();
        let tag = inner.functions.next_run_tag();
        let functions: Vec<u32> = nodes
            .iter()
            .map(|info| inner.functions.intern_label(info.label, tag))
            .collect();
        // Runs of the same graph one after the other share their list.
        if *inner.node_function != *functions {
            inner.node_function = functions.into();
        }
    }

    #[inline]
    fn task_started(&self, node: u32, _info: &NodeInfo<'_>) {
        self.log.started(node);
    }

    #[inline]
    fn task_finished(&self, node: u32, _info: &NodeInfo<'_>, outcome: TaskOutcome) {
        self.log.finished(node, outcome);
    }

    fn graph_finished(&self, _result: Result<(), &TaskError>) {
        // Every task of the run has ended (the dispatcher joined them): the records
        // published now are the run's (and those of runs that overlapped it).
        let mut inner = self.lock();
        let inner = &mut *inner;
        inner.running = inner.running.saturating_sub(1);
        let run = inner.runs;
        inner.runs += 1;
        let spans = &mut inner.spans;
        let node_function = &inner.node_function;
        self.log.logs(|index, _, _, published| {
            if spans.len() <= index {
                spans.resize_with(index + 1, Vec::new);
            }
            let log = &mut spans[index];
            if log.last().map_or(0, |s| s.end) < published {
                log.push(Span {
                    end: published,
                    run,
                    node_function: node_function.clone(),
                });
            }
        });
    }

    fn future_started(&self, _task: &FutureEvent<'_>) {
        let start = self.now();
        FUTURE_STARTS.with(|starts| starts.borrow_mut().push(self.identity(), start));
    }

    fn future_finished(&self, task: &FutureEvent<'_>, outcome: TaskOutcome) {
        let (start, end) = self.future_stamps(task);
        let label = Label::new(task.name, task.kind, task.call_site);
        let info = NodeInfo::new(&label, 0, 0, 0);
        let raw = Raw {
            run: 0,
            node: 0,
            key: task.key,
            attempt: task.attempt,
            function: 0,
            thread: self.seen_thread_id(),
            worker: rayon::current_thread_index().map_or(0, |w| w as u32 + 1),
            outcome: outcome_code(outcome),
            ran: task.started,
            start,
            end,
        };
        let mut inner = self.lock();
        let function = inner.functions.intern(&info);
        inner.records.push(Raw { function, ..raw });
    }
}

impl Profiler {
    /// A client's task's attempt ends on this thread: its start (as
    /// [`Observer::future_started`] noted it on this thread; the end, for a task that
    /// never started) and end stamps.
    fn future_stamps(&self, task: &FutureEvent<'_>) -> (u64, u64) {
        let end = self.now();
        // Started on this thread, innermost last (a task that waits may run another
        // one inside it); several profilers may watch one task.
        let start = task
            .started
            .then(|| FUTURE_STARTS.with(|starts| starts.borrow_mut().take(self.identity())))
            .flatten()
            .unwrap_or(end);
        (start, end)
    }

    /// In a `future_finished`, in place of it: the attempt's thread, start and end
    /// (the clock's raw units since the epoch, plus one), recording nothing (a
    /// performance report keeps its own records, on this profiler's time axis).
    #[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
    pub(crate) fn future_raw_span(&self, task: &FutureEvent<'_>) -> (u32, u64, u64) {
        let (start, end) = self.future_stamps(task);
        (self.seen_thread_id(), start, end.max(start))
    }

    /// This profiler, told apart from others in [`FUTURE_STARTS`]: a number of its
    /// own, not its address. A profiler unregistered while a task it saw start runs
    /// (a dashboard dropped) leaves that start behind; a later profiler at the same
    /// address took it for the start of a task it had not seen start, and drew a bar
    /// at the old profiler's time.
    fn identity(&self) -> u64 {
        self.id
    }
}

impl Drop for Profiler {
    fn drop(&mut self) {
        let mut live = lock(&LIVE);
        live.retain(|&id| id != self.id);
        DROPPED.fetch_add(1, Ordering::Release);
        let alive = live.clone();
        drop(live);
        // The names of the threads it saw that ended may be needed no more.
        lock(thread_names()).forget_ended(&alive);
    }
}

/// The numbers of the profilers alive (see [`Starts::push`]).
static LIVE: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// How many profilers have been dropped (see [`Starts::push`]).
static DROPPED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// When the futures tasks running on this thread started, innermost last, by
    /// profiler.
    static FUTURE_STARTS: RefCell<Starts> = const {
        RefCell::new(Starts { starts: Vec::new(), dropped: 0 })
    };
}

/// The starts of the futures tasks running on one thread, by profiler.
struct Starts {
    /// (profiler, start), innermost last.
    starts: Vec<(u64, u64)>,
    /// [`DROPPED`] when the starts were last rid of dropped profilers' ones.
    dropped: u64,
}

impl Starts {
    /// Notes that a task `profiler` saw start at `start` runs on this thread.
    ///
    /// A profiler unregistered while a task it saw start runs (a dashboard dropped)
    /// is never told that task's end, and its start would stay here: 16 bytes for
    /// each such task, on each such profiler, for the thread's life. The starts of
    /// profilers dropped since are let go here, before the list grows (when none
    /// was, this costs one load of a count).
    fn push(&mut self, profiler: u64, start: u64) {
        let dropped = DROPPED.load(Ordering::Acquire);
        if dropped != self.dropped && !self.starts.is_empty() {
            let live = lock(&LIVE);
            self.starts.retain(|(p, _)| live.contains(p));
        }
        self.dropped = dropped;
        self.starts.push((profiler, start));
    }

    /// The start of `profiler`'s innermost task running here, taken out.
    fn take(&mut self, profiler: u64) -> Option<u64> {
        let at = self.starts.iter().rposition(|&(p, _)| p == profiler)?;
        Some(self.starts.remove(at).1)
    }
}

impl Interner {
    /// The number of (name, kind, call site).
    #[inline]
    fn number(&mut self, name: &str, kind: &str, call_site: &str) -> u32 {
        if self.cache.is_empty() {
            self.cache = vec![(0, 0, u32::MAX); CACHE];
        }
        let key = (name.as_ptr() as usize, call_site.as_ptr() as usize);
        let h = (key.0 ^ key.1.rotate_left(17)).wrapping_mul(0x9e37_79b9_7f4a_7c15_u64 as usize);
        let entry = (h >> 7) & (CACHE - 1);
        let (a, b, cached) = self.cache[entry];
        if (a, b) == key && self.functions[cached as usize].is(name, kind, call_site) {
            return cached;
        }
        let function = self.by_text(name, kind, call_site);
        self.cache[entry] = (key.0, key.1, function);
        function
    }

    /// The number of (name, kind, call site), looked up by its text (made if new).
    #[cold]
    fn by_text(&mut self, name: &str, kind: &str, call_site: &str) -> u32 {
        let mut hasher = DefaultHasher::new();
        (name, kind, call_site).hash(&mut hasher);
        let full = hasher.finish();
        let mut found = self.by_hash.get(&full).copied();
        while let Some(f) = found {
            if self.functions[f as usize].is(name, kind, call_site) {
                return f;
            }
            found = self.functions[f as usize].next;
        }
        let id = self.functions.len() as u32;
        let next = self.by_hash.insert(full, id);
        self.functions.push(Function {
            name: name.into(),
            kind: kind.into(),
            call_site: call_site.into(),
            next,
        });
        id
    }

    /// The number of `info`'s function.
    #[inline]
    fn intern(&mut self, info: &NodeInfo<'_>) -> u32 {
        self.number(info.name(), info.kind(), info.call_site())
    }

    /// A tag for the labels of one run ([`intern_label`](Self::intern_label)):
    /// never the same twice.
    pub(crate) fn next_run_tag(&mut self) -> u64 {
        static TAGS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        TAGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// The number of `label`'s function, for a node of the run tagged `tag` (see
    /// [`next_run_tag`](Self::next_run_tag)): by the label's address while the run
    /// goes on (its labels are alive and unchanged meanwhile, so one address is one
    /// label), by its text the first time in the run.
    #[inline]
    pub(crate) fn intern_label(&mut self, label: &Label<'_>, tag: u64) -> u32 {
        self.intern_label_by(label, tag, Self::number)
    }

    /// [`intern_label`](Self::intern_label), the label's function numbered by
    /// `number` the first time in the run (a report numbers a task's row, its name's
    /// key prefix, rather than its name).
    #[inline]
    pub(crate) fn intern_label_by(
        &mut self,
        label: &Label<'_>,
        tag: u64,
        number: impl FnOnce(&mut Self, &str, &str, &str) -> u32,
    ) -> u32 {
        let at = label as *const Label<'_> as usize;
        let (last, last_tag, function) = self.last_label[0];
        if last == at && last_tag == tag {
            return function;
        }
        // Nodes of two functions often alternate (a map and its reduction).
        let (before, before_tag, function) = self.last_label[1];
        if before == at && before_tag == tag {
            self.last_label.swap(0, 1);
            return function;
        }
        if self.labels.is_empty() {
            self.labels = vec![(0, 0, 0); CACHE];
        }
        let entry = (at.wrapping_mul(0x9e37_79b9_7f4a_7c15_u64 as usize) >> 20) & (CACHE - 1);
        let (cached, cached_tag, function) = self.labels[entry];
        let function = if cached == at && cached_tag == tag {
            function
        } else {
            let function = number(self, label.name, label.kind, label.call_site);
            self.labels[entry] = (at, tag, function);
            function
        };
        self.last_label = [(at, tag, function), self.last_label[0]];
        function
    }
}

impl std::ops::Index<u32> for Interner {
    type Output = Function;

    #[inline]
    fn index(&self, function: u32) -> &Function {
        &self.functions[function as usize]
    }
}

#[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
impl Interner {
    /// The number of (name, kind, call site), made if new (a performance report's
    /// functions).
    #[inline]
    pub(crate) fn intern_text(&mut self, name: &str, kind: &str, call_site: &str) -> u32 {
        self.number(name, kind, call_site)
    }

    /// The functions, by number.
    pub(crate) fn list(&self) -> &[Function] {
        &self.functions
    }

    /// About how many bytes it holds.
    pub(crate) fn memory(&self) -> usize {
        use std::mem::size_of;
        let text: usize = self
            .functions
            .iter()
            .map(|f| f.name.len() + f.kind.len() + f.call_site.len())
            .sum();
        self.functions.capacity() * size_of::<Function>()
            + text
            + self.by_hash.capacity() * (size_of::<(u64, u32)>() + 1)
            + self.cache.capacity() * size_of::<(usize, usize, u32)>()
            + self.labels.capacity() * size_of::<(usize, u64, u32)>()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().recover()
}

thread_local! {
    static THREAD: Cell<u32> = const { Cell::new(0) };
    /// The profilers this thread's id was given to, for when it ends (see
    /// [`ThreadNames`]).
    static THREAD_END: ThreadEnd = const {
        ThreadEnd { id: Cell::new(0), last: Cell::new(0), seen: RefCell::new(Vec::new()), dropped: Cell::new(0) }
    };
}

/// The names of the threads given ids ([`Profiler::thread_id`]).
///
/// A name is kept while its thread lives, and after it ended only while a profiler
/// (or a performance report) that recorded a task of the thread is alive: a service
/// that makes threads and profiles them, one after another, kept a name for every
/// thread it ever made.
struct ThreadNames {
    /// The id the next thread gets: ids are never reused.
    next: u32,
    by_id: BTreeMap<u32, String>,
    /// Threads that ended, with the live profilers that recorded their tasks.
    ended: Vec<(u32, Vec<u64>)>,
}

impl ThreadNames {
    /// Forgets the names of ended threads that none of the profilers numbered
    /// `live` recorded, and, past [`ENDED_NAMES`] ended threads, the oldest ones'.
    fn forget_ended(&mut self, live: &[u64]) {
        let by_id = &mut self.by_id;
        let over = self.ended.len().saturating_sub(ENDED_NAMES);
        let mut at = 0;
        self.ended.retain_mut(|(id, seen)| {
            seen.retain(|p| live.contains(p));
            let keep = at >= over && !seen.is_empty();
            at += 1;
            if !keep {
                by_id.remove(id);
            }
            keep
        });
    }
}

impl ThreadNames {
    /// Forgets that the profiler numbered `profiler` recorded tasks of the threads
    /// that ended (it was cleared): the names only it needed go.
    fn forget_profiler(&mut self, profiler: u64) {
        let by_id = &mut self.by_id;
        self.ended.retain_mut(|(id, seen)| {
            seen.retain(|&p| p != profiler);
            if seen.is_empty() {
                by_id.remove(id);
            }
            !seen.is_empty()
        });
    }
}

/// The most ended threads whose names are kept for the profilers that recorded them:
/// a dashboard kept for a service's life sees threads come and go for ever. Past
/// this, the threads that ended first are named `thread {id}`.
const ENDED_NAMES: usize = 1024;

/// Thread names (see [`ThreadNames`]).
fn thread_names() -> &'static Mutex<ThreadNames> {
    static NAMES: Mutex<ThreadNames> = Mutex::new(ThreadNames {
        next: 1,
        by_id: BTreeMap::new(),
        ended: Vec::new(),
    });
    &NAMES
}

/// A thread's id (0 before it has one) and the profilers it was given to: when the
/// thread ends, its name is kept only for those still alive (see [`ThreadNames`]).
struct ThreadEnd {
    id: Cell<u32>,
    /// The profiler noted last: a thread records for one profiler many times over.
    last: Cell<u64>,
    seen: RefCell<Vec<u64>>,
    /// [`DROPPED`] when `seen` was last rid of dropped profilers.
    dropped: Cell<u64>,
}

impl ThreadEnd {
    /// Notes that `profiler` records a task of this thread.
    #[inline]
    fn note(&self, profiler: u64) {
        if self.last.get() != profiler {
            self.note_new(profiler);
        }
    }

    #[cold]
    fn note_new(&self, profiler: u64) {
        self.last.set(profiler);
        let mut seen = self.seen.borrow_mut();
        if seen.contains(&profiler) {
            return;
        }
        // A long-lived thread sees many profilers come and go: the dropped ones are
        // let go before the list grows.
        let dropped = DROPPED.load(Ordering::Acquire);
        if dropped != self.dropped.get() {
            self.dropped.set(dropped);
            let live = lock(&LIVE);
            seen.retain(|p| live.contains(p));
        }
        seen.push(profiler);
    }
}

impl Drop for ThreadEnd {
    fn drop(&mut self) {
        let id = self.id.get();
        if id == 0 {
            return;
        }
        let seen = std::mem::take(self.seen.get_mut());
        let live = lock(&LIVE).clone();
        let mut names = lock(thread_names());
        names.ended.push((id, seen));
        names.forget_ended(&live);
    }
}

/// Notes that the profiler numbered `profiler` records a task of the calling thread
/// (see [`ThreadNames`]); nothing when the thread is ending.
#[inline]
pub(crate) fn note_thread_seen(profiler: u64) {
    let _ = THREAD_END.try_with(|end| end.note(profiler));
}

/// Gives the calling thread the next id, and notes its name.
#[cold]
fn register_thread() -> u32 {
    let mut names = lock(thread_names());
    let id = names.next;
    names.next += 1;
    let name = match (std::thread::current().name(), rayon::current_thread_index()) {
        (Some(name), Some(worker)) => format!("{name} (worker {worker})"),
        (Some(name), None) => name.to_owned(),
        (None, Some(worker)) => format!("rayon worker {worker}"),
        (None, None) => format!("thread {id}"),
    };
    names.by_id.insert(id, name);
    drop(names);
    // Not noted when the thread is ending (its locals torn down): its name is kept.
    let _ = THREAD_END.try_with(|end| end.id.set(id));
    id
}

/// Microseconds, with the nanoseconds as decimals.
fn micros(d: Duration) -> String {
    let ns = d.as_nanos();
    format!("{}.{:03}", ns / 1000, ns % 1000)
}

/// `s` as a JSON string literal.
pub(crate) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The per-function summary of a [`Profiler`]'s records; `Display` prints a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// One row per task name, longest total first.
    pub rows: Vec<SummaryRow>,
}

/// One task name's line in a [`Summary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    /// The task name.
    pub name: Arc<str>,
    /// How many times it ran.
    pub count: u64,
    /// How many of its futures' tasks ended without running (cancelled while
    /// pending, or a dependency failed): not runs, so neither in `count` nor in the
    /// times, whose mean they would drag towards zero.
    pub not_run: u64,
    /// Its time, all runs together.
    pub total: Duration,
    /// Its mean time per run.
    pub mean: Duration,
    /// Its longest run.
    pub max: Duration,
}

impl Summary {
    /// The row of task `name`.
    pub fn row(&self, name: &str) -> Option<&SummaryRow> {
        self.rows.iter().find(|r| &*r.name == name)
    }

    /// The number of task runs, all names together (tasks that never ran not
    /// included: see [`SummaryRow::not_run`]).
    pub fn count(&self) -> u64 {
        self.rows.iter().map(|r| r.count).sum()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = crate::inspect::info::column_width(
            self.rows
                .iter()
                .map(|r| crate::inspect::info::printable(&r.name).chars().count())
                .chain([8])
                .max()
                .unwrap_or(8),
        );
        // The tasks that never ran get a column only where there are some.
        let not_run = self.rows.iter().any(|r| r.not_run > 0);
        write!(
            f,
            "{:<width$}  {:>9}  {:>11}  {:>11}  {:>11}",
            "function", "count", "total", "mean", "max"
        )?;
        if not_run {
            write!(f, "  {:>9}", "not run")?;
        }
        writeln!(f)?;
        for r in &self.rows {
            write!(
                f,
                "{:<width$}  {:>9}  {:>11}  {:>11}  {:>11}",
                crate::inspect::info::printable(&r.name),
                r.count,
                format!("{:.1?}", r.total),
                format!("{:.1?}", r.mean),
                format!("{:.1?}", r.max),
            )?;
            if not_run {
                write!(f, "  {:>9}", r.not_run)?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\nd\u{1}"), r#""a\"b\\c\nd\u0001""#);
    }

    #[test]
    fn records_one_event_per_task() {
        let nodes = [
            NodeInfo::new(
                &const { crate::engine::table::Label::task("load", "x.rs:1:1") },
                0,
                0,
                1,
            ),
            NodeInfo::new(
                &const { crate::engine::table::Label::task("load", "x.rs:1:1") },
                0,
                1,
                1,
            ),
            NodeInfo::new(
                &const { crate::engine::table::Label::task("sum", "x.rs:2:1") },
                2,
                2,
                0,
            ),
        ];
        let p = Profiler::new();
        for _ in 0..2 {
            p.graph_started(&nodes);
            for (i, info) in nodes.iter().enumerate() {
                p.task_started(i as u32, info);
                p.task_finished(i as u32, info, TaskOutcome::Finished);
            }
            p.graph_finished(Ok(()));
        }
        assert_eq!(p.runs(), 2);
        let records = p.records();
        assert_eq!(records.len(), 6);
        assert!(records.iter().all(|r| r.thread == Profiler::thread_id()));
        let summary = p.summary();
        assert_eq!(summary.row("load").unwrap().count, 4);
        assert_eq!(summary.row("sum").unwrap().count, 2);
        p.clear();
        assert!(p.records().is_empty());
    }

    #[test]
    fn starts_of_dropped_profilers_are_let_go() {
        let task = FutureEvent {
            name: "inc",
            kind: "future",
            call_site: "x.rs:1:1",
            key: 1,
            attempt: 0,
            started: true,
        };
        let held = FUTURE_STARTS.with(|s| s.borrow().starts.len());
        let kept = Profiler::new();
        kept.future_started(&task);
        // Profilers dropped while a task they saw start runs on this thread, as a
        // dashboard dropped mid-run: none of their starts is ever taken.
        for _ in 0..100 {
            let gone = Profiler::new();
            gone.future_started(&task);
            gone.future_started(&task);
            drop(gone);
        }
        let p = Profiler::new();
        p.future_started(&task);
        // Only the live profilers' starts are left.
        assert_eq!(FUTURE_STARTS.with(|s| s.borrow().starts.len()), held + 2);
        p.future_finished(&task, TaskOutcome::Finished);
        kept.future_finished(&task, TaskOutcome::Finished);
        assert_eq!(FUTURE_STARTS.with(|s| s.borrow().starts.len()), held);
        assert_eq!((kept.records().len(), p.records().len()), (1, 1));
    }
}
