//! Waits that could never end, at sizes no fixed-depth search covers: tasks waiting for
//! one another's futures in a cycle (handed over through shared slots, not as
//! arguments), a waiter far down a chain of arguments, a task run inline by a waiter
//! that waits for the task under it. Each such wait fails, and every task ends; long
//! waits that can end are never refused. Each shape runs under a watchdog, so a hang
//! fails the test rather than CI.

#[path = "support/rendezvous.rs"]
mod rendezvous;
#[path = "support/taken_back.rs"]
mod taken_back;
#[path = "support/watchdog.rs"]
mod watchdog;

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::time::Duration;

use rendezvous::{wait_until, Rendezvous};
use taskweave::prelude::*;
use taskweave::{get_client, CycleLink, RunOptions, Status};

const LIMIT: Duration = Duration::from_secs(60);

/// A task ring or chain this long needs that many threads blocked at once: well past
/// the nearest 64 futures any fixed search looked through.
const MANY: usize = 1_000;

/// Arguments a chain of tasks this long passes down, past the same 64.
const LONG: usize = 300;

fn client(threads: usize) -> Client {
    Client::builder()
        .threads(threads)
        .name("cycles")
        .build()
        .unwrap()
}

/// Slots for futures handed to tasks after they were submitted.
fn slots<T>(n: usize) -> Arc<Vec<OnceLock<Future<T>>>> {
    Arc::new((0..n).map(|_| OnceLock::new()).collect())
}

/// The waits that failed in the tasks themselves, as they saw them.
type Failed = Arc<Mutex<Vec<FutureError>>>;

/// `next`'s result, one more; a failed wait is recorded in `failed` and its message
/// passed on, as the task's result.
fn wait_and_pass_on(next: &Future<Result<u64, String>>, failed: &Failed) -> Result<u64, String> {
    match next.result() {
        Ok(value) => value.map(|v| v + 1),
        Err(error) => {
            let message = error.to_string();
            failed.lock().unwrap().push(error);
            Err(message)
        }
    }
}

/// A ring of `n` tasks, task `i` waiting for task `i + 1`'s future (the last for the
/// first's), on a client of `threads` threads: the tasks' futures and the waits that
/// failed. With `together`, each task first waits there for the others (so that all
/// run at once, each on a thread of its own, and none runs another inline).
fn ring(
    n: usize,
    threads: usize,
    together: Option<Arc<Barrier>>,
) -> (Client, Vec<Future<Result<u64, String>>>, Failed) {
    let client = client(threads);
    let slots = slots::<Result<u64, String>>(n);
    let failed = Failed::default();
    let futures: Vec<_> = (0..n)
        .map(|i| {
            let (slots, failed, together) = (slots.clone(), failed.clone(), together.clone());
            client
                .task(move || {
                    if let Some(together) = &together {
                        together.wait();
                    }
                    wait_and_pass_on(slots[(i + 1) % n].wait(), &failed)
                })
                .named(format!("ring-{i}"))
                .submit(())
        })
        .collect();
    for (slot, future) in slots.iter().zip(&futures) {
        assert!(slot.set(future.clone()).is_ok());
    }
    (client, futures, failed)
}

/// The one wait that failed in a ring of `n`: a cycle through every task of it, in
/// ring order, each waiting for the next, named with its call site; and every task of
/// the ring ended with that message.
fn assert_ring_broken_once(n: usize, futures: &[Future<Result<u64, String>>], failed: &Failed) {
    let message = futures[0].result().unwrap().unwrap_err();
    for future in futures {
        assert_eq!(future.result().unwrap().unwrap_err(), message);
    }
    let failed = failed.lock().unwrap();
    assert_eq!(failed.len(), 1, "one wait fails, to break the cycle");
    let FutureError::WaitCycle { cycle } = &failed[0] else {
        panic!("not a cycle: {}", failed[0]);
    };
    assert_eq!(cycle.len(), n, "{message}");
    let first: usize = cycle[0].task["ring-".len()..].parse().unwrap();
    for (j, step) in cycle.iter().enumerate() {
        assert_eq!(step.task, format!("ring-{}", (first + j) % n));
        // A task that ran the next one inline (found it queued) waits for it as well.
        assert!(
            matches!(step.then, CycleLink::Waits | CycleLink::RunsInline),
            "{step:?}"
        );
        assert!(
            step.call_site.contains("futures_wait_cycles.rs"),
            "{step:?}"
        );
    }
    assert!(message.contains("in a cycle"), "{message}");
    assert!(message.contains("never"), "{message}");
    for i in [0, n / 2, n - 1] {
        assert!(message.contains(&format!("`ring-{i}` at ")), "{message}");
    }
}

/// Two tasks, each waiting for the other's future (handed over after both were
/// submitted): the second wait to block fails with a cycle naming both, and both tasks
/// end. It hung before.
#[test]
fn two_tasks_waiting_for_each_other_break_the_cycle() {
    watchdog::within(LIMIT, "two-task cycle", || {
        let (_client, futures, failed) = ring(2, 2, Some(Arc::new(Barrier::new(2))));
        assert_ring_broken_once(2, &futures, &failed);
    });
}

/// A ring of a thousand tasks, each blocked waiting for the next (the pool grows a
/// thread for each blocked one): one wait fails, naming all thousand in ring order.
#[test]
fn a_ring_of_a_thousand_waiting_tasks_breaks_at_one_wait() {
    watchdog::within(LIMIT, "ring of 1000", || {
        let (_client, futures, failed) = ring(MANY, 2, None);
        assert_ring_broken_once(MANY, &futures, &failed);
    });
}

/// A thousand tasks, each waiting for the next one's future, the last of which
/// finishes: no wait is refused, and every value is right.
#[test]
fn a_chain_of_a_thousand_waiting_tasks_completes() {
    watchdog::within(LIMIT, "chain of 1000 waits", || {
        let client = client(2);
        let slots = slots::<Result<u64, String>>(MANY);
        let failed = Failed::default();
        let futures: Vec<_> = (0..MANY)
            .map(|i| {
                let (slots, failed) = (slots.clone(), failed.clone());
                client.submit(
                    move || match slots.get(i + 1) {
                        Some(next) => wait_and_pass_on(next.wait(), &failed),
                        None => Ok(0),
                    },
                    (),
                )
            })
            .collect();
        for (slot, future) in slots.iter().zip(&futures) {
            assert!(slot.set(future.clone()).is_ok());
        }
        for (i, future) in futures.iter().enumerate() {
            assert_eq!(future.result().unwrap(), Ok((MANY - 1 - i) as u64));
        }
        assert!(failed.lock().unwrap().is_empty());
    });
}

