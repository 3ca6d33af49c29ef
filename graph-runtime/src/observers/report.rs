//! The performance report (Dask's `performance_report`): while a [`PerformanceReport`]
//! lives, every task of every graph run (`graph!`, `Delayed`, a client's `compute`)
//! and every task of every [`Client`](crate::Client) is recorded, and when it ends one
//! self-contained HTML page is written: a header (machine, threads, wall time,
//! tasks per second, peak memory), the task stream (one lane per thread, one bar per
//! task, coloured by function, zoomable), progress and a summary per function, and
//! the graph of each compute (the SVG picture of inspection, coloured by outcome).
//!
//! The report is an ambient observer of the engine (`engine::observe::add_ambient`):
//! runs and clients given no observer of their own are watched too. Each graph run
//! gets a task log of its own (`observers/tasklog.rs`, taken from a small pool, on the
//! recording's time axis: its threads append their task runs without a lock, one
//! clock read per task boundary), each node's function looked up once when the run
//! starts, by its label's address; the run's records are gathered into the recording
//! when it ends, or earlier when the recording is read (a dashboard's poll gathers
//! what ended since the last one). A client's task is recorded when it ends. One
//! recording layer serves the report and the live dashboard: counts and times per
//! function kept as records are gathered, and the task runs in a ring (all of them
//! for a report, the most recent for a dashboard). With no report active, a run pays
//! one relaxed load and allocates nothing.
//!
//! Rows ("functions") are task names grouped by their key prefix, as Dask's dashboard
//! groups keys with `key_split` ([`row_name`]: `load-3` and `load-4` are one row,
//! `load`), and there are at most [`MAX_ROWS`] of them: names beyond fold into one
//! row, [`OTHER_ROW`], which counts the names it holds. Tasks named one by one
//! (`.named(format!("load-{i}"))`) thus make one row, and whatever the names, the
//! recording's functions, a page's tables and the live data stay bounded.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use rustc_hash::{FxHashMap, FxHashSet};

use crate::engine::error::TaskError;
use crate::engine::lock::Recover;
use crate::engine::observe::{
    add_ambient, Ambient, AmbientHandle, FutureEvent, Observer, TaskOutcome,
};
use crate::engine::table::{Label, NodeInfo, Table};
use crate::inspect::colour::function_colour;
use crate::inspect::{DrawOptions, GraphInfo, NodeOutcome, NodeView};
use crate::observers::profile::{json_string, Interner, Profiler};
use crate::observers::tasklog::{Clock, Cursor, Rec as Raw, TaskLog};

/// Beyond this many task runs the stream is drawn as per-thread buckets.
const MAX_BARS: usize = 20_000;
/// The number of time buckets per thread of an aggregated stream.
const BUCKETS: usize = 400;
/// At most this many computes' graphs are drawn.
const MAX_GRAPHS: usize = 12;
/// Graphs of more nodes are not laid out (the page says so).
const MAX_GRAPH_NODES: usize = 200_000;
/// Task logs kept for reuse by later runs…
const POOL: usize = 4;
/// …if they hold at most this many bytes of chunks.
const POOL_LOG_BYTES: usize = 8 << 20;
/// A live page's task stream shows the tasks of this last stretch of time…
const LIVE_WINDOW: Duration = Duration::from_secs(10);
/// …at most this many of them, the most recent.
const LIVE_BARS: usize = 5_000;
/// Task runs are counted by when they ended in stretches of about this long.
const RECENT_STRETCH: Duration = Duration::from_millis(100);
/// At most this many rows (task names grouped by [`row_name`]) have counts of their
/// own; the names that come after fold into [`OTHER_ROW`], so that a recording's
/// rows, a page's tables and the live data's `progress` stay bounded whatever the
/// names (a row is about 200 bytes of `/api/status`).
pub(crate) const MAX_ROWS: usize = 256;
/// The row of the names beyond [`MAX_ROWS`]: one row that counts their tasks and
/// says how many names it holds.
pub(crate) const OTHER_ROW: &str = "(other names)";
/// [`OTHER_ROW`] counts the distinct names it holds exactly up to this many (their
/// hashes are kept, 8 bytes each); beyond, it says "at least" this many.
const FOLDED_NAMES_COUNTED: usize = 10_000;

/// Records every task run while it lives, and writes one self-contained HTML page of
/// them when dropped (or at [`finish`](Self::finish)): Dask's
/// `performance_report(filename="report.html")`.
///
/// Every graph run (static `graph!`, dynamic `Delayed`, a client's `compute`) and every
/// task of every [`Client`](crate::Client) started while the report is active is
/// recorded, whether or not it was given an observer of its own. The page needs no
/// network (inline SVG, CSS and a few lines of script): a task stream with one lane
/// per thread and one bar per task (hover for name, call site, start, duration and
/// outcome; zoom with the wheel or the buttons), progress per function (done,
/// failed, cancelled, total), a per-function table (count, total, mean, max,
/// errors) and the graph of each compute coloured by outcome. Above 20,000 task runs
/// the stream is drawn as per-thread time buckets, and the page says so.
///
/// Its rows are task names grouped by key prefix, as Dask groups keys (`load-3` and
/// `load-4` count in one row, `load`), at most [`Dashboard::MAX_ROWS`](crate::Dashboard::MAX_ROWS)
/// of them; the names that come after count in one row, `(other names)`, which says
/// how many names it holds (see [`Dashboard`](crate::Dashboard) for the rule).
///
/// Needs the cargo feature `dashboard`.
///
/// ```no_run
/// use graph_runtime::{delayed, PerformanceReport};
///
/// let report = PerformanceReport::new("report.html");
/// let inc = delayed(|x: u64| x + 1);
/// let total = delayed(|xs: Vec<u64>| xs.iter().sum::<u64>());
/// let parts: Vec<_> = (0..100).map(|i| inc.call(i)).collect();
/// assert_eq!(total.call(parts).compute(), 5050);
/// let path = report.finish()?; // or let it drop
/// println!("wrote {}", path.display());
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Reports may overlap (each records everything while it lives). Runs already going
/// when the report starts are not recorded; their tasks are, if they are a client's.
#[must_use = "a `PerformanceReport` records while it lives: bind it (`let _report = …`)"]
pub struct PerformanceReport {
    path: PathBuf,
    recording: Recording,
}

/// What a report and a dashboard share: the records, and the registration that
/// keeps them coming.
pub(crate) struct Recording {
    view: View,
    /// Keeps the recording registered; `None` once stopped.
    registration: Option<AmbientHandle>,
}

/// A recording's records, for drawing the page (from any thread).
#[derive(Clone)]
pub(crate) struct View {
    shared: Arc<Shared>,
    started: Instant,
}

impl Recording {
    /// Starts recording every task run. `live`: also what is running now (for a
    /// dashboard; a report reads only what ended). `keep`: the most task runs kept
    /// for the stream, the most recent (the counts and times per function cover
    /// every one); `usize::MAX` keeps all.
    pub(crate) fn start(live: bool, keep: usize) -> Recording {
        let clock = Profiler::new();
        let recent = Recent::new(clock.clock(), RECENT_STRETCH);
        let shared = Arc::new(Shared {
            clock,
            pool: Mutex::new(Vec::new()),
            state: Mutex::new(State {
                keep: keep.max(1),
                records: Ring::new(keep.max(1)),
                recent,
                live,
                ..State::default()
            }),
            live,
        });
        let maker = shared.clone();
        let registration = add_ambient(Arc::new(Ambient {
            per_run: Box::new(move |table| maker.run_observer(table)),
            futures: Arc::new(FuturesWatch(shared.clone())),
        }));
        Recording {
            view: View {
                shared,
                started: Instant::now(),
            },
            registration: Some(registration),
        }
    }

    /// Whether it still records.
    pub(crate) fn is_active(&self) -> bool {
        self.registration.is_some()
    }

    /// Stops recording (runs already going keep their observers).
    pub(crate) fn stop(&mut self) {
        drop(self.registration.take());
    }

    pub(crate) fn view(&self) -> &View {
        &self.view
    }
}

impl View {
    /// The page as of now: the report's, or with `live` the dashboard's (the same
    /// sections, plus the workers' current tasks and a script that polls
    /// `api/status`).
    pub(crate) fn page(&self, live: bool) -> String {
        render(&self.shared, self.started.elapsed(), live)
    }

    /// What the live page polls: counts, progress, the workers' current tasks and
    /// the last stretch of the task stream (its task runs from number `since` on),
    /// as JSON.
    pub(crate) fn status_json(&self, since: u64) -> String {
        status_json(&self.shared, self.started.elapsed(), since)
    }
}

/// What the observers of a recording share.
struct Shared {
    /// The recording's time axis (its epoch), and where the clients' tasks' starts
    /// are kept (on their threads); it keeps no record itself.
    clock: Profiler,
    /// Task logs of finished runs, for the next ones (on `clock`'s time axis).
    pool: Mutex<Vec<TaskLog>>,
    state: Mutex<State>,
    /// A live dashboard: also the clients' tasks running now.
    live: bool,
}

/// Everything recorded. Its size is bounded by the distinct functions, the graphs
/// drawn, `keep`, and the tasks going on (runs and clients' tasks not ended).
#[derive(Default)]
struct State {
    /// Each function with its counts, updated as tasks are gathered.
    functions: Functions,
    /// The most recent task runs, in the order gathered, at most `keep` (each
    /// standing for its function): record `i` is task run number `recorded -
    /// records.len() + i`.
    records: Ring,
    keep: usize,
    /// Task runs gathered in all, kept or not.
    recorded: u64,
    /// Task runs gathered, by when they ended (for a live page only: a report shows
    /// no recent rates).
    recent: Recent,
    live: bool,
    /// Graph runs started.
    computes: usize,
    /// The graphs drawn, of the computes that ended, in the order they ended:
    /// computes of the same graph that went the same way one after the other are one
    /// entry (the first compute's index, how many, the run); at most [`MAX_GRAPHS`].
    graphs: Vec<(usize, usize, GraphRun)>,
    /// The graph runs going on (their tasks are gathered when they end, or when the
    /// recording is read).
    runs: Vec<Weak<RunWatch>>,
    /// The clients' tasks submitted and not yet ended, by key number, and the most
    /// there were at once (what its table holds room for).
    pending: HashSet<u64>,
    pending_peak: usize,
    /// A live dashboard's: per thread, the clients' tasks running on it, innermost
    /// last: key number, function, start (raw). Threads with none are let go once
    /// there are [`RUNNING_THREADS`].
    running: HashMap<u32, Vec<(u64, u32, u64)>>,
}

/// How many threads [`State::running`] holds before it lets go of those running no
/// task (a service whose clients come and go kept a list for every thread it made).
const RUNNING_THREADS: usize = 64;

/// Task runs kept, oldest first, in chunks (of [`RING_CHUNK`] at most): growing
/// copies nothing, and a chunk emptied at the front is used again at the back.
#[derive(Default)]
struct Ring {
    /// Records per chunk.
    chunk: usize,
    chunks: VecDeque<Vec<Raw>>,
    /// Where the first chunk's records start.
    head: usize,
    len: usize,
    /// An emptied chunk, for the next one.
    spare: Option<Vec<Raw>>,
}

