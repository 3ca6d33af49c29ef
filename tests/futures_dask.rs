//! Dask parity of the futures front end, each test checking what the Dask program in
//! its comment does: tasks whose `Err` is an error (`raise` in a Dask task),
//! `gather(errors='skip')`, `scatter` of a list, pure submissions (`pure=True`).

#[path = "support/watchdog.rs"]
mod watchdog;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use taskweave::prelude::*;
use taskweave::{
    FutureEvent, NodeOutcome, Observer, Pure, RunRecord, Status, TaskBuilder, TaskOutcome,
    TimedWait,
};

const LIMIT: Duration = Duration::from_secs(60);

fn client(threads: usize) -> Client {
    Client::builder()
        .threads(threads)
        .name("dask")
        .build()
        .unwrap()
}

/// A client of two threads watched by `observer`.
fn observed(observer: Arc<dyn Observer>) -> Client {
    Client::builder()
        .threads(2)
        .observer(observer)
        .build()
        .unwrap()
}

/// A typed error, as a Dask task's own exception class.
#[derive(Debug, Clone, PartialEq)]
struct MyErr(i64);

impl std::fmt::Display for MyErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "my error {}", self.0)
    }
}

/// `def div(a, b): if b == 0: raise MyErr(a); return a // b`
fn div(a: i64, b: i64) -> Result<i64, MyErr> {
    if b == 0 {
        Err(MyErr(a))
    } else {
        Ok(a / b)
    }
}

fn inc(x: i64) -> i64 {
    x + 1
}

fn task_error<T: std::fmt::Debug>(result: Result<T, FutureError>) -> Arc<TaskError> {
    match result {
        Err(FutureError::Task(error)) => error,
        other => panic!("expected a task error, got {other:?}"),
    }
}

// ---- tasks whose `Err` is an error ----------------------------------------------

/// Dask: `f = client.submit(div, 6, 0)` → `f.status == 'error'`, `f.exception()` is
/// the `MyErr(6)` raised, `f.result()` raises it; `client.submit(div, 6, 3)` is 2.
#[test]
fn a_fallible_tasks_err_ends_it_in_error_with_its_typed_error() {
    watchdog::within(LIMIT, "fallible err", || {
        let client = client(2);
        let div = client.task(div).fallible();
        let good = div.submit((6, 3));
        let bad = div.submit((6, 0));
        assert_eq!(good.result().unwrap(), 2);
        assert_eq!(good.status(), Status::Finished);

        let error = task_error(bad.result());
        assert_eq!(bad.status(), Status::Error);
        assert_eq!(error.task(), "div");
        assert_eq!(error.message(), "my error 6");
        assert_eq!(error.payload::<MyErr>(), Some(MyErr(6)));
        assert!(error.payload::<String>().is_none());
        assert!(error.to_string().starts_with("task `div` at "), "{error}");
        assert!(
            error.to_string().ends_with(" failed: my error 6"),
            "{error}"
        );
        // Where it was submitted, as a panicking task's error says.
        assert_eq!(error.call_site(), bad.call_site());

        let exception = bad.exception().unwrap().expect("an error");
        assert!(Arc::ptr_eq(&exception, &error));
        assert!(good.exception().unwrap().is_none());
    });
}

/// A fallible task's error that is not `Clone` (`std::io::Error`) is read typed by
/// reference through its future's shared error, as Dask's `except OSError as e:`
/// reads `e.errno` (`payload` needs a `Clone` type).
#[test]
fn a_fallible_tasks_io_error_is_read_by_reference() {
    watchdog::within(LIMIT, "fallible io error", || {
        let client = client(1);
        let open = client
            .task(|kind: u8| -> std::io::Result<i64> {
                let kind = match kind {
                    0 => return Ok(7),
                    1 => std::io::ErrorKind::NotFound,
                    _ => std::io::ErrorKind::PermissionDenied,
                };
                Err(std::io::Error::new(kind, "no way in"))
            })
            .fallible();
        let (good, missing, denied) = (open.submit((0,)), open.submit((1,)), open.submit((2,)));
        assert_eq!(good.result().unwrap(), 7);
        let error = task_error(missing.result());
        assert_eq!(error.message(), "no way in");
        let read = |e: &std::io::Error| (e.kind(), e.to_string());
        assert_eq!(
            error.with_payload(read),
            Some((std::io::ErrorKind::NotFound, "no way in".to_owned()))
        );
        // Of another type: `None`, and the closure does not run.
        assert_eq!(error.with_payload(|_: &MyErr| unreachable!()), None::<()>);
        // Another kind, another task: its own error.
        let error = task_error(denied.result());
        assert_eq!(
            error.with_payload(|e: &std::io::Error| e.kind()),
            Some(std::io::ErrorKind::PermissionDenied)
        );
        // The payload stays: read twice, through two handles of one error.
        let again = denied.exception().unwrap().expect("an error");
        assert_eq!(
            again.with_payload(|e: &std::io::Error| e.kind()),
            Some(std::io::ErrorKind::PermissionDenied)
        );
        // The closure holds no lock: it may read the same error again, here or on a
        // thread it waits for (it waited for ever on the payload's lock).
        let nested = again.with_payload(|outer: &std::io::Error| {
            let inner = again.with_payload(|e: &std::io::Error| e.kind());
            let shared = again.clone();
            let there =
                std::thread::spawn(move || shared.with_payload(|e: &std::io::Error| e.to_string()));
            (
                outer.kind(),
                inner,
                there.join().unwrap(),
                again.payload::<String>(),
            )
        });
        assert_eq!(
            nested,
            Some((
                std::io::ErrorKind::PermissionDenied,
                Some(std::io::ErrorKind::PermissionDenied),
                Some("no way in".to_owned()),
                None
            ))
        );
        assert_eq!(
            again.with_payload(|e: &std::io::Error| e.kind()),
            Some(std::io::ErrorKind::PermissionDenied)
        );
    });
}

/// Without `fallible`, a `Result` is the value (the behaviour Dask has for a task
/// that *returns* an exception object rather than raising it).
#[test]
fn without_fallible_an_err_is_a_finished_value() {
    watchdog::within(LIMIT, "plain result", || {
        let client = client(1);
        let f = client.submit(div, (6, 0));
        assert_eq!(f.result().unwrap(), Err(MyErr(6)));
        assert_eq!(f.status(), Status::Finished);
    });
}

/// Dask: `x = client.submit(div, 1, 0); y = client.submit(inc, x)` → `y.status ==
/// 'error'`, and `y.result()` raises `x`'s `MyErr(1)`, its traceback naming `div`.
#[test]
fn a_dependent_of_a_fallible_tasks_err_fails_with_the_original_error() {
    watchdog::within(LIMIT, "dependent of err", || {
        let client = client(2);
        let x = client.task(div).fallible().submit((1, 0));
        let y = client.submit(inc, (&x,));
        let z = client.submit(inc, (y.clone(),));
        let error = task_error(z.result());
        assert_eq!(error.task(), "div");
        assert_eq!(error.payload::<MyErr>(), Some(MyErr(1)));
        assert_eq!(y.status(), Status::Error);
        assert_eq!(z.status(), Status::Error);
        assert!(Arc::ptr_eq(&error, &task_error(x.result())));
    });
}

