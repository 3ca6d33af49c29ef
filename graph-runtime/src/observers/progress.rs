//! Progress bars on stderr: tasks done of total, rate and ETA, for a compute (an
//! [`Observer`]), the tasks of a client (the same observer, given to the client), or
//! a set of futures ([`progress()`](crate::futures::progress())).
//!
//! Tasks only bump a counter of their own thread (no lock, no shared cache line); one
//! background thread, started on first use, reads the counters ten times a second and
//! draws. A bar that waits for a delay ([`Progress::auto`]) makes and draws nothing
//! for runs shorter than the delay.
//!
//! The drawing (`draw`, with indicatif) needs the cargo feature `progress` (on by
//! default). Without it every [`Progress`] only counts, as [`Progress::hidden`] does,
//! no compute gets an automatic bar, and no thread is started: the API stays the same.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::engine::error::TaskError;
use crate::engine::lock::Recover;
use crate::engine::observe::{FutureEvent, Observer, TaskOutcome};
use crate::engine::options::RunOptions;
use crate::engine::table::NodeInfo;
use crate::inspect::info::printable;

#[cfg(feature = "progress")]
mod draw;

/// Without the cargo feature `progress`: no bar is ever made (a [`Progress`] only
/// counts), and nothing depends on indicatif.
#[cfg(not(feature = "progress"))]
mod draw {
    use std::time::Instant;

    /// No bar: there is none to draw.
    pub(super) enum Bar {}

    impl Bar {
        /// `None`: bars need the feature `progress`.
        pub(super) fn new(
            _total: u64,
            _done: u64,
            _started: Instant,
            _terminal: bool,
        ) -> Option<Bar> {
            None
        }

        pub(super) fn update(&self, _total: u64, _done: u64) {
            match *self {}
        }

        pub(super) fn finish(self, _total: u64, _done: u64, _failure: Option<String>) {
            match self {}
        }
    }
}

/// How long a run lasts before the automatic bar ([`Progress::auto`]) appears.
pub const AUTOMATIC_DELAY: Duration = Duration::from_secs(1);

/// How often the drawing thread reads the counters.
const TICK: Duration = Duration::from_millis(100);

/// Where a bar may be drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Draw {
    /// Nowhere: counters only.
    Never,
    /// On stderr, only when it is a terminal.
    Terminal,
    /// On stderr, whatever it is: a live bar on a terminal, a line a second otherwise.
    Always,
}

/// A progress bar for a run: an [`Observer`] that counts the tasks that ended and
/// draws `[elapsed] [=====>    ] done/total tasks (rate, ETA)` on stderr.
///
/// ```ignore
/// use std::sync::Arc;
/// use taskweave::prelude::*;
/// use taskweave::{Progress, RunOptions};
///
/// #[delayed]
/// fn square(x: u64) -> u64 { x * x }
/// #[delayed]
/// fn sum(parts: Vec<u64>) -> u64 { parts.iter().sum() }
///
/// let parts: Vec<_> = (0..100).map(|i| delay!(square(i))).collect();
/// let total = delay!(sum(parts));
/// // `Progress::new()` draws; `hidden()` only counts (for this doctest's output).
/// let progress = Progress::hidden();
/// let value = total
///     .try_compute_with(RunOptions::new().observer(Arc::new(progress.clone())))
///     .unwrap();
/// assert_eq!(value, (0..100).map(|i| i * i).sum::<u64>());
/// assert_eq!((progress.done(), progress.total()), (101, 101));
/// ```
///
/// Clones share their counters and bar. A run resets the counters when it starts;
/// runs that overlap (two threads computing with one `Progress`) share the bar: a run
/// that starts while another goes on adds its tasks to the total, and the bar ends,
/// with the first failure if any, when the last of them does.
///
/// **Drawing needs the cargo feature `progress`** (on by default). Without it,
/// [`new`](Self::new) and [`auto`](Self::auto) count as [`hidden`](Self::hidden) does
/// and draw nothing ([`is_drawn`](Self::is_drawn) stays `false`).
///
/// **On a client** (`Client::builder().observer(Arc::new(progress.clone()))`), the
/// client's tasks make the run: the first task submitted while none is left starts
/// it, each task submitted adds one to the total, each task that ends (finished,
/// failed or cancelled; not an attempt that is retried) one to the done, and the run
/// ends when every task submitted has ended. The graph of a `client.compute` made
/// meanwhile adds its nodes to the total and its tasks to the done (a failed graph
/// leaves its tasks that never ran uncounted, so done may stay below total).
///
/// ```
/// use std::sync::Arc;
/// use graph_runtime::{Client, Progress};
///
/// let progress = Progress::hidden();
/// let client = Client::builder().threads(2).observer(Arc::new(progress.clone())).build()?;
/// let futures = client.map(|x: u64| x + 1, 0..10);
/// client.gather(&futures)?;
/// assert_eq!((progress.done(), progress.total()), (10, 10));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Progress {
    shared: Arc<Shared>,
}

