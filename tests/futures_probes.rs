//! Adversarial probes of the futures front end against dask.distributed's semantics:
//! each shape runs under a watchdog, so a hang fails the test rather than CI.

#[path = "support/watchdog.rs"]
mod watchdog;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use taskweave::prelude::*;
use taskweave::{get_client, Status};

const LIMIT: Duration = Duration::from_secs(60);

fn client(threads: usize) -> Client {
    Client::builder()
        .threads(threads)
        .name("probe")
        .build()
        .unwrap()
}

fn inc(x: i64) -> i64 {
    x + 1
}

/// Runs `body` on a thread with a small stack, so that a stack growing with the shape
/// overflows rather than passes.
fn on_small_stack<R: Send + 'static>(body: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(body)
        .unwrap()
        .join()
        .unwrap()
}

/// A task that runs until released, and a way to release it.
fn gate() -> (Arc<Mutex<mpsc::Receiver<()>>>, mpsc::Sender<()>) {
    let (tx, rx) = mpsc::channel();
    (Arc::new(Mutex::new(rx)), tx)
}

#[test]
fn as_completed_over_done_cancelled_failed_pending_and_duplicates() {
    watchdog::within(LIMIT, "as_completed mix", || {
        let client = client(2);
        let done = client.submit(|| 1i64, ());
        done.result().unwrap();
        let failed = client.submit(|| -> i64 { panic!("probe failure") }, ());
        let (rx, tx) = gate();
        let pending = client.submit(
            move || {
                rx.lock().unwrap().recv().unwrap();
                3i64
            },
            (),
        );
        let cancelled = client.submit(inc, (&pending,));
        cancelled.cancel();
        let mut seen = 0;
        let mut iter = as_completed(vec![
            done.clone(),
            failed.clone(),
            cancelled.clone(),
            pending.clone(),
            done.clone(),
        ]);
        assert_eq!(iter.remaining(), 5);
        // Everything but `pending` is done: four come without it.
        for _ in 0..4 {
            let f = iter.next().unwrap();
            assert!(f.done());
            seen += 1;
        }
        tx.send(()).unwrap();
        let last = iter.next().unwrap();
        assert_eq!(last, pending);
        assert_eq!(last.result().unwrap(), 3);
        assert!(iter.next().is_none());
        assert_eq!(seen, 4);
    });
}

#[test]
fn as_completed_fed_while_iterating() {
    watchdog::within(LIMIT, "as_completed add", || {
        let client = client(2);
        let mut iter = as_completed(client.map(inc, 0..3));
        let mut total = 0;
        let mut added = 0;
        while let Some(f) = iter.next() {
            let v = f.result().unwrap();
            total += v;
            if added < 5 {
                iter.add(client.submit(inc, (v * 10,)));
                added += 1;
            }
        }
        assert_eq!(iter.remaining(), 0);
        assert!(total > 0);
        // Adding to an exhausted iterator revives it, as Dask's `add` does.
        iter.add(client.submit(inc, (1,)));
        assert_eq!(iter.next().unwrap().result().unwrap(), 2);
        // A timeout of MAX and of ZERO.
        assert!(iter.next_timeout(Duration::MAX).unwrap().is_none());
        let (rx, tx) = gate();
        iter.add(client.submit(
            move || {
                rx.lock().unwrap().recv().unwrap();
                0i64
            },
            (),
        ));
        assert!(iter.next_timeout(Duration::ZERO).is_err());
        tx.send(()).unwrap();
        assert!(iter.next_timeout(Duration::MAX).unwrap().is_some());
    });
}

#[test]
fn wait_modes_and_extreme_timeouts() {
    watchdog::within(LIMIT, "wait", || {
        let client = client(2);
        let empty: Vec<Future<i64>> = Vec::new();
        let (d, n) = wait(&empty, WaitMode::AllCompleted, Some(Duration::MAX));
        assert!(d.is_empty() && n.is_empty());
        let (d, n) = wait(&empty, WaitMode::FirstCompleted, None);
        assert!(d.is_empty() && n.is_empty());
        let (rx, tx) = gate();
        let blocked = client.submit(
            move || {
                rx.lock().unwrap().recv().unwrap();
                0i64
            },
            (),
        );
        let quick = client.submit(inc, (1,));
        quick.result().unwrap();
        let all = vec![blocked.clone(), quick.clone(), quick.clone()];
        let (d, n) = wait(&all, WaitMode::FirstCompleted, Some(Duration::MAX));
        assert_eq!((d.len(), n.len()), (2, 1));
        let (d, n) = wait(&all, WaitMode::AllCompleted, Some(Duration::ZERO));
        assert_eq!((d.len(), n.len()), (2, 1));
        let (d, n) = wait(&all, WaitMode::FirstException, Some(Duration::ZERO));
        assert_eq!((d.len(), n.len()), (2, 1));
        tx.send(()).unwrap();
        let (d, n) = wait(&all, WaitMode::AllCompleted, Some(Duration::MAX));
        assert_eq!((d.len(), n.len()), (3, 0));
        assert_eq!(blocked.result_timeout(Duration::MAX).unwrap(), 0);
        assert_eq!(blocked.result_timeout(Duration::ZERO).unwrap(), 0);
    });
}

#[test]
fn wait_all_completed_with_duplicates_of_a_pending_future() {
    watchdog::within(LIMIT, "wait duplicates", || {
        let client = client(2);
        let (rx, tx) = gate();
        let blocked = client.submit(
            move || {
                rx.lock().unwrap().recv().unwrap();
                0i64
            },
            (),
        );
        let all = vec![blocked.clone(), blocked.clone()];
        let waiter = std::thread::spawn(move || wait(&all, WaitMode::AllCompleted, None));
        std::thread::sleep(Duration::from_millis(20));
        tx.send(()).unwrap();
        let (d, n) = waiter.join().unwrap();
        assert_eq!((d.len(), n.len()), (2, 0));
    });
}

