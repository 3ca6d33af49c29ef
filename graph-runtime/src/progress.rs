//! Progress bars on stderr: tasks done of total, rate and ETA, for a compute (an
//! [`Observer`]), the tasks of a client (the same observer, given to the client), or
//! a set of futures ([`progress()`](crate::progress())).
//!
//! Tasks only bump a counter of their own thread (no lock, no shared cache line); one
//! background thread, started on first use, reads the counters ten times a second and
//! draws. A bar that waits for a delay ([`Progress::auto`]) makes and draws nothing
//! for runs shorter than the delay.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use indicatif::{
    MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle, TermLike,
};

use crate::error::TaskError;
use crate::lock::Recover;
use crate::observe::{FutureEvent, Observer, TaskOutcome};
use crate::options::RunOptions;
use crate::table::NodeInfo;

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
/// Clones share their counters and bar. One run at a time: a run resets the counters
/// when it starts.
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
        let shards = rayon::current_num_threads().next_power_of_two().min(64);
        Progress {
            shared: Arc::new(Shared {
                draw,
                delay,
                total: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                shards: (0..shards).map(|_| Shard::default()).collect(),
                state: Mutex::new(State::default()),
                outstanding: Mutex::new(0),
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
        let outstanding = lock(&self.shared.outstanding);
        if *outstanding > 0 {
            // A graph of a client's compute: part of the client's run.
            self.shared
                .total
                .fetch_add(nodes.len() as u64, Ordering::Relaxed);
            return;
        }
        self.shared.start(nodes.len() as u64);
    }

    #[inline]
    fn task_finished(&self, _node: u32, _info: &NodeInfo<'_>, outcome: TaskOutcome) {
        self.shared.ended(outcome);
    }

    fn graph_finished(&self, result: Result<(), &TaskError>) {
        if *lock(&self.shared.outstanding) > 0 {
            // The client's run goes on.
            return;
        }
        self.shared
            .finish(result.err().map(|e| format!("failed: {e}")));
    }

    fn future_submitted(&self, _task: &FutureEvent<'_>) {
        let mut outstanding = lock(&self.shared.outstanding);
        if *outstanding == 0 {
            self.shared.start(0);
        }
        *outstanding += 1;
        self.shared.total.fetch_add(1, Ordering::Relaxed);
    }

    fn future_finished(&self, _task: &FutureEvent<'_>, outcome: TaskOutcome) {
        if outcome == TaskOutcome::Retried {
            return;
        }
        let shared = &self.shared;
        shared.ended(outcome);
        let mut outstanding = lock(&shared.outstanding);
        *outstanding = outstanding.saturating_sub(1);
        if *outstanding == 0 {
            let failed = shared.failed.load(Ordering::Relaxed);
            shared.finish((failed > 0).then(|| format!("{failed} failed")));
        }
    }
}

/// `TASKWEAVE_PROGRESS`: `Off` stops the automatic progress bar.
fn progress_from_env() -> crate::config::Switch {
    static VALUE: OnceLock<crate::config::Switch> = OnceLock::new();
    *VALUE.get_or_init(|| {
        crate::warn::read_env("TASKWEAVE_PROGRESS", "on or off", crate::config::SWITCH)
            .unwrap_or(crate::config::Switch::On)
    })
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
/// `TASKWEAVE_PROGRESS` is not `off`, `false`, `0` or `never` (see [`crate::config`]).
fn automatic_enabled() -> bool {
    progress_from_env() == crate::config::Switch::On && stderr_is_terminal()
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
    /// The client's tasks submitted and not yet ended (see `Progress`'s docs): while
    /// there are some, the client's run goes on.
    outstanding: Mutex<u64>,
}

#[derive(Default)]
struct State {
    started: Option<Instant>,
    running: bool,
    /// The bar, while the run goes on.
    bar: Option<ProgressBar>,
    /// Its lines, when stderr is not a terminal.
    log: Option<LogLines>,
    /// Whether this run has shown a bar.
    drawn: bool,
}

impl State {
    /// Lets go of the bar; one on the terminal leaves [`screen`].
    fn drop_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            drop(bar);
            if self.log.is_none() {
                screen().ended(&mut std::io::stderr().lock());
            }
        }
    }
}

