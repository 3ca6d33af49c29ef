//! Futures: `Client`, `Future<T>`, dependencies, errors, cancellation, waiting,
//! `as_completed`, `scatter`, and the client's shutdown.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use taskweave::prelude::*;
use taskweave::{futures_info, ClientError, FutureError, Status, TimedWait};

#[path = "support/watchdog.rs"]
mod watchdog;

fn client(threads: usize) -> Client {
    Client::builder()
        .threads(threads)
        .name("test")
        .build()
        .unwrap()
}

/// A client of `threads` threads that grows to `max_threads` at most (save the
/// library's own exceptions, which these tests look at).
fn bounded(threads: usize, max_threads: usize, name: &str) -> Client {
    Client::builder()
        .threads(threads)
        .max_threads(max_threads)
        .name(name)
        .build()
        .unwrap()
}

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn add(a: i64, b: i64) -> i64 {
    a + b
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

#[test]
fn client_is_clone_send_sync_and_zero_threads_is_an_error() {
    fn assert_traits<T: Clone + Send + Sync>() {}
    assert_traits::<Client>();
    assert_eq!(
        Client::builder().threads(0).build().unwrap_err(),
        ClientError::ZeroThreads
    );
    assert!(ClientError::ZeroThreads
        .to_string()
        .contains("at least one thread"));
    // Refused at once, before any thread starts (before: threads until the operating
    // system refused one, seconds later).
    for threads in [Client::MAX_THREADS + 1, usize::MAX] {
        let refused = Client::builder().threads(threads).build().unwrap_err();
        assert_eq!(refused, ClientError::TooManyThreads(threads));
        assert!(
            refused.to_string().contains("at most 4096 threads"),
            "{refused}"
        );
    }
    assert_eq!(client(3).threads(), 3);
    assert!(Client::new().threads() >= 1);
}

#[test]
fn submit_plain_values_and_delayed_functions() {
    let client = client(2);
    let a = client.submit(add, (1, 2));
    let b = client.submit(inc, (a.clone(),));
    assert_eq!(a.result().unwrap(), 3);
    assert_eq!(b.result().unwrap(), 4);
    assert_eq!(b.status(), Status::Finished);
    assert!(b.done());
    assert_eq!(b.name(), "inc");
    assert!(b.call_site().starts_with("tests/futures.rs:"));
}

#[test]
fn a_future_argument_is_a_dependency_not_a_wait() {
    let client = client(2);
    let (tx, rx) = mpsc::channel::<i64>();
    let rx = Mutex::new(rx);
    let gate = client.submit(move || rx.lock().unwrap().recv().unwrap(), ());
    // Returns at once although `gate` cannot finish yet.
    let start = Instant::now();
    let after = client.submit(add, (&gate, 10));
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(after.status(), Status::Pending);
    tx.send(5).unwrap();
    assert_eq!(after.result().unwrap(), 15);
}

#[test]
fn map_and_gather() {
    let client = client(2);
    let futures = client.map(inc, 0..100);
    assert_eq!(futures.len(), 100);
    let values = client.gather(&futures).unwrap();
    assert_eq!(values, (1..=100).collect::<Vec<_>>());
    // Futures as the items: each a dependency.
    let again = client.map(inc, futures.clone());
    assert_eq!(
        client.gather(&again).unwrap(),
        (2..=101).collect::<Vec<_>>()
    );
}

/// `map` queues its tasks in batches, but a batch is shared: while one of its tasks
/// blocks a thread, the other thread runs the rest of it. Here the first task waits
/// (ten seconds at most) until every other task of its `map` has run.
#[test]
fn a_maps_tasks_do_not_wait_behind_a_blocked_one_while_a_thread_is_free() {
    let client = client(2);
    let others = Arc::new((Mutex::new(0usize), std::sync::Condvar::new()));
    let seen = others.clone();
    let futures = client.map(
        move |i: usize| {
            let (count, changed) = &*seen;
            if i == 0 {
                let count = count.lock().unwrap();
                let (count, _) = changed
                    .wait_timeout_while(count, Duration::from_secs(10), |n| *n < 7)
                    .unwrap();
                *count
            } else {
                *count.lock().unwrap() += 1;
                changed.notify_all();
                i
            }
        },
        0..8,
    );
    assert_eq!(
        client.gather(&futures).unwrap(),
        [7, 1, 2, 3, 4, 5, 6, 7],
        "the first task gave up waiting for the others"
    );
}

/// `map` holds back no task while it waits for its next item: here each item comes
/// from the task of the item before it (the iterator gives up after ten seconds).
#[test]
fn a_map_queues_its_tasks_before_waiting_for_more_items() {
    let client = client(2);
    let (send, items) = mpsc::channel::<i64>();
    send.send(0).unwrap();
    let send = Mutex::new(send);
    let futures = client.map(
        move |i: i64| {
            let _ = send.lock().unwrap().send(i + 1);
            i * 10
        },
        std::iter::from_fn(|| items.recv_timeout(Duration::from_secs(10)).ok()).take(6),
    );
    assert_eq!(
        client.gather(&futures).unwrap(),
        [0, 10, 20, 30, 40, 50],
        "the map stopped waiting for items its own tasks send"
    );
}

#[test]
fn result_timeout_gives_up_but_the_task_goes_on() {
    let client = client(1);
    let slow = client.submit(
        || {
            std::thread::sleep(Duration::from_millis(200));
            7
        },
        (),
    );
    let start = Instant::now();
    let err = slow.result_timeout(Duration::from_millis(20)).unwrap_err();
    assert!(start.elapsed() < Duration::from_millis(190));
    assert!(matches!(err, FutureError::Timeout { .. }), "{err}");
    assert_eq!(slow.result().unwrap(), 7);
}

/// A timeout says which wait gave up: `result_timeout` names the task waited for,
/// `AsCompleted::next_timeout` says that none of its futures finished (it named a task
/// `as_completed`, which does not exist).
#[test]
fn a_timeout_says_which_wait_gave_up() {
    let client = client(1);
    let (open, opened) = mpsc::channel::<()>();
    let opened = Mutex::new(opened);
    let slow = client
        .task(move || opened.lock().unwrap().recv().unwrap())
        .named("slow")
        .submit(());
    let err = slow.result_timeout(Duration::ZERO).unwrap_err();
    let FutureError::Timeout {
        ref call_site,
        waited: TimedWait::Result,
        ..
    } = err
    else {
        panic!("{err}")
    };
    assert_eq!(
        err.to_string(),
        format!("task `slow` at {call_site} did not finish within 0ns")
    );
    let mut completed = as_completed(vec![slow]);
    let (err, line) = (completed.next_timeout(Duration::ZERO).unwrap_err(), line!());
    let FutureError::Timeout {
        call_site,
        waited: TimedWait::AsCompleted,
        ..
    } = err
    else {
        panic!("{err}")
    };
    assert!(
        call_site.contains(&format!("futures.rs:{line}:")),
        "{call_site}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "as_completed at {call_site}: none of the futures it still expected finished \
             within 0ns"
        )
    );
    open.send(()).unwrap();
    let done = completed.next_timeout(Duration::MAX).unwrap().unwrap();
    done.result().unwrap();
}

#[test]
fn large_results_are_shared_not_copied() {
    let client = client(2);
    let big = client.submit(|| vec![1u8; 1 << 20], ());
    let address = |v: Arc<Vec<u8>>| v.as_ptr() as usize;
    let a = client.submit(address, (&big,));
    let b = client.submit(address, (&big,));
    let own = big.result_shared().unwrap().as_ptr() as usize;
    assert_eq!(a.result().unwrap(), own);
    assert_eq!(b.result().unwrap(), own);
    // scatter: data made here, shared by every consumer.
    let data = client.scatter(vec![3u64; 1000]);
    let sums: Vec<_> = (0..4)
        .map(|_| client.submit(|v: Arc<Vec<u64>>| v.iter().sum::<u64>(), (&data,)))
        .collect();
    assert_eq!(client.gather(&sums).unwrap(), vec![3000; 4]);
    assert_eq!(data.status(), Status::Finished);
}