/// A task waits for the end of a chain of `LONG` tasks whose first one takes the
/// waiting task's own future as its argument: the wait fails with `WaitsForItself`
/// (the waiter is `LONG` arguments away), and the chain runs once the task has ended.
#[test]
fn a_wait_for_a_long_chain_that_needs_the_waiter_fails() {
    watchdog::within(LIMIT, "waiter far down a chain", || {
        let client = client(2);
        let me_slot = Arc::new(OnceLock::<Future<u64>>::new());
        let end_slot = Arc::new(OnceLock::<Future<u64>>::new());
        let (me, end) = (me_slot.clone(), end_slot.clone());
        let waiter = client
            .task(move || -> u64 {
                let me = me.wait();
                let client = get_client().unwrap();
                let mut link = client.task(|x: Arc<u64>| *x).named("link").submit((me,));
                for i in 1..LONG {
                    let name = if i + 1 == LONG { "chain-end" } else { "link" };
                    link = client.task(|x: u64| x + 1).named(name).submit((&link,));
                }
                let error = link.result().unwrap_err();
                let FutureError::WaitsForItself { task, waiter, .. } = &error else {
                    panic!("not a wait for itself: {error}");
                };
                assert_eq!(
                    (task.as_str(), waiter.as_str()),
                    ("chain-end", "far-waiter")
                );
                assert!(error.to_string().contains("never end"), "{error}");
                assert!(end.set(link).is_ok());
                7
            })
            .named("far-waiter")
            .submit(());
        assert!(me_slot.set(waiter.clone()).is_ok());
        assert_eq!(waiter.result().unwrap(), 7);
        let end = end_slot.get().expect("the chain's end");
        assert_eq!(end.result().unwrap(), 7 + LONG as u64 - 1);
    });
}

/// The same chain, rooted at an independent task instead: the wait ends with the
/// chain's value.
#[test]
fn a_wait_for_a_long_chain_that_does_not_need_the_waiter_completes() {
    watchdog::within(LIMIT, "long chain, no cycle", || {
        let client = client(2);
        let waiter = client.submit(
            || -> u64 {
                let client = get_client().unwrap();
                let mut link = client.submit(
                    || {
                        std::thread::sleep(Duration::from_millis(20));
                        1u64
                    },
                    (),
                );
                for _ in 1..LONG {
                    link = client.submit(|x: u64| x + 1, (&link,));
                }
                link.result().unwrap()
            },
            (),
        );
        assert_eq!(waiter.result().unwrap(), LONG as u64);
    });
}

/// Task `a` waits for the end of a chain of `LONG` tasks whose first needs `b`'s
/// future, and `b` waits for `a`'s: a cycle of two waits and `LONG` arguments. One of
/// the two waits fails, naming every task of the cycle; every task ends. The two
/// start together, each on a thread of its own: had `b` not started by the time `a`
/// waits, `a` would run it inline (the chain needs it), and the wait of `b`, for the
/// task under it, would fail as `WaitsForItself` (once in a release hunt).
#[test]
fn a_cycle_of_waits_through_a_long_chain_of_arguments_is_broken() {
    watchdog::within(LIMIT, "cycle through arguments", || {
        let client = client(2);
        let slots = slots::<Result<u64, String>>(2);
        let failed = Failed::default();
        let together = Arc::new(Barrier::new(2));
        let (s, f, t) = (slots.clone(), failed.clone(), together.clone());
        let a = client
            .task(move || -> Result<u64, String> {
                t.wait();
                let b = s[1].wait();
                let client = get_client().unwrap();
                let mut link = client
                    .task(|b: Result<u64, String>| b)
                    .named("arg")
                    .submit((b,));
                for _ in 1..LONG {
                    link = client
                        .task(|x: Result<u64, String>| x)
                        .named("arg")
                        .submit((&link,));
                }
                wait_and_pass_on(&link, &f)
            })
            .named("a")
            .submit(());
        let (s, f) = (slots.clone(), failed.clone());
        let b = client
            .task(move || {
                together.wait();
                wait_and_pass_on(s[0].wait(), &f)
            })
            .named("b")
            .submit(());
        assert!(slots[0].set(a.clone()).is_ok());
        assert!(slots[1].set(b.clone()).is_ok());
        let message = a.result().unwrap().unwrap_err();
        assert!(b.result().unwrap().unwrap_err().contains("in a cycle"));
        let failed = failed.lock().unwrap();
        assert_eq!(failed.len(), 1, "{message}");
        let FutureError::WaitCycle { cycle } = &failed[0] else {
            panic!("not a cycle: {}", failed[0]);
        };
        assert_eq!(cycle.len(), LONG + 2, "{message}");
        let links = |link| cycle.iter().filter(|step| step.then == link).count();
        assert_eq!(links(CycleLink::Argument), LONG);
        assert_eq!(links(CycleLink::Waits), 2);
        assert!(cycle.iter().any(|step| step.task == "a"));
        assert!(cycle.iter().any(|step| step.task == "b"));
    });
}

/// A task waits for a future whose argument is ready, so it runs that argument's task
/// inline, on its own stack (one thread: no other could); that task waits for the
/// future of the task under it, which cannot end before it returns. That wait fails
/// with `WaitsForItself` (it hung: only the innermost task was looked for), and the
/// task under it goes on.
#[test]
fn a_task_run_inline_that_waits_for_the_task_under_it_fails() {
    watchdog::within(LIMIT, "inline waits for the task under it", || {
        let client = client(1);
        let me_slot = Arc::new(OnceLock::<Future<u64>>::new());
        let seen = Arc::new(Mutex::new(None));
        let (me, seen_in) = (me_slot.clone(), seen.clone());
        let outer = client
            .task(move || -> u64 {
                let me = me.wait().clone();
                let outer_thread = std::thread::current().id();
                let seen_in = seen_in.clone();
                let client = get_client().unwrap();
                let inner = client
                    .task(move || -> u64 {
                        let error = me.result().unwrap_err();
                        let inline = std::thread::current().id() == outer_thread;
                        *seen_in.lock().unwrap() = Some((error, inline));
                        5
                    })
                    .named("inner")
                    .submit(());
                let after = client.submit(|x: u64| x * 10, (&inner,));
                after.result().unwrap() + 1
            })
            .named("outer")
            .submit(());
        assert!(me_slot.set(outer.clone()).is_ok());
        assert_eq!(outer.result().unwrap(), 51);
        let (error, inline) = seen.lock().unwrap().take().expect("the inner task ran");
        assert!(inline, "the inner task ran on the outer task's stack");
        let FutureError::WaitsForItself { task, waiter, .. } = &error else {
            panic!("not a wait for itself: {error}");
        };
        assert_eq!((task.as_str(), waiter.as_str()), ("outer", "inner"));
    });
}

