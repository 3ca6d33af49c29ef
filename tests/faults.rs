//! Faults: a result whose `Drop` panics (static graphs, dynamic graphs, futures), a
//! panic under the synchronous scheduler, a task that never returns, and a client
//! dropped while its tasks run.
//!
//! What happens to a panic in a result's `Drop`:
//! - dropped inside a task (its last reader's handle, after the task's code): it is that
//!   task's panic, reported as the graph's error naming the reader;
//! - dropped while a task's own panic unwinds (the task borrowed it): caught and
//!   discarded, where it would abort the process; the task's panic is the error;
//! - dropped with the graph's state after the run (never read: its readers were
//!   stopped by a task's failure): that failure, which came first, is what
//!   `compute`/`try_compute` report, and the `Drop`'s panic (printed by the hook) is
//!   discarded, as are further ones during its unwinding;
//! - dropped with the graph's state (a value left unread, or a closure's captured
//!   state whose handles the user dropped) after `compute`/`try_compute` returned a
//!   failure early, while other tasks still ran: freed off the caller's thread when
//!   the last of them ends, with no one to report to, so it is caught and discarded;
//! - futures: it propagates out of the user's call that dropped it (`cancel`, dropping
//!   a future or the client) once every dependent has been told and the shutdown is
//!   done; on a pool thread it is caught (the pool would abort) and the thread goes on.
//!
//! In every case the value is dropped exactly once and no abort happens. Nor does one
//! when a task panics with a payload whose own `Drop` panics (`panic_any`): `compute`
//! drops it before it resumes the task's panic, and a retried future before its next
//! attempt.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use taskweave::prelude::*;
use taskweave::Status;