impl Progress {
    /// A bar drawn from the start of every run, on request: a live bar when stderr is
    /// a terminal, one plain line a second when it is not (a log, CI).
    #[must_use = "a `Progress` counts nothing until given to a run (`RunOptions::observer`) or told to `.watch(&futures)`"]
    pub fn new() -> Progress {
        Progress::with_draw(Draw::Always, Duration::ZERO)
    }

    /// The automatic bar: drawn only once a run has lasted [`AUTOMATIC_DELAY`]
    /// (about a second), and only when stderr is a terminal and
    /// `TASKWEAVE_PROGRESS` is not `off`; never otherwise. Shorter runs draw
    /// nothing.
    #[must_use = "a `Progress` counts nothing until given to a run (`RunOptions::observer`) or told to `.watch(&futures)`"]
    pub fn auto() -> Progress {
        let draw = if automatic_enabled() {
            Draw::Terminal
        } else {
            Draw::Never
        };
        Progress::with_draw(draw, AUTOMATIC_DELAY)
    }

    /// Counts without drawing: read [`done`](Self::done) and [`total`](Self::total)
    /// yourself (tests, your own user interface).
    #[must_use = "a `Progress` counts nothing until given to a run (`RunOptions::observer`) or told to `.watch(&futures)`"]
    pub fn hidden() -> Progress {
        Progress::with_draw(Draw::Never, Duration::ZERO)
    }

    /// Draws only once a run has lasted `delay` (nothing for shorter runs). A
    /// builder: call it before cloning, the result has counters of its own.
    #[must_use = "builder methods return the changed builder"]
    pub fn delay(self, delay: Duration) -> Progress {
        Progress::with_draw(self.shared.draw, delay)
    }

    fn with_draw(draw: Draw, delay: Duration) -> Progress {
        // Without the feature `progress` there is no bar: counters only.
        let draw = if cfg!(feature = "progress") {
            draw
        } else {
            Draw::Never
        };
        let shards = rayon::current_num_threads().next_power_of_two().min(64);
        Progress {
            shared: Arc::new(Shared {
                draw,
                delay,
                total: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                shards: (0..shards).map(|_| Shard::default()).collect(),
                state: Mutex::new(State::default()),
                running: Mutex::new(Running::default()),
            }),
        }
    }

    /// How many tasks of the current (or last) run have ended, failed ones included.
    pub fn done(&self) -> u64 {
        self.shared.done()
    }

    /// How many tasks the current (or last) run has.
    pub fn total(&self) -> u64 {
        self.shared.total.load(Ordering::Relaxed)
    }

    /// How many tasks of the current (or last) run failed (panicked).
    pub fn failed(&self) -> u64 {
        self.shared.failed.load(Ordering::Relaxed)
    }

    /// Whether the current (or last) run drew a bar (it may wait for its delay, or
    /// never draw).
    pub fn is_drawn(&self) -> bool {
        lock(&self.shared.state).drawn
    }

    /// Shows this bar for `items` until every one is done, then returns: the body of
    /// [`Progress::watch`], which the futures front end defines (this module does not
    /// know futures). The calling thread waits and draws.
    pub(crate) fn watch_items<W: Watched>(&self, items: &[W]) {
        let shared = &self.shared;
        shared.start(items.len() as u64);
        let mut first_pending = 0;
        loop {
            let done = items.iter().filter(|f| f.done()).count();
            shared.set_done(done as u64);
            shared.tick();
            if done == items.len() {
                break;
            }
            while first_pending < items.len() && items[first_pending].done() {
                first_pending += 1;
            }
            if let Some(item) = items.get(first_pending) {
                // Wakes as soon as it ends, or at the next tick.
                item.wait_for(TICK);
            }
        }
        let failed = items.iter().filter(|f| f.failed()).count();
        shared.failed.store(failed as u64, Ordering::Relaxed);
        let message = (failed > 0).then(|| format!("{failed} failed"));
        shared.finish(message);
    }
}