impl Drop for State {
    fn drop(&mut self) {
        // A run that never finished (its observer dropped mid-run) still leaves the
        // terminal's count of running bars.
        self.drop_bar();
    }
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
            state.drop_bar();
            state.log = None;
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
            bar.set_length(self.total.load(Ordering::Relaxed));
            bar.set_position(self.done());
            bar.tick();
        }
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
        if let Some(bar) = &state.bar {
            bar.set_length(self.total.load(Ordering::Relaxed));
            bar.set_position(self.done());
            match failure {
                None => bar.finish(),
                Some(message) => bar.abandon_with_message(message),
            }
        }
        state.drop_bar();
        if let Some(log) = state.log.take() {
            let _ = log.finish(&mut std::io::stderr().lock());
        }
    }

    /// Makes the bar, if this progress draws here.
    fn show(&self, state: &mut State, done: u64, started: Instant) {
        if let Some((bar, log)) = self.make_bar(done, started) {
            state.bar = Some(bar);
            state.log = log;
            state.drawn = true;
        }
    }

    fn make_bar(&self, done: u64, started: Instant) -> Option<(ProgressBar, Option<LogLines>)> {
        let terminal = stderr_is_terminal();
        let log = match self.draw {
            Draw::Never => return None,
            Draw::Terminal if !terminal => return None,
            Draw::Terminal | Draw::Always => (!terminal).then(LogLines::default),
        };
        // A terminal's bar is drawn by `multi()`.
        let target = match &log {
            Some(log) => ProgressDrawTarget::term_like(Box::new(log.clone())),
            None => ProgressDrawTarget::hidden(),
        };
        let template = if terminal {
            "{spinner:.green} [{elapsed_precise}] [{wide_bar:.cyan/blue}] {pos}/{len} tasks ({rate}, ETA {left}) {msg}"
        } else {
            "[{elapsed_precise}] [{bar:30}] {pos}/{len} tasks ({rate}, ETA {left}) {msg}"
        };
        let style = ProgressStyle::with_template(template)
            .expect("a valid template")
            .progress_chars("=> ")
            .with_key(
                "rate",
                |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0} tasks/s", mean_rate(state));
                },
            )
            .with_key(
                "left",
                |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let left = state.len().unwrap_or(0).saturating_sub(state.pos());
                    let _ = match mean_rate(state) {
                        rate if rate > 0.0 => write_duration(w, left as f64 / rate),
                        _ => write!(w, "?"),
                    };
                },
            );
        let bar = ProgressBar::with_draw_target(Some(self.total.load(Ordering::Relaxed)), target)
            .with_style(style)
            .with_position(done)
            .with_elapsed(started.elapsed());
        let bar = if log.is_none() {
            screen().add(multi(), bar)
        } else {
            bar
        };
        Some((bar, log))
    }
}

/// Tasks a second since the run started. (indicatif's own estimate would see the
/// tasks done before a delayed bar appeared as done in an instant.)
fn mean_rate(state: &ProgressState) -> f64 {
    let elapsed = state.elapsed().as_secs_f64();
    if elapsed > 0.0 {
        state.pos() as f64 / elapsed
    } else {
        0.0
    }
}