/// Records per chunk of a [`Ring`] (96 KiB), at most.
const RING_CHUNK: usize = 4096;

impl Ring {
    /// An empty ring for at most `keep` records: chunks of a quarter of that (from
    /// 256 to [`RING_CHUNK`] records), so that the room it holds beyond `keep` is a
    /// small part of it.
    fn new(keep: usize) -> Ring {
        Ring {
            chunk: (keep / 4).clamp(256, RING_CHUNK),
            ..Ring::default()
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn push_back(&mut self, rec: Raw) {
        match self.chunks.back_mut() {
            Some(last) if last.len() < self.chunk => last.push(rec),
            _ => {
                let mut chunk = self
                    .spare
                    .take()
                    .unwrap_or_else(|| Vec::with_capacity(self.chunk));
                chunk.push(rec);
                self.chunks.push_back(chunk);
            }
        }
        self.len += 1;
    }

    #[inline]
    fn pop_front(&mut self) {
        if self.len == 0 {
            return;
        }
        self.len -= 1;
        self.head += 1;
        if self.head == self.chunk || self.len == 0 {
            if let Some(mut chunk) = self.chunks.pop_front() {
                chunk.clear();
                self.spare = Some(chunk);
            }
            self.head = 0;
        }
    }

    /// The records, oldest first.
    fn iter(&self) -> impl DoubleEndedIterator<Item = &Raw> {
        let head = self.head;
        self.chunks
            .iter()
            .enumerate()
            .flat_map(move |(i, c)| c[if i == 0 { head } else { 0 }..].iter())
    }

    /// The room it holds, in records.
    fn capacity(&self) -> usize {
        (self.chunks.len() + usize::from(self.spare.is_some())) * self.chunk
    }
}

/// How many task runs ended in each stretch of time (about a tenth of a second: a
/// power of two of clock units), for the last [`RECENT`] stretches.
struct Recent {
    /// log2 of a stretch, in clock units.
    shift: u32,
    /// Per stretch `i % RECENT`: which stretch it counts (`i`), and how many.
    stretch: [u64; RECENT],
    count: [u64; RECENT],
}

/// Stretches counted by [`Recent`]: more than [`LIVE_WINDOW`] holds.
const RECENT: usize = 256;

impl Default for Recent {
    fn default() -> Self {
        Recent {
            shift: 63,
            stretch: [u64::MAX; RECENT],
            count: [0; RECENT],
        }
    }
}

impl Recent {
    /// Stretches of about `d` on `clock`.
    fn new(clock: &Clock, d: Duration) -> Recent {
        Recent {
            shift: 63 - clock.units(d).leading_zeros(),
            ..Recent::default()
        }
    }

    /// One task run that ended at `end` (raw).
    #[inline]
    fn ended(&mut self, end: u64) {
        let i = end >> self.shift;
        let at = (i as usize) % RECENT;
        if self.stretch[at] != i {
            self.stretch[at] = i;
            self.count[at] = 0;
        }
        self.count[at] += 1;
    }

    /// The task runs that ended at or after `from` (raw; to the stretch), and before
    /// `now`, within the stretches kept.
    fn since(&self, from: u64, now: u64) -> u64 {
        let (first, last) = (from >> self.shift, now >> self.shift);
        (0..RECENT)
            .filter(|&at| (first..=last).contains(&self.stretch[at]))
            .map(|at| self.count[at])
            .sum()
    }
}

impl State {
    /// Adds one task run (`rec.id` its function): to its function's times, to the
    /// recent counts, and to the kept records (the oldest goes beyond `keep`).
    #[inline]
    fn record(&mut self, rec: Raw) {
        self.functions.counts[rec.id as usize]
            .ran(rec.end.saturating_sub(rec.start), rec.outcome());
        self.keep_record(rec);
    }

    /// Adds one task run to the recent counts and the kept records (not to its
    /// function's).
    #[inline]
    fn keep_record(&mut self, rec: Raw) {
        self.recorded += 1;
        if self.live {
            self.recent.ended(rec.end);
        }
        if self.records.len() >= self.keep {
            self.records.pop_front();
        }
        self.records.push_back(rec);
    }

    /// Notes a graph run that ended, to draw (if it is one more of the last one
    /// drawn, or there is room).
    fn add_graph(&mut self, compute: usize, run: GraphRun) {
        if let Some((_, repeats, last)) = self.graphs.last_mut() {
            if *last == run {
                *repeats += 1;
                return;
            }
        }
        if self.graphs.len() < MAX_GRAPHS {
            self.graphs.push((compute, 1, run));
        }
    }

    /// About how many bytes the recording holds (records, functions, graphs, the
    /// tasks going on).
    fn memory(&self) -> usize {
        use std::mem::size_of;
        let graphs: usize = self
            .graphs
            .iter()
            .map(|(_, _, g)| {
                4 * (g.functions.capacity()
                    + g.successors.capacity()
                    + g.successor_counts.capacity())
                    + g.outcomes.capacity() * size_of::<Option<TaskOutcome>>()
                    + size_of::<(usize, usize, GraphRun)>()
            })
            .sum();
        let running: usize = self
            .running
            .values()
            .map(|v| v.capacity() * size_of::<(u64, u32, u64)>() + 16)
            .sum();
        self.records.capacity() * size_of::<Raw>()
            + self.functions.names.memory()
            + self.functions.counts.capacity() * size_of::<Tally>()
            + self.functions.memory()
            + graphs
            + self.runs.capacity() * size_of::<Weak<RunWatch>>()
            // A hash table of the peak's size: a power of two of buckets, 7/8 full
            // at most, a key and a control byte each.
            + (self.pending_peak * 8 / 7 + 1).next_power_of_two() * (size_of::<u64>() + 1)
            + running
            + size_of::<Recent>()
    }
}

/// Distinct (row, kind, call site)s, numbered (as a profiler numbers them), and
/// each one's counts. A task's name is interned as its row's ([`Rows`]): the
/// functions are bounded by [`MAX_ROWS`] (plus one) times the kinds and call sites
/// of the program, whatever the names.
#[derive(Default)]
struct Functions {
    names: Interner,
    /// By function number.
    counts: Vec<Tally>,
    /// Which row each task name counts in.
    rows: Rows,
}

/// The rows task names are counted in: each name's [`row_name`], given a row of its
/// own in the order they come, up to [`MAX_ROWS`] of them; the rest fold into
/// [`OTHER_ROW`].
#[derive(Default)]
struct Rows {
    /// The rows given, by name (at most [`MAX_ROWS`]): the number in `names`.
    index: FxHashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
    /// Hashes of the distinct row names folded into [`OTHER_ROW`] (SipHash, 64
    /// bits), at most [`FOLDED_NAMES_COUNTED`]; `folded_more`: more were folded than
    /// it counts.
    folded: FxHashSet<u64>,
    folded_more: bool,
}

impl Rows {
    /// The row of task `name`: its [`row_name`], given a row if new and there is
    /// room, else [`OTHER_ROW`] (and counted as one of its names). The text
    /// returned is the row's own copy (the same address each time).
    fn row(&mut self, name: &str) -> &str {
        let key = row_name(name);
        if let Some(&at) = self.index.get(key) {
            return &self.names[at as usize];
        }
        if self.names.len() < MAX_ROWS && key != OTHER_ROW {
            let row: Arc<str> = key.into();
            self.index.insert(row.clone(), self.names.len() as u32);
            self.names.push(row);
            return self.names.last().expect("just pushed");
        }
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let hash = hasher.finish();
        if self.folded.len() < FOLDED_NAMES_COUNTED {
            self.folded.insert(hash);
        } else if !self.folded.contains(&hash) {
            self.folded_more = true;
        }
        OTHER_ROW
    }

    /// The distinct names folded into [`OTHER_ROW`] (counted up to
    /// [`FOLDED_NAMES_COUNTED`]), and whether there were more.
    fn folded(&self) -> (usize, bool) {
        (self.folded.len(), self.folded_more)
    }

    /// About how many bytes it holds.
    fn memory(&self) -> usize {
        use std::mem::size_of;
        let text: usize = self.names.iter().map(|n| n.len() + 16).sum();
        text + self.index.capacity() * (size_of::<(Arc<str>, u32)>() + 1)
            + self.names.capacity() * size_of::<Arc<str>>()
            + self.folded.capacity() * (size_of::<u64>() + 1)
    }
}

/// The row a task name counts in: its key prefix, after Dask's `key_split` (which
/// groups the dashboard's keys): per-item names make one row, and ordinary names are
/// their own row.
///
/// - A name is split at `-` into words. The first word and each next word made of
///   letters only are kept; the row ends before the first other word (digits, a
///   hash such as `1a2b3c4d…`, or a word of exactly 8 of the letters `a`–`f`, a
///   hash too), provided that word and every one after it is a plain token (letters,
///   digits, `_` or `.`): `load-3` → `load`, `x-1-2-3` → `x`, `hello-world-1` →
///   `hello-world`, `x-abcdefab` → `x`, `read-csv` → `read-csv`.
/// - A stringified tuple key, `('K', …)` or `("K", …)`, counts as its name `K`,
///   whose last `-` word is its token and is dropped, as Dask's `key_split` does on
///   such a string: `('sum-abc', 0)` → `sum`, `('x-2', 1)` → `x`, `('x', 1)` → `x`.
/// - A row of 32 hexadecimal digits (a bare hash) is `data`.
///
/// Unlike `key_split`, a name whose words after the first are not all plain tokens
/// is left whole (`fn(u64) -> u64` stays so; `key_split` would cut it at `-`), an
/// empty first word leaves the name whole (`-`, `-x`), an 8-letter word counts as a
/// hash only if all its letters are `a`–`f` (`key_split` tests a prefix, and cuts
/// `x-abcdxyzw` too), and no `<…>` object representation is read (Rust names have
/// none). Everything else (function names, `split.0`, `closure`, operators) is its
/// own row.
pub(crate) fn row_name(name: &str) -> &str {
    let key = match tuple_key(name) {
        Some(key) => match key.rfind('-').filter(|&cut| cut > 0) {
            Some(cut) => key_prefix(&key[..cut]),
            None => key,
        },
        None => key_prefix(name),
    };
    if key.len() == 32
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        "data"
    } else {
        key
    }
}

/// The name `K` of a stringified tuple key `('K', …)` or `("K", …)` (quoted, then
/// `,` or `)`), if `name` is one and `K` is not empty.
fn tuple_key(name: &str) -> Option<&str> {
    let rest = name.strip_prefix('(')?;
    let quote = rest.chars().next().filter(|&q| q == '\'' || q == '"')?;
    let rest = &rest[1..];
    let end = rest.find(quote)?;
    let after = rest[end + 1..].trim_start();
    (end > 0 && (after.starts_with(',') || after.starts_with(')'))).then(|| &rest[..end])
}

/// `key` up to its first `-` word that is not a word of letters (see [`row_name`]),
/// or all of it.
fn key_prefix(key: &str) -> &str {
    let mut end = match key.find('-') {
        Some(at) if at > 0 => at,
        _ => return key,
    };
    loop {
        let rest = &key[end + 1..];
        let word = &rest[..rest.find('-').unwrap_or(rest.len())];
        if !is_name_word(word) {
            // The suffix starts here: dropped if it is made of plain tokens.
            let plain = rest.split('-').all(|w| {
                !w.is_empty()
                    && w.chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
            });
            return if plain { &key[..end] } else { key };
        }
        end += 1 + word.len();
        if end == key.len() {
            return key;
        }
    }
}

/// A word kept in a row's name: letters only, and not 8 of the letters `a`–`f` (a
/// hash).
fn is_name_word(word: &str) -> bool {
    !word.is_empty()
        && word.chars().all(char::is_alphabetic)
        && !(word.len() == 8 && word.bytes().all(|b| (b'a'..=b'f').contains(&b)))
}

/// One function's counts and times, kept as its tasks are gathered (times in clock
/// units).
#[derive(Default, Clone, Copy)]
struct Tally {
    /// Tasks ended, by outcome (a graph's node that never ran counts as cancelled).
    done: u64,
    failed: u64,
    cancelled: u64,
    /// Tasks of runs going on that have not been gathered, and clients' tasks
    /// submitted and not ended.
    pending: u64,
    /// Task runs (a client's task retried runs more than once; one that ended before
    /// it ran is none), their time, the longest, and how many failed.
    runs: u64,
    time: u64,
    max: u64,
    errors: u64,
}

impl Tally {
    /// One task run of `took` (clock units).
    #[inline]
    fn ran(&mut self, took: u64, outcome: TaskOutcome) {
        self.runs += 1;
        self.time += took;
        self.max = self.max.max(took);
        if matches!(outcome, TaskOutcome::Failed | TaskOutcome::Stopped) {
            self.errors += 1;
        }
    }