/// A result is kept in its task until someone asks for it shared: from then on every
/// shared reader (`result_shared`, an `Arc<T>` parameter) gets the same `Arc`, while
/// `result` and `T` parameters clone the value, before and after.
#[test]
fn a_result_is_shared_once_asked_for_and_by_every_reader_after() {
    let client = client(2);
    let clones = Arc::new(AtomicUsize::new(0));
    let value = client.submit(
        |c: CloneCounted| CloneCounted(c.0, c.1 + 1),
        (CloneCounted(clones.clone(), 0),),
    );
    assert_eq!(value.result().unwrap().1, 1);
    assert_eq!(
        clones.load(Ordering::Relaxed),
        1,
        "`result` clones the value"
    );
    let first = value.result_shared().unwrap();
    let second = value.result_shared().unwrap();
    assert!(Arc::ptr_eq(&first, &second), "two shared reads, two Arcs");
    let address = |v: Arc<CloneCounted>| Arc::as_ptr(&v) as usize;
    let read = client.submit(address, (&value,));
    assert_eq!(read.result().unwrap(), Arc::as_ptr(&first) as usize);
    let plain = client.submit(|c: CloneCounted| c.1, (&value,));
    assert_eq!(plain.result().unwrap(), 1);
    // Sharing moved the value into its `Arc`: only the two plain reads cloned it.
    assert_eq!(clones.load(Ordering::Relaxed), 2);
    assert_eq!(value.result().unwrap().1, 1);
    assert_eq!(clones.load(Ordering::Relaxed), 3);
}

/// Counts its clones.
struct CloneCounted(Arc<AtomicUsize>, u64);

impl Clone for CloneCounted {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, Ordering::Relaxed);
        CloneCounted(self.0.clone(), self.1)
    }
}

/// A future passed by value to the only task that reads it gives its value up: a chain
/// moves its values along, as the same calls made directly would, and no future keeps
/// a value its dependent has taken. Futures read by several tasks, or still held by
/// the caller, are cloned for each reader.
#[test]
fn values_passed_down_a_chain_move_instead_of_being_cloned() {
    let client = client(2);
    let clones = Arc::new(AtomicUsize::new(0));
    let step = |c: CloneCounted| CloneCounted(c.0, c.1 + 1);
    let mut x = client.submit(step, (CloneCounted(clones.clone(), 0),));
    for _ in 1..200 {
        x = client.submit(step, (x,));
    }
    assert_eq!(x.result_shared().unwrap().1, 200);
    // The first task's plain argument is moved too: its only attempt is its last.
    assert_eq!(
        clones.load(Ordering::Relaxed),
        0,
        "a value was cloned along the chain"
    );

    // Two readers: the value is shared, so each reader gets a clone.
    let first = client.submit(step, (CloneCounted(clones.clone(), 0),));
    let a = client.submit(step, (&first,));
    let b = client.submit(step, (&first,));
    assert_eq!((a.result().unwrap().1, b.result().unwrap().1), (2, 2));
    // `first` is still held here: both readers cloned, and `result` clones too.
    assert_eq!(clones.load(Ordering::Relaxed), 4);
    assert_eq!(first.result_shared().unwrap().1, 1);
}

/// A task that ends runs the first dependent it makes ready next, on the same thread:
/// a chain built before it starts runs on one worker, link after link, while other
/// work (here a second chain) goes to the other worker.
#[test]
fn a_chain_runs_on_one_thread_link_after_link() {
    let client = client(2);
    let (open, gate) = mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let start = client.submit(
        move || {
            gate.lock().unwrap().recv().unwrap();
            Vec::<std::thread::ThreadId>::new()
        },
        (),
    );
    let step = |mut seen: Vec<std::thread::ThreadId>| {
        seen.push(std::thread::current().id());
        seen
    };
    let mut x = client.submit(step, (start,));
    for _ in 1..100 {
        x = client.submit(step, (x,));
    }
    open.send(()).unwrap();
    let seen = x.result().unwrap();
    assert_eq!(seen.len(), 100);
    assert!(
        seen.iter().all(|t| *t == seen[0]),
        "a chain moved between threads: {} distinct",
        seen.iter().collect::<std::collections::HashSet<_>>().len()
    );
}

#[test]
fn panics_end_in_error_naming_the_task_and_dependents_name_it_too() {
    let client = client(2);
    let line = line!();
    let bad = client
        .task(|| -> i64 { panic!("no data") })
        .named("load")
        .submit(());
    let dependent = client.submit(inc, (&bad,));
    let error = bad.result().unwrap_err();
    assert!(error.to_string().contains("task `load`"), "{error}");
    assert_eq!(bad.status(), Status::Error);
    let exception = bad.exception().unwrap().unwrap();
    assert_eq!(exception.task(), "load");
    assert_eq!(exception.message(), "no data");
    // `file:line:column` of the `.task(…)` call, a line or two below `line`.
    let site: Vec<&str> = exception.call_site().split(':').collect();
    assert_eq!(site[0], "tests/futures.rs");
    let at: u32 = site[1].parse().unwrap();
    assert!(line < at && at <= line + 3, "{}", exception.call_site());
    assert!(dependent.result().is_err());
    assert_eq!(dependent.status(), Status::Error);
    assert_eq!(dependent.exception().unwrap().unwrap().task(), "load");
}

fn total<T: Copy + Into<f64>>(values: Vec<T>) -> f64 {
    values.into_iter().map(Into::into).sum()
}

#[test]
fn tasks_are_named_by_their_function_generic_or_not() {
    let client = client(2);
    let plain = client.submit(inc, (1,));
    let generic = client.submit(total::<f32>, (vec![1.0f32, 2.0],));
    let mapped = client.map(total::<u8>, [vec![1u8], vec![2]]);
    let closure = client.submit(|x: i64| x, (1,));
    let dynamic = taskweave::delayed(total::<u32>).call(vec![3u32]);
    // Alternated, as a loop of several functions submits them.
    for _ in 0..2 {
        assert_eq!(plain.name(), "inc");
        assert_eq!(
            generic.name(),
            "total",
            "not the last segment of its type argument"
        );
        assert!(mapped.iter().all(|f| f.name() == "total"));
        assert_eq!(closure.name(), "closure");
        assert_eq!(dynamic.name(), "total");
    }
    assert_eq!(generic.result().unwrap(), 3.0);
    assert_eq!(dynamic.compute(), 3.0);
}

#[test]
fn retries_run_a_failing_task_again() {
    let client = client(2);
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let flaky = client
        .task(move || {
            if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                panic!("flaky");
            }
            42
        })
        .retries(3)
        .submit(());
    assert_eq!(flaky.result().unwrap(), 42);
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    let hopeless = client
        .task(|| -> i32 { panic!("always") })
        .retries(2)
        .submit(());
    assert!(hopeless.result().is_err());
}

#[test]
fn cancel_pending_running_and_dependents() {
    let client = client(1);
    let ran = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = mpsc::channel();
    let started_tx = Mutex::new(started_tx);
    let running = client.submit(
        move || {
            started_tx.lock().unwrap().send(()).unwrap();
            // A long task that polls for cancellation.
            while !taskweave::cancelled() {
                std::thread::sleep(Duration::from_millis(1));
            }
            1
        },
        (),
    );
    started_rx.recv().unwrap();
    let flag = ran.clone();
    let pending = client.submit(
        move || {
            flag.store(true, Ordering::SeqCst);
            2
        },
        (),
    );
    let dependent = client.submit(inc, (&running,));
    pending.cancel();
    running.cancel();
    assert_eq!(running.status(), Status::Cancelled);
    assert!(matches!(
        running.result(),
        Err(FutureError::Cancelled { .. })
    ));
    assert_eq!(pending.status(), Status::Cancelled);
    assert_eq!(dependent.status(), Status::Cancelled);
    // Give the pool time to reach the cancelled pending task: it never runs.
    let after = client.submit(|| 3, ());
    assert_eq!(after.result().unwrap(), 3);
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn result_of_a_cancelled_future_returns_at_once() {
    let client = client(1);
    let blocker = client.submit(|| std::thread::sleep(Duration::from_millis(300)), ());
    let queued = client.submit(|| 5, ());
    queued.cancel();
    let start = Instant::now();
    assert!(queued.result().is_err());
    assert!(start.elapsed() < Duration::from_millis(100));
    blocker.result().unwrap();
}

/// Busy for about `micros` µs (a task ending at a moment that races with the test).
fn spin(micros: u64) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_micros(micros) {
        std::hint::spin_loop();
    }
}