#[test]
fn gather_with_an_error_names_the_task() {
    watchdog::within(LIMIT, "gather error", || {
        let client = client(2);
        let a = client.submit(inc, (1,));
        let b = client
            .task(|_: i64| -> i64 { panic!("boom in b") })
            .named("bad_b")
            .submit((2,));
        let c = client.submit(inc, (&b,));
        let err = client.gather(&[a, b, c]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("bad_b"), "{text}");
        assert!(text.contains("futures_probes.rs"), "call site: {text}");
    });
}

#[test]
fn futures_of_one_client_in_another_clients_submit() {
    watchdog::within(LIMIT, "two clients", || {
        let a = client(1);
        let b = client(1);
        let x = a.submit(inc, (1,));
        let y = b.submit(inc, (&x,));
        assert_eq!(y.result().unwrap(), 3);
        // The other client gone, its finished futures still read.
        drop(a);
        let z = b.submit(inc, (&x,));
        assert_eq!(z.result().unwrap(), 3);
    });
}

#[test]
fn a_dependency_of_a_client_dropped_meanwhile_ends_its_dependents() {
    watchdog::within(LIMIT, "client dropped under a dependent", || {
        let a = client(1);
        let b = client(1);
        let (rx, tx) = gate();
        let (started_tx, started_rx) = mpsc::channel();
        let started_tx = Mutex::new(started_tx);
        let blocker = a.submit(
            move || {
                started_tx.lock().unwrap().send(()).unwrap();
                rx.lock().unwrap().recv().unwrap();
                0i64
            },
            (),
        );
        started_rx.recv().unwrap();
        let pending_in_a = a.submit(inc, (&blocker,));
        let in_b = b.submit(inc, (&pending_in_a,));
        let dropper = std::thread::spawn(move || drop(a));
        std::thread::sleep(Duration::from_millis(20));
        tx.send(()).unwrap();
        dropper.join().unwrap();
        // `pending_in_a` was cancelled by the shutdown: `in_b` must end too.
        assert!(in_b.result().is_err());
        assert_eq!(in_b.status(), Status::Cancelled);
    });
}

#[test]
fn futures_outlive_their_client() {
    watchdog::within(LIMIT, "futures outlive client", || {
        let client = client(1);
        let done = client.submit(inc, (1,));
        done.result().unwrap();
        let (rx, tx) = gate();
        let (started_tx, started_rx) = mpsc::channel();
        let started_tx = Mutex::new(started_tx);
        let blocker = client.submit(
            move || {
                started_tx.lock().unwrap().send(()).unwrap();
                rx.lock().unwrap().recv().unwrap();
                0i64
            },
            (),
        );
        started_rx.recv().unwrap();
        let pending = client.submit(inc, (&blocker,));
        let t = std::thread::spawn(move || drop(client));
        std::thread::sleep(Duration::from_millis(20));
        tx.send(()).unwrap();
        t.join().unwrap();
        assert_eq!(done.result().unwrap(), 2);
        assert_eq!(blocker.result().unwrap(), 0);
        assert!(pending.result().is_err());
        assert!(pending.result_timeout(Duration::MAX).is_err());
    });
}

#[test]
fn cancel_of_a_dependency_ends_its_dependents_and_resubmit_works() {
    watchdog::within(LIMIT, "cancel dependency", || {
        let client = client(2);
        let (rx, tx) = gate();
        let root = client.submit(
            move || {
                let _ = rx.lock().unwrap().recv();
                0i64
            },
            (),
        );
        let deps: Vec<_> = (0..100).map(|_| client.submit(inc, (&root,))).collect();
        let deeper: Vec<_> = deps.iter().map(|d| client.submit(inc, (d,))).collect();
        root.cancel();
        for d in deps.iter().chain(&deeper) {
            assert!(d.result().is_err());
        }
        drop(tx);
        let again = client.submit(|| 0i64, ());
        let dep = client.submit(inc, (&again,));
        assert_eq!(dep.result().unwrap(), 1);
    });
}

#[test]
fn scatter_large_and_read_in_tasks() {
    watchdog::within(LIMIT, "scatter", || {
        let client = client(2);
        let big = client.scatter(vec![7u8; 64 << 20]);
        let lens: Vec<_> = (0..8)
            .map(|_| client.submit(|v: Arc<Vec<u8>>| v.len(), (&big,)))
            .collect();
        for l in lens {
            assert_eq!(l.result().unwrap(), 64 << 20);
        }
        big.cancel();
        assert!(big.result_shared().is_err());
        let after = client.submit(|v: Arc<Vec<u8>>| v.len(), (&big,));
        assert!(after.result().is_err());
    });
}

