//! Shapes, failures and waits that once crashed or hung the engine, at sizes that
//! overflow a stack growing with the shape, each under a watchdog: a comb of wide nodes
//! on the dispatcher; futures chains failing, cancelled or dropped with their client at
//! the root; thousands of tasks waiting on one future; tasks that wait for tasks that
//! wait (Dask's secede/rejoin); graphs computed inside futures tasks whose tasks wait
//! for that client; timeouts of `Duration::MAX` and `ZERO`.

#[path = "support/random.rs"]
mod random;
#[path = "support/taken_back.rs"]
mod taken_back;
#[path = "support/watchdog.rs"]
mod watchdog;

use std::collections::HashSet;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taken_back::{gate, the_worker_waits_until};
use taskweave::prelude::*;
use taskweave::{FutureError, Status};
use watchdog::within;

/// [`taken_back::in_a_process_of_its_own`], the child seeing [`CHILD`] set.
fn in_a_process_of_its_own(name: &str, env: &[(&str, &str)]) {
    taken_back::in_a_process_of_its_own(CHILD, name, env);
}

const LIMIT: Duration = Duration::from_secs(120);

fn client(threads: usize) -> Client {
    Client::builder()
        .threads(threads)
        .name("robust")
        .build()
        .unwrap()
}

fn inc(x: u64) -> u64 {
    x + 1
}

// ---- the dispatcher -------------------------------------------------------------

/// A spine whose every node is read by 16 leaves and the next spine node: 17
/// successors, more than the dispatcher releases in one go. Each level used to nest
/// one more `drive` -> `spread` -> `join` on a worker's stack (3,000 levels overflowed).
#[test]
fn a_comb_of_wide_nodes_runs_in_bounded_stack() {
    const LEVELS: u64 = 100_000;
    let got = within(LIMIT, "comb", || {
        let step = delayed(|x: u64| x + 1);
        let leaf = delayed(|x: u64| x % 3);
        let mut spine = delayed(|| 0u64).call();
        let mut leaves = Vec::new();
        for _ in 0..LEVELS {
            for _ in 0..16 {
                leaves.push(leaf.call(&spine));
            }
            spine = step.call(&spine);
        }
        delayed(|v: Vec<u64>, last: u64| v.iter().sum::<u64>() + last)
            .call(leaves, spine)
            .compute()
    });
    // The same, sequentially: spine node i holds i.
    let want: u64 = (0..LEVELS).map(|i| 16 * (i % 3)).sum::<u64>() + LEVELS;
    assert_eq!(got, want);
}

/// The same comb on a one-thread pool and with the synchronous scheduler.
#[test]
fn a_comb_on_one_thread_and_synchronously() {
    const LEVELS: u64 = 20_000;
    let build = || {
        let step = delayed(|x: u64| x + 1);
        let leaf = delayed(|x: u64| x * 2);
        let mut spine = delayed(|| 1u64).call();
        let mut leaves = Vec::new();
        for _ in 0..LEVELS {
            for _ in 0..20 {
                leaves.push(leaf.call(&spine));
            }
            spine = step.call(&spine);
        }
        delayed(|v: Vec<u64>| v.iter().sum::<u64>()).call(leaves)
    };
    let want: u64 = (1..=LEVELS).map(|i| 20 * 2 * i).sum();
    let one = within(LIMIT, "comb on one thread", move || {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        pool.install(|| build().compute())
    });
    assert_eq!(one, want);
    let sync = within(LIMIT, "comb, synchronously", move || {
        build()
            .try_compute_with(taskweave::Scheduler::Sync)
            .unwrap()
    });
    assert_eq!(sync, want);
}

// ---- futures: failure, cancellation and shutdown down long chains ---------------

const CHAIN: usize = 100_000;

/// A chain `x = submit(inc, (x,))` behind a root held by `gate`.
fn chain(client: &Client, root: Future<u64>) -> Future<u64> {
    let mut x = root;
    for _ in 0..CHAIN {
        x = client.submit(inc, (x,));
    }
    x
}

#[test]
fn a_long_chain_fails_at_the_root_without_overflow() {
    within(LIMIT, "failing chain", || {
        let client = client(1);
        let (open, opened) = mpsc::channel::<()>();
        let opened = Mutex::new(opened);
        let root = client.submit(
            move || -> u64 {
                opened.lock().unwrap().recv().unwrap();
                panic!("the root failed")
            },
            (),
        );
        let last = chain(&client, root);
        open.send(()).unwrap();
        match last.result() {
            Err(FutureError::Task(error)) => {
                assert!(error.to_string().contains("the root failed"), "{error}")
            }
            other => panic!("expected the root's error, got {other:?}"),
        }
        assert_eq!(last.status(), Status::Error);
    });
}

#[test]
fn a_long_chain_cancelled_at_the_root_without_overflow() {
    within(LIMIT, "cancelled chain", || {
        let client = client(1);
        let gates = client_named("gates");
        let (blocker, open) = gate(&gates);
        // The root waits for the gate: pending, behind a dependency.
        let root = client.submit(inc, (blocker,));
        let root_handle = root.clone();
        let last = chain(&client, root);
        // Cancelling tells 100,000 dependents in turn, on the cancelling thread: a
        // 64 KiB stack is plenty for a work list (and far too little for recursion).
        on_a_stack_of(64 << 10, move || root_handle.cancel());
        assert_eq!(last.status(), Status::Cancelled);
        assert!(matches!(last.result(), Err(FutureError::Cancelled { .. })));
        // The gate's last handle went with the root's arguments: cancelled, unless it
        // had started (then this ends it).
        let _ = open.send(1);
    });
}

#[test]
fn dropping_the_client_with_a_long_chain_pending() {
    within(LIMIT, "chain dropped with its client", || {
        let client = client(1);
        let gates = client_named("gates");
        let (blocker, open) = gate(&gates);
        let root = client.submit(inc, (blocker,));
        let last = chain(&client, root);
        drop(client);
        assert!(matches!(last.result(), Err(FutureError::Cancelled { .. })));
        // The gate's last handle went with the root's arguments: cancelled, unless it
        // had started (then this ends it).
        let _ = open.send(1);
    });
}

/// A chain of done callbacks, each cancelling the next future, runs in bounded stack:
/// the callbacks of ends caused 16 callbacks deep run after the one that caused them
/// returns. (Each callback ran inside the one before: 5,000 links overflowed the stack
/// and aborted the process.)
#[test]
fn a_chain_of_done_callbacks_each_cancelling_the_next_runs_in_bounded_stack() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    within(LIMIT, "chain of done callbacks", || {
        const N: usize = 100_000;
        let client = client(1);
        let gates = client_named("gates");
        let (blocker, open) = gate(&gates);
        let futures: Arc<Vec<Future<u64>>> =
            Arc::new((0..N).map(|_| client.submit(inc, (&blocker,))).collect());
        let called = Arc::new(AtomicUsize::new(0));
        for i in 0..N - 1 {
            let (futures_in, called) = (futures.clone(), called.clone());
            futures[i].add_done_callback(move |_| {
                called.fetch_add(1, Ordering::SeqCst);
                futures_in[i + 1].cancel();
            });
        }
        let first = futures[0].clone();
        on_a_stack_of(256 << 10, move || first.cancel());
        assert_eq!(called.load(Ordering::SeqCst), N - 1);
        assert!(futures.iter().all(|f| f.status() == Status::Cancelled));
        open.send(1).unwrap();
    });
}

/// Waiters on many handles of one future come and go in time linear in their number:
/// a `wait` with a timeout and a dropped `as_completed` over 1,000,000 handles of one
/// pending future. (Each took its callback back by a search through all of them: 3.3 s
/// for 200,000 handles in a release build, minutes for a million.)
#[test]
fn waits_over_a_million_handles_of_one_future_take_their_callbacks_back_quickly() {
    within(LIMIT, "a million handles of one future", || {
        let client = client(1);
        let gates = client_named("gates");
        let (blocker, open) = gate(&gates);
        let handles: Vec<Future<u64>> = (0..1_000_000).map(|_| blocker.clone()).collect();
        let (done, pending) = taskweave::wait(
            &handles,
            taskweave::WaitMode::FirstCompleted,
            Some(Duration::from_millis(1)),
        );
        assert_eq!((done.len(), pending.len()), (0, handles.len()));
        drop(taskweave::as_completed(handles.clone()));
        open.send(5).unwrap();
        assert_eq!(handles[999_999].result().unwrap(), 5);
        drop(client);
    });
}

/// A task of one client dropping the last handle of another whose running task waits
/// for it does not wait for that task (a cycle: with `shutdown_timeout(Duration::MAX)`
/// the drop hung for ever, with the default for 60 s); both finish.
#[test]
fn a_task_dropping_another_client_whose_task_waits_for_it_does_not_hang() {
    within(LIMIT, "client dropped by a task it waits for", || {
        let a = Client::builder()
            .threads(1)
            .name("a")
            .shutdown_timeout(Duration::MAX)
            .build()
            .unwrap();
        let b = client_named("b");
        let a_in_b = Arc::new(Mutex::new(Some(a.clone())));
        let (started, running) = mpsc::channel::<()>();
        let (go, gone) = mpsc::channel::<()>();
        let (started, gone) = (Mutex::new(started), Mutex::new(gone));
        let dropper = b.submit(
            move || {
                started.lock().unwrap().send(()).unwrap();
                gone.lock().unwrap().recv().unwrap();
                // The last handle of `a`, whose task waits for this one.
                drop(a_in_b.lock().unwrap().take());
                1u64
            },
            (),
        );
        running.recv().unwrap();
        let dropper_in_a = dropper.clone();
        let waiter = a.submit(move || dropper_in_a.result().map_err(|e| e.to_string()), ());
        // The waiter has started (it is `a`'s only task) before the drop is let go.
        while waiter.status() == Status::Pending {
            std::thread::yield_now();
        }
        drop(a);
        go.send(()).unwrap();
        assert_eq!(dropper.result().unwrap(), 1);
        assert_eq!(waiter.result().unwrap(), Ok(1));
    });
}

