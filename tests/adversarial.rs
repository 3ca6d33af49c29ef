//! Adversarial inputs and failure paths not covered elsewhere, each under a watchdog:
//! results whose `Clone` panics read through `result`, `gather` and `as_completed`;
//! futures dropped inside their own task or done callback; callbacks and arguments
//! whose `Drop` panics; a client's tasks submitting after its user dropped it; waits
//! over nothing; deep submit-and-wait recursion failing at the bottom; 100,000 futures,
//! some cancelled, through `as_completed`; races of cancel, callbacks, waits and pure
//! submissions from many threads; dynamic graphs failing at the root of a long chain
//! or of a wide node, persisted, computed from many threads at once, over futures
//! cancelled meanwhile; `Clone` and `Drop` that compute graphs themselves; retried
//! tasks whose argument's `Clone` panics; ladders (two parents per node) of 20,000
//! rungs; values holding futures, their own included, let go by a `cancel`; `map` over
//! an iterator that panics midway; an observer that submits to and waits on its own
//! client from its hooks; a long chain dropped with one capture whose `Drop` panics; a
//! warning handler that submits to the client it is warned about.
//!
//! The larger sizes are `#[ignore]`d: `cargo test --release -p taskweave-tests --test
//! adversarial -- --ignored`.

#[path = "support/watchdog.rs"]
mod watchdog;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use taskweave::prelude::*;
use taskweave::{get_client, FutureError, Status};
use watchdog::within;

const LIMIT: Duration = Duration::from_secs(120);

fn client(threads: usize) -> Client {
    Client::builder()
        .threads(threads)
        .name("adversarial")
        .build()
        .unwrap()
}

fn inc(x: u64) -> u64 {
    x + 1
}

/// A future of `client` that ends, with 1, when `open` is sent a value or dropped.
fn gated(client: &Client) -> (Future<u64>, mpsc::Sender<()>) {
    let (open, opened) = mpsc::channel::<()>();
    let opened = Mutex::new(opened);
    let future = client.submit(
        move || {
            let _ = opened.lock().unwrap().recv();
            1u64
        },
        (),
    );
    (future, open)
}

fn panics<R>(f: impl FnOnce() -> R) -> bool {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err()
}

/// Waits up to 10 s for `cond`.
fn eventually(cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// A small xorshift generator, seeded per test.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

// ---- futures: values whose Clone or Drop panics -----------------------------------------

#[derive(Debug)]
struct BadClone(u64);

impl Clone for BadClone {
    fn clone(&self) -> Self {
        panic!("BadClone::clone of {}", self.0);
    }
}

/// A result whose `Clone` panics: `result` and `gather` panic in the caller (the clone
/// is the caller's), every time, and leave the future finished with its value, which
/// `result_shared` and `as_completed(..).with_results()` still give (no clone); a
/// dependent that takes it by value fails naming itself; the pool goes on.
#[test]
fn a_result_whose_clone_panics_is_read_again_and_the_pool_goes_on() {
    within(LIMIT, "clone panics", || {
        let client = client(2);
        let bad = client.submit(|| BadClone(7), ());
        let good = client.submit(|| 8u64, ());
        for _ in 0..2 {
            assert!(panics(|| bad.result()));
            assert!(panics(|| client.gather(std::slice::from_ref(&bad))));
        }
        assert_eq!(bad.status(), Status::Finished);
        assert_eq!(bad.result_shared().unwrap().0, 7);
        let dependent = client
            .task(|b: BadClone| b.0)
            .named("takes_a_bad_clone")
            .submit((&bad,));
        let error = dependent.result().unwrap_err().to_string();
        assert!(error.contains("takes_a_bad_clone"), "{error}");
        assert!(error.contains("BadClone::clone of 7"), "{error}");
        let ended: Vec<_> = as_completed(vec![bad.clone(), bad.clone()])
            .with_results()
            .map(|(_, result)| result.unwrap().0)
            .collect();
        assert_eq!(ended, [7, 7]);
        assert_eq!(good.result().unwrap(), 8);
        assert_eq!(client.submit(inc, (1,)).result().unwrap(), 2);
    });
}

struct Bomb(&'static str);

impl Drop for Bomb {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("Bomb {} dropped", self.0);
        }
    }
}

/// Done callbacks whose captured state panics when dropped, wherever they run: on a
/// pool thread at the task's end (every callback still runs, the pool goes on), at
/// once on an ended future, by a `cancel`, by the drop of a pending future's last
/// handle (those panics come out of that call, as the callback's own would). The
/// client's drop afterwards does not panic.
#[test]
fn done_callbacks_whose_drop_panics() {
    within(LIMIT, "callback drop panics", || {
        for threads in [1, 2] {
            let client = client(threads);
            let (future, open) = gated(&client);
            let calls = Arc::new(AtomicUsize::new(0));
            for _ in 0..3 {
                let (bomb, calls) = (Bomb("on a pool thread"), calls.clone());
                future.add_done_callback(move |_| {
                    let _keep = &bomb;
                    calls.fetch_add(1, Ordering::SeqCst);
                });
            }
            open.send(()).unwrap();
            assert_eq!(future.result().unwrap(), 1);
            assert!(eventually(|| calls.load(Ordering::SeqCst) == 3));
            assert_eq!(client.submit(inc, (1,)).result().unwrap(), 2);

            let bomb = Bomb("at once");
            assert!(panics(|| future.add_done_callback(move |_| {
                let _keep = &bomb;
            })));

            let (blocker, open) = gated(&client);
            let cancelled = client.submit(inc, (&blocker,));
            let bomb = Bomb("by a cancel");
            cancelled.add_done_callback(move |_| {
                let _keep = &bomb;
            });
            assert!(panics(|| cancelled.cancel()));
            assert_eq!(cancelled.status(), Status::Cancelled);

            let dropped = client.submit(inc, (&blocker,));
            let bomb = Bomb("by a drop");
            dropped.add_done_callback(move |_| {
                let _keep = &bomb;
            });
            assert!(panics(move || drop(dropped)));
            drop(open);
            assert_eq!(blocker.result().unwrap(), 1);
            assert_eq!(client.submit(inc, (1,)).result().unwrap(), 2);
            assert!(!panics(move || drop(client)));
        }
    });
}

