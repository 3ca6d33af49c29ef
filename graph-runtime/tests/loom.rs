//! Loom models of the dispatcher's protocol and of a future's state: every interleaving
//! of small graphs, checked for what must hold in all of them.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p graph-runtime --release --test loom`
//! (with `CARGO_TARGET_DIR=target/loom` to keep the normal build). Under `cfg(loom)`
//! the dispatcher's atomics, stop flag and failure lock are loom's, its `rayon::join`s
//! are loom threads, and every access to a result slot's value goes through a loom
//! `UnsafeCell`, so a read that does not happen after its write, or a drop that races
//! a borrow, fails the model. Outside `cfg(loom)` this file is empty.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};

use graph_runtime::__loom::{dispatch, BlockCount, FutureState, JobClaim, NodeHandle};
use graph_runtime::__private::{give, lend, EarlyExit, Flow, SharedSlot, Slot, Table};
use graph_runtime::{Label, NodeInfo, RunOptions, Status};
use loom::sync::atomic::AtomicU32;

// ---- what every model counts ------------------------------------------------------

/// How many values were made (clones included) and dropped.
///
/// The models' own counters (these, and how often each node ran) are `std` atomics:
/// loom runs one thread at a time, so they count exactly, and as loom atomics each
/// update would be one more scheduling point, multiplying the interleavings (about
/// sevenfold for the diamond) without checking more of the engine's protocol.
#[derive(Default)]
struct Stats {
    made: AtomicUsize,
    dropped: AtomicUsize,
}

impl Stats {
    /// Every value made was dropped, once (a second drop of one value fails in `Drop`).
    fn assert_all_dropped_once(&self) {
        let made = self.made.load(Ordering::SeqCst);
        let dropped = self.dropped.load(Ordering::SeqCst);
        assert_eq!(made, dropped, "{made} values made, {dropped} dropped");
    }
}

/// A result that knows whether it is alive: read after its drop, or dropped twice, it
/// fails the model.
struct Counted {
    value: u64,
    alive: bool,
    stats: Arc<Stats>,
}

impl Counted {
    fn new(value: u64, stats: &Arc<Stats>) -> Self {
        stats.made.fetch_add(1, Ordering::Relaxed);
        Counted {
            value,
            alive: true,
            stats: stats.clone(),
        }
    }

    fn get(&self) -> u64 {
        assert!(self.alive, "a value was read after its drop");
        self.value
    }
}

impl std::fmt::Debug for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Counted({}, alive: {})", self.value, self.alive)
    }
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        Counted::new(self.get(), &self.stats)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        assert!(self.alive, "a value was dropped twice");
        self.alive = false;
        self.stats.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// How often each node ran.
fn run_counts(n: usize) -> Vec<AtomicUsize> {
    (0..n).map(|_| AtomicUsize::new(0)).collect()
}

fn ran(runs: &[AtomicUsize], node: u32) {
    runs[node as usize].fetch_add(1, Ordering::Relaxed);
}

fn runs_of(runs: &[AtomicUsize]) -> Vec<usize> {
    runs.iter().map(|r| r.load(Ordering::SeqCst)).collect()
}

fn pending(n: usize) -> Vec<AtomicU32> {
    (0..n).map(|_| AtomicU32::new(0)).collect()
}

/// Runs `model` under loom, every interleaving; returns how many it explored
/// (executions), and prints it (`-- --nocapture`).
fn explore(name: &str, model: impl Fn() + Sync + Send + 'static) -> usize {
    explore_bounded(name, None, model)
}

/// [`explore`], with at most `preemptions` preemptions per execution unless
/// `LOOM_MAX_PREEMPTIONS` says otherwise: for models too large to explore whole.
fn explore_bounded(
    name: &str,
    preemptions: Option<usize>,
    model: impl Fn() + Sync + Send + 'static,
) -> usize {
    let executions = Arc::new(AtomicUsize::new(0));
    let counter = executions.clone();
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = preemptions;
    }
    builder.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        model();
    });
    let n = executions.load(Ordering::Relaxed);
    println!("loom model `{name}`: {n} interleavings explored");
    n
}

