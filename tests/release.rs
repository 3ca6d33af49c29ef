//! Release, as Dask does it: a future whose last handle is dropped, or that is
//! cancelled, releases its task's arguments at once, and upstream futures that only
//! it held are released in turn, so their tasks never run; nothing a waiter leaves on
//! a future (`as_completed`, a `wait` that timed out) keeps it alive. And the rest of
//! Dask's everyday futures API: `FIRST_EXCEPTION`, `client.cancel`, `add_done_callback`,
//! `get_client`, futures as map keys, `key()`, `client.map` of two sequences, named
//! maps, `as_completed` with a timeout, in batches, `has_ready`, `remaining` (Dask's
//! `count`), and priorities.

#[path = "support/watchdog.rs"]
mod watchdog;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use taskweave::prelude::*;
use taskweave::{FutureError, Status};
use watchdog::within;

const LIMIT: Duration = Duration::from_secs(60);

/// A one-thread client whose thread is held by a task until `release` is sent.
fn busy_client() -> (Client, mpsc::Sender<()>, Future<()>) {
    let client = Client::builder().threads(1).name("busy").build().unwrap();
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let hold = client.submit(move || released.lock().unwrap().recv().unwrap(), ());
    // The thread has taken the holding task before anything else is queued.
    while hold.status() == Status::Pending {
        std::thread::yield_now();
    }
    (client, release, hold)
}

/// Counts its drops: an argument kept by a task.
struct Guard(Arc<AtomicUsize>);