/// The same, across threads: `outer` runs `inner` inline while it waits, `inner` waits
/// for `other`, and `other` waits for `outer`. Whichever of the two later waits blocks
/// last fails, naming all three (`outer` resumes only once `inner` returns); every
/// task ends.
#[test]
fn a_cycle_through_a_task_run_inline_is_broken() {
    watchdog::within(LIMIT, "cycle through an inline task", || {
        let client = client(2);
        let outer_slot = Arc::new(OnceLock::<Future<Result<u64, String>>>::new());
        let other_slot = Arc::new(OnceLock::<Future<Result<u64, String>>>::new());
        let inner_started = Arc::new(OnceLock::<()>::new());
        let failed = Failed::default();
        let (outer_of, started, f) = (outer_slot.clone(), inner_started.clone(), failed.clone());
        // `other` holds the second thread (waiting for `inner` to start, without
        // handing its place over) until `outer` runs `inner`, so that no other thread
        // takes `inner` from the queue.
        let other = client
            .task(move || {
                started.wait();
                wait_and_pass_on(outer_of.wait(), &f)
            })
            .named("other")
            .submit(());
        let (other_of, started, f) = (other_slot.clone(), inner_started.clone(), failed.clone());
        let outer = client
            .task(move || -> Result<u64, String> {
                let (started, other_of, f) = (started.clone(), other_of.clone(), f.clone());
                let client = get_client().unwrap();
                let inner = client
                    .task(move || {
                        let _ = started.set(());
                        wait_and_pass_on(other_of.wait(), &f)
                    })
                    .named("inner")
                    .submit(());
                let after = client.submit(|x: Result<u64, String>| x, (&inner,));
                after.result().unwrap()
            })
            .named("outer")
            .submit(());
        assert!(outer_slot.set(outer.clone()).is_ok());
        assert!(other_slot.set(other.clone()).is_ok());
        let outer_result = outer.result().unwrap();
        let other_result = other.result().unwrap();
        let failed = failed.lock().unwrap();
        assert_eq!(failed.len(), 1, "{outer_result:?} {other_result:?}");
        let FutureError::WaitCycle { cycle } = &failed[0] else {
            panic!("not a cycle: {}", failed[0]);
        };
        let mut names: Vec<(&str, CycleLink)> =
            cycle.iter().map(|s| (s.task.as_str(), s.then)).collect();
        names.sort_by_key(|(name, _)| *name);
        assert_eq!(
            names,
            [
                ("inner", CycleLink::Waits),
                ("other", CycleLink::Waits),
                ("outer", CycleLink::RunsInline),
            ]
        );
        assert!(outer_result.is_err() && other_result.is_err());
    });
}

/// `wait` (every future) in one task and `as_completed` in the other, each over the
/// other's future: one of the two tasks fails with the cycle's message, and the other
/// ends well once it has.
#[test]
fn wait_and_as_completed_in_a_cycle_fail_one_task() {
    watchdog::within(LIMIT, "wait/as_completed cycle", || {
        let client = client(2);
        let a_slot = Arc::new(OnceLock::<Future<u64>>::new());
        let b_slot = Arc::new(OnceLock::<Future<u64>>::new());
        // Both running before either waits: a wait for every future runs one that is
        // queued itself (as `result` does), and `iterates` run so, on the stack of
        // `waits_with_wait`, would wait for the task under it instead.
        let both_running = Arc::new(Barrier::new(2));
        let b_of = b_slot.clone();
        let running = both_running.clone();
        let a = client
            .task(move || -> u64 {
                running.wait();
                let b = b_of.wait();
                let _ = wait(std::slice::from_ref(b), WaitMode::AllCompleted, None);
                1
            })
            .named("waits_with_wait")
            .submit(());
        let a_of = a_slot.clone();
        let b = client
            .task(move || -> u64 {
                both_running.wait();
                as_completed([a_of.wait().clone()]).count() as u64
            })
            .named("iterates")
            .submit(());
        assert!(a_slot.set(a.clone()).is_ok());
        assert!(b_slot.set(b.clone()).is_ok());
        let results = [a.result(), b.result()];
        let errors: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err().map(ToString::to_string))
            .collect();
        assert_eq!(errors.len(), 1, "{results:?}");
        assert!(errors[0].contains("in a cycle"), "{}", errors[0]);
        assert!(errors[0].contains("`waits_with_wait` at "), "{}", errors[0]);
        assert!(errors[0].contains("`iterates` at "), "{}", errors[0]);
    });
}

/// `as_completed(..).next_timeout(Duration::MAX)` in a task, over a future that needs
/// that very task, returns the error that says so, as `result_timeout(Duration::MAX)`
/// does, rather than panicking inside the task.
#[test]
fn next_timeout_without_limit_returns_the_error_of_a_wait_that_cannot_end() {
    watchdog::within(
        LIMIT,
        "next_timeout over a future that needs the waiter",
        || {
            let client = client(1);
            let needs_me = Arc::new(OnceLock::<Future<u64>>::new());
            let of = needs_me.clone();
            let waiter = client
                .task(move || -> Result<bool, FutureError> {
                    let mut pending = as_completed([of.wait().clone()]);
                    pending
                        .next_timeout(std::time::Duration::MAX)
                        .map(|next| next.is_some())
                })
                .named("iterates")
                .submit(());
            let reads = client.submit(
                |waited: Result<bool, FutureError>| u64::from(waited.is_ok()),
                (&waiter,),
            );
            assert!(needs_me.set(reads.clone()).is_ok());
            let error = waiter.result().expect("the task returned").unwrap_err();
            assert!(
                matches!(error, FutureError::WaitsForItself { .. }),
                "{error:?}"
            );
            assert_eq!(reads.result().unwrap(), 0);
        },
    );
}

/// Task `a` waits in `mode` for two futures: task `b`'s, which waits for `a`'s, and one
/// that finishes well after 100 ms. `a`'s result (how many were done), and `b`'s.
///
/// `a` and `b` both run before either waits: a wait for any one runs the first awaited
/// task still queued on its own thread, and `b` run so, on `a`'s stack, would wait for
/// the task under it (see the test after the callers).
fn wait_for_two(mode: WaitMode) -> (Result<usize, FutureError>, Result<usize, String>) {
    let client = client(3);
    let a_slot = Arc::new(OnceLock::<Future<usize>>::new());
    let later = client.submit(
        || {
            std::thread::sleep(Duration::from_millis(100));
            2u64
        },
        (),
    );
    let both_running = Arc::new(Barrier::new(2));
    let a_of = a_slot.clone();
    let running = both_running.clone();
    let b = client
        .task(move || {
            running.wait();
            a_of.wait().result().map_err(|error| error.to_string())
        })
        .named("b")
        .submit(());
    let (b_in, later_in) = (b.clone(), later.clone());
    let a = client
        .task(move || {
            both_running.wait();
            wait(&[b_in.erase(), later_in.erase()], mode, None).0.len()
        })
        .named("a")
        .submit(());
    assert!(a_slot.set(a.clone()).is_ok());
    (a.result(), b.result().unwrap())
}

/// A wait for the first of two futures, one of which waits for the waiter while the
/// other finishes later: nothing is refused (the other can end the wait), and both
/// tasks end well.
#[test]
fn a_wait_for_any_that_another_future_can_end_is_not_refused() {
    watchdog::within(LIMIT, "wait for any, not a cycle", || {
        let (a, b) = wait_for_two(WaitMode::FirstCompleted);
        assert_eq!((a.unwrap(), b), (1, Ok(1)));
    });
}

/// A wait for the first exception among two futures: one waits for the waiter, the
/// other finishes well, later. Once it has, only the first could end the wait, and
/// that one needs the waiter: a cycle, which one of the two waits breaks. It hung
/// before (the wait was looked at once, when the other could still fail).
#[test]
fn a_wait_for_the_first_exception_looks_again_when_a_future_finishes() {
    watchdog::within(LIMIT, "first exception, then a cycle", || {
        let (a, b) = wait_for_two(WaitMode::FirstException);
        // Either `a`'s wait failed (a panic, which `b` read) or `b`'s did.
        let message = match (&a, &b) {
            (Err(error), Err(read)) => {
                assert_eq!(read, &error.to_string());
                read.clone()
            }
            (Ok(_), Err(message)) => message.clone(),
            _ => panic!("{a:?} {b:?}"),
        };
        // `b` may have run `a` inline (it found it queued): then `a` waits for the task
        // under it, not for another thread's.
        assert!(message.contains("never end"), "{message}");
    });
}