/// What [`Progress::watch_items`] watches: a future, seen from here.
pub(crate) trait Watched {
    /// Finished, failed or cancelled.
    fn done(&self) -> bool;
    /// Waits until it is done, or at most `timeout`.
    fn wait_for(&self, timeout: Duration);
    /// Ended without a result.
    fn failed(&self) -> bool;
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("draw", &self.shared.draw)
            .field("delay", &self.shared.delay)
            .field("done", &self.done())
            .field("total", &self.total())
            .finish()
    }
}

impl Observer for Progress {
    fn graph_started(&self, nodes: &[NodeInfo<'_>]) {
        let mut running = lock(&self.shared.running);
        if running.is_on() {
            // A graph of a client's compute, or a graph computed meanwhile on another
            // thread: part of the run that goes on.
            self.shared
                .total
                .fetch_add(nodes.len() as u64, Ordering::Relaxed);
        } else {
            running.failure = None;
            self.shared.start(nodes.len() as u64);
        }
        running.graphs += 1;
    }

    #[inline]
    fn task_finished(&self, _node: u32, _info: &NodeInfo<'_>, outcome: TaskOutcome) {
        self.shared.ended(outcome);
    }

    fn graph_finished(&self, result: Result<(), &TaskError>) {
        let mut running = lock(&self.shared.running);
        running.graphs = running.graphs.saturating_sub(1);
        if let Err(error) = result {
            // One line with nothing a terminal acts on: a panic message's control
            // characters (`\x1b[2J`, `\r`) escaped, as the inspection's tables do.
            running
                .failure
                .get_or_insert_with(|| format!("failed: {}", printable(&error.to_string())));
        }
        self.shared.finish_if_last(&mut running);
    }

    fn future_submitted(&self, _task: &FutureEvent<'_>) {
        let mut running = lock(&self.shared.running);
        if !running.is_on() {
            running.failure = None;
            self.shared.start(0);
        }
        running.futures += 1;
        self.shared.total.fetch_add(1, Ordering::Relaxed);
    }

    fn future_finished(&self, _task: &FutureEvent<'_>, outcome: TaskOutcome) {
        if outcome == TaskOutcome::Retried {
            return;
        }
        let shared = &self.shared;
        shared.ended(outcome);
        let mut running = lock(&shared.running);
        running.futures = running.futures.saturating_sub(1);
        shared.finish_if_last(&mut running);
    }
}

/// `TASKWEAVE_PROGRESS`: `Off` stops the automatic progress bar.
fn progress_from_env() -> crate::engine::config::Switch {
    static VALUE: OnceLock<Option<crate::engine::config::Switch>> = OnceLock::new();
    crate::engine::warn::read_env(
        &VALUE,
        "TASKWEAVE_PROGRESS",
        "on or off",
        crate::engine::config::SWITCH,
    )
    .unwrap_or(crate::engine::config::Switch::On)
}

/// The automatic bar for a run with `options`, decided here and nowhere else: `Some`
/// (the options with a [`Progress::auto`] observer) when no observer was given and
/// stderr is a terminal (and `TASKWEAVE_PROGRESS` is not `off`); `None` otherwise.
///
/// Meant for the dynamic-graph front ends (one call in `Plan::run`), which allocate
/// per compute anyway; static graphs do not get it, so that their computes stay free
/// of allocation.
pub(crate) fn automatic(options: &RunOptions) -> Option<RunOptions> {
    if options.observer.is_some() || !automatic_enabled() {
        return None;
    }
    Some(options.clone().observer(Arc::new(Progress::with_draw(
        Draw::Terminal,
        AUTOMATIC_DELAY,
    ))))
}

/// Whether automatic bars may be drawn: stderr is a terminal (not a dumb one) and
/// `TASKWEAVE_PROGRESS` is not `off`, `false`, `0` or `never` (see [`crate::engine::config`]).
fn automatic_enabled() -> bool {
    cfg!(feature = "progress")
        && progress_from_env() == crate::engine::config::Switch::On
        && stderr_is_terminal()
}

/// stderr is a terminal that can draw a bar. Read once.
fn stderr_is_terminal() -> bool {
    static TERMINAL: OnceLock<bool> = OnceLock::new();
    *TERMINAL.get_or_init(|| {
        std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb")
    })
}

/// A counter on its own cache lines.
#[derive(Default)]
#[repr(align(128))]
struct Shard(AtomicU64);

struct Shared {
    draw: Draw,
    delay: Duration,
    total: AtomicU64,
    failed: AtomicU64,
    /// Tasks ended, one counter per thread (a power of two of them).
    shards: Box<[Shard]>,
    state: Mutex<State>,
    /// What keeps the run going (see `Progress`'s docs). Locked before `state`.
    running: Mutex<Running>,
}

/// The graphs and the client's tasks of the current run that have not ended: while
/// there are some, the run goes on.
#[derive(Default)]
struct Running {
    /// Graphs started and not finished.
    graphs: u64,
    /// The client's tasks submitted and not yet ended.
    futures: u64,
    /// How the first of the run's graphs to fail failed.
    failure: Option<String>,
}

impl Running {
    fn is_on(&self) -> bool {
        self.graphs > 0 || self.futures > 0
    }
}

#[derive(Default)]
struct State {
    started: Option<Instant>,
    running: bool,
    /// The bar, while the run goes on (dropping it lets go of it on the terminal).
    bar: Option<draw::Bar>,
    /// Whether this run has shown a bar.
    drawn: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().recover()
}

impl Shared {
    /// A task ended with `outcome`.
    #[inline]
    fn ended(&self, outcome: TaskOutcome) {
        let shard = rayon::current_thread_index().unwrap_or(0) & (self.shards.len() - 1);
        self.shards[shard].0.fetch_add(1, Ordering::Relaxed);
        if outcome == TaskOutcome::Failed {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn done(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .sum()
    }

    fn set_done(&self, done: u64) {
        self.shards[0].0.store(done, Ordering::Relaxed);
        for shard in &self.shards[1..] {
            shard.0.store(0, Ordering::Relaxed);
        }
    }

    /// A run of `total` tasks starts now.
    fn start(self: &Arc<Self>, total: u64) {
        self.set_done(0);
        self.failed.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        {
            let mut state = lock(&self.state);
            let now = Instant::now();
            state.started = Some(now);
            state.running = true;
            state.bar = None;
            state.drawn = false;
            if self.delay.is_zero() {
                self.show(&mut state, 0, now);
            }
        }
        if self.draw != Draw::Never {
            ticker().add(self);
        }
    }

    /// Called by the drawing thread: shows the bar once the delay has passed, and
    /// moves it.
    fn tick(&self) {
        let mut state = lock(&self.state);
        let Some(started) = state.started.filter(|_| state.running) else {
            return;
        };
        if !state.drawn && started.elapsed() >= self.delay {
            self.show(&mut state, self.done(), started);
        }
        if let Some(bar) = &state.bar {
            // A client's run grows while it runs.
            bar.update(self.total.load(Ordering::Relaxed), self.done());
        }
    }

    /// Ends the run when nothing of it is left (`running`, locked), saying how it
    /// failed: the first graph's failure, or how many of the client's tasks failed.
    fn finish_if_last(self: &Arc<Self>, running: &mut Running) {
        if running.is_on() {
            return;
        }
        let failed = self.failed.load(Ordering::Relaxed);
        let failure = running
            .failure
            .take()
            .or_else(|| (failed > 0).then(|| format!("{failed} failed")));
        self.finish(failure);
    }

    /// The run ended; `failure` says how, when it did not end well.
    fn finish(self: &Arc<Self>, failure: Option<String>) {
        if self.draw != Draw::Never {
            ticker().remove(self);
        }
        let mut state = lock(&self.state);
        state.running = false;
        // Released once finished: its last frame stays on the terminal, and is no
        // longer redrawn (over lines printed since) by the bars of later runs.
        if let Some(bar) = state.bar.take() {
            bar.finish(self.total.load(Ordering::Relaxed), self.done(), failure);
        }
    }

    /// Makes the bar, if this progress draws here.
    fn show(&self, state: &mut State, done: u64, started: Instant) {
        if let Some(bar) = self.make_bar(done, started) {
            state.bar = Some(bar);
            state.drawn = true;
        }
    }

    fn make_bar(&self, done: u64, started: Instant) -> Option<draw::Bar> {
        let terminal = stderr_is_terminal();
        match self.draw {
            Draw::Never => return None,
            Draw::Terminal if !terminal => return None,
            Draw::Terminal | Draw::Always => {}
        }
        draw::Bar::new(self.total.load(Ordering::Relaxed), done, started, terminal)
    }
}

/// The one drawing thread: runs that may draw register while they run. The thread
/// starts with the first such run and ends after [`IDLE`] without one, so a program
/// that no longer draws keeps no thread of taskweave's.
#[derive(Default)]
struct Ticker {
    state: Mutex<Ticking>,
    wake: Condvar,
}

#[derive(Default)]
struct Ticking {
    runs: Vec<Weak<Shared>>,
    /// Whether the drawing thread is alive (it clears this under the lock as it ends).
    thread: bool,
}

/// How long the drawing thread waits for a run before it ends.
const IDLE: Duration = Duration::from_secs(2);

fn ticker() -> &'static Ticker {
    static TICKER: OnceLock<Ticker> = OnceLock::new();
    TICKER.get_or_init(Ticker::default)
}

impl Ticker {
    fn add(&'static self, run: &Arc<Shared>) {
        let mut state = lock(&self.state);
        state.runs.push(Arc::downgrade(run));
        if !state.thread {
            // Without the thread, bars are drawn at the start and end of runs only.
            state.thread = std::thread::Builder::new()
                .name("taskweave-progress".into())
                .spawn(move || self.run())
                .is_ok();
        }
        drop(state);
        self.wake.notify_one();
    }