/// The message of the model's deliberate panic: kept off stderr, which would otherwise
/// print it once per interleaving.
const DELIBERATE: &str = "deliberate panic in a loom model";

fn quiet_deliberate_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&DELIBERATE) {
                default(info);
            }
        }));
    });
}

/// A task's entry in a `static` table, written in this file.
macro_rules! node {
    ($name:literal, $in_degree:expr, $first:expr, $count:expr) => {
        NodeInfo::new(
            &const { Label::task($name, "tests/loom.rs") },
            $in_degree,
            $first,
            $count,
        )
    };
}

// ---- the dispatcher ---------------------------------------------------------------

/// 0 -> {1, 2} -> 3: node 0's value is read by 1 (lent) and 2 (given: a clone or the
/// move, whichever runs last), 3 reads both results. Every node runs once, 3 after
/// both, the result is right, and every value (clones too) is dropped exactly once.
#[test]
fn diamond() {
    static NODES: [NodeInfo<'static>; 4] = [
        node!("root", 0, 0, 2),
        node!("lend", 1, 2, 1),
        node!("give", 1, 3, 1),
        node!("sink", 2, 4, 0),
    ];
    static TABLE: Table<'static> = Table::new(&NODES, &[1, 2, 3, 3], &[0], 2);
    let n = explore("diamond", || {
        let stats = Arc::new(Stats::default());
        let runs = run_counts(4);
        let root = SharedSlot::<Counted>::new(2);
        let left = Slot::<Counted>::new();
        let right = Slot::<Counted>::new();
        let out = Slot::<u64>::new();
        let run = |node: u32| {
            ran(&runs, node);
            match node {
                0 => root.put(Counted::new(1, &stats)),
                1 => left.put(Counted::new(lend(&mut root.shared()).get() + 10, &stats)),
                2 => {
                    let given = give(&mut root.shared());
                    right.put(Counted::new(given.get() + 20, &stats));
                }
                3 => {
                    let a = give(&mut left.owned());
                    let b = lend(&mut right.owned()).get();
                    out.put(a.get() + b);
                }
                _ => unreachable!(),
            }
            Flow::Continue
        };
        let result = dispatch(&TABLE, &pending(4), &run, &RunOptions::new());
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(runs_of(&runs), [1, 1, 1, 1]);
        assert_eq!(out.take(), Some(11 + 21));
        drop((root, left, right));
        stats.assert_all_dropped_once();
    });
    assert!(n > 1);
}

/// Preemptions per execution of the fan-out model (loom's documentation finds most
/// bugs within 2 or 3). Its three successors form a shared list, whose every claim is
/// one more atomic operation to interleave: 4 preemptions explore about 400,000
/// interleavings in half a minute, 5 take minutes, 6 more than a quarter of an hour.
/// A claim that read and wrote the list's head without a compare-and-swap fails it
/// within 3.
const FAN_OUT_PREEMPTIONS: usize = 4;

/// 0 -> {1, 2, 3} -> 4: three ready successors are shared (taken one by one by up to
/// three threads, each join offering what is left). Node 0's value is lent to 1 and given to 2 and 3; the sink runs once,
/// after all three; every value is dropped once.
#[test]
fn fan_out_of_three() {
    static NODES: [NodeInfo<'static>; 5] = [
        node!("root", 0, 0, 3),
        node!("a", 1, 3, 1),
        node!("b", 1, 4, 1),
        node!("c", 1, 5, 1),
        node!("sink", 3, 6, 0),
    ];
    static TABLE: Table<'static> = Table::new(&NODES, &[1, 2, 3, 4, 4, 4], &[0], 3);
    // Three threads and five nodes: exhaustive exploration does not end in useful
    // time (each preemption allowed multiplies the interleavings by about 3.5), so
    // preemptions are bounded, as loom's own documentation advises.
    let n = explore_bounded("fan-out of 3", Some(FAN_OUT_PREEMPTIONS), || {
        let stats = Arc::new(Stats::default());
        let runs = run_counts(5);
        let root = SharedSlot::<Counted>::new(3);
        let mids = [Slot::<u64>::new(), Slot::<u64>::new(), Slot::<u64>::new()];
        let out = Slot::<u64>::new();
        let run = |node: u32| {
            ran(&runs, node);
            match node {
                0 => root.put(Counted::new(1, &stats)),
                1 => mids[0].put(lend(&mut root.shared()).get() + 10),
                2 | 3 => {
                    let given = give(&mut root.shared());
                    mids[node as usize - 1].put(given.get() + 10 * u64::from(node));
                }
                4 => {
                    let sum: u64 = mids.iter().map(|m| give(&mut m.owned())).sum();
                    out.put(sum);
                }
                _ => unreachable!(),
            }
            Flow::Continue
        };
        let result = dispatch(&TABLE, &pending(5), &run, &RunOptions::new());
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(runs_of(&runs), [1, 1, 1, 1, 1]);
        assert_eq!(out.take(), Some(11 + 21 + 31));
        drop(root);
        stats.assert_all_dropped_once();
    });
    assert!(n > 1);
}