/// The price of a wait for any one running an awaited task on its own thread: that
/// task, should it wait for the waiter (a future handed to it some other way than as
/// an argument), finds it under itself, and its wait fails as one that could never
/// end, though another awaited future could have ended the outer wait. It fails rather
/// than hang, and the outer wait then ends with it (`b`'s failed wait is a result).
#[test]
fn a_task_run_by_a_wait_for_any_that_waits_for_the_waiter_fails_rather_than_hangs() {
    for mode in [WaitMode::FirstCompleted, WaitMode::FirstException] {
        watchdog::within(LIMIT, "run by a wait for any, waits for it", move || {
            let client = client(1);
            let a_slot = Arc::new(OnceLock::<Future<usize>>::new());
            let a_of = a_slot.clone();
            let b_slot = Arc::new(OnceLock::<(Future<String>, Future<()>)>::new());
            let b_of = b_slot.clone();
            // `a` runs first on the only thread and finds `b` queued, first in its list.
            let a = client
                .task(move || {
                    let (b, other) = b_of.wait();
                    wait(&[b.erase(), other.erase()], mode, None).0.len()
                })
                .named("a")
                .submit(());
            assert!(a_slot.set(a.clone()).is_ok());
            let b = client
                .task(move || match a_of.wait().result() {
                    Ok(n) => n.to_string(),
                    Err(error) => error.to_string(),
                })
                .named("b")
                .submit(());
            let other = client.submit(|| (), ());
            assert!(b_slot.set((b.clone(), other.clone())).is_ok());
            // `b`'s end, then (a wait for the first exception goes on: `b` finished
            // well) `other`'s, run the same way.
            let ended = if mode == WaitMode::FirstCompleted {
                1
            } else {
                2
            };
            assert_eq!(a.result().unwrap(), ended);
            let message = b.result().unwrap();
            assert!(message.contains("never end"), "{message}");
            assert!(message.contains("task `b` at "), "{message}");
            other.result().unwrap();
        });
    }
}

/// A wait's result or its error, as text: what the tasks below pass on.
fn text(future: &Future<String>) -> String {
    match future.result() {
        Ok(text) => text,
        Err(error) => error.to_string(),
    }
}

/// Task `t` waits for any of `m0` and `m1` (a gather, whose first is `m0`; an
/// `as_completed`; a `wait` for the first completed), and each of them waits for `t`:
/// `m0` first, then `t`, then `m1`. `m1`'s wait closes the cycle: `t` needs `m0` or
/// `m1`, `m0` needs `t`, and `m1` is the waiting task. The search marked only what
/// could not end before the waiting task, from it: `m0` never (its cycle with `t`
/// does not go through `m1`), so neither `t`'s wait for any, and the three hung (a
/// `client.map` gathered, in `wait_cycles_random`). Now `m1`'s wait fails, and
/// everything ends.
#[test]
fn a_wait_for_any_closed_into_a_cycle_by_its_last_future_is_broken() {
    #[derive(Clone, Copy, Debug)]
    enum Any {
        Gather,
        AsCompleted,
        FirstCompleted,
    }
    watchdog::within(
        Duration::from_secs(20),
        "cycle through a wait for any",
        || {
            for any in [Any::Gather, Any::AsCompleted, Any::FirstCompleted] {
                let client = client(2);
                let slot = slots::<String>(1);
                let go = Arc::new(AtomicBool::new(false));
                let (s, g) = (slot.clone(), go.clone());
                let t = client
                    .task(move || {
                        let client = get_client().unwrap();
                        let s0 = s.clone();
                        let m0 = client
                            .task(move || text(s0[0].wait()))
                            .named("m0")
                            .submit(());
                        let (s1, g1) = (s.clone(), g.clone());
                        let m1 = client
                            .task(move || {
                                wait_until(&g1);
                                text(s1[0].wait())
                            })
                            .named("m1")
                            .submit(());
                        let both = [m0, m1];
                        match any {
                            Any::Gather => match client.gather(&both) {
                                Ok(texts) => texts.concat(),
                                Err(error) => error.to_string(),
                            },
                            Any::AsCompleted => {
                                let first = taskweave::as_completed(both.clone()).next();
                                text(&first.unwrap())
                            }
                            Any::FirstCompleted => {
                                let (done, _) = taskweave::wait(
                                    &both,
                                    taskweave::WaitMode::FirstCompleted,
                                    None,
                                );
                                text(&done[0])
                            }
                        }
                    })
                    .named("t")
                    .submit(());
                assert!(slot[0].set(t.clone()).is_ok());
                // `m0` and then `t` sleep in their waits; then `m1` waits.
                std::thread::sleep(Duration::from_millis(100));
                go.store(true, SeqCst);
                let t = text(&t);
                assert!(t.contains("never end"), "{any:?}: {t}");
            }
        },
    );
}

/// `t1` waits for `t2`, queued behind a held thread, and so runs it on its own thread,
/// above itself; `t2` waits for `t0`, and is cancelled while it runs (its code goes on);
/// then `t0` waits for `t1`. That last wait closes a cycle through `t2`'s frame: `t1`
/// resumes only once `t2` returns, which waits for `t0`. The search took the cancelled
/// `t2` as ended, and so `t1` as free to go on: the wait slept, and the three hung (a
/// case of `wait_cycles_random`, one run in two). Now it fails, and everything ends.
#[test]
fn a_cycle_through_a_task_cancelled_while_it_runs_inline_is_broken() {
    watchdog::within(
        Duration::from_secs(20),
        "cycle through a cancelled task",
        || {
            let (c0, c1, c2) = (client(1), client(1), client(1));
            // `c2`'s one thread held: `t2` stays queued until `t1` runs it.
            let (hold, held) = std::sync::mpsc::channel::<()>();
            let held = Mutex::new(held);
            let holder = c2.submit(
                move || {
                    let _ = held.lock().unwrap().recv();
                },
                (),
            );
            while holder.status() != Status::Running {
                std::thread::sleep(Duration::from_millis(1));
            }
            let slots = slots::<String>(3);
            let go = Arc::new(AtomicBool::new(false));
            let (s, g) = (slots.clone(), go.clone());
            let t0 = c0
                .task(move || {
                    wait_until(&g);
                    text(s[1].wait())
                })
                .named("t0")
                .submit(());
            let s = slots.clone();
            let t1 = c1.task(move || text(s[2].wait())).named("t1").submit(());
            let s = slots.clone();
            let t2 = c2.task(move || text(s[0].wait())).named("t2").submit(());
            for (slot, future) in slots.iter().zip([&t0, &t1, &t2]) {
                assert!(slot.set(future.clone()).is_ok());
            }
            // `t2` runs on `t1`'s thread and sleeps in its wait for `t0`.
            while t2.status() != Status::Running {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(100));
            t2.cancel();
            go.store(true, SeqCst);
            let zero = t0.result().unwrap();
            assert!(
                zero.contains("never end") && zero.contains("`t0`"),
                "t0: {zero}"
            );
            // `t2` read `t0`'s message, and `t1` its cancelled `t2`.
            assert!(matches!(t2.result(), Err(FutureError::Cancelled { .. })));
            let one = t1.result().unwrap();
            assert!(
                one.contains("`t2`") && one.contains("was cancelled"),
                "t1: {one}"
            );
            drop(hold);
            holder.result().unwrap();
        },
    );
}