/// Chains linked through values rather than through arguments drop in bounded stack:
/// `Delayed` nodes whose closures keep the node before, values holding the `Delayed`
/// before them, futures whose results hold the future before (submitted, scattered,
/// erased). (Each link was dropped inside the drop of the next: 200,000 links overflowed
/// the stack and aborted the process.)
#[test]
fn chains_held_inside_values_drop_in_bounded_stack() {
    // Each holds the link before only to drop it.
    #[derive(Clone)]
    struct Link(#[allow(dead_code)] Option<Delayed<Link>>);
    #[derive(Clone)]
    struct FutureLink(Option<Future<FutureLink>>);
    within(LIMIT, "chains held inside values", || {
        const N: usize = 100_000;
        let mut captured = Delayed::value(0u64);
        for _ in 0..N {
            let before = captured.clone();
            captured = captured.map(move |x| {
                let _ = &before;
                x + 1
            });
        }
        on_a_stack_of(256 << 10, move || drop(captured));

        let mut held = Delayed::value(Link(None));
        for _ in 0..N {
            held = Delayed::value(Link(Some(held)));
        }
        on_a_stack_of(256 << 10, move || drop(held));

        let client = client(2);
        let mut submitted = client.submit(|| FutureLink(None), ());
        for _ in 0..N {
            let before = submitted;
            submitted = client.submit(move || FutureLink(Some(before.clone())), ());
        }
        submitted.result_shared().unwrap();
        on_a_stack_of(256 << 10, move || drop(submitted));

        let mut scattered = client.scatter(FutureLink(None));
        for _ in 0..N {
            scattered = client.scatter(FutureLink(Some(scattered)));
        }
        let erased = scattered.erase();
        drop(scattered);
        on_a_stack_of(256 << 10, move || drop(erased));
        // On a worker of the pool, whose stack is the client's: the last handle of a
        // scattered chain taken by a task.
        let mut scattered = client.scatter(FutureLink(None));
        for _ in 0..N {
            scattered = client.scatter(FutureLink(Some(scattered)));
        }
        let taken = client.submit(|link: FutureLink| link.0.is_some(), (scattered,));
        assert!(taken.result().unwrap());
    });
}

/// Runs `f` on a thread of its own with a stack of `bytes`, and waits for it: room
/// for a work list, far too little for recursion over a long chain.
fn on_a_stack_of(bytes: usize, f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(bytes)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

fn client_named(name: &str) -> Client {
    Client::builder().threads(1).name(name).build().unwrap()
}

// ---- futures: waiting inside tasks ----------------------------------------------

/// 10,000 tasks on a one-thread client wait for one future of another client: each
/// waiter hands its place over (the pool grows to its bound, then the rest queue),
/// instead of running the next waiter on its own stack.
#[test]
fn ten_thousand_waiters_on_one_future_on_one_thread() {
    within(LIMIT, "10,000 waiters", || {
        let client = client(1);
        let gates = client_named("gates");
        let (slow, open) = gate(&gates);
        let waiters: Vec<_> = (0..10_000u64)
            .map(|i| {
                let slow = slow.clone();
                client.submit(move || slow.result().unwrap() + i, ())
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        open.send(7).unwrap();
        let got = client.gather(&waiters).unwrap();
        assert_eq!(got, (0..10_000).map(|i| 7 + i).collect::<Vec<_>>());
    });
}

/// With the awaited task queued behind its waiters on the same client, the first
/// waiter runs it itself: no thread is started, no waiter runs on another's stack.
#[test]
fn a_waiter_runs_the_task_it_waits_for_when_it_is_queued() {
    within(LIMIT, "waiters on a queued task", || {
        let client = client(1);
        let threads = Arc::new(Mutex::new(HashSet::new()));
        let (slow_sender, slow_future) = mpsc::channel::<Future<u64>>();
        let slow_future = Arc::new(Mutex::new(slow_future));
        let slot: Arc<Mutex<Option<Future<u64>>>> = Arc::new(Mutex::new(None));
        let waiters: Vec<_> = (0..10_000u64)
            .map(|i| {
                let (slot, slow_future, threads) =
                    (slot.clone(), slow_future.clone(), threads.clone());
                client.submit(
                    move || {
                        threads
                            .lock()
                            .unwrap()
                            .insert(std::thread::current().name().map(str::to_owned));
                        let slow = {
                            let mut slot = slot.lock().unwrap();
                            slot.get_or_insert_with(|| slow_future.lock().unwrap().recv().unwrap())
                                .clone()
                        };
                        slow.result().unwrap() * i
                    },
                    (),
                )
            })
            .collect();
        // Submitted after the waiters: queued behind them.
        let slow = client.submit(
            || {
                std::thread::sleep(Duration::from_millis(20));
                3u64
            },
            (),
        );
        slow_sender.send(slow).unwrap();
        let got = client.gather(&waiters).unwrap();
        assert_eq!(got, (0..10_000).map(|i| 3 * i).collect::<Vec<_>>());
        let threads = threads.lock().unwrap();
        assert_eq!(threads.len(), 1, "ran on {threads:?}");
    });
}

/// Task A waits for a slow future; task C, submitted next, waits for A. A waiting
/// thread that ran C on its own stack would never return to A (a deadlock), on one
/// thread or on four with four such pairs.
#[test]
fn a_task_waiting_for_a_waiting_task_never_deadlocks() {
    for threads in [1, 4] {
        within(
            LIMIT,
            &format!("wait inversion on {threads} threads"),
            move || {
                let client = client(threads);
                let gates = client_named("gates");
                let (slow, open) = gate(&gates);
                let pairs: Vec<_> = (0..threads as u64)
                    .map(|i| {
                        let slow = slow.clone();
                        let a = client.submit(move || slow.result().unwrap() + i, ());
                        let a_handle = a.clone();
                        let c = client.submit(move || a_handle.result().unwrap() * 10, ());
                        (a, c)
                    })
                    .collect();
                std::thread::sleep(Duration::from_millis(30));
                open.send(5).unwrap();
                for (i, (a, c)) in pairs.into_iter().enumerate() {
                    assert_eq!(a.result().unwrap(), 5 + i as u64);
                    assert_eq!(c.result().unwrap(), (5 + i as u64) * 10);
                }
            },
        );
    }
}

/// Each task submits a child and waits for it, 3,000 deep, on one thread: the
/// children run on the waiters' stacks a few levels deep at most, then on new threads.
#[test]
fn tasks_that_submit_a_child_and_wait_many_levels_deep() {
    fn level(client: Client, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let child = client.submit(level, (client.clone(), n - 1));
        child.result().unwrap() + n
    }
    const DEPTH: u64 = 3_000;
    let got = within(LIMIT, "nested submit and wait", || {
        let client = client(1);
        client
            .submit(level, (client.clone(), DEPTH))
            .result()
            .unwrap()
    });
    assert_eq!(got, DEPTH * (DEPTH + 1) / 2);
}

/// The pool's bound holds: with room for one extra thread, 50 waiters still all finish
/// once the future they wait for does.
#[test]
fn waiters_beyond_the_thread_bound_queue_and_finish() {
    within(LIMIT, "bounded pool", || {
        let client = Client::builder().threads(1).max_threads(2).build().unwrap();
        let gates = client_named("gates");
        let (slow, open) = gate(&gates);
        let waiters: Vec<_> = (0..50u64)
            .map(|i| {
                let slow = slow.clone();
                client.submit(move || slow.result().unwrap() * i, ())
            })
            .collect();
        std::thread::sleep(Duration::from_millis(30));
        open.send(2).unwrap();
        let got = client.gather(&waiters).unwrap();
        assert_eq!(got, (0..50).map(|i| 2 * i).collect::<Vec<_>>());
    });
}

/// A worker takes several queued tasks at a time; when the first of them blocks, the
/// ones it took with it run on the other worker, and the blocked one's wait ends once
/// they have: whether it waits for a future (its thread handed over, though none may
/// be added: `max_threads` reached) or in a way the pool cannot see (a channel). Each
/// round: one blocking task, then 64 quick ones, whose results the test waits for
/// before it lets the blocking one go (a quick task stranded behind it would hang).
#[test]
fn tasks_taken_with_one_that_blocks_still_run() {
    within(LIMIT, "tasks taken with a blocked one", || {
        let client = Client::builder().threads(2).max_threads(2).build().unwrap();
        let gates = client_named("gates");
        for round in 0..400u64 {
            let (slow, open) = gate(&gates);
            let blocked = if round % 2 == 0 {
                client.submit(move |x: u64| slow.result().unwrap() + x, (round,))
            } else {
                let (open_plain, opened) = mpsc::channel::<u64>();
                let opened = Mutex::new(opened);
                // The gate's channel is this round's; the plain one is fed by it.
                std::thread::spawn(move || open_plain.send(slow.result().unwrap()));
                client.submit(
                    move |x: u64| opened.lock().unwrap().recv().unwrap() + x,
                    (round,),
                )
            };
            let quick: Vec<_> = (0..64).map(|i| client.submit(inc, (i,))).collect();
            let got = client.gather(&quick).unwrap();
            assert_eq!(got, (1..=64).collect::<Vec<u64>>(), "round {round}");
            open.send(1).unwrap();
            assert_eq!(blocked.result().unwrap(), round + 1, "round {round}");
        }
    });
}

/// Dropping the client cancels at once the queued tasks its worker took from the queue
/// together with a task still running (a worker takes several at a time), not once
/// that task ends: their results are read before the running task is let go.
#[test]
fn a_dropped_client_cancels_the_tasks_taken_behind_a_running_one() {
    within(LIMIT, "tasks taken behind a running one", || {
        for round in 0..100 {
            let client = client(1);
            let (open, opened) = mpsc::channel::<u64>();
            let opened = Mutex::new(opened);
            let (started, has_started) = mpsc::channel::<()>();
            let started = Mutex::new(started);
            let running = client.submit(
                move || {
                    started.lock().unwrap().send(()).unwrap();
                    opened.lock().unwrap().recv().unwrap()
                },
                (),
            );
            let behind: Vec<_> = (0..64).map(|i| client.submit(inc, (i,))).collect();
            has_started.recv().unwrap();
            // The drop waits for the running task: on another thread.
            let dropping = std::thread::spawn(move || drop(client));
            for future in &behind {
                let got = future.result();
                assert!(
                    matches!(got, Err(FutureError::Cancelled { .. })),
                    "round {round}: {got:?}"
                );
            }
            open.send(7).unwrap();
            dropping.join().unwrap();
            assert_eq!(running.result().unwrap(), 7, "round {round}");
        }
    });
}

/// 5,000 `Delayed` tasks on a one-thread rayon pool wait for one future: each wait
/// runs other graph tasks a few levels deep at most, then sleeps.
#[test]
fn delayed_tasks_waiting_on_a_future_on_one_thread() {
    let got = within(LIMIT, "Delayed waiters", || {
        let client = client(1);
        let slow = client.submit(
            || {
                std::thread::sleep(Duration::from_millis(50));
                4u64
            },
            (),
        );
        let parts: Vec<_> = (0..5_000u64)
            .map(|i| {
                let slow = slow.clone();
                delayed(move |x: u64| slow.result().unwrap() + x).call(i)
            })
            .collect();
        let total = delayed(|v: Vec<u64>| v.iter().sum::<u64>()).call(parts);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        pool.install(|| total.compute())
    });
    assert_eq!(got, (0..5_000u64).map(|i| 4 + i).sum::<u64>());
}

/// A task whose plain rayon `par_iter` (on rayon's pool, not the client's) submits a
/// child per item to the task's own client and waits for it: on a one-thread client,
/// and with two threads each running such a task. The task's worker waits in rayon's
/// `join`, a wait the client cannot see; the items' waits, asleep on rayon's threads,
/// each count as holding up one of the client's threads, and replacements run the
/// children (they stayed queued for ever).
#[test]
fn a_tasks_plain_par_iter_may_submit_to_its_client_and_wait() {
    for threads in [1, 2] {
        par_iter_items_wait_on_their_client(threads, threads + 1024);
    }
}

/// The same with `max_threads` equal to `threads`: no replacement within the bound,
/// and every thread held up by a task in rayon's `join`; the pool starts one past the
/// bound rather than deadlock, as with every thread blocked in a wait (the children
/// stayed queued for ever).
#[test]
fn a_tasks_plain_par_iter_waiting_on_its_client_at_max_threads() {
    for threads in [1, 2] {
        par_iter_items_wait_on_their_client(threads, threads);
    }
}

/// `threads` tasks of a client of `threads` threads, at most `max_threads`, each a
/// `par_iter` whose items submit a child to the client and wait for it.
fn par_iter_items_wait_on_their_client(threads: usize, max_threads: usize) {
    use rayon::prelude::*;
    let got = within(LIMIT, "par_iter items waiting on their client", move || {
        let client = Client::builder()
            .threads(threads)
            .max_threads(max_threads)
            .name("robust")
            .build()
            .unwrap();
        let tasks: Vec<_> = (0..threads as u64)
            .map(|t| {
                client.submit(
                    move || {
                        let client = taskweave::get_client().unwrap();
                        (0..8u64)
                            .into_par_iter()
                            .map(|i| client.submit(inc, (t * 100 + i,)).result().unwrap())
                            .sum::<u64>()
                    },
                    (),
                )
            })
            .collect();
        client.gather(&tasks).unwrap()
    });
    let want: Vec<u64> = (0..threads as u64)
        .map(|t| (0..8).map(|i| t * 100 + i + 1).sum())
        .collect();
    assert_eq!(got, want, "{threads} threads, at most {max_threads}");
}

/// A rayon thread waiting for a queued future while every thread of its client is
/// held up by waits the pool cannot see, so that its counts say a thread is free:
/// here two tasks of a two-thread client, at most two, wait on a channel that the
/// future feeds (in the wild: tasks whose `par_iter` items wait on rayon's threads
/// for futures, which hold up more of the client's threads than they are counted
/// for). The pool starts a thread for the waiter, past `max_threads`, that runs the
/// future (it stayed queued for ever).
#[test]
fn a_rayon_thread_waiting_while_every_thread_is_held_up_unseen() {
    let got = within(
        LIMIT,
        "a rayon thread waiting while every thread is held up",
        || {
            let client = Client::builder()
                .threads(2)
                .max_threads(2)
                .name("held")
                .build()
                .unwrap();
            let (started, all_started) = mpsc::channel();
            let (feeds, held): (Vec<_>, Vec<_>) = (0..2u64)
                .map(|i| {
                    let (feed, fed) = mpsc::channel::<u64>();
                    let fed = Mutex::new(fed);
                    let started = started.clone();
                    let task = client.submit(
                        move || {
                            started.send(()).unwrap();
                            fed.lock().unwrap().recv().unwrap() + i
                        },
                        (),
                    );
                    (feed, task)
                })
                .unzip();
            all_started.recv().unwrap();
            all_started.recv().unwrap();
            let feeder = client.submit(
                move || {
                    feeds.iter().for_each(|feed| feed.send(10).unwrap());
                    1u64
                },
                (),
            );
            let rayon = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap();
            let fed = rayon.install(|| feeder.result().unwrap());
            (fed, client.gather(&held).unwrap())
        },
    );
    assert_eq!(got, (1, vec![10, 11]));
}

/// Tasks of a client of one thread, at most one, each a `par_iter` whose items submit
/// a child and wait for it: the tasks' threads wait in rayon's `join` for items asleep
/// on rayon's threads, nested in one another's waits, and a thread woken for a child
/// took a task instead. The children stayed queued behind them for ever in about one
/// run in 200 (release; the pool counted one thread held up for each sleeping item,
/// fewer than it held up), and with the default `max_threads` in 4 runs of 100 while
/// workers parked with no rayon waiter's thread (626ce17): the worker that would have
/// run a child had parked. Each run here is the shape of those, 20 times each way.
#[test]
fn par_iter_items_of_tasks_waiting_on_a_one_thread_client_nested_in_one_another() {
    use rayon::prelude::*;
    within(LIMIT, "par_iter items of tasks waiting nested", || {
        for run in 0..40 {
            let client = Client::builder()
                .threads(1)
                .max_threads(if run % 2 == 0 { 1 } else { 1025 })
                .name("nested")
                .build()
                .unwrap();
            let tasks: Vec<_> = (0..8u64)
                .map(|t| {
                    let c = client.clone();
                    client.submit(
                        move || {
                            (0..16u64)
                                .into_par_iter()
                                .map(|i| {
                                    let child = move || {
                                        std::thread::sleep(Duration::from_micros(300));
                                        t * 100 + i
                                    };
                                    c.submit(child, ()).result().unwrap()
                                })
                                .sum::<u64>()
                        },
                        (),
                    )
                })
                .collect();
            let got = client.gather(&tasks).unwrap();
            let want: Vec<u64> = (0..8).map(|t| (0..16).map(|i| t * 100 + i).sum()).collect();
            assert_eq!(got, want);
        }
    });
}

/// A `std::thread` that a task starts and joins, waiting for a future of the task's
/// one-thread client: the client cannot tell it from a thread outside (the docs say
/// so), and the task's join keeps the only thread, so the future stays queued; the
/// way out, `result_timeout`, returns at its timeout, and the task's own wait then
/// runs the child.
#[test]
fn a_std_thread_joined_by_its_task_gets_its_timeout() {
    let (waited, got) = within(LIMIT, "a std::thread joined by its task", || {
        let client = client(1);
        let task = client.submit(
            || {
                let child = taskweave::get_client().unwrap().submit(inc, (1,));
                let waiting = child.clone();
                let waited =
                    std::thread::spawn(move || waiting.result_timeout(Duration::from_millis(100)))
                        .join()
                        .unwrap();
                (waited, child.result())
            },
            (),
        );
        task.result().unwrap()
    });
    assert!(
        matches!(
            waited,
            Err(FutureError::Timeout {
                waited: taskweave::TimedWait::Result,
                ..
            })
        ),
        "{waited:?}"
    );
    assert_eq!(got.unwrap(), 2);
}

/// The same, with the join inside `taskweave::secede` (Dask's `secede()` … `rejoin()`):
/// the task's place goes to another thread meanwhile, which runs the queued child, so
/// the thread's `result()` without a timeout returns (it waited for ever without).
#[test]
fn a_std_thread_joined_inside_secede_gets_its_result() {
    let (got, again) = within(LIMIT, "a std::thread joined inside secede", || {
        let client = client(1);
        let task = client.submit(
            || {
                let client = taskweave::get_client().unwrap();
                let child = client.submit(inc, (1,));
                let waiting = child.clone();
                let thread = std::thread::spawn(move || waiting.result());
                let got = taskweave::secede(|| thread.join().unwrap());
                // Back in its place: the task still runs as one of the client's.
                let again = client.submit(inc, (got.clone().unwrap(),)).result();
                (got, again)
            },
            (),
        );
        task.result().unwrap()
    });
    assert_eq!(got.unwrap(), 2);
    assert_eq!(again.unwrap(), 3);
    // Outside a task it only runs the closure.
    assert_eq!(taskweave::secede(|| 5), 5);
}

/// A task's `par_iter` items each wait on a channel that another task of the client
/// feeds, on a one-thread client: the task's thread waits for the items in rayon's
/// `join`, so the feeding tasks stay queued unless the items' waits give a place
/// over. `client.secede` lends one from rayon's threads (the free `secede` cannot:
/// the items run outside any task, and it waited for ever), and in a task gives the
/// task's place over.
#[test]
fn a_channel_wait_in_a_tasks_par_iter_inside_client_secede() {
    use rayon::prelude::*;
    let got = within(LIMIT, "a channel wait in a task's par_iter", || {
        let client = client(1);
        let c = client.clone();
        let task = client.submit(
            move || {
                (0..4u64)
                    .into_par_iter()
                    .map(|i| {
                        let (tx, rx) = mpsc::channel();
                        let _feeding = c.submit(move || tx.send(i).unwrap(), ());
                        c.secede(|| rx.recv().unwrap())
                    })
                    .sum::<u64>()
            },
            (),
        );
        // In the task itself it gives the task's place over, as `secede` does.
        let c = client.clone();
        let plain = client.submit(
            move || {
                let (tx, rx) = mpsc::channel();
                let _feeding = c.submit(move || tx.send(10u64).unwrap(), ());
                c.secede(|| rx.recv().unwrap())
            },
            (),
        );
        task.result().unwrap() + plain.result().unwrap()
    });
    assert_eq!(got, 16);
    // Elsewhere (here, outside the client's threads and rayon's) it only runs `f`.
    assert_eq!(client(1).secede(|| 5), 5);
}

/// The last handle of a client dropped by an item of a plain rayon `par_iter` inside
/// one of that client's tasks does not wait for the client's threads: the task's
/// thread waits in rayon's `join` for that very item (the drop waited for it for the
/// whole shutdown timeout).
#[test]
fn a_client_dropped_in_its_tasks_par_iter_does_not_wait_for_its_threads() {
    use rayon::prelude::*;
    const SHUTDOWN: Duration = Duration::from_secs(30);
    let took = within(LIMIT, "client dropped in its task's par_iter", || {
        let client = Client::builder()
            .threads(2)
            .shutdown_timeout(SHUTDOWN)
            .build()
            .unwrap();
        let last = Arc::new(Mutex::new(Some(client.clone())));
        let (go, gone) = mpsc::channel::<()>();
        let gone = Mutex::new(gone);
        let task = client.submit(
            move || {
                gone.lock().unwrap().recv().unwrap();
                let started = std::time::Instant::now();
                (0..4u64).into_par_iter().for_each(|i| {
                    if i == 3 {
                        // The last handle, on one of rayon's threads.
                        drop(last.lock().unwrap().take());
                    }
                });
                started.elapsed()
            },
            (),
        );
        drop(client);
        go.send(()).unwrap();
        task.result().unwrap()
    });
    assert!(took < SHUTDOWN / 6, "the par_iter took {took:?}");
}

/// Set in the environment of a test binary run again by one of its tests (see
/// [`in_a_process_of_its_own`]).
const CHILD: &str = "TASKWEAVE_ROBUSTNESS_CHILD";

/// A `Delayed` task waiting for a future on rayon's only thread, while a second graph,
/// computed by the client, waits for a future that waits for the first graph: the
/// waiting worker must not run the second graph on top of the first (neither could
/// return), and the second must run all the same, on its caller's thread.
#[test]
fn a_graph_waiting_for_a_future_never_runs_one_that_waits_for_it() {
    if std::env::var_os(CHILD).is_none() {
        return in_a_process_of_its_own(
            "a_graph_waiting_for_a_future_never_runs_one_that_waits_for_it",
            &[("RAYON_NUM_THREADS", "1")],
        );
    }
    let client = client(2);
    let first = client.submit(
        || {
            std::thread::sleep(Duration::from_millis(200));
            1u64
        },
        (),
    );
    let graph = |input: &Future<u64>| {
        let read = delayed(|x: u64| x + 1).call(input);
        let other = delayed(|| 10u64).call();
        delayed(|x: u64, y: u64| x + y).call(read, other)
    };
    // Each graph computed by a futures task, not by `client.compute`, whose graph
    // starts only once the futures it reads have ended: so that its task reading one
    // waits for it on rayon's thread.
    let on_client = |graph: Delayed<u64>| client.submit(move || graph.compute(), ());
    let computed = on_client(graph(&first));
    let second = client.submit(|x: u64| x + 1, (&computed,));
    // The first graph's task now waits for `first` on rayon's thread.
    std::thread::sleep(Duration::from_millis(50));
    let computed_again = on_client(graph(&second));
    let wait = Duration::from_secs(60);
    assert_eq!(computed.result_timeout(wait).unwrap(), 12);
    assert_eq!(computed_again.result_timeout(wait).unwrap(), 24);
}

#[delayed]
fn twice(x: u64) -> u64 {
    2 * x
}

#[delayed]
fn plus(a: u64, b: u64) -> u64 {
    a + b
}

/// A future's task computing a static graph while rayon's only thread is busy, which
/// then waits for that very future: the graph, queued before the thread began to
/// wait, is never started by it (a waiting worker runs only its own pending work), so
/// its caller takes it back and runs it itself.
#[test]
fn a_static_graph_queued_before_the_workers_wait_for_its_caller() {
    if std::env::var_os(CHILD).is_none() {
        return in_a_process_of_its_own(
            "a_static_graph_queued_before_the_workers_wait_for_its_caller",
            &[("RAYON_NUM_THREADS", "1")],
        );
    }
    // Two threads: the future's task and the compute's run at once.
    let client = client(2);
    let future = client.submit(
        || {
            // By now rayon's thread is busy with the first task below.
            std::thread::sleep(Duration::from_millis(30));
            let g = graph!(|x: u64| -> u64 {
                let a = twice(x);
                let b = plus(x, x);
                plus(a, b)
            });
            g.compute(5)
        },
        (),
    );
    let busy = delayed(|| {
        std::thread::sleep(Duration::from_millis(150));
        1u64
    })
    .call();
    // A graph of more than a chain, so that it runs on rayon's thread.
    let other = delayed(|| 0u64).call();
    // Reads the future once `busy` has run: rayon's thread then waits for it.
    let reads = delayed(|b: u64, o: u64, f: u64| b + o + f).call(busy, other, &future);
    // Computed by a futures task, not by `client.compute`, which would start the
    // graph only once `future` has ended.
    let computed = client.submit(move || reads.compute(), ());
    assert_eq!(
        computed.result_timeout(Duration::from_secs(60)).unwrap(),
        21
    );
}

// ---- graphs run by their callers ----------------------------------------------

/// Whether each side of [`meet`] has started.
static MET: [std::sync::atomic::AtomicBool; 2] = [
    std::sync::atomic::AtomicBool::new(false),
    std::sync::atomic::AtomicBool::new(false),
];

/// Told once when the first side of [`meet`] starts.
static FIRST_STARTED: Mutex<Option<mpsc::Sender<()>>> = Mutex::new(None);

/// One side (`x % 2`) of two tasks that each wait for the other to start, up to
/// 20 s: both end `true` only if they run at once.
#[delayed]
fn meet(x: u64) -> bool {
    meet_as((x % 2) as usize)
}

/// The other side from [`meet`]'s of `x`.
#[delayed]
fn meet_next(x: u64) -> bool {
    meet_as(((x + 1) % 2) as usize)
}

fn meet_as(side: usize) -> bool {
    use std::sync::atomic::Ordering;
    MET[side].store(true, Ordering::SeqCst);
    if let Some(started) = FIRST_STARTED.lock().unwrap().take() {
        let _ = started.send(());
    }
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while !MET[1 - side].load(Ordering::SeqCst) {
        if std::time::Instant::now() > until {
            return false;
        }
        std::thread::yield_now();
    }
    true
}

#[delayed]
fn both(a: bool, b: bool) -> [bool; 2] {
    [a, b]
}

/// Makes rayon's only thread (`RAYON_NUM_THREADS=1`) wait for a gate's future, then
/// runs `compute` on this thread, a graph of the two sides of [`meet`]; the gate
/// opens once one of them has started. So the graph enters while every worker waits
/// for a future, and its caller runs it; the worker is free again while the first
/// side runs, and only if it takes part do both sides end `true`.
fn meet_while_the_workers_wait(what: &str, compute: fn() -> [bool; 2]) {
    meet_while_the_workers_of_wait(what, None, move |_| compute());
}

/// [`meet_while_the_workers_wait`] with the one-thread `pool` (when given) waiting,
/// rather than rayon's global one; `compute` is given the pool.
fn meet_while_the_workers_of_wait(
    what: &str,
    pool: Option<rayon::ThreadPool>,
    compute: impl FnOnce(Option<&rayon::ThreadPool>) -> [bool; 2] + Send + 'static,
) {
    let got = within(LIMIT, what, move || {
        for met in &MET {
            met.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        let (started, first_started) = mpsc::channel();
        *FIRST_STARTED.lock().unwrap() = Some(started);
        let opener = the_worker_waits_until(pool.as_ref(), move || {
            first_started.recv().unwrap();
        });
        let met = compute(pool.as_ref());
        opener.join().unwrap();
        met
    });
    assert_eq!(got, [true, true], "{what}: the two sides ran at once");
}

/// A graph entered while every rayon worker waits for a future runs on its caller;
/// once a worker is free again, it takes part. (The caller used to run the whole
/// graph in order: the first side of `meet` waited for the second in vain.)
#[test]
fn a_dynamic_graph_run_by_its_caller_takes_a_worker_back_once_free() {
    if std::env::var_os(CHILD).is_none() {
        return in_a_process_of_its_own(
            "a_dynamic_graph_run_by_its_caller_takes_a_worker_back_once_free",
            &[("RAYON_NUM_THREADS", "1")],
        );
    }
    meet_while_the_workers_wait("dynamic", || {
        let (a, b) = (delay!(meet(0)), delay!(meet(1)));
        delay!(both(a, b)).compute()
    });
}

/// As [`a_dynamic_graph_run_by_its_caller_takes_a_worker_back_once_free`], for a
/// `graph!` run as a tree, and one run by the dispatcher (a value read twice).
#[test]
fn static_graphs_run_by_their_caller_take_a_worker_back_once_free() {
    if std::env::var_os(CHILD).is_none() {
        return in_a_process_of_its_own(
            "static_graphs_run_by_their_caller_take_a_worker_back_once_free",
            &[("RAYON_NUM_THREADS", "1")],
        );
    }
    meet_while_the_workers_wait("static tree", || {
        let g = graph!(|x: u64| -> [bool; 2] {
            let a = meet(x);
            let b = meet_next(x);
            both(a, b)
        });
        g.compute(0)
    });
    meet_while_the_workers_wait("static, dispatched", || {
        let g = graph!(|x: u64| -> [bool; 2] {
            let s = twice(x);
            let a = meet(s);
            let b = meet_next(s);
            both(a, b)
        });
        g.compute(0)
    });
}

/// As [`static_graphs_run_by_their_caller_take_a_worker_back_once_free`], for
/// `compute_on` a one-thread pool of the user's, whose worker waits: the run offers
/// its work to that pool, not rayon's global one.
#[test]
fn a_compute_on_run_by_its_caller_takes_a_worker_of_its_pool_back_once_free() {
    let pool = || {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
    };
    meet_while_the_workers_of_wait("compute_on, tree", Some(pool()), |pool| {
        let g = graph!(|x: u64| -> [bool; 2] {
            let a = meet(x);
            let b = meet_next(x);
            both(a, b)
        });
        g.compute_on(pool.unwrap(), 0)
    });
    meet_while_the_workers_of_wait("compute_on, dispatched", Some(pool()), |pool| {
        let g = graph!(|x: u64| -> [bool; 2] {
            let s = twice(x);
            let a = meet(s);
            let b = meet_next(s);
            both(a, b)
        });
        g.compute_on(pool.unwrap(), 0)
    });
}

/// Static combs 24 deep (a tree of nested joins, and one whose values are read twice,
/// run by the dispatcher) computed from a 64 KiB thread while rayon's only worker
/// waits for a future throughout: the run is taken back onto that small thread, and
/// its joins, offered to the pool, nest there (the tree's overflowed it before they
/// looked at the stack). Checked against plain calls.
#[test]
fn static_combs_taken_back_onto_a_small_thread() {
    if std::env::var_os(CHILD).is_none() {
        return in_a_process_of_its_own(
            "static_combs_taken_back_onto_a_small_thread",
            &[("RAYON_NUM_THREADS", "1")],
        );
    }
    let tree = graph!(|x: u64| -> u64 {
        let mut acc = twice(x);
        for i in 1..24 {
            acc = plus(acc, twice(i));
        }
        acc
    });
    let shared = graph!(|x: u64| -> u64 {
        let mut spine = twice(x);
        let mut acc = twice(x);
        for i in 0..24 {
            acc = plus(acc, plus(spine, i));
            spine = plus(spine, i);
        }
        plus(acc, spine)
    });
    assert!(tree.__runs_as_tree() && !shared.__runs_as_tree());
    let tree_plain = (1..24).fold(2 * 3, |acc, i| acc + 2 * i);
    let shared_plain = {
        let (mut spine, mut acc) = (2 * 3, 2 * 3);
        for i in 0..24 {
            acc += spine + i;
            spine += i;
        }
        acc + spine
    };
    within(
        LIMIT,
        "static combs taken back onto a small thread",
        move || {
            let (done, run_done) = mpsc::channel::<()>();
            let opener = the_worker_waits_until(None, move || {
                let _ = run_done.recv();
            });
            on_a_stack_of(64 << 10, move || {
                assert_eq!(tree.compute(3), tree_plain);
                assert_eq!(shared.compute(3), shared_plain);
            });
            done.send(()).unwrap();
            opener.join().unwrap();
        },
    );
}

/// `compute_on` a one-thread pool, called on a worker of another pool while that
/// thread is busy: the run is queued there, and then the thread begins to wait for a
/// future that opens only once the compute has returned. The caller takes the run
/// back (it used to wait for ever in rayon's `install`, as the queued run was never
/// started by a waiting thread).
#[test]
fn a_compute_on_queued_across_pools_before_the_workers_wait_is_taken_back() {
    if std::env::var_os(CHILD).is_none() {
        return in_a_process_of_its_own(
            "a_compute_on_queued_across_pools_before_the_workers_wait_is_taken_back",
            &[],
        );
    }
    let got = within(LIMIT, "compute_on across pools, taken back", || {
        let one = |_| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap()
        };
        let (pool, other) = (one(()), one(()));
        let gates = client(1);
        let (future, open) = gate(&gates);
        let (busy, pool_busy) = mpsc::channel::<()>();
        let (queued, run_queued) = mpsc::channel::<()>();
        pool.spawn(move || {
            busy.send(()).unwrap();
            // Until the compute below is queued behind this job, then waits.
            run_queued.recv().unwrap();
            future.result().unwrap();
        });
        pool_busy.recv().unwrap();
        let signal = std::thread::spawn(move || {
            // The compute is queued by now.
            std::thread::sleep(Duration::from_millis(200));
            queued.send(()).unwrap();
        });
        let g = graph!(|x: u64| -> u64 {
            let a = twice(x);
            let b = twice(x);
            plus(a, b)
        });
        let got = other.install(|| g.compute_on(&pool, 5));
        open.send(1).unwrap();
        signal.join().unwrap();
        got
    });
    assert_eq!(got, 20);
}

/// Random graphs (up to 1,500 nodes, each reading up to four earlier ones, some
/// failing) computed while both of rayon's workers wait for a future: the run is
/// taken back onto its caller, and the workers come back at a random point of it
/// (or after it). Each result is checked against plain sequential evaluation, and a
/// failing node the outputs depend on fails the run with its own message.
#[test]
fn random_graphs_taken_back_while_the_workers_come_back() {
    if std::env::var_os(CHILD).is_none() {
        return in_a_process_of_its_own(
            "random_graphs_taken_back_while_the_workers_come_back",
            &[("RAYON_NUM_THREADS", "2"), ("TASKWEAVE_WARNINGS", "off")],
        );
    }
    use random::{mix, Rng};
    use std::sync::atomic::{AtomicUsize, Ordering};
    within(LIMIT, "random graphs taken back", || {
        for seed in 0..24u64 {
            let mut rng = Rng(seed);
            let n = 50 + rng.below(1_450);
            let parents: Vec<Vec<usize>> = (0..n)
                .map(|i| {
                    (0..rng.below(5))
                        .filter(|_| i > 0)
                        .map(|_| rng.below(i))
                        .collect()
                })
                .collect();
            let outputs: Vec<usize> = (0..1 + rng.below(3)).map(|_| rng.below(n)).collect();
            let fail = rng.percent(25).then(|| rng.below(n));
            let free_at = rng.below(n + n / 4);
            // Sequential evaluation, and whether the outputs read the failing node.
            let mut expected = Vec::with_capacity(n);
            let mut reads_fail = Vec::with_capacity(n);
            for (i, ps) in parents.iter().enumerate() {
                expected.push(mix(i as u64, ps.iter().map(|&p| expected[p])));
                reads_fail.push(fail == Some(i) || ps.iter().any(|&p| reads_fail[p]));
            }
            let ran = Arc::new((AtomicUsize::new(0), Mutex::new(None::<mpsc::Sender<()>>)));
            let (free, freed) = mpsc::channel();
            *ran.1.lock().unwrap() = Some(free);
            let mut nodes: Vec<Delayed<u64>> = Vec::with_capacity(n);
            for (i, ps) in parents.iter().enumerate() {
                let ran = ran.clone();
                let task = delayed(move |vs: Vec<u64>| {
                    if ran.0.fetch_add(1, Ordering::SeqCst) == free_at {
                        if let Some(free) = ran.1.lock().unwrap().take() {
                            let _ = free.send(());
                        }
                    }
                    assert!(fail != Some(i), "node {i} fails");
                    mix(i as u64, vs)
                });
                nodes.push(task.call(ps.iter().map(|&p| nodes[p].clone()).collect::<Vec<_>>()));
            }
            let out: Vec<Delayed<u64>> = outputs.iter().map(|&o| nodes[o].clone()).collect();
            let opener = the_worker_waits_until(None, move || {
                let _ = freed.recv();
            });
            let got = taskweave::compute_with(taskweave::RunOptions::new(), out.as_slice());
            // Frees the workers if the run did not.
            drop(ran.1.lock().unwrap().take());
            opener.join().unwrap();
            match fail.filter(|_| outputs.iter().any(|&o| reads_fail[o])) {
                Some(f) => {
                    let message = got.expect_err("a failing node is read").to_string();
                    assert!(
                        message.contains(&format!("node {f} fails")),
                        "seed {seed}: {message}"
                    );
                }
                None => assert_eq!(
                    got.unwrap_or_else(|e| panic!("seed {seed}: {e}")),
                    outputs.iter().map(|&o| expected[o]).collect::<Vec<_>>(),
                    "seed {seed}"
                ),
            }
        }
    });
}

/// The sum of `0..n` by a binary tree of `delayed` additions, each leaf `i` failing
/// when it is `fail_at`.
fn tree_sum(range: std::ops::Range<u64>, fail_at: u64) -> Delayed<u64> {
    if range.end - range.start == 1 {
        let i = range.start;
        return delayed(move || {
            assert!(i != fail_at, "leaf {i} fails");
            i
        })
        .call();
    }
    let mid = range.start + (range.end - range.start) / 2;
    let add = delayed(|a: u64, b: u64| a + b);
    add.call(
        tree_sum(range.start..mid, fail_at),
        tree_sum(mid..range.end, fail_at),
    )
}

/// Large graphs run by their caller while rayon's only worker waits: for the whole
/// run (its joins offer work the worker never takes: the tickets left queued are as
/// many as the joins ever open at once), or until the run is under way (the worker then
/// takes part). Each sum is checked against plain arithmetic, and a failing leaf
/// fails the run with its name.
#[test]
fn large_graphs_run_by_their_caller_while_the_workers_wait_or_come_back() {
    if std::env::var_os(CHILD).is_none() {
        return in_a_process_of_its_own(
            "large_graphs_run_by_their_caller_while_the_workers_wait_or_come_back",
            &[("RAYON_NUM_THREADS", "1"), ("TASKWEAVE_WARNINGS", "off")],
        );
    }
    const N: u64 = 20_000;
    let got = within(LIMIT, "large graphs run by their caller", || {
        let mut sums = Vec::new();
        // Waiting for the whole run.
        let (done, run_done) = mpsc::channel::<()>();
        let opener = the_worker_waits_until(None, move || {
            let _ = run_done.recv();
        });
        sums.push(tree_sum(0..N, N).compute());
        let failed = tree_sum(0..N, 7).try_compute_with(taskweave::RunOptions::new());
        done.send(()).unwrap();
        opener.join().unwrap();
        // Free again once a thousand leaves have run.
        let (thousand, thousand_ran) = mpsc::channel::<()>();
        let counted = Arc::new((
            std::sync::atomic::AtomicU64::new(0),
            Mutex::new(Some(thousand)),
        ));
        let leaves: Vec<Delayed<u64>> = (0..N)
            .map(|i| {
                let counted = counted.clone();
                delayed(move || {
                    if counted.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1_000 {
                        if let Some(thousand) = counted.1.lock().unwrap().take() {
                            let _ = thousand.send(());
                        }
                    }
                    i
                })
                .call()
            })
            .collect();
        let opener = the_worker_waits_until(None, move || {
            let _ = thousand_ran.recv();
        });
        sums.push(
            delayed(|xs: Vec<u64>| xs.iter().sum::<u64>())
                .call(leaves)
                .compute(),
        );
        opener.join().unwrap();
        (sums, failed.map_err(|e| e.to_string()))
    });
    let expected = (0..N).sum::<u64>();
    assert_eq!(got.0, vec![expected, expected]);
    let message = got.1.expect_err("leaf 7 fails the run");
    assert!(message.contains("leaf 7 fails"), "{message}");
}

/// A graph task that submits its work to the client of the task computing its graph,
/// and waits for it.
#[delayed]
fn on_the_client(x: u64) -> u64 {
    let client = taskweave::get_client().expect("computed inside a task of a client");
    client.submit(inc, (x,)).result().unwrap()
}

/// A futures task of a one-thread client computes a graph whose tasks submit to that
/// client and wait: the task sleeps for its graph's run without holding the client's
/// only thread, so the futures its graph waits for still run (they used to stay queued
/// behind it for good). Twenty rounds of `compute(round)` inside a task, checked
/// against `expected(round)`.
fn graphs_in_tasks_waiting_for_their_client(
    what: &str,
    compute: fn(u64) -> u64,
    expected: fn(u64) -> u64,
) {
    let got = within(LIMIT, what, move || {
        let client = client(1);
        (0..20u64)
            .map(|round| client.submit(compute, (round,)).result().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(got, (0..20u64).map(expected).collect::<Vec<_>>());
}

#[test]
fn a_task_computing_a_dynamic_graph_whose_tasks_wait_for_its_client() {
    graphs_in_tasks_waiting_for_their_client(
        "a dynamic graph inside a task, waiting for its client",
        |round| {
            let parts: Vec<Delayed<u64>> =
                (0..4).map(|i| delay!(on_the_client(round + i))).collect();
            taskweave::compute(parts.as_slice()).into_iter().sum()
        },
        |round| (0..4).map(|i| round + i + 1).sum(),
    );
}

#[test]
fn a_task_computing_a_static_graph_whose_tasks_wait_for_its_client() {
    graphs_in_tasks_waiting_for_their_client(
        "a static graph inside a task, waiting for its client",
        |round| {
            let g = graph!(|x: u64| -> u64 {
                let a = on_the_client(x);
                let b = on_the_client(x);
                plus(a, b)
            });
            g.compute(round)
        },
        |round| 2 * (round + 1),
    );
}

/// Tasks polling their children with timeouts shorter than a waiter's polling, more
/// of them than threads, the children polling theirs in turn: a timed-out wait with
/// jobs queued hands the thread's place over until the task stops polling, so that
/// the queued children run (they used to stay queued behind their pollers forever).
#[test]
fn tasks_polling_their_children_with_short_timeouts() {
    for (threads, pollers, depth) in [(1, 1, 1), (1, 4, 1), (2, 4, 1), (1, 8, 3), (2, 8, 3)] {
        for timeout in [
            Duration::ZERO,
            Duration::from_micros(1),
            Duration::from_micros(100),
        ] {
            let got = within(LIMIT, "tasks polling their children", move || {
                let client = client(threads);
                let parents: Vec<_> = (0..pollers)
                    .map(|_| client.submit(move || poll_chain(depth, timeout), ()))
                    .collect();
                client.gather(&parents).unwrap()
            });
            assert_eq!(
                got,
                vec![u64::from(depth) + 1; pollers],
                "{threads} threads"
            );
        }
    }
}

/// A task that submits a chain `depth` links deep below it, each link polling the
/// next with `timeout` until it is done: `depth + 1`.
fn poll_chain(depth: u32, timeout: Duration) -> u64 {
    if depth == 0 {
        return 1;
    }
    let client = taskweave::get_client().unwrap();
    let child = client.submit(move |d: u32| poll_chain(d - 1, timeout), (depth,));
    loop {
        match child.result_timeout(timeout) {
            Ok(value) => return value + 1,
            Err(FutureError::Timeout { .. }) => {}
            Err(other) => panic!("{other}"),
        }
    }
}

/// A chain 300 links deep, each polling the next with 20 µs timeouts, on a client of
/// one thread and no more: every link needs a thread of its own, past `max_threads`,
/// and each gets one for what its polls need. The pool used to start one for the
/// queue whenever every thread polled, and the pollers spun on them all: 50 links
/// took 29 s on two cores, 100 more than a minute.
#[test]
fn a_deep_chain_of_pollers_on_a_one_thread_client_ends() {
    assert_eq!(
        poll_chain_on_one_thread(300, Duration::from_micros(20)),
        301
    );
}

/// As above, each link polling with zero timeouts, which never sleep: a link that has
/// handed its place over yields the core at each miss. Each spun through its time
/// slice before, so every new link waited for all the others' (100 links took 27 s
/// on two cores, 300 more than a minute, in a release build). The client warns once
/// that it goes past `max_threads`, and says why: its tasks poll (the warning used to
/// speak of a rayon thread).
#[test]
fn a_deep_chain_of_zero_timeout_pollers_on_a_one_thread_client_ends() {
    if std::env::var_os(CHILD).is_none() {
        return in_a_process_of_its_own(
            "a_deep_chain_of_zero_timeout_pollers_on_a_one_thread_client_ends",
            &[],
        );
    }
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let told = warnings.clone();
    taskweave::on_warning(move |message| told.lock().unwrap().push(message.to_owned()));
    assert_eq!(poll_chain_on_one_thread(300, Duration::ZERO), 301);
    let warnings = warnings.lock().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("taskweave: tasks of client `pollchain` poll")
            && warnings[0].contains("past its max_threads (1)"),
        "{}",
        warnings[0]
    );
}

/// [`poll_chain`] `depth` links deep on a client of one thread and no more, under the
/// watchdog.
fn poll_chain_on_one_thread(depth: u32, timeout: Duration) -> u64 {
    within(LIMIT, "a deep chain of pollers", move || {
        let client = Client::builder()
            .threads(1)
            .max_threads(1)
            .name("pollchain")
            .build()
            .unwrap();
        let top = client.submit(move || poll_chain(depth, timeout), ());
        top.result().unwrap()
    })
}

/// Cancelling a `client.compute` future stops its graph without a panic message: the
/// cancel was asked for (the graph's "stopped" error used to be raised as a panic in
/// the compute's task, which the panic hook printed).
#[test]
fn cancelling_a_computed_graph_prints_no_panic() {
    if std::env::var_os(CHILD).is_none() {
        return in_a_process_of_its_own("cancelling_a_computed_graph_prints_no_panic", &[]);
    }
    static PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    std::panic::set_hook(Box::new(|_| {
        PANICS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }));
    let client = client(2);
    let slow: Vec<Delayed<u64>> = (0..64u64)
        .map(|i| {
            delayed(|i: u64| {
                std::thread::sleep(Duration::from_millis(5));
                i
            })
            .call(i)
        })
        .collect();
    let top = delayed(|v: Vec<u64>| v.iter().sum::<u64>()).call(slow);
    let computed = client.compute(&top);
    std::thread::sleep(Duration::from_millis(20));
    computed.cancel();
    assert_eq!(computed.status(), Status::Cancelled);
    assert!(computed.result().is_err());
    // The shutdown waits for the compute's task, which ends once its graph stopped.
    drop(client);
    assert_eq!(PANICS.load(std::sync::atomic::Ordering::SeqCst), 0);
}

/// A task of a graph that `client.compute` runs panics: the future's error is that
/// task's (its name, its call site and its message, as `Delayed::try_compute` gives
/// them), with it as the error's source, and the library prints no panic of its own.
/// The error used to read "task `total` at <the compute call> panicked: task `part`
/// at ...", the compute's task wrapping it, after a second panic message printed by
/// that task to carry it.
#[test]
fn a_failed_computed_graph_names_its_failed_task_and_prints_no_panic_of_its_own() {
    if std::env::var_os(CHILD).is_none() {
        return in_a_process_of_its_own(
            "a_failed_computed_graph_names_its_failed_task_and_prints_no_panic_of_its_own",
            &[],
        );
    }
    // Every panic but the failing task's own.
    static OTHER_PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    std::panic::set_hook(Box::new(|info| {
        if info.payload().downcast_ref::<&str>() != Some(&"bad part") {
            OTHER_PANICS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }));
    for threads in [1, 2] {
        let client = client(threads);
        let bad = delayed(|_: u64| -> u64 { panic!("bad part") })
            .named("part")
            .call(1u64);
        let total = delayed(|x: u64| x + 1).named("total").call(&bad);
        let computed = client.compute(&total);
        let error = computed.result().unwrap_err();
        let direct = total.try_compute().unwrap_err();
        assert_eq!(error.to_string(), direct.to_string());
        let FutureError::Task(failed) = &error else {
            panic!("not a task's error: {error}");
        };
        assert_eq!(failed.task(), "part");
        assert_eq!(failed.call_site(), direct.call_site());
        assert_eq!(failed.message(), "bad part");
        assert!(!error.to_string().contains("total"), "{error}");
        let source = std::error::Error::source(&error).expect("the task's error");
        assert_eq!(source.to_string(), direct.to_string());
        assert_eq!(
            computed.exception().unwrap().unwrap().to_string(),
            error.to_string()
        );
        assert_eq!(computed.status(), Status::Error);
    }
    assert_eq!(OTHER_PANICS.load(std::sync::atomic::Ordering::SeqCst), 0);
}

// ---- timeouts -------------------------------------------------------------------

#[test]
fn a_timeout_too_long_for_a_deadline_means_none() {
    within(LIMIT, "Duration::MAX", || {
        let client = Client::builder()
            .threads(2)
            .shutdown_timeout(Duration::MAX)
            .build()
            .unwrap();
        let done = client.submit(inc, (1,));
        assert_eq!(done.result_timeout(Duration::MAX).unwrap(), 2);
        let later = client.submit(
            || {
                std::thread::sleep(Duration::from_millis(20));
                9u64
            },
            (),
        );
        assert_eq!(later.result_timeout(Duration::MAX).unwrap(), 9);
        let more: Vec<_> = (0..4).map(|i| client.submit(inc, (i,))).collect();
        let (finished, pending) =
            taskweave::wait(&more, WaitMode::AllCompleted, Some(Duration::MAX));
        assert_eq!((finished.len(), pending.len()), (4, 0));
        // Dropping the last client waits for the running task with no deadline.
        let (started, running_now) = mpsc::channel();
        let running = client.submit(
            move || {
                started.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(20));
                1u64
            },
            (),
        );
        running_now.recv().unwrap();
        drop(client);
        assert_eq!(running.result().unwrap(), 1);
    });
}

#[test]
fn a_zero_timeout_only_looks() {
    within(LIMIT, "Duration::ZERO", || {
        let client = client(1);
        let gates = client_named("gates");
        let (slow, open) = gate(&gates);
        let pending = client.submit(inc, (slow,));
        for _ in 0..1_000 {
            match pending.result_timeout(Duration::ZERO) {
                Err(FutureError::Timeout { after, .. }) => assert_eq!(after, Duration::ZERO),
                other => panic!("expected a timeout, got {other:?}"),
            }
        }
        let (done, not_done) = taskweave::wait(
            std::slice::from_ref(&pending),
            WaitMode::FirstCompleted,
            Some(Duration::ZERO),
        );
        assert_eq!((done.len(), not_done.len()), (0, 1));
        open.send(1).unwrap();
        assert_eq!(pending.result().unwrap(), 2);
        assert_eq!(pending.result_timeout(Duration::ZERO).unwrap(), 2);
    });
}

// ---- retries that would never end -------------------------------------------------

/// A task body that fails every attempt: an unwinding that prints nothing (no panic
/// hook runs), so that thousands of attempts keep the test's output clean.
fn fail_quietly(attempts: &std::sync::atomic::AtomicUsize) {
    attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    std::panic::resume_unwind(Box::new("an attempt fails"));
}

/// Waits until `attempts` stops growing (no attempt in 50 ms), under the caller's
/// watchdog: a task still retrying never gets there.
fn until_no_more_attempts(attempts: &std::sync::atomic::AtomicUsize) -> usize {
    let read = || attempts.load(std::sync::atomic::Ordering::SeqCst);
    loop {
        let before = read();
        std::thread::sleep(Duration::from_millis(50));
        if read() == before {
            return before;
        }
    }
}

/// A task with `retries(u32::MAX)` that always panics used to retry on after its
/// client's last handle was dropped (the drop waited 60 s for it, then left it
/// running): that, and a cancel, end its attempts now.
#[test]
fn a_task_retried_without_end_stops_when_cancelled_or_its_client_dropped() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    within(LIMIT, "retries after the client's drop", || {
        let attempts = Arc::new(AtomicUsize::new(0));
        let client = client(1);
        let counted = attempts.clone();
        let hopeless = client
            .task(move || -> u64 {
                fail_quietly(&counted);
                0
            })
            .retries(u32::MAX)
            .submit(());
        while attempts.load(Ordering::SeqCst) < 10 {
            std::thread::yield_now();
        }
        let dropped = std::time::Instant::now();
        drop(client);
        // Not a timing assertion: the drop used to wait its 60 s grace period out.
        assert!(
            dropped.elapsed() < Duration::from_secs(30),
            "the client's drop waited for a task retried without end"
        );
        until_no_more_attempts(&attempts);
        // It ends with its last attempt's panic, as a task running when its client
        // goes ends with its own outcome.
        assert!(matches!(hopeless.result(), Err(FutureError::Task(_))));
    });
    within(LIMIT, "retries after a cancel", || {
        let attempts = Arc::new(AtomicUsize::new(0));
        let client = client(2);
        let counted = attempts.clone();
        let hopeless = client
            .task(move || -> u64 {
                fail_quietly(&counted);
                0
            })
            .retries(u32::MAX)
            .submit(());
        while attempts.load(Ordering::SeqCst) < 10 {
            std::thread::yield_now();
        }
        hopeless.cancel();
        until_no_more_attempts(&attempts);
        // The client's threads are free again.
        assert_eq!(client.submit(inc, (1,)).result().unwrap(), 2);
    });
}

/// A graph task with `retries(u32::MAX)` that always panics, beside a task that fails:
/// the compute returns the failure at once, and the retried task stops too (its
/// result is no longer wanted) rather than retrying on with the run for good.
#[test]
fn a_graph_task_retried_without_end_stops_when_its_run_fails() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    within(LIMIT, "retries after the run failed", || {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let attempts = Arc::new(AtomicUsize::new(0));
        let counted = attempts.clone();
        let hopeless = delayed(move |_: u64| -> u64 {
            fail_quietly(&counted);
            0
        })
        .named("hopeless")
        .retries(u32::MAX)
        .call(1);
        let seen = attempts.clone();
        let failing = delayed(move |_: u64| -> u64 {
            // Fails once the other task is retrying.
            while seen.load(Ordering::SeqCst) < 10 {
                std::thread::yield_now();
            }
            panic!("the run fails here")
        })
        .named("failing")
        .call(2);
        let both = delayed(|a: u64, b: u64| a + b).call(hopeless, failing);
        // In the pool, a compute returns once every task it started has ended.
        let result = pool.install(|| both.try_compute());
        let error = result.expect_err("a task failed");
        assert!(error.to_string().contains("failing"), "{error}");
        until_no_more_attempts(&attempts);
    });
}

/// Attempts of [`retried_without_end`].
static STATIC_ATTEMPTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[delayed(retries = 4294967295)]
fn retried_without_end(x: u64) -> u64 {
    fail_quietly(&STATIC_ATTEMPTS);
    x
}

#[delayed]
fn fails_once_the_other_retries(x: u64) -> u64 {
    while STATIC_ATTEMPTS.load(std::sync::atomic::Ordering::SeqCst) < 10 {
        std::thread::yield_now();
    }
    panic!("the static run fails here ({x})")
}

/// As [`a_graph_task_retried_without_end_stops_when_its_run_fails`], for `graph!`,
/// whose compute returns only once every task it started has ended.
#[test]
fn a_static_task_retried_without_end_stops_when_its_run_fails() {
    within(LIMIT, "static retries after the run failed", || {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let g = graph!(|x: u64| -> u64 {
            let a = retried_without_end(x);
            let b = fails_once_the_other_retries(x);
            plus(a, b)
        });
        let error = pool
            .install(|| g.try_compute(1))
            .expect_err("a task failed");
        assert!(
            error.to_string().contains("fails_once_the_other_retries"),
            "{error}"
        );
        until_no_more_attempts(&STATIC_ATTEMPTS);
    });
}

/// A run stopped when the task it runs in is cancelled (`stop_when(taskweave::cancelled)`,
/// how a nested run follows its task): its condition is asked before each of its tasks
/// outside their scope, so `cancelled()` there is the outer task's (or nobody's), never
/// the run's own condition asking itself. Run from the main thread, from inside a
/// task, on both schedulers, with a chain and with a wide graph whose tasks a worker
/// claims one after another.
#[test]
fn a_run_stopped_when_its_caller_is_cancelled_asks_the_caller_not_itself() {
    let got = within(LIMIT, "stop_when(cancelled)", || {
        let follow = || taskweave::RunOptions::new().stop_when(taskweave::cancelled);
        let chain = |n: u64| {
            let mut x = delayed(inc).call(0u64);
            for _ in 1..n {
                x = delayed(inc).call(x);
            }
            x
        };
        let wide = |n: u64| {
            let parts: Vec<Delayed<u64>> = (0..n).map(|i| delayed(inc).call(i)).collect();
            delayed(|v: Vec<u64>| v.iter().sum::<u64>()).call(parts)
        };
        let outer = chain(100)
            .try_compute_with(follow())
            .expect("nothing cancels the main thread's run");
        let outer_wide = wide(1_000)
            .try_compute_with(follow())
            .expect("nothing cancels the main thread's run");
        let outer_sync = chain(100)
            .try_compute_with(follow().scheduler(Scheduler::Sync))
            .expect("nothing cancels the main thread's run");
        // The same runs nested in a task of a run that is not stopped.
        let nested = delayed(move |_: u64| {
            let a = chain(100)
                .try_compute_with(follow())
                .expect("the task is not cancelled");
            let b = wide(1_000)
                .try_compute_with(follow())
                .expect("the task is not cancelled");
            a + b
        })
        .call(0u64)
        .compute();
        (outer, outer_wide, outer_sync, nested)
    });
    let wide_sum: u64 = (0..1_000u64).map(|i| i + 1).sum();
    assert_eq!(got, (100, wide_sum, 100, 100 + wide_sum));
}

/// A run nested in a task, without a stop condition of its own, is not stopped by the
/// outer run's: its tasks' `cancelled()` stays false on every thread and scheduler
/// (it used to be the outer condition's on the outer task's thread only), while the
/// outer task sees its own condition turn true; `stop_when(taskweave::cancelled)` is
/// how a nested run follows its task.
#[test]
fn a_nested_run_answers_cancelled_with_its_own_condition_on_every_thread() {
    // Computed on a worker of a pool, and from this thread, where a sequential run's
    // task runs outside rayon's pool: a parallel run nested in it moves to the pool,
    // on a worker that may be inside another task, and keeps its caller's (it kept
    // none, and did not follow).
    for in_pool in [true, false] {
        nested_runs_answer_cancelled_with_their_own_condition(in_pool);
    }
}

fn nested_runs_answer_cancelled_with_their_own_condition(in_pool: bool) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let got = within(LIMIT, "nested cancelled()", move || {
        let stop = Arc::new(AtomicBool::new(false));
        let told = stop.clone();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let outer = delayed(move |_: u64| {
            for (i, scheduler) in [Scheduler::Sync, Scheduler::Threads]
                .into_iter()
                .enumerate()
            {
                // Before the caller's condition turns true, then after it.
                for turn in [false, true] {
                    told.store(turn, Ordering::SeqCst);
                    let inner = delayed(|_: u64| taskweave::cancelled()).call(0u64);
                    let wide: Vec<Delayed<bool>> = (0..40u64)
                        .map(|i| delayed(|_: u64| taskweave::cancelled()).call(i))
                        .collect();
                    let options = taskweave::RunOptions::new().scheduler(scheduler);
                    let one = inner.try_compute_with(options.clone()).expect("no stop");
                    let any = taskweave::compute_with(options.clone(), wide.as_slice())
                        .expect("no stop")
                        .contains(&true);
                    // Following the task: stopped once the condition is true, and
                    // its task, asking `cancelled()`, sees the outer condition
                    // turn true while it runs (it used to ask its own condition,
                    // which asked itself, until the stack overflowed).
                    let follow = || options.clone().stop_when(taskweave::cancelled);
                    let plain = delayed(|_: u64| taskweave::cancelled())
                        .call(0u64)
                        .try_compute_with(follow())
                        .ok();
                    let flag = told.clone();
                    let flips = delayed(move |_: u64| {
                        flag.store(true, Ordering::SeqCst);
                        let seen = taskweave::cancelled();
                        flag.store(turn, Ordering::SeqCst);
                        seen
                    })
                    .call(0u64)
                    .try_compute_with(follow())
                    .ok();
                    // A wide following run whose first task turns the condition
                    // true: no task after it starts, and the run fails.
                    let flag = told.clone();
                    let first = delayed(move |_: u64| {
                        flag.store(true, Ordering::SeqCst);
                        1u64
                    })
                    .call(0u64);
                    let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                    let after: Vec<Delayed<u64>> = (0..64)
                        .map(|_| {
                            let ran = ran.clone();
                            delayed(move |x: u64| {
                                ran.fetch_add(1, Ordering::SeqCst);
                                x
                            })
                            .call(&first)
                        })
                        .collect();
                    let failed = taskweave::compute_with(follow(), after.as_slice()).is_err();
                    let stopped = failed && ran.load(Ordering::SeqCst) == 0;
                    told.store(turn, Ordering::SeqCst);
                    log.lock()
                        .unwrap()
                        .push((i, turn, one, any, plain, flips, stopped));
                }
            }
            taskweave::cancelled()
        })
        .call(0u64);
        let options = taskweave::RunOptions::new().stop_when(move || stop.load(Ordering::SeqCst));
        let result = if in_pool {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .expect("a pool");
            pool.install(|| outer.try_compute_with(options))
        } else {
            outer.try_compute_with(options)
        };
        let seen = seen.lock().unwrap().clone();
        (result, seen)
    });
    let (result, seen) = got;
    assert_eq!(result.ok(), Some(true), "the outer task sees its condition");
    assert_eq!(
        seen,
        vec![
            (0, false, false, false, Some(false), Some(true), true),
            (0, true, false, false, None, None, true),
            (1, false, false, false, Some(false), Some(true), true),
            (1, true, false, false, None, None, true),
        ],
        "in a pool: {in_pool}"
    );
}

/// A following run entered from outside the pool returns its first failure at once,
/// while the tasks beside the failed one still run and may ask `cancelled()`, which
/// asks the caller's condition as the caller's task: they may do so only while the
/// caller waits. Once it has returned (its task, its run and its condition may be gone)
/// none is in flight, and no later one reaches it.
#[test]
fn a_following_run_failing_early_asks_its_callers_condition_only_while_it_waits() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};
    let (error, in_flight, asked) = within(LIMIT, "lent caller", || {
        let caller = std::thread::current().id();
        let inside = Arc::new(AtomicUsize::new(0));
        let from_tasks = Arc::new(AtomicUsize::new(0));
        let (now, asked) = (inside.clone(), from_tasks.clone());
        // The caller's condition: slow when the inner run's tasks ask it.
        let condition = move || {
            now.fetch_add(1, Ordering::SeqCst);
            if std::thread::current().id() != caller {
                asked.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(50));
            }
            now.fetch_sub(1, Ordering::SeqCst);
            false
        };
        let (now, asked) = (inside.clone(), from_tasks.clone());
        // One task, run on this thread (outside rayon's pool): its parallel run moves
        // to the pool.
        let outer = delayed(move |_: u64| {
            let asks = delayed(|_: u64| {
                let start = Instant::now();
                while !taskweave::cancelled() && start.elapsed() < Duration::from_secs(5) {}
                0u64
            })
            .call(0u64);
            let asked = asked.clone();
            let fails = delayed(move |_: u64| {
                // (Bounded well above what a loaded machine takes to start the other
                // task, below the watchdog's limit.)
                let start = Instant::now();
                while asked.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(20)
                {
                    std::thread::yield_now();
                }
                panic!("fails while the other task asks");
            })
            .call(1u64);
            let follow = taskweave::RunOptions::new().stop_when(taskweave::cancelled);
            let error = taskweave::compute_with(follow, &[asks, fails][..])
                .expect_err("a task panicked")
                .to_string();
            (error, now.load(Ordering::SeqCst))
        })
        .call(0u64);
        let (error, in_flight) = outer
            .try_compute_with(taskweave::RunOptions::new().stop_when(condition))
            .expect("the outer task returns");
        (error, in_flight, from_tasks.load(Ordering::SeqCst))
    });
    assert!(error.contains("fails while the other task asks"), "{error}");
    assert!(
        asked > 0,
        "the inner run's task asked the caller's condition"
    );
    assert_eq!(
        in_flight, 0,
        "no question in flight once the caller returned"
    );
}