/// A task that waits for its own future (smuggled to it through a channel), or for a
/// future that depends on it, would wait forever: the wait fails at once, naming both
/// tasks and where they were submitted. It hung before.
#[test]
fn a_task_waiting_on_its_own_future_gets_an_error_not_a_hang() {
    watchdog::within(Duration::from_secs(20), "self wait", || {
        let client = client(1);
        let (tx, rx) = mpsc::channel::<Future<Result<i64, String>>>();
        let rx = Mutex::new(rx);
        let me = client
            .task(move || -> Result<i64, String> {
                let me = rx.lock().unwrap().recv().unwrap();
                // Directly, with and without a timeout.
                let direct = me.result().unwrap_err();
                assert!(matches!(direct, FutureError::WaitsForItself { .. }));
                let timed = me.result_timeout(Duration::MAX).unwrap_err();
                assert!(matches!(timed, FutureError::WaitsForItself { .. }));
                // Through a dependent: it needs this very task.
                let client = get_client().unwrap();
                let dependent = client
                    .task(|_: Arc<Result<i64, String>>| 1i64)
                    .named("needs_me")
                    .submit((&me,));
                let chained = client.submit(|x: i64| x, (&dependent,));
                Err(chained.result_shared().unwrap_err().to_string())
            })
            .named("waits_for_itself")
            .submit(());
        tx.send(me.clone()).unwrap();
        let message = me.result().unwrap().unwrap_err();
        assert!(message.contains("`waits_for_itself`"), "{message}");
        assert!(message.contains("futures_probes.rs"), "{message}");
        assert!(message.contains("never end"), "{message}");
        // The tasks that needed it run once it has ended.
    });
}

/// `wait` in a task for its own future: a wait for every future (or one that nothing
/// else can end) fails the task with the message rather than hang; a wait that another
/// future can end, or one with a timeout, returns as before.
#[test]
fn a_task_waiting_with_wait_on_its_own_future_fails_rather_than_hang() {
    watchdog::within(Duration::from_secs(20), "self wait through wait()", || {
        let client = client(2);
        let (tx, rx) = mpsc::channel::<Future<String>>();
        let rx = Mutex::new(rx);
        let me = client
            .task(move || -> String {
                let me = rx.lock().unwrap().recv().unwrap();
                let client = get_client().unwrap();
                let other = client.submit(|| 5i64, ());
                let mixed = [me.erase(), other.erase()];
                // Another future can end these waits.
                let (done, _) = wait(&mixed, WaitMode::FirstCompleted, None);
                assert_eq!(done.len(), 1);
                let bad = client.submit(|| -> i64 { panic!("bad") }, ());
                let with_bad = [me.erase(), bad.erase()];
                let (done, _) = wait(&with_bad, WaitMode::FirstException, None);
                assert_eq!(done.len(), 1);
                // One that ended well cannot end a wait for the first exception.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    wait(&mixed, WaitMode::FirstException, None)
                }));
                assert!(result.is_err(), "a wait for an exception that cannot come");
                // With a timeout, the wait ends.
                let (_, not_done) = wait(
                    std::slice::from_ref(&me),
                    WaitMode::AllCompleted,
                    Some(Duration::ZERO),
                );
                assert_eq!(not_done.len(), 1);
                // Without one, waiting for every future, or for its own alone, never ends.
                let _ = wait(&mixed, WaitMode::AllCompleted, None);
                unreachable!("the wait for itself returned");
            })
            .named("waits_with_wait")
            .submit(());
        tx.send(me.clone()).unwrap();
        let error = me.result().unwrap_err().to_string();
        assert!(error.contains("`waits_with_wait`"), "{error}");
        assert!(error.contains("never end"), "{error}");
        assert!(!error.contains("unreachable"), "{error}");
        // Its own future alone, in any mode.
        for mode in [
            WaitMode::FirstCompleted,
            WaitMode::AllCompleted,
            WaitMode::FirstException,
        ] {
            let (tx, rx) = mpsc::channel::<Future<i64>>();
            let rx = Mutex::new(rx);
            let me = client.submit(
                move || -> i64 {
                    let me = rx.lock().unwrap().recv().unwrap();
                    let _ = wait(&[me], mode, None);
                    1
                },
                (),
            );
            tx.send(me.clone()).unwrap();
            let error = me.result().unwrap_err().to_string();
            assert!(error.contains("never end"), "{mode:?}: {error}");
        }
    });
}

/// `as_completed` in a task over its own future: the next future it waits for can
/// only be one that another future ends; when none can, the task fails with the
/// message rather than hang.
#[test]
fn a_task_iterating_its_own_future_as_completed_fails_rather_than_hang() {
    watchdog::within(
        Duration::from_secs(20),
        "self wait through as_completed",
        || {
            let client = client(2);
            let (tx, rx) = mpsc::channel::<Future<i64>>();
            let rx = Mutex::new(rx);
            let me = client
                .task(move || -> i64 {
                    let me = rx.lock().unwrap().recv().unwrap();
                    let client = get_client().unwrap();
                    let other = client.submit(|| 5i64, ());
                    let mut both = as_completed([me.clone(), other]);
                    // The other one ends: it is yielded.
                    assert_eq!(both.next().unwrap().result().unwrap(), 5);
                    // With a timeout, the wait ends.
                    assert!(both.next_timeout(Duration::ZERO).is_err());
                    // Only itself is left: the next wait could never end.
                    both.next();
                    unreachable!("the wait for itself returned");
                })
                .named("iterates_itself")
                .submit(());
            tx.send(me.clone()).unwrap();
            let error = me.result().unwrap_err().to_string();
            assert!(error.contains("`iterates_itself`"), "{error}");
            assert!(error.contains("never end"), "{error}");
            assert!(!error.contains("unreachable"), "{error}");
        },
    );
}

#[test]
fn nested_waits_on_a_one_thread_client() {
    watchdog::within(LIMIT, "nested waits", || {
        let client = client(1);
        fn level(n: u32) -> i64 {
            if n == 0 {
                return 1;
            }
            let client = get_client().unwrap();
            let a = client.submit(level, (n - 1,));
            let b = client.submit(level, (n - 1,));
            a.result().unwrap() + b.result().unwrap()
        }
        assert_eq!(client.submit(level, (6,)).result().unwrap(), 64);
    });
}