/// `cancel` racing with the task's end: whichever comes first, the future is cancelled
/// once `cancel` returns (a task that finished meanwhile is released, as a finished
/// one is), never left finished.
#[test]
fn cancel_racing_with_the_end_is_never_lost() {
    let client = client(2);
    for i in 0..20_000u64 {
        let task = client.submit(
            move || {
                spin(i % 5);
                1u64
            },
            (),
        );
        spin(i % 7);
        task.cancel();
        assert_eq!(
            task.status(),
            Status::Cancelled,
            "run {i}: `cancel` returned, and the task is not cancelled"
        );
        assert!(
            task.result().is_err(),
            "run {i}: a cancelled task has no result"
        );
    }
}

/// A finished task's done-callbacks read its value even when the last of its users'
/// handles went to a dependent, which would otherwise move the value out first: the
/// dependent takes a copy while a callback is still to read it.
#[test]
fn done_callbacks_read_a_value_a_dependent_holds_the_last_handle_of() {
    let client = client(2);
    let (read, calls) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    for _ in 0..2_000 {
        let a = client.submit(|| vec![7u64; 4], ());
        let c = client.submit(|| 1u64, ());
        for _ in 0..50 {
            let (read, calls) = (read.clone(), calls.clone());
            a.add_done_callback(move |f: &Future<Vec<u64>>| {
                calls.fetch_add(1, Ordering::SeqCst);
                if f.result().is_ok_and(|v| v == [7; 4]) {
                    read.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        // The last handle of `a` moves into the dependent.
        let b = client.submit(|a: Vec<u64>, c: u64| a[0] + c, (a, &c));
        assert_eq!(b.result().unwrap(), 8);
    }
    assert!(eventually(|| calls.load(Ordering::SeqCst) == 100_000));
    assert_eq!(
        read.load(Ordering::SeqCst),
        100_000,
        "every callback read the value"
    );
}

#[test]
fn wait_first_and_all_completed() {
    let client = client(2);
    let fast = client.submit(|| 1, ());
    let slow = client.submit(
        || {
            std::thread::sleep(Duration::from_millis(300));
            2
        },
        (),
    );
    let all = [fast.clone(), slow.clone()];
    let (done, not_done) = wait(&all, WaitMode::FirstCompleted, None);
    assert!(!done.is_empty());
    assert!(done.iter().any(|f| f.name() == fast.name()));
    assert_eq!(done.len() + not_done.len(), 2);
    let (done, not_done) = wait(
        &all,
        WaitMode::AllCompleted,
        Some(Duration::from_millis(10)),
    );
    assert_eq!(not_done.len(), 1, "the slow task is not done after 10 ms");
    assert_eq!(done.len(), 1);
    let (done, not_done) = wait(&all, WaitMode::AllCompleted, None);
    assert_eq!((done.len(), not_done.len()), (2, 0));
}

#[test]
fn fire_and_forget_keeps_running_after_handles_are_dropped() {
    let client = client(1);
    let finished = Arc::new(AtomicBool::new(false));
    let flag = finished.clone();
    let blocker = client.submit(|| std::thread::sleep(Duration::from_millis(50)), ());
    let task = client.submit(
        move || {
            flag.store(true, Ordering::SeqCst);
        },
        (),
    );
    client.fire_and_forget(task);
    assert!(eventually(|| finished.load(Ordering::SeqCst)));
    blocker.result().unwrap();
}

struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn dropping_the_last_handle_cancels_or_frees() {
    let client = client(1);
    let drops = Arc::new(AtomicUsize::new(0));
    // Finished: dropping the last handle frees the result.
    let d = drops.clone();
    let done = client.submit(move || Counted(d.clone()), ());
    done.result_shared().unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    let clone = done.clone();
    drop(done);
    assert_eq!(drops.load(Ordering::SeqCst), 0, "a handle is left");
    drop(clone);
    assert!(
        eventually(|| drops.load(Ordering::SeqCst) == 1),
        "the result was freed"
    );

    // Pending: dropping the last handle cancels it; it never runs.
    let ran = Arc::new(AtomicBool::new(false));
    let blocker = client.submit(|| std::thread::sleep(Duration::from_millis(100)), ());
    let flag = ran.clone();
    let pending = client.submit(move || flag.store(true, Ordering::SeqCst), ());
    drop(pending);
    blocker.result().unwrap();
    client.submit(|| (), ()).result().unwrap();
    assert!(
        !ran.load(Ordering::SeqCst),
        "a dropped pending task never runs"
    );
}

#[test]
fn as_completed_yields_in_completion_order_and_accepts_more() {
    let client = client(2);
    let slow = client.submit(
        || {
            std::thread::sleep(Duration::from_millis(200));
            1
        },
        (),
    );
    let fast = client.submit(|| 2, ());
    let mut iter = as_completed(vec![slow.clone(), fast.clone()]);
    let first = iter.next().unwrap();
    assert_eq!(first.result().unwrap(), 2);
    iter.add(client.submit(|| 3, ()));
    let rest: Vec<i32> = iter.map(|f| f.result().unwrap()).collect();
    assert_eq!(rest.len(), 2);
    assert!(rest.contains(&1) && rest.contains(&3));
    // The variant that yields results.
    let futures = client.map(inc, 0..10);
    let mut results: Vec<i64> = as_completed(futures)
        .with_results()
        .map(|(_, r)| *r.unwrap())
        .collect();
    results.sort_unstable();
    assert_eq!(results, (1..=10).collect::<Vec<_>>());
}

#[test]
fn tasks_submit_tasks_and_wait_without_deadlock_on_one_thread() {
    let client = client(1);
    let inner = client.clone();
    let outer = client.submit(
        move || {
            let parts: Vec<_> = (0..10).map(|i| inner.submit(inc, (i,))).collect();
            inner.gather(&parts).unwrap().iter().sum::<i64>()
        },
        (),
    );
    assert_eq!(outer.result().unwrap(), (1..=10).sum());
    // as_completed inside a task, too.
    let inner = client.clone();
    let outer = client.submit(
        move || {
            let parts = inner.map(inc, 0..5);
            as_completed(parts)
                .map(|f| f.result().unwrap())
                .sum::<i64>()
        },
        (),
    );
    assert_eq!(outer.result().unwrap(), (1..=5).sum());
}

/// A name with a NUL byte cannot name a thread: `build` used to panic inside the
/// standard library naming the client's first thread; it returns an error that says
/// why, before starting any thread.
#[test]
fn a_client_name_with_a_nul_byte_is_an_error_not_a_panic() {
    let built = Client::builder().threads(1).name("a\0b").build();
    let error = built.expect_err("no client");
    assert_eq!(error, ClientError::InvalidName("a\0b".to_owned()));
    assert!(error.to_string().contains("NUL byte"), "{error}");
    assert!(std::error::Error::source(&error).is_none());
    // The same name without it builds.
    assert!(Client::builder().threads(1).name("ab").build().is_ok());
}

#[test]
fn compute_and_persist_a_delayed_graph_on_the_client() {
    let client = client(2);
    let parts: Vec<Delayed<i64>> = (0..10).map(|i| delay!(inc(i))).collect();
    let total = delayed(|v: Vec<i64>| v.iter().sum::<i64>()).call(parts);
    let future = client.compute(&total);
    assert_eq!(future.result().unwrap(), (1..=10).sum());
    let held = client.persist(&total);
    assert_eq!(
        delayed(|x: i64| x * 2).call(held).compute(),
        2 * (1..=10).sum::<i64>()
    );
    // A panic inside the graph is the future's error, naming the task.
    let bad = delayed(|_: i64| -> i64 { panic!("bad part") })
        .named("part")
        .call(1);
    let err = client.compute(&bad).result().unwrap_err();
    assert!(err.to_string().contains("task `part`"), "{err}");
}

/// `client.compute(total)`, one `Delayed` given by value as Dask writes it, computes
/// as `client.compute(&total)` does: the value itself, its future named after it.
#[test]
fn compute_takes_one_delayed_by_value_as_dask_writes_it() {
    let client = client(2);
    let parts: Vec<Delayed<i64>> = (0..10).map(|i| delay!(inc(i))).collect();
    let total = delayed(|v: Vec<i64>| v.iter().sum::<i64>())
        .named("total")
        .call(parts);
    let by_ref = client.compute(&total);
    let by_value = client.compute(total);
    assert_eq!(by_value.name(), by_ref.name());
    assert_eq!(by_value.result().unwrap(), (1..=10).sum());
    assert_eq!(by_ref.result().unwrap(), (1..=10).sum());
}

/// A delayed task whose future argument was cancelled fails, naming the task and the
/// future's key and why it has no result (the failure is the engine's, unwound without
/// the panic hook: it printed a place inside the library as the panic's).
#[test]
fn a_delayed_task_with_a_cancelled_future_argument_fails_naming_both() {
    let client = client(1);
    let (open, opened) = std::sync::mpsc::channel::<()>();
    let opened = std::sync::Mutex::new(opened);
    let blocker = client.submit(move || opened.lock().unwrap().recv().unwrap(), ());
    let pending = client.submit(|_: ()| 5i64, (&blocker,));
    pending.cancel();
    let total = delayed(|x: i64| x + 1).named("plus_one").call(&pending);
    let error = total.try_compute().unwrap_err();
    assert_eq!(error.task(), "plus_one");
    assert!(error.message().contains("has no result"), "{error}");
    assert!(error.message().contains(&pending.key()), "{error}");
    assert!(error.message().contains("cancelled"), "{error}");
    open.send(()).unwrap();
}

/// A chain of computes, each a graph reading the future of the one before, whose
/// first link fails: the last one's error names the first failure, and its message
/// stays one link long (it held the whole chain, each link's error inside the next's:
/// quadratic in the chain, 40 s and megabytes of message for 10^4 links).
#[test]
fn a_chain_of_computes_failing_at_its_root_names_the_root_in_one_message() {
    let client = client(1);
    let root = client.submit(|| -> i64 { panic!("the root fails") }, ());
    let mut link = root;
    for _ in 0..200 {
        link = client.compute(&delayed(|x: i64| x + 1).named("link").call(&link));
    }
    let error = link.result().unwrap_err().to_string();
    assert!(error.starts_with("task `link`"), "{error}");
    assert!(error.ends_with("panicked: the root fails"), "{error}");
    assert_eq!(error.matches("has no result").count(), 1, "{error}");
}

/// A task of `client` that returns `value` once the sender returned is sent to (or
/// dropped): a future that stays running meanwhile.
fn held_open<T: Send + Sync + 'static>(client: &Client, value: T) -> (Future<T>, mpsc::Sender<()>) {
    let (open, opened) = mpsc::channel::<()>();
    let held = Mutex::new((opened, Some(value)));
    let future = client.submit(
        move || {
            let mut held = held.lock().unwrap();
            let _ = held.0.recv();
            held.1.take().expect("a task runs once")
        },
        (),
    );
    (future, open)
}

/// Waits (up to a minute) for the status `future` ends with, told by a done callback
/// added now, without a handle of it.
fn end_of<T: Send + Sync + 'static>(future: &Future<T>) -> impl FnOnce() -> Option<Status> {
    let (told, ends) = mpsc::channel();
    future.add_done_callback(move |f| told.send(f.status()).unwrap());
    move || ends.recv_timeout(Duration::from_secs(60)).ok()
}

/// The client's threads now: those whose name starts with `prefix` (a pool names its
/// threads `name-N`), read from `/proc`, so that other tests' threads do not count.
fn threads_named(prefix: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

/// Dropping the last client joins its threads, the `Drop` of what its tasks left in
/// thread-locals included. The drop waited only for the workers' loops to end: it
/// returned while their threads still ran those `Drop`s (none of the two done), which
/// a program ending then, or tearing down what they use, cuts short.
#[test]
fn the_client_s_drop_waits_for_its_threads_thread_locals() {
    static DROPPED: AtomicUsize = AtomicUsize::new(0);
    struct Slow;
    impl Drop for Slow {
        fn drop(&mut self) {
            std::thread::sleep(Duration::from_millis(50));
            DROPPED.fetch_add(1, Ordering::SeqCst);
        }
    }
    thread_local!(static SLOW: Slow = const { Slow });
    watchdog::within(Duration::from_secs(60), "thread-locals", || {
        let client = client(2);
        // On both threads: each task waits for the other.
        let both = Arc::new(Barrier::new(2));
        let tasks: Vec<Future<()>> = (0..2)
            .map(|_| {
                let both = both.clone();
                client.submit(
                    move || {
                        SLOW.with(|_| ());
                        both.wait();
                    },
                    (),
                )
            })
            .collect();
        client.gather(&tasks).unwrap();
        drop(client);
        assert_eq!(DROPPED.load(Ordering::SeqCst), 2);
    });
}

/// The last handle of a client kept in a thread-local of one of its own threads, a
/// spare that ends (started for a task that waited, idle a second once it was back):
/// its drop there, as the thread's locals are destroyed, cannot wait for that thread
/// to be gone. It did, for the whole shutdown timeout (an hour here; 60 s by default).
#[test]
fn a_client_dropped_in_a_thread_local_of_its_own_thread_does_not_wait_for_itself() {
    struct Holder(Option<Client>, Option<mpsc::Sender<()>>);
    impl Drop for Holder {
        fn drop(&mut self) {
            if let Some(client) = self.0.take() {
                drop(client);
                let _ = self.1.take().map(|done| done.send(()));
            }
        }
    }
    thread_local!(static HELD: std::cell::RefCell<Holder> = const {
        std::cell::RefCell::new(Holder(None, None))
    });
    watchdog::within(Duration::from_secs(60), "dropped in a thread-local", || {
        let client = Client::builder()
            .threads(1)
            .name("heldtls")
            .shutdown_timeout(Duration::from_secs(3600))
            .build()
            .unwrap();
        // Hands its thread's place over for a while (a spare starts), then keeps it.
        let waits = client.submit(
            || {
                taskweave::secede(|| std::thread::sleep(Duration::from_millis(300)));
                std::thread::sleep(Duration::from_millis(1500));
            },
            (),
        );
        std::thread::sleep(Duration::from_millis(50));
        let (done, dropped) = mpsc::channel();
        let holds = client.submit(
            move || {
                HELD.with(|held| {
                    *held.borrow_mut() = Holder(taskweave::get_client(), Some(done.clone()));
                });
            },
            (),
        );
        holds.result().unwrap();
        drop((client, holds, waits));
        // The spare ends a second after it ran `holds`, and its locals with it.
        dropped.recv_timeout(Duration::from_secs(50)).unwrap();
    });
}

/// Tasks running at once, counted by the tasks themselves.
#[derive(Default)]
struct AtOnce {
    running: AtomicUsize,
    most: AtomicUsize,
}

impl AtOnce {
    /// A task's body: counted in for 2 ms.
    fn task(&self) {
        self.task_for(Duration::from_millis(2));
    }

    /// A task's body: counted in for `time`.
    fn task_for(&self, time: Duration) {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(time);
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The most tasks of `client` that ran at once in `load`, whose tasks run
/// [`AtOnce::task`].
fn most_at_once(client: &Client, load: impl FnOnce(&Client, &Arc<AtOnce>)) -> usize {
    let at_once = Arc::new(AtOnce::default());
    load(client, &at_once);
    at_once.most.load(Ordering::SeqCst)
}

/// Runs `waiters` tasks of `client` that wait for one future at the same time (each
/// hands its place to another thread, which the pool starts), then lets them go.
fn wait_together(client: &Client, waiters: usize) {
    let (held, open) = held_open(client, 5u64);
    let started = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<Future<u64>> = (0..waiters)
        .map(|_| {
            let (held, started) = (held.clone(), started.clone());
            client.submit(
                move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    held.result().unwrap()
                },
                (),
            )
        })
        .collect();
    // Each started on a thread of its own: the others wait.
    while started.load(Ordering::SeqCst) < waiters {
        std::thread::sleep(Duration::from_millis(1));
    }
    open.send(()).unwrap();
    assert_eq!(client.gather(&tasks).unwrap(), vec![5; waiters]);
}

/// Dask's `rejoin`: once its waiting tasks are back, a client runs `threads` tasks at
/// once again. The threads started for 16 waiters kept taking tasks beside the
/// client's two after the waits ended, until a second went by without any work: a
/// busy client of two threads ran 18 tasks at once, for as long as it stayed busy.
/// Now the worker after a returning task parks (each submitted task, each task of a
/// `map`'s batch, runs on two threads at most), a parked worker takes the place of the
/// next waiter, and parked workers end after a second.
#[test]
fn once_its_waiting_tasks_are_back_a_client_runs_threads_tasks_at_once() {
    watchdog::within(Duration::from_secs(60), "rejoin", || {
        let client = Client::builder().threads(2).name("rejoin").build().unwrap();
        for round in 0..2 {
            wait_together(&client, 16);
            assert!(
                threads_named("rejoin-") >= 17,
                "the waiters' places were taken"
            );
            // Workers still looking for a job when the waiters came back see them.
            std::thread::sleep(Duration::from_millis(20));
            let submitted = most_at_once(&client, |client, at_once| {
                for _ in 0..4 {
                    let batch: Vec<Future<()>> = (0..32)
                        .map(|_| {
                            let at_once = at_once.clone();
                            client.submit(move || at_once.task(), ())
                        })
                        .collect();
                    client.gather(&batch).unwrap();
                }
            });
            let mapped = most_at_once(&client, |client, at_once| {
                let at_once = at_once.clone();
                client
                    .gather(&client.map(move |_: u32| at_once.task(), 0..64))
                    .unwrap();
            });
            assert_eq!((round, submitted, mapped), (round, 2, 2));
        }
        // Parked workers end after a second.
        let deadline = Instant::now() + Duration::from_secs(30);
        while threads_named("rejoin-") > 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(threads_named("rejoin-"), 2);
    });
}

/// A rayon thread waiting for a task of a busy client (two threads, at most two) whose
/// argument is a `map` of 40 tasks of 30 ms: the waiter gets a thread of its own for
/// a queued task it needs (the client cannot tell its threads held up in rayon from
/// busy ones), one at a time. One was started every two of the waiter's looks, each
/// for a task of its own: 13 tasks ran at once with 60 tasks of 50 ms, 47 with 100 of
/// 200 ms. Now at most the client's two, one for the waiter's place, and one started
/// for it.
#[test]
fn a_rayon_thread_waiting_on_a_busy_client_adds_at_most_two_tasks_at_once() {
    watchdog::within(Duration::from_secs(60), "busy client", || {
        let client = Client::builder()
            .threads(2)
            .max_threads(2)
            .name("busywait")
            .build()
            .unwrap();
        let at_once = Arc::new(AtOnce::default());
        let counted = at_once.clone();
        let parts = client.map(
            move |i: u64| {
                counted.task_for(Duration::from_millis(30));
                i
            },
            0..40u64,
        );
        let total = client.submit(|v: Vec<u64>| v.iter().sum::<u64>(), (parts,));
        let rayon = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert_eq!(
            rayon.install(|| total.result().unwrap()),
            (0..40).sum::<u64>()
        );
        let most = at_once.most.load(Ordering::SeqCst);
        assert!(
            most <= 4,
            "{most} tasks ran at once on a client of two threads"
        );
    });
}

/// Tasks that each look once whether their child is done (`result_timeout(ZERO)`, the
/// child queued behind them), then work and take the child's result at the end: a
/// look is not a wait, and they keep their places. The first look used to hand the
/// thread's place over until the task ended, and the pool started a thread for each
/// such task past `max_threads`: 151 ran at once on a client of two threads.
#[test]
fn tasks_that_poll_once_and_then_work_run_threads_at_once() {
    watchdog::within(Duration::from_secs(60), "poll once, then work", || {
        let client = bounded(2, 2, "pollonce");
        let at_once = Arc::new(AtOnce::default());
        let parents: Vec<Future<u64>> = (0..24u64)
            .map(|i| {
                let counted = at_once.clone();
                client.submit(
                    move || {
                        let client = taskweave::get_client().unwrap();
                        let child = client.submit(move |i: u64| i + 1, (i,));
                        let looked = child.result_timeout(Duration::ZERO).ok();
                        counted.task_for(Duration::from_millis(20));
                        looked.unwrap_or_else(|| child.result().unwrap()) * 2
                    },
                    (),
                )
            })
            .collect();
        let got = client.gather(&parents).unwrap();
        assert_eq!(got, (0..24u64).map(|i| (i + 1) * 2).collect::<Vec<_>>());
        let most = at_once.most.load(Ordering::SeqCst);
        assert!(
            most <= 2,
            "{most} tasks ran at once on a client of two threads"
        );
    });
}

/// `n` tasks of `client`, task `i` submitting a child that sleeps for `child` and gives
/// `i`, polling it with `timeout` until it is done, then sleeping for `after`: each
/// gives its child's value.
fn polling_parents(
    client: &Client,
    n: u64,
    child: Duration,
    timeout: Duration,
    after: Duration,
) -> Vec<Future<u64>> {
    (0..n)
        .map(|i| {
            client.submit(
                move || {
                    let client = taskweave::get_client().unwrap();
                    let child = client.submit(
                        move |i: u64| {
                            std::thread::sleep(child);
                            i
                        },
                        (i,),
                    );
                    let value = loop {
                        match child.result_timeout(timeout) {
                            Ok(value) => break value,
                            Err(FutureError::Timeout { .. }) => {}
                            Err(other) => panic!("{other}"),
                        }
                    };
                    std::thread::sleep(after);
                    value
                },
                (),
            )
        })
        .collect()
}

/// Many more tasks than threads, each polling its child with timeouts of 50 µs until
/// it is done, then working: with the machine this busy (the pollers themselves), a
/// timed wait gives its core away before its deadline and sleeps, and such a wait,
/// timed out, was not taken for a poll. Between their sleeps the pollers counted as
/// running, every thread was one, and no one ran the children: 100 of them on a
/// client of two threads never ended.
#[test]
fn tasks_polling_their_children_on_a_busy_machine_end() {
    for max_threads in [2, 1026] {
        let got = watchdog::within(Duration::from_secs(120), "busy pollers", move || {
            let client = bounded(2, max_threads, "busypoll");
            let parents = polling_parents(
                &client,
                100,
                Duration::from_millis(1),
                Duration::from_micros(50),
                Duration::from_millis(5),
            );
            client.gather(&parents).unwrap()
        });
        assert_eq!(
            got,
            (0..100).collect::<Vec<u64>>(),
            "max_threads {max_threads}"
        );
    }
}

/// Rounds of four tasks each polling its own child with `Duration::ZERO` on a client
/// of one thread and no more: every round ends. A thread started for a poller past
/// `max_threads` ended after its job while the pool's worker was parked (counted past
/// the bound because of it), without calling it back, and the parked worker ended a
/// second later: no thread left, tasks queued, all 5 runs hung within 25 rounds.
#[test]
fn rounds_of_tasks_polling_their_children_on_a_one_thread_client_all_end() {
    watchdog::within(Duration::from_secs(120), "rounds of pollers", || {
        let client = bounded(1, 1, "pollrounds");
        for round in 0..150 {
            let parents = polling_parents(
                &client,
                4,
                Duration::from_micros(20),
                Duration::ZERO,
                Duration::ZERO,
            );
            let got = client.gather(&parents).unwrap();
            assert_eq!(got, (0..4).collect::<Vec<u64>>(), "round {round}");
        }
    });
}

/// A task on a client of one thread and no more polls its queued child, and between
/// its polls waits for something that ends at once (a task it runs inline, a done
/// future): the child runs. Each such wait ended the task's polling, so it never
/// polled twice in a row, never handed its place over, and its child never ran.
#[test]
fn a_task_polling_between_waits_that_end_done_gets_its_child_run() {
    for inline in [true, false] {
        let got = watchdog::within(
            Duration::from_secs(60),
            "polls between done waits",
            move || {
                let client = bounded(1, 1, "pollbetween");
                let parent = client.submit(
                    move || {
                        let client = taskweave::get_client().unwrap();
                        let child = client.submit(|| 7u64, ());
                        let done = client.submit(|| 1u64, ());
                        done.result().unwrap();
                        loop {
                            if let Ok(value) = child.result_timeout(Duration::ZERO) {
                                return value;
                            }
                            if inline {
                                client.submit(|| 1u64, ()).result().unwrap();
                            } else {
                                let (ended, _) = taskweave::wait(
                                    std::slice::from_ref(&done),
                                    WaitMode::AllCompleted,
                                    Some(Duration::ZERO),
                                );
                                assert_eq!(ended.len(), 1);
                            }
                            std::thread::sleep(Duration::from_micros(200));
                        }
                    },
                    (),
                );
                parent.result().unwrap()
            },
        );
        assert_eq!(got, 7, "inline {inline}");
    }
}

/// A task of client B (one thread, no more) polls a future of client A whose task
/// polls a queued future of B: B's queued task runs. A's task counted as polling only
/// when A had jobs queued, so it never asked B for a thread, and B's only thread
/// polled A's future for ever.
#[test]
fn a_task_polling_another_clients_task_that_polls_back_ends() {
    let got = watchdog::within(Duration::from_secs(60), "polls across clients", || {
        let a = Client::builder().threads(2).name("pollsa").build().unwrap();
        let b = bounded(1, 1, "pollsb");
        let (a2, b2) = (a.clone(), b.clone());
        let on_b = b.submit(
            move || {
                let b3 = b2.clone();
                let on_a = a2.submit(
                    move || {
                        let back_on_b = b3.submit(|| 5u64, ());
                        loop {
                            if let Ok(value) = back_on_b.result_timeout(Duration::from_millis(1)) {
                                return value;
                            }
                        }
                    },
                    (),
                );
                loop {
                    if let Ok(value) = on_a.result_timeout(Duration::ZERO) {
                        return value + 1;
                    }
                    std::thread::sleep(Duration::from_micros(100));
                }
            },
            (),
        );
        on_b.result().unwrap()
    });
    assert_eq!(got, 6);
}

/// A task on a client of one thread and no more polls its children in turn, each
/// with a 1 ms timeout, until all are done: past `max_threads` a child its polls
/// needed, still queued 2 ms later, gets a thread. Its looks compared the child
/// needed at one look with the one needed at the next, a different child each time
/// in such a loop: none ever ran (a hang, for 150 s in a release build).
#[test]
fn a_task_polling_its_children_in_turn_on_a_one_thread_client_ends() {
    for children in [2u64, 3, 10] {
        let got = watchdog::within(Duration::from_secs(60), "polls in turn", move || {
            let client = bounded(1, 1, "inturn");
            let top = client.submit(
                move || {
                    let client = taskweave::get_client().unwrap();
                    let kids: Vec<Future<u64>> = (0..children)
                        .map(|i| client.submit(move || i * i, ()))
                        .collect();
                    let mut got: Vec<Option<u64>> = vec![None; kids.len()];
                    while got.iter().any(Option::is_none) {
                        for (kid, slot) in kids.iter().zip(&mut got) {
                            if slot.is_none() {
                                *slot = kid.result_timeout(Duration::from_millis(1)).ok();
                            }
                        }
                    }
                    got.into_iter().flatten().sum::<u64>()
                },
                (),
            );
            top.result().unwrap()
        });
        assert_eq!(
            got,
            (0..children).map(|i| i * i).sum::<u64>(),
            "{children} children"
        );
    }
}

/// A chain of computes over futures (each link a graph reading the future of the one
/// before), every link submitted while the root still runs: each compute waits for
/// the futures its graph reads as a dependency, on no thread, and the chain runs one
/// link after another on the client's threads. Each compute started at once and its
/// graph's task slept in the future's read, a thread each: 2,000 links held about 400
/// threads, 10^4 went past `max_threads`, 10^5 did not finish in a minute.
#[test]
fn a_chain_of_computes_over_futures_holds_no_thread_per_link() {
    const LINKS: u64 = 100_000;
    let step = |x: u64| x.wrapping_mul(3).wrapping_add(1);
    watchdog::within(Duration::from_secs(120), "a chain of computes", move || {
        let client = Client::builder().threads(2).name("cchain").build().unwrap();
        let (root, open) = held_open(&client, 7u64);
        // The most threads the client had at once, from now until the chain's end.
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut most = 0;
                while !done.load(Ordering::Acquire) {
                    most = most.max(threads_named("cchain-"));
                    std::thread::sleep(Duration::from_millis(2));
                }
                most
            })
        };
        let mut link = root;
        for _ in 0..LINKS {
            link = client.compute(&delayed(step).call(&link));
        }
        // Every link is pending on the root: none has a thread.
        assert_eq!(link.status(), Status::Pending);
        open.send(()).unwrap();
        let value = link.result().unwrap();
        done.store(true, Ordering::Release);
        let most = sampler.join().unwrap();
        assert_eq!(value, (0..LINKS).fold(7, |x, _| step(x)));
        // The client's two threads, and the few a compute's wait may lend its place to.
        assert!(most <= 8, "{most} threads for a chain of {LINKS} computes");
    });
}

/// The same chain of computes, its last handle dropped while the root still runs:
/// every link is cancelled, each releasing the graph that held the one before (its
/// last handle), in bounded stack, and the client shuts down.
#[test]
fn a_chain_of_pending_computes_dropped_is_cancelled_in_bounded_stack() {
    const LINKS: u64 = 100_000;
    watchdog::within(
        Duration::from_secs(120),
        "a dropped chain of computes",
        || {
            let client = client(2);
            let (root, open) = held_open(&client, 7u64);
            let ended = end_of(&root);
            let mut link = root;
            for _ in 0..LINKS {
                link = client.compute(&delayed(|x: u64| x + 1).call(link));
            }
            drop(link);
            // The root's last handle went with the first link's graph: cancelled.
            assert_eq!(ended(), Some(Status::Cancelled));
            open.send(()).unwrap();
        },
    );
}

/// A compute's graph reading futures, of its own client and of another, one of them
/// in several tasks: the compute waits for them as dependencies (each once), pending
/// on no thread, and its result is the graph's, as computed in order. It started at
/// once, and its graph's task waited for the future on a thread.
#[test]
fn a_compute_depends_on_the_futures_its_graph_reads() {
    let (a, b) = (client(1), client(1));
    let (held, open) = held_open(&a, 4i64);
    let shared = b.submit(|| 3i64, ());
    let reads: Vec<Delayed<i64>> = (1..=3)
        .map(|i| delayed(move |x: i64| x * i).call(&shared))
        .collect();
    let total = delayed(|v: Vec<i64>, h: i64| v.iter().sum::<i64>() + h).call(reads, &held);
    let computed = b.compute(&total);
    // `b`'s one thread runs a task submitted after the compute: the compute has not
    // started, as it would have (first in the queue) and then waited for `held`.
    assert_eq!(b.submit(|| 1, ()).result().unwrap(), 1);
    assert_eq!(computed.status(), Status::Pending);
    let info = futures_info(&[&computed]);
    assert_eq!(
        (info.len(), info.edges().len()),
        (3, 2),
        "{:?}",
        info.edges()
    );
    open.send(()).unwrap();
    assert_eq!(computed.result().unwrap(), 3 + 6 + 9 + 4);
}

/// A compute whose graph reads a future that is cancelled while the compute waits
/// for it fails as the graph's task that reads it does, naming that task and the
/// future; cancelling a compute that waits releases its graph at once, and with it
/// a future only the graph held.
#[test]
fn a_compute_waiting_for_a_future_fails_with_it_or_is_cancelled_alone() {
    // One thread for the blocker, one for the computes.
    let client = client(2);
    let (blocker, open) = held_open(&client, ());
    let pending = client.submit(|_: ()| 5i64, (&blocker,));
    let computed = client.compute(&delayed(|x: i64| x + 1).named("plus_one").call(&pending));
    pending.cancel();
    let Err(FutureError::Task(error)) = computed.result() else {
        panic!("the compute fails");
    };
    assert_eq!(error.task(), "plus_one");
    assert!(error.message().contains(&pending.key()), "{error}");
    assert!(error.message().contains("cancelled"), "{error}");
    // The graph holds the only handle of `read`: the compute's cancel drops it.
    let read = client.submit(|_: ()| 5i64, (&blocker,));
    let ended = end_of(&read);
    let computed = client.compute(&delayed(|x: i64| x + 1).call(read));
    computed.cancel();
    assert_eq!(ended(), Some(Status::Cancelled));
    open.send(()).unwrap();
}

/// A chain of callbacks, each adding the next to a future that has already ended (a
/// walk over finished futures, one callback after another), runs in bounded stack,
/// every link before the first `add_done_callback` returns: each ran inside the one
/// before, and 100,000 links overflowed the stack and aborted the process.
#[test]
fn a_chain_of_callbacks_on_ended_futures_runs_in_bounded_stack() {
    const LINKS: usize = 100_000;
    fn then(future: Future<u64>, links: Arc<AtomicUsize>) {
        let next = future.clone();
        future.add_done_callback(move |_| {
            if links.fetch_add(1, Ordering::Relaxed) + 1 < LINKS {
                then(next, links);
            }
        });
    }
    let client = client(1);
    let ended = client.submit(|| 1u64, ());
    ended.result().unwrap();
    let links = Arc::new(AtomicUsize::new(0));
    then(ended, links.clone());
    assert_eq!(links.load(Ordering::Relaxed), LINKS);
}

#[test]
fn dropping_the_client_cancels_pending_and_lets_running_finish() {
    let client = client(1);
    let finished = Arc::new(AtomicBool::new(false));
    let started = Arc::new(Barrier::new(2));
    let (flag, gate) = (finished.clone(), started.clone());
    let running = client.submit(
        move || {
            gate.wait();
            std::thread::sleep(Duration::from_millis(100));
            flag.store(true, Ordering::SeqCst);
        },
        (),
    );
    started.wait();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let pending = client.submit(move || flag.store(true, Ordering::SeqCst), ());
    drop(client);
    // The running task finished before the client's threads ended.
    assert!(finished.load(Ordering::SeqCst));
    assert_eq!(running.status(), Status::Finished);
    assert_eq!(pending.status(), Status::Cancelled);
    assert!(!ran.load(Ordering::SeqCst));
}

/// 100,000 tasks with random dependencies, cancellations and panics: every future
/// ends in the state it must, every result is dropped once, and the client shuts down.
#[test]
fn stress_random_dependencies_cancels_and_panics() {
    // A thousand injected panics: keep them off the test output.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let injected = info.payload().downcast_ref::<&str>() == Some(&"injected");
        if !injected {
            default_hook(info);
        }
    }));
    let drops = Arc::new(AtomicUsize::new(0));
    let made = Arc::new(AtomicUsize::new(0));
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let client = client(2);
    // Nothing runs before every task is submitted and the cancellations are made.
    let (open, gate_rx) = mpsc::channel::<()>();
    let gate_rx = Mutex::new(gate_rx);
    let gate = client.submit(move || gate_rx.lock().unwrap().recv().unwrap(), ());
    const N: usize = 100_000;
    let mut futures: Vec<Future<Arc<Counted>>> = Vec::with_capacity(N);
    // What each task does: 0 ok, 1 panics, 2 cancelled after submission.
    let mut kinds = Vec::with_capacity(N);
    let mut deps_of: Vec<Vec<usize>> = Vec::with_capacity(N);
    for i in 0..N {
        let kind = match next() % 100 {
            0 => 1,
            1 => 2,
            _ => 0,
        };
        let deps: Vec<usize> = if i == 0 {
            Vec::new()
        } else {
            (0..next() % 3).map(|_| (next() as usize) % i).collect()
        };
        let (drops, made) = (drops.clone(), made.clone());
        let inputs: Vec<Future<Arc<Counted>>> = deps.iter().map(|&d| futures[d].clone()).collect();
        let future = client.submit(
            move |(): (), _inputs: Vec<Arc<Counted>>| {
                if kind == 1 {
                    panic!("injected");
                }
                made.fetch_add(1, Ordering::SeqCst);
                Arc::new(Counted(drops.clone()))
            },
            (&gate, inputs),
        );
        if kind == 2 {
            future.cancel();
        }
        futures.push(future);
        kinds.push(kind);
        deps_of.push(deps);
    }
    open.send(()).unwrap();
    let (done, _) = wait(
        &futures,
        WaitMode::AllCompleted,
        Some(Duration::from_secs(120)),
    );
    assert_eq!(done.len(), N, "every future ended");
    // The state each must be in, from its own kind and its dependencies'.
    let mut expected = Vec::with_capacity(N);
    for i in 0..N {
        let mut state = match kinds[i] {
            2 => Status::Cancelled,
            1 => Status::Error,
            _ => Status::Finished,
        };
        if kinds[i] != 2 {
            for &d in &deps_of[i] {
                match expected[d] {
                    Status::Finished => {}
                    other if state == Status::Finished || state == Status::Error => {
                        // A failed or cancelled dependency ends it first, unless it
                        // already ended on its own (it cannot have: it waits for them).
                        state = other;
                    }
                    _ => {}
                }
            }
        }
        expected.push(state);
    }
    for (i, future) in futures.iter().enumerate() {
        let status = future.status();
        match expected[i] {
            Status::Finished => assert_eq!(status, Status::Finished, "task {i}"),
            // With several failed inputs, whichever ends first decides.
            _ => assert!(
                matches!(status, Status::Error | Status::Cancelled),
                "task {i}: {status:?}"
            ),
        }
        if kinds[i] == 2 {
            assert_eq!(status, Status::Cancelled, "task {i}");
        }
    }
    let made_count = made.load(Ordering::SeqCst);
    let finished = futures
        .iter()
        .filter(|f| f.status() == Status::Finished)
        .count();
    assert_eq!(
        made_count, finished,
        "exactly the finished tasks made a value"
    );
    drop(futures);
    drop(done);
    drop(gate);
    drop(client);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        made_count,
        "every result dropped exactly once"
    );
}