/// A graph run started inside a futures task that follows it
/// (`stop_when(taskweave::cancelled)`) stops when the task is cancelled: its running
/// tasks see `cancelled()` on rayon's threads, and no task starts after. The condition
/// is the futures task's, asked as that task from whichever thread; it read `false`
/// on every thread but the task's own, and the run went on to its end.
#[test]
fn a_run_following_a_futures_task_stops_when_the_task_is_cancelled() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;
    let (started, saw) = within(LIMIT, "run following a futures task", || {
        let client = Client::builder().threads(2).build().expect("a client");
        let (started, saw) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let ended = Arc::new(AtomicUsize::new(0));
        // Set once the test has cancelled the task: a part gives up a while after
        // that, not after a while of its own (on a loaded machine the cancel may come
        // seconds after the first part started).
        let issued = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tell, running) = mpsc::channel::<()>();
        let tell = Arc::new(Mutex::new(tell));
        let (s, w, e) = (started.clone(), saw.clone(), ended.clone());
        let cancel_issued = issued.clone();
        let task = client.submit(
            move || {
                let parts: Vec<Delayed<bool>> = (0..8u64)
                    .map(|i| {
                        let (s, w, e, tell) = (s.clone(), w.clone(), e.clone(), tell.clone());
                        let issued = cancel_issued.clone();
                        delayed(move |_: u64| {
                            s.fetch_add(1, Ordering::SeqCst);
                            let _ = tell.lock().unwrap().send(());
                            // Polls its stop; gives up 3 s after the cancel (the old
                            // behaviour).
                            let mut since: Option<Instant> = None;
                            loop {
                                if taskweave::cancelled() {
                                    w.fetch_add(1, Ordering::SeqCst);
                                    e.fetch_add(1, Ordering::SeqCst);
                                    return true;
                                }
                                if issued.load(Ordering::SeqCst)
                                    && since.get_or_insert_with(Instant::now).elapsed()
                                        > Duration::from_secs(3)
                                {
                                    e.fetch_add(1, Ordering::SeqCst);
                                    return false;
                                }
                                std::thread::yield_now();
                            }
                        })
                        .call(i)
                    })
                    .collect();
                let follow = taskweave::RunOptions::new().stop_when(taskweave::cancelled);
                taskweave::compute_with(follow, parts.as_slice()).is_err()
            },
            (),
        );
        running.recv().expect("a graph task started");
        task.cancel();
        issued.store(true, Ordering::SeqCst);
        let _ = task.result();
        drop(client);
        // The compute returned its run's first stop at once (as a failure is), while
        // the tasks beside the one that stopped it may still be running: each ends
        // soon, having seen the cancel (the lease taken back answers "stop").
        while ended.load(Ordering::SeqCst) < started.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        (started.load(Ordering::SeqCst), saw.load(Ordering::SeqCst))
    });
    assert!((1..8).contains(&started), "{started} tasks started");
    assert_eq!(saw, started, "every running task saw the cancel");
}