#[test]
fn many_dependents_of_a_failing_root_on_a_small_stack() {
    watchdog::within(LIMIT, "fan-out failure", || {
        on_small_stack(|| {
            let client = client(2);
            let (rx, tx) = gate();
            let root = client.submit(
                move || -> i64 {
                    rx.lock().unwrap().recv().unwrap();
                    panic!("root fails")
                },
                (),
            );
            let deps: Vec<_> = (0..100_000).map(|_| client.submit(inc, (&root,))).collect();
            tx.send(()).unwrap();
            let errors = deps.iter().filter(|d| d.result().is_err()).count();
            assert_eq!(errors, 100_000);
            assert!(deps[0]
                .result()
                .unwrap_err()
                .to_string()
                .contains("root fails"));
        })
    });
}

#[test]
fn a_long_chain_cancelled_at_the_root_on_a_small_stack() {
    watchdog::within(Duration::from_secs(120), "chain cancel", || {
        on_small_stack(|| {
            let client = client(2);
            let (rx, tx) = gate();
            let root = client.submit(
                move || {
                    let _ = rx.lock().unwrap().recv();
                    0i64
                },
                (),
            );
            let mut last = client.submit(inc, (&root,));
            let mut keep = Vec::new();
            for i in 0..1_000_000 {
                let next = client.submit(inc, (&last,));
                if i % 1000 == 0 {
                    keep.push(last);
                }
                last = next;
            }
            root.cancel();
            assert!(last.result().is_err());
            drop(tx);
            drop(keep);
            drop(last);
        })
    });
}

#[test]
fn a_long_chain_dropped_unstarted_on_a_small_stack() {
    watchdog::within(Duration::from_secs(120), "chain drop", || {
        on_small_stack(|| {
            let client = client(2);
            let (rx, tx) = gate();
            let root = client.submit(
                move || {
                    let _ = rx.lock().unwrap().recv();
                    0i64
                },
                (),
            );
            let mut last = client.submit(inc, (&root,));
            for _ in 0..1_000_000 {
                last = client.submit(inc, (last,));
            }
            // Dropping the last handle cancels the chain's end; what it held goes too.
            drop(last);
            drop(tx);
            assert_eq!(root.result().unwrap(), 0);
        })
    });
}

#[test]
fn map_over_nothing_and_over_duplicates() {
    watchdog::within(LIMIT, "map edge cases", || {
        let client = client(2);
        let none = client.map(inc, Vec::<i64>::new());
        assert!(none.is_empty());
        assert!(client.gather(&none).unwrap().is_empty());
        assert_eq!(as_completed(none).count(), 0);
        let dup = client.map(inc, vec![1, 1, 1]);
        assert_eq!(client.gather(&dup).unwrap(), vec![2, 2, 2]);
        let x = client.submit(inc, (0,));
        let fs = client.map(inc, vec![&x, &x, &x]);
        assert_eq!(client.gather(&fs).unwrap(), vec![2, 2, 2]);
        let fs = client.map(inc, vec![x.clone(), x.clone()]);
        drop(x);
        assert_eq!(client.gather(&fs).unwrap(), vec![2, 2]);
    });
}

#[test]
fn done_callbacks_that_panic() {
    watchdog::within(LIMIT, "panicking callbacks", || {
        let client = client(1);
        let calls = Arc::new(AtomicUsize::new(0));
        let (rx, tx) = gate();
        let f = client.submit(
            move || {
                rx.lock().unwrap().recv().unwrap();
                1i64
            },
            (),
        );
        f.add_done_callback(|_| panic!("callback panics"));
        let c = calls.clone();
        f.add_done_callback(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        });
        let dep = client.submit(inc, (&f,));
        tx.send(()).unwrap();
        assert_eq!(dep.result().unwrap(), 2);
        assert_eq!(f.result().unwrap(), 1);
        // The pool survives the callback's panic.
        assert_eq!(client.submit(inc, (5,)).result().unwrap(), 6);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // On a future already done, the callback runs here.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            f.add_done_callback(|_| panic!("at once"))
        }));
        assert!(r.is_err());
        assert_eq!(f.result().unwrap(), 1);
    });
}

/// The warnings printed so far, collected by one handler for the whole process
/// (installed at the first call): tests that look for theirs run in parallel.
fn warnings() -> &'static Mutex<Vec<String>> {
    static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        taskweave::on_warning(|message| {
            (WARNINGS.lock().unwrap_or_else(|e| e.into_inner())).push(message.to_owned())
        })
    });
    &WARNINGS
}

/// A done callback that panics on a pool thread: the panic hook prints only the
/// callback's own line, and the panic goes no further. A warning names the task whose
/// callback it was and where it was submitted, with the panic's message.
#[test]
fn a_panicking_done_callback_is_named_by_its_task() {
    watchdog::within(LIMIT, "callback panic named", || {
        let warnings = warnings();
        let client = client(1);
        let (rx, tx) = gate();
        let f = client
            .task(move || {
                rx.lock().unwrap().recv().unwrap();
                1i64
            })
            .named("has_a_bad_callback")
            .submit(());
        f.add_done_callback(|_| panic!("the callback's own panic"));
        tx.send(()).unwrap();
        assert_eq!(f.result().unwrap(), 1);
        // The callback runs on the pool thread after the end: the next task runs after it.
        assert_eq!(client.submit(inc, (1,)).result().unwrap(), 2);
        let warnings = warnings.lock().unwrap();
        let named = warnings
            .iter()
            .find(|w| w.contains("`has_a_bad_callback`"))
            .unwrap_or_else(|| panic!("no warning names the task: {warnings:?}"));
        assert!(named.contains("futures_probes.rs"), "{named}");
        assert!(named.contains("the callback's own panic"), "{named}");
    });
}