/// The chain 0 -> 1 -> 2 -> 4 whose middle node 2 panics while it borrows node 1's
/// value, beside the branch 0 -> 3 -> 4. The panic stops the graph: the sink (4) never
/// runs, `dispatch` returns the panic as an error naming node 2, the branch (3) ran
/// once or not at all, and every value is dropped exactly once: node 1's by the
/// handle unwinding out of node 2, node 3's (if any) with its slot.
#[test]
fn chain_with_a_panic() {
    static NODES: [NodeInfo<'static>; 5] = [
        node!("root", 0, 0, 2),
        node!("before", 1, 2, 1),
        node!("boom", 1, 3, 1),
        node!("branch", 1, 4, 1),
        node!("after", 2, 5, 0),
    ];
    static TABLE: Table<'static> = Table::new(&NODES, &[1, 3, 2, 4, 4], &[0], 2);
    quiet_deliberate_panics();
    let n = explore("chain with a panic", || {
        let stats = Arc::new(Stats::default());
        let runs = run_counts(5);
        let root = SharedSlot::<Counted>::new(2);
        let before = Slot::<Counted>::new();
        let boom = Slot::<u64>::new();
        let branch = Slot::<Counted>::new();
        let run = |node: u32| {
            ran(&runs, node);
            match node {
                0 => root.put(Counted::new(1, &stats)),
                1 => before.put(give(&mut root.shared())),
                2 => {
                    // The handle is alive while the panic unwinds: it drops the value then.
                    let mut held = before.owned();
                    if lend(&mut held).get() == 1 {
                        std::panic::panic_any(DELIBERATE);
                    }
                    boom.put(0);
                }
                3 => branch.put(give(&mut root.shared())),
                4 => {
                    let _ = give(&mut boom.owned()) + give(&mut branch.owned()).get();
                }
                _ => unreachable!(),
            }
            Flow::Continue
        };
        let error = dispatch(&TABLE, &pending(5), &run, &RunOptions::new())
            .expect_err("the panic is the graph's error");
        assert_eq!(error.task(), "boom");
        assert_eq!(error.message(), DELIBERATE);
        let runs = runs_of(&runs);
        assert_eq!(runs[..3], [1, 1, 1]);
        assert!(runs[3] <= 1, "{runs:?}");
        assert_eq!(runs[4], 0, "a node ran after the panic: {runs:?}");
        assert!(!boom.is_full());
        assert_eq!(branch.is_full(), runs[3] == 1);
        drop((root, before, branch));
        stats.assert_all_dropped_once();
    });
    assert!(n > 1);
}