    fn remove(&self, run: &Arc<Shared>) {
        let target = Arc::as_ptr(run);
        lock(&self.state)
            .runs
            .retain(|w| w.as_ptr() != target && w.strong_count() > 0);
    }

    fn run(&self) {
        let mut live = Vec::new();
        loop {
            {
                let mut state = lock(&self.state);
                let deadline = Instant::now() + IDLE;
                while state.runs.is_empty() {
                    let now = Instant::now();
                    if now >= deadline {
                        state.thread = false;
                        return;
                    }
                    state = self.wake.wait_timeout(state, deadline - now).recover().0;
                }
                live.extend(state.runs.iter().filter_map(Weak::upgrade));
            }
            for run in live.drain(..) {
                run.tick();
            }
            std::thread::sleep(TICK);
        }
    }

    /// Whether the drawing thread is alive (for tests).
    #[cfg(test)]
    fn thread_alive(&self) -> bool {
        lock(&self.state).thread
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_counts_and_never_draws() {
        let p = Progress::hidden();
        let nodes = [NodeInfo::new(
            &const { crate::engine::table::Label::task("a", "x:1:1") },
            0,
            0,
            0,
        ); 3];
        p.graph_started(&nodes);
        for (i, node) in nodes.iter().enumerate() {
            p.task_finished(i as u32, node, TaskOutcome::Finished);
        }
        p.graph_finished(Ok(()));
        assert_eq!((p.done(), p.total(), p.failed()), (3, 3, 0));
        assert!(!p.is_drawn());
    }

    /// The failure the bar shows is one line with no control character: a panic
    /// message's escape sequences (clear screen, carriage return, newline) reached
    /// the terminal as they were.
    #[test]
    fn a_failure_is_shown_with_its_control_characters_escaped() {
        let p = Progress::hidden();
        let nodes = [NodeInfo::new(
            &const { crate::engine::table::Label::task("a", "x:1:1") },
            0,
            0,
            0,
        )];
        // Two graphs of one run: the first failure is kept while the second runs.
        p.graph_started(&nodes);
        p.graph_started(&nodes);
        let error = TaskError::from_panic("a", "x:1:1", Box::new("half\x1b[2J\rway\nthere"));
        p.graph_finished(Err(&error));
        let failure = lock(&p.shared.running).failure.clone().expect("kept");
        assert!(!failure.chars().any(char::is_control), "{failure:?}");
        assert!(
            failure.ends_with(r"panicked: half\u{1b}[2J\rway\nthere"),
            "{failure:?}"
        );
        p.graph_finished(Ok(()));
    }

    #[test]
    fn the_drawing_thread_ends_when_no_run_draws() {
        let p = Progress::hidden();
        ticker().add(&p.shared);
        assert!(ticker().thread_alive());
        ticker().remove(&p.shared);
        // Other tests of this binary draw no bar, so the thread is idle now; it ends
        // after `IDLE`. The limit only keeps a regression from hanging the suite.
        let limit = Instant::now() + IDLE * 15;
        while ticker().thread_alive() {
            assert!(
                Instant::now() < limit,
                "the drawing thread outlived {IDLE:?} idle"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // And it starts again for the next run.
        ticker().add(&p.shared);
        assert!(ticker().thread_alive());
        ticker().remove(&p.shared);
    }

    #[test]
    fn automatic_needs_no_observer() {
        let observed = RunOptions::new().observer(Arc::new(Progress::hidden()));
        assert!(automatic(&observed).is_none());
    }
}