#[test]
fn a_future_dropped_while_running() {
    watchdog::within(LIMIT, "drop running", || {
        let client = client(1);
        let (started_tx, started_rx) = mpsc::channel();
        let started_tx = Mutex::new(started_tx);
        let f = client.submit(
            move || {
                started_tx.lock().unwrap().send(()).unwrap();
                while !taskweave::cancelled() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                1i64
            },
            (),
        );
        let dep = client.submit(inc, (&f,));
        started_rx.recv().unwrap();
        drop(f);
        // `dep` still holds the task: it is not cancelled.
        assert_eq!(dep.status(), Status::Pending);
        dep.cancel();
        assert_eq!(client.submit(inc, (1,)).result().unwrap(), 2);
    });
}

#[test]
fn client_dropped_while_tasks_submit_tasks() {
    watchdog::within(LIMIT, "drop while spawning", || {
        let client = client(2);
        /// A tree without end: each task submits two more and waits for them, holding
        /// the client only while it submits, so that the user's drop is the last.
        fn spawner(depth: u32) -> u64 {
            let kids: Vec<_> = {
                let Some(client) = get_client() else {
                    return 0;
                };
                (0..2)
                    .map(|_| client.submit(spawner, (depth + 1,)))
                    .collect()
            };
            kids.iter().map(|k| k.result().unwrap_or(0)).sum::<u64>() + 1
        }
        let root = client.submit(spawner, (0,));
        std::thread::sleep(Duration::from_millis(50));
        drop(client);
        // The shutdown cancelled what had not started; the tree ends.
        let _ = root.result();
    });
}

#[test]
fn client_dropped_inside_a_done_callback() {
    watchdog::within(LIMIT, "drop in callback", || {
        let client = client(2);
        let (rx, tx) = gate();
        let f = client.submit(
            move || {
                rx.lock().unwrap().recv().unwrap();
                1i64
            },
            (),
        );
        let (done_tx, done_rx) = mpsc::channel();
        let holder = Mutex::new(Some(client));
        f.add_done_callback(move |_| {
            drop(holder.lock().unwrap().take());
            done_tx.send(()).unwrap();
        });
        tx.send(()).unwrap();
        done_rx.recv().unwrap();
        assert_eq!(f.result().unwrap(), 1);
    });
}

#[test]
fn client_dropped_inside_a_callback_run_by_cancel_on_the_callers_thread() {
    watchdog::within(LIMIT, "drop in callback on caller", || {
        let client = client(1);
        let (rx, tx) = gate();
        let f = client.submit(
            move || {
                let _ = rx.lock().unwrap().recv();
                1i64
            },
            (),
        );
        let pending = client.submit(inc, (&f,));
        let holder = Mutex::new(Some(client));
        pending.add_done_callback(move |_| drop(holder.lock().unwrap().take()));
        drop(tx);
        pending.cancel();
        assert!(pending.result().is_err());
    });
}

#[test]
fn a_done_callback_waits_for_a_pending_future_on_a_one_thread_client() {
    watchdog::within(LIMIT, "callback waits", || {
        let client = client(1);
        // Held until its callback is added: a future that has ended runs a callback at
        // once on the caller's thread, which would then wait for `later`, whose gate
        // only it opens.
        let (first_rx, first_tx) = gate();
        let first = client.submit(
            move || {
                first_rx.lock().unwrap().recv().unwrap();
                inc(1)
            },
            (),
        );
        let (rx, tx) = gate();
        let later = client.submit(
            move || {
                rx.lock().unwrap().recv().unwrap();
                10i64
            },
            (),
        );
        let (got_tx, got_rx) = mpsc::channel();
        let waited = later.clone();
        let got_tx = Mutex::new(got_tx);
        first.add_done_callback(move |_| {
            // On the pool's only thread, before its next task: `later` needs a thread.
            got_tx.lock().unwrap().send(waited.result()).unwrap();
        });
        first_tx.send(()).unwrap();
        first.result().unwrap();
        tx.send(()).unwrap();
        assert_eq!(got_rx.recv().unwrap().unwrap(), 10);
    });
}

#[test]
fn cancelled_and_timed_out_errors_name_the_call_site() {
    watchdog::within(LIMIT, "error call sites", || {
        let client = client(1);
        let (rx, tx) = gate();
        let blocker = client.submit(
            move || {
                let _ = rx.lock().unwrap().recv();
                0i64
            },
            (),
        );
        let timeout = blocker
            .result_timeout(Duration::ZERO)
            .unwrap_err()
            .to_string();
        assert!(timeout.contains("futures_probes.rs:"), "{timeout}");
        let dependent = client.submit(inc, (&blocker,));
        blocker.cancel();
        for error in [
            blocker.result().unwrap_err(),
            dependent.result().unwrap_err(),
        ] {
            let text = error.to_string();
            assert!(text.contains("futures_probes.rs:"), "{text}");
        }
        drop(tx);
    });
}