/// An argument whose `Drop` panics after the function returned fails the task, naming
/// it, and its dependents; an upstream value whose `Drop` panics in the dependent that
/// held its last handle is that dependent's error. The pool goes on.
#[test]
fn arguments_whose_drop_panics_fail_their_task() {
    within(LIMIT, "argument drops", || {
        let client = client(2);
        let task = client
            .task(|b: Arc<Bomb>| b.0.len() as u64)
            .named("drops_a_bomb")
            .submit((Arc::new(Bomb("argument")),));
        let error = task.result().unwrap_err().to_string();
        assert!(error.contains("drops_a_bomb") && error.contains("Bomb argument"));
        let error = client
            .submit(inc, (&task,))
            .result()
            .unwrap_err()
            .to_string();
        assert!(error.contains("drops_a_bomb"), "{error}");

        // Gated, so that the reader holds the last handle when it runs.
        let (gate, open) = gated(&client);
        let upstream = client.submit(|_: u64| Bomb("upstream"), (&gate,));
        let reader = client
            .task(|b: Arc<Bomb>| b.0.len() as u64)
            .named("last_reader")
            .submit((&upstream,));
        drop(upstream);
        open.send(()).unwrap();
        let error = reader.result().unwrap_err().to_string();
        assert!(error.contains("last_reader") && error.contains("Bomb upstream"));
        assert_eq!(client.submit(inc, (1,)).result().unwrap(), 2);
    });
}

// ---- futures: handles dropped where they are used ----------------------------------

/// A task that drops the last handle of its own future: it is told it is cancelled
/// (nothing wants its result), it ends, and the pool goes on.
#[test]
fn a_future_dropped_inside_its_own_task() {
    within(LIMIT, "own drop", || {
        for threads in [1, 4] {
            let client = client(threads);
            let slot: Arc<Mutex<Option<Future<u64>>>> = Arc::new(Mutex::new(None));
            let (go, went) = mpsc::channel::<()>();
            let went = Mutex::new(went);
            let (told, tell) = mpsc::channel();
            let told = Mutex::new(told);
            let own = slot.clone();
            let future = client.submit(
                move || {
                    went.lock().unwrap().recv().unwrap();
                    drop(own.lock().unwrap().take());
                    told.lock().unwrap().send(taskweave::cancelled()).unwrap();
                    5u64
                },
                (),
            );
            *slot.lock().unwrap() = Some(future);
            go.send(()).unwrap();
            assert!(tell.recv_timeout(LIMIT).unwrap(), "cancelled once dropped");
            assert_eq!(client.submit(inc, (1,)).result().unwrap(), 2);
        }
    });
}

/// Done callbacks that drop the last handle of the future they are called for, and one
/// that drops a handle of the client: each ends, and the pool goes on.
#[test]
fn a_future_dropped_inside_its_own_done_callback() {
    within(LIMIT, "callback drops its future", || {
        let client = client(2);
        let dropped = Arc::new(AtomicUsize::new(0));
        for _ in 0..200 {
            let future = client.submit(|| vec![1u64; 10], ());
            let slot: Arc<Mutex<Option<Future<Vec<u64>>>>> = Arc::new(Mutex::new(None));
            let (own, dropped) = (slot.clone(), dropped.clone());
            future.add_done_callback(move |f| {
                assert_eq!(f.result().unwrap().len(), 10);
                drop(own.lock().unwrap().take());
                dropped.fetch_add(1, Ordering::SeqCst);
            });
            *slot.lock().unwrap() = Some(future);
        }
        assert!(eventually(|| dropped.load(Ordering::SeqCst) == 200));
        let holder = Arc::new(Mutex::new(Some(client.clone())));
        let future = client.submit(|| 1u64, ());
        let held = holder.clone();
        future.add_done_callback(move |_| drop(held.lock().unwrap().take()));
        assert_eq!(future.result().unwrap(), 1);
        assert!(eventually(|| holder.lock().unwrap().is_none()));
        assert_eq!(client.submit(inc, (1,)).result().unwrap(), 2);
    });
}

/// A task that took its client with `get_client` submits, maps, scatters and computes
/// after the user dropped the last handle: its clone keeps the client, so all of it
/// runs, and the task is not told it is cancelled.
#[test]
fn a_task_holding_its_client_submits_after_the_user_dropped_it() {
    within(LIMIT, "submit after the user's drop", || {
        for threads in [1, 2] {
            let client = client(threads);
            let (go, went) = mpsc::channel::<()>();
            let (started, has_started) = mpsc::channel::<()>();
            let (went, started) = (Mutex::new(went), Mutex::new(started));
            let future = client.submit(
                move || {
                    let c = get_client().expect("a client in its task");
                    started.lock().unwrap().send(()).unwrap();
                    went.lock().unwrap().recv().unwrap();
                    let wait = Duration::from_secs(30);
                    let child = c.submit(inc, (1,)).result_timeout(wait).unwrap();
                    let mapped = c.gather(&c.map(inc, vec![1u64, 2])).unwrap();
                    let scattered = c.scatter(5u64).result_timeout(wait).unwrap();
                    let computed = c.compute(Delayed::value(3u64));
                    let computed = computed.result_timeout(wait).unwrap();
                    assert!(!taskweave::cancelled());
                    child + mapped.iter().sum::<u64>() + scattered + computed
                },
                (),
            );
            has_started.recv().unwrap();
            drop(client);
            go.send(()).unwrap();
            let got = future.result_timeout(Duration::from_secs(60)).unwrap();
            assert_eq!(got, 2 + 5 + 5 + 3);
        }
    });
}

// ---- futures: waits over nothing, many, and deep ---------------------------------------

/// `wait` over no futures returns at once in every mode, with or without a timeout, in
/// a task too; `as_completed` over none ends (`next_timeout` gives `None`, however
/// long); `gather`, `cancel` of none and `map2` of sequences of different lengths.
#[test]
fn waits_over_no_futures_return_at_once() {
    within(LIMIT, "empty waits", || {
        let none: Vec<Future<u64>> = Vec::new();
        for mode in [
            WaitMode::AllCompleted,
            WaitMode::FirstCompleted,
            WaitMode::FirstException,
        ] {
            for timeout in [None, Some(Duration::ZERO), Some(Duration::MAX)] {
                let (done, pending) = taskweave::wait(&none, mode, timeout);
                assert!(done.is_empty() && pending.is_empty());
            }
        }
        let mut nothing = as_completed(none.clone());
        assert!(nothing.next_timeout(Duration::ZERO).unwrap().is_none());
        assert!(nothing.next_timeout(Duration::MAX).unwrap().is_none());
        assert!(nothing.next().is_none() && nothing.next_batch().is_empty());
        let client = client(1);
        assert!(client.gather(&none).unwrap().is_empty());
        client.cancel(&none);
        let pairs = client.map2(|a: u64, b: u64| a + b, vec![1u64, 2, 3], vec![10u64]);
        assert_eq!(client.gather(&pairs).unwrap(), [11]);
        let c = client.clone();
        let in_a_task = client.submit(
            move || {
                let none: Vec<Future<u64>> = Vec::new();
                let (done, _) = taskweave::wait(&none, WaitMode::FirstCompleted, None);
                done.len() + c.gather(&none).unwrap().len() + as_completed(none).count()
            },
            (),
        );
        assert_eq!(in_a_task.result().unwrap(), 0);
    });
}