    /// A task that was pending ran once, for `took`, and ended (a graph's task).
    #[inline]
    fn ran_once(&mut self, took: u64, outcome: TaskOutcome) {
        self.pending = self.pending.saturating_sub(1);
        self.runs += 1;
        self.time += took;
        self.max = self.max.max(took);
        match outcome {
            TaskOutcome::Finished => self.done += 1,
            TaskOutcome::Failed | TaskOutcome::Stopped => {
                self.failed += 1;
                self.errors += 1;
            }
            TaskOutcome::Cancelled | TaskOutcome::Retried => self.cancelled += 1,
        }
    }

    /// One task's end (not an attempt that is retried), pending until now.
    #[inline]
    fn ended(&mut self, outcome: TaskOutcome, was_pending: bool) {
        if was_pending {
            self.pending = self.pending.saturating_sub(1);
        }
        match outcome {
            TaskOutcome::Finished => self.done += 1,
            TaskOutcome::Failed | TaskOutcome::Stopped => self.failed += 1,
            TaskOutcome::Cancelled | TaskOutcome::Retried => self.cancelled += 1,
        }
    }

    /// As counts to show, times in nanoseconds.
    fn counts(&self, clock: &Clock) -> Counts {
        let nanos = |units: u64| Duration::from_nanos(clock.nanos(units.saturating_add(1)));
        Counts {
            done: self.done,
            failed: self.failed,
            cancelled: self.cancelled,
            pending: self.pending,
            runs: self.runs,
            time: nanos(self.time),
            max: nanos(self.max),
            errors: self.errors,
        }
    }
}

/// One function's counts and times, as shown.
#[derive(Default, Clone, Copy)]
struct Counts {
    done: u64,
    failed: u64,
    cancelled: u64,
    pending: u64,
    runs: u64,
    time: Duration,
    max: Duration,
    errors: u64,
}

impl Counts {
    /// `other`'s counts added (functions of the same name make one row).
    fn add(&mut self, other: &Counts) {
        self.done += other.done;
        self.failed += other.failed;
        self.cancelled += other.cancelled;
        self.pending += other.pending;
        self.runs += other.runs;
        self.time += other.time;
        self.max = self.max.max(other.max);
        self.errors += other.errors;
    }

    /// Every task: ended or pending.
    fn total(&self) -> u64 {
        self.done + self.failed + self.cancelled + self.pending
    }

    /// The mean time of a run.
    fn mean(&self) -> Duration {
        Duration::from_nanos((self.time.as_nanos() / u128::from(self.runs.max(1))) as u64)
    }
}

impl Functions {
    /// The number of the function of a task `name`d so, of `kind`, written at
    /// `call_site`: its row's ([`Rows::row`]), made if new.
    #[inline]
    fn intern(&mut self, name: &str, kind: &str, call_site: &str) -> u32 {
        let row = self.rows.row(name);
        let id = self.names.intern_text(row, kind, call_site);
        self.grow(id)
    }

    /// The number of `label`'s function (as [`intern`](Self::intern)), for a node of
    /// the run tagged `tag` (`Interner::next_run_tag`): by the label's address while
    /// the run goes on (its labels are alive and unchanged meanwhile), by its text
    /// the first time in the run. The counts have room for it.
    #[inline]
    fn intern_label(&mut self, label: &Label<'_>, tag: u64) -> u32 {
        let rows = &mut self.rows;
        let id = self
            .names
            .intern_label_by(label, tag, |names, name, kind, call_site| {
                names.intern_text(rows.row(name), kind, call_site)
            });
        self.grow(id)
    }

    /// About how many bytes its rows hold (the interned functions and their counts
    /// not included).
    fn memory(&self) -> usize {
        self.rows.memory()
    }

    /// Room for the counts of `id` (new ones are numbered in order).
    #[inline]
    fn grow(&mut self, id: u32) -> u32 {
        if id as usize >= self.counts.len() {
            self.counts.resize(id as usize + 1, Tally::default());
        }
        id
    }

    #[inline]
    fn counts(&mut self, function: u32) -> &mut Tally {
        &mut self.counts[function as usize]
    }
}

/// One graph run to draw: its nodes' functions and edges, and how each node ended.
#[derive(Clone, PartialEq, Eq)]
struct GraphRun {
    /// Its number of nodes (the vectors below are empty for a graph too large to
    /// draw).
    nodes: usize,
    functions: Vec<u32>,
    successors: Vec<u32>,
    /// Each node's number of successors.
    successor_counts: Vec<u32>,
    /// `None`: it never ran (or the run has not ended).
    outcomes: Vec<Option<TaskOutcome>>,
    ended: bool,
    error: Option<String>,
}

/// One task run on the recording's time axis.
#[derive(Clone, Copy)]
struct Rec {
    function: u32,
    thread: u32,
    start: Duration,
    end: Duration,
    outcome: TaskOutcome,
}

impl Rec {
    /// `raw` (standing for its function) on `clock`'s time axis.
    fn of(raw: &Raw, clock: &Clock) -> Rec {
        Rec {
            function: raw.id,
            thread: raw.thread(),
            start: clock.since_epoch(raw.start),
            end: clock.since_epoch(raw.end.max(raw.start)),
            outcome: raw.outcome(),
        }
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().recover()
    }

    fn clock(&self) -> &Clock {
        self.clock.clock()
    }

    /// The observer of one run of `table`: a task log of its own; the run's nodes
    /// counted as pending, and its graph kept if it may be drawn.
    fn run_observer(self: &Arc<Self>, table: &Table<'_>) -> Arc<dyn Observer> {
        let nodes = table.nodes();
        let log = self
            .pool
            .lock()
            .recover()
            .pop()
            .unwrap_or_else(|| TaskLog::new(self.clock().clone(), true));
        // The run starts now (the dispatcher tells `graph_started` next, which the
        // watch leaves to this): its records follow in the log, and each node's
        // function is looked up by its label's address.
        log.begin();
        let mut state = self.state();
        let state = &mut *state;
        let tag = state.functions.names.next_run_tag();
        let functions: Vec<u32> = nodes
            .iter()
            .map(|info| state.functions.intern_label(info.label, tag))
            .collect();
        for &f in &functions {
            state.functions.counts[f as usize].pending += 1;
        }
        let compute = state.computes;
        state.computes += 1;
        // Drawn if there is room for it, or if it may be one more of the last one.
        let drawn = state.graphs.len() < MAX_GRAPHS
            || state
                .graphs
                .last()
                .is_some_and(|(_, _, g)| g.nodes == nodes.len() && g.functions == functions);
        state.runs.retain(|run| run.strong_count() > 0);
        let graph = drawn.then(|| {
            let small = nodes.len() <= MAX_GRAPH_NODES;
            GraphRun {
                nodes: nodes.len(),
                functions: if small { functions.clone() } else { Vec::new() },
                successors: if small {
                    table.successors().to_vec()
                } else {
                    Vec::new()
                },
                successor_counts: if small {
                    nodes.iter().map(|n| n.successor_count).collect()
                } else {
                    Vec::new()
                },
                outcomes: Vec::new(),
                ended: false,
                error: None,
            }
        });
        let watch = Arc::new(RunWatch {
            shared: self.clone(),
            compute,
            functions,
            graph: Mutex::new(graph),
            gathered: Mutex::new(Gathered::default()),
            ended: AtomicBool::new(false),
            log: Some(log),
        });
        state.runs.push(Arc::downgrade(&watch));
        watch
    }
}

/// Watches one graph run for a recording.
struct RunWatch {
    shared: Arc<Shared>,
    /// Which compute of the recording.
    compute: usize,
    /// Each node's function.
    functions: Vec<u32>,
    /// Its graph, if it may be drawn (taken when the run ends).
    graph: Mutex<Option<GraphRun>>,
    /// How far its records were gathered. Locked after the recording's state.
    gathered: Mutex<Gathered>,
    /// Whether its end was recorded ([`RunWatch::end`]): by `graph_finished`, or when
    /// the watch is dropped without it (the run unwound).
    ended: AtomicBool,
    /// Its task log (back to the pool when the run's observer goes).
    log: Option<TaskLog>,
}

/// How far a run's records were gathered into its recording.
#[derive(Default)]
struct Gathered {
    /// Per log index, where the reading stopped.
    cursors: Vec<Cursor>,
    /// Records gathered, and how many of them did not finish.
    records: u64,
    not_finished: u64,
}

impl RunWatch {
    #[inline]
    fn log(&self) -> &TaskLog {
        self.log.as_ref().expect("taken only when dropped")
    }

    /// Gathers the run's records published since the last time into `state`: counts
    /// per function and the kept records.
    fn gather(&self, state: &mut State) {
        let log = self.log();
        let mut gathered = self.gathered.lock().recover();
        let gathered = &mut *gathered;
        log.logs(|index, _, _, published| {
            if gathered.cursors.len() <= index {
                gathered.cursors.resize_with(index + 1, Cursor::default);
            }
            let cursor = &mut gathered.cursors[index];
            if cursor.position() >= published {
                return;
            }
            log.read(index, cursor, |raw| {
                let function = self.functions[raw.id as usize];
                let outcome = raw.outcome();
                gathered.records += 1;
                gathered.not_finished += u64::from(outcome != TaskOutcome::Finished);
                state.functions.counts[function as usize]
                    .ran_once(raw.end.saturating_sub(raw.start), outcome);
                state.keep_record(raw.with_id(function));
            });
        });
    }