/// Fails on its first `fails` attempts, then returns the number of attempts.
fn flaky(attempts: Arc<AtomicUsize>, fails: usize) -> Result<i64, MyErr> {
    let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
    if attempt <= fails {
        Err(MyErr(attempt as i64))
    } else {
        Ok(attempt as i64)
    }
}

/// Dask: `client.submit(flaky, retries=2)` raising twice then returning runs three
/// times and finishes; raising every time, it runs three times and ends in error
/// with the last attempt's exception.
#[test]
fn a_fallible_tasks_err_is_retried() {
    watchdog::within(LIMIT, "retried err", || {
        let client = client(2);
        let flaky_task = client.task(flaky).fallible().retries(2);
        let attempts = Arc::new(AtomicUsize::new(0));
        let recovers = flaky_task.submit((attempts.clone(), 2));
        assert_eq!(recovers.result().unwrap(), 3);
        assert_eq!(attempts.load(Ordering::SeqCst), 3);

        let attempts = Arc::new(AtomicUsize::new(0));
        let never = flaky_task.submit((attempts.clone(), usize::MAX));
        let error = task_error(never.result());
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
        assert_eq!(error.payload::<MyErr>(), Some(MyErr(3)));
        assert_eq!(never.status(), Status::Error);
    });
}

/// Waits until the test opens the gate.
fn gate(rx: Arc<Mutex<mpsc::Receiver<()>>>) -> i64 {
    let _ = rx.lock().unwrap().recv();
    1
}

/// A task of `client` that runs until the returned sender opens its gate.
fn gated(client: &Client) -> (mpsc::Sender<()>, Future<i64>) {
    let (open, rx) = mpsc::channel::<()>();
    (open, client.submit(gate, (Arc::new(Mutex::new(rx)),)))
}

/// Dask's `wait(fs, return_when=FIRST_EXCEPTION)` (concurrent.futures'): returns as
/// soon as one future raised, while a slow one is still running.
#[test]
fn wait_first_exception_stops_at_a_fallible_tasks_err() {
    watchdog::within(LIMIT, "first exception", || {
        let client = client(2);
        let (open, slow) = gated(&client);
        let bad = client.task(div).fallible().submit((1, 0));
        let all = [slow.clone(), bad.clone()];
        let (done, not_done) = wait(&all, WaitMode::FirstException, None);
        assert_eq!(done, [bad]);
        assert_eq!(not_done.len(), 1);
        assert!(not_done[0] == slow && !slow.done());
        open.send(()).unwrap();
        assert_eq!(slow.result().unwrap(), 1);
    });
}

/// Dask's `client.gather([slow, bad])` raises `bad`'s exception as soon as `bad`
/// fails, while `slow` (before it in the list) still runs: it stops at the first
/// future that failed or was cancelled.
#[test]
fn gather_stops_at_a_failure_while_earlier_futures_run() {
    watchdog::within(LIMIT, "gather stops at a failure", || {
        let client = client(2);
        let (open, slow) = gated(&client);
        let bad = client.task(div).fallible().submit((1, 0));
        let error = task_error(client.gather(&[slow.clone(), bad.clone()]));
        assert_eq!(error.payload::<MyErr>(), Some(MyErr(1)));
        // `bad` had failed before this gather began.
        let error = task_error(client.gather(&[slow.clone(), bad]));
        assert_eq!(error.payload::<MyErr>(), Some(MyErr(1)));
        assert!(!slow.done());
        open.send(()).unwrap();
        assert_eq!(client.gather(&[slow]).unwrap(), [1]);
    });
}

/// Waits until the test opens the gate, then fails with `MyErr(7)`.
fn gate_then_fail(rx: Arc<Mutex<mpsc::Receiver<()>>>) -> Result<i64, MyErr> {
    let _ = rx.lock().unwrap().recv();
    Err(MyErr(7))
}

/// Dask's `client.gather([slow, bad])` waiting for `slow` wakes when `bad` fails or
/// is cancelled later, from another thread, and raises at once: a failure that comes
/// while the gather sleeps ends it, not only one seen when it began.
#[test]
fn gather_wakes_at_a_failure_or_cancel_after_it_began_to_wait() {
    watchdog::within(LIMIT, "gather wakes at a later failure", || {
        let client = client(3);
        let (open, slow) = gated(&client);
        let (fail, rx) = mpsc::channel::<()>();
        let bad = client
            .task(gate_then_fail)
            .fallible()
            .submit((Arc::new(Mutex::new(rx)),));
        let later = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            fail.send(()).unwrap();
        });
        let error = task_error(client.gather(&[slow.clone(), bad]));
        assert_eq!(error.payload::<MyErr>(), Some(MyErr(7)));
        later.join().unwrap();

        // Pending until `slow` ends, cancelled by another thread while the gather
        // sleeps on `slow`.
        let pending = client.submit(inc, (&slow,));
        let canceller = {
            let pending = pending.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                pending.cancel();
            })
        };
        assert!(matches!(
            client.gather(&[slow.clone(), pending]),
            Err(FutureError::Cancelled { .. })
        ));
        canceller.join().unwrap();
        assert!(!slow.done());
        open.send(()).unwrap();
        assert_eq!(slow.result().unwrap(), 1);
    });
}

/// Dask: `client.gather([slow, c])` after `c.cancel()` raises `CancelledError` at
/// once, `slow` still running (`c` here depends on `slow`); in a task too, where the gather waits as `result` does.
#[test]
fn gather_stops_at_a_cancel_in_a_task_too() {
    watchdog::within(LIMIT, "gather stops at a cancel", || {
        let client = client(2);
        let (open, slow) = gated(&client);
        // Pending until `slow` ends: only `slow` holds a thread, `outer` the other.
        let cancelled = client.submit(inc, (&slow,));
        let outer = {
            let (slow, cancelled) = (slow.clone(), cancelled.clone());
            client.submit(
                move || {
                    let client = taskweave::get_client().unwrap();
                    let gathered = client.gather(&[slow.clone(), cancelled.clone()]);
                    matches!(gathered, Err(FutureError::Cancelled { .. }))
                },
                (),
            )
        };
        cancelled.cancel();
        assert!(
            outer.result().unwrap(),
            "the gather in a task did not stop at the cancel"
        );
        assert!(matches!(
            client.gather(&[slow.clone(), cancelled]),
            Err(FutureError::Cancelled { .. })
        ));
        assert!(!slow.done());
        open.send(()).unwrap();
        assert_eq!(slow.result().unwrap(), 1);
    });
}

/// Dask: `client.cancel([a, b])` cancels both, even when a done callback of `a`
/// raises (Dask logs it). Here the callback's panic comes out of `cancel`, once both
/// are cancelled.
#[test]
fn client_cancel_cancels_every_future_when_a_callback_panics() {
    watchdog::within(LIMIT, "cancel with a panicking callback", || {
        let client = client(1);
        let (open, slow) = gated(&client);
        // Pending behind `slow` on the client's one thread.
        let a = client.submit(inc, (&slow,));
        let b = client.submit(inc, (&slow,));
        a.add_done_callback(|_| panic!("callback of a"));
        let cancelled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            client.cancel(&[a.clone(), b.clone()])
        }));
        assert!(
            cancelled.is_err(),
            "the callback's panic comes out of cancel"
        );
        assert_eq!(
            (a.status(), b.status()),
            (Status::Cancelled, Status::Cancelled)
        );
        open.send(()).unwrap();
        assert!(matches!(b.result(), Err(FutureError::Cancelled { .. })));
    });
}