/// Graph tasks of runs started inside a futures task answer `cancelled()` for their
/// run only, on the futures task's own thread (a run in order, `Scheduler::Sync`) as
/// on rayon's: once the futures task is cancelled, a run that does not follow it goes
/// on, unseen by its tasks, and one that follows it starts no task. (A graph task on
/// the futures task's thread answered for the futures task.)
#[test]
fn graph_tasks_in_a_cancelled_futures_task_answer_for_their_run_on_every_thread() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (seen, followed) = within(LIMIT, "graph tasks in a cancelled futures task", || {
        let client = Client::builder().threads(1).build().expect("a client");
        let go = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let followed = Arc::new(Mutex::new(Vec::new()));
        let (tell, started) = mpsc::channel::<()>();
        let (done, ended) = mpsc::channel::<()>();
        let (go_in, seen_in, followed_in) = (go.clone(), seen.clone(), followed.clone());
        let task = client.submit(
            move || {
                for scheduler in [Scheduler::Sync, Scheduler::Threads] {
                    let (go, seen, tell) = (go_in.clone(), seen_in.clone(), tell.clone());
                    let waits = delayed(move |_: u64| {
                        let _ = tell.send(());
                        while !go.load(Ordering::SeqCst) {
                            std::thread::yield_now();
                        }
                        seen.lock()
                            .unwrap()
                            .push((scheduler, taskweave::cancelled()));
                    })
                    .call(0u64);
                    // Two tasks: with `Threads`, a parallel run, on rayon's pool.
                    let beside = delayed(|_: u64| ()).call(2u64);
                    let _ = taskweave::compute_with(scheduler, (&waits, &beside));
                    let follows = delayed(|_: u64| ()).call(1u64);
                    let options = taskweave::RunOptions::new()
                        .scheduler(scheduler)
                        .stop_when(taskweave::cancelled);
                    let stopped = follows.try_compute_with(options).is_err();
                    followed_in.lock().unwrap().push((scheduler, stopped));
                }
                let _ = done.send(());
            },
            (),
        );
        started.recv().expect("the first graph task started");
        task.cancel();
        go.store(true, Ordering::SeqCst);
        ended.recv().expect("the futures task ends");
        let seen = seen.lock().unwrap().clone();
        let followed = followed.lock().unwrap().clone();
        (seen, followed)
    });
    assert_eq!(
        seen,
        vec![(Scheduler::Sync, false), (Scheduler::Threads, false)]
    );
    assert_eq!(
        followed,
        vec![(Scheduler::Sync, true), (Scheduler::Threads, true)]
    );
}