/// 0 -> {1, 2} -> 3 where node 1 stops the graph (a `?` meeting an error) while node 2
/// may be running: the sink never runs, `dispatch` returns `Ok` (the early exit is the
/// result), and every value is dropped once.
#[test]
fn stop_flag_on_err() {
    static NODES: [NodeInfo<'static>; 4] = [
        node!("root", 0, 0, 2),
        node!("check", 1, 2, 1),
        node!("other", 1, 3, 1),
        node!("sink", 2, 4, 0),
    ];
    static TABLE: Table<'static> = Table::new(&NODES, &[1, 2, 3, 3], &[0], 2);
    let n = explore("stop on Err", || {
        let stats = Arc::new(Stats::default());
        let runs = run_counts(4);
        let root = SharedSlot::<Counted>::new(2);
        let mut early = EarlyExit::<u64>::new();
        let other = Slot::<Counted>::new();
        let run = |node: u32| {
            ran(&runs, node);
            match node {
                0 => root.put(Counted::new(7, &stats)),
                1 => {
                    let v = lend(&mut root.shared()).get();
                    early.put(1, v);
                    return Flow::Stop;
                }
                2 => other.put(give(&mut root.shared())),
                3 => unreachable!("the sink of a stopped graph ran"),
                _ => unreachable!(),
            }
            Flow::Continue
        };
        let result = dispatch(&TABLE, &pending(4), &run, &RunOptions::new());
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(early.take(), Some(7));
        let runs = runs_of(&runs);
        assert_eq!(runs[..2], [1, 1]);
        assert!(runs[2] <= 1 && runs[3] == 0, "{runs:?}");
        drop((root, other));
        stats.assert_all_dropped_once();
    });
    assert!(n > 1);
}

/// 0 -> {1, 2} -> 3 where both 1 and 2 meet an error, 2 possibly first: node 1 still
/// runs even when 2 stopped the graph before it started, its early exit is the one
/// kept (program order, as sequential code), and the sink never runs.
#[test]
fn earliest_stop_wins() {
    static NODES: [NodeInfo<'static>; 4] = [
        node!("root", 0, 0, 2),
        node!("first", 1, 2, 1),
        node!("second", 1, 3, 1),
        node!("sink", 2, 4, 0),
    ];
    static TABLE: Table<'static> = Table::new(&NODES, &[1, 2, 3, 3], &[0], 2);
    let n = explore("earliest stop wins", || {
        let runs = run_counts(4);
        let root = SharedSlot::<u64>::new(2);
        let mut early = EarlyExit::<u64>::new();
        let run = |node: u32| {
            ran(&runs, node);
            match node {
                0 => root.put(7),
                1 | 2 => {
                    let v = lend(&mut root.shared()) + u64::from(node);
                    early.put(node, v);
                    return Flow::Stop;
                }
                3 => unreachable!("the sink of a stopped graph ran"),
                _ => unreachable!(),
            }
            Flow::Continue
        };
        let result = dispatch(&TABLE, &pending(4), &run, &RunOptions::new());
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(
            early.take(),
            Some(8),
            "the first failing node in program order"
        );
        let runs = runs_of(&runs);
        assert_eq!(
            runs[..2],
            [1, 1],
            "a node before the stop did not run: {runs:?}"
        );
        assert!(runs[2] <= 1 && runs[3] == 0, "{runs:?}");
    });
    assert!(n > 1);
}

// ---- a shared slot ------------------------------------------------------------------

/// One value, two consumers on two threads: one lends it, one gives it. Whatever the
/// order, the giver gets the value (moved when the lender has released it, a clone
/// otherwise), it is moved exactly once, never read after its drop, and every value
/// (the clone too) is dropped once, the last by whoever released last.
#[test]
fn shared_slot_lend_and_give() {
    let n = explore("shared slot: lend and give", || {
        let stats = Arc::new(Stats::default());
        let slot = Arc::new(SharedSlot::<Counted>::new(2));
        slot.put(Counted::new(5, &stats));
        let lender = {
            let slot = slot.clone();
            loom::thread::spawn(move || {
                assert_eq!(lend(&mut slot.shared()).get(), 5);
            })
        };
        let giver = {
            let slot = slot.clone();
            loom::thread::spawn(move || give(&mut slot.shared()))
        };
        lender.join().unwrap();
        let given = giver.join().unwrap();
        assert_eq!(given.get(), 5);
        let made = stats.made.load(Ordering::SeqCst);
        assert!(made == 1 || made == 2, "moved or cloned once: {made}");
        // Every use released: the slot is empty, the original dropped unless moved.
        assert!(slot.take_last().is_none());
        drop(slot);
        drop(given);
        stats.assert_all_dropped_once();
    });
    assert!(n > 1);
}