/// Each task submits the next level and waits for it, `depth` levels, the last one
/// panics: every level fails with the error of the level below (each message names
/// the bottom's), on a client of 2 threads; then the same without a failure.
fn submit_and_wait_down_to_a_failure(depth: u64) {
    let got = within(LIMIT, "deep submit and wait", move || {
        let client = client(2);
        let error = client
            .submit(nested_level, (client.clone(), depth, 0))
            .result();
        let error = error.unwrap_err().to_string();
        assert!(
            error.contains(&format!("level {depth} over boom")),
            "{error}"
        );
        client
            .submit(nested_level, (client.clone(), depth, u64::MAX))
            .result()
            .unwrap()
    });
    assert_eq!(got, depth * (depth + 1) / 2);
}

#[test]
fn tasks_submitting_and_waiting_2_000_deep_fail_at_the_bottom() {
    submit_and_wait_down_to_a_failure(2_000);
}

#[test]
#[ignore = "10,000 levels: run with --release -- --ignored"]
fn tasks_submitting_and_waiting_10_000_deep_fail_at_the_bottom() {
    submit_and_wait_down_to_a_failure(10_000);
}

/// A level of nested waits: submits the level below and waits for it, the level
/// `boom` panics (see `submit_and_wait_down_to_a_failure`).
fn nested_level(client: Client, n: u64, boom: u64) -> u64 {
    if n == boom {
        panic!("boom at level {n}");
    }
    if n == 0 {
        return 0;
    }
    match client
        .submit(nested_level, (client.clone(), n - 1, boom))
        .result()
    {
        Ok(v) => v + n,
        Err(e) if e.to_string().contains("boom") => panic!("level {n} over boom"),
        Err(e) => panic!("level {n}: {e}"),
    }
}

/// A node of a tree of tasks, each gathering (or taking as they complete) the two it
/// submits: its count of nodes.
fn gathering_tree(client: Client, depth: u32, as_they_complete: bool) -> u64 {
    if depth == 0 {
        return 1;
    }
    let kids: Vec<Future<u64>> = (0..2)
        .map(|_| {
            client.submit(
                gathering_tree,
                (client.clone(), depth - 1, !as_they_complete),
            )
        })
        .collect();
    let below: u64 = if as_they_complete {
        as_completed(kids).map(|f| f.result().unwrap()).sum()
    } else {
        client.gather(&kids).unwrap().iter().sum()
    };
    below + 1
}

/// A client whose thread starts fail, as when the system is out of processes or
/// address space, while its tasks nest waits (each submits the level below and waits
/// for it, or gathers two children, or takes them as they complete): once every thread
/// waits, the waiting tasks run the queued tasks themselves, so every wait ends, the
/// failure at the bottom included. They hung for ever, every thread asleep, the tasks
/// they waited for queued.
#[test]
fn nested_waits_end_when_the_system_refuses_threads() {
    within(LIMIT, "nested waits, thread starts refused", || {
        let client = Client::builder()
            .threads(2)
            .name("refused")
            .__thread_start_limit(5)
            .build()
            .unwrap();
        let error = client
            .submit(nested_level, (client.clone(), 300, 0))
            .result()
            .unwrap_err()
            .to_string();
        assert!(error.contains("level 300 over boom"), "{error}");
        let sum = client.submit(nested_level, (client.clone(), 300, u64::MAX));
        assert_eq!(sum.result().unwrap(), 300 * 301 / 2);
        let trees: Vec<Future<u64>> = (0..3)
            .map(|i| client.submit(gathering_tree, (client.clone(), 7, i % 2 == 0)))
            .collect();
        assert_eq!(client.gather(&trees).unwrap(), vec![255; 3]);
    });
}

/// A thread start refused at a push while the client's one thread already sleeps in a
/// wait begun before (for another client's future, here): the sleeping task wakes to
/// run the pushed task itself. Before, it slept on until its own wait ended, which here
/// waits for the pushed task's result: a hang.
#[test]
fn a_thread_refused_at_a_push_while_every_thread_sleeps_in_a_wait() {
    within(LIMIT, "a thread refused at a push", || {
        let asleep = asleep_in_a_wait("refused-at-push", 1);
        let pushed = asleep.client.submit(|| 42u64, ());
        assert_eq!(pushed.result_timeout(Duration::from_secs(30)).unwrap(), 42);
        asleep.end();
    });
}

/// A client of one thread (`max_threads(1)`, `start_limit` thread starts) whose thread
/// sleeps in a wait for a future of another client, held until [`end`](Self::end).
struct AsleepInAWait {
    client: Client,
    waiting: Future<u64>,
    open: mpsc::Sender<()>,
    /// Runs the awaited future's task.
    _other: Client,
}

/// Starts an [`AsleepInAWait`] and gives the task time to fall asleep in its wait.
fn asleep_in_a_wait(name: &str, start_limit: usize) -> AsleepInAWait {
    let other = client(1);
    let (gate, open) = gated(&other);
    // Started on its own client's thread: a wait for it while still queued would run
    // it inline (what the wait needs), blocking the one thread on the gate.
    assert!(eventually(|| gate.status() == Status::Running));
    let client = Client::builder()
        .threads(1)
        .max_threads(1)
        .name(name)
        .__thread_start_limit(start_limit)
        .build()
        .unwrap();
    let (started, asleep) = mpsc::channel();
    let waiting = client.submit(
        move || {
            started.send(()).unwrap();
            gate.result().unwrap()
        },
        (),
    );
    asleep.recv().unwrap();
    // Time for the task to poll and fall asleep (were it not asleep yet, it would see
    // a refusal when it hands its place over, another path).
    std::thread::sleep(Duration::from_millis(200));
    AsleepInAWait {
        client,
        waiting,
        open,
        _other: other,
    }
}

impl AsleepInAWait {
    /// Opens the gate: the waiting task ends with the awaited future's 1.
    fn end(self) {
        self.open.send(()).unwrap();
        assert_eq!(self.waiting.result().unwrap(), 1);
    }
}

/// Clients a warning handler submits to when a warning names them (name, client, the
/// futures it submitted), for the tests below; the handler is the binary's, installed
/// by each of them (the last one wins, and they are the same).
static WARNING_SUBMITS: Mutex<Vec<Warned>> = Mutex::new(Vec::new());

/// A client's name, the client, and what the warning handler submitted to it.
type Warned = (String, Client, Vec<Future<u64>>);