/// A pure `Delayed` call keyed by a borrowed future (`.call(&future)`, which did not
/// compile: "`a` does not live long enough … borrowed for `'static`") is keyed by the
/// future's task, as a future passed by value is, and as `TaskBuilder::pure` keys
/// futures: the same future twice is one node, two futures (of equal values) two.
#[test]
fn pure_delayed_call_on_a_borrowed_future_is_keyed_by_its_task() {
    watchdog::within(LIMIT, "pure delayed on &future", || {
        let c = client(2);
        let (a, b) = (c.submit(inc, (1,)), c.submit(inc, (1,)));
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let times_ten = delayed(move |x: i64| {
            counted.fetch_add(1, Ordering::SeqCst);
            x * 10
        })
        .pure();
        let (a1, a2, b1) = (times_ten.call(&a), times_ten.call(&a), times_ten.call(&b));
        assert_eq!(a1.key(), a2.key(), "one future twice: one node");
        assert_ne!(a1.key(), b1.key(), "two futures: two nodes");
        // By value or borrowed, the same argument.
        assert_eq!(times_ten.call(a.clone()).key(), a1.key());
        // A `'static` borrow is keyed the same way (no ambiguity between kinds of key).
        let forever: &'static Future<i64> = Box::leak(Box::new(a.clone()));
        assert_eq!(times_ten.call(forever).key(), a1.key());
        assert_eq!(taskweave::compute((&a1, &a2, &b1)), (20, 20, 20));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    });
}

/// `wait(.., AllCompleted, None)` in a task for the children it submitted, recursively
/// (fib-style) on a one-thread client: the waiting thread runs the children it needs
/// itself, as `result` and `gather` do, rather than blocking and handing its place to
/// a new thread at every level (fib(14): 207 threads; fib(22): 28,000 threads and two
/// minutes).
#[test]
fn recursive_waits_for_all_run_the_children_on_the_waiting_thread() {
    static THREADS: Mutex<Vec<std::thread::ThreadId>> = Mutex::new(Vec::new());
    fn fib(n: u32) -> u64 {
        let me = std::thread::current().id();
        let mut threads = THREADS.lock().unwrap();
        if !threads.contains(&me) {
            threads.push(me);
        }
        drop(threads);
        if n < 2 {
            return n.into();
        }
        let client = get_client().unwrap();
        let children = [client.submit(fib, (n - 1,)), client.submit(fib, (n - 2,))];
        let (done, not_done) = taskweave::wait(&children, taskweave::WaitMode::AllCompleted, None);
        assert!(not_done.is_empty());
        done.iter().map(|f| f.result().unwrap()).sum()
    }
    watchdog::within(LIMIT, "recursive waits for all", || {
        let client = client(1);
        assert_eq!(client.submit(fib, (14,)).result().unwrap(), 377);
        let threads = THREADS.lock().unwrap().len();
        assert!(threads <= 4, "{threads} threads ran the tasks");
    });
}

/// The threads that ran a recursive test's tasks, each once.
fn record_thread(threads: &Mutex<Vec<std::thread::ThreadId>>) {
    let me = std::thread::current().id();
    let mut threads = threads.lock().unwrap();
    if !threads.contains(&me) {
        threads.push(me);
    }
}

/// `as_completed` in a task over the children it submitted, recursively (fib-style)
/// on a one-thread client: a wait for any one runs the first awaited child still
/// queued on the waiting thread, as a wait for all does, rather than blocking and
/// handing its place to a new thread at every level (fib(18): over 1,025 threads and
/// 3.9 s in a debug build).
#[test]
fn recursive_as_completed_runs_a_child_on_the_waiting_thread() {
    static THREADS: Mutex<Vec<std::thread::ThreadId>> = Mutex::new(Vec::new());
    fn fib(n: u32) -> u64 {
        record_thread(&THREADS);
        if n < 2 {
            return n.into();
        }
        let client = get_client().unwrap();
        let children = [client.submit(fib, (n - 1,)), client.submit(fib, (n - 2,))];
        taskweave::as_completed(children)
            .map(|f| f.result().unwrap())
            .sum()
    }
    watchdog::within(LIMIT, "recursive as_completed", || {
        let client = client(1);
        assert_eq!(client.submit(fib, (18,)).result().unwrap(), 2584);
        let threads = THREADS.lock().unwrap().len();
        assert!(threads <= 4, "{threads} threads ran the tasks");
    });
}

/// The same with `wait(.., FirstCompleted, None)`, then `result` of the other child.
#[test]
fn recursive_waits_for_the_first_run_a_child_on_the_waiting_thread() {
    static THREADS: Mutex<Vec<std::thread::ThreadId>> = Mutex::new(Vec::new());
    fn fib(n: u32) -> u64 {
        record_thread(&THREADS);
        if n < 2 {
            return n.into();
        }
        let client = get_client().unwrap();
        let children = [client.submit(fib, (n - 1,)), client.submit(fib, (n - 2,))];
        let (done, not_done) =
            taskweave::wait(&children, taskweave::WaitMode::FirstCompleted, None);
        assert!(!done.is_empty());
        done.iter()
            .chain(&not_done)
            .map(|f| f.result().unwrap())
            .sum()
    }
    watchdog::within(LIMIT, "recursive waits for the first", || {
        let client = client(1);
        assert_eq!(client.submit(fib, (18,)).result().unwrap(), 2584);
        let threads = THREADS.lock().unwrap().len();
        assert!(threads <= 4, "{threads} threads ran the tasks");
    });
}