/// The dynamic dispatcher's one-use slots, filled and read without a read-modify-write
/// (`put_alone`, `shared_planned`): a node fills its slot, releases its one reader
/// through the reader's pending count (as the dispatcher does), and the reader, on
/// another thread, moves the value out; then a second run on the same slot, the
/// threads' parts swapped. Loom checks every access to the value is ordered by the
/// hand-over (a write or read racing another would be reported), and the value of
/// each run is moved once and dropped once.
#[test]
fn one_use_slot_filled_and_read_alone() {
    let n = explore("one-use slot: filled and read alone, two runs", || {
        let stats = Arc::new(Stats::default());
        let slot = Arc::new(SharedSlot::<Counted>::new(1));
        for run in 0..2u64 {
            let pending = Arc::new(AtomicU32::new(1));
            let writer = {
                let (slot, pending, stats) = (slot.clone(), pending.clone(), stats.clone());
                move || {
                    // SAFETY: the writer is the slot's only accessor until it releases
                    // the reader below.
                    unsafe { slot.put_alone(Counted::new(run, &stats)) };
                    pending.fetch_sub(1, Ordering::AcqRel);
                }
            };
            let reader = {
                let slot = slot.clone();
                move || {
                    while pending.load(Ordering::Acquire) != 0 {
                        loom::thread::yield_now();
                    }
                    // SAFETY: released by the writer, the reader is the slot's one use.
                    give(&mut unsafe { slot.shared_planned() })
                }
            };
            let got = if run == 0 {
                let reading = loom::thread::spawn(reader);
                writer();
                reading.join().unwrap()
            } else {
                let writing = loom::thread::spawn(writer);
                let got = reader();
                writing.join().unwrap();
                got
            };
            assert_eq!(got.get(), run);
        }
        assert!(slot.take_last().is_none());
        drop(slot);
        stats.assert_all_dropped_once();
    });
    assert!(n > 1);
}

/// The dynamic dispatcher's slots of several uses, claimed as the plan counted them
/// (`shared_planned`, no claim counter in release builds, which loom's run uses): a
/// node fills a slot of two uses and releases its two readers, on two threads, each
/// of which takes the value by value: a reader that finds its use the last live one
/// moves the value out, any other clones it and releases its use. The value is never
/// read after its drop (a clone's `get` asserts it), and every value is dropped once;
/// a second run on the same slot finds it empty.
#[test]
fn slot_of_two_uses_read_as_planned() {
    let n = explore("slot of two uses: read as planned by two threads", || {
        let stats = Arc::new(Stats::default());
        let slot = Arc::new(SharedSlot::<Counted>::new(2));
        for run in 0..2u64 {
            // SAFETY: no reader is released before the fill.
            unsafe { slot.put_alone(Counted::new(run, &stats)) };
            let reader = {
                let slot = slot.clone();
                // SAFETY: each reader claims one of the two uses, once.
                move || give(&mut unsafe { slot.shared_planned() })
            };
            let other = loom::thread::spawn(reader.clone());
            let mine = reader();
            let theirs = other.join().unwrap();
            assert_eq!((mine.get(), theirs.get()), (run, run));
        }
        // Per run, the value and one clone, or two when both readers saw the other's
        // use still live (the last release then drops the value in the slot).
        let made = stats.made.load(Ordering::SeqCst);
        assert!(
            (4..=6).contains(&made),
            "two or three values per run: {made}"
        );
        assert!(slot.take_last().is_none());
        drop(slot);
        stats.assert_all_dropped_once();
    });
    assert!(n > 1);
}

// ---- futures ------------------------------------------------------------------------