/// A warning handler that submits to the client it is warned about. The pool's
/// warnings (every thread blocked while a task is queued, so one more starts past
/// `max_threads`; a thread start refused) are printed once its lock is let go. They
/// were printed under the lock, and the handler's submission, finding no thread
/// running, took the lock again on the same thread: the pushing thread hung for ever.
fn a_warning_handler_submits_to_the_client_it_is_warned_about(
    name: &str,
    start_limit: usize,
    warnings: usize,
) {
    taskweave::on_warning(|message| {
        let mut clients = WARNING_SUBMITS.lock().unwrap();
        let named = clients
            .iter_mut()
            .find(|(name, _, _)| message.contains(&format!("client `{name}`")));
        match named {
            Some((_, client, futures)) => futures.push(client.submit(|| 7u64, ())),
            None => eprintln!("{message}"),
        }
    });
    let asleep = asleep_in_a_wait(name, start_limit);
    let client = asleep.client.clone();
    WARNING_SUBMITS
        .lock()
        .unwrap()
        .push((name.to_owned(), client.clone(), Vec::new()));
    let pushed = client.submit(|| 42u64, ());
    assert_eq!(pushed.result().unwrap(), 42);
    let submitted = {
        let mut clients = WARNING_SUBMITS.lock().unwrap();
        let at = clients.iter().position(|(n, _, _)| n == name).unwrap();
        clients.remove(at).2
    };
    assert_eq!(submitted.len(), warnings, "a submission per warning");
    assert_eq!(client.gather(&submitted).unwrap(), vec![7; warnings]);
    asleep.end();
}

/// Past `max_threads`: one warning, one more thread.
#[test]
fn a_warning_handler_that_submits_to_a_client_past_its_bound() {
    within(
        Duration::from_secs(30),
        "a handler submits past the bound",
        || a_warning_handler_submits_to_the_client_it_is_warned_about("warned-past-bound", 64, 1),
    );
}

/// Past `max_threads` and the thread refused: two warnings, and the waiting task runs
/// the queued tasks itself.
#[test]
fn a_warning_handler_that_submits_to_a_client_refused_a_thread() {
    within(
        Duration::from_secs(30),
        "a handler submits when refused",
        || a_warning_handler_submits_to_the_client_it_is_warned_about("warned-refused", 1, 2),
    );
}

/// `as_completed(..).with_results()` over 100,000 futures, a third of them behind a
/// gate and every seventh cancelled: every one is yielded once, the cancelled ones
/// as errors.
#[test]
fn as_completed_over_100_000_futures_some_cancelled() {
    within(LIMIT, "as_completed of many", || {
        const N: u64 = 100_000;
        let client = client(4);
        let (gate, open) = gated(&client);
        let futures: Vec<Future<u64>> = (0..N)
            .map(|i| {
                if i.is_multiple_of(3) {
                    client.submit(|_: u64, i: u64| i, (&gate, i))
                } else {
                    client.submit(|i: u64| i, (i,))
                }
            })
            .collect();
        let cancelled: Vec<_> = futures.iter().step_by(7).cloned().collect();
        client.cancel(&cancelled);
        open.send(()).unwrap();
        let (mut ok, mut failed) = (0, 0);
        for (_, result) in as_completed(futures).with_results() {
            match result {
                Ok(_) => ok += 1,
                Err(FutureError::Cancelled { .. }) => failed += 1,
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!((ok + failed, failed), (N as usize, cancelled.len()));
    });
}

// ---- futures: races from many threads ---------------------------------------------------

/// Eight threads at once cancel, clone and drop handles, add done callbacks, wait with
/// short timeouts, submit pure twins and dependents, `wait`, `as_completed` and
/// `gather_skip`, on the same 400 futures (some pure, some panicking): every future
/// ends, in a state its task allows with its own value, and every callback runs once.
fn races_of(rounds: u64) {
    within(Duration::from_secs(600), "races", move || {
        for round in 0..rounds {
            races_round(round);
        }
    });
}

fn races_round(round: u64) {
    const N: u64 = 400;
    let client = client(1 + (round as usize % 4));
    let (added, called) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let pure_task = |x: u64| {
        std::thread::sleep(Duration::from_micros(x % 50));
        x
    };
    let futures: Arc<Vec<Future<u64>>> = Arc::new(
        (0..N)
            .map(|i| match i {
                _ if i.is_multiple_of(5) => client.task(pure_task).pure().submit((i % 37,)),
                _ if i.is_multiple_of(7) => {
                    client.submit(move || -> u64 { panic!("race {i}") }, ())
                }
                _ => client.submit(pure_task, (i,)),
            })
            .collect(),
    );
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let (futures, client) = (futures.clone(), client.clone());
            let (added, called) = (added.clone(), called.clone());
            s.spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (round * 131 + t + 1));
                let mut held = Vec::new();
                for _ in 0..2_000 {
                    let f = &futures[rng.below(N) as usize];
                    match rng.below(10) {
                        0 => f.cancel(),
                        1 => held.push(f.clone()),
                        2 => drop(held.pop()),
                        3 => {
                            added.fetch_add(1, Ordering::SeqCst);
                            let called = called.clone();
                            f.add_done_callback(move |_| {
                                called.fetch_add(1, Ordering::SeqCst);
                            });
                        }
                        4 => drop(f.result_timeout(Duration::from_micros(rng.below(200)))),
                        5 => held.push(client.task(pure_task).pure().submit((rng.below(37),))),
                        6 => {
                            let g = futures[rng.below(N) as usize].clone();
                            let short = Some(Duration::from_micros(100));
                            drop(taskweave::wait(
                                &[f.clone(), g],
                                WaitMode::FirstCompleted,
                                short,
                            ));
                        }
                        7 => {
                            let d = client.submit(inc, (f,));
                            if rng.below(2) == 0 {
                                d.cancel();
                            }
                            held.push(d);
                        }
                        8 => {
                            let mut both = as_completed(vec![f.clone(), f.clone()]);
                            drop(both.next_timeout(Duration::from_micros(50)));
                        }
                        _ => drop(client.gather_skip(std::slice::from_ref(f))),
                    }
                }
            });
        }
    });
    let (_, pending) = taskweave::wait(
        &futures[..],
        WaitMode::AllCompleted,
        Some(Duration::from_secs(60)),
    );
    assert!(
        pending.is_empty(),
        "round {round}: {} never ended",
        pending.len()
    );
    for (i, f) in futures.iter().enumerate() {
        let i = i as u64;
        match f.status() {
            Status::Finished => {
                let want = if i.is_multiple_of(5) { i % 37 } else { i };
                assert_eq!(f.result().unwrap(), want, "round {round}: future {i}");
            }
            Status::Cancelled => {
                assert!(matches!(f.result(), Err(FutureError::Cancelled { .. })));
            }
            Status::Error => {
                assert!(
                    i.is_multiple_of(7) && !i.is_multiple_of(5),
                    "round {round}: future {i} failed"
                );
                let error = f.result().unwrap_err().to_string();
                assert!(error.contains(&format!("race {i}")), "{error}");
            }
            other => panic!("round {round}: future {i} {other:?}"),
        }
    }
    assert!(
        eventually(|| called.load(Ordering::SeqCst) == added.load(Ordering::SeqCst)),
        "round {round}: {} of {} callbacks ran",
        called.load(Ordering::SeqCst),
        added.load(Ordering::SeqCst)
    );
    assert_eq!(client.submit(inc, (1,)).result().unwrap(), 2);
}