impl Clone for Guard {
    fn clone(&self) -> Self {
        Guard(self.0.clone())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Ten stages, each counting its runs and holding a `Guard`; the last future only.
fn stages(client: &Client, runs: &Arc<AtomicUsize>, dropped: &Arc<AtomicUsize>) -> Future<u64> {
    let stage = {
        let runs = runs.clone();
        move |x: u64, _guard: Guard| {
            runs.fetch_add(1, Ordering::SeqCst);
            x + 1
        }
    };
    let mut x = client.submit(stage.clone(), (0u64, Guard(dropped.clone())));
    for _ in 1..10 {
        x = client.submit(stage.clone(), (x, Guard(dropped.clone())));
    }
    x
}

#[test]
fn dropping_the_last_handle_releases_every_upstream_stage() {
    within(LIMIT, "drop releases", || {
        let (client, release, hold) = busy_client();
        let runs = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let last = stages(&client, &runs, &dropped);
        drop(last);
        // At once, while the thread is still busy: every stage's arguments are gone.
        assert_eq!(dropped.load(Ordering::SeqCst), 10);
        release.send(()).unwrap();
        hold.result().unwrap();
        // Whatever was queued has had its turn: a task submitted now runs after it.
        client.submit(|| (), ()).result().unwrap();
        assert_eq!(
            runs.load(Ordering::SeqCst),
            0,
            "no stage runs once released"
        );
    });
}

#[test]
fn cancelling_releases_every_upstream_stage_that_only_it_needed() {
    within(LIMIT, "cancel releases", || {
        let (client, release, hold) = busy_client();
        let runs = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let last = stages(&client, &runs, &dropped);
        last.cancel();
        assert_eq!(dropped.load(Ordering::SeqCst), 10);
        assert!(matches!(last.result(), Err(FutureError::Cancelled { .. })));
        release.send(()).unwrap();
        hold.result().unwrap();
        client.submit(|| (), ()).result().unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn an_upstream_future_still_held_elsewhere_is_not_released() {
    within(LIMIT, "shared upstream", || {
        let (client, release, hold) = busy_client();
        let runs = Arc::new(AtomicUsize::new(0));
        let count = {
            let runs = runs.clone();
            move |x: u64| {
                runs.fetch_add(1, Ordering::SeqCst);
                x * 2
            }
        };
        let shared = client.submit(count.clone(), (21u64,));
        let reader = client.submit(count.clone(), (&shared,));
        drop(reader);
        release.send(()).unwrap();
        hold.result().unwrap();
        // `shared` was still held here: it runs, the dropped reader does not.
        assert_eq!(shared.result().unwrap(), 42);
        client.submit(|| (), ()).result().unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn a_long_chain_is_released_when_its_tail_is_dropped() {
    within(LIMIT, "long chain released", || {
        let (client, release, hold) = busy_client();
        let dropped = Arc::new(AtomicUsize::new(0));
        let mut x = client.submit(|g: Guard| drop(g), (Guard(dropped.clone()),));
        for _ in 0..200_000 {
            x = client.submit(|(): ()| (), (x,));
        }
        drop(x);
        // The whole chain, down to the first task's argument, in constant stack.
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        release.send(()).unwrap();
        hold.result().unwrap();
    });
}

#[test]
fn dropping_as_completed_drops_what_it_had_not_yielded() {
    within(LIMIT, "as_completed released", || {
        let (client, release, hold) = busy_client();
        let runs = Arc::new(AtomicUsize::new(0));
        let count = {
            let runs = runs.clone();
            move |x: u64| {
                runs.fetch_add(1, Ordering::SeqCst);
                x
            }
        };
        let mut futures = vec![client.scatter(0u64)];
        futures.extend((1..=40u64).map(|i| client.submit(count.clone(), (i,))));
        let mut completed = as_completed(futures);
        let first = completed.next().unwrap();
        assert_eq!(first.result().unwrap(), 0);
        assert_eq!(completed.remaining(), 40);
        drop(completed);
        release.send(()).unwrap();
        hold.result().unwrap();
        client.submit(|| (), ()).result().unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 0, "the 40 unyielded tasks ran");
    });
}

#[test]
fn as_completed_still_yields_everything_it_holds() {
    within(LIMIT, "as_completed all", || {
        let client = Client::builder().threads(2).build().unwrap();
        let mut completed = as_completed(client.map(|x: u64| x * 3, 0..50u64));
        let mut seen: Vec<u64> = completed
            .by_ref()
            .take(10)
            .map(|f| f.result().unwrap())
            .collect();
        completed.add(client.submit(|| 1_000u64, ()));
        seen.extend(completed.map(|f| f.result().unwrap()));
        seen.sort_unstable();
        let mut want: Vec<u64> = (0..50).map(|x| x * 3).collect();
        want.push(1_000);
        assert_eq!(seen, want);
    });
}

// ---- Dask's everyday API (issue 14, item 7) ---------------------------------------

/// `wait(.., FirstException)` returns at the first error, before slower futures end;
/// with no error, when every one has.
#[test]
fn wait_first_exception() {
    within(LIMIT, "FIRST_EXCEPTION", || {
        let client = Client::builder().threads(2).build().unwrap();
        let (release, released) = mpsc::channel::<()>();
        let released = Mutex::new(released);
        let slow = client.submit(
            move || {
                released.lock().unwrap().recv().unwrap();
                0u64
            },
            (),
        );
        let failing = client.submit(|| -> u64 { panic!("first exception") }, ());
        let futures = vec![slow.clone(), failing.clone()];
        let (done, not_done) = taskweave::wait(&futures, WaitMode::FirstException, None);
        assert_eq!((done.len(), not_done.len()), (1, 1));
        assert_eq!(done[0].status(), Status::Error);
        assert_eq!(not_done[0].status(), Status::Running);
        release.send(()).unwrap();
        // No error among them: like AllCompleted.
        let fine: Vec<_> = (0..5u64).map(|i| client.submit(move || i, ())).collect();
        let (done, not_done) = taskweave::wait(&fine, WaitMode::FirstException, None);
        assert_eq!((done.len(), not_done.len()), (5, 0));
        // A cancelled future is not an exception: the wait goes on to the others.
        let cancelled = client.submit(|| 1u64, ());
        cancelled.cancel();
        let (done, _) = taskweave::wait(
            &[cancelled, client.submit(|| 2u64, ())],
            WaitMode::FirstException,
            None,
        );
        assert_eq!(done.len(), 2);
    });
}

#[test]
fn client_cancel_of_many() {
    within(LIMIT, "client.cancel", || {
        let (client, release, hold) = busy_client();
        let futures: Vec<_> = (0..5u64).map(|i| client.submit(move || i, ())).collect();
        client.cancel(&futures);
        assert!(futures.iter().all(|f| f.status() == Status::Cancelled));
        release.send(()).unwrap();
        hold.result().unwrap();
    });
}

/// Callbacks run once the task ends, with the future (finished, failed or cancelled),
/// at once for a future that has ended; they do not keep a future alive.
#[test]
fn add_done_callback() {
    within(LIMIT, "add_done_callback", || {
        let client = Client::builder().threads(2).build().unwrap();
        let (seen, saw) = mpsc::channel::<(Status, Option<u64>)>();
        let report = move |seen: mpsc::Sender<(Status, Option<u64>)>| {
            move |f: &Future<u64>| {
                let value = f.result().ok();
                seen.send((f.status(), value)).unwrap();
            }
        };
        let done = client.submit(|| 7u64, ());
        done.result().unwrap();
        done.add_done_callback(report(seen.clone()));
        assert_eq!(saw.recv().unwrap(), (Status::Finished, Some(7)));

        let later = client.submit(
            || {
                std::thread::sleep(Duration::from_millis(20));
                8u64
            },
            (),
        );
        later.add_done_callback(report(seen.clone()));
        assert_eq!(saw.recv().unwrap(), (Status::Finished, Some(8)));

        let failing = client.submit(|| -> u64 { panic!("no") }, ());
        failing.add_done_callback(report(seen.clone()));
        assert_eq!(saw.recv().unwrap(), (Status::Error, None));

        // The callback holds no handle: dropping the last one still cancels the task.
        let (client1, release, hold) = busy_client();
        let pending = client1.submit(|| 9u64, ());
        pending.add_done_callback(report(seen.clone()));
        drop(pending);
        assert_eq!(saw.recv().unwrap(), (Status::Cancelled, None));
        release.send(()).unwrap();
        hold.result().unwrap();
    });
}

/// A task finds the client it runs on (Dask's `get_client()`), submits to it and
/// waits, even on one thread; outside tasks there is none.
#[test]
fn get_client_inside_a_task() {
    within(LIMIT, "get_client", || {
        assert!(taskweave::get_client().is_none());
        let client = Client::builder().threads(1).name("outer").build().unwrap();
        let total = client.submit(
            || {
                let client = taskweave::get_client().expect("a task has a client");
                assert_eq!(client.threads(), 1);
                let parts = client.map(|x: u64| x * x, 0..10u64);
                client.gather(&parts).unwrap().iter().sum::<u64>()
            },
            (),
        );
        assert_eq!(total.result().unwrap(), (0..10u64).map(|x| x * x).sum());
    });
}

/// Futures of one task are equal and hash alike, so they can key a map (`{future:
/// input}`), and share a key naming the task.
#[test]
fn futures_key_maps_and_have_keys() {
    within(LIMIT, "future identity", || {
        use std::collections::HashMap;
        let client = Client::builder().threads(2).build().unwrap();
        let inputs = [3u64, 4, 5];
        let futures = client.map(|x: u64| x * x, inputs);
        let by_future: HashMap<Future<u64>, u64> = futures.iter().cloned().zip(inputs).collect();
        for future in as_completed(futures.clone()) {
            let input = by_future[&future];
            assert_eq!(future.result().unwrap(), input * input);
        }
        assert_eq!(futures[0], futures[0].clone());
        assert_ne!(futures[0], futures[1]);
        assert_eq!(futures[0].key(), futures[0].clone().key());
        assert_ne!(futures[0].key(), futures[1].key());
        assert!(
            futures[0].key().starts_with("closure-"),
            "{}",
            futures[0].key()
        );
    });
}

/// `client.map` over two sequences zips them; a `TaskBuilder` maps with its name.
#[test]
fn map_of_several_sequences_and_named_maps() {
    within(LIMIT, "map2", || {
        let client = Client::builder().threads(2).build().unwrap();
        let sums = client.map2(|a: u64, b: u64| a + b, 0..5u64, [10u64, 20, 30]);
        assert_eq!(client.gather(&sums).unwrap(), vec![10, 21, 32]);
        let squares = client.task(|x: u64| x * x).named("square").map(1..=3u64);
        assert_eq!(client.gather(&squares).unwrap(), vec![1, 4, 9]);
        assert!(squares.iter().all(|f| f.name() == "square"));
    });
}

/// `as_completed` with a timeout, in batches, and `has_ready`/`remaining`.
#[test]
fn as_completed_timeout_batches_and_has_ready() {
    within(LIMIT, "as_completed extras", || {
        let (client, release, hold) = busy_client();
        let mut completed = as_completed(vec![client.submit(|| 1u64, ())]);
        assert_eq!(completed.remaining(), 1);
        assert!(!completed.has_ready());
        match completed.next_timeout(Duration::from_millis(20)) {
            Err(FutureError::Timeout { .. }) => {}
            other => panic!("expected a timeout, got {other:?}"),
        }
        release.send(()).unwrap();
        hold.result().unwrap();
        let first = completed.next_timeout(Duration::MAX).unwrap().unwrap();
        assert_eq!(first.result().unwrap(), 1);
        assert!(completed.next_timeout(Duration::ZERO).unwrap().is_none());

        let all: Vec<_> = (0..20u64).map(|i| client.submit(move || i, ())).collect();
        let mut completed = as_completed(all);
        let mut seen = Vec::new();
        while completed.remaining() > 0 {
            let batch = completed.next_batch();
            assert!(!batch.is_empty());
            seen.extend(batch.iter().map(|f| f.result().unwrap()));
        }
        assert!(completed.next_batch().is_empty());
        seen.sort_unstable();
        assert_eq!(seen, (0..20).collect::<Vec<_>>());
        let total: u64 = as_completed((0..10u64).map(|i| client.submit(move || i, ())))
            .batches()
            .flatten()
            .map(|f| f.result().unwrap())
            .sum();
        assert_eq!(total, 45);
    });
}

/// Ready tasks run by priority, higher first, then in the order they became ready
/// (Dask's `priority=`).
#[test]
fn priorities_order_ready_tasks() {
    within(LIMIT, "priority", || {
        let (client, release, hold) = busy_client();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut futures = Vec::new();
        for (i, priority) in [0, 10, -5, 0, 10, -5, 3].into_iter().enumerate() {
            let order = order.clone();
            futures.push(
                client
                    .task(move || order.lock().unwrap().push((priority, i)))
                    .priority(priority)
                    .submit(()),
            );
        }
        release.send(()).unwrap();
        hold.result().unwrap();
        client.gather(&futures).unwrap();
        let order = order.lock().unwrap().clone();
        assert_eq!(
            order,
            vec![(10, 1), (10, 4), (3, 6), (0, 0), (0, 3), (-5, 2), (-5, 5)]
        );
    });
}

/// Dask's `test_cancel_tuple_key`: cancelling a finished future releases it: it is
/// cancelled from then on, and its readers get `CancelledError`.
#[test]
fn dask_test_cancel_tuple_key() {
    within(LIMIT, "cancel a finished future", || {
        let client = Client::builder().threads(2).build().unwrap();
        let x = client.submit(|x: u64| x + 1, (1u64,));
        assert_eq!(x.result().unwrap(), 2);
        let other_handle = x.clone();
        let shared = x.result_shared().unwrap();
        x.cancel();
        assert_eq!(x.status(), Status::Cancelled);
        assert!(matches!(x.result(), Err(FutureError::Cancelled { .. })));
        assert!(matches!(
            other_handle.result(),
            Err(FutureError::Cancelled { .. })
        ));
        // A reader that took the value keeps it.
        assert_eq!(*shared, 2);
        // A task that ended in error stays so.
        let failed = client.submit(|| -> u64 { panic!("boom") }, ());
        assert!(failed.result().is_err());
        failed.cancel();
        assert_eq!(failed.status(), Status::Error);
    });
}

/// Dask's `test_submit_on_cancelled_future`: a task submitted on a cancelled future,
/// finished before, is cancelled; so is one that was waiting for another dependency.
#[test]
fn dask_test_submit_on_cancelled_future() {
    within(LIMIT, "submit on a cancelled future", || {
        let client = Client::builder().threads(2).build().unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let x = client.submit(|| 1u64, ());
        x.result().unwrap();
        // Waiting for `gate` when `x` is cancelled: cancelled with it, as a dependent.
        let (open, opened) = mpsc::channel::<()>();
        let opened = Mutex::new(opened);
        let gate = client.submit(move || opened.lock().unwrap().recv().unwrap(), ());
        let waiting = {
            let runs = runs.clone();
            client.submit(
                move |x: u64, (): ()| {
                    runs.fetch_add(1, Ordering::SeqCst);
                    x
                },
                (&x, &gate),
            )
        };
        x.cancel();
        let after = {
            let runs = runs.clone();
            client.submit(
                move |x: u64| {
                    runs.fetch_add(1, Ordering::SeqCst);
                    x
                },
                (&x,),
            )
        };
        assert!(matches!(after.result(), Err(FutureError::Cancelled { .. })));
        open.send(()).unwrap();
        gate.result().unwrap();
        assert!(matches!(
            waiting.result(),
            Err(FutureError::Cancelled { .. })
        ));
        assert_eq!(waiting.status(), Status::Cancelled);
        assert_eq!(runs.load(Ordering::SeqCst), 0);
    });
}

/// Dask's `test_forget_in_flight`: cancelling the future of a `client.compute` (or
/// dropping it) stops its graph: no task starts after that, and running ones see
/// `taskweave::cancelled()`.
#[test]
fn dask_test_forget_in_flight() {
    within(LIMIT, "forget in flight", || {
        let client = Client::builder().threads(1).build().unwrap();
        let started = Arc::new(AtomicUsize::new(0));
        let saw_cancel = Arc::new(AtomicUsize::new(0));
        let ended = Arc::new(AtomicUsize::new(0));
        let parts: Vec<Delayed<u64>> = (0..50u64)
            .map(|i| {
                let (started, saw_cancel, ended) =
                    (started.clone(), saw_cancel.clone(), ended.clone());
                delayed(move |x: u64| {
                    started.fetch_add(1, Ordering::SeqCst);
                    // Runs until told to stop (10 s at most).
                    for _ in 0..10_000 {
                        if taskweave::cancelled() {
                            saw_cancel.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    ended.fetch_add(1, Ordering::SeqCst);
                    x
                })
                .call(i)
            })
            .collect();
        let total = delayed(|v: Vec<u64>| v.iter().sum::<u64>()).call(parts);
        let future = client.compute(&total);
        while started.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        drop(future);
        // Every task that started ends, having seen the cancellation.
        while ended.load(Ordering::SeqCst) < started.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(50));
        let started = started.load(Ordering::SeqCst);
        assert_eq!(ended.load(Ordering::SeqCst), started);
        assert_eq!(saw_cancel.load(Ordering::SeqCst), started);
        assert!(
            started <= rayon::current_num_threads(),
            "{started} tasks started"
        );
        // The client goes on.
        assert_eq!(client.submit(|| 5u64, ()).result().unwrap(), 5);
    });
}

/// `client.compute((&a, &b))`: several outputs in one run, their shared nodes run once,
/// as Dask's `client.compute([a, b])`.
#[test]
fn client_compute_of_several_outputs_shares_their_nodes() {
    within(LIMIT, "compute several", || {
        let client = Client::builder().threads(2).build().unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let shared = {
            let runs = runs.clone();
            delayed(move |x: u64| {
                runs.fetch_add(1, Ordering::SeqCst);
                x * 10
            })
            .call(4u64)
        };
        let a = delayed(|x: u64| x + 1).call(&shared);
        let b = delayed(|x: u64| x + 2).call(&shared);
        let both = client.compute((&a, &b));
        assert_eq!(both.result().unwrap(), (41, 42));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(both.name(), "compute");
        let one = client.compute(&a);
        assert_eq!(one.result().unwrap(), 41);
        assert_eq!(one.name(), a.name());
        let many = client.compute(&[a.clone(), b.clone(), a][..]);
        assert_eq!(many.result().unwrap(), vec![41, 42, 41]);
    });
}

/// Dask's `wait` takes futures of any types: here as `&dyn AnyFuture`s.
#[test]
fn wait_over_futures_of_different_types() {
    within(LIMIT, "wait mixed", || {
        use taskweave::AnyFuture;
        let (client, release, hold) = busy_client();
        let number = client.submit(|| 1u64, ());
        let text = client.submit(|| "two".to_owned(), ());
        let both: [&dyn AnyFuture; 2] = [&number, &text];
        let (done, not_done) = taskweave::wait(&both, WaitMode::AllCompleted, Some(Duration::ZERO));
        assert_eq!((done.len(), not_done.len()), (0, 2));
        release.send(()).unwrap();
        hold.result().unwrap();
        let (done, not_done) = taskweave::wait(&both, WaitMode::AllCompleted, None);
        assert_eq!((done.len(), not_done.len()), (2, 0));
        assert_eq!(done[1].task_status(), Status::Finished);
        assert_eq!(
            (number.result().unwrap(), text.result().unwrap()),
            (1, "two".to_owned())
        );
    });
}

/// Dask's `as_completed` takes futures of any types: here as `ErasedFuture`s, each
/// turned back into its typed future; an erased handle keeps its task as a typed one
/// does, and is equal to the other erased handles of its task.
#[test]
fn as_completed_over_futures_of_different_types() {
    within(LIMIT, "as_completed mixed", || {
        use std::collections::HashSet;
        let client = Client::builder().threads(2).build().unwrap();
        let (release, gate) = mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let number = client.submit(|x: u64| x * 2, (21,));
        let text = client.submit(
            move |s: String| {
                let _ = gate.lock().unwrap().recv();
                s + "!"
            },
            ("two".to_owned(),),
        );
        let erased = [number.erase(), text.erase()];
        assert_eq!(erased[0], number.erase());
        assert_ne!(erased[0], erased[1]);
        assert!(erased[0].is::<u64>() && !erased[0].is::<String>());
        assert_eq!(erased[1].key(), text.key());
        let keys: HashSet<_> = erased.iter().cloned().collect();
        assert_eq!(keys.len(), 2);

        let mut order = taskweave::as_completed(erased);
        // The typed handle of the text is dropped: the erased one keeps the task.
        drop(text);
        let first = order.next().expect("a future ends");
        assert_eq!(first.downcast::<u64>().unwrap().result().unwrap(), 42);
        assert!(first.downcast::<String>().is_none());
        assert_eq!(order.remaining(), 1);
        release.send(()).unwrap();
        let second = order.next().expect("the other ends");
        assert_eq!(second.status(), Status::Finished);
        assert_eq!(
            second.downcast::<String>().unwrap().result().unwrap(),
            "two!"
        );
        assert!(order.next().is_none());
        drop(number);
    });
}

/// What a graph task of the test below saw: its client, the result of a future it
/// submitted, and what the tasks of a graph it computed saw.
type Seen = (Option<String>, Option<u64>, Vec<(Option<String>, u64)>);

/// The name of the client `get_client` finds here, if any (its `Debug` names it).
fn client_here() -> Option<String> {
    taskweave::get_client().map(|client| format!("{client:?}"))
}

/// A graph computed by a client (`client.compute`) finds that client in every task,
/// on whichever thread it runs (rayon's, for a graph with parallelism), as Dask's
/// `get_client()` does in every task a client runs; so do the tasks of a graph
/// computed inside such a task, and of a graph computed inside a client's task. A
/// graph task submits to it and waits for the result.
#[test]
fn get_client_in_every_task_of_a_graph_the_client_computes() {
    within(LIMIT, "get_client in graph tasks", || {
        let client = Client::builder()
            .threads(2)
            .name("graph-owner")
            .build()
            .unwrap();
        let mine = format!("{client:?}");
        assert!(mine.contains("graph-owner"));
        let part = taskweave::delayed(|i: u64| {
            let here = client_here();
            // A graph task may submit to its client and wait for the result.
            let doubled = taskweave::get_client()
                .map(|client| client.submit(|x: u64| x * 2, (i,)).result().unwrap());
            // A graph computed inside the task runs its tasks with the same client.
            let inner = taskweave::delayed(|j: u64| (client_here(), j));
            let nested = taskweave::delayed(|parts: Vec<(Option<String>, u64)>| parts)
                .call((0..4).map(|j| inner.call(j)).collect::<Vec<_>>())
                .compute();
            (here, doubled, nested)
        });
        let parts: Vec<_> = (0..16u64).map(|i| part.call(i)).collect();
        let all = taskweave::delayed(|parts: Vec<Seen>| parts).call(parts);
        let seen = client.compute(&all).result().unwrap();
        assert_eq!(seen.len(), 16);
        for (i, (here, doubled, nested)) in seen.into_iter().enumerate() {
            assert_eq!(here.as_deref(), Some(mine.as_str()), "task {i}");
            assert_eq!(doubled, Some(2 * i as u64), "task {i}");
            for (there, _) in nested {
                assert_eq!(there.as_deref(), Some(mine.as_str()), "nested in task {i}");
            }
        }

        // A graph computed (`Delayed::compute`) inside a client's task.
        let inner = taskweave::delayed(|j: u64| (client_here(), j));
        let seen = client
            .submit(
                move || {
                    taskweave::delayed(|parts: Vec<(Option<String>, u64)>| parts)
                        .call((0..8).map(|j| inner.call(j)).collect::<Vec<_>>())
                        .compute()
                },
                (),
            )
            .result()
            .unwrap();
        assert!(seen
            .iter()
            .all(|(there, _)| there.as_deref() == Some(mine.as_str())));

        // Outside, as before: none.
        let outside = taskweave::delayed(|j: u64| (client_here(), j));
        let seen = taskweave::delayed(|parts: Vec<(Option<String>, u64)>| parts)
            .call((0..8).map(|j| outside.call(j)).collect::<Vec<_>>())
            .compute();
        assert!(seen.iter().all(|(there, _)| there.is_none()));
    });
}

/// Watches a client's inner state: its observer is dropped with it.
struct Witness;
impl taskweave::Observer for Witness {}

/// `get_client` in graph tasks keeps nothing alive: once its last handle and its
/// futures are dropped, the client is gone (its observer with it).
#[test]
fn get_client_in_graph_tasks_leaks_nothing() {
    within(
        LIMIT,
        "client dropped after get_client in graph tasks",
        || {
            let witness = Arc::new(Witness);
            let client = Client::builder()
                .threads(2)
                .observer(witness.clone())
                .build()
                .unwrap();
            let part = taskweave::delayed(|i: u64| {
                taskweave::get_client().map(|c| c.threads() as u64 + i)
            });
            let parts: Vec<_> = (0..8u64).map(|i| part.call(i)).collect();
            let all = taskweave::delayed(|parts: Vec<Option<u64>>| parts).call(parts);
            let future = client.compute(&all);
            assert!(future.result().unwrap().iter().all(Option::is_some));
            drop(future);
            drop(all);
            drop(client);
            // The pool's threads let go of their last job as they end: the watchdog, not
            // a clock, decides a leak.
            while Arc::strong_count(&witness) > 1 {
                std::thread::yield_now();
            }
        },
    );
}

/// Dropping the client while its graph runs: the graph's running tasks see
/// `cancelled()` (as a client's own tasks do), then `get_client` finds none there, a
/// clear answer, not a client on its way out; no task starts after, and the
/// compute's future is cancelled.
///
/// The drop comes once one part runs, not both: the two may not run at once. A graph
/// entered while every worker of rayon's pool waits for a future (other tests' tasks)
/// runs on its caller's thread, in order, and the first part waited for the second
/// for ever (the soak: 1 run of the binary in 42).
#[test]
fn graph_tasks_see_their_client_dropped() {
    within(LIMIT, "client dropped under its graph", || {
        let client = Client::builder().threads(2).build().unwrap();
        let (started, running) = mpsc::channel::<()>();
        let started = Mutex::new(started);
        let after = Arc::new(AtomicUsize::new(0));
        let part = taskweave::delayed(move |_: u64| {
            // The test may have gone on after the first part started.
            let _ = started.lock().unwrap().send(());
            while !taskweave::cancelled() {
                std::thread::yield_now();
            }
            taskweave::get_client().is_none()
        });
        let counted = after.clone();
        let all = taskweave::delayed(move |parts: Vec<bool>| {
            counted.fetch_add(1, Ordering::SeqCst);
            parts
        })
        .call(vec![part.call(0), part.call(1)]);
        let future = client.compute(&all);
        running.recv().unwrap();
        // Waits for the running tasks, which end once they see the client closed.
        drop(client);
        match future.result() {
            Err(FutureError::Cancelled { .. }) => {}
            other => panic!("the compute of a dropped client: {other:?}"),
        }
        assert_eq!(
            after.load(Ordering::SeqCst),
            0,
            "no task starts after the drop"
        );
    });
}

/// A graph task holding the client's last handle (from `get_client`) drops it: the
/// shutdown, on a rayon thread that the client's compute waits for, does not wait
/// for that compute (which would wait for it in turn, until the shutdown timeout).
#[test]
fn a_graph_task_drops_the_last_handle_of_its_client() {
    within(LIMIT, "graph task drops the last client", || {
        let client = Client::builder()
            .threads(1)
            .shutdown_timeout(Duration::from_secs(3600))
            .build()
            .unwrap();
        let (got, holding) = mpsc::channel::<()>();
        let (dropped, wait_drop) = mpsc::channel::<()>();
        let got = Mutex::new(got);
        let wait_drop = Mutex::new(wait_drop);
        let part = taskweave::delayed(move |i: u64| {
            if i == 0 {
                let client = taskweave::get_client().expect("a graph task has its client");
                got.lock().unwrap().send(()).unwrap();
                wait_drop.lock().unwrap().recv().unwrap();
                drop(client);
            }
            i
        });
        let all = taskweave::delayed(|parts: Vec<u64>| parts.iter().sum::<u64>())
            .call(vec![part.call(0), part.call(1)]);
        let future = client.compute(&all);
        holding.recv().unwrap();
        drop(client);
        dropped.send(()).unwrap();
        match future.result() {
            Ok(1) | Err(FutureError::Cancelled { .. }) => {}
            other => panic!("the compute of a dropped client: {other:?}"),
        }
    });
}

/// Graph tasks of a `client.compute` that wait for futures of their client, whose
/// tasks compute graphs in turn (rayon's threads all waiting, as often as not), and a
/// `client.persist` whose tasks find the client: everything ends.
#[test]
fn graph_tasks_wait_for_futures_that_compute_graphs() {
    within(
        LIMIT,
        "graph tasks waiting on futures computing graphs",
        || {
            let client = Client::builder().threads(1).name("waits").build().unwrap();
            let part = taskweave::delayed(|i: u64| {
                let client = taskweave::get_client().expect("a graph task has its client");
                let future = client.submit(
                    |i: u64| {
                        let inc = taskweave::delayed(|x: u64| x + 1);
                        taskweave::delayed(|xs: Vec<u64>| xs.iter().sum::<u64>())
                            .call((0..4).map(|j| inc.call(i + j)).collect::<Vec<_>>())
                            .compute()
                    },
                    (i,),
                );
                future.result().unwrap()
            });
            let parts: Vec<_> = (0..12u64).map(|i| part.call(i)).collect();
            let total = taskweave::delayed(|xs: Vec<u64>| xs.iter().sum::<u64>()).call(parts);
            let expected: u64 = (0..12u64)
                .map(|i| (0..4).map(|j| i + j + 1).sum::<u64>())
                .sum();
            assert_eq!(client.compute(&total).result().unwrap(), expected);

            let named = taskweave::delayed(|i: u64| (client_here(), i));
            let all = taskweave::delayed(|parts: Vec<(Option<String>, u64)>| parts)
                .call((0..8).map(|i| named.call(i)).collect::<Vec<_>>());
            let kept = client.persist(&all);
            let mine = format!("{client:?}");
            assert!(kept
                .compute()
                .iter()
                .all(|(there, _)| there.as_deref() == Some(mine.as_str())));
        },
    );
}