    /// How each node ended (`None`: it never ran), read again from the log.
    fn outcomes(&self) -> Vec<Option<TaskOutcome>> {
        let log = self.log();
        let mut outcomes = vec![None; self.functions.len()];
        log.logs(|index, _, _, _| {
            log.read(index, &mut Cursor::default(), |raw| {
                outcomes[raw.id as usize] = Some(raw.outcome());
            });
        });
        outcomes
    }
}

impl Observer for RunWatch {
    fn graph_started(&self, _nodes: &[NodeInfo<'_>]) {
        // Done when the watch was made (`Shared::run_observer`), with the same nodes:
        // the run's table's.
    }

    #[inline]
    fn task_started(&self, node: u32, _info: &NodeInfo<'_>) {
        self.log().started(node);
    }

    #[inline]
    fn task_finished(&self, node: u32, _info: &NodeInfo<'_>, outcome: TaskOutcome) {
        self.log().finished(node, outcome);
    }

    fn graph_finished(&self, result: Result<(), &TaskError>) {
        self.end(result.err().map(ToString::to_string));
    }
}

impl RunWatch {
    /// Records the run's end, once: gathers the rest of its records, counts its nodes
    /// that never ran as cancelled (none pending any more) and keeps its graph, with
    /// `error` if it failed. Every task of the run has ended (the dispatcher joined
    /// them, or the run is gone): what its log holds now is all of it.
    fn end(&self, error: Option<String>) {
        if self.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut state = self.shared.state();
        let state = &mut *state;
        self.gather(state);
        let (records, not_finished) = {
            let g = self.gathered.lock().recover();
            (g.records, g.not_finished)
        };
        let all_finished = records == self.functions.len() as u64 && not_finished == 0;
        let mut graph = self.graph.lock().recover().take();
        // Nodes that never ran (the run failed or stopped first) count as cancelled;
        // the graph drawn shows how each node ended.
        let outcomes = if all_finished {
            None
        } else {
            Some(self.outcomes())
        };
        if let Some(outcomes) = &outcomes {
            for (&function, outcome) in self.functions.iter().zip(outcomes) {
                if outcome.is_none() {
                    state
                        .functions
                        .counts(function)
                        .ended(TaskOutcome::Cancelled, true);
                }
            }
        }
        let me: *const RunWatch = self;
        state.runs.retain(|run| !std::ptr::eq(run.as_ptr(), me));
        if let Some(graph) = &mut graph {
            if graph.nodes <= MAX_GRAPH_NODES {
                graph.outcomes = match outcomes {
                    Some(outcomes) => outcomes,
                    None => vec![Some(TaskOutcome::Finished); graph.nodes],
                };
            }
            graph.ended = true;
            graph.error = error;
        }
        if let Some(graph) = graph {
            state.add_graph(self.compute, graph);
        }
    }
}

impl Drop for RunWatch {
    fn drop(&mut self) {
        // A run that unwound (its bookkeeping, or reading a result, panicked) never
        // told `graph_finished`: its end is recorded now, or its nodes would stay
        // pending and its task runs uncounted while the recording lives.
        self.end(Some(
            "the run unwound before it ended (a panic outside its tasks)".to_owned(),
        ));
        if let Some(log) = self.log.take() {
            // A log that held a large run is let go: kept, its chunks would stay
            // while the recording lives.
            if log.memory() <= POOL_LOG_BYTES {
                let mut pool = self.shared.pool.lock().recover();
                if pool.len() < POOL {
                    pool.push(log);
                }
            }
        }
    }
}

/// Watches every client's tasks for a recording.
struct FuturesWatch(Arc<Shared>);

impl Observer for FuturesWatch {
    fn future_submitted(&self, task: &FutureEvent<'_>) {
        let mut state = self.0.state();
        let function = state.functions.intern(task.name, task.kind, task.call_site);
        if state.pending.insert(task.key) {
            state.functions.counts(function).pending += 1;
            state.pending_peak = state.pending_peak.max(state.pending.len());
        }
    }

    fn future_started(&self, task: &FutureEvent<'_>) {
        self.0.clock.future_started(task);
        if self.0.live {
            let now = self.0.clock().now();
            let mut state = self.0.state();
            let function = state.functions.intern(task.name, task.kind, task.call_site);
            let thread = self.0.clock.seen_thread_id();
            // Threads end (a client dropped, a pool's extra threads gone): their empty
            // lists are let go before the map grows past a few dozen threads, so that
            // it holds about the threads running tasks, not every one that ever ran one.
            if state.running.len() >= RUNNING_THREADS && !state.running.contains_key(&thread) {
                state.running.retain(|_, tasks| !tasks.is_empty());
            }
            state
                .running
                .entry(thread)
                .or_default()
                .push((task.key, function, now));
        }
    }

    fn future_finished(&self, task: &FutureEvent<'_>, outcome: TaskOutcome) {
        let (thread, start, end) = self.0.clock.future_raw_span(task);
        let mut state = self.0.state();
        let state = &mut *state;
        let function = state.functions.intern(task.name, task.kind, task.call_site);
        // A task that ended before it ran (cancelled while pending, or a dependency
        // failed) is no run: only its end counts (cancelled, or failed, in the
        // progress), not a bar nor a run of no time, which would drag its function's
        // mean towards zero.
        if task.started {
            state.record(Raw::new(start, end, function, thread, outcome));
        }
        // One record per attempt; the last decides the outcome.
        if outcome != TaskOutcome::Retried {
            let was_pending = state.pending.remove(&task.key);
            state.functions.counts(function).ended(outcome, was_pending);
        }
        if self.0.live && task.started {
            if let Some(on_thread) = state.running.get_mut(&thread) {
                if let Some(at) = on_thread.iter().rposition(|&(key, ..)| key == task.key) {
                    on_thread.remove(at);
                }
            }
        }
    }
}

impl PerformanceReport {
    /// Starts recording every task run; the page is written to `path` when the
    /// report is dropped (errors are printed on stderr) or at
    /// [`finish`](Self::finish).
    pub fn new(path: impl Into<PathBuf>) -> PerformanceReport {
        PerformanceReport {
            path: path.into(),
            recording: Recording::start(false, usize::MAX),
        }
    }

    /// Where the page will be written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The page as it would be written now (the report keeps recording).
    pub fn to_html(&self) -> String {
        self.recording.view().page(false)
    }

    /// Stops recording and writes the page; returns its path, or the error writing
    /// it.
    pub fn finish(mut self) -> std::io::Result<PathBuf> {
        self.write()
    }

    fn write(&mut self) -> std::io::Result<PathBuf> {
        self.recording.stop();
        let page = self.recording.view().page(false);
        std::fs::write(&self.path, page)?;
        Ok(self.path.clone())
    }
}

impl Drop for PerformanceReport {
    fn drop(&mut self) {
        if self.recording.is_active() {
            if let Err(error) = self.write() {
                eprintln!(
                    "taskweave: could not write the performance report {}: {error}",
                    self.path.display()
                );
            }
        }
    }
}

impl std::fmt::Debug for PerformanceReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerformanceReport")
            .field("path", &self.path)
            .field("active", &self.recording.is_active())
            .finish()
    }
}

/// Runs `f` with a [`PerformanceReport`] active, then writes the page to `path`:
/// `f`'s result, or the error writing the page. (If `f` panics, the page is still
/// written, as the report is dropped.)
///
/// ```no_run
/// let sum = graph_runtime::performance_report("report.html", || {
///     let inc = graph_runtime::delayed(|x: u64| x + 1);
///     inc.call(41).compute()
/// })?;
/// assert_eq!(sum, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn performance_report<R>(
    path: impl Into<PathBuf>,
    f: impl FnOnce() -> R,
) -> std::io::Result<R> {
    let report = PerformanceReport::new(path);
    let result = f();
    report.finish()?;
    Ok(result)
}

/// What a page or the live data shows, read from the recording.
struct Snapshot {
    functions: Vec<(Arc<str>, Arc<str>, Arc<str>)>,
    /// The task runs drawn: for a page every one kept, in order of thread and start;
    /// for the live data, those of the stream's window (at most [`LIVE_BARS`], the
    /// most recent). Tasks of runs going on that ended included.
    records: Vec<Rec>,
    /// Task runs recorded in all (kept or not; those of runs going on included).
    recorded: u64,
    /// Task runs kept, and the most kept.
    kept: usize,
    keep: usize,
    /// About how many bytes the recording holds.
    memory: usize,
    /// Task runs kept that ended in the last second, and in the stream's window.
    last_second: u64,
    in_window: usize,
    /// Threads that ran the task runs kept.
    threads: usize,
    /// The graphs to draw: the first compute's index, how many computes in a row ran
    /// it the same way, and the run (for a page only).
    graphs: Vec<(usize, usize, GraphRun)>,
    /// How many computes there were.
    computes: usize,
    /// Counts by row name, in order of first appearance (at most [`MAX_ROWS`], and
    /// [`OTHER_ROW`]).
    rows: Vec<(Arc<str>, Counts)>,
    /// The distinct names [`OTHER_ROW`] holds (counted up to
    /// [`FOLDED_NAMES_COUNTED`]), and whether it holds more.
    folded: (usize, bool),
    /// Each name's colour: names in order, one colour each.
    colours: HashMap<Arc<str>, &'static str>,
    /// For a live page: the tasks running now (thread, name, start), by thread.
    running: Vec<(u32, Arc<str>, Duration)>,
    /// Now, on the records' time axis.
    now: Duration,
    /// The start of the live stream's window.
    from: Duration,
}

impl Snapshot {
    fn colour(&self, name: &str) -> &'static str {
        self.colours.get(name).copied().unwrap_or("#888888")
    }

    /// For [`OTHER_ROW`]: how many names it holds, as a page says it (`12 names`,
    /// `at least 10000 names`); `None` for any other row.
    fn names_held(&self, name: &str) -> Option<String> {
        (name == OTHER_ROW).then(|| {
            let (names, more) = self.folded;
            format!(
                "{}{names} name{}",
                if more { "at least " } else { "" },
                if names == 1 && !more { "" } else { "s" }
            )
        })
    }
}

/// The row of `name`, made if new.
fn row_of(
    rows: &mut Vec<(Arc<str>, Counts)>,
    index: &mut HashMap<Arc<str>, usize>,
    name: &Arc<str>,
) -> usize {
    *index.entry(name.clone()).or_insert_with(|| {
        rows.push((name.clone(), Counts::default()));
        rows.len() - 1
    })
}

/// What is read: for a page, every record kept and the graphs; for the live data,
/// only the stream's window, and of it only the task runs from number `since` on
/// (those a poller has not seen).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Read {
    Page,
    Status { since: u64 },
}