#[test]
fn cancels_callbacks_waits_and_pure_twins_racing_from_many_threads() {
    races_of(4);
}

#[test]
#[ignore = "2,000 rounds: run with --release -- --ignored"]
fn cancels_callbacks_waits_and_pure_twins_racing_from_many_threads_soak() {
    races_of(2_000);
}

// ---- dynamic graphs ----------------------------------------------------------------------

/// A node computed, then persisted, read by a new graph beside the node itself: the
/// persisted value is not computed again. A failing node's `try_persist` names it,
/// and so does a later graph that reads it.
#[test]
fn computed_persisted_and_failing_nodes_in_later_graphs() {
    within(LIMIT, "persisted reuse", || {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let base = delayed(move |x: u64| {
            counted.fetch_add(1, Ordering::SeqCst);
            x * 2
        })
        .call(21);
        assert_eq!(base.compute(), 42);
        let held = base.persist();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        let plus = delayed(|a: u64, b: u64| a + b);
        let top = plus.call(&held, &base);
        assert_eq!(top.compute(), 84);
        // Only `base` runs again, once per compute.
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        let bad = delayed(|x: u64| -> u64 { panic!("bad node {x}") })
            .named("bad_node")
            .call(1);
        let error = bad.try_persist().unwrap_err().to_string();
        assert!(error.contains("bad_node"), "{error}");
        let error = plus.call(&bad, 1).try_compute().unwrap_err().to_string();
        assert!(error.contains("bad_node"), "{error}");
    });
}

/// A chain of `n` nodes whose root panics: `try_compute` (pool and in order) and
/// `try_persist` name the root, and the chain drops, in bounded stack.
fn chain_failing_at_its_root(n: usize) {
    within(LIMIT, "long failing chain", move || {
        let root = delayed(|| -> u64 { panic!("root fails") })
            .named("the_root")
            .call();
        let step = delayed(|x: u64| x + 1);
        let mut x = root;
        for _ in 0..n {
            x = step.call(&x);
        }
        for error in [
            x.try_compute().unwrap_err(),
            x.try_persist().unwrap_err(),
            x.try_compute_with(Scheduler::Sync).unwrap_err(),
        ] {
            assert!(error.to_string().contains("the_root"), "{error}");
        }
        drop(x);
    });
}

#[test]
fn a_chain_of_100_000_failing_at_its_root() {
    chain_failing_at_its_root(100_000);
}

#[test]
#[ignore = "10^6 nodes: run with --release -- --ignored"]
fn a_chain_of_a_million_failing_at_its_root() {
    chain_failing_at_its_root(1_000_000);
}

/// A node read by `n` tasks that fails: the run names it, here and on a client.
fn wide_node_failing(n: usize) {
    within(LIMIT, "wide failing node", move || {
        let root = delayed(|| -> Vec<u64> { panic!("wide root fails") })
            .named("wide_root")
            .call();
        let read = delayed(|v: &[u64], i: usize| v.len() + i);
        let parts: Vec<Delayed<usize>> = (0..n).map(|i| read.call(&root, i)).collect();
        let sum = delayed(|v: Vec<usize>| v.into_iter().sum::<usize>()).call(parts);
        let error = sum.try_compute().unwrap_err().to_string();
        assert!(error.contains("wide_root"), "{error}");
        let error = client(2).compute(sum).result().unwrap_err().to_string();
        assert!(error.contains("wide_root"), "{error}");
    });
}

#[test]
fn a_node_read_by_100_000_tasks_fails() {
    wide_node_failing(100_000);
}

#[test]
#[ignore = "10^6 readers: run with --release -- --ignored"]
fn a_node_read_by_a_million_tasks_fails() {
    wide_node_failing(1_000_000);
}

/// One `Delayed` computed, persisted and failed from 16 threads at once: each gets its
/// own run and the right value or the failure.
#[test]
fn one_graph_computed_from_many_threads_at_once() {
    within(LIMIT, "concurrent computes", || {
        let base = delayed(|x: u64| {
            std::thread::sleep(Duration::from_millis(2));
            x * 2
        })
        .call(21);
        let step = delayed(|x: u64| x + 1);
        let mut x = base;
        for _ in 0..1_000 {
            x = step.call(&x);
        }
        let fail = delayed(|x: u64| -> u64 { panic!("fails over {x}") })
            .named("fails_over")
            .call(&x);
        std::thread::scope(|s| {
            for t in 0..16u32 {
                let (x, fail) = (x.clone(), fail.clone());
                s.spawn(move || {
                    if t.is_multiple_of(2) {
                        assert_eq!(x.compute(), 1_042);
                    } else {
                        let error = fail.try_compute().unwrap_err().to_string();
                        assert!(
                            error.contains("`fails_over`") && error.contains("fails over 1042"),
                            "{error}"
                        );
                    }
                    assert_eq!(x.persist().compute(), 1_042);
                });
            }
        });
    });
}

/// Graphs over futures, computed, persisted and run in order from several threads,
/// on a client too, while their futures are cancelled: every run ends, with the sum
/// or a cancellation.
fn dynamic_races_over_futures(rounds: u64) {
    within(Duration::from_secs(600), "dynamic races", move || {
        for round in 0..rounds {
            let client = client(2);
            let futures: Vec<Future<u64>> = (0..32u64)
                .map(|i| {
                    let slow = move |x: u64| {
                        std::thread::sleep(Duration::from_micros(i * 10));
                        x
                    };
                    client.submit(slow, (i,))
                })
                .collect();
            let nodes: Vec<Delayed<u64>> = futures.iter().map(|f| delayed(inc).call(f)).collect();
            let total = delayed(|v: Vec<u64>| v.into_iter().sum::<u64>()).call(nodes.clone());
            let wait = Duration::from_secs(60);
            std::thread::scope(|s| {
                for t in 0..6u64 {
                    let (total, futures, nodes) = (total.clone(), &futures, &nodes);
                    let client = client.clone();
                    s.spawn(move || {
                        let mut rng = Rng(round * 977 + t + 1);
                        for _ in 0..20 {
                            match rng.below(6) {
                                0 => futures[rng.below(32) as usize].cancel(),
                                1 => drop(total.try_compute()),
                                2 => drop(total.try_persist().map(|p| p.compute())),
                                3 => {
                                    let run = client.compute(total.clone());
                                    let got = run.result_timeout(wait);
                                    assert!(!matches!(got, Err(FutureError::Timeout { .. })));
                                }
                                4 => drop(taskweave::compute_with(Scheduler::Sync, &nodes[..])),
                                _ => drop(client.try_persist(&nodes[..4])),
                            }
                        }
                    });
                }
            });
            match total.try_compute() {
                Ok(v) => assert_eq!(v, (1..=32u64).sum::<u64>()),
                Err(e) => assert!(e.to_string().contains("cancelled"), "{e}"),
            }
        }
    });
}