/// Counts the bombs made by `make_bomb` and the drops of those that point to it.
#[derive(Clone, Copy)]
struct Drops(&'static [AtomicUsize; 2]);

impl Drops {
    /// Drops so far.
    fn get(self) -> usize {
        self.0[1].load(Ordering::SeqCst)
    }

    /// Bombs made by tasks so far.
    fn made(self) -> usize {
        self.0[0].load(Ordering::SeqCst)
    }
}

/// A value whose `Drop` counts, then panics.
struct Bomb(Drops);

impl Clone for Bomb {
    fn clone(&self) -> Self {
        Bomb(self.0)
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.0 .0[1].fetch_add(1, Ordering::SeqCst);
        panic!("bomb dropped");
    }
}

#[delayed]
fn make_bomb(drops: Drops) -> Bomb {
    drops.0[0].fetch_add(1, Ordering::SeqCst);
    Bomb(drops)
}

#[delayed]
fn peek_bomb(_bomb: &Bomb) -> i64 {
    1
}

#[delayed]
fn explode_with(_bomb: &Bomb) -> i64 {
    panic!("task failed")
}

#[delayed]
fn fail(x: i64) -> i64 {
    panic!("failed on {x}")
}

#[delayed]
fn fail_after(_a: &Bomb, _b: &Bomb) -> i64 {
    panic!("failed after the bombs")
}

#[delayed]
fn plain(x: i64) -> i64 {
    x
}

#[delayed]
fn use_both(_bomb: &Bomb, x: i64) -> i64 {
    x
}

fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

/// Polls `cond` for up to ten seconds.
fn eventually(cond: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

// ---- a panic in a result's `Drop`: static graphs ----------------------------------

#[test]
fn static_drop_panic_in_the_last_reader_is_that_readers_error() {
    static DROPS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let drops = Drops(&DROPS);
    let g = graph!(|d: Drops| -> i64 {
        let b = make_bomb(d);
        let x = peek_bomb(&b);
        x + plain(2)
    });
    for (round, scheduler) in [Scheduler::Threads, Scheduler::Sync]
        .into_iter()
        .enumerate()
    {
        let error = g.try_compute_with(scheduler, drops).unwrap_err();
        assert_eq!(error.task(), "peek_bomb");
        assert_eq!(error.message(), "bomb dropped");
        assert_eq!(drops.get(), round + 1, "dropped exactly once");
    }
}

#[delayed]
fn bomb_from(bomb: &Bomb) -> Bomb {
    make_bomb(bomb.0)
}

#[delayed]
fn bomb_from_all(bombs: &[Bomb]) -> Bomb {
    make_bomb(bombs[0].0)
}

#[delayed]
fn bomb_from_pair(pair: &(Bomb, i64)) -> Bomb {
    make_bomb(pair.0 .0)
}

/// Makes bombs outside any task: a graph's method call on it is evaluated before the
/// run, and its value handed to the task that reads it.
struct BombMaker;

impl BombMaker {
    fn make(&self, drops: Drops) -> Bomb {
        drops.0[0].fetch_add(1, Ordering::SeqCst);
        Bomb(drops)
    }
}

/// A reader whose own result's `Drop` panics too, reading the last handle on a value
/// whose `Drop` panics: the input's panic once came out of the reader's code with the
/// result still there, whose drop while it unwound aborted the process. Both graph
/// forms (a value read twice takes the dispatcher; read once, nested joins), both
/// schedulers; and the same of a value made before the run (a method call on a
/// captured value) and of a temporary made in the reader (a tuple of node values; one
/// of two bombs, since an array of two whose drops both panic aborts in any code: the
/// second is dropped while the first one's panic unwinds).
#[test]
fn static_drop_panic_in_a_reader_whose_own_result_panics_on_drop_is_not_an_abort() {
    static DROPS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let drops = Drops(&DROPS);
    let shared = graph!(|d: Drops| -> i64 {
        let b = make_bomb(d);
        let x = peek_bomb(&b);
        let c = bomb_from(&b);
        use_both(&c, x)
    });
    let tree = graph!(|d: Drops| -> i64 {
        let b = make_bomb(d);
        let c = bomb_from(&b);
        peek_bomb(&c)
    });
    assert!(tree.__runs_as_tree() && !shared.__runs_as_tree());
    let maker = BombMaker;
    let before_run = graph!(|d: Drops| -> i64 {
        let c = bomb_from(&maker.make(d));
        peek_bomb(&c)
    });
    let temporary = graph!(|d: Drops| -> i64 {
        let a = make_bomb(d);
        let x = plain(1);
        let c = bomb_from_pair(&(a, x));
        peek_bomb(&c)
    });
    let runs: [&dyn Fn(Scheduler) -> Result<i64, TaskError>; 4] = [
        &|scheduler| shared.try_compute_with(scheduler, drops),
        &|scheduler| tree.try_compute_with(scheduler, drops),
        &|scheduler| before_run.try_compute_with(scheduler, drops),
        &|scheduler| temporary.try_compute_with(scheduler, drops),
    ];
    for run in runs {
        for scheduler in [Scheduler::Threads, Scheduler::Sync] {
            let made = drops.made();
            let dropped = drops.get();
            let error = run(scheduler).unwrap_err();
            assert_eq!(error.message(), "bomb dropped");
            assert!(
                ["bomb_from", "bomb_from_pair", "peek_bomb", "use_both"].contains(&error.task()),
                "{}",
                error.task()
            );
            assert!(drops.made() - made >= 2);
            assert_eq!(
                drops.get() - dropped,
                drops.made() - made,
                "each dropped exactly once"
            );
        }
    }
}

/// The same reader, its result the graph's output: the run failed with the input's
/// panic, and the output, which the failed run drops, panicked again out of
/// `try_compute` in place of the failure. Its panic is discarded now (the failure came
/// first), and both values are dropped once. Nested joins and the dispatcher, both
/// schedulers.
#[test]
fn static_output_of_a_reader_whose_input_panics_on_drop_is_dropped_with_the_failure() {
    static DROPS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let drops = Drops(&DROPS);
    let tree = graph!(|d: Drops| -> Bomb {
        let b = make_bomb(d);
        bomb_from(&b)
    });
    let shared = graph!(|d: Drops| -> (Bomb, i64) {
        let b = make_bomb(d);
        let x = peek_bomb(&b);
        (bomb_from(&b), x)
    });
    assert!(tree.__runs_as_tree() && !shared.__runs_as_tree());
    for scheduler in [Scheduler::Threads, Scheduler::Sync] {
        for run_tree in [true, false] {
            let (made, dropped) = (drops.made(), drops.get());
            let error = match run_tree {
                true => tree.try_compute_with(scheduler, drops).map(drop),
                false => shared.try_compute_with(scheduler, drops).map(drop),
            };
            let error = error.unwrap_err();
            assert_eq!(error.message(), "bomb dropped");
            assert!(
                ["bomb_from", "peek_bomb"].contains(&error.task()),
                "{}",
                error.task()
            );
            assert_eq!(drops.made() - made, 2);
            assert_eq!(drops.get() - dropped, 2, "each dropped exactly once");
        }
    }
}

#[test]
fn static_drop_panic_while_a_task_panics_is_discarded_not_an_abort() {
    static DROPS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let drops = Drops(&DROPS);
    let g = graph!(|d: Drops| -> i64 {
        let b = make_bomb(d);
        let x = explode_with(&b);
        x + plain(2)
    });
    for (round, scheduler) in [Scheduler::Threads, Scheduler::Sync]
        .into_iter()
        .enumerate()
    {
        // The borrowed bomb is dropped while `explode_with`'s panic unwinds.
        let error = g.try_compute_with(scheduler, drops).unwrap_err();
        assert_eq!(error.task(), "explode_with");
        assert_eq!(error.message(), "task failed");
        assert_eq!(drops.get(), round + 1, "dropped exactly once");
    }
}

#[test]
fn static_drop_panic_of_unread_values_gives_way_to_the_failure() {
    static DROPS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let drops = Drops(&DROPS);
    // Two bombs are made, `fail` stops the graph, their readers never run: both are
    // dropped with the graph's state after the run, the second while the first one's
    // panic unwinds. (`x` is read twice: the dispatcher runs this graph; the next test
    // is a tree.)
    let g = graph!(|d: Drops| -> i64 {
        let a = make_bomb(d);
        let b = make_bomb(d);
        let x = fail(1);
        use_both(&a, x) + use_both(&b, x)
    });
    assert!(!g.__runs_as_tree());
    // Before the fix, the first bomb's panic unwound out of `try_compute_with` in place
    // of `fail`'s error.
    fail_wins_over_bombs(drops, |scheduler| g.try_compute_with(scheduler, drops));
    // `compute` panics with the task's error, not the bomb's.
    let payload = panic::catch_unwind(AssertUnwindSafe(|| g.compute_with(Scheduler::Sync, drops)))
        .expect_err("the task's failure");
    assert!(
        message(&*payload).contains("failed on 1"),
        "{}",
        message(&*payload)
    );
    assert_eq!(drops.get(), drops.made(), "each dropped exactly once");
}

#[test]
fn static_drop_panic_of_unread_values_in_a_tree_gives_way_to_the_failure() {
    static DROPS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let drops = Drops(&DROPS);
    // A tree: both bombs are made before `fail` (inputs run left to right), and their
    // reader never runs: both are dropped where the tree gives up on it, the second
    // while the first one's panic unwinds, on the pool and synchronously.
    let g = graph!(|d: Drops| -> i64 {
        let a = make_bomb(d);
        let b = make_bomb(d);
        use_three(&a, &b, fail(1))
    });
    assert!(g.__runs_as_tree());
    // Before the fix, the first bomb's panic unwound out of `try_compute_with` in place
    // of `fail`'s error.
    fail_wins_over_bombs(drops, |scheduler| g.try_compute_with(scheduler, drops));
}

#[delayed]
fn use_three(_a: &Bomb, _b: &Bomb, x: i64) -> i64 {
    x
}

/// Runs a graph that makes two bombs and then fails in `fail(1)`, synchronously and on
/// the pool: `fail`'s error comes back, and every bomb made is dropped once.
fn fail_wins_over_bombs(drops: Drops, run: impl Fn(Scheduler) -> Result<i64, TaskError>) {
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        let before = drops.made();
        let error = run(scheduler).unwrap_err();
        assert_eq!((error.task(), error.message()), ("fail", "failed on 1"));
        if scheduler == Scheduler::Sync {
            assert_eq!(
                drops.made() - before,
                2,
                "both bombs are made before `fail` runs"
            );
        }
        // On the pool, `fail` may stop the run before a bomb is made.
        assert_eq!(drops.get(), drops.made(), "each dropped exactly once");
    }
}

// ---- a panic in a result's `Drop`: dynamic graphs ---------------------------------

#[test]
fn dynamic_drop_panic_in_the_last_reader_is_that_readers_error() {
    static DROPS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let drops = Drops(&DROPS);
    let bomb = delay!(make_bomb(drops));
    let x = delay!(peek_bomb(&bomb));
    let total = &x + delay!(plain(2));
    drop(bomb);
    for (round, scheduler) in [Scheduler::Threads, Scheduler::Sync]
        .into_iter()
        .enumerate()
    {
        let error = total.try_compute_with(scheduler).unwrap_err();
        assert_eq!(error.task(), "peek_bomb");
        assert_eq!(error.message(), "bomb dropped");
        assert_eq!(drops.get(), round + 1, "dropped exactly once");
    }
}

/// A dynamic reader whose own result's `Drop` panics too, reading the last handle on a
/// value whose `Drop` panics: the input's panic once came out of the reader's code
/// with the result being returned, which was leaked (never dropped). Now the result
/// is stored and dropped, and the reader fails with the input's panic. Also through
/// an input collection (a `Vec` of node values).
#[test]
fn dynamic_drop_panic_in_a_reader_whose_own_result_panics_on_drop_drops_both() {
    static DROPS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let drops = Drops(&DROPS);
    for scheduler in [Scheduler::Threads, Scheduler::Sync] {
        for through_a_vec in [false, true] {
            let (made, dropped) = (drops.made(), drops.get());
            {
                let bomb = delay!(make_bomb(drops));
                let from = match through_a_vec {
                    false => delay!(bomb_from(&bomb)),
                    true => delay!(bomb_from_all(vec![bomb])),
                };
                let total = delay!(peek_bomb(&from));
                let error = total.try_compute_with(scheduler).unwrap_err();
                assert_eq!(error.message(), "bomb dropped");
                let reader = if through_a_vec {
                    "bomb_from_all"
                } else {
                    "bomb_from"
                };
                assert_eq!(error.task(), reader);
            }
            let settled = Instant::now();
            while drops.get() - dropped < 2 && settled.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(drops.made() - made, 2, "{scheduler:?} {through_a_vec}");
            assert_eq!(
                drops.get() - dropped,
                2,
                "both dropped: {scheduler:?} {through_a_vec}"
            );
        }
    }
}

#[test]
fn dynamic_drop_panic_while_a_task_panics_is_discarded_not_an_abort() {
    static DROPS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let drops = Drops(&DROPS);
    let bomb = delay!(make_bomb(drops));
    let x = delay!(explode_with(&bomb));
    let total = &x + delay!(plain(2));
    drop(bomb);
    for (round, scheduler) in [Scheduler::Threads, Scheduler::Sync]
        .into_iter()
        .enumerate()
    {
        let error = total.try_compute_with(scheduler).unwrap_err();
        assert_eq!(error.task(), "explode_with");
        assert_eq!(error.message(), "task failed");
        assert_eq!(drops.get(), round + 1, "dropped exactly once");
    }
}

#[test]
fn dynamic_drop_panic_of_unread_values_gives_way_to_the_failure() {
    static DROPS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let drops = Drops(&DROPS);
    // `fail_after` reads both bombs, so that both are made before it fails.
    let a = delay!(make_bomb(drops));
    let b = delay!(make_bomb(drops));
    let x = delay!(fail_after(&a, &b));
    let total = delay!(use_both(&a, x)) + delay!(use_both(&b, 2));
    drop((a, b));
    // Before the fix, the first bomb's panic unwound out of `try_compute_with` in place
    // of `fail_after`'s error.
    let error = total.try_compute_with(Scheduler::Sync).unwrap_err();
    assert_eq!(
        (error.task(), error.message()),
        ("fail_after", "failed after the bombs")
    );
    assert_eq!(drops.made(), 2);
    assert_eq!(drops.get(), 2, "each dropped exactly once");
    // A prepared graph: the same, and it runs again.
    let mut prepared = taskweave::prepare((&total,));
    for round in 1..=2 {
        let error = prepared.try_compute_with(Scheduler::Sync).unwrap_err();
        assert_eq!(error.task(), "fail_after");
        assert_eq!(drops.get(), 2 + 2 * round, "each dropped exactly once");
    }
}

#[test]
fn dynamic_drop_panic_after_an_early_failure_is_discarded_not_an_abort() {
    static DROPS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
    static CAPTURED: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
    static STARTED: AtomicBool = AtomicBool::new(false);
    static GATE: AtomicBool = AtomicBool::new(false);
    let drops = Drops(&DROPS);
    // A closure's state whose `Drop` panics: freed with the graph, the user's handles
    // gone.
    let captured = Bomb(Drops(&CAPTURED));
    let bomb = delay!(make_bomb(drops));
    // Still running when the failure returns: the run's job, not this thread, holds the
    // graph's state last.
    let slow = delayed(|_bomb: &Bomb| {
        STARTED.store(true, Ordering::SeqCst);
        assert!(eventually(|| GATE.load(Ordering::SeqCst)), "never let go");
        1_i64
    })
    .call(&bomb);
    let failing = delayed(move |_bomb: &Bomb| -> i64 {
        let _ = &captured;
        assert!(
            eventually(|| STARTED.load(Ordering::SeqCst)),
            "slow never ran"
        );
        panic!("early failure")
    })
    .call(&bomb);
    // Never runs: the bomb stays in its slot.
    let reader = delayed(|_bomb: &Bomb, x: i64| x).call(&bomb, &slow);
    let total = &reader + &failing;
    drop((bomb, slow, failing, reader));
    // From this thread, outside rayon's pool: the run is a job of the pool, and the
    // failure returns while `slow` runs.
    let error = total.try_compute().unwrap_err();
    assert_eq!(error.message(), "early failure");
    drop(total);
    assert_eq!(drops.get(), 0, "the run still holds the bomb");
    GATE.store(true, Ordering::SeqCst);
    // Freed by the run's job once `slow` ends: before the fix, the process aborted
    // there.
    assert!(eventually(
        || drops.get() == 1 && CAPTURED[1].load(Ordering::SeqCst) == 1
    ));
    // Every worker ends its job before it runs this: the one that freed the state has
    // let go of it (and would have aborted by now).
    rayon::broadcast(|_| ());
    assert_eq!(drops.made(), 1);
    assert_eq!(drops.get(), 1, "dropped exactly once");
    assert_eq!(
        CAPTURED[1].load(Ordering::SeqCst),
        1,
        "dropped exactly once"
    );
}

/// A value whose `Clone` panics while `CLONE_FAILS` says so.
#[derive(Debug)]
struct BadClone(i64);

static CLONE_FAILS: AtomicBool = AtomicBool::new(true);

impl Clone for BadClone {
    fn clone(&self) -> Self {
        if CLONE_FAILS.load(Ordering::SeqCst) {
            panic!("clone of {} panicked", self.0);
        }
        BadClone(self.0)
    }
}

#[delayed]
fn make_bad(x: i64) -> BadClone {
    BadClone(x)
}

#[test]
fn dynamic_output_clone_that_panics_is_the_outputs_error() {
    let a = delay!(make_bad(1));
    // Requested twice: the first request gets a clone, made after the run.
    for scheduler in [Scheduler::Threads, Scheduler::Sync] {
        let error = taskweave::compute_with(scheduler, (&a, &a)).unwrap_err();
        assert_eq!(error.task(), "make_bad");
        assert_eq!(error.call_site(), a.call_site());
        assert_eq!(error.message(), "clone of 1 panicked");
    }
    let mut prepared = taskweave::prepare((&a, &a));
    for _ in 0..2 {
        let error = prepared.try_compute_with(Scheduler::Threads).unwrap_err();
        assert_eq!(error.task(), "make_bad");
        assert_eq!(error.message(), "clone of 1 panicked");
    }
    // The prepared graph runs again once the clone works.
    CLONE_FAILS.store(false, Ordering::SeqCst);
    let (x, y) = prepared.try_compute_with(Scheduler::Threads).unwrap();
    assert_eq!((x.0, y.0), (1, 1));
}

// ---- a shared value given by value, released by its other reader meanwhile -------

/// Whether a [`SlowBomb`]'s clone has started, and whether its other reader has read it.
static CLONING: AtomicBool = AtomicBool::new(false);
static READ: AtomicBool = AtomicBool::new(false);
/// Slow bombs made (clones included) and dropped.
static SLOW_BOMBS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

/// Waits up to five seconds for `flag` (a reader run alone goes on without it).
fn wait_for(flag: &AtomicBool) {
    let start = Instant::now();
    while !flag.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A value whose `Drop` panics, and whose `Clone` waits until the value's other
/// reader has read it and, a moment later, released it.
struct SlowBomb;

impl Clone for SlowBomb {
    fn clone(&self) -> Self {
        SLOW_BOMBS[0].fetch_add(1, Ordering::SeqCst);
        CLONING.store(true, Ordering::SeqCst);
        wait_for(&READ);
        std::thread::sleep(Duration::from_millis(100));
        SlowBomb
    }
}

impl Drop for SlowBomb {
    fn drop(&mut self) {
        SLOW_BOMBS[1].fetch_add(1, Ordering::SeqCst);
        panic!("slow bomb dropped");
    }
}

#[delayed]
fn make_slow_bomb() -> SlowBomb {
    SLOW_BOMBS[0].fetch_add(1, Ordering::SeqCst);
    SlowBomb
}

#[delayed]
fn read_slow_bomb(_bomb: &SlowBomb) -> i64 {
    wait_for(&CLONING);
    READ.store(true, Ordering::SeqCst);
    1
}

/// Drops its bomb first thing, as careful code does (a panic while it is held would
/// drop it while unwinding: an abort in any Rust code).
#[delayed]
fn take_slow_bomb(bomb: SlowBomb) -> i64 {
    drop(bomb);
    2
}

#[delayed]
fn sum_of(a: i64, b: i64) -> i64 {
    a + b
}

/// A value read by reference by one task and given by value to another, running at
/// the same time: the second's handle saw another use live and cloned the value, and
/// the first released it during the clone, so the second's release dropped the value.
/// Its `Drop`'s panic unwound through the clone being given, whose `Drop` panicked
/// too: the process aborted. Now that panic is kept for the run as the reader's
/// failure, as when its handle drops the value, and the clone is given; both values
/// are dropped once.
#[test]
fn a_shared_value_released_while_its_by_value_reader_clones_it_is_not_an_abort() {
    let _alone = SLOW_BOMB_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    let static_graph = graph!(|| -> i64 {
        let bomb = make_slow_bomb();
        let read = read_slow_bomb(&bomb);
        let taken = take_slow_bomb(bomb);
        sum_of(read, taken)
    });
    for dynamic in [false, true] {
        CLONING.store(false, Ordering::SeqCst);
        READ.store(false, Ordering::SeqCst);
        let (made, dropped) = (
            SLOW_BOMBS[0].load(Ordering::SeqCst),
            SLOW_BOMBS[1].load(Ordering::SeqCst),
        );
        let error = if dynamic {
            let bomb = delay!(make_slow_bomb());
            let read = delay!(read_slow_bomb(&bomb));
            let taken = delay!(take_slow_bomb(bomb));
            delay!(sum_of(read, taken))
                .try_compute_with(Scheduler::Threads)
                .unwrap_err()
        } else {
            static_graph
                .try_compute_with(Scheduler::Threads)
                .unwrap_err()
        };
        assert_eq!(error.message(), "slow bomb dropped", "dynamic: {dynamic}");
        assert_eq!(error.task(), "take_slow_bomb", "dynamic: {dynamic}");
        assert!(eventually(|| SLOW_BOMBS[1].load(Ordering::SeqCst)
            - dropped
            == 2));
        assert_eq!(
            SLOW_BOMBS[0].load(Ordering::SeqCst) - made,
            2,
            "dynamic: {dynamic}"
        );
    }
}

static TAKEN: AtomicBool = AtomicBool::new(false);
/// Whether `check_after_the_take` waits: not on the synchronous scheduler, where the
/// task after it never runs.
static WAIT_FOR_THE_TAKE: AtomicBool = AtomicBool::new(false);

/// A `?` that meets its error only once the task after it has taken its value.
#[delayed]
fn check_after_the_take() -> Result<i64, String> {
    if WAIT_FOR_THE_TAKE.load(Ordering::SeqCst) {
        wait_for(&TAKEN);
    }
    Err("checked".to_string())
}

#[delayed]
fn take_and_say_so(bomb: SlowBomb) -> i64 {
    TAKEN.store(true, Ordering::SeqCst);
    drop(bomb);
    2
}

/// The one place where a graph with `?` does not give sequential code's outcome: a
/// task after the `?` that runs beside the tasks before it (its inputs were ready)
/// and takes a value by value drops that value in its own code. Sequential code
/// never runs that task and drops the value at the `?`, where its `Drop`'s panic is
/// the outcome; in the graph that panic is the later task's, discarded as after the
/// `?`, whose error is returned. The synchronous scheduler gives sequential code's
/// outcome, and both drop every value once (README, "In a `graph!` with `?`").
#[test]
fn a_value_taken_by_value_after_a_question_mark_is_dropped_by_its_taker() {
    let _alone = SLOW_BOMB_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    let g = graph!(|| -> Result<i64, String> {
        let bomb = make_slow_bomb();
        let checked = check_after_the_take()?;
        let taken = take_and_say_so(bomb);
        Ok(checked + taken)
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        TAKEN.store(false, Ordering::SeqCst);
        WAIT_FOR_THE_TAKE.store(scheduler == Scheduler::Threads, Ordering::SeqCst);
        let (made, dropped) = (
            SLOW_BOMBS[0].load(Ordering::SeqCst),
            SLOW_BOMBS[1].load(Ordering::SeqCst),
        );
        let outcome = match scheduler {
            Scheduler::Sync => g.try_compute_with(Scheduler::Sync),
            _ => g.try_compute_on(&pool),
        };
        match scheduler {
            Scheduler::Sync => {
                let error = outcome.unwrap_err();
                assert_eq!(error.message(), "slow bomb dropped");
                assert_eq!(error.task(), "make_slow_bomb");
                assert!(!TAKEN.load(Ordering::SeqCst));
            }
            _ => {
                assert_eq!(outcome.unwrap(), Err("checked".to_string()));
                assert!(TAKEN.load(Ordering::SeqCst));
            }
        }
        assert_eq!(SLOW_BOMBS[0].load(Ordering::SeqCst) - made, 1);
        assert_eq!(SLOW_BOMBS[1].load(Ordering::SeqCst) - dropped, 1);
    }
}

/// The slow bombs' counters and flags serve one test at a time.
static SLOW_BOMB_TESTS: Mutex<()> = Mutex::new(());

// ---- a panic in a result's `Drop`: futures ----------------------------------------

fn client(threads: usize) -> Client {
    Client::builder()
        .threads(threads)
        .name("faults")
        .build()
        .unwrap()
}

/// A task that waits for `gate`, then returns `value`.
fn gated<T: Send + Sync + 'static>(client: &Client, value: T) -> (Future<T>, mpsc::Sender<()>) {
    let (tx, rx) = mpsc::channel::<()>();
    let rx = Mutex::new(rx);
    let value = Mutex::new(Some(value));
    let future = client.submit(
        move || {
            let _ = rx.lock().unwrap().recv();
            value.lock().unwrap().take().expect("run once")
        },
        (),
    );
    (future, tx)
}

#[test]
fn future_discarded_result_whose_drop_panics_does_not_abort_the_pool() {
    static DROPS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let drops = Drops(&DROPS);
    let client = client(1);
    let (running, gate) = gated(&client, Bomb(drops));
    assert!(eventually(|| running.status() == Status::Running));
    // Cancelled while running: its result is discarded on the pool thread, where a
    // panic escaping the job would abort the process.
    running.cancel();
    gate.send(()).unwrap();
    assert!(eventually(|| drops.get() == 1), "the bomb is dropped once");
    // The pool thread is still there.
    assert_eq!(client.submit(|x: i64| x + 1, (1,)).result().unwrap(), 2);
    assert_eq!(running.status(), Status::Cancelled);
    drop(client);
    assert_eq!(drops.get(), 1);
}

#[test]
fn future_result_whose_drop_panics_panics_where_its_last_handle_is_dropped() {
    static DROPS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let drops = Drops(&DROPS);
    let client = client(1);
    let future = client.submit(move || Bomb(drops), ());
    let shared = future.result_shared().unwrap();
    drop(future);
    // Once the task's own references are gone, `shared` is the last one.
    assert!(eventually(|| Arc::strong_count(&shared) == 1));
    let payload = panic::catch_unwind(AssertUnwindSafe(move || drop(shared))).unwrap_err();
    assert_eq!(message(&*payload), "bomb dropped");
    assert_eq!(drops.get(), 1);
}

#[test]
fn future_cancel_tells_every_dependent_even_when_an_argument_drop_panics() {
    static DROPS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let drops = Drops(&DROPS);
    let client = client(1);
    let (gate_future, gate) = gated(&client, 1i64);
    // `first` keeps a bomb among its arguments; `second` depends on the same future.
    let first = client.submit(|x: i64, _bomb: Bomb| x, (&gate_future, Bomb(drops)));
    let second = client.submit(|x: i64| x, (&gate_future,));
    // Cancelling the gate ends both dependents; ending `first` drops its bomb.
    let payload =
        panic::catch_unwind(AssertUnwindSafe(|| gate_future.cancel())).expect_err("propagates");
    assert_eq!(message(&*payload), "bomb dropped");
    assert_eq!(first.status(), Status::Cancelled);
    // Before the fix, the panic skipped the callbacks after it: `second` waited forever.
    assert_eq!(second.status(), Status::Cancelled);
    assert_eq!(drops.get(), 1);
    // The gate may have been cancelled before it started (then nobody receives).
    let _ = gate.send(());
}

#[test]
fn future_argument_clone_that_panics_is_the_tasks_error() {
    #[derive(Debug)]
    struct CloneBomb;
    impl Clone for CloneBomb {
        fn clone(&self) -> Self {
            panic!("clone exploded")
        }
    }
    let client = client(1);
    // `source` stays held here, so its dependent gets a clone of its value (a plain
    // argument, or a future's last handle, is moved and never cloned).
    let source = client.submit(|| CloneBomb, ());
    let future = client
        .task(|_: CloneBomb| 1)
        .named("cloning")
        .submit((&source,));
    let error = future.result().unwrap_err();
    assert!(
        error.to_string().contains("task `cloning`")
            && error.to_string().contains("clone exploded"),
        "{error}"
    );
    assert_eq!(future.status(), Status::Error);
    assert_eq!(client.submit(|x: i64| x, (5,)).result().unwrap(), 5);
}

#[test]
fn client_shutdown_finishes_even_when_an_argument_drop_panics() {
    static DROPS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let drops = Drops(&DROPS);
    let client = client(1);
    let (running, gate) = gated(&client, 1i64);
    assert!(eventually(|| running.status() == Status::Running));
    let with_bomb = client.submit(|x: i64, _bomb: Bomb| x, (&running, Bomb(drops)));
    let after = client.submit(|x: i64| x, (&running,));
    let independent = client.submit(|| 3, ());
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        gate.send(()).unwrap();
    });
    // Shutdown cancels the pending tasks (dropping the bomb), waits for the running
    // one, then the bomb's panic goes on.
    let payload = panic::catch_unwind(AssertUnwindSafe(move || drop(client))).unwrap_err();
    assert_eq!(message(&*payload), "bomb dropped");
    assert_eq!(
        running.status(),
        Status::Finished,
        "the shutdown waited for it"
    );
    assert_eq!(with_bomb.status(), Status::Cancelled);
    assert_eq!(after.status(), Status::Cancelled);
    assert!(matches!(
        independent.status(),
        Status::Cancelled | Status::Finished
    ));
    assert_eq!(drops.get(), 1);
    opener.join().unwrap();
}