/// A running task finishes while its future is cancelled, and a reader waits for it.
/// Exactly one end wins, whatever the order: the status, the published result, the
/// cancellation flag and the one call of the end callback all agree; the reader is
/// woken (no lost wake-up: loom reports a deadlock); the result is dropped once,
/// whether it was published or discarded.
#[test]
fn future_cancel_races_finish() {
    let n = explore("future: cancel races finish", || {
        let stats = Arc::new(Stats::default());
        let state = Arc::new(FutureState::<Counted>::new());
        let ended = Arc::new(AtomicUsize::new(0));
        let told = Arc::new(AtomicUsize::new(usize::MAX));
        {
            let (ended, told) = (ended.clone(), told.clone());
            state.on_end(move |status| {
                ended.fetch_add(1, Ordering::SeqCst);
                told.store(status as usize, Ordering::SeqCst);
            });
        }
        let worker = {
            let (state, stats) = (state.clone(), stats.clone());
            loom::thread::spawn(move || {
                if state.start() {
                    state.finish(Counted::new(3, &stats))
                } else {
                    false
                }
            })
        };
        let canceller = {
            let state = state.clone();
            loom::thread::spawn(move || state.cancel())
        };
        state.wait();
        assert!(
            state.is_done(),
            "woken with status {:?}, result {:?}",
            state.status(),
            state.result()
        );
        let status = state.status();
        // What the reader sees once woken is final.
        match (status, state.result()) {
            (Status::Finished, Some(Ok(value))) => assert_eq!(value.get(), 3),
            (Status::Cancelled, Some(Err(_))) => {}
            (status, result) => panic!("status {status:?} with result {result:?}"),
        }
        let finished = worker.join().unwrap();
        let cancelled = canceller.join().unwrap();
        assert!(finished != cancelled, "exactly one end wins");
        assert_eq!(finished, status == Status::Finished);
        assert_eq!(state.cancel_flag(), status == Status::Cancelled);
        assert_eq!(ended.load(Ordering::SeqCst), 1);
        assert_eq!(told.load(Ordering::SeqCst), status as usize);
        drop(state);
        stats.assert_all_dropped_once();
    });
    assert!(n > 1);
}

/// A cancel of a future races its end and its dependent's: the future ends (finished
/// or cancelled) on a worker, which then runs the dependent, while another thread
/// cancels the future. Whichever comes first, the dependent ends cancelled, never left
/// finished (a finished one is released with the future, as in Dask), its value
/// dropped once, and its reader sees `Cancelled`.
#[test]
fn future_cancel_races_the_end_of_a_finished_dependent() {
    let n = explore("future: cancel races a dependent's end", || {
        let stats = Arc::new(Stats::default());
        let root = Arc::new(FutureState::<u64>::new());
        let dependent = Arc::new(root.dependent::<Counted>());
        let worker = {
            let (root, dependent, stats) = (root.clone(), dependent.clone(), stats.clone());
            loom::thread::spawn(move || {
                if root.start() && root.finish(1) && dependent.start() {
                    dependent.finish(Counted::new(2, &stats));
                }
            })
        };
        let canceller = {
            let root = root.clone();
            loom::thread::spawn(move || root.cancel_with_dependents())
        };
        worker.join().unwrap();
        canceller.join().unwrap();
        assert_eq!(root.status(), Status::Cancelled);
        assert_eq!(dependent.status(), Status::Cancelled);
        assert!(matches!(dependent.result(), Some(Err(_))));
        drop(dependent);
        stats.assert_all_dropped_once();
    });
    assert!(n > 1);
}

/// The client's shutdown claims a pending task while a pool thread starts it: exactly
/// one of them gets it, and the future ends accordingly (finished by the task, or
/// cancelled by the shutdown), its reader woken.
#[test]
fn future_shutdown_races_start() {
    let n = explore("future: shutdown races start", || {
        let stats = Arc::new(Stats::default());
        let state = Arc::new(FutureState::<Counted>::new());
        let worker = {
            let (state, stats) = (state.clone(), stats.clone());
            loom::thread::spawn(move || {
                let started = state.start();
                if started {
                    assert!(state.finish(Counted::new(1, &stats)));
                }
                started
            })
        };
        let shutdown = {
            let state = state.clone();
            loom::thread::spawn(move || {
                let claimed = state.claim_pending();
                if claimed {
                    assert!(state.cancel());
                }
                claimed
            })
        };
        state.wait();
        let started = worker.join().unwrap();
        let claimed = shutdown.join().unwrap();
        assert!(started != claimed, "exactly one of start and claim wins");
        let expected = if started {
            Status::Finished
        } else {
            Status::Cancelled
        };
        assert_eq!(state.status(), expected);
        drop(state);
        stats.assert_all_dropped_once();
    });
    assert!(n > 1);
}