#[test]
fn graphs_over_futures_cancelled_while_computed_from_many_threads() {
    dynamic_races_over_futures(4);
}

#[test]
#[ignore = "300 rounds: run with --release -- --ignored"]
fn graphs_over_futures_cancelled_while_computed_from_many_threads_soak() {
    dynamic_races_over_futures(300);
}

/// A graph reading futures of a client dropped meanwhile, its pending tasks cancelled:
/// computed here or on another client, it fails naming the reader and the cancelled
/// future.
#[test]
fn a_graph_over_futures_of_a_dropped_client() {
    within(LIMIT, "futures of a dropped client", || {
        // The drop waits for the gated task no longer than this (it would for a
        // minute: the gate opens after the drop).
        let client = Client::builder()
            .threads(2)
            .shutdown_timeout(Duration::from_millis(100))
            .build()
            .unwrap();
        let (blocked, open) = gated(&client);
        let pending = client.submit(inc, (&blocked,));
        let reader = delayed(inc).named("reads_a_dropped_client").call(&pending);
        drop(client);
        drop(open);
        let here = reader.try_compute().unwrap_err().to_string();
        let there = self::client(1)
            .compute(reader)
            .result()
            .unwrap_err()
            .to_string();
        for error in [here, there] {
            assert!(error.contains("reads_a_dropped_client"), "{error}");
            assert!(error.contains("cancelled"), "{error}");
        }
    });
}

/// No outputs, outputs repeated, and 100,000 outputs (half of them one node), through
/// `compute`, a client's `compute` and `persist`.
#[test]
fn no_repeated_and_many_outputs() {
    within(LIMIT, "outputs", || {
        let none: Vec<Delayed<u64>> = Vec::new();
        assert!(taskweave::compute(&none).is_empty());
        assert!(taskweave::persist(&none[..]).is_empty());
        let client = client(2);
        assert!(client.compute(&none).result().unwrap().is_empty());
        let x = Delayed::value(3u64);
        let bad = delayed(|| -> u64 { panic!("repeated output fails") })
            .named("repeated_bad")
            .call();
        let repeated = vec![x.clone(), x.clone(), bad.clone(), bad];
        let error = taskweave::compute_with(Scheduler::Threads, &repeated).unwrap_err();
        assert!(error.to_string().contains("repeated_bad"), "{error}");
        let many: Vec<Delayed<u64>> = (0..100_000u64)
            .map(|i| {
                if i.is_multiple_of(2) {
                    x.clone()
                } else {
                    Delayed::value(i)
                }
            })
            .collect();
        let values = taskweave::compute(&many);
        assert_eq!((values.len(), values[0], values[1]), (100_000, 3, 1));
        assert_eq!(client.compute(&many).result().unwrap()[99_999], 99_999);
        let held = client.persist(&many[..]);
        assert_eq!((held.len(), held[2].compute()), (100_000, 3));
    });
}

/// `tree_reduce` of one part is that part; of none it panics, as documented; of
/// 100,000 it sums.
#[test]
fn tree_reduce_of_one_none_and_many() {
    within(LIMIT, "tree_reduce", || {
        let add = |a: u64, b: u64| a + b;
        assert!(panics(|| taskweave::tree_reduce(
            Vec::<Delayed<u64>>::new(),
            add
        )));
        let one = taskweave::tree_reduce(vec![Delayed::value(5u64)], add);
        assert_eq!(one.compute(), 5);
        let many: Vec<_> = (0..100_000u64).map(Delayed::value).collect();
        assert_eq!(
            taskweave::tree_reduce(many, add).compute(),
            100_000 * 99_999 / 2
        );
    });
}

// ---- user code entering the engine from Clone and Drop -----------------------------------

static INNER_FAILS: AtomicBool = AtomicBool::new(false);

/// A value whose `Clone` computes a graph (which fails while [`INNER_FAILS`]) and whose
/// `Drop` computes one and, inside a client's task, waits for a future.
#[derive(Debug)]
struct Reenters(u64);

impl Clone for Reenters {
    fn clone(&self) -> Self {
        let inner = delayed(|x: u64| -> u64 {
            if INNER_FAILS.load(Ordering::SeqCst) {
                panic!("the clone's graph fails");
            }
            x + 1
        })
        .named("clones_graph")
        .call(self.0);
        Reenters(inner.compute() - 1)
    }
}

impl Drop for Reenters {
    fn drop(&mut self) {
        assert_eq!(delayed(|x: u64| x * 2).call(self.0).compute(), self.0 * 2);
        if let Some(c) = get_client() {
            let _ = c
                .submit(inc, (self.0,))
                .result_timeout(Duration::from_secs(10));
        }
    }
}

/// Values whose `Clone` and `Drop` compute graphs (and wait for futures) inside the
/// engine's reads of them: on the pool and in order, as outputs, and through a
/// client's tasks, their results and a graph over them. Runs end with the sum, or,
/// when the clone's graph fails, with an error naming the reader whose clone failed
/// and the clone's task.
#[test]
fn clones_and_drops_that_compute_graphs() {
    within(LIMIT, "reentrant clone and drop", || {
        for fail in [false, true] {
            INNER_FAILS.store(fail, Ordering::SeqCst);
            let check = |result: Result<u64, String>, want: u64| match result {
                Ok(v) => assert!(!fail && v == want, "{v}"),
                Err(e) => assert!(fail && e.contains("clones_graph"), "{e}"),
            };
            for scheduler in [Scheduler::Threads, Scheduler::Sync] {
                let x = delayed(|| Reenters(4)).call();
                let readers: Vec<Delayed<u64>> = (0..8)
                    .map(|i| delayed(move |r: Reenters| r.0 + i).call(&x))
                    .collect();
                let total = delayed(|v: Vec<u64>| v.into_iter().sum::<u64>()).call(readers);
                check(
                    total.try_compute_with(scheduler).map_err(|e| e.to_string()),
                    4 * 8 + 28,
                );
                let outputs = taskweave::compute_with(scheduler, (&x, &x, &total));
                check(
                    outputs.map(|v| v.0 .0 + v.1 .0).map_err(|e| e.to_string()),
                    8,
                );
            }
            let client = client(2);
            let f = client.submit(|| Reenters(5), ());
            let readers: Vec<_> = (0..8)
                .map(|_| client.submit(|r: Reenters| r.0, (&f,)))
                .collect();
            check(
                client
                    .gather(&readers)
                    .map(|v| v.iter().sum())
                    .map_err(|e| e.to_string()),
                40,
            );
            let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.result()));
            assert_eq!(read.is_err(), fail);
            let over = client.compute(delayed(|r: Reenters| r.0).call(&f)).result();
            check(over.map_err(|e| e.to_string()), 5);
        }
        INNER_FAILS.store(false, Ordering::SeqCst);
    });
}