/// Errors by the Rust API guidelines: a task's failure is the `source` of its
/// future's error; a client that cannot start its threads keeps the system's error.
#[test]
fn future_errors_chain_their_source() {
    use std::error::Error as _;
    let client = Client::builder().threads(1).build().unwrap();
    let failed = client.submit(|| -> i64 { panic!("inner cause") }, ());
    let error = failed.result().expect_err("the task panicked");
    let source = error.source().expect("a task error has a source");
    assert!(source.to_string().contains("inner cause"), "{source}");
    let cancelled = client.submit(|| 1, ());
    cancelled.cancel();
    if let Err(error) = cancelled.result() {
        assert!(error.source().is_none());
    }
    assert_eq!(
        Client::builder().threads(0).build().err(),
        Some(taskweave::ClientError::ZeroThreads)
    );
}

/// A task's own function (a closure) and its arguments are dropped when the task ends,
/// though its future lives on (the future and the job are one allocation), and so when
/// it is cancelled before it ran; a builder's shared function lives as long as its
/// tasks or the builder.
#[test]
fn a_tasks_closure_and_arguments_are_dropped_when_it_ends_not_with_its_future() {
    let client = client(1);
    let captured = Arc::new(());
    let argument = Arc::new(());
    let kept = captured.clone();
    let done = client.submit(
        move |a: Arc<()>| {
            let _ = (&kept, &a);
            1
        },
        (argument.clone(),),
    );
    assert_eq!(done.result().unwrap(), 1);
    assert!(eventually(
        || Arc::strong_count(&captured) == 1 && Arc::strong_count(&argument) == 1
    ));
    assert_eq!(done.status(), Status::Finished);

    // Cancelled before it ran: waits on a future that never finishes.
    let (gate, open) = mpsc::channel::<()>();
    let open = Mutex::new(open);
    let blocker = client.submit(move || open.lock().unwrap().recv().is_ok(), ());
    let kept = captured.clone();
    let waiting = client.submit(
        move |_: bool, a: Arc<()>| {
            let _ = (&kept, &a);
            2
        },
        (&blocker, argument.clone()),
    );
    assert_eq!(Arc::strong_count(&captured), 2);
    waiting.cancel();
    assert_eq!(waiting.status(), Status::Cancelled);
    assert_eq!(
        Arc::strong_count(&captured),
        1,
        "the closure goes with the cancel"
    );
    assert_eq!(Arc::strong_count(&argument), 1, "and so do its arguments");
    gate.send(()).unwrap();
    assert!(blocker.result().unwrap());
    drop(waiting);
}