/// Everything a page (or the live data) shows. Under the recording's lock it gathers
/// the records of the runs going on (those not gathered before: a read costs what
/// ended since the last one, not what the runs recorded), and copies only what is
/// shown: the counts per function, and the records drawn (for the live data, at most
/// [`LIVE_BARS`], looked for among as many of the most recent).
fn snapshot(shared: &Shared, read: Read) -> Snapshot {
    let mut guard = shared.state();
    let state = &mut *guard;
    let clock = shared.clock();
    // The window of the live stream and the last second, from a "now" before any
    // read below.
    let before_raw = clock.now();
    let before = clock.since_epoch(before_raw);
    let from = before.saturating_sub(LIVE_WINDOW);
    // The tasks of runs going on: those that ended are gathered (counted, kept); the
    // others run now.
    let watches: Vec<Arc<RunWatch>> = state.runs.iter().filter_map(Weak::upgrade).collect();
    let mut running: Vec<(u32, Arc<str>, Duration)> = Vec::new();
    for watch in &watches {
        watch.gather(state);
        watch.log().running(|thread, node, start| {
            let function = watch.functions[node as usize];
            running.push((
                thread,
                state.functions.names[function].name.clone(),
                clock.since_epoch(start),
            ));
        });
    }
    let recorded = state.recorded;
    let last_second = state.recent.since(
        before_raw.saturating_sub(clock.units(Duration::from_secs(1))),
        before_raw,
    );
    let in_window = state.recent.since(
        before_raw.saturating_sub(clock.units(LIVE_WINDOW)),
        before_raw,
    ) as usize;
    let records: Vec<Rec> = match read {
        Read::Page => state.records.iter().map(|r| Rec::of(r, clock)).collect(),
        Read::Status { since } => {
            // The most recent first, among at most `LIVE_BARS` of them, from `since` on
            // (a cursor beyond what was recorded is another recording's: from 0).
            let since = if since > recorded { 0 } else { since };
            let first = recorded - state.records.len() as u64;
            let unseen = recorded.saturating_sub(since.max(first)) as usize;
            state
                .records
                .iter()
                .rev()
                .take(unseen.min(LIVE_BARS))
                .map(|r| Rec::of(r, clock))
                .filter(|r| r.end >= from)
                .collect()
        }
    };
    if shared.live {
        for (&thread, tasks) in &state.running {
            for &(_, function, start) in tasks {
                running.push((
                    thread,
                    state.functions.names[function].name.clone(),
                    clock.since_epoch(start),
                ));
            }
        }
    }
    // Now: after every start read above.
    let now = clock.since_epoch(clock.now());
    let functions: Vec<_> = state
        .functions
        .names
        .list()
        .iter()
        .map(|f| (f.name.clone(), f.kind.clone(), f.call_site.clone()))
        .collect();
    let counts: Vec<Counts> = state
        .functions
        .counts
        .iter()
        .map(|t| t.counts(clock))
        .collect();
    let mut graphs = Vec::new();
    if read == Read::Page {
        graphs.clone_from(&state.graphs);
        // The runs going on, drawn as running, where there is room.
        for watch in &watches {
            if graphs.len() >= MAX_GRAPHS {
                break;
            }
            if let Some(graph) = &*watch.graph.lock().recover() {
                let mut graph = graph.clone();
                if graph.nodes <= MAX_GRAPH_NODES {
                    graph.outcomes = vec![None; graph.nodes];
                }
                graphs.push((watch.compute, 1, graph));
            }
        }
        graphs.sort_by_key(|g| g.0);
    }
    let folded = state.functions.rows.folded();
    let (computes, kept, keep, memory) = (
        state.computes,
        state.records.len(),
        state.keep,
        state.memory()
            + watches
                .iter()
                .map(|w| w.log().memory() + 4 * w.functions.capacity())
                .sum::<usize>(),
    );
    // The rest reads copies: runs may end meanwhile (a live page asks every second).
    drop(guard);
    drop(watches);
    let mut records = records;
    running.sort_by_key(|r| (r.0, r.2));
    records.sort_by_key(|r| (r.thread, r.start));
    let mut threads: Vec<u32> = records.iter().map(|r| r.thread).collect();
    threads.dedup();
    threads.sort_unstable();
    threads.dedup();
    let mut rows: Vec<(Arc<str>, Counts)> = Vec::new();
    let mut index: HashMap<Arc<str>, usize> = HashMap::new();
    for ((name, _, _), c) in functions.iter().zip(&counts) {
        let at = row_of(&mut rows, &mut index, name);
        rows[at].1.add(c);
    }
    let mut names: Vec<&Arc<str>> = rows.iter().map(|(name, _)| name).collect();
    names.sort();
    let colours = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| (name.clone(), function_colour(i)))
        .collect();
    Snapshot {
        functions,
        records,
        recorded,
        kept,
        keep,
        memory,
        last_second,
        in_window,
        threads: threads.len(),
        graphs,
        computes,
        rows,
        folded,
        colours,
        running,
        now,
        from,
    }
}

/// `s` with `&`, `<`, `>` and `"` escaped, for HTML text and attributes; control
/// characters other than whitespace, and noncharacters (U+FFFE, U+FDD0, …), which
/// HTML does not allow in a page (a task named `nul\0inside` put a NUL in it), are
/// replaced by U+FFFD, as the graphs' SVG replaces them.
fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    let not_allowed = |c: char| {
        let code = u32::from(c);
        (c.is_control() && !matches!(c, '\t' | '\n' | '\u{c}' | '\r'))
            || (0xfdd0..=0xfdef).contains(&code)
            || code & 0xfffe == 0xfffe
    };
    if !s.contains(['&', '<', '>', '"']) && !s.chars().any(not_allowed) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if not_allowed(c) => out.push(char::REPLACEMENT_CHARACTER),
            c => out.push(c),
        }
    }
    out.into()
}

/// A duration for people: `12.3 µs`, `4.56 ms`, `1.23 s`.
fn human(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// The machine's name.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The process's peak resident memory (`VmHWM`), where `/proc` tells it.
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(format!("{:.1} MiB", kb / 1024.0))
}

const STYLE: &str = "body{font-family:Helvetica,Arial,'DejaVu Sans',sans-serif;margin:16px 24px;color:#222}\
h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:22px 0 8px}\
#header dl{display:grid;grid-template-columns:repeat(4,auto 1fr);gap:4px 10px;margin:0}\
#header dt{color:#666}#header dd{margin:0;font-weight:bold}\
.lanes{display:flex;border:1px solid #ccc}.lane-names{flex:none;font-size:11px;border-right:1px solid #ccc}\
.lane-names div{height:20px;line-height:20px;padding:0 6px;white-space:nowrap}\
.plot{flex:1;overflow:hidden}#stream{display:block;width:100%;background:#fafafa}\
#stream rect:hover{opacity:.7}#axis{position:relative;height:16px;font-size:10px;color:#555}\
#axis span{position:absolute;white-space:nowrap}\
.tools button{margin-right:4px}#hover{font-size:12px;color:#333;min-height:16px;margin:4px 0}\
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}\
th:first-child,td:first-child{text-align:left}th{background:#f0f0f0}\
.swatch{display:inline-block;width:10px;height:10px;margin-right:5px;vertical-align:middle}\
.bar{display:inline-block;height:10px;background:#59a14f;vertical-align:middle}\
.bar.failed{background:#e15759}.bar.cancelled{background:#f1a340}\
.note{color:#555;font-size:13px}#stream rect.running{stroke:#222;stroke-width:1;vector-effect:non-scaling-stroke;stroke-dasharray:3 2}.graph{overflow:auto;border:1px solid #ddd;margin-bottom:12px;max-height:700px}";

const SCRIPT: &str = r#"(function(){
var svg=document.getElementById('stream');
var span=parseFloat(svg.getAttribute('data-span'))||1,h=parseFloat(svg.getAttribute('data-height'))||1;
var x0=0,w=span;
function fmt(us){return us<1?(us*1000).toFixed(0)+' ns':us<1000?us.toFixed(1)+' µs':us<1e6?(us/1000).toFixed(2)+' ms':(us/1e6).toFixed(2)+' s';}
function set(){
 svg.setAttribute('viewBox',x0+' 0 '+w+' '+h);
 var axis=document.getElementById('axis'),html='';
 for(var i=0;i<=10;i++){html+='<span style="left:'+(i*10)+'%;transform:translateX(-'+(i*10)+'%)">'+fmt(x0+w*i/10)+'</span>';}
 axis.innerHTML=html;
 document.getElementById('zoom-range').textContent=fmt(x0)+' – '+fmt(x0+w);
}
function zoom(f,c){
 var nw=Math.min(span,Math.max(span/1e6,w*f));
 x0=c-(c-x0)*nw/w;w=nw;
 x0=Math.max(0,Math.min(x0,span-w));set();
}
svg.addEventListener('wheel',function(e){
 e.preventDefault();var r=svg.getBoundingClientRect();
 zoom(e.deltaY<0?0.8:1.25,x0+(e.clientX-r.left)/r.width*w);
},{passive:false});
var drag=null;
svg.addEventListener('mousedown',function(e){drag={x:e.clientX,x0:x0};});
window.addEventListener('mouseup',function(){drag=null;});
window.addEventListener('mousemove',function(e){
 if(!drag)return;var r=svg.getBoundingClientRect();
 x0=Math.max(0,Math.min(drag.x0-(e.clientX-drag.x)/r.width*w,span-w));set();
});
document.getElementById('zoom-in').onclick=function(){zoom(0.5,x0+w/2);};
document.getElementById('zoom-out').onclick=function(){zoom(2,x0+w/2);};
document.getElementById('zoom-reset').onclick=function(){x0=0;w=span;set();};
svg.addEventListener('mouseover',function(e){
 var t=e.target.querySelector&&e.target.querySelector('title');
 if(t)document.getElementById('hover').textContent=t.textContent;
});
set();
document.getElementById('bars-drawn').textContent=String(svg.querySelectorAll('rect.task,rect.bucket').length);
window.taskweaveStream=function(){
 var full=w>=span;span=parseFloat(svg.getAttribute('data-span'))||1;h=parseFloat(svg.getAttribute('data-height'))||1;
 if(full||w>span){x0=0;w=span;}else{x0=Math.max(0,Math.min(x0,span-w));}set();
};
document.body.setAttribute('data-ok','1');
})();"#;