// ---- retried tasks whose argument's Clone panics ------------------------------------------

static CLONES_LEFT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Clones until [`CLONES_LEFT`] runs out, then panics.
#[derive(Debug)]
struct CloneLimited(u64);

impl Clone for CloneLimited {
    fn clone(&self) -> Self {
        let left = CLONES_LEFT.load(Ordering::SeqCst);
        if left == 0 {
            panic!("no clone left");
        }
        CLONES_LEFT.store(left - 1, Ordering::SeqCst);
        CloneLimited(self.0)
    }
}

/// A task retried 3 times, whose first two attempts fail, takes its argument by value:
/// each attempt but the last gets a clone, and a clone that panics counts as a failed
/// attempt. In a graph the last attempt takes the value itself (no clone), so the run
/// fails with the function's own panic when clones run out, and succeeds with two; a
/// futures task clones for every attempt, and fails with the clone's panic. Either
/// way, the error names the task, and nothing aborts.
#[test]
fn retried_tasks_whose_argument_clone_panics() {
    within(LIMIT, "retried clones", || {
        let failing_twice = |attempts: &Arc<AtomicUsize>| {
            let attempts = attempts.clone();
            move |c: CloneLimited| -> u64 {
                if attempts.fetch_add(1, Ordering::SeqCst) < 2 {
                    panic!("attempt fails");
                }
                c.0
            }
        };
        for (clones, ran, want) in [(0, 1, None), (1, 2, None), (2, 3, Some(5))] {
            for scheduler in [Scheduler::Threads, Scheduler::Sync] {
                let attempts = Arc::new(AtomicUsize::new(0));
                let x = delayed(|| CloneLimited(5)).call();
                let y = delayed(failing_twice(&attempts))
                    .named("retried_by_value")
                    .retries(3)
                    .call(&x);
                CLONES_LEFT.store(clones, Ordering::SeqCst);
                match (y.try_compute_with(scheduler), want) {
                    (Ok(v), Some(want)) => assert_eq!(v, want),
                    (Err(e), None) => {
                        let e = e.to_string();
                        assert!(e.contains("retried_by_value") && e.contains("attempt fails"));
                    }
                    (got, _) => panic!("{clones} clones: {got:?}"),
                }
                assert_eq!(attempts.load(Ordering::SeqCst), ran, "{clones} clones");
            }
        }
        let client = client(2);
        let x = client.submit(|| CloneLimited(5), ());
        x.result_shared().unwrap();
        for clones in 0..3 {
            let attempts = Arc::new(AtomicUsize::new(0));
            CLONES_LEFT.store(clones, Ordering::SeqCst);
            let y = client
                .task(failing_twice(&attempts))
                .named("retried_future")
                .retries(3)
                .submit((&x,));
            let error = y.result().unwrap_err().to_string();
            assert!(error.contains("retried_future") && error.contains("no clone left"));
            assert_eq!(attempts.load(Ordering::SeqCst), clones);
        }
        CLONES_LEFT.store(usize::MAX, Ordering::SeqCst);
    });
}

// ---- shapes with two parents per node -------------------------------------------------

/// A ladder of `n` rungs, each node reading both nodes of the rung before: a dynamic
/// graph computed, inspected, persisted and dropped; a futures ladder cancelled at its
/// root (every rung cancelled) and one computed. In bounded stack, under the watchdog.
fn ladders(n: usize) {
    within(LIMIT, "ladders", move || {
        let step = |a: u64, b: u64| (a + b) % 1_000_003;
        let other = |a: u64, b: u64| (a * 3 + b) % 1_000_003;
        let want = (0..n).fold((1, 2), |(a, b), _| (step(a, b), other(a, b)));
        let (f, g) = (delayed(step), delayed(other));
        let (mut a, mut b) = (Delayed::value(1u64), Delayed::value(2u64));
        for _ in 0..n {
            (a, b) = (f.call(&a, &b), g.call(&a, &b));
        }
        assert_eq!(a.compute(), want.0);
        assert_eq!(a.info().len(), 2 * n + 1);
        let held = taskweave::persist((&a, &b));
        assert_eq!((held.0.compute(), held.1.compute()), want);
        drop((a, b, held));

        let client = client(2);
        let (root, open) = gated(&client);
        let (mut a, mut b) = (root.clone(), root.clone());
        for _ in 0..n {
            (a, b) = (
                client.submit(step, (&a, &b)),
                client.submit(other, (&a, &b)),
            );
        }
        root.cancel();
        assert_eq!(
            (a.status(), b.status()),
            (Status::Cancelled, Status::Cancelled)
        );
        drop(open);
        let (mut a, mut b) = (client.submit(|| 1u64, ()), client.submit(|| 2u64, ()));
        for _ in 0..n {
            (a, b) = (
                client.submit(step, (&a, &b)),
                client.submit(other, (&a, &b)),
            );
        }
        assert_eq!((a.result().unwrap(), b.result().unwrap()), want);
    });
}

#[test]
fn ladders_of_20_000_rungs() {
    ladders(20_000);
}

#[test]
#[ignore = "200,000 rungs: run with --release -- --ignored"]
fn ladders_of_200_000_rungs() {
    ladders(200_000);
}

// ---- values holding futures, released by the engine --------------------------------------

/// A result that holds a handle of a future, possibly its own.
struct HoldsFuture(Mutex<Option<Future<HoldsFuture>>>);

fn holding(
    client: &Client,
    held: impl FnOnce(&Future<HoldsFuture>) -> Future<HoldsFuture>,
) -> Future<HoldsFuture> {
    let future = client.submit(|| HoldsFuture(Mutex::new(None)), ());
    let value = future.result_shared().unwrap();
    *value.0.lock().unwrap() = Some(held(&future));
    future
}