/// A futures task computes a graph whose task waits for the futures task's own future.
/// The graph's task waits as the task that computes the graph, on whichever thread it
/// runs: rayon's pool (a parallel run, outside any futures task, where it hung before)
/// or the task's own thread (`Scheduler::Sync`). The wait fails, and the task ends.
#[test]
fn a_graph_task_waiting_for_the_task_that_computes_its_graph_fails() {
    watchdog::within(LIMIT, "graph task waits for its own computer", || {
        for scheduler in [Scheduler::Threads, Scheduler::Sync] {
            let client = client(2);
            let me = Arc::new(OnceLock::<Future<String>>::new());
            let slot = me.clone();
            let task = client
                .task(move || {
                    let slot = slot.clone();
                    let waits = delayed(move |_: u64| text(slot.wait())).call(0u64);
                    let beside = delayed(|_: u64| String::new()).call(1u64);
                    taskweave::compute_with(scheduler, (&waits, &beside))
                        .expect("no task panics")
                        .0
                })
                .named("computes")
                .submit(());
            assert!(me.set(task.clone()).is_ok());
            let message = task.result().unwrap();
            assert!(message.contains("never end"), "{scheduler:?}: {message}");
            // The wait is the graph task's, and the message says so.
            assert!(
                message.starts_with("a task of the graph that task `computes` at "),
                "{scheduler:?}: {message}"
            );
        }
    });
}

/// Two futures tasks: `a` waits for `b`'s future, and `b` computes a graph both of
/// whose tasks wait for `a`'s: a cycle through graph tasks, which one of the waits
/// breaks (it hung before); both tasks end, with its message. On one thread `a` runs
/// `b` inline (it finds it queued), and the graph's tasks wait for the task under `b`
/// there; on two, each blocks on a thread of its own.
#[test]
fn a_cycle_of_waits_through_graph_tasks_is_broken() {
    watchdog::within(LIMIT, "cycle through graph tasks", || {
        for threads in [1, 2] {
            let client = client(threads);
            let a_slot = Arc::new(OnceLock::<Future<String>>::new());
            let b_slot = Arc::new(OnceLock::<Future<String>>::new());
            let b_in = b_slot.clone();
            let a = client.task(move || text(b_in.wait())).named("a").submit(());
            assert!(a_slot.set(a.clone()).is_ok());
            let a_in = a_slot.clone();
            let b = client
                .task(move || {
                    let waits: Vec<Delayed<String>> = (0..2u64)
                        .map(|i| {
                            let a = a_in.clone();
                            delayed(move |_: u64| text(a.wait())).call(i)
                        })
                        .collect();
                    taskweave::compute(waits.as_slice()).concat()
                })
                .named("b")
                .submit(());
            assert!(b_slot.set(b.clone()).is_ok());
            let (a, b) = (a.result().unwrap(), b.result().unwrap());
            assert!(a.contains("never end"), "{threads} threads: {a}");
            assert!(b.contains("never end"), "{threads} threads: {b}");
            assert!(
                b.contains(&a) || a.contains(&b),
                "{threads} threads: {a} / {b}"
            );
            // `b`'s part is its graph's tasks' waits, and the message says so: as the
            // task a graph task of which waits, or as one step of the cycle.
            assert!(
                b.starts_with("a task of the graph that task `b` at ")
                    || b.contains("`b` at ")
                        && b.contains(" computes a graph, a task of which waits for `a`"),
                "{threads} threads: {b}"
            );
        }
    });
}

/// A graph task of a futures task's run waits for another task's future, which ends
/// later, and for one that waits for a third task: nothing is refused.
#[test]
fn a_graph_task_waiting_for_a_future_that_can_end_is_not_refused() {
    watchdog::within(LIMIT, "graph task waits, no cycle", || {
        let client = client(2);
        let later = client.submit(
            || {
                std::thread::sleep(Duration::from_millis(50));
                "later".to_owned()
            },
            (),
        );
        let waiter = {
            let later = later.clone();
            client.submit(move || text(&later), ())
        };
        let outer = client.submit(
            move || {
                let (later, waiter) = (later.clone(), waiter.clone());
                let first = delayed(move |_: u64| text(&later)).call(0u64);
                let second = delayed(move |_: u64| text(&waiter)).call(1u64);
                taskweave::compute(&[first, second][..]).concat()
            },
            (),
        );
        assert_eq!(outer.result().unwrap(), "laterlater");
    });
}

/// A wait for a long chain whose search found it free is not searched again by the
/// next waits for it, until a task the chain needs blocks: here the chain's first task
/// `g`, which waits for `b`, and `b` waits for the chain's link `waited` (of `LONG`;
/// the first search reached every link). One of those two waits fails (`b`'s when it
/// comes last, as the sleeps make likely: the record of the first search must not
/// answer it, or `b` and `g` wait for each other for ever), and every task ends.
fn cycle_through_a_chain_found_free(waited: usize) {
    let client = client(3);
    let slots = slots::<Result<u64, String>>(1);
    let failed = Failed::default();
    let (s, f) = (slots.clone(), failed.clone());
    let g = client
        .task(move || wait_and_pass_on(s[0].wait(), &f))
        .named("g")
        .submit(());
    let mut chain = vec![client.task(|x: Result<u64, String>| x).submit((&g,))];
    for _ in 1..LONG {
        let next = client
            .task(|x: Result<u64, String>| x)
            .submit((chain.last().unwrap(),));
        chain.push(next);
    }
    // Found free by its search, which keeps what the chain reached.
    let t = chain[LONG - 1].clone();
    let a = client
        .task(move || t.result().unwrap())
        .named("a")
        .submit(());
    std::thread::sleep(Duration::from_millis(50));
    let (link, f) = (chain[waited].clone(), failed.clone());
    let b = client
        .task(move || {
            // After `g` blocks waiting for this very task.
            std::thread::sleep(Duration::from_millis(50));
            wait_and_pass_on(&link, &f)
        })
        .named("b")
        .submit(());
    assert!(slots[0].set(b.clone()).is_ok());
    let b = b.result().unwrap();
    let g = g.result().unwrap();
    // The failed wait's message, passed on by the other task and down the chain.
    assert!(b.is_err() && g.is_err(), "{b:?} {g:?}");
    assert_eq!(a.result().unwrap(), g);
    let failed = failed.lock().unwrap();
    assert_eq!(failed.len(), 1, "{b:?}");
    // A cycle of two waits, or, when `g` found `b` not started and ran it inline,
    // `b` waiting for the chain that needs the task under it.
    assert!(
        matches!(
            failed[0],
            FutureError::WaitCycle { .. } | FutureError::WaitsForItself { .. }
        ),
        "{}",
        failed[0]
    );
    assert!(failed[0].to_string().contains("`b`"), "{}", failed[0]);
}

#[test]
fn a_chain_found_free_is_searched_again_once_a_task_it_needs_blocks() {
    watchdog::within(LIMIT, "cycle through a chain found free", || {
        cycle_through_a_chain_found_free(LONG - 1);
    });
}