/// A wait for any one in a task runs the first awaited future still queued in the
/// order it was given (not the order of submission, nor a hash's): on a one-thread
/// client, `as_completed` over children given in reverse yields them in reverse, each
/// run on the waiting thread, and a future added while iterating comes after them.
#[test]
fn as_completed_in_a_task_runs_the_awaited_futures_in_the_given_order() {
    watchdog::within(LIMIT, "as_completed order", || {
        let client = client(1);
        let outer = client.submit(
            || -> (Vec<u64>, bool) {
                let client = get_client().unwrap();
                let me = std::thread::current().id();
                let here = Arc::new(AtomicUsize::new(0));
                let child = |i: u64| {
                    let here = here.clone();
                    client.submit(
                        move |i: u64| {
                            if std::thread::current().id() == me {
                                here.fetch_add(1, Ordering::SeqCst);
                            }
                            i
                        },
                        (i,),
                    )
                };
                let children: Vec<_> = (0..6).map(child).collect();
                let last = child(6);
                let mut order = Vec::new();
                let mut pending = taskweave::as_completed(children.into_iter().rev());
                pending.add(last);
                for f in pending {
                    order.push(f.result().unwrap());
                }
                (order, here.load(Ordering::SeqCst) == 7)
            },
            (),
        );
        let (order, all_here) = outer.result().unwrap();
        assert_eq!(order, [5, 4, 3, 2, 1, 0, 6]);
        assert!(all_here, "every child ran on the waiting thread");
    });
}

/// `as_completed` in a task yields each future exactly once, whether it had finished,
/// failed or been cancelled before the iteration, or is still queued (then run on the
/// waiting thread), a failure among those included.
#[test]
fn as_completed_in_a_task_yields_each_future_once_however_it_ends() {
    watchdog::within(LIMIT, "as_completed of mixed ends", || {
        let client = client(1);
        let outer = client.submit(
            || -> Vec<(u64, Status)> {
                let client = get_client().unwrap();
                let ok = |i: u64| client.submit(|i: u64| i, (i,));
                let fails = |i: u64| {
                    client.submit(
                        |i: u64| -> u64 {
                            if i < 100 {
                                panic!("child {i} fails");
                            }
                            i
                        },
                        (i,),
                    )
                };
                let done = ok(0);
                let failed = fails(1);
                let _ = done.result();
                let _ = failed.result();
                let cancelled = ok(2);
                cancelled.cancel();
                let queued = [ok(3), fails(4), ok(5)];
                let cancelled_queued = ok(6);
                let numbered = [
                    (3, &queued[0]),
                    (0, &done),
                    (1, &failed),
                    (2, &cancelled),
                    (4, &queued[1]),
                    (5, &queued[2]),
                    (6, &cancelled_queued),
                ];
                let keys: std::collections::HashMap<String, u64> =
                    numbered.iter().map(|(i, f)| (f.key(), *i)).collect();
                let pending = taskweave::as_completed(numbered.iter().map(|(_, f)| (*f).clone()));
                let mut seen = Vec::new();
                let mut first = true;
                for f in pending {
                    if first {
                        // Cancelled while the iteration goes on: still yielded once.
                        cancelled_queued.cancel();
                        first = false;
                    }
                    seen.push((keys[&f.key()], f.status()));
                }
                seen
            },
            (),
        );
        let mut seen = outer.result().unwrap();
        seen.sort_by_key(|(i, _)| *i);
        let indices: Vec<u64> = seen.iter().map(|(i, _)| *i).collect();
        assert_eq!(indices, [0, 1, 2, 3, 4, 5, 6], "{seen:?}");
        let statuses: Vec<Status> = seen.iter().map(|(_, s)| *s).collect();
        assert_eq!(
            statuses,
            [
                Status::Finished,
                Status::Error,
                Status::Cancelled,
                Status::Finished,
                Status::Error,
                Status::Finished,
                Status::Cancelled
            ],
            "{seen:?}"
        );
    });
}

/// A gather asleep on a gated future, its list long, while futures of another client
/// end without a result (cancelled): once such ends have woken it, it watches only its
/// own futures, and still stops at once when one of them, later in its list, is
/// cancelled from another thread (a finished one, released) or fails. `finished` and
/// `fails` are where the gather is told to stop; the gated future is let go last.
fn gather_stops_at_its_own_end_after_ends_elsewhere(
    stop: impl FnOnce(&Future<i64>, &mpsc::Sender<()>) + Send + 'static,
) -> FutureError {
    let client = client(2);
    let other = client_named("elsewhere");
    let (rx, open) = gate();
    let gated = client.submit(move || rx.lock().unwrap().recv().map_or(0, |()| 0i64), ());
    let finished = client.submit(|| 1i64, ());
    finished.result().unwrap();
    let (fail_rx, fail) = gate();
    let fails = client
        .task(move || -> i64 {
            let _ = fail_rx.lock().unwrap().recv();
            panic!("fails later in the list")
        })
        .named("fails")
        .submit(());
    let mut list: Vec<Future<i64>> = vec![gated.clone()];
    list.extend((0..1_000).map(|_| client.submit(inc, (&gated,))));
    list.push(finished.clone());
    list.push(fails);
    let gatherer = {
        let client = client.clone();
        std::thread::spawn(move || client.gather(&list))
    };
    let (other_rx, other_open) = gate();
    let other_gated = other.submit(
        move || other_rx.lock().unwrap().recv().map_or(0, |()| 0i64),
        (),
    );
    // The gather is asleep by then, as a rule (the shape holds either way): each
    // cancel below ends a future it does not hold.
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..20 {
        other.submit(inc, (&other_gated,)).cancel();
        std::thread::sleep(Duration::from_millis(2));
    }
    // (`fail` is kept here: dropped, it would let `fails` go.)
    let fail_then = fail.clone();
    let stopper = std::thread::spawn(move || stop(&finished, &fail_then));
    let error = gatherer.join().unwrap().unwrap_err();
    stopper.join().unwrap();
    other_open.send(()).unwrap();
    open.send(()).unwrap();
    drop(fail);
    error
}

/// A client of one thread, named.
fn client_named(name: &str) -> Client {
    Client::builder().threads(1).name(name).build().unwrap()
}