/// The live page's script: polls `api/status` every second and redraws the header's
/// numbers, the progress, the times per function, the workers and the task stream's
/// last seconds from it. It asks only for the task runs recorded since its last poll
/// (`since`, the `cursor` of the answer before) and keeps the stream's window itself
/// (at most `LIVE_BARS`, written in when the page is drawn). It marks `<body data-live="1">` once set up, counts its
/// updates in `data-polls` (and on each table it rewrote, `data-polled`), keeps the
/// task count of its first update in `data-first-tasks`, and notes a failure in
/// `data-live-error` (and retries).
const LIVE_SCRIPT: &str = r#"(function(){
var body=document.body,polls=0,kept=[],cursor=0,LIVE=LIVE_BARS;
function q(id){return document.getElementById(id);}
function esc(s){return String(s).replace(/[&<>"]/g,function(c){return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c];});}
function fmt(us){return us<1?(us*1000).toFixed(0)+' ns':us<1000?us.toFixed(1)+' µs':us<1e6?(us/1000).toFixed(2)+' ms':(us/1e6).toFixed(2)+' s';}
function text(id,v){var e=q(id);if(e)e.textContent=v;}
function held(p){return p.names===undefined?'':' <span class="names" data-names="'+p.names+'">('+(p.names_more?'at least ':'')+p.names+' name'+(p.names===1&&!p.names_more?'':'s')+')</span>';}
function apply(s){
 text('task-count',String(s.tasks));text('rate',s.rate.toFixed(0));text('recent-rate',s.recent_rate.toFixed(0));
 text('wall',s.wall);text('computes',String(s.computes));
 q('report').setAttribute('data-tasks',String(s.tasks));
 var rows='';
 s.progress.forEach(function(p){
  if(p.total<1)return;
  var k=200/Math.max(1,p.total);
  rows+='<tr data-name="'+esc(p.name)+'"><td><span class="swatch" style="background:'+p.colour+'"></span>'+esc(p.name)+held(p)+'</td><td class="done">'+p.done+'</td><td class="failed">'+p.failed+'</td><td class="cancelled">'+p.cancelled+'</td><td class="total">'+p.total+'</td><td><span class="bar" style="width:'+(p.done*k).toFixed(0)+'px"></span><span class="bar failed" style="width:'+(p.failed*k).toFixed(0)+'px"></span><span class="bar cancelled" style="width:'+(p.cancelled*k).toFixed(0)+'px"></span></td></tr>';
 });
 q('progress').tBodies[0].innerHTML=rows;
 var times='';
 s.progress.filter(function(p){return p.runs>0;}).sort(function(a,b){return b.total_us-a.total_us||(a.name<b.name?-1:a.name>b.name?1:0);}).forEach(function(p){
  times+='<tr data-name="'+esc(p.name)+'"><td><span class="swatch" style="background:'+p.colour+'"></span>'+esc(p.name)+held(p)+'</td><td class="count">'+p.runs+'</td><td class="time">'+fmt(p.total_us)+'</td><td class="mean">'+fmt(p.mean_us)+'</td><td class="max">'+fmt(p.max_us)+'</td><td class="errors">'+p.errors+'</td></tr>';
 });
 q('functions').tBodies[0].innerHTML=times;
 q('progress').setAttribute('data-polled',String(polls+1));q('functions').setAttribute('data-polled',String(polls+1));
 if(!body.hasAttribute('data-first-tasks'))body.setAttribute('data-first-tasks',String(s.tasks));
 var workers='';
 s.running.forEach(function(r){workers+='<tr><td>'+esc(r.thread)+'</td><td><span class="swatch" style="background:'+r.colour+'"></span>'+esc(r.task)+'</td><td>'+esc(r.for)+'</td></tr>';});
 q('workers').tBodies[0].innerHTML=workers||'<tr><td colspan="3">(no task is running)</td></tr>';
 var st=s.stream,now=s.elapsed_us,from=now-st.window_us,colour={},running=[];
 s.progress.forEach(function(p){colour[p.name]=p.colour;});
 st.bars.forEach(function(b){
  var f=st.functions[b[1]],bar={lane:st.lane_ids[b[0]],lname:st.lanes[b[0]],name:f.name,start:st.from_us+b[2],dur:b[3],outcome:b[4]};
  (b[4]==='running'?running:kept).push(bar);
 });
 kept=kept.filter(function(k){return k.start+k.dur>=from;});
 if(kept.length>LIVE){kept.sort(function(a,b){return (a.start+a.dur)-(b.start+b.dur);});kept=kept.slice(kept.length-LIVE);}
 if(st.in_window>kept.length&&kept.length){from=Math.max(from,Math.min.apply(null,kept.map(function(k){return k.start;})));}
 cursor=s.cursor;
 var all=kept.concat(running),ids=[],names={},row={},lanes='',bars='';
 all.forEach(function(k){if(!(k.lane in names)){names[k.lane]=k.lname;ids.push(k.lane);}});
 ids.sort(function(a,b){return a-b;});ids.forEach(function(id,i){row[id]=i;lanes+='<div>'+esc(names[id])+'</div>';});
 var span=Math.max(1,now-from),min=span/4000,H=Math.max(1,ids.length)*20;
 all.forEach(function(k){
  bars+='<rect class="task'+(k.outcome==='running'?' running':'')+'" x="'+(k.start-from).toFixed(1)+'" y="'+(row[k.lane]*20+2)+'" width="'+Math.max(k.dur,min)+'" height="16" fill="'+(colour[k.name]||'#888888')+'" data-name="'+esc(k.name)+'" data-outcome="'+k.outcome+'"><title>'+esc(k.name)+' · '+fmt(k.dur)+' · '+k.outcome+'</title></rect>';
 });
 document.querySelector('.lane-names').innerHTML=lanes;
 var svg=q('stream');svg.innerHTML=bars;
 svg.setAttribute('height',String(H));svg.setAttribute('data-height',String(H));svg.setAttribute('data-span',String(span));
 if(window.taskweaveStream)window.taskweaveStream();
 text('bars-drawn',String(all.length));
 var note=q('stream-note');if(note)note.remove();
 polls++;body.setAttribute('data-polls',String(polls));body.removeAttribute('data-live-error');
 text('live-status','live: updated '+polls+' times, every second; the task stream shows the last '+fmt(span)+': '+all.length+' bars, running tasks included ('+st.in_window+' tasks ended in the last '+fmt(st.window_us)+')');
}
function poll(){
 var x=new XMLHttpRequest();x.open('GET','api/status?since='+cursor);x.timeout=10000;
 x.onload=function(){
  if(x.status===200){try{apply(JSON.parse(x.responseText));}catch(e){body.setAttribute('data-live-error',String(e));}}
  else{body.setAttribute('data-live-error','HTTP '+x.status);}
  setTimeout(poll,1000);
 };
 x.onerror=x.ontimeout=function(){body.setAttribute('data-live-error','no answer');text('live-status','live: the server does not answer (it stopped?); trying again');setTimeout(poll,2000);};
 x.send();
}
body.setAttribute('data-live','1');
poll();
})();"#;

/// The page: the report's, or with `live` the dashboard's.
fn render(shared: &Shared, wall: Duration, live: bool) -> String {
    let snap = snapshot(shared, Read::Page);
    let recorded = snap.recorded;
    let mut out = String::with_capacity(64 * 1024 + snap.records.len().min(MAX_BARS) * 300);
    let tasks_per_second = recorded as f64 / wall.as_secs_f64().max(1e-9);
    let mut lanes: Vec<u32> = snap.records.iter().map(|r| r.thread).collect();
    lanes.dedup();
    let span = snap
        .records
        .iter()
        .map(|r| r.end)
        .max()
        .unwrap_or_default()
        .max(wall)
        .max(Duration::from_micros(1));
    let span_us = span.as_nanos() as f64 / 1e3;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let computes = snap.computes;

    let title = if live {
        "taskweave dashboard"
    } else {
        "taskweave performance report"
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title}</title><style>{STYLE}</style></head>\n<body>\n\
         <main id=\"report\" data-tasks=\"{recorded}\">\n<h1>{title}</h1>\n"
    );
    // The header.
    let _ = writeln!(
        out,
        "<section id=\"header\"><dl>\
         <dt>machine</dt><dd>{host} ({cpus} CPUs)</dd>\
         <dt>threads</dt><dd id=\"threads\">{threads} ran tasks (rayon pool: {pool})</dd>\
         <dt>wall time</dt><dd id=\"wall\">{wall}</dd>\
         <dt>tasks</dt><dd id=\"task-count\">{recorded}</dd>\
         <dt>tasks/s</dt><dd id=\"rate\">{tasks_per_second:.0}</dd>\
         <dt>computes</dt><dd id=\"computes\">{computes}</dd>\
         <dt>peak RSS</dt><dd id=\"rss\">{rss}</dd>{recent}\
         </dl></section>",
        host = esc(&hostname()),
        threads = lanes.len(),
        pool = rayon::current_num_threads(),
        wall = human(wall),
        rss = peak_rss().unwrap_or_else(|| "unknown".to_owned()),
        recent = if live {
            format!(
                "<dt>tasks/s, last second</dt><dd id=\"recent-rate\">{:.0}</dd>",
                recent_rate(&snap)
            )
        } else {
            String::new()
        },
    );
    if live {
        write_workers(&mut out, &snap);
    }

    // The task stream.
    write_stream(&mut out, &snap, &lanes, span_us);

    // Progress per function.
    out.push_str(
        "<h2>Progress per function</h2>\n<table id=\"progress\"><thead><tr><th>function</th>\
         <th>done</th><th>failed</th><th>cancelled</th><th>total</th><th></th></tr></thead><tbody>\n",
    );
    for (name, row) in &snap.rows {
        if row.total() == 0 {
            continue;
        }
        let scale = 200.0 / row.total() as f64;
        let _ = writeln!(
            out,
            "<tr data-name=\"{n}\"><td><span class=\"swatch\" style=\"background:{c}\"></span>{n}{h}</td>\
             <td class=\"done\">{}</td><td class=\"failed\">{}</td><td class=\"cancelled\">{}</td>\
             <td class=\"total\">{}</td><td><span class=\"bar\" style=\"width:{:.0}px\"></span>\
             <span class=\"bar failed\" style=\"width:{:.0}px\"></span>\
             <span class=\"bar cancelled\" style=\"width:{:.0}px\"></span></td></tr>",
            row.done,
            row.failed,
            row.cancelled,
            row.total(),
            row.done as f64 * scale,
            row.failed as f64 * scale,
            row.cancelled as f64 * scale,
            n = esc(name),
            h = names_held(&snap, name),
            c = snap.colour(name),
        );
    }
    out.push_str("</tbody></table>\n");
    if let Some(held) = snap.names_held(OTHER_ROW) {
        if snap.rows.iter().any(|(name, _)| &**name == OTHER_ROW) {
            let _ = writeln!(
                out,
                "<p id=\"rows-note\" class=\"note\" data-max-rows=\"{MAX_ROWS}\">Task names are \
                 grouped by their key prefix (<code>load-3</code> counts as <code>load</code>), \
                 in at most {MAX_ROWS} rows: the {held} that came after count in the row \
                 {}.</p>",
                esc(OTHER_ROW),
            );
        }
    }

    // Per function: times.
    out.push_str("<h2>Time per function</h2>\n");
    if live {
        out.push_str(
            "<p class=\"note\">This table and the progress above are updated every \
             second; the graphs below are as of the page's load: reload it for the \
             latest.</p>\n",
        );
    }
    out.push_str(
        "<table id=\"functions\"><thead><tr><th>function</th>\
         <th>count</th><th>total</th><th>mean</th><th>max</th><th>errors</th></tr></thead><tbody>\n",
    );
    let mut by_time: Vec<&(Arc<str>, Counts)> =
        snap.rows.iter().filter(|(_, r)| r.runs > 0).collect();
    by_time.sort_by(|a, b| b.1.time.cmp(&a.1.time).then_with(|| a.0.cmp(&b.0)));
    for (name, row) in by_time {
        let _ = writeln!(
            out,
            "<tr data-name=\"{n}\"><td><span class=\"swatch\" style=\"background:{c}\"></span>{n}{h}</td>\
             <td class=\"count\">{}</td><td class=\"time\">{}</td><td class=\"mean\">{}</td>\
             <td class=\"max\">{}</td><td class=\"errors\">{}</td></tr>",
            row.runs,
            human(row.time),
            human(row.mean()),
            human(row.max),
            row.errors,
            n = esc(name),
            h = names_held(&snap, name),
            c = snap.colour(name),
        );
    }
    out.push_str("</tbody></table>\n");

    // The graphs.
    write_graphs(&mut out, &snap);

    if live {
        let _ = write!(
            out,
            "</main>\n<script>{SCRIPT}</script>\n<script>{}</script>\n</body></html>\n",
            LIVE_SCRIPT.replacen("LIVE_BARS", &LIVE_BARS.to_string(), 1)
        );
    } else {
        let _ = write!(out, "</main>\n<script>{SCRIPT}</script>\n</body></html>\n");
    }
    out
}