/// A link in the middle of the chain rather than its end: what the first search
/// reached, let go once `g` blocks, must not answer for that link either.
#[test]
fn a_link_of_a_chain_found_free_is_searched_again_once_a_task_it_needs_blocks() {
    watchdog::within(LIMIT, "cycle through a link of a chain found free", || {
        cycle_through_a_chain_found_free(LONG / 2);
    });
}

/// Waits for different links near the end of one long unfinished chain: the first
/// search reaches the whole chain and finds it free, and the searches that follow stop
/// at what it reached. (Each walked the whole chain under the process-wide lock: 300
/// waits on a 100,000-long chain took 22 s in a release build; these 600 took about
/// 90 s here, 2 s now.)
#[test]
fn waits_for_different_links_of_a_long_chain_are_not_each_searched_through_it() {
    const CHAIN: usize = 100_000;
    const WAITERS: usize = 600;
    let limit = Duration::from_secs(30);
    let sum = watchdog::within(limit, "waits for the links of a long chain", || {
        let client = client(2);
        let (open, opened) = std::sync::mpsc::channel::<()>();
        let opened = Mutex::new(opened);
        let gate = client.submit(move || opened.lock().unwrap().recv().map_or(0, |()| 0), ());
        let mut chain = vec![gate];
        for _ in 0..CHAIN {
            let next = client.submit(|x: u64| x + 1, (chain.last().unwrap(),));
            chain.push(next);
        }
        let waiters: Vec<_> = (0..WAITERS)
            .map(|i| {
                let link = chain[CHAIN - i].clone();
                client.submit(move || link.result().unwrap(), ())
            })
            .collect();
        // Each has started, so it waits or is about to, before the chain may end.
        while waiters.iter().any(|f| f.status() == Status::Pending) {
            std::thread::sleep(Duration::from_millis(10));
        }
        open.send(()).unwrap();
        client.gather(&waiters).unwrap().into_iter().sum::<u64>()
    });
    let want: usize = (0..WAITERS).map(|i| CHAIN - i).sum();
    assert_eq!(sum, want as u64);
}

/// Tasks `t`, `u`, `a`, `b`: `t` gathers `[a, b]`, `a` waits for `u`, `u` waits for
/// `t`, and `b` waits for `release` to be called, then ends as `b` says (a failure for
/// `Err`). Each waiting task passes on what it read, a failed read as its message.
/// All four start before any waits (so that none runs another inline), and are sent one
/// another in this order, with pauses,
/// so that `t`'s gather and `a` wait before `u` does and `b` is released after that:
/// their results, `[t, u, a, b]`.
fn gather_waited_for_by_its_first(b: Result<i64, &'static str>) -> [Result<i64, String>; 4] {
    type Slot = Arc<OnceLock<Future<Result<i64, String>>>>;
    let client = client(4);
    let (u_slot, t_slot): (Slot, Slot) = Default::default();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = Mutex::new(released);
    let all_running = Arc::new(Barrier::new(4));
    let running = all_running.clone();
    let b = client
        .task(move || {
            running.wait();
            let _ = released.lock().unwrap().recv();
            b.map_err(|message| -> String { panic!("{message}") })
        })
        .named("b")
        .submit(());
    let read = |future: &Future<Result<i64, String>>| {
        future.result().map_err(|e| e.to_string()).and_then(|r| r)
    };
    let (of, running) = (u_slot.clone(), all_running.clone());
    let a = client
        .task(move || {
            running.wait();
            read(of.wait())
        })
        .named("a")
        .submit(());
    let (first, then, running) = (a.clone(), b.clone(), all_running.clone());
    let t = client
        .task(move || {
            running.wait();
            let gathered = get_client().unwrap().gather(&[first.clone(), then.clone()]);
            let values = gathered.map_err(|e| e.to_string())?;
            values.into_iter().sum::<Result<i64, String>>()
        })
        .named("t")
        .submit(());
    let of = t_slot.clone();
    let u = client
        .task(move || {
            all_running.wait();
            let t = of.wait();
            std::thread::sleep(Duration::from_millis(100));
            read(t)
        })
        .named("u")
        .submit(());
    assert!(u_slot.set(u.clone()).is_ok());
    std::thread::sleep(Duration::from_millis(50));
    assert!(t_slot.set(t.clone()).is_ok());
    std::thread::sleep(Duration::from_millis(300));
    release.send(()).unwrap();
    [read(&t), read(&u), read(&a), read(&b)]
}

/// A gather in a task stops at the first failure among its futures, as Dask's does,
/// so a wait through it is no cycle while a future of its list may still fail:
/// `u` waits for `t`, `t` gathers `[a, b]`, `a` waits for `u`, and `b` fails later.
/// `t` gets `b`'s error, and `u` and `a` read it in turn. The wait of `u` was refused as
/// a cycle (the gather counted as a wait for `a` alone).
#[test]
fn a_wait_through_a_gather_that_a_later_failure_ends_is_not_refused() {
    watchdog::within(LIMIT, "a gather a later failure ends", || {
        let [t, u, a, b] = gather_waited_for_by_its_first(Err("b fails"));
        let error = t.unwrap_err();
        assert!(error.contains("b fails"), "{error}");
        assert_eq!(u, Err(error.clone()));
        assert_eq!(a, Err(error.clone()));
        assert!(b.unwrap_err().contains("b fails"));
    });
}

/// The shape above with the gather's wait last: `u` waits for `t` and `a` for `u`
/// while `t` still runs, then `t` gathers `[a, b]`, closing the cycle; `b` fails later.
/// The gather's own wait is no cycle either while `b` may still end it: `t` gets
/// `b`'s error, and `u` and `a` read it in turn.
#[test]
fn a_gather_closing_a_cycle_that_a_later_failure_ends_is_not_refused() {
    watchdog::within(LIMIT, "a gather closing a cycle", || {
        gather_in_a_cycle_failing_later(GatherAt::Last);
    });
}

/// The shape above, `t`'s gather waiting first, then woken for nothing (a task of
/// another client fails) once `u` and `a` wait: it waits again, and is still no cycle
/// while `b` may end it.
#[test]
fn a_gather_in_a_cycle_woken_for_nothing_waits_again() {
    watchdog::within(LIMIT, "a gather in a cycle woken for nothing", || {
        gather_in_a_cycle_failing_later(GatherAt::FirstThenWoken);
    });
}

/// When `t`'s gather waits, in [`gather_in_a_cycle_failing_later`].
#[derive(PartialEq)]
enum GatherAt {
    /// After `u` and `a` wait.
    Last,
    /// Before them, and woken for nothing once they wait.
    FirstThenWoken,
}