/// A finished future of the list, cancelled (released): the gather returns `Cancelled`.
#[test]
fn a_gather_woken_by_ends_elsewhere_stops_at_a_cancel_of_its_own_finished_future() {
    watchdog::within(LIMIT, "gather, own finished future cancelled", || {
        let error = gather_stops_at_its_own_end_after_ends_elsewhere(|finished, _| {
            finished.cancel();
        });
        assert!(matches!(error, FutureError::Cancelled { .. }), "{error:?}");
    });
}

/// A future of the list, after the gated one, fails: the gather returns its error.
#[test]
fn a_gather_woken_by_ends_elsewhere_stops_at_a_failure_of_its_own_future() {
    watchdog::within(LIMIT, "gather, own future fails", || {
        let error = gather_stops_at_its_own_end_after_ends_elsewhere(|_, fail| {
            fail.send(()).unwrap();
        });
        assert!(
            error.to_string().contains("fails later in the list"),
            "{error}"
        );
    });
}

/// A task gathers `[its own future, other]`, `other` gated: the gather waits while
/// `other` may still fail (its failure would end the gather, as Dask's stops at the
/// first), then ends with `other`'s error, or, once `other` has finished well, with
/// the error that the wait would never end (not a hang).
fn gather_of_own_future_and(other_fails: bool) -> String {
    let client = client(2);
    let (rx, open) = gate();
    let other = client
        .task(move || -> Result<i64, String> {
            let _ = rx.lock().unwrap().recv();
            match other_fails {
                true => panic!("other fails"),
                false => Ok(1),
            }
        })
        .named("other")
        .submit(());
    let (tx, me_rx) = mpsc::channel::<Future<Result<i64, String>>>();
    let me_rx = Mutex::new(me_rx);
    let me = client
        .task(move || -> Result<i64, String> {
            let me = me_rx.lock().unwrap().recv().unwrap();
            let gathered = get_client().unwrap().gather(&[me, other.clone()]);
            Err(gathered.unwrap_err().to_string())
        })
        .named("gathers_itself")
        .submit(());
    tx.send(me.clone()).unwrap();
    // The gather is asleep by then, as a rule (the outcome is the same if not).
    std::thread::sleep(Duration::from_millis(100));
    assert!(!me.done(), "refused while `other` could still fail");
    open.send(()).unwrap();
    me.result().unwrap().unwrap_err()
}

/// `other` fails: the gather returns its error.
#[test]
fn a_gather_of_its_own_future_ends_at_another_future_s_failure() {
    watchdog::within(LIMIT, "gather of own future, other fails", || {
        let message = gather_of_own_future_and(true);
        assert!(message.contains("other fails"), "{message}");
    });
}

/// `other` finishes well: the gather fails, naming the task waiting for itself.
#[test]
fn a_gather_of_its_own_future_fails_once_the_others_have_finished() {
    watchdog::within(LIMIT, "gather of own future, other finishes", || {
        let message = gather_of_own_future_and(false);
        assert!(message.contains("`gathers_itself`"), "{message}");
        assert!(message.contains("never end"), "{message}");
    });
}

/// A value whose `Drop` panics (unless the thread is unwinding already).
struct PanicsOnDrop(i64);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("the captured value's drop panics");
        }
    }
}

/// A submitted closure whose captured value panics when dropped: the function is
/// dropped after the call, before the task ends, and that panic left the task unended
/// (its `result` waited forever). The task now ends with its value, and a warning
/// names it.
#[test]
fn a_task_whose_function_panics_when_dropped_ends() {
    watchdog::within(LIMIT, "own function's drop panics", || {
        let warnings = warnings();
        let client = client(1);
        let own = client.submit(
            {
                let guard = PanicsOnDrop(7);
                move || {
                    let guard = &guard;
                    guard.0 + 1
                }
            },
            (),
        );
        assert_eq!(own.result().unwrap(), 8);
        // The pool goes on, and the client's drop returns.
        assert_eq!(client.submit(inc, (1,)).result().unwrap(), 2);
        drop(client);
        let warnings = warnings.lock().unwrap();
        assert!(
            (warnings.iter()).any(|w| w.contains("futures_probes.rs")
                && w.contains("panicked when dropped")
                && w.contains("the captured value's drop panics")),
            "no warning names the task: {warnings:?}"
        );
    });
}

/// A builder's function (`client.map`) whose captured value panics when dropped, its
/// tasks run by a task's `as_completed` on the waiting thread: the last of its jobs
/// drops it wherever that job goes (here a worker's spent batch), and that panic ended
/// the worker, so that the client's drop then waited for it forever.
#[test]
fn a_builder_s_function_that_panics_when_dropped_ends_no_worker() {
    watchdog::within(LIMIT, "shared function's drop panics", || {
        let warnings = warnings();
        let client = client(1);
        let sum = client.submit(
            || -> i64 {
                let client = get_client().unwrap();
                let guard = PanicsOnDrop(5);
                let children = client
                    .task(move |x: i64| {
                        let guard = &guard;
                        x + guard.0
                    })
                    .named("drops_badly")
                    .map(0..3);
                taskweave::as_completed(children)
                    .map(|f| f.result().unwrap())
                    .sum()
            },
            (),
        );
        assert_eq!(sum.result().unwrap(), 18);
        assert_eq!(client.submit(inc, (1,)).result().unwrap(), 2);
        drop(client);
        let warnings = warnings.lock().unwrap();
        assert!(
            (warnings.iter())
                .any(|w| w.contains("`drops_badly`") && w.contains("panicked when dropped")),
            "no warning names the task: {warnings:?}"
        );
    });
}