/// The last user handle of a finished future frees its result on the thread that
/// drops it, whatever the worker that published the result does meanwhile: the
/// worker still holds the task (a reference it lets go of after the end, as `Job`'s
/// run does), and so does the reader (as a job of its own would). Before, the result
/// went with the task's last reference: the worker's, when it let go after the
/// reader's drop, which ran the value's `Drop` on that worker.
#[test]
fn a_finished_futures_last_handle_frees_its_result_where_it_is_dropped() {
    let n = explore("future: the last handle frees a finished result", || {
        let stats = Arc::new(Stats::default());
        let state = Arc::new(FutureState::<Counted>::new());
        // The reader's handle.
        state.add_handle();
        let worker = {
            let (state, stats) = (state.clone(), stats.clone());
            loom::thread::spawn(move || {
                if state.start() {
                    assert!(state.finish(Counted::new(1, &stats)));
                }
                // The worker's reference goes only now.
                drop(state);
            })
        };
        state.wait();
        assert!(matches!(state.result(), Some(Ok(value)) if value.get() == 1));
        state.drop_handle();
        stats.assert_all_dropped_once();
        worker.join().unwrap();
    });
    assert!(n > 1);
}

/// A pure task's last handle is dropped (cancelling it: it is pending) while an equal
/// submission looks it up by its key, and a done callback makes a handle of it at its
/// end: the lookup gets a handle only of a task whose last handle did not go before
/// it, never of one that its holder's drop cancelled (that submission makes a new
/// task). Found, the task stays pending; not found, it was cancelled by the drop.
#[test]
fn pure_lookup_races_last_handle_drop() {
    let n = explore("future: pure lookup races last handle's drop", || {
        let state = Arc::new(FutureState::<u32>::new());
        state.add_handle();
        {
            let callback_state = Arc::downgrade(&state);
            state.on_end(move |_| {
                if let Some(state) = callback_state.upgrade() {
                    // `add_done_callback`'s own handle, while the callback runs.
                    state.add_handle();
                    state.drop_handle();
                }
            });
        }
        let holder = {
            let state = state.clone();
            loom::thread::spawn(move || state.drop_handle())
        };
        let found = state.find();
        holder.join().unwrap();
        let status = state.status();
        assert_eq!(
            found,
            status == Status::Pending,
            "found {found}, status {status:?}"
        );
        if found {
            // The finder's handle, the last: cancels the task, ending the model.
            state.drop_handle();
        }
        assert_eq!(state.status(), Status::Cancelled);
    });
    assert!(n > 1);
}

/// A dynamic node's handles (`NodeRef`, a counted one-word pointer with no weak
/// count) cloned, written through and dropped on two threads: the node is freed once,
/// by whichever handle is last, after the other thread's write (its body reads the
/// write when it drops; loom reports a race if the count's Release/Acquire did not
/// order them).
#[test]
fn node_handles_free_once_after_every_use() {
    explore("node handles", || {
        let drops = loom::sync::Arc::new(loom::sync::atomic::AtomicUsize::new(0));
        let node = NodeHandle::new(drops.clone());
        let other = node.clone();
        let writer = loom::thread::spawn(move || {
            let again = other.clone();
            other.write(5);
            drop(other);
            drop(again);
        });
        drop(node);
        writer.join().unwrap();
        assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 5);
    });
}