/// `t` gathers `[a, b]`, `a` waits for `u`, `u` for `t`, all four running before any
/// waits; `b` fails once all three wait. Checks that `t` gets `b`'s error and that `u`
/// and `a` read it in turn.
fn gather_in_a_cycle_failing_later(at: GatherAt) {
    type Slot = Arc<OnceLock<Future<Result<i64, String>>>>;
    let client = client(4);
    let (u_slot, t_slot): (Slot, Slot) = Default::default();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = Mutex::new(released);
    let (go, gather_now) = std::sync::mpsc::channel::<()>();
    let gather_now = Mutex::new(gather_now);
    let read = |future: &Future<Result<i64, String>>| {
        future.result().map_err(|e| e.to_string()).and_then(|r| r)
    };
    let b = client
        .task(move || -> Result<i64, String> {
            let _ = released.lock().unwrap().recv();
            panic!("b fails")
        })
        .named("b")
        .submit(());
    let of = u_slot.clone();
    let a = client.task(move || read(of.wait())).named("a").submit(());
    let (first, then) = (a.clone(), b.clone());
    let t = client
        .task(move || {
            let _ = gather_now.lock().unwrap().recv();
            let gathered = get_client().unwrap().gather(&[first.clone(), then.clone()]);
            let values = gathered.map_err(|e| e.to_string())?;
            values.into_iter().sum::<Result<i64, String>>()
        })
        .named("t")
        .submit(());
    let of = t_slot.clone();
    let u = client.task(move || read(of.wait())).named("u").submit(());
    // All four run before any waits (a wait would run a queued one inline, under
    // itself: a cycle indeed).
    while [&a, &b, &t, &u]
        .iter()
        .any(|f| f.status() != Status::Running)
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    let pause = || std::thread::sleep(Duration::from_millis(200));
    if at == GatherAt::FirstThenWoken {
        go.send(()).unwrap();
        pause();
    }
    assert!(u_slot.set(u.clone()).is_ok());
    assert!(t_slot.set(t.clone()).is_ok());
    pause();
    match at {
        GatherAt::Last => go.send(()).unwrap(),
        GatherAt::FirstThenWoken => {
            let other = Client::builder().threads(1).build().unwrap();
            let unrelated = other.submit(|| -> u64 { panic!("unrelated") }, ());
            assert!(unrelated.result().is_err());
        }
    }
    pause();
    release.send(()).unwrap();
    let error = read(&t).unwrap_err();
    assert!(error.contains("b fails"), "{error}");
    assert_eq!(read(&u), Err(error.clone()));
    assert_eq!(read(&a), Err(error.clone()));
    assert!(read(&b).unwrap_err().contains("b fails"));
}

/// The same shape, `b` finishing well: once it has, only `a` could end the gather, and
/// `a` waits for `u`, which waits for `t`: a cycle, which one wait breaks (the gather's,
/// looking again once `b` has ended, or `u`'s), naming the three tasks, rather than
/// hanging.
#[test]
fn a_gather_left_in_a_cycle_once_its_other_futures_finish_is_refused() {
    watchdog::within(LIMIT, "a gather in a cycle once b finishes", || {
        let [t, u, a, b] = gather_waited_for_by_its_first(Ok(1));
        assert_eq!(b, Ok(1));
        let error = t.unwrap_err();
        assert!(error.contains("in a cycle"), "{error}");
        for task in ["t", "u", "a"] {
            assert!(error.contains(&format!("`{task}` at ")), "{error}");
        }
        assert_eq!(u, Err(error.clone()));
        assert_eq!(a, Err(error));
    });
}

/// A ring of tasks, each gathering `[the next one's future, later]`, where `later`
/// finishes well once every task of the ring has started gathering: while `later` is
/// pending no wait is refused (its failure would end every gather); once it has
/// finished, the ring is a cycle of gathers, which one of them breaks (each looks
/// again when `later` ends, the last to do so finds the cycle), and every task ends.
#[test]
fn a_ring_of_gathers_left_in_a_cycle_once_their_other_future_finishes_breaks_at_one_wait() {
    const N: usize = 50;
    watchdog::within(LIMIT, "a ring of gathers", || {
        let client = client(N + 1);
        let slots = slots::<Result<u64, String>>(N);
        let failed = Failed::default();
        let together = Arc::new(Barrier::new(N + 1));
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = Mutex::new(released);
        let later = client
            .task(move || {
                let _ = released.lock().unwrap().recv();
                Ok(0)
            })
            .named("later")
            .submit(());
        let futures: Vec<_> = (0..N)
            .map(|i| {
                let (slots, failed, together) = (slots.clone(), failed.clone(), together.clone());
                let later = later.clone();
                client
                    .task(move || {
                        together.wait();
                        let next = slots[(i + 1) % N].wait().clone();
                        match get_client().unwrap().gather(&[next, later.clone()]) {
                            Ok(values) => values[0].clone().map(|v| v + 1),
                            Err(error) => {
                                let message = error.to_string();
                                failed.lock().unwrap().push(error);
                                Err(message)
                            }
                        }
                    })
                    .named(format!("ring-{i}"))
                    .submit(())
            })
            .collect();
        for (slot, future) in slots.iter().zip(&futures) {
            assert!(slot.set(future.clone()).is_ok());
        }
        together.wait();
        // Time for the gathers to block, so that each relies on `later` when it ends
        // (the outcome is the same if some block only after).
        std::thread::sleep(Duration::from_millis(200));
        assert!(futures.iter().all(|f| !f.done()), "no wait refused yet");
        release.send(()).unwrap();
        assert_ring_broken_once(N, &futures, &failed);
    });
}

// ---- waits above a part of a run on a rayon worker ---------------------------------------

/// Set in the child process a test below runs itself in.
const CHILD: &str = "TASKWEAVE_WAIT_CYCLES_CHILD";

/// Whether this is the test's own process, which has just run the test `name` alone,
/// in a child process with rayon's pool of two workers (and warnings off): the test
/// then returns. In the child, checks the pool, and is false.
fn ran_in_a_child_with_two_workers(name: &str) -> bool {
    if std::env::var_os(CHILD).is_none() {
        taken_back::in_a_process_of_its_own(
            CHILD,
            name,
            &[("RAYON_NUM_THREADS", "2"), ("TASKWEAVE_WARNINGS", "off")],
        );
        return true;
    }
    assert_eq!(rayon::current_num_threads(), 2);
    false
}

/// A task of the rendezvous: `1` for the first of two, `2` for the second.
#[delayed]
fn half(h: &'static Rendezvous) -> u64 {
    h.meet()
}

#[delayed]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

/// Where the three leaves of [`steal`]'s tree meet: the left leaf ends once the first
/// right leaf has started (the right branch stolen by the other worker); that leaf ends
/// once the second right leaf has started (taken back by the first worker, from the
/// thief's join); the second holds its worker until `release`.
#[derive(Default)]
struct Steal {
    r1_started: AtomicBool,
    r2_started: AtomicBool,
    release: AtomicBool,
}

/// A leaf of the tree of [`Steal`]: `0` the left, `1` and `2` the right branch's.
#[delayed]
fn steal(s: &'static Steal, leaf: u8) -> u64 {
    match leaf {
        0 => wait_until(&s.r1_started),
        1 => {
            s.r1_started.store(true, SeqCst);
            wait_until(&s.r2_started);
        }
        _ => {
            s.r2_started.store(true, SeqCst);
            wait_until(&s.release);
        }
    }
    u64::from(leaf) + 1
}

/// Computes, on a thread of its own, `reader` beside a task that makes 10 (two tasks
/// side by side, so that the run goes to rayon's pool, where only a worker waiting in
/// a join of a graph is free); calls `release` once the run has returned (the held
/// part of that graph may end), and returns what `reader` made.
fn beside<R: Clone + Send + Sync + 'static>(reader: Delayed<R>, release: impl FnOnce()) -> R {
    let beside = delayed(|v: u64| v * 10).call(1u64);
    let run =
        std::thread::spawn(move || taskweave::compute_with(RunOptions::new(), (&reader, &beside)));
    let (read, ten) = run.join().unwrap().expect("no task panics");
    release();
    assert_eq!(ten, 10);
    read
}