// ---- the synchronous scheduler -----------------------------------------------------

#[test]
fn panic_under_the_sync_scheduler_stops_in_order_on_the_calling_thread() {
    static AFTER: AtomicUsize = AtomicUsize::new(0);
    static THREADS: Mutex<Vec<std::thread::ThreadId>> = Mutex::new(Vec::new());
    #[delayed]
    fn step(x: i64) -> i64 {
        THREADS.lock().unwrap().push(std::thread::current().id());
        x + 1
    }
    #[delayed]
    fn counted(x: i64) -> i64 {
        AFTER.fetch_add(1, Ordering::SeqCst);
        x
    }
    // Nodes run in index order; `fail` is the third: the independent `counted(5)`
    // written after it never runs either, unlike on the thread pool.
    let g = graph!(|x: i64| -> i64 {
        let a = step(x);
        let b = step(a);
        let c = fail(b);
        let d = counted(5);
        counted(c) + d
    });
    let error = g.try_compute_with(Scheduler::Sync, 1).unwrap_err();
    assert_eq!(error.task(), "fail");
    assert_eq!(error.message(), "failed on 3");
    assert_eq!(AFTER.load(Ordering::SeqCst), 0);
    let threads = THREADS.lock().unwrap().clone();
    assert_eq!(threads, vec![std::thread::current().id(); 2]);
    // `compute_with` panics with the task's name and call site.
    let payload =
        panic::catch_unwind(AssertUnwindSafe(|| g.compute_with(Scheduler::Sync, 1))).unwrap_err();
    assert!(
        message(&*payload).starts_with("task `fail` at tests/faults.rs:"),
        "{}",
        message(&*payload)
    );
    // The same for a dynamic graph.
    let c = delay!(fail(delay!(step(1))));
    let total = delay!(counted(c)) + delay!(counted(5));
    let error = total.try_compute_with(Scheduler::Sync).unwrap_err();
    assert_eq!(error.task(), "fail");
    assert_eq!(AFTER.load(Ordering::SeqCst), 0);
}