/// What a table's row of `name` adds after its name: for [`OTHER_ROW`], how many
/// names it holds (` (12 names)`, marked `data-names`); nothing for another row.
fn names_held(snap: &Snapshot, name: &str) -> String {
    match snap.names_held(name) {
        Some(held) => format!(
            " <span class=\"names\" data-names=\"{}\">({held})</span>",
            snap.folded.0
        ),
        None => String::new(),
    }
}

/// Tasks that ended in the last second, per second (since the start, if sooner).
fn recent_rate(snap: &Snapshot) -> f64 {
    let second = Duration::from_secs(1);
    snap.last_second as f64 / snap.now.min(second).as_secs_f64().max(1e-3)
}

/// The number of `name` in `names`, added if new.
fn row_of_name(
    names: &mut Vec<Arc<str>>,
    index: &mut HashMap<Arc<str>, usize>,
    name: &Arc<str>,
) -> usize {
    *index.entry(name.clone()).or_insert_with(|| {
        names.push(name.clone());
        names.len() - 1
    })
}

/// A live page's table of each thread's current task.
fn write_workers(out: &mut String, snap: &Snapshot) {
    let _ = writeln!(
        out,
        "<h2>Workers</h2>\n<p id=\"live-status\" class=\"note\">live: the page asks the \
         server for news every second</p>\n<table id=\"workers\"><thead><tr><th>thread</th>\
         <th>task</th><th>running for</th></tr></thead><tbody>"
    );
    for (thread, name, start) in &snap.running {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td><span class=\"swatch\" style=\"background:{}\"></span>{}</td>\
             <td>{}</td></tr>",
            esc(&Profiler::thread_name(*thread)),
            snap.colour(name),
            esc(name),
            human(snap.now.saturating_sub(*start)),
        );
    }
    if snap.running.is_empty() {
        out.push_str("<tr><td colspan=\"3\">(no task is running)</td></tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

/// What the live page polls (`api/status`): the header's numbers, progress per
/// function, the running tasks and the last [`LIVE_WINDOW`] of the task stream (at
/// most [`LIVE_BARS`] bars, the most recent; running tasks drawn up to now), of its
/// task runs only those from number `since` on (`cursor` in the answer is where the
/// next poll starts).
fn status_json(shared: &Shared, wall: Duration, since: u64) -> String {
    let snap = snapshot(shared, Read::Status { since });
    let recorded = snap.recorded;
    let mut out = String::with_capacity(4096 + snap.records.len() * 48);
    let _ = write!(
        out,
        "{{\"elapsed_us\":{:.0},\"cursor\":{recorded},\"wall\":{},\"tasks\":{recorded},\"kept\":{},\"keep\":{},\
         \"memory\":{},\"computes\":{},\"threads\":{},\"rate\":{:.1},\"recent_rate\":{:.1},\
         \"max_rows\":{MAX_ROWS},\"progress\":[",
        snap.now.as_nanos() as f64 / 1e3,
        json_string(&human(wall)),
        snap.kept,
        snap.keep,
        snap.memory,
        snap.computes,
        snap.threads,
        recorded as f64 / wall.as_secs_f64().max(1e-9),
        recent_rate(&snap),
    );
    let us = |d: Duration| d.as_nanos() as f64 / 1e3;
    let mut first = true;
    for (name, row) in snap
        .rows
        .iter()
        .filter(|(_, row)| row.total() > 0 || row.runs > 0)
    {
        let _ = write!(
            out,
            "{}{{\"name\":{},\"colour\":\"{}\",\"done\":{},\"failed\":{},\"cancelled\":{},\
             \"total\":{},\"runs\":{},\"errors\":{},\"total_us\":{:.3},\"mean_us\":{:.3},\
             \"max_us\":{:.3}{}}}",
            if first { "" } else { "," },
            json_string(name),
            snap.colour(name),
            row.done,
            row.failed,
            row.cancelled,
            row.total(),
            row.runs,
            row.errors,
            us(row.time),
            us(row.mean()),
            us(row.max),
            match snap.names_held(name) {
                Some(_) => format!(
                    ",\"names\":{},\"names_more\":{}",
                    snap.folded.0, snap.folded.1
                ),
                None => String::new(),
            },
        );
        first = false;
    }
    out.push_str("],\"running\":[");
    for (i, (thread, name, start)) in snap.running.iter().enumerate() {
        let _ = write!(
            out,
            "{}{{\"thread\":{},\"task\":{},\"colour\":\"{}\",\"for\":{}}}",
            if i == 0 { "" } else { "," },
            json_string(&Profiler::thread_name(*thread)),
            json_string(name),
            snap.colour(name),
            json_string(&human(snap.now.saturating_sub(*start))),
        );
    }
    // The stream's window: the most recent records that ended in it (the snapshot
    // took at most `LIVE_BARS`), and the running tasks.
    let mut from = snap.from;
    let mut recent: Vec<&Rec> = snap.records.iter().collect();
    let in_window = snap.in_window;
    if since == 0 && in_window > recent.len() {
        // The stream starts where the bars kept do.
        from = from.max(recent.iter().map(|r| r.start).min().unwrap_or(from));
    }
    recent.sort_unstable_by_key(|r| (r.thread, r.start));
    let mut lanes: Vec<u32> = recent
        .iter()
        .map(|r| r.thread)
        .chain(snap.running.iter().map(|r| r.0))
        .collect();
    lanes.sort_unstable();
    lanes.dedup();
    let lane_of: HashMap<u32, usize> = lanes.iter().enumerate().map(|(i, &l)| (l, i)).collect();
    let mut names: Vec<Arc<str>> = Vec::new();
    let mut name_index: HashMap<Arc<str>, usize> = HashMap::new();
    let _ = write!(
        out,
        "],\"stream\":{{\"from_us\":{:.1},\"span_us\":{:.0},\"window_us\":{:.0},\"in_window\":{in_window},\"bars\":[",
        from.as_nanos() as f64 / 1e3,
        snap.now.saturating_sub(from).as_nanos() as f64 / 1e3,
        LIVE_WINDOW.as_nanos() as f64 / 1e3,
    );
    let us = |d: Duration| d.saturating_sub(from).as_nanos() as f64 / 1e3;
    let mut first = true;
    for r in &recent {
        let name = &snap.functions[r.function as usize].0;
        let _ = write!(
            out,
            "{}[{},{},{:.1},{:.1},\"{}\"]",
            if first { "" } else { "," },
            lane_of[&r.thread],
            row_of_name(&mut names, &mut name_index, name),
            us(r.start),
            (us(r.end) - us(r.start)).max(0.0),
            r.outcome.as_str(),
        );
        first = false;
    }
    for (thread, name, start) in &snap.running {
        let _ = write!(
            out,
            "{}[{},{},{:.1},{:.1},\"running\"]",
            if first { "" } else { "," },
            lane_of[thread],
            row_of_name(&mut names, &mut name_index, name),
            us(*start),
            (us(snap.now) - us(*start)).max(0.0),
        );
        first = false;
    }
    out.push_str("],\"lanes\":[");
    for (i, &lane) in lanes.iter().enumerate() {
        let _ = write!(
            out,
            "{}{}",
            if i == 0 { "" } else { "," },
            json_string(&Profiler::thread_name(lane))
        );
    }
    out.push_str("],\"lane_ids\":[");
    for (i, &lane) in lanes.iter().enumerate() {
        let _ = write!(out, "{}{lane}", if i == 0 { "" } else { "," });
    }
    out.push_str("],\"functions\":[");
    for (i, name) in names.iter().enumerate() {
        let _ = write!(
            out,
            "{}{{\"name\":{},\"colour\":\"{}\"}}",
            if i == 0 { "" } else { "," },
            json_string(name),
            snap.colour(name),
        );
    }
    out.push_str("]}}\n");
    out
}

/// The task stream section: lanes, bars (or buckets), zoom tools.
fn write_stream(out: &mut String, snap: &Snapshot, lanes: &[u32], span_us: f64) {
    const LANE: f64 = 20.0;
    const BAR: f64 = 16.0;
    let recorded = snap.records.len();
    let height = (lanes.len().max(1) as f64 * LANE).max(LANE);
    let dropped = snap.recorded.saturating_sub(recorded as u64);
    out.push_str("<h2>Task stream</h2>\n");
    let aggregate = recorded > MAX_BARS;
    let drawn_placeholder = "<span id=\"bars-drawn\"></span>";
    let _ = writeln!(
        out,
        "<div class=\"tools\"><button id=\"zoom-in\" type=\"button\">zoom in</button>\
         <button id=\"zoom-out\" type=\"button\">zoom out</button>\
         <button id=\"zoom-reset\" type=\"button\">reset</button> \
         <span class=\"note\">wheel to zoom, drag to pan; showing <span id=\"zoom-range\"></span>; \
         {drawn_placeholder} bars drawn</span></div>"
    );
    out.push_str("<div class=\"lanes\"><div class=\"lane-names\">");
    for &lane in lanes {
        let _ = write!(out, "<div>{}</div>", esc(&Profiler::thread_name(lane)));
    }
    let _ = writeln!(
        out,
        "</div><div class=\"plot\"><svg id=\"stream\" viewBox=\"0 0 {span_us:.3} {height}\" \
         preserveAspectRatio=\"none\" height=\"{height}\" data-span=\"{span_us:.3}\" \
         data-height=\"{height}\">"
    );
    let lane_of: HashMap<u32, usize> = lanes.iter().enumerate().map(|(i, &l)| (l, i)).collect();
    let min_width = span_us / 4000.0;
    let mut drawn = 0usize;
    if !aggregate {
        for r in &snap.records {
            let (name, _kind, site) = &snap.functions[r.function as usize];
            let start = r.start.as_nanos() as f64 / 1e3;
            let dur = r.end.saturating_sub(r.start);
            let y = lane_of[&r.thread] as f64 * LANE + (LANE - BAR) / 2.0;
            let _ = writeln!(
                out,
                "<rect class=\"task\" x=\"{start:.3}\" y=\"{y}\" width=\"{w:.3}\" height=\"{BAR}\" \
                 fill=\"{c}\" data-name=\"{n}\" data-outcome=\"{o}\" data-start=\"{s}\" data-dur=\"{d}\">\
                 <title>{n} · {site} · start {hs} · {hd} · {o}</title></rect>",
                w = (dur.as_nanos() as f64 / 1e3).max(min_width),
                c = snap.colour(name),
                n = esc(name),
                o = r.outcome.as_str(),
                s = r.start.as_nanos(),
                d = dur.as_nanos(),
                site = esc(site),
                hs = human(r.start),
                hd = human(dur),
            );
            drawn += 1;
        }
    } else {
        // Per lane, BUCKETS columns: how many tasks started in each, how busy the
        // thread was, and the function that took most of the time.
        let bucket = span_us / BUCKETS as f64;
        let mut cells: HashMap<(usize, usize), Bucket> = HashMap::new();
        for r in &snap.records {
            let start = r.start.as_nanos() as f64 / 1e3;
            let dur = r.end.saturating_sub(r.start).as_nanos() as f64 / 1e3;
            let b = ((start / bucket) as usize).min(BUCKETS - 1);
            let cell = cells.entry((lane_of[&r.thread], b)).or_default();
            cell.count += 1;
            cell.busy += dur;
            let f = cell.functions.entry(r.function).or_default();
            f.0 += 1;
            f.1 += dur;
        }
        let mut keys: Vec<(usize, usize)> = cells.keys().copied().collect();
        keys.sort_unstable();
        for key in keys {
            let Bucket {
                count,
                busy,
                functions,
            } = &cells[&key];
            let mut fs: Vec<(u32, (u64, f64))> = functions.iter().map(|(&f, &v)| (f, v)).collect();
            fs.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1).then(a.0.cmp(&b.0)));
            let top = &snap.functions[fs[0].0 as usize].0;
            let parts: Vec<String> = fs
                .iter()
                .take(4)
                .map(|(f, (n, _))| format!("{} ×{n}", esc(&snap.functions[*f as usize].0)))
                .collect();
            let fill = (busy / bucket).clamp(0.15, 1.0);
            let _ = writeln!(
                out,
                "<rect class=\"bucket\" x=\"{x:.3}\" y=\"{y}\" width=\"{bucket:.3}\" height=\"{BAR}\" \
                 fill=\"{c}\" fill-opacity=\"{fill:.2}\" data-tasks=\"{count}\" data-name=\"{n}\">\
                 <title>{count} tasks from {from} to {to}, busy {busy_pc:.0}%: {parts}{more}</title></rect>",
                x = key.1 as f64 * bucket,
                y = key.0 as f64 * LANE + (LANE - BAR) / 2.0,
                c = snap.colour(top),
                n = esc(top),
                from = human(Duration::from_nanos((key.1 as f64 * bucket * 1e3) as u64)),
                to = human(Duration::from_nanos(((key.1 + 1) as f64 * bucket * 1e3) as u64)),
                busy_pc = (busy / bucket * 100.0).min(100.0),
                parts = parts.join(", "),
                more = if fs.len() > 4 { ", …" } else { "" },
            );
            drawn += 1;
        }
    }
    out.push_str("</svg><div id=\"axis\"></div></div></div>\n<div id=\"hover\"></div>\n");
    if dropped > 0 {
        let _ = writeln!(
            out,
            "<p id=\"kept-note\" class=\"note\" data-kept=\"{recorded}\" data-dropped=\"{dropped}\">\
             The stream shows the {recorded} most recent of the {all} task runs recorded \
             (the dashboard keeps at most {keep}); the counts and times per function cover \
             all of them.</p>",
            all = snap.recorded,
            keep = snap.keep,
        );
    }
    if aggregate {
        let _ = writeln!(
            out,
            "<p id=\"stream-note\" class=\"note\" data-recorded=\"{recorded}\" data-drawn=\"{drawn}\">\
             {recorded} tasks were recorded: more than a page draws quickly ({MAX_BARS}), so the \
             stream shows {drawn} aggregate bars instead, one per thread and time bucket \
             ({BUCKETS} buckets of {w}); a bar's colour is the function that took most of its \
             time, its opacity how busy the thread was, and its hover text counts its tasks.</p>",
            w = human(Duration::from_nanos((span_us / BUCKETS as f64 * 1e3) as u64)),
        );
    }
    let mut names: Vec<&Arc<str>> = snap
        .rows
        .iter()
        .filter(|(_, r)| r.runs > 0)
        .map(|(n, _)| n)
        .collect();
    names.sort();
    out.push_str("<p class=\"note\">");
    for name in names {
        let _ = write!(
            out,
            "<span class=\"swatch\" style=\"background:{}\"></span>{} &nbsp; ",
            snap.colour(name),
            esc(name)
        );
    }
    out.push_str("</p>\n");
}