/// [`beside`], with a reader that reads `task`'s future in its own code: returns the
/// read's error, checked to be a cycle of one step: `computes`, whose run has a part
/// under the wait.
fn read_computes_beside(task: &Future<u64>, release: impl FnOnce()) -> FutureError {
    let awaited = task.clone();
    let read = beside(delayed(move || awaited.result()).call(), release);
    let error = read.expect_err("the wait cannot end");
    let FutureError::WaitCycle { cycle } = &error else {
        panic!("not a cycle: {error}");
    };
    assert_eq!(cycle.len(), 1, "{error}");
    assert_eq!(cycle[0].task, "computes");
    assert_eq!(cycle[0].then, CycleLink::PartUnderWait, "{error}");
    error
}

/// A futures task `computes` that runs a graph whose two halves go to rayon's two
/// workers (a `graph!`, run as a tree of joins, or a dynamic graph, run by the
/// dispatcher), meeting at `h`: the first to end waits in the join for the other.
fn computes(client: &Client, h: &'static Rendezvous, dynamic: bool) -> Future<u64> {
    client
        .task(move || {
            if dynamic {
                let sum = delayed(|a: u64, b: u64| a + b)
                    .call(delayed(half).call(h), delayed(half).call(h));
                sum.compute()
            } else {
                let g = graph!(|h: &'static Rendezvous| -> u64 {
                    let a = half(h);
                    let b = half(h);
                    add(a, b)
                });
                g.compute(h)
            }
        })
        .named("computes")
        .submit(())
}

/// As the test below, on the thief's side: a futures task `computes` runs a `graph!`
/// (a tree of joins, `add(l, add(r1, r2))`) on rayon's two workers. The second worker
/// steals the right branch, and within it waits in its join for `r2`, which the first
/// worker took from it; meanwhile it takes up a graph computed from another thread,
/// whose task waits for `computes`'s future, above the stolen branch the future needs.
/// Only the branch's mark, made where it was stolen, shows the search that part of the
/// run: without it the wait hung.
#[test]
fn a_wait_taken_up_above_a_stolen_branch_of_the_graph_it_waits_for_fails() {
    const NAME: &str = "a_wait_taken_up_above_a_stolen_branch_of_the_graph_it_waits_for_fails";
    if ran_in_a_child_with_two_workers(NAME) {
        return;
    }
    watchdog::within(
        Duration::from_secs(20),
        "wait above a stolen branch",
        || {
            let s: &'static Steal = Box::leak(Box::default());
            let client = client(1);
            let task = client
                .task(move || {
                    let g = graph!(|s: &'static Steal| -> u64 {
                        let l = steal(s, 0);
                        let r1 = steal(s, 1);
                        let r2 = steal(s, 2);
                        let r = add(r1, r2);
                        add(l, r)
                    });
                    g.compute(s)
                })
                .named("computes")
                .submit(());
            wait_until(&s.r2_started);
            // `r1` has ended: its worker now waits in the right branch's join for `r2`.
            std::thread::sleep(Duration::from_millis(50));
            read_computes_beside(&task, || s.release.store(true, SeqCst));
            // The branch resumes, and the task ends well.
            assert_eq!(task.result().unwrap(), 1 + 2 + 3);
        },
    );
}

/// A futures task `computes` runs a graph whose two halves go to rayon's two workers
/// (a `graph!`, run as a tree of joins, or a dynamic graph, run by the dispatcher).
/// The worker whose half ended first waits in the join for the other, and meanwhile
/// takes up a graph computed from another thread, whose task waits for `computes`'s
/// future in its own code (`result`). That wait is on top of the worker's part of
/// `computes`'s graph, which resumes only once the wait ends, and the future needs the
/// graph: it hung for ever. Now the wait fails with the cycle (the worker's part of
/// the run is marked on its thread, `engine::owner::in_part_of`, and the search for
/// waits that cannot end sees it), and everything ends. Run alone, in a process with
/// rayon's pool of two workers.
#[test]
fn a_wait_in_a_task_run_above_a_part_of_the_graph_it_waits_for_fails() {
    const NAME: &str = "a_wait_in_a_task_run_above_a_part_of_the_graph_it_waits_for_fails";
    if ran_in_a_child_with_two_workers(NAME) {
        return;
    }
    watchdog::within(Duration::from_secs(20), "wait above a part", || {
        for dynamic in [false, true] {
            let h: &'static Rendezvous = Box::leak(Box::default());
            let client = client(1);
            let task = computes(&client, h, dynamic);
            wait_until(&h.first_done);
            // The first worker now waits in the join, the second holds the other half.
            std::thread::sleep(Duration::from_millis(50));
            let error = read_computes_beside(&task, || h.release.store(true, SeqCst));
            let FutureError::WaitCycle { cycle } = &error else {
                unreachable!("checked by read_computes_beside");
            };
            assert!(cycle[0].call_site.contains("futures_wait_cycles.rs"));
            let message = error.to_string();
            assert!(
                message.contains("`computes` at ")
                    && message.contains("a part of which resumes only once a task run above it")
                    && message.contains("pass the future to the task as an argument"),
                "{message}"
            );
            // The graph's part resumes, and the task ends well.
            assert_eq!(task.result().unwrap(), 3, "dynamic: {dynamic}");
        }
    });
}

/// As the test above, the future read as the argument of a task of a graph that the
/// taken-up task computes: that graph's run starts on rayon's pool, so it does not wait
/// for the futures it reads before it starts, and its task reads the future on the
/// waiting worker, above its part of the graph the future needs. The read fails so,
/// and the error's advice is for such a read (compute the reading graph with
/// `client.compute` or from outside the pool), not to pass the future as an argument,
/// which it is.
#[test]
fn an_argument_read_above_a_part_of_the_graph_it_reads_fails_advising_for_reads() {
    const NAME: &str =
        "an_argument_read_above_a_part_of_the_graph_it_reads_fails_advising_for_reads";
    if ran_in_a_child_with_two_workers(NAME) {
        return;
    }
    watchdog::within(Duration::from_secs(20), "argument above a part", || {
        let h: &'static Rendezvous = Box::leak(Box::default());
        let client = client(1);
        let task = computes(&client, h, false);
        wait_until(&h.first_done);
        // The first worker now waits in the join, the second holds the other half.
        std::thread::sleep(Duration::from_millis(50));
        let awaited = task.clone();
        let reader = delayed(move || {
            let reads = delayed(|v: &u64| *v).call(&awaited);
            reads.try_compute().map_err(|error| error.to_string())
        })
        .call();
        let read = beside(reader, || h.release.store(true, SeqCst));
        let message = read.expect_err("the read cannot end");
        assert!(
            message.contains("its argument, future `computes")
                && message.contains("a part of which resumes only once a task run above it")
                && message
                    .contains("compute the graph that reads the future with `client.compute`")
                && !message.contains("pass the future to the task as an argument"),
            "{message}"
        );
        assert_eq!(task.result().unwrap(), 3);
    });
}