// ---- a task that never returns -----------------------------------------------------

#[test]
fn stuck_task_times_out_and_the_client_still_shuts_down() {
    let timeout = Duration::from_millis(200);
    let client = Client::builder()
        .threads(2)
        .shutdown_timeout(timeout)
        .build()
        .unwrap();
    let (stuck, release) = gated(&client, 7i64);
    let start = Instant::now();
    let waited = stuck.result_timeout(Duration::from_millis(100));
    let elapsed = start.elapsed();
    assert!(
        matches!(waited, Err(FutureError::Timeout { .. })),
        "{waited:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(100) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    // The other thread still runs tasks.
    assert_eq!(client.submit(|x: i64| x * 2, (4,)).result().unwrap(), 8);
    // Dropping the client waits `timeout` for the stuck task, then returns and
    // leaves its thread detached.
    let start = Instant::now();
    drop(client);
    let elapsed = start.elapsed();
    assert!(
        elapsed >= timeout && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert_eq!(stuck.status(), Status::Running);
    // When the task returns at last, its result is still published.
    release.send(()).unwrap();
    assert_eq!(stuck.result_timeout(Duration::from_secs(10)).unwrap(), 7);
}

// ---- a client dropped while tasks run ----------------------------------------------

#[test]
fn client_dropped_while_tasks_run() {
    let client = client(2);
    let (a, gate_a) = gated(&client, 1i64);
    let (b, gate_b) = gated(&client, 2i64);
    assert!(eventually(
        || a.status() == Status::Running && b.status() == Status::Running
    ));
    let ran = Arc::new(AtomicBool::new(false));
    let dependent = client.submit(|x: i64, y: i64| x + y, (&a, &b));
    let flag = ran.clone();
    let queued: Vec<_> = (0..10)
        .map(|i| {
            let flag = flag.clone();
            client.submit(
                move |x: i64| {
                    flag.store(true, Ordering::SeqCst);
                    x
                },
                (i,),
            )
        })
        .collect();
    // Read before the opener starts: its 100 ms sleep may begin before this thread
    // is back from `spawn` (on a busy machine, long before).
    let start = Instant::now();
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        gate_a.send(()).unwrap();
        gate_b.send(()).unwrap();
    });
    drop(client);
    // The drop waited for the running tasks, which finished with their results ...
    assert!(start.elapsed() >= Duration::from_millis(90));
    assert_eq!(a.result().unwrap(), 1);
    assert_eq!(b.result().unwrap(), 2);
    // ... and cancelled everything that had not started.
    assert_eq!(dependent.status(), Status::Cancelled);
    assert!(queued.iter().all(|f| f.status() == Status::Cancelled));
    assert!(!ran.load(Ordering::SeqCst));
    assert!(matches!(
        dependent.result(),
        Err(FutureError::Cancelled { .. })
    ));
    opener.join().unwrap();
}