/// A node read by two nodes dropped on two threads (`dynamic/node.rs`,
/// `ParentList::release_held`): the child dropped first lets go of its parent by
/// taking the count down short of zero, with no drop loop; the other frees the
/// parent, once, after the first thread's write through its handle (loom reports a
/// race if the release did not order the write before the free's read).
#[test]
fn a_parent_let_go_by_its_readers_is_freed_once_after_every_use() {
    explore("parent handles", || {
        let drops = loom::sync::Arc::new(loom::sync::atomic::AtomicUsize::new(0));
        let parent = NodeHandle::new(drops.clone());
        let theirs = parent.clone();
        let mine = NodeHandle::with_parents(vec![parent], drops.clone());
        let their_drops = drops.clone();
        let other = loom::thread::spawn(move || {
            theirs.write(5);
            drop(NodeHandle::with_parents(vec![theirs], their_drops));
        });
        drop(mine);
        other.join().unwrap();
        assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 5);
    });
}

/// A block's count (`dynamic/blocks.rs`): the thread filling a block carved three
/// nodes from it; two are dropped on another thread and given back together (as the
/// drop loop gives back the nodes of one block it dropped in a row), one on the
/// filling thread, which then moves on to another block. Whichever of the three comes
/// last, and only it, frees the block, after every node's last write (it reads them;
/// loom reports a race if the count's Release/Acquire did not order them).
#[test]
fn block_freed_once_after_every_node() {
    explore("block count", || {
        let count = loom::sync::Arc::new(BlockCount::new());
        let nodes = loom::sync::Arc::new([
            loom::cell::UnsafeCell::new(0usize),
            loom::cell::UnsafeCell::new(0usize),
            loom::cell::UnsafeCell::new(0usize),
        ]);
        let freed = Arc::new(AtomicUsize::new(0));
        let free = {
            let (nodes, freed) = (nodes.clone(), freed.clone());
            move || {
                // SAFETY: the block is freed once every node is dropped: no one writes.
                let values = nodes.each_ref().map(|n| n.with(|v| unsafe { *v }));
                assert_eq!(
                    values,
                    [1, 2, 3],
                    "a node's last write before the block is freed"
                );
                freed.fetch_add(1, Ordering::Relaxed);
            }
        };
        let other = {
            let (count, nodes, free) = (count.clone(), nodes.clone(), free.clone());
            loom::thread::spawn(move || {
                // SAFETY: this thread holds the second and third nodes alone.
                nodes[1].with_mut(|v| unsafe { *v = 2 });
                // SAFETY: as above.
                nodes[2].with_mut(|v| unsafe { *v = 3 });
                if count.release_many(2) {
                    free();
                }
            })
        };
        // SAFETY: this thread holds the first node alone.
        nodes[0].with_mut(|v| unsafe { *v = 1 });
        if count.release() {
            free();
        }
        if count.retire(3) {
            free();
        }
        other.join().unwrap();
        assert_eq!(freed.load(Ordering::Relaxed), 1, "the block is freed once");
    });
}

// ---- a graph entered from outside rayon's pool ------------------------------------

/// `enter_pool`'s claim: a worker starting a job queued from outside the pool races
/// with its caller, which takes it back (when every worker waits for a future) or
/// waits for it. Exactly one of them runs the job, never both (loom checks the two
/// accesses to the job's cell), and a caller whose wait says the job ran sees what it
/// wrote.
#[test]
fn a_queued_job_runs_once_whoever_claims_it() {
    for take_back in [false, true] {
        loom::model(move || {
            let claim = Arc::new(JobClaim::new());
            let job = Arc::new(loom::cell::UnsafeCell::new(0u32));
            let worker = {
                let (claim, job) = (claim.clone(), job.clone());
                loom::thread::spawn(move || {
                    if claim.start() {
                        // SAFETY: the claim makes this thread the job's only runner.
                        job.with_mut(|ran| unsafe { *ran += 1 });
                        claim.finish();
                    }
                })
            };
            if claim.wait(take_back) {
                // SAFETY: the worker finished before the wait returned.
                assert_eq!(job.with(|ran| unsafe { *ran }), 1, "the job ran once");
            } else {
                assert!(take_back, "a job is taken back only when asked");
                // SAFETY: taken back: the worker never touches the job.
                job.with_mut(|ran| unsafe { *ran += 1 });
            }
            worker.join().unwrap();
            // SAFETY: both threads are done.
            assert_eq!(job.with(|ran| unsafe { *ran }), 1, "one runner, never two");
        });
    }
}