/// A done callback that cancels a future and then waits for its dependent: the
/// dependent's cancellation used to be queued behind the callback (the ending task was
/// still telling its waiters), so the wait never returned.
#[test]
fn a_done_callback_waits_for_a_dependent_of_a_future_it_cancelled() {
    let client = client(4);
    let (open, opened) = mpsc::channel::<u32>();
    let opened = Mutex::new(opened);
    let victim = client.submit(move || opened.lock().unwrap().recv().unwrap_or(0), ());
    let dependent = client.submit(|v: u32| v, (&victim,));
    let first = client.submit(|| 1u32, ());
    let (tell, told) = mpsc::channel();
    first.add_done_callback(move |_| {
        victim.cancel();
        let _ = tell.send(dependent.result().map_err(|e| e.to_string()));
    });
    assert_eq!(first.result().unwrap(), 1);
    let seen = told
        .recv_timeout(Duration::from_secs(60))
        .expect("the callback's wait returned");
    assert!(seen.unwrap_err().contains("cancelled"));
    drop(open);
}

/// A task submitted by a done callback is one idle workers run: a callback that waits
/// for it with a timeout used to time out (it was kept for the ending thread to run
/// after the callback).
#[test]
fn a_task_a_done_callback_submits_runs_on_an_idle_worker() {
    let client = client(4);
    let first = client.submit(|| 1u32, ());
    let submitter = client.clone();
    let (tell, told) = mpsc::channel();
    first.add_done_callback(move |_| {
        let inner = submitter.submit(|| 3u32, ());
        let _ = tell.send(inner.result_timeout(Duration::from_secs(30)));
    });
    assert_eq!(first.result().unwrap(), 1);
    let seen = told
        .recv_timeout(Duration::from_secs(60))
        .expect("the callback ended");
    assert_eq!(seen.unwrap(), 3);
}