/// Queued tasks with no dependencies are cancelled by the shutdown itself, not left
/// for a thread to reach: with every thread stuck past the shutdown timeout, each is
/// cancelled when the drop returns, and waiting for it returns at once.
#[test]
fn queued_tasks_are_cancelled_by_the_shutdown_while_every_thread_is_stuck() {
    let client = Client::builder()
        .threads(1)
        .shutdown_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let (stuck, release) = gated(&client, 7i64);
    assert!(eventually(|| stuck.status() == Status::Running));
    let queued = client.map(|x: i64| x + 1, 0..100);
    let prioritized = client.task(|x: i64| x * 2).priority(5).submit((3,));
    let dependent = client.submit(|x: i64| x, (&queued[0],));
    drop(client);
    for future in queued.iter().chain([&prioritized, &dependent]) {
        assert_eq!(future.status(), Status::Cancelled, "{future:?}");
        assert!(matches!(
            future.result_timeout(Duration::from_secs(10)),
            Err(FutureError::Cancelled { .. })
        ));
    }
    release.send(()).unwrap();
    assert_eq!(stuck.result_timeout(Duration::from_secs(10)).unwrap(), 7);
}

// ---- a panic payload whose `Drop` panics --------------------------------------------

/// Counts the drops of the payloads that point to it.
#[derive(Clone, Copy)]
struct PayloadDrops(&'static AtomicUsize);

/// A panic payload (`panic_any`) whose `Drop` counts, then panics: dropped while a
/// panic unwinds (a `compute` resuming the task's panic), it would abort the process.
struct PayloadBomb(PayloadDrops);

impl Drop for PayloadBomb {
    fn drop(&mut self) {
        self.0 .0.fetch_add(1, Ordering::SeqCst);
        panic!("payload dropped");
    }
}

#[delayed]
fn throw_payload(drops: PayloadDrops) -> i64 {
    panic::panic_any(PayloadBomb(drops))
}

#[test]
fn a_panic_payload_whose_drop_panics_fails_the_compute_without_an_abort() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let drops = PayloadDrops(&DROPS);
    let names_the_task = |payload: &(dyn std::any::Any + Send)| {
        let text = message(payload);
        assert!(
            text.starts_with("task `throw_payload` at ") && text.ends_with("not a string)"),
            "{text}"
        );
    };
    // Dynamic: the task's error resumed by `compute`, returned by `try_compute`.
    let d = delay!(plain(throw_payload(drops)));
    let caught = panic::catch_unwind(AssertUnwindSafe(|| d.compute())).unwrap_err();
    names_the_task(&*caught);
    assert_eq!(DROPS.load(Ordering::SeqCst), 1, "dropped once");
    let error = d.try_compute().unwrap_err();
    assert_eq!(error.task(), "throw_payload");
    drop(error);
    assert_eq!(DROPS.load(Ordering::SeqCst), 2, "dropped with its error");
    // Static.
    let g = graph!(|p: PayloadDrops| -> i64 {
        let x = throw_payload(p);
        plain(x)
    });
    let caught = panic::catch_unwind(AssertUnwindSafe(|| g.compute(drops))).unwrap_err();
    names_the_task(&*caught);
    assert_eq!(DROPS.load(Ordering::SeqCst), 3, "dropped once");
    // On a client's thread, where an abort would take down a process that never
    // called `compute` itself.
    let client = client(1);
    let error = client.compute(&d).result().unwrap_err();
    assert!(
        error.to_string().contains("task `throw_payload` at "),
        "{error}"
    );
    // The future's error is the task's, payload and all, until it goes: with the
    // error and, on the client's thread, the task's job, which may end just after
    // the result was given (a bounded wait).
    drop(error);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while DROPS.load(Ordering::SeqCst) < 4 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(DROPS.load(Ordering::SeqCst), 4, "dropped once");
    assert_eq!(client.submit(|x: i64| x + 1, (1,)).result().unwrap(), 2);
}

