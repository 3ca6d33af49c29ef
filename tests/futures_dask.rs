//! Dask parity of the futures front end, each test checking what the Dask program in
//! its comment does: tasks whose `Err` is an error (`raise` in a Dask task),
//! `gather(errors='skip')`, `scatter` of a list.

#[path = "support/watchdog.rs"]
mod watchdog;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use taskweave::prelude::*;
use taskweave::{NodeOutcome, RunRecord, Status};

const LIMIT: Duration = Duration::from_secs(60);

fn client(threads: usize) -> Client {
    Client::builder()
        .threads(threads)
        .name("dask")
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

/// Dask's `wait(fs, return_when=FIRST_EXCEPTION)` (concurrent.futures'): returns as
/// soon as one future raised, while a slow one is still running.
#[test]
fn wait_first_exception_stops_at_a_fallible_tasks_err() {
    watchdog::within(LIMIT, "first exception", || {
        let client = client(2);
        let (open, rx) = mpsc::channel::<()>();
        let slow = client.submit(gate, (Arc::new(Mutex::new(rx)),));
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
        let client = Client::builder()
            .threads(2)
            .observer(record.clone())
            .build()
            .unwrap();
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