#[test]
fn exception_waits_for_the_task_as_dask_does() {
    let client = Client::builder().threads(2).build().unwrap();
    // A task about to fail: `exception()` waits for it (it was `None` at once, read as
    // "no error"), and so does `traceback()`.
    let (go, gate) = mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let failing = client
        .task(move || -> i64 {
            gate.lock().unwrap().recv().unwrap();
            panic!("late failure")
        })
        .named("late")
        .submit(());
    assert!(!failing.done(), "held at its gate");
    assert!(matches!(
        failing.exception_timeout(Duration::from_millis(20)),
        Err(FutureError::Timeout { .. })
    ));
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        go.send(()).unwrap();
    });
    let error = failing.exception().unwrap().expect("the task's error");
    assert_eq!((error.task(), error.message()), ("late", "late failure"));
    assert_eq!(failing.status(), Status::Error);
    assert!(failing.traceback().is_ok());
    opener.join().unwrap();
    // A task that finishes: `Ok(None)`, once it has.
    let slow = client.submit(
        || {
            std::thread::sleep(Duration::from_millis(30));
            7_i64
        },
        (),
    );
    assert!(slow.exception().unwrap().is_none());
    assert_eq!(slow.status(), Status::Finished);
    assert!(slow.traceback().unwrap().is_none());
    // A cancelled task is an error, as its `result()` is (Dask raises `CancelledError`
    // there; its `exception()` returns `None`), not "no error".
    let (_hold, never) = mpsc::channel::<()>();
    let never = Mutex::new(never);
    let blocker = client.submit(move || never.lock().unwrap().recv().is_ok(), ());
    let pending = client.submit(|ok: bool| ok, (&blocker,));
    assert!(!pending.cancelled());
    pending.cancel();
    assert!(pending.cancelled() && !slow.cancelled());
    assert!(matches!(
        pending.exception(),
        Err(FutureError::Cancelled { .. })
    ));
    blocker.cancel();
}