/// A finished future whose value holds a handle of itself, or the last handle of a
/// pending future whose done callback cancels and reads the first: `cancel` lets the
/// value go, which drops those handles inside the release (cancelling the pending
/// future, whose callback comes back to the first). Neither deadlocks; dependents of
/// a future so cancelled end cancelled; the pool goes on.
#[test]
fn values_holding_futures_let_go_by_a_cancel() {
    within(LIMIT, "values holding futures", || {
        let client = client(2);
        let own = holding(&client, Future::clone);
        own.cancel();
        assert_eq!(own.status(), Status::Cancelled);

        let (gate, open) = gated(&client);
        let pending = client.submit(|_: u64| HoldsFuture(Mutex::new(None)), (&gate,));
        let first = holding(&client, |_| pending.clone());
        let (again, called) = (first.clone(), Arc::new(AtomicBool::new(false)));
        let was_called = called.clone();
        pending.add_done_callback(move |_| {
            again.cancel();
            assert!(again.result_shared().is_err());
            was_called.store(true, Ordering::SeqCst);
        });
        drop(pending);
        first.cancel();
        assert!(
            called.load(Ordering::SeqCst),
            "the pending future was cancelled"
        );
        drop(open);

        let read = holding(&client, Future::clone);
        let readers: Vec<_> = (0..50)
            .map(|_| {
                client.submit(
                    |x: Arc<HoldsFuture>| x.0.lock().unwrap().is_some(),
                    (&read,),
                )
            })
            .collect();
        read.cancel();
        for reader in readers {
            match reader.result() {
                Ok(held) => assert!(held),
                Err(FutureError::Cancelled { .. }) => {}
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!(client.submit(inc, (1,)).result().unwrap(), 2);
    });
}

/// `map` over an iterator that promises 1,000 items and panics at the 70th: the panic
/// comes out of `map`, the tasks submitted before it lose their handles (cancelled or
/// run), and the client goes on.
#[test]
fn map_over_an_iterator_that_panics_midway() {
    within(LIMIT, "map over a panicking iterator", || {
        struct Liar(u64);
        impl Iterator for Liar {
            type Item = u64;
            fn next(&mut self) -> Option<u64> {
                assert!(self.0 != 70, "the iterator panics at 70");
                self.0 += 1;
                Some(self.0)
            }
            fn size_hint(&self) -> (usize, Option<usize>) {
                let left = 1_000 - self.0 as usize;
                (left, Some(left))
            }
        }
        let client = client(1);
        assert!(panics(|| client.map(inc, Liar(0))));
        assert_eq!(
            client.gather(&client.map(inc, 0..100u64)).unwrap().len(),
            100
        );
        assert_eq!(client.submit(inc, (1,)).result().unwrap(), 2);
    });
}

// ---- an observer that uses its own client -----------------------------------------------

/// An observer of a client that uses that client in its hooks: `future_submitted` of
/// `trigger_submitted` submits a task (inside the submission it is told of) and cancels
/// the one it submitted before; `future_started` of `trigger_started` submits a task
/// and waits for it, on the pool's thread, before the task runs; `future_finished` of
/// every `trigger…` task submits and waits, and computes a graph, wherever the end is
/// told (the pool's thread, or the thread that cancels).
struct UsesItsClient {
    client: Mutex<Option<Client>>,
    held: Mutex<Vec<Future<u64>>>,
    waited: AtomicUsize,
}

impl UsesItsClient {
    fn client(&self) -> Option<Client> {
        self.client.lock().unwrap().clone()
    }
}

impl taskweave::Observer for UsesItsClient {
    fn future_submitted(&self, task: &taskweave::FutureEvent<'_>) {
        if let (Some(c), "trigger_submitted") = (self.client(), task.name) {
            let submitted = c.submit(inc, (100u64,));
            let mut held = self.held.lock().unwrap();
            held.drain(..).for_each(|f| f.cancel());
            held.push(submitted);
        }
    }

    fn future_started(&self, task: &taskweave::FutureEvent<'_>) {
        if let (Some(c), "trigger_started") = (self.client(), task.name) {
            assert_eq!(c.submit(inc, (1u64,)).result().unwrap(), 2);
            self.waited.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn future_finished(&self, task: &taskweave::FutureEvent<'_>, _: taskweave::TaskOutcome) {
        if let (Some(c), true) = (self.client(), task.name.starts_with("trigger")) {
            assert_eq!(c.submit(inc, (2u64,)).result().unwrap(), 3);
            assert_eq!(delayed(inc).call(3u64).compute(), 4);
            self.waited.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn an_observer_that_submits_and_waits_on_its_own_client() {
    within(LIMIT, "observer using its client", || {
        for threads in [1, 2] {
            let observer = Arc::new(UsesItsClient {
                client: Mutex::new(None),
                held: Mutex::new(Vec::new()),
                waited: AtomicUsize::new(0),
            });
            let client = Client::builder()
                .threads(threads)
                .observer(observer.clone())
                .build()
                .unwrap();
            *observer.client.lock().unwrap() = Some(client.clone());
            let started = client.task(inc).named("trigger_started").submit((1u64,));
            let submitted = client.task(inc).named("trigger_submitted").submit((1u64,));
            // Gated by another client: the cancel's end is told on this thread, while
            // this client's threads are free.
            let gates = self::client(1);
            let (gate, open) = gated(&gates);
            let cancelled = client.task(inc).named("trigger_cancelled").submit((&gate,));
            cancelled.cancel();
            let failed = client
                .task(|_: u64| -> u64 { panic!("trigger fails") })
                .named("trigger_failed")
                .submit((1u64,));
            drop(open);
            assert_eq!(
                (started.result().unwrap(), submitted.result().unwrap()),
                (2, 2)
            );
            assert!(matches!(
                cancelled.result(),
                Err(FutureError::Cancelled { .. })
            ));
            assert!(failed
                .result()
                .unwrap_err()
                .to_string()
                .contains("trigger fails"));
            // One start and four ends told.
            assert!(eventually(|| observer.waited.load(Ordering::SeqCst) == 5));
            let held = observer.held.lock().unwrap().pop().unwrap();
            assert_eq!(held.result().unwrap(), 101);
            // The observer's handle goes, or the client would hold itself.
            drop(observer.client.lock().unwrap().take());
        }
    });
}

// ---- a chain dropped with one capture whose Drop panics -----------------------------------

static CAPTURES_DROPPED: AtomicUsize = AtomicUsize::new(0);

/// Counts its drops; the one marked panics in its `Drop`.
struct Capture(u64, bool);

impl Drop for Capture {
    fn drop(&mut self) {
        CAPTURES_DROPPED.fetch_add(1, Ordering::SeqCst);
        assert!(!self.1, "capture {} panics in its drop", self.0);
    }
}

/// A chain of 100,000 nodes whose closures each capture a value, one of which panics
/// when dropped (at the root, in the middle, at the end): dropping the chain, before
/// or after a compute, drops every capture once, in bounded stack, and the one panic
/// comes out of the drop (no abort, nothing leaked).
#[test]
fn a_chain_dropped_with_one_capture_whose_drop_panics() {
    within(LIMIT, "chain drop panics", || {
        for (n, at, compute) in [
            (100_000, 0, false),
            (100_000, 500, false),
            (100_000, 99_999, false),
            (10_000, 5_000, true),
        ] {
            CAPTURES_DROPPED.store(0, Ordering::SeqCst);
            let mut x = Delayed::value(0u64);
            for i in 0..n {
                let capture = Capture(i, i == at);
                x = delayed(move |v: u64| {
                    let capture = &capture;
                    v + capture.0 % 2
                })
                .call(&x);
            }
            if compute {
                assert_eq!(x.compute(), n / 2);
            }
            assert!(panics(move || drop(x)));
            assert_eq!(CAPTURES_DROPPED.load(Ordering::SeqCst), n as usize);
        }
    });
}