/// Dask: `client.map(div, [6, 6, 6], [3, 0, 2])` → `[finished, error, finished]`,
/// and `client.gather` raises the erred one's exception.
#[test]
fn a_fallible_map_ends_each_task_on_its_own_result() {
    watchdog::within(LIMIT, "fallible map", || {
        let client = client(2);
        let futures = client
            .task(|(a, b): (i64, i64)| div(a, b))
            .fallible()
            .named("div")
            .map([(6, 3), (6, 0), (6, 2)]);
        let statuses: Vec<Status> = futures
            .iter()
            .map(|f| {
                let _ = f.result();
                f.status()
            })
            .collect();
        assert_eq!(
            statuses,
            [Status::Finished, Status::Error, Status::Finished]
        );
        let error = match client.gather(&futures) {
            Err(FutureError::Task(error)) => error,
            other => panic!("expected the erred one's error, got {other:?}"),
        };
        assert_eq!(error.payload::<MyErr>(), Some(MyErr(6)));
        assert_eq!(error.task(), "div");
    });
}

/// An observer sees a fallible task's `Err` as a failure, its retries as retries, as
/// Dask's scheduler plugins see the `erred` transition.
#[test]
fn observers_see_a_fallible_tasks_err_as_a_failure() {
    watchdog::within(LIMIT, "observed err", || {
        let record = Arc::new(RunRecord::new());
        let client = observed(record.clone());
        let attempts = Arc::new(AtomicUsize::new(0));
        let bad = client
            .task(flaky)
            .fallible()
            .retries(1)
            .submit((attempts, usize::MAX));
        let dependent = client.submit(inc, (&bad,));
        assert!(bad.result().is_err());
        assert!(dependent.result().is_err());
        assert_eq!(record.future_outcome(&bad), Some(NodeOutcome::Failed));
        while record.future_outcome(&dependent) != Some(NodeOutcome::Failed) {
            std::thread::yield_now();
        }
        let records = record.future_records();
        let bad_record = records.iter().find(|r| r.key == bad.key()).unwrap();
        assert_eq!(bad_record.outcome, NodeOutcome::Failed);
        assert_eq!(bad_record.retries, 1);
    });
}

/// A fallible task's `Err` fails its future as the same task's panic would: the same
/// status, the same task named, the same call site; only the message's source and
/// the error's wording ("failed" rather than "panicked") differ.
#[test]
fn a_fallible_tasks_err_fails_as_its_panic_would() {
    watchdog::within(LIMIT, "err like panic", || {
        let client = client(2);
        fn div_or_panic(a: i64, b: i64) -> Result<i64, MyErr> {
            if a < 0 {
                panic!("{}", MyErr(b));
            }
            div(a, b)
        }
        let task = client.task(div_or_panic).fallible();
        let returned = task.submit((1, 0));
        let panicked = task.submit((-1, 1));
        let returned_error = task_error(client.submit(inc, (&returned,)).result());
        let panicked_error = task_error(client.submit(inc, (&panicked,)).result());
        assert_eq!(returned.status(), panicked.status());
        assert_eq!(returned_error.task(), panicked_error.task());
        assert_eq!(returned_error.call_site(), panicked_error.call_site());
        assert_eq!(returned_error.message(), "my error 1");
        assert_eq!(panicked_error.message(), "my error 1");
        assert!(panicked_error.to_string().contains(" panicked: "));
        assert!(returned_error.to_string().contains(" failed: "));
    });
}

// ---- cancel of a finished future and its finished dependents --------------------

fn is_cancelled<T: std::fmt::Debug>(result: Result<T, FutureError>) -> bool {
    matches!(result, Err(FutureError::Cancelled { .. }))
}

/// Dask (`Scheduler.cancel_key` cancels a key's dependents, then the key):
/// `a = client.submit(inc, 1); b = client.submit(inc, a); c = client.submit(inc, b)`,
/// all finished, then `a.cancel()` → `a`, `b` and `c` are `'cancelled'` and their
/// `.result()` raises `CancelledError`: a dependent that finished is cancelled too,
/// and a dependent's dependent. A dependent still waiting for another future is
/// cancelled as well, and never runs.
#[test]
fn cancelling_a_finished_future_cancels_its_finished_dependents_transitively() {
    watchdog::within(LIMIT, "cancel finished dependents", || {
        let client = client(2);
        let a = client.submit(inc, (1,));
        let b = client.submit(inc, (&a,));
        let c = client.submit(inc, (&b,));
        assert_eq!(c.result().unwrap(), 4);
        let (open, slow) = gated(&client);
        let runs = Arc::new(AtomicUsize::new(0));
        let waiting = {
            let runs = runs.clone();
            client.submit(
                move |x: i64, _: i64| {
                    runs.fetch_add(1, Ordering::SeqCst);
                    x
                },
                (&b, &slow),
            )
        };
        a.cancel();
        for (name, f) in [("a", &a), ("b", &b), ("c", &c), ("waiting", &waiting)] {
            assert_eq!(f.status(), Status::Cancelled, "{name}");
            assert!(f.cancelled(), "{name}");
            assert!(is_cancelled(f.result()), "{name}");
            assert!(is_cancelled(f.result_shared()), "{name}");
        }
        // Submitted after: cancelled too, as before.
        assert!(is_cancelled(client.submit(inc, (&c,)).result()));
        open.send(()).unwrap();
        assert_eq!(slow.result().unwrap(), 1);
        assert!(is_cancelled(waiting.result()));
        assert_eq!(runs.load(Ordering::SeqCst), 0);
    });
}

/// Dask: a dependent that raised stays `'error'` when its dependency is cancelled
/// after (as the cancelled future itself would), while its finished sibling is
/// cancelled: `a.cancel()` leaves `bad.status == 'error'`, `bad.exception()` the
/// same, and `good.status == 'cancelled'`.
#[test]
fn a_failed_dependent_stays_failed_when_its_finished_dependency_is_cancelled() {
    watchdog::within(LIMIT, "failed dependent stays failed", || {
        let client = client(2);
        let div = client.task(div).fallible();
        let a = client.submit(inc, (5,));
        let bad = div.submit((&a, 0));
        let good = div.submit((&a, 2));
        assert_eq!(good.result().unwrap(), 3);
        let error = task_error(bad.result());
        assert_eq!(error.payload::<MyErr>(), Some(MyErr(6)));
        // A dependent of the failed one failed with it, and stays so too.
        let after_bad = client.submit(inc, (&bad,));
        assert!(after_bad.result().is_err());
        a.cancel();
        assert_eq!(a.status(), Status::Cancelled);
        assert_eq!(good.status(), Status::Cancelled);
        assert!(is_cancelled(good.result()));
        assert_eq!(bad.status(), Status::Error);
        assert!(Arc::ptr_eq(&task_error(bad.result()), &error));
        assert_eq!(after_bad.status(), Status::Error);
        assert!(Arc::ptr_eq(&task_error(after_bad.result()), &error));
    });
}