#[test]
fn a_failed_task_gives_its_typed_panic_payload() {
    #[derive(Clone, Debug, PartialEq)]
    struct MyError(i32);
    let client = Client::builder().threads(1).build().unwrap();
    let failed = client.submit(|x: i32| -> i64 { std::panic::panic_any(MyError(x)) }, (4,));
    let dependent = client.submit(inc, (&failed,));
    // As Dask's `except MyError as e:` catches the task's own exception: through the
    // future's shared error, and a dependent's.
    for future in [&failed, &dependent] {
        match future.result() {
            Err(FutureError::Task(error)) => {
                assert_eq!(error.payload::<MyError>(), Some(MyError(4)));
                assert_eq!(error.payload::<String>(), None);
            }
            other => panic!("expected the task's error, got {other:?}"),
        }
    }
    // A graph's error, and a string payload.
    let graph = delayed(|x: i32| -> i64 { std::panic::panic_any(MyError(x)) }).call(5);
    let error = graph.try_compute().unwrap_err();
    assert_eq!(error.payload::<MyError>(), Some(MyError(5)));
    let error = delayed(|x: i32| -> i64 { panic!("text {x}") })
        .call(6)
        .try_compute()
        .unwrap_err();
    assert_eq!(error.payload::<String>().as_deref(), Some("text 6"));
    assert_eq!(error.payload::<MyError>(), None);
}