#[test]
fn a_retried_future_whose_panic_payload_drop_panics_is_retried() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    static ATTEMPTS: AtomicUsize = AtomicUsize::new(0);
    let drops = PayloadDrops(&DROPS);
    let client = client(1);
    let retried = client
        .task(move || -> i64 {
            if ATTEMPTS.fetch_add(1, Ordering::SeqCst) == 0 {
                panic::panic_any(PayloadBomb(drops));
            }
            9
        })
        .retries(3)
        .submit(());
    // The first attempt's payload, dropped before the next attempt, panicked: the task
    // still goes on (it was left running, its result never coming).
    let value = retried.result_timeout(Duration::from_secs(60));
    assert_eq!(value.expect("retried, then finished"), 9);
    assert_eq!(ATTEMPTS.load(Ordering::SeqCst), 2);
    assert_eq!(DROPS.load(Ordering::SeqCst), 1);
    // Out of retries: the last attempt's payload is the error's, dropped with it.
    let failing = client
        .task(move || -> i64 { panic::panic_any(PayloadBomb(drops)) })
        .retries(1)
        .submit(());
    let error = failing.result_timeout(Duration::from_secs(60)).unwrap_err();
    assert!(error.to_string().ends_with("not a string)"), "{error}");
    assert_eq!(DROPS.load(Ordering::SeqCst), 2, "the first attempt's");
    drop((error, failing));
    // With the last of them: the worker that ran the task may still hold the task for
    // a moment after its end is told (seen in about 1 run in 100), and lets go then.
    assert!(
        eventually(|| DROPS.load(Ordering::SeqCst) == 3),
        "the error's, with it: {} drops",
        DROPS.load(Ordering::SeqCst)
    );
}