// ---- dependents that go before their dependency ends ----------------------------

/// A task submitted with a pending future as argument, whose handle is then dropped or
/// that is cancelled, or that fails because another of its dependencies was cancelled,
/// used to stay in the pending future's list of dependents (a strong handle) until
/// that future ended: 10^6 dropped dependents of one long task held ~580 MB. Each is
/// freed at once now, while the dependency is still pending: a task keeps the
/// function its builder's tasks share to its end, so that function (and what it
/// captured) is dropped only once every one of its 10,000 tasks is freed, and their
/// arguments are dropped too. The dependency then ends as usual, and a dependent kept
/// meanwhile runs with its value.
#[test]
fn dependents_dropped_or_cancelled_before_their_dependency_ends_are_freed_at_once() {
    const N: usize = 10_000;
    within(LIMIT, "freed dependents", || {
        let gates = client(1);
        let client = client(2);
        let (slow, open) = gate(&gates);
        let (doomed, _never) = gate(&gates);
        doomed.cancel();
        let captured = Arc::new(());
        let argument = Arc::new(());
        let (held, held_too) = (captured.clone(), captured.clone());
        let one = client.task(move |x: u64, _: Arc<()>| {
            let _ = &held;
            x + 1
        });
        let two = client.task(move |x: u64, y: u64| {
            let _ = &held_too;
            x + y
        });
        let kept = client.submit(|x: u64| x * 2, (&slow,));
        let mut to_cancel = Vec::new();
        for i in 0..N {
            match i % 4 {
                0 => drop(one.submit((&slow, argument.clone()))),
                1 => to_cancel.push(one.submit((&slow, argument.clone()))),
                // Failed by its other dependency, told before or after this one.
                2 => drop(two.submit((&doomed, &slow))),
                _ => to_cancel.push(two.submit((&slow, &doomed))),
            }
        }
        for future in &to_cancel {
            future.cancel();
            assert_eq!(future.status(), Status::Cancelled);
        }
        drop(to_cancel);
        drop((one, two));
        assert!(matches!(slow.status(), Status::Pending | Status::Running));
        assert_eq!(Arc::strong_count(&argument), 1, "arguments kept");
        assert_eq!(
            Arc::strong_count(&captured),
            1,
            "dependents kept by their pending dependency"
        );
        open.send(7).unwrap();
        assert_eq!(slow.result().unwrap(), 7);
        assert_eq!(kept.result().unwrap(), 14);
    });
}