/// `get_client()` in a done callback: a callback is no task, so it finds a client
/// only where the code running it has one. Run on a pool thread at the task's end or
/// on the caller's thread (added to an ended future): `None`; run inside one of the
/// client's tasks (added there to an ended future): that client. The documented way
/// to submit from a callback, a captured clone of the client, works on any thread.
#[test]
fn get_client_in_a_done_callback_finds_the_client_of_the_code_running_it() {
    watchdog::within(Duration::from_secs(60), "get_client in callbacks", || {
        let client = client(2);
        let (told, seen) = mpsc::channel();
        let (gated, open) = held_open(&client, 0_u64);
        {
            let told = told.clone();
            let submitter = client.clone();
            gated.add_done_callback(move |_| {
                let found = taskweave::get_client().is_some();
                let then = submitter.submit(|| 5_u64, ());
                told.send(("pool", found, Some(then))).unwrap();
            });
        }
        open.send(()).unwrap();
        let ended = client.submit(|| 1_u64, ());
        ended.result().unwrap();
        {
            let told = told.clone();
            ended.add_done_callback(move |_| {
                told.send(("caller", taskweave::get_client().is_some(), None))
                    .unwrap();
            });
        }
        let in_task = {
            let (told, ended) = (told.clone(), ended.clone());
            client.submit(
                move || {
                    let told = told.clone();
                    ended.add_done_callback(move |_| {
                        told.send(("task", taskweave::get_client().is_some(), None))
                            .unwrap();
                    });
                },
                (),
            )
        };
        in_task.result().unwrap();
        let mut seen: Vec<_> = (0..3)
            .map(|_| {
                let (at, found, then) = seen.recv_timeout(Duration::from_secs(30)).unwrap();
                (
                    at,
                    found,
                    then.map(|then: Future<u64>| then.result().unwrap()),
                )
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("caller", false, None),
                ("pool", false, Some(5)),
                ("task", true, None)
            ]
        );
    });
}