/// Counts its drops: when a released value is freed.
#[derive(Debug)]
struct Counted(i64, Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

/// Dask: a reader that took a finished dependent's value (`x = b.result()` in
/// Python keeps the object) keeps it when the dependency is cancelled, while later
/// reads of `b` raise `CancelledError`; the value is freed once that reader lets it
/// go, and a dependent's value no one read is freed at the cancel.
#[test]
fn a_read_value_of_a_finished_dependent_outlives_its_cancel_until_the_reader_drops_it() {
    watchdog::within(LIMIT, "shared value of a cancelled dependent", || {
        let client = client(2);
        let dropped = Arc::new(AtomicUsize::new(0));
        let a = client.submit(inc, (1,));
        let make = {
            let dropped = dropped.clone();
            move |x: i64| Counted(x, dropped.clone())
        };
        let b = client.submit(make.clone(), (&a,));
        let unread = client.submit(make, (&a,));
        let shared = b.result_shared().unwrap();
        assert!(unread.result_shared().is_ok_and(|c| c.0 == 2));
        // `unread`'s shared copy went at once: the value is only in its task.
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
        a.cancel();
        assert!(is_cancelled(b.result_shared()));
        assert!(is_cancelled(unread.result_shared()));
        assert_eq!(b.status(), Status::Cancelled);
        // `unread`'s value is freed; `b`'s is held by its reader.
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        assert_eq!(shared.0, 2);
        drop(shared);
        assert_eq!(dropped.load(Ordering::SeqCst), 2);
    });
}

/// A chain of 300,000 finished futures, each reading the one before, cancelled at
/// its root: every link is cancelled, from a work list (recursion, a frame per link,
/// overflows the watched thread's 2 MiB stack).
#[test]
fn cancelling_the_root_of_a_long_finished_chain_cancels_every_link_in_bounded_stack() {
    watchdog::within(LIMIT, "cancel a long finished chain", || {
        const LINKS: usize = 300_000;
        let client = client(1);
        let mut chain = Vec::with_capacity(LINKS);
        chain.push(client.submit(inc, (0,)));
        for i in 1..LINKS {
            let next = client.submit(inc, (&chain[i - 1],));
            chain.push(next);
        }
        assert_eq!(chain[LINKS - 1].result().unwrap(), LINKS as i64);
        chain[0].cancel();
        for (i, link) in chain.iter().enumerate() {
            assert_eq!(link.status(), Status::Cancelled, "link {i}");
        }
        assert!(is_cancelled(chain[LINKS - 1].result()));
    });
}

/// One future with 100,000 finished dependents, each with one of its own, cancelled:
/// every one of them is cancelled.
#[test]
fn cancelling_a_future_with_many_finished_dependents_cancels_them_all() {
    watchdog::within(LIMIT, "cancel a wide fan of finished dependents", || {
        const WIDE: usize = 100_000;
        let client = client(2);
        let root = client.submit(inc, (0,));
        let fan: Vec<Future<i64>> = (0..WIDE).map(|_| client.submit(inc, (&root,))).collect();
        let next: Vec<Future<i64>> = fan.iter().map(|f| client.submit(inc, (f,))).collect();
        assert!(client.gather(&next).unwrap().iter().all(|&x| x == 3));
        root.cancel();
        for (i, (f, n)) in fan.iter().zip(&next).enumerate() {
            assert_eq!(f.status(), Status::Cancelled, "dependent {i}");
            assert_eq!(n.status(), Status::Cancelled, "its dependent {i}");
        }
    });
}

// ---- gather(errors="skip") ------------------------------------------------------

fn boom(x: i64) -> i64 {
    panic!("boom {x}")
}

/// Dask (distributed 2026.8.0, run): `g` finished (1), `b` erred, `s` cancelled, `dep`
/// erred through `b`: `client.gather([g, b, s, dep, g], errors="skip")` is `[1, 1]`;
/// the default (`errors="raise"`) raises `b`'s error.
#[test]
fn gather_skip_leaves_out_erred_and_cancelled_futures() {
    watchdog::within(LIMIT, "gather skip", || {
        let client = client(2);
        let g = client.submit(|| 1i64, ());
        let b = client.submit(boom, (2,));
        let (_open, rx) = mpsc::channel::<()>();
        let s = client.submit(gate, (Arc::new(Mutex::new(rx)),));
        s.cancel();
        let dep = client.submit(inc, (&b,));
        let failed = client.task(div).fallible().submit((1, 0));
        let all = [g.clone(), b.clone(), s, dep, failed, g];
        assert_eq!(client.gather_skip(&all).unwrap(), [1, 1]);
        let error = task_error(client.gather(&all));
        assert_eq!(error.message(), "boom 2");
        assert!(client.gather_skip::<i64>(&[]).unwrap().is_empty());
    });
}

/// A wait that fails itself is no future's end: `gather_skip` inside a task over its
/// own future fails as `gather` does, rather than skipping it and returning.
#[test]
fn gather_skip_returns_a_failed_wait() {
    watchdog::within(LIMIT, "gather skip own future", || {
        let client = client(2);
        let (send, own) = mpsc::channel::<Future<i64>>();
        let own = Arc::new(Mutex::new(own));
        let task = client.submit(
            move || {
                let me = own.lock().unwrap().recv().unwrap();
                let client = taskweave::get_client().unwrap();
                match client.gather_skip(&[me]) {
                    Err(FutureError::WaitsForItself { .. }) => 1,
                    other => panic!("expected a wait for itself, got {other:?}"),
                }
            },
            (),
        );
        send.send(task.clone()).unwrap();
        assert_eq!(task.result().unwrap(), 1);
    });
}

// ---- scatter of a list ----------------------------------------------------------

/// Dask (run): `fs = client.scatter([1, 2, 3])` is a list of 3 futures, each
/// finished, `client.gather(fs) == [1, 2, 3]`; `client.map(inc, fs)` runs one task
/// per item. `client.scatter([1, 2, 3])` as one object stays one future here.
#[test]
fn scatter_each_gives_one_finished_future_per_item() {
    watchdog::within(LIMIT, "scatter each", || {
        let client = client(2);
        let fs = client.scatter_each(vec![1i64, 2, 3]);
        assert_eq!(fs.len(), 3);
        assert!(fs.iter().all(|f| f.status() == Status::Finished));
        assert_eq!(client.gather(&fs).unwrap(), [1, 2, 3]);
        let incs = client.map(inc, &fs);
        assert_eq!(client.gather(&incs).unwrap(), [2, 3, 4]);
        // Each its own key, equal items too (Dask's `hash=False`), all named
        // `scatter`, submitted here.
        let equal = client.scatter_each([5i64, 5]);
        assert_ne!(equal[0].key(), equal[1].key());
        assert_eq!(equal[0].name(), "scatter");
        assert!(equal[0].call_site().starts_with("tests/futures_dask.rs:"));
        assert_eq!(equal[0].call_site(), equal[1].call_site());
        // Shared, never copied: an item read as `Arc<T>` is the same allocation.
        let big = client.scatter_each([vec![0u8; 1 << 10]]);
        let shared = big[0].result_shared().unwrap();
        let seen = client.submit(move |v: Arc<Vec<u8>>| Arc::as_ptr(&v) as usize, (&big[0],));
        assert_eq!(seen.result().unwrap(), Arc::as_ptr(&shared) as usize);
        // The whole list as one object is one future, as before.
        let whole = client.scatter(vec![1i64, 2, 3]);
        assert_eq!(whole.result().unwrap(), [1, 2, 3]);
        assert!(client.scatter_each(Vec::<i64>::new()).is_empty());
    });
}

/// Dask (run; `hash=True` is `scatter`'s default): `a = client.scatter([1, 2, 3]); b
/// = client.scatter([1, 2, 3])` (each a list of one object here: `[[1, 2, 3]]`)
/// share a key; `client.scatter([5, 5, 6])` gives the two 5s one key; with
/// `hash=False` every one is a key of its own. `scatter_pure` and `scatter_each_pure`
/// are `hash=True`; `scatter` and `scatter_each` stay `hash=False`.
#[test]
fn scatter_pure_gives_equal_values_one_future() {
    watchdog::within(LIMIT, "scatter pure", || {
        let client = client(2);
        let a = client.scatter_pure(vec![1i64, 2, 3]);
        let b = client.scatter_pure(vec![1i64, 2, 3]);
        assert_eq!(a, b);
        assert_eq!(a.key(), b.key());
        assert_eq!(b.name(), "scatter");
        assert_eq!(b.status(), Status::Finished);
        // One value, kept once: both read the same allocation.
        let (va, vb) = (a.result_shared().unwrap(), b.result_shared().unwrap());
        assert!(Arc::ptr_eq(&va, &vb));
        assert_ne!(a, client.scatter_pure(vec![1i64, 2]));
        assert_ne!(a, client.scatter(vec![1i64, 2, 3]));
        // Keyed by type too, floats by their bits.
        assert_ne!(
            client.scatter_pure(1i64).key(),
            client.scatter_pure(1i32).key()
        );
        let half = client.scatter_pure(0.5f64);
        assert_eq!(half, client.scatter_pure(0.5f64));
        assert_ne!(client.scatter_pure(0.0f64), client.scatter_pure(-0.0f64));
        // One future per item, equal items one.
        let each = client.scatter_each_pure([5i64, 5, 6]);
        assert_eq!(each[0], each[1]);
        assert_ne!(each[0], each[2]);
        assert_eq!(client.gather(&each).unwrap(), [5, 5, 6]);
        // Equal futures are equal arguments of a pure task: one task.
        let pure_inc = client.task(inc).pure();
        assert_eq!(pure_inc.submit((&each[0],)), pure_inc.submit((&each[1],)));
        // Dependents read the kept value, however many hold it.
        let incs = client.map(inc, &each);
        assert_eq!(client.gather(&incs).unwrap(), [6, 6, 7]);
        let lens = client.submit(|v: Vec<i64>| v.len(), (b,));
        assert_eq!(lens.result().unwrap(), 3);
        assert_eq!(a.result().unwrap(), [1, 2, 3]);
    });
}

/// A scattered future released (cancelled: Dask's `client.cancel`) or whose handles
/// all went is not found: the value is scattered anew, as Dask scatters a released
/// key again. The handles of one share its fate.
#[test]
fn scatter_pure_of_a_released_value_scatters_it_anew() {
    watchdog::within(LIMIT, "scatter pure released", || {
        let client = client(2);
        let a = client.scatter_pure("data".to_string());
        let b = client.scatter_pure("data".to_string());
        a.cancel();
        assert!(matches!(b.result(), Err(FutureError::Cancelled { .. })));
        let c = client.scatter_pure("data".to_string());
        assert_ne!(c, b);
        assert_eq!(c.result().unwrap(), "data");
        let key = c.key();
        drop(c);
        let d = client.scatter_pure("data".to_string());
        assert_ne!(d.key(), key);
        assert_eq!(d.result().unwrap(), "data");
        // A dependent given the only handle reads it; found meanwhile, the value is
        // still there.
        let e = client.scatter_pure(vec![9u8; 8]);
        let (open, rx) = mpsc::channel::<()>();
        let rx = Arc::new(Mutex::new(rx));
        let held = client.submit(
            move |v: Vec<u8>, _: i64| v.len(),
            (e, client.submit(gate, (rx,))),
        );
        let f = client.scatter_pure(vec![9u8; 8]);
        open.send(()).unwrap();
        assert_eq!(held.result().unwrap(), 8);
        assert_eq!(f.result().unwrap(), [9u8; 8]);
    });
}

// ---- pure submissions -----------------------------------------------------------

/// Counts its calls in `calls`.
fn counted(calls: &AtomicUsize, x: i64) -> i64 {
    calls.fetch_add(1, Ordering::SeqCst);
    x + 1
}

/// A pure builder of a closure with state that counts its calls, and the count.
fn counting_pure(client: &Client) -> (Arc<AtomicUsize>, TaskBuilder<impl Fn(i64) -> i64, Pure>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    (calls, client.task(move |x: i64| counted(&c, x)).pure())
}

/// Called by one test only: tests run at once, and a count shared would be theirs.
static PURE_CALLS: AtomicUsize = AtomicUsize::new(0);

/// A fn item (no state): keyed by its type, through any builder.
fn counted_fn(x: i64) -> i64 {
    counted(&PURE_CALLS, x)
}

/// Dask (distributed 2026.8.0, run; `pure=True` is its default): `f1 =
/// client.submit(counted, 1); f2 = client.submit(counted, 1)` have one key, results
/// `2 2`, one call; `client.map(counted, [5, 5, 5])` has one key, `[6, 6, 6]`, one call.
/// taskweave's default stays impure (two calls), `.pure()` merges.
#[test]
fn pure_submissions_of_equal_calls_are_one_task() {
    watchdog::within(LIMIT, "pure equal calls", || {
        let client = client(2);
        let (calls, pure) = counting_pure(&client);
        let f1 = pure.submit((1,));
        let f2 = pure.submit((1,));
        assert_eq!(f1.key(), f2.key());
        assert_eq!(f1, f2);
        assert_eq!((f1.result().unwrap(), f2.result().unwrap()), (2, 2));
        let fs = pure.map([5, 5, 5]);
        assert!(fs.iter().all(|f| f.key() == fs[0].key()));
        assert_eq!(client.gather(&fs).unwrap(), [6, 6, 6]);
        // Another argument is another task.
        assert_eq!(pure.submit((2,)).result().unwrap(), 3);
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        // The default is impure: each submission runs (Dask's `pure=False`).
        let c = calls.clone();
        let impure = client.task(move |x: i64| counted(&c, x));
        let (a, b) = (impure.submit((1,)), impure.submit((1,)));
        assert_ne!(a.key(), b.key());
        assert_eq!((a.result().unwrap(), b.result().unwrap()), (2, 2));
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    });
}

/// A fn item is keyed by its type through any builder (as `delayed(f).pure()` from
/// two builders is one node); a closure with state through its own builder only.
#[test]
fn pure_keys_follow_the_function_as_delayed_ones_do() {
    watchdog::within(LIMIT, "pure function identity", || {
        let client = client(2);
        let before = PURE_CALLS.load(Ordering::SeqCst);
        let a = client.task(counted_fn).pure().submit((40,));
        let b = client.task(counted_fn).pure().submit((40,));
        assert_eq!(a.key(), b.key());
        assert_eq!(b.result().unwrap(), 41);
        assert_eq!(PURE_CALLS.load(Ordering::SeqCst) - before, 1);

        // Two builders of one closure type, each with its own state.
        let ((x_calls, x_builder), (y_calls, y_builder)) =
            (counting_pure(&client), counting_pure(&client));
        let (x, y) = (x_builder.submit((1,)), y_builder.submit((1,)));
        assert_ne!(x.key(), y.key());
        assert_eq!((x.result().unwrap(), y.result().unwrap()), (2, 2));
        let calls = x_calls.load(Ordering::SeqCst) + y_calls.load(Ordering::SeqCst);
        assert_eq!(calls, 2);
    });
}

/// A pure task that runs until the gate opens (keyed by its argument only: the gate
/// is the closure's).
fn gated_pure(client: &Client) -> (mpsc::Sender<()>, TaskBuilder<impl Fn(u32) -> i64, Pure>) {
    let (open, rx) = mpsc::channel::<()>();
    let rx = Arc::new(Mutex::new(rx));
    let task = client.task(move |_: u32| gate(rx.clone())).pure();
    (open, task)
}

/// Dask (run): `x1 = client.submit(slow, 5, 0.5); x2 = client.submit(slow, 5, 0.5);
/// x1.cancel()` leaves `x2` cancelled: one key, one fate. A later equal submission
/// makes a new task, as Dask recomputes a released key.
#[test]
fn pure_handles_share_their_tasks_fate() {
    watchdog::within(LIMIT, "pure shared fate", || {
        let client = client(2);
        let (open, slow) = gated_pure(&client);
        let x1 = slow.submit((5,));
        let x2 = slow.submit((5,));
        assert_eq!(x1, x2);
        x1.cancel();
        assert_eq!(x2.status(), Status::Cancelled);
        assert!(matches!(x2.result(), Err(FutureError::Cancelled { .. })));
        // Cancelled: not found again.
        let x3 = slow.submit((5,));
        assert_ne!(x3, x2);
        // Closed: every run of the gate returns (the cancelled one's may still run).
        drop(open);
        assert_eq!(x3.result().unwrap(), 1);
    });
}

/// A task whose last handle went is not found: an equal submission runs again (Dask
/// recomputes a key once its last future is released).
#[test]
fn a_pure_task_whose_handles_went_is_not_found() {
    watchdog::within(LIMIT, "pure released", || {
        let client = client(2);
        let (calls, pure) = counting_pure(&client);
        let first = pure.submit((7,));
        assert_eq!(first.result().unwrap(), 8);
        let key = first.key();
        drop(first);
        let again = pure.submit((7,));
        assert_ne!(again.key(), key);
        assert_eq!(again.result().unwrap(), 8);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // A pending task whose handles went was cancelled: a new one runs.
        let (open, gated) = gated_pure(&client);
        let dropped = gated.submit((1,));
        let dropped_key = dropped.key();
        drop(dropped);
        let fresh = gated.submit((1,));
        assert_ne!(fresh.key(), dropped_key);
        // Closed: every run of the gate returns (the cancelled one's may still run).
        drop(open);
        assert_eq!(fresh.result().unwrap(), 1);
    });
}

/// An erred key stays erred while held, in Dask as here: an equal submission
/// returns its error and does not run it again.
#[test]
fn a_pure_task_that_failed_is_found_with_its_error() {
    watchdog::within(LIMIT, "pure failed", || {
        let client = client(2);
        let attempts = Arc::new(AtomicUsize::new(0));
        let a_attempts = attempts.clone();
        let pure = client
            .task(move |fails: usize| flaky(a_attempts.clone(), fails))
            .fallible()
            .pure();
        let a = pure.submit((usize::MAX,));
        assert_eq!(task_error(a.result()).payload::<MyErr>(), Some(MyErr(1)));
        let b = pure.submit((usize::MAX,));
        assert_eq!(a, b);
        assert_eq!(task_error(b.result()).payload::<MyErr>(), Some(MyErr(1)));
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
        // `.pure().fallible()` keys as `.fallible().pure()` does.
        fn always_fails(x: i64) -> Result<i64, MyErr> {
            Err(MyErr(x))
        }
        let c = client.task(always_fails).pure().fallible().submit((3,));
        let d = client.task(always_fails).fallible().pure().submit((3,));
        assert_eq!(c, d);
        assert_eq!(task_error(d.result()).payload::<MyErr>(), Some(MyErr(3)));
    });
}

/// Futures as arguments are keyed by their task, not by their value: equal values of
/// two tasks are two calls; the same task, passed by value or by reference, one.
#[test]
fn pure_futures_arguments_are_keyed_by_their_task() {
    watchdog::within(LIMIT, "pure future args", || {
        let client = client(2);
        let (calls, pure) = counting_pure(&client);
        let one = client.submit(|| 1i64, ());
        let also_one = client.submit(|| 1i64, ());
        let a = pure.submit((&one,));
        let b = pure.submit((one.clone(),));
        let c = pure.submit((&also_one,));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(client.gather(&[a, b, c]).unwrap(), [2, 2, 2]);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // A dependent that holds a pure task's only handle reads it; an equal
        // submission still finds the value in place.
        let pure_inc = client.task(inc).pure();
        let p = pure_inc.submit((10,));
        let d = client.submit(inc, (p,));
        let p2 = pure_inc.submit((10,));
        assert_eq!((d.result().unwrap(), p2.result().unwrap()), (12, 11));
    });
}

/// Keyed as `Delayed`'s pure calls are: the name and the retries are part of the key
/// (Dask's key ignores retries: a difference, documented), the priority is not (Dask's
/// neither).
#[test]
fn pure_keys_include_name_and_retries_not_priority() {
    watchdog::within(LIMIT, "pure key options", || {
        let client = client(2);
        let base = || client.task(inc).pure();
        let plain = base().submit((100,));
        assert_eq!(plain, base().priority(5).submit((100,)));
        assert_ne!(plain, base().retries(1).submit((100,)));
        assert_ne!(plain, base().named("other").submit((100,)));
        assert_eq!(plain.result().unwrap(), 101);
    });
}

/// A pure task's argument whose `Hash` submits a pure task itself, and one whose
/// `Drop` does (the arguments of a call found are dropped): no lock is held while
/// either runs, so neither deadlocks.
#[test]
fn pure_keys_run_no_user_code_under_the_lock() {
    #[derive(Clone)]
    struct Reentrant(Client);
    impl std::hash::Hash for Reentrant {
        fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
            let inner = self.0.task(inc).pure().submit((1,));
            state.write_i64(inner.result().unwrap());
        }
    }
    impl Drop for Reentrant {
        fn drop(&mut self) {
            let _ = self.0.task(inc).pure().submit((2,)).result();
        }
    }
    watchdog::within(LIMIT, "pure reentrant", || {
        let client = client(2);
        let pure = client.task(|_: Reentrant| 5i64).pure();
        let a = pure.submit((Reentrant(client.clone()),));
        let b = pure.submit((Reentrant(client.clone()),));
        assert_eq!(a, b);
        assert_eq!(b.result().unwrap(), 5);
    });
}