// ---- thread-locals being destroyed ---------------------------------------------

/// Runs `body` on a thread of its own and joins it: the thread's thread-locals are
/// destroyed before the join returns, in the reverse order of their first use (those
/// `body` uses first last, after taskweave's own).
fn on_a_thread_that_ends(body: impl FnOnce() + Send + 'static) {
    std::thread::spawn(body).join().expect("the thread ends");
}

/// The result of a task that sleeps a little first, waited for: a wait that does not
/// find it done at once, so that it goes through the pool's (and first uses its
/// thread-locals on this thread).
fn wait_for_a_slow_task(client: &Client) -> u64 {
    let slow = client.submit(
        || {
            std::thread::sleep(Duration::from_millis(20));
            2u64
        },
        (),
    );
    slow.result().unwrap()
}

/// A `Client` kept in a thread-local (a per-thread client cache) is dropped when its
/// thread ends, after taskweave's own thread-locals are gone: it shuts down as any
/// other drop, its workers ended (its drop asked whether the thread was one of its
/// workers of a destroyed thread-local, and the process aborted).
#[test]
fn a_client_kept_in_a_thread_local_shuts_down_when_its_thread_ends() {
    use std::cell::RefCell;
    thread_local! {
        static CLIENT: RefCell<Option<Client>> = const { RefCell::new(None) };
    }
    within(LIMIT, "client dropped with its thread", move || {
        let (tell, told) = mpsc::channel();
        on_a_thread_that_ends(move || {
            CLIENT.with(|c| *c.borrow_mut() = Some(client(1)));
            // Told when the client's worker ends, which its drop waits for.
            let tell = Mutex::new(Some(tell));
            CLIENT.with(|c| {
                let c = c.borrow();
                let c = c.as_ref().unwrap();
                // Taskweave's thread-locals are first used here, after `CLIENT`.
                assert_eq!(wait_for_a_slow_task(c), 2);
                assert!(!taskweave::cancelled());
                c.submit(
                    move || {
                        struct OnExit(mpsc::Sender<()>);
                        impl Drop for OnExit {
                            fn drop(&mut self) {
                                let _ = self.0.send(());
                            }
                        }
                        thread_local! {
                            static ON_EXIT: RefCell<Option<OnExit>> = const { RefCell::new(None) };
                        }
                        let tell = tell.lock().unwrap().take().unwrap();
                        ON_EXIT.with(|e| *e.borrow_mut() = Some(OnExit(tell)));
                    },
                    (),
                )
                .result()
                .unwrap();
            });
        });
        told.recv().expect("the client's worker ended");
    });
}