/// One thread's tasks in one time bucket of an aggregated stream.
#[derive(Default)]
struct Bucket {
    /// Tasks that started in it.
    count: u64,
    /// Their time, in microseconds.
    busy: f64,
    /// Per function: tasks and microseconds.
    functions: HashMap<u32, (u64, f64)>,
}

/// The graph of each compute, coloured by outcome.
fn write_graphs(out: &mut String, snap: &Snapshot) {
    let _ = writeln!(out, "<h2>Graphs ({} computes)</h2>", snap.computes);
    if snap.computes == 0 {
        out.push_str("<p class=\"note\">No graph was computed.</p>\n");
        return;
    }
    let mut shown = 0;
    for (k, repeats, run) in &snap.graphs {
        let n = run.nodes;
        shown += repeats;
        let which = match repeats {
            1 => format!("compute {}", k + 1),
            _ => format!(
                "computes {} to {} (the same graph, {repeats} times)",
                k + 1,
                k + repeats
            ),
        };
        let title = format!("{which}: {n} task{}", if n == 1 { "" } else { "s" });
        let _ = write!(out, "<h3>{}</h3>", esc(&title));
        if let Some(error) = &run.error {
            let _ = write!(out, "<p class=\"note\">It failed: {}</p>", esc(error));
        }
        if n > MAX_GRAPH_NODES {
            let _ = writeln!(
                out,
                "<p class=\"note\">Not drawn: more than {MAX_GRAPH_NODES} tasks.</p>"
            );
            continue;
        }
        let nodes = run
            .functions
            .iter()
            .zip(&run.outcomes)
            .enumerate()
            .map(|(id, (&f, outcome))| {
                let (name, kind, call_site) = &snap.functions[f as usize];
                NodeView {
                    id,
                    name: name.to_string(),
                    kind: kind.to_string(),
                    call_site: call_site.to_string(),
                    outcome: Some(match outcome {
                        Some(outcome) => NodeOutcome::from(*outcome),
                        None if run.ended => NodeOutcome::NeverRan,
                        None => NodeOutcome::Running,
                    }),
                }
            })
            .collect();
        let mut edges = Vec::with_capacity(run.successors.len());
        let mut next = 0usize;
        for (i, &count) in run.successor_counts.iter().enumerate() {
            for &s in &run.successors[next..next + count as usize] {
                edges.push((i, s as usize));
            }
            next += count as usize;
        }
        let info = GraphInfo::from_parts(nodes, edges);
        let svg = info.to_svg_with(&DrawOptions::new());
        // Inline in HTML: no XML declaration, no namespace (the page names no URL).
        let svg = svg
            .trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
        let _ = writeln!(out, "<div class=\"graph\">{svg}</div>");
    }
    if snap.computes > shown {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} more computes not drawn.</p>",
            snap.computes - shown
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_html() {
        assert_eq!(esc("plain"), "plain");
        assert_eq!(esc("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
        assert_eq!(
            esc("nul\0esc\u{1b}\u{85}\u{fdd0}\u{1fffe}\tline\n"),
            "nul\u{fffd}esc\u{fffd}\u{fffd}\u{fffd}\u{fffd}\tline\n"
        );
    }

    #[test]
    fn durations_read_in_their_unit() {
        assert_eq!(human(Duration::from_nanos(512)), "512 ns");
        assert_eq!(human(Duration::from_micros(12)), "12.0 µs");
        assert_eq!(human(Duration::from_micros(4_560)), "4.56 ms");
        assert_eq!(human(Duration::from_millis(1_230)), "1.23 s");
    }

    /// Dask's `key_split` examples, and ordinary names left whole.
    #[test]
    fn names_are_grouped_by_their_key_prefix() {
        for (name, row) in [
            ("load-3", "load"),
            ("load-99999", "load"),
            ("x", "x"),
            ("x-1", "x"),
            ("x-1-2-3", "x"),
            ("hello-world-1", "hello-world"),
            ("x-1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d", "x"),
            ("x-abcdefab", "x"),
            ("x-1.5", "x"),
            ("('sum-abc', 0)", "sum"),
            ("('x-2', 1)", "x"),
            ("('x', 1)", "x"),
            ("(\"hello-world-1\", 2, 3)", "hello-world"),
            ("ae05086432ca935f6eba409a8ecd4896", "data"),
            ("ae05086432ca935f6eba409a8ecd4896-7", "data"),
            // Ordinary names: their own rows.
            ("inc", "inc"),
            ("slow_square", "slow_square"),
            ("read-csv", "read-csv"),
            ("x-feedback", "x-feedback"),
            ("fn(u64) -> u64", "fn(u64) -> u64"),
            ("split.0", "split.0"),
            ("closure", "closure"),
            ("add", "add"),
            ("-", "-"),
            ("-x", "-x"),
            ("a--b", "a--b"),
            ("load-", "load-"),
            ("load-3 of 4", "load-3 of 4"),
            ("(a, b)", "(a, b)"),
            ("", ""),
        ] {
            assert_eq!(row_name(name), row, "{name:?}");
        }
    }

    /// Past `MAX_ROWS` rows, names fold into one row that counts them.
    #[test]
    fn rows_are_bounded_and_the_rest_fold_into_one() {
        let mut rows = Rows::default();
        for i in 0..3 * MAX_ROWS {
            assert_eq!(rows.row(&format!("load-{i}")), "load");
        }
        assert_eq!(rows.names.len(), 1);
        for i in 0..MAX_ROWS - 1 {
            assert_eq!(rows.row(&format!("f{i}")), format!("f{i}"));
        }
        assert_eq!(rows.row("late"), OTHER_ROW);
        assert_eq!(rows.row("late-1"), OTHER_ROW);
        assert_eq!(rows.row("later"), OTHER_ROW);
        assert_eq!(rows.row("f3-9"), "f3", "a row given stays");
        assert_eq!(rows.names.len(), MAX_ROWS);
        assert_eq!(rows.folded(), (2, false));
        for i in 0..FOLDED_NAMES_COUNTED + 10 {
            rows.row(&format!("g{i}"));
        }
        assert_eq!(rows.folded(), (FOLDED_NAMES_COUNTED, true));
        assert_eq!(rows.names.len(), MAX_ROWS);
    }

    #[test]
    fn a_report_is_one_page_with_its_sections() {
        // Other tests may compute meanwhile (a report watches the process): only the
        // page's structure is checked.
        let report = PerformanceReport::new(std::env::temp_dir().join("taskweave-empty.html"));
        let page = report.to_html();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<svg id=\"stream\""));
        assert!(page.ends_with("</body></html>\n"));
        assert!(page.contains("<table id=\"progress\""));
        drop(report);
    }
}