/// Records the futures events it sees, each when its hook returns; the first
/// submission of a task named `held` waits in its hook until the test lets it go.
struct HoldsSubmission {
    held: &'static str,
    events: Mutex<Vec<(&'static str, u64)>>,
    /// Told once the held hook is reached (taken by it, so only the first waits).
    reached: Mutex<Option<mpsc::Sender<()>>>,
    resume: Mutex<mpsc::Receiver<()>>,
}

impl Observer for HoldsSubmission {
    fn future_submitted(&self, task: &FutureEvent<'_>) {
        if task.name == self.held {
            if let Some(reached) = self.reached.lock().unwrap().take() {
                reached.send(()).unwrap();
                // A way out: the test fails on the events, not by hanging.
                let _ = self.resume.lock().unwrap().recv_timeout(LIMIT);
            }
        }
        self.events.lock().unwrap().push(("submitted", task.key));
    }
    fn future_finished(&self, task: &FutureEvent<'_>, outcome: TaskOutcome) {
        let what = match outcome {
            TaskOutcome::Cancelled => "cancelled",
            _ => "finished",
        };
        self.events.lock().unwrap().push((what, task.key));
    }
}

/// An equal submission finds a pure task as soon as it is the key's, while its own
/// submission is still telling the observers about it: cancelled then, from another
/// thread, it ends for both handles, and the observers hear of its end after its
/// submission, never before (they may keep a task from its submission to its end).
#[test]
fn a_pure_task_cancelled_while_submitted_is_told_ended_after_its_submission() {
    watchdog::within(LIMIT, "pure cancelled while submitted", || {
        let (reached, is_reached) = mpsc::channel();
        let (resume, resumed) = mpsc::channel();
        let observer = Arc::new(HoldsSubmission {
            held: "held",
            events: Mutex::new(Vec::new()),
            reached: Mutex::new(Some(reached)),
            resume: Mutex::new(resumed),
        });
        let client = observed(observer.clone());
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        // A fn item: keyed by its type, through any builder.
        fn held(x: i64) -> i64 {
            counted(&CALLS, x)
        }
        let first = {
            let client = client.clone();
            std::thread::spawn(move || client.task(held).named("held").pure().submit((1,)))
        };
        is_reached.recv_timeout(LIMIT).unwrap();
        let pure = client.task(held).named("held").pure();
        let found = pure.submit((1,));
        found.cancel();
        assert!(matches!(found.result(), Err(FutureError::Cancelled { .. })));
        resume.send(()).unwrap();
        let first = first.join().unwrap();
        assert_eq!(first, found);
        assert!(matches!(first.result(), Err(FutureError::Cancelled { .. })));
        let key = first.key();
        let number = u64::from_str_radix(key.rsplit('-').next().unwrap(), 16).unwrap();
        let events = observer.events.lock().unwrap().clone();
        assert_eq!(events, [("submitted", number), ("cancelled", number)]);
        assert_eq!(CALLS.load(Ordering::SeqCst), 0);
        // The key is free again: an equal submission runs.
        assert_eq!(pure.submit((1,)).result().unwrap(), 2);
    });
}

/// Checks that each task is told submitted once, then ended once, after it.
#[derive(Default)]
struct Ledger {
    /// The tasks submitted and not ended yet.
    open: Mutex<std::collections::HashSet<u64>>,
    ended: AtomicUsize,
    wrong: Mutex<Vec<String>>,
}

impl Observer for Ledger {
    fn future_submitted(&self, task: &FutureEvent<'_>) {
        if !self.open.lock().unwrap().insert(task.key) {
            let wrong = format!("{} submitted twice", task.full_key());
            self.wrong.lock().unwrap().push(wrong);
        }
    }
    fn future_finished(&self, task: &FutureEvent<'_>, outcome: TaskOutcome) {
        self.ended.fetch_add(1, Ordering::SeqCst);
        if !self.open.lock().unwrap().remove(&task.key) {
            let wrong = format!("{} ended ({outcome:?}) while not open", task.full_key());
            self.wrong.lock().unwrap().push(wrong);
        }
    }
}

/// Equal pure submissions from several threads, each cancelling, dropping or reading
/// what it got: every task is told submitted, then ended, once; every read is the
/// value or `Cancelled`; the client's shutdown leaves no task open.
#[test]
fn racing_pure_submissions_and_cancels_tell_every_task_in_order() {
    watchdog::within(LIMIT, "racing pure submissions", || {
        let ledger = Arc::new(Ledger::default());
        let client = observed(ledger.clone());
        let threads: Vec<_> = (0..3)
            .map(|t| {
                let client = client.clone();
                std::thread::spawn(move || {
                    for i in 0..300i64 {
                        let f = client.task(inc).pure().submit((i % 4,));
                        match (i + t) % 3 {
                            0 => f.cancel(),
                            1 => drop(f),
                            _ => match f.result() {
                                Ok(value) => assert_eq!(value, i % 4 + 1),
                                Err(FutureError::Cancelled { .. }) => {}
                                Err(other) => panic!("{other:?}"),
                            },
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(client);
        assert_eq!(*ledger.wrong.lock().unwrap(), Vec::<String>::new());
        assert!(ledger.open.lock().unwrap().is_empty());
        assert!(ledger.ended.load(Ordering::SeqCst) > 0);
    });
}

/// Dask's `as_completed(fs, timeout=t)`: yields what completes, and raises
/// `TimeoutError` once `t` has passed since the call; the futures go on. Here one
/// `Err(FutureError::Timeout)` after the future that finished, then the iteration
/// ends, the one not yielded still held (`into_inner`). `Duration::MAX` is no limit;
/// `Duration::ZERO` yields what has ended, then the timeout.
#[test]
fn as_completed_timeout_limits_the_whole_iteration() {
    watchdog::within(LIMIT, "as_completed timeout", || {
        let client = client(2);
        let (open, slow) = gated(&client);
        let fast = client.submit(inc, (1,));
        fast.result().unwrap();
        let mut limited =
            as_completed([slow.clone(), fast.clone()]).timeout(Duration::from_millis(200));
        assert!(limited.next().unwrap().unwrap() == fast);
        match limited.next() {
            Some(Err(FutureError::Timeout {
                task,
                call_site,
                waited: TimedWait::AsCompleted,
                after,
            })) => {
                assert_eq!(task, "as_completed");
                assert!(call_site.contains("futures_dask.rs"), "{call_site}");
                assert_eq!(after, Duration::from_millis(200));
            }
            other => panic!("expected the timeout, got {other:?}"),
        }
        assert!(limited.next().is_none(), "nothing after the timeout");
        assert_eq!(limited.remaining(), 1);
        assert!(!slow.done(), "the futures go on");
        let mut rest = limited.into_inner();

        // Zero: what has ended is yielded, then the timeout.
        let ended = client.submit(inc, (2,));
        ended.result().unwrap();
        let mut zero = as_completed([ended.clone(), slow.clone()]).timeout(Duration::ZERO);
        assert!(zero.next().unwrap().unwrap() == ended);
        assert!(matches!(
            zero.next(),
            Some(Err(FutureError::Timeout { .. }))
        ));
        drop(zero);

        open.send(()).unwrap();
        assert!(rest.next().unwrap() == slow);
        assert!(rest.next().is_none());

        // No limit: every future, in completion order, as `as_completed` yields them.
        let all: Vec<i64> = as_completed(client.map(inc, 0..20))
            .timeout(Duration::MAX)
            .map(|f| f.unwrap().result().unwrap())
            .collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=20).collect::<Vec<_>>());
    });
}

/// Dask's `as_completed` methods `update`, `is_empty` and `clear`: futures added by
/// `update` (or `extend`) are yielded in turn; `clear` stops expecting the rest (a
/// task whose last handle it held is cancelled, as when the iterator is dropped), and
/// futures added after it are yielded, none of the cleared ones among them, even one
/// that ends while being cleared.
#[test]
fn as_completed_update_is_empty_and_clear() {
    watchdog::within(LIMIT, "as_completed update and clear", || {
        let client = client(2);
        let mut iter = as_completed(Vec::<Future<i64>>::new());
        assert!(iter.is_empty());
        assert!(iter.next().is_none());
        iter.update(client.map(inc, 0..5));
        iter.extend([client.submit(inc, (10,))]);
        assert!(!iter.is_empty());
        assert_eq!(iter.remaining(), 6);
        let mut got: Vec<i64> = iter.by_ref().map(|f| f.result().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, vec![1, 2, 3, 4, 5, 11]);
        assert!(iter.is_empty());

        // Cleared: a running task whose only handle the iterator held is cancelled (it
        // sees `cancelled()`); a future held elsewhere goes on; futures ending meanwhile
        // are not yielded.
        let (open, gate) = mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let (saw_tx, saw) = mpsc::channel::<bool>();
        let saw_tx = Mutex::new(saw_tx);
        let only_here = client.submit(
            move || {
                saw_tx.lock().unwrap().send(false).unwrap();
                gate.lock().unwrap().recv().unwrap_or(());
                saw_tx.lock().unwrap().send(taskweave::cancelled()).unwrap();
                5i64
            },
            (),
        );
        let kept = client.submit(inc, (7,));
        iter.update(client.map(inc, 100..200));
        iter.add(only_here);
        iter.add(kept.clone());
        assert!(!saw.recv().unwrap(), "started");
        iter.clear();
        assert!(iter.is_empty() && iter.remaining() == 0 && !iter.has_ready());
        assert!(iter.next().is_none());
        open.send(()).unwrap();
        assert!(
            saw.recv().unwrap(),
            "the task whose only handle was cleared is cancelled"
        );
        assert_eq!(kept.result().unwrap(), 8, "a future held elsewhere goes on");

        let later = client.submit(inc, (41,));
        iter.add(later.clone());
        let yielded: Vec<Future<i64>> = iter.by_ref().collect();
        assert_eq!(yielded.len(), 1);
        assert!(yielded[0] == later);
        assert_eq!(yielded[0].result().unwrap(), 42);
    });
}

/// Dask's `client.submit(f, [[a, b], [c]])` and `client.submit(f, {"x": a, "y": b})`:
/// futures inside lists and dicts are dependencies, and the task receives their
/// results in the same shape. Here a nested `Vec`, an array, a `HashMap`, a
/// `BTreeMap` and a borrowed `Vec` of futures, each checked against the plain values;
/// a task waits for a future deep in one, and fails with one that failed; pure
/// submissions of equal maps (built in another order) are one task.
#[test]
fn futures_in_nested_lists_arrays_and_maps_are_dependencies() {
    use std::collections::{BTreeMap, HashMap};
    watchdog::within(LIMIT, "futures in collections", || {
        let client = client(2);
        let f: Vec<Future<i64>> = (1..=4).map(|x| client.submit(inc, (x,))).collect();
        let plain: Vec<i64> = (1..=4).map(inc).collect();

        let nested = vec![vec![f[0].clone(), f[1].clone()], vec![f[2].clone()], vec![]];
        let lens_and_sums = client.submit(
            |parts: Vec<Vec<i64>>| -> Vec<(usize, i64)> {
                parts.iter().map(|p| (p.len(), p.iter().sum())).collect()
            },
            (nested,),
        );
        let expected: Vec<(usize, i64)> = vec![(2, plain[0] + plain[1]), (1, plain[2]), (0, 0)];
        assert_eq!(lens_and_sums.result().unwrap(), expected);

        let array = client.submit(
            |[a, b, c]: [i64; 3]| a * 100 + b * 10 + c,
            ([f[3].clone(), f[2].clone(), f[0].clone()],),
        );
        assert_eq!(
            array.result().unwrap(),
            plain[3] * 100 + plain[2] * 10 + plain[0]
        );

        let map: HashMap<String, Future<i64>> = [
            ("x".to_owned(), f[0].clone()),
            ("y".to_owned(), f[1].clone()),
        ]
        .into();
        let weighted = client.submit(
            |m: HashMap<String, i64>| m["x"] * 1000 + m["y"],
            (map.clone(),),
        );
        assert_eq!(weighted.result().unwrap(), plain[0] * 1000 + plain[1]);

        let ordered: BTreeMap<u32, Future<i64>> = [(2, f[1].clone()), (1, f[3].clone())].into();
        let listed = client.submit(
            |m: BTreeMap<u32, i64>| m.into_iter().collect::<Vec<_>>(),
            (ordered,),
        );
        assert_eq!(listed.result().unwrap(), [(1, plain[3]), (2, plain[1])]);

        let borrowed = client.submit(|v: Vec<i64>| v.iter().sum::<i64>(), (&f,));
        assert_eq!(borrowed.result().unwrap(), plain.iter().sum::<i64>());

        // A dependency deep in a map: the task waits for it.
        let (open, slow) = gated(&client);
        let waits: HashMap<&'static str, Future<i64>> = [("slow", slow.clone())].into();
        let after = client.submit(|m: HashMap<&'static str, i64>| m["slow"] + 1, (waits,));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(after.status(), Status::Pending);
        open.send(()).unwrap();
        assert_eq!(after.result().unwrap(), 2);

        // A failed one fails the task, as a `Vec` of futures does.
        let bad = client.task(div).fallible().submit((3, 0));
        let failing = client.submit(
            |parts: Vec<Vec<i64>>| parts.len(),
            (vec![vec![f[0].clone()], vec![bad.clone()]],),
        );
        assert!(failing.result().is_err());
        assert_eq!(failing.status(), Status::Error);

        // Pure: equal maps, whatever their order, are one task; another map another.
        let count = client
            .task(|m: HashMap<String, i64>| m.values().sum::<i64>())
            .pure();
        let reordered: HashMap<String, Future<i64>> = [
            ("y".to_owned(), f[1].clone()),
            ("x".to_owned(), f[0].clone()),
        ]
        .into();
        let one = count.submit((map.clone(),));
        let same = count.submit((reordered,));
        let other = count.submit(([("x".to_owned(), f[2].clone())]
            .into_iter()
            .collect::<HashMap<_, _>>(),));
        assert_eq!(one.key(), same.key());
        assert_ne!(one.key(), other.key());
        assert_eq!(one.result().unwrap(), plain[0] + plain[1]);
        assert_eq!(other.result().unwrap(), plain[2]);
    });
}