/// A value kept in a thread-local whose `Drop` waits for a pending future, and asks
/// `taskweave::cancelled()`, after taskweave's own thread-locals are gone: the wait
/// ends with the future's value, and no task is running there (both aborted the
/// process).
#[test]
fn a_thread_local_destructor_may_wait_for_a_future_and_ask_cancelled() {
    use std::cell::RefCell;
    type Kept = (Future<u64>, mpsc::Sender<u64>, mpsc::Sender<(u64, bool)>);
    struct OnDrop(RefCell<Option<Kept>>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            if let Some((future, open, tell)) = self.0.borrow_mut().take() {
                // Still pending: its gate opens once the wait has begun (or soon before).
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(50));
                    open.send(5).unwrap();
                });
                let got = future.result().unwrap();
                let _ = tell.send((got, taskweave::cancelled()));
            }
        }
    }
    thread_local! {
        static ON_DROP: OnDrop = const { OnDrop(RefCell::new(None)) };
    }
    within(LIMIT, "waits in a thread-local's drop", move || {
        let (tell, told) = mpsc::channel();
        let client = client(2);
        let gates = client_named("gates");
        let (slow, open) = gate(&gates);
        let pending = client.submit(|x: u64| x * 3, (&slow,));
        let waiting = client.clone();
        on_a_thread_that_ends(move || {
            ON_DROP.with(|d| *d.0.borrow_mut() = Some((pending, open, tell)));
            // Taskweave's thread-locals are first used here, after `ON_DROP`.
            assert_eq!(wait_for_a_slow_task(&waiting), 2);
            assert!(!taskweave::cancelled());
        });
        assert_eq!(told.recv().unwrap(), (15, false));
    });
}