/// `12s`, `3m05s`, `2h07m`.
fn write_duration(w: &mut dyn std::fmt::Write, seconds: f64) -> std::fmt::Result {
    let s = seconds.ceil() as u64;
    match s {
        0..60 => write!(w, "{s}s"),
        60..3600 => write!(w, "{}m{:02}s", s / 60, s % 60),
        _ => write!(w, "{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// All bars drawn on the terminal, so that concurrent runs stack instead of
/// overwriting each other.
fn multi() -> &'static MultiProgress {
    static MULTI: OnceLock<MultiProgress> = OnceLock::new();
    MULTI.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

/// The bars on the terminal ([`multi`]): indicatif leaves the cursor at the end of a
/// bar's last line, so that output after a run would go on from there. The last bar
/// to end ends the line.
#[derive(Default)]
struct Screen {
    /// Bars of runs that have not ended.
    running: usize,
    /// Every bar since the terminal last had none running, top first (indicatif
    /// stacks a bar under those before it).
    bars: Vec<ProgressBar>,
}

/// The terminal's [`Screen`].
fn screen() -> MutexGuard<'static, Screen> {
    static SCREEN: Mutex<Screen> = Mutex::new(Screen {
        running: 0,
        bars: Vec::new(),
    });
    lock(&SCREEN)
}

impl Screen {
    /// Draws `bar` in `multi`, under the bars there.
    fn add(&mut self, multi: &MultiProgress, bar: ProgressBar) -> ProgressBar {
        let bar = multi.add(bar);
        self.running += 1;
        self.bars.push(bar.clone());
        bar
    }

    /// A bar's run ended (its last frame drawn, its run's handle dropped). With no
    /// bar left running, drops them all, top first, and ends the line on `out`.
    ///
    /// Kept until then: indicatif forgets the lines of a dropped bar (so that later
    /// frames do not overwrite it) at once only when it is the top bar; a lower one
    /// would be drawn once more by the next run's first frame, under the newline.
    fn ended(&mut self, out: &mut impl Write) {
        self.running = self.running.saturating_sub(1);
        if self.running == 0 {
            self.bars.clear();
            let _ = writeln!(out);
            let _ = out.flush();
        }
    }
}

/// For stderr that is not a terminal (a log, CI): every frame becomes one plain line,
/// at most one a second; the last frame of a run is always written.
#[derive(Debug, Clone, Default)]
struct LogLines(Arc<Mutex<LogState>>);

#[derive(Debug, Default)]
struct LogState {
    /// The frame being drawn.
    frame: String,
    /// A frame not written yet (it came less than a second after the last one).
    pending: Option<String>,
    last: Option<Instant>,
}

/// The least time between two lines of a bar on a log.
const LOG_EVERY: Duration = Duration::from_secs(1);

impl LogLines {
    /// Ends the frame: writes it to `out` unless a line was written less than a
    /// second ago (then it waits in `pending`).
    fn end_frame(state: &mut LogState, now: Instant, out: &mut impl Write) -> std::io::Result<()> {
        let text = state
            .frame
            .trim_matches(|c: char| c == '\r' || c.is_whitespace())
            .to_owned();
        state.frame.clear();
        if text.is_empty() {
            return Ok(());
        }
        if state
            .last
            .is_some_and(|last| now.duration_since(last) < LOG_EVERY)
        {
            state.pending = Some(text);
            return Ok(());
        }
        state.last = Some(now);
        state.pending = None;
        writeln!(out, "{text}")
    }

    /// Writes the frame that waits, if any: the run's last.
    fn finish(&self, out: &mut impl Write) -> std::io::Result<()> {
        match lock(&self.0).pending.take() {
            Some(text) => writeln!(out, "{text}"),
            None => Ok(()),
        }
    }
}

impl TermLike for LogLines {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        let mut state = lock(&self.0);
        state.frame.push_str(s);
        LogLines::end_frame(&mut state, Instant::now(), &mut std::io::stderr().lock())
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        lock(&self.0).frame.push_str(s);
        Ok(())
    }
    fn clear_line(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        LogLines::end_frame(
            &mut lock(&self.0),
            Instant::now(),
            &mut std::io::stderr().lock(),
        )
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
        let nodes = [NodeInfo::new("a", "x:1:1", 0, 0, 0); 3];
        p.graph_started(&nodes);
        for (i, node) in nodes.iter().enumerate() {
            p.task_finished(i as u32, node, TaskOutcome::Finished);
        }
        p.graph_finished(Ok(()));
        assert_eq!((p.done(), p.total(), p.failed()), (3, 3, 0));
        assert!(!p.is_drawn());
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

    /// A terminal in memory: what indicatif writes to it, a cursor move up as `<up n>`.
    #[derive(Debug, Clone, Default)]
    struct Recorder(Arc<Mutex<String>>);

    impl Recorder {
        fn text(&self) -> String {
            lock(&self.0).clone()
        }
    }

    impl TermLike for Recorder {
        fn width(&self) -> u16 {
            24
        }
        fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
            if n > 0 {
                lock(&self.0).push_str(&format!("<up {n}>"));
            }
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            lock(&self.0).push_str(&format!("{s}\n"));
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            lock(&self.0).push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).push_str(&String::from_utf8_lossy(buf));
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A bar of 3 tasks drawn as `name done/total`, added to `screen`.
    fn named_bar(screen: &mut Screen, multi: &MultiProgress, name: &str) -> ProgressBar {
        let style = ProgressStyle::with_template("{msg} {pos}/{len}").unwrap();
        let bar = ProgressBar::with_draw_target(Some(3), ProgressDrawTarget::hidden())
            .with_style(style)
            .with_message(name.to_owned());
        screen.add(multi, bar)
    }

    /// Finishes `bar`'s run as `Shared::finish` does.
    fn end_run(screen: &mut Screen, bar: ProgressBar, term: &Recorder) {
        bar.set_position(3);
        bar.finish();
        drop(bar);
        screen.ended(&mut term.clone());
    }

    #[test]
    fn the_last_frame_on_a_terminal_ends_with_a_newline() {
        let term = Recorder::default();
        let multi =
            MultiProgress::with_draw_target(ProgressDrawTarget::term_like(Box::new(term.clone())));
        let mut screen = Screen::default();

        // Two runs at once: the lower one ends first, and the line stays open for the
        // other; the last to end ends the line under both.
        let a = named_bar(&mut screen, &multi, "a");
        let b = named_bar(&mut screen, &multi, "b");
        end_run(&mut screen, b, &term);
        assert!(!term.text().ends_with('\n'), "{:?}", term.text());
        end_run(&mut screen, a, &term);
        let text = term.text();
        assert!(text.ends_with('\n'), "{text:?}");
        assert!(text.trim_end().ends_with("b 3/3"), "{text:?}");

        // The next run starts on the new line, with no frame of the last runs drawn
        // again nor moved over.
        let c = named_bar(&mut screen, &multi, "c");
        end_run(&mut screen, c, &term);
        let after = term.text()[text.len()..].to_owned();
        assert!(after.trim_start().starts_with("c "), "{after:?}");
        assert!(!after.contains("<up") && !after.contains("a ") && !after.contains("b "));
        assert!(
            after.ends_with('\n') && after.trim_end().ends_with("c 3/3"),
            "{after:?}"
        );
        assert_eq!((screen.running, screen.bars.len()), (0, 0));
    }

    #[test]
    fn log_lines_trim_frames_and_write_one_a_second() {
        let log = LogLines::default();
        let mut out = Vec::new();
        let t0 = Instant::now();
        let frame = |text: &str, at: Duration, out: &mut Vec<u8>| {
            let mut state = lock(&log.0);
            state.frame.push_str(text);
            LogLines::end_frame(&mut state, t0 + at, out).unwrap();
        };
        frame("\r  [00:00:00] 1/4 tasks      ", Duration::ZERO, &mut out);
        frame("\r", Duration::from_millis(10), &mut out);
        frame(
            "\r  [00:00:00] 2/4 tasks   ",
            Duration::from_millis(100),
            &mut out,
        );
        frame(
            "\r  [00:00:00] 3/4 tasks   ",
            Duration::from_millis(200),
            &mut out,
        );
        frame(
            "\r  [00:00:01] 4/4 tasks   ",
            Duration::from_millis(1100),
            &mut out,
        );
        frame(
            "\r  [00:00:01] 4/4 tasks done",
            Duration::from_millis(1150),
            &mut out,
        );
        log.finish(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[00:00:00] 1/4 tasks\n[00:00:01] 4/4 tasks\n[00:00:01] 4/4 tasks done\n"
        );
    }
}