// Never inlined: the test looks for its name in a backtrace, which a release build
// would otherwise fold into the engine's frame.
#[delayed]
#[inline(never)]
fn fails_above(x: u64) -> u64 {
    assert!(x < 10, "{x} is too large");
    x
}

/// Runs a failing graph in its `Drop` (during a panic's unwinding, in
/// [`a_first_graph_run_during_a_panic_with_backtraces_on`]) and keeps its error.
struct ComputesWhileUnwinding(Arc<Mutex<Vec<String>>>);

impl Drop for ComputesWhileUnwinding {
    fn drop(&mut self) {
        let g = graph!(|x: u64| -> u64 {
            let a = fails_above(x);
            plus(a, a)
        });
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            let error = g
                .try_compute_with(scheduler, 50)
                .expect_err("50 is too large");
            self.0.lock().unwrap().push(error.to_string());
        }
    }
}

/// The first graph run of a process with backtraces enabled, in a value's `Drop` while
/// a panic unwinds, returns its task's error, and later runs keep their tasks'
/// backtraces. (Installing the hook that keeps them panicked there, "cannot modify
/// the panic hook from a panicking thread": out of the `Drop`, which aborted the
/// process.)
#[test]
fn a_first_graph_run_during_a_panic_with_backtraces_on() {
    if std::env::var_os(CHILD).is_none() {
        return in_a_process_of_its_own(
            "a_first_graph_run_during_a_panic_with_backtraces_on",
            &[("RUST_BACKTRACE", "1")],
        );
    }
    // The panics below are expected: not printed (taskweave's hook, installed later,
    // calls this one).
    std::panic::set_hook(Box::new(|_| {}));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&errors);
    let unwound = std::panic::catch_unwind(move || {
        let _computes = ComputesWhileUnwinding(kept);
        panic!("the caller's own panic");
    });
    assert!(unwound.is_err());
    let errors = errors.lock().unwrap().clone();
    assert_eq!(errors.len(), 2, "{errors:?}");
    for error in &errors {
        assert!(
            error.contains("task `fails_above`") && error.contains("50 is too large"),
            "{error}"
        );
    }
    let later = graph!(|x: u64| -> u64 { plus(fails_above(x), 1) })
        .try_compute(60)
        .expect_err("60 is too large");
    let trace = later.backtrace().expect("a backtrace").to_string();
    assert!(trace.contains("fails_above"), "{trace}");
}

// ---- dynamic graphs: dropping long chains ------------------------------------------

/// A chain of `n` plain-body tasks (closures capturing nothing) on `Delayed::value(0)`.
fn plain_chain(n: usize) -> Delayed<u64> {
    let step = delayed(|x: u64| x + 1);
    let mut x = Delayed::value(0u64);
    for _ in 0..n {
        x = step.call(&x);
    }
    x
}

/// A chain of values each holding the one before (a body with drop glue).
#[derive(Clone)]
struct Held(#[allow(dead_code)] Option<Delayed<Held>>);

fn held_chain(n: usize) -> Delayed<Held> {
    let mut held = Delayed::value(Held(None));
    for _ in 0..n {
        held = Delayed::value(Held(Some(held)));
    }
    held
}

/// Plain-body nodes interleaved with nodes whose bodies hold the `Delayed` before:
/// every other link captures it, the others read it as a parent.
fn mixed_chain(n: usize) -> Delayed<u64> {
    let step = delayed(|x: u64| x + 1);
    let mut x = Delayed::value(0u64);
    for i in 0..n {
        x = if i % 2 == 0 {
            step.call(&x)
        } else {
            let before = x.clone();
            x.map(move |v| {
                let _ = &before;
                *v + 1
            })
        };
    }
    x
}

/// Chains whose last handle is in a thread local destroyed after the runtime's own
/// thread locals (it was set first, before the thread dropped any node), dropped as
/// the thread ends: plain bodies, bodies holding the `Delayed` before, and both.
#[test]
fn chains_in_a_thread_local_set_first_drop_in_bounded_stack_when_the_thread_ends() {
    thread_local! {
        static KEPT: std::cell::RefCell<Vec<Box<dyn std::any::Any>>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    within(LIMIT, "chains in a thread local", || {
        const N: usize = 200_000;
        let (plain, held, mixed) = (plain_chain(N), held_chain(N), mixed_chain(N));
        std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || {
                KEPT.with(|kept| {
                    let mut kept = kept.borrow_mut();
                    kept.push(Box::new(plain));
                    kept.push(Box::new(held));
                    kept.push(Box::new(mixed));
                });
                // Then the thread's drop loop, its thread locals registered after.
                drop(held_chain(10));
                drop(mixed_chain(10));
                let _ = plain_chain(10).compute();
            })
            .unwrap()
            .join()
            .unwrap();
    });
}
