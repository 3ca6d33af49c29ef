//! Where the three front ends meet (futures, dynamic `Delayed` graphs, `graph!`), each
//! shape under a watchdog, its values checked against plain evaluation.
//!
//! Bugs found, each a hang for ever: a `graph!` computed on a pool of the user's
//! (`compute_on`) inside a futures task lost the task (its tasks' `get_client` was
//! `None`, and a wait of one for the task's own future hung rather than fail); futures
//! tasks and `graph!`s nesting on a one-thread pool of the user's hung at three levels
//! (the pool's thread waited for a future and the next level's graph was queued behind
//! it, where rayon's global pool has a way out), and through both pools at each level,
//! the user's entered from a worker of the global one, at four; a client's `persist`
//! inside a futures task, of a graph whose task waits for that task's own future, was
//! the client's run alone, and the wait hung rather than fail.
//!
//! Found to work, kept so that they go on working: recursion 500 levels deep through
//! futures tasks and graphs (both kinds) that submit and wait, failing at the bottom
//! with a message that does not grow, also with thread starts refused, and computes
//! nested in computes 300 deep; a `client.compute` cancelled mid-run (no task starts
//! after, every value dropped once); graphs, submits, gathers, `wait` and
//! `as_completed` over futures of a client dropped meanwhile; a futures task cancelled
//! while its graph waits on another client; graphs (both kinds, and persists) in a
//! futures task or a compute waiting for that task's own future, and tasks waiting for
//! a compute over their own future, for a dependent on another client, or for a
//! compute whose graph waits for them (refused or broken, not hung); cycles of waits
//! through two clients, nested graphs and a compute; graph tasks filling rayon's pool
//! with waits for futures that compute graphs; a `graph!` following its cancelled
//! futures task; future values whose `Drop` or `Clone` panics read by graphs and let
//! go by computes; page-aligned, zero-sized and 256 KiB values scattered, submitted,
//! read, computed and persisted across clients; a scattered value read by every front
//! end at once, dropped once; a forgotten future read by a graph after its client is
//! gone; a finished future released while graphs that read it run; one observer on
//! futures, computes and graphs in futures tasks, panicking in some hooks; a chain of
//! 10,000 computes alternating between two clients; `get_client` in a client's persist
//! and compute wherever they are called; a client dropped while its computes' graph
//! tasks submit to it; `wait` for the first exception over two clients.

#[path = "support/watchdog.rs"]
mod watchdog;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use taskweave::prelude::*;
use taskweave::{FutureError, Scheduler};
use watchdog::within;

const LIMIT: Duration = Duration::from_secs(20);

/// The watchdog of the chains of 10,000 computes hopping between two clients: each
/// link wakes the other client's sleeping worker, and on a machine whose cores are
/// all busy each wake-up waits for a time slice (about 1.3 ms a link beside two
/// busy loops on two cores: 13–14 s for the test alone, past [`LIMIT`] beside the
/// other tests of this file; under a second when quiet).
const CHAIN_LIMIT: Duration = Duration::from_secs(120);

fn client(threads: usize, name: &str) -> Client {
    Client::builder()
        .threads(threads)
        .name(name)
        .build()
        .unwrap()
}

#[delayed]
fn inc(x: u64) -> u64 {
    x + 1
}

#[delayed]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

/// A future that stays pending until the returned sender is dropped or sends, and
/// whose task has started once this returns.
fn gated(client: &Client, value: u64) -> (Future<u64>, mpsc::Sender<()>) {
    let (open, gate) = mpsc::channel::<()>();
    let (started, has_started) = mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let started = Mutex::new(started);
    let future = client.submit(
        move || {
            started.lock().unwrap().send(()).unwrap();
            let _ = gate.lock().unwrap().recv();
            value
        },
        (),
    );
    has_started.recv().unwrap();
    (future, open)
}

// ---- recursion across the front ends ------------------------------------------------

/// The payload of a futures error, re-raised as it is (the way a Python task re-raises
/// the exception it caught): what the level above sees is the bottom's own panic.
fn reraise(error: FutureError) -> ! {
    match error {
        FutureError::Task(error) => match error.payload::<String>() {
            Some(message) => std::panic::resume_unwind(Box::new(message)),
            None => panic!("{error}"),
        },
        other => panic!("{other}"),
    }
}

/// One level of a recursion that goes futures task -> dynamic graph (two tasks, one of
/// which submits the level below to the client it finds with `get_client` and waits
/// for it) -> futures task -> ... ; level `boom` panics. Returns the sum of the levels.
fn dynamic_level(n: u64, boom: u64) -> u64 {
    if n == boom {
        panic!("boom at level {n}");
    }
    if n == 0 {
        return 0;
    }
    let down = delayed(move |n: u64| -> u64 {
        let client = taskweave::get_client().expect("a graph task of a futures task");
        match client.submit(dynamic_level, (n - 1, boom)).result() {
            Ok(v) => v,
            Err(e) => reraise(e),
        }
    })
    .named("down")
    .call(n);
    let here = delayed(|n: u64| n).named("here").call(n);
    let sum = delayed(add).call(down, here);
    match sum.try_compute() {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

#[delayed]
fn static_down(n: u64, boom: u64) -> u64 {
    let client = taskweave::get_client().expect("a graph! task of a futures task");
    match client.submit(static_level, (n - 1, boom)).result() {
        Ok(v) => v,
        Err(e) => reraise(e),
    }
}

#[delayed]
fn static_here(n: u64) -> u64 {
    n
}

/// As `dynamic_level`, through a `graph!` of width two.
fn static_level(n: u64, boom: u64) -> u64 {
    if n == boom {
        panic!("boom at level {n}");
    }
    if n == 0 {
        return 0;
    }
    let g = graph!(|n: u64, boom: u64| -> u64 { add(static_down(n, boom), static_here(n)) });
    match g.try_compute(n, boom) {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

fn recursion_across(level: fn(u64, u64) -> u64, depth: u64) {
    let client = client(2, "across");
    let sum = client.submit(level, (depth, u64::MAX));
    assert_eq!(sum.result().unwrap(), depth * (depth + 1) / 2);
    for boom in [0, depth / 2] {
        let error = client
            .submit(level, (depth, boom))
            .result()
            .unwrap_err()
            .to_string();
        assert!(error.contains(&format!("boom at level {boom}")), "{error}");
        // The bottom's message, once, and the top task's name: nothing per level.
        assert!(error.len() < 400, "{} bytes: {error}", error.len());
    }
}

#[test]
fn futures_and_dynamic_graphs_nest_500_deep_and_fail_at_the_bottom() {
    within(LIMIT, "futures -> Delayed -> futures, 500 deep", || {
        recursion_across(dynamic_level, 500)
    });
}

#[test]
fn futures_and_static_graphs_nest_500_deep_and_fail_at_the_bottom() {
    within(LIMIT, "futures -> graph! -> futures, 500 deep", || {
        recursion_across(static_level, 500)
    });
}

// ---- a compute's cancel -------------------------------------------------------------

/// Counts values made and dropped.
struct Counted {
    value: u64,
    live: Arc<AtomicUsize>,
}

impl Counted {
    fn new(value: u64, live: &Arc<AtomicUsize>) -> Counted {
        live.fetch_add(1, Ordering::SeqCst);
        Counted {
            value,
            live: live.clone(),
        }
    }
}

impl Clone for Counted {
    fn clone(&self) -> Counted {
        Counted::new(self.value, &self.live)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A `client.compute` cancelled while its graph runs (one task waits on a gate the
/// test opens after the cancel): the graph stops, its future is cancelled, no task
/// starts after the cancel, and every value it made is dropped once (those left in the
/// run by its own thread, which may be just after the client's shutdown returned).
#[test]
fn a_compute_cancelled_mid_run_stops_its_graph_and_drops_each_value_once() {
    within(LIMIT, "compute cancelled mid-run", || {
        for threads in [1, 2] {
            let client = client(threads, "cancelled compute");
            let live = Arc::new(AtomicUsize::new(0));
            let started_after = Arc::new(AtomicUsize::new(0));
            let cancelled_flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (entered, has_entered) = mpsc::channel::<()>();
            let (open, gate) = mpsc::channel::<()>();
            let entered = Mutex::new(entered);
            let gate = Mutex::new(gate);
            let leaves: Vec<Delayed<Counted>> = (0..16u64)
                .map(|i| {
                    let live = live.clone();
                    delayed(move |i: u64| Counted::new(i, &live)).call(i)
                })
                .collect();
            let l = live.clone();
            let blocker = delayed(move |xs: Vec<Counted>| {
                entered.lock().unwrap().send(()).unwrap();
                let _ = gate.lock().unwrap().recv();
                Counted::new(xs.iter().map(|c| c.value).sum(), &l)
            })
            .named("blocker")
            .call(leaves);
            let (sa, cf) = (started_after.clone(), cancelled_flag.clone());
            let after = delayed(move |c: Counted| {
                if cf.load(Ordering::SeqCst) {
                    sa.fetch_add(1, Ordering::SeqCst);
                }
                c
            })
            .named("after")
            .call(blocker);
            let future = client.compute(&after);
            has_entered.recv().unwrap();
            cancelled_flag.store(true, Ordering::SeqCst);
            future.cancel();
            assert_eq!(future.status(), Status::Cancelled);
            drop(open);
            assert!(matches!(
                future.result(),
                Err(FutureError::Cancelled { .. })
            ));
            drop(future);
            drop(client);
            drop(after);
            // The compute's task returns when its run stops (the moment the run sees
            // the cancel, at the running task's end), and the shutdown with it; the
            // values the run left are dropped by the run itself, on rayon's thread,
            // which may be just after. A value dropped twice would wrap the count, and
            // one never dropped keep it above zero: both end under the watchdog.
            while live.load(Ordering::SeqCst) != 0 {
                std::thread::yield_now();
            }
            assert_eq!(started_after.load(Ordering::SeqCst), 0, "{threads} threads");
        }
    });
}

// ---- futures of one client in another's work ------------------------------------------

/// A graph on client B reads a future of client A that is still pending when B's
/// compute starts waiting, and A is dropped meanwhile (its pending task cancelled by
/// the shutdown): B's compute ends, its reading task naming the cancelled future.
#[test]
fn a_compute_on_one_client_reading_a_pending_future_of_a_client_dropped_meanwhile() {
    within(
        LIMIT,
        "compute over a dropped client's pending future",
        || {
            let a = Client::builder()
                .threads(1)
                .name("a")
                .shutdown_timeout(Duration::from_millis(50))
                .build()
                .unwrap();
            let b = client(1, "b");
            let (blocked, open) = gated(&a, 1);
            let pending = a.submit(inc, (&blocked,));
            let reader = delayed(inc).named("reads_a").call(&pending);
            let sum = delayed(add).call(reader, 10u64);
            let computed = b.compute(&sum);
            let submitted = b.submit(inc, (&pending,));
            drop(a);
            drop(open);
            let error = computed.result().unwrap_err().to_string();
            assert!(error.contains("reads_a"), "{error}");
            assert!(error.contains("cancelled"), "{error}");
            assert!(submitted.result().is_err());
            // The finished one still reads.
            assert_eq!(b.submit(inc, (&blocked,)).result().unwrap(), 2);
        },
    );
}

/// `as_completed` and `wait` over futures of two clients, one of which is dropped
/// while some of its futures are pending: every future comes out once, with its value
/// or its cancel.
#[test]
fn as_completed_and_wait_over_two_clients_one_dropped() {
    within(LIMIT, "as_completed over two clients", || {
        let a = Client::builder()
            .threads(1)
            .name("a")
            .shutdown_timeout(Duration::from_millis(50))
            .build()
            .unwrap();
        let b = client(2, "b");
        let (blocked, open) = gated(&a, 0);
        let mut futures: Vec<Future<u64>> = Vec::new();
        for i in 0..50u64 {
            futures.push(b.submit(inc, (i,)));
            futures.push(a.submit(add, (&blocked, i)));
        }
        let keys: Vec<String> = futures.iter().map(|f| f.key()).collect();
        let (done, _) = taskweave::wait(
            &futures,
            taskweave::WaitMode::FirstCompleted,
            Some(Duration::from_secs(30)),
        );
        assert!(!done.is_empty());
        let dropper = std::thread::spawn(move || drop(a));
        let mut seen = Vec::new();
        let mut finished = 0;
        for f in as_completed(futures) {
            match f.result() {
                Ok(v) => {
                    finished += 1;
                    assert!((1..=50).contains(&v), "{v}");
                }
                Err(FutureError::Cancelled { .. }) => {}
                Err(e) => panic!("{e}"),
            }
            seen.push(f.key());
        }
        drop(open);
        dropper.join().unwrap();
        assert!(finished >= 50);
        seen.sort();
        let mut keys = keys;
        keys.sort();
        assert_eq!(seen, keys);
    });
}

/// A futures task on client A computes a graph whose tasks submit to client B (found
/// through a capture, not `get_client`) and wait, while A's future is cancelled: the
/// compute ends, B's futures all end, and nothing hangs.
#[test]
fn a_futures_task_cancelled_while_its_graph_waits_on_another_client() {
    within(
        LIMIT,
        "cancelled task, graph waiting on another client",
        || {
            let a = client(1, "a");
            let b = client(1, "b");
            let (gate_future, open) = gated(&b, 5);
            let (entered, has_entered) = mpsc::channel::<()>();
            let entered = Mutex::new(entered);
            let bb = b.clone();
            let gf = gate_future.clone();
            let task = a.submit(
                move || {
                    let parts: Vec<Delayed<u64>> = (0..4u64)
                        .map(|i| {
                            let (b, gf) = (bb.clone(), gf.clone());
                            delayed(move |i: u64| b.submit(add, (&gf, i)).result().unwrap_or(0))
                                .call(i)
                        })
                        .collect();
                    entered.lock().unwrap().send(()).unwrap();
                    delayed(|v: Vec<u64>| v.iter().sum::<u64>())
                        .call(parts)
                        .compute()
                },
                (),
            );
            has_entered.recv().unwrap();
            task.cancel();
            drop(open);
            assert!(task.result().is_err());
            assert_eq!(gate_future.result().unwrap(), 5);
            drop(a);
            drop(b);
        },
    );
}

// ---- waits with a way out ---------------------------------------------------------

#[delayed]
fn waits_for(slot: Arc<OnceLock<Future<u64>>>, i: u64) -> u64 {
    match slot.wait().result() {
        Ok(v) => v + i,
        Err(e) => {
            let text = e.to_string();
            assert!(text.contains("never end"), "{text}");
            1000 + i
        }
    }
}

/// A futures task computes a `graph!` (a tree, on rayon's pool, and one that runs on
/// the dispatcher) whose tasks wait for that futures task's own future: each wait
/// fails as one that could never end, and the task ends.
#[test]
fn a_static_graph_in_a_futures_task_waiting_for_that_task() {
    within(LIMIT, "graph! waits for its computer", || {
        for threads in [1, 2] {
            let client = client(threads, "self-waiting graph!");
            let me = Arc::new(OnceLock::<Future<u64>>::new());
            let slot = me.clone();
            let task = client
                .task(move || {
                    let tree = graph!(|s: Arc<OnceLock<Future<u64>>>| -> u64 {
                        add(waits_for(s, 1), waits_for(s, 2))
                    });
                    let shared = graph!(|s: Arc<OnceLock<Future<u64>>>| -> u64 {
                        let a = waits_for(s, 3);
                        add(a, add(a, waits_for(s, 4)))
                    });
                    tree.compute(slot.clone()) + shared.compute(slot.clone())
                })
                .named("computes")
                .submit(());
            assert!(me.set(task.clone()).is_ok());
            assert_eq!(task.result().unwrap(), 2003 + 3 * 1003 + 1004 - 1003);
        }
    });
}

/// A futures task computes, on its own client, a graph that reads its own future: the
/// compute can never start, and the task's wait for it fails rather than hangs.
#[test]
fn a_task_waiting_for_a_compute_of_a_graph_over_its_own_future() {
    within(LIMIT, "compute over the waiter's future", || {
        for threads in [1, 2] {
            let client = client(threads, "self compute");
            let me = Arc::new(OnceLock::<Future<u64>>::new());
            let slot = me.clone();
            let task = client
                .task(move || {
                    let client = taskweave::get_client().unwrap();
                    let mine = slot.wait();
                    let graph = delayed(inc).named("reads_me").call(mine);
                    match client.compute(&graph).result() {
                        Ok(v) => v,
                        Err(e) => {
                            let text = e.to_string();
                            assert!(text.contains("never end"), "{text}");
                            7
                        }
                    }
                })
                .named("waiter")
                .submit(());
            assert!(me.set(task.clone()).is_ok());
            assert_eq!(task.result().unwrap(), 7, "{threads} threads");
        }
    });
}

/// A futures task computes, on its own client and on another, a graph whose task
/// waits for the futures task's own future (through a slot, not as an argument), and
/// waits for the compute: a cycle of two waits through a compute, broken.
#[test]
fn a_task_waiting_for_a_compute_whose_graph_waits_for_the_task() {
    within(LIMIT, "cycle through a compute of the waiter", || {
        for other in [false, true] {
            let client = client(1, "waiter");
            let elsewhere = self::client(1, "elsewhere");
            let me = Arc::new(OnceLock::<Future<u64>>::new());
            let slot = me.clone();
            let task = client
                .task(move || {
                    let on = if other {
                        elsewhere.clone()
                    } else {
                        taskweave::get_client().unwrap()
                    };
                    let s = slot.clone();
                    let waits = delayed(move |i: u64| waits_for(s.clone(), i)).call(1u64);
                    match on.compute(&waits).result() {
                        Ok(v) => v,
                        Err(e) => {
                            assert!(e.to_string().contains("never end"), "{e}");
                            9
                        }
                    }
                })
                .named("waits_for_its_compute")
                .submit(());
            assert!(me.set(task.clone()).is_ok());
            let got = task.result().unwrap();
            assert!(got == 1001 || got == 9, "other {other}: {got}");
        }
    });
}

#[delayed]
fn submit_and_wait(client: Client, i: u64) -> u64 {
    // The futures task computes a `graph!` itself: rayon's pool may be all waiting.
    client
        .submit(
            |i: u64| graph!(|i: u64| -> u64 { add(inc(i), inc(i + 1)) }).compute(i),
            (i,),
        )
        .result()
        .unwrap()
}

/// Every task of a wide `graph!` and of a `Delayed` graph, computed from outside any
/// client, submits to a one-thread client and waits, and each submitted task computes
/// a `graph!` on rayon's pool, whose threads are all waiting: everything ends.
#[test]
fn graph_tasks_on_rayon_all_waiting_for_futures_that_compute_graphs() {
    within(LIMIT, "rayon full of waiters", || {
        let client = client(1, "full");
        let wide = graph!(|c: Client| -> u64 {
            let a = add(submit_and_wait(c, 0), submit_and_wait(c, 1));
            let b = add(submit_and_wait(c, 2), submit_and_wait(c, 3));
            let d = add(submit_and_wait(c, 4), submit_and_wait(c, 5));
            add(add(a, b), add(d, submit_and_wait(c, 6)))
        });
        let expected: u64 = (0..7u64).map(|i| 2 * i + 3).sum();
        assert_eq!(wide.compute(client.clone()), expected);
        let parts: Vec<Delayed<u64>> = (0..16u64)
            .map(|i| delayed(submit_and_wait).call(client.clone(), i))
            .collect();
        let total = delayed(|v: Vec<u64>| v.iter().sum::<u64>()).call(parts);
        let expected: u64 = (0..16u64).map(|i| 2 * i + 3).sum();
        assert_eq!(total.compute(), expected);
        // And the same from a task of the client, through `client.compute`.
        assert_eq!(client.compute(&total).result().unwrap(), expected);
    });
}

// ---- values handed between front ends --------------------------------------------

/// A value whose `Drop` panics, once armed.
struct DropBomb {
    value: u64,
    armed: bool,
}

impl Clone for DropBomb {
    fn clone(&self) -> DropBomb {
        DropBomb {
            value: self.value,
            armed: false,
        }
    }
}

impl Drop for DropBomb {
    fn drop(&mut self) {
        if self.armed && !std::thread::panicking() {
            panic!("drop bomb {}", self.value);
        }
    }
}

/// A future's value whose `Drop` panics, read by a graph that holds the only handle
/// left: computed here and on another client, then the graph dropped (where the value
/// goes). The panic comes out of a drop the user made, or is contained; the clients
/// go on running tasks.
#[test]
fn a_future_value_whose_drop_panics_released_by_a_graph() {
    within(LIMIT, "drop-panicking future value in a graph", || {
        let a = client(1, "a");
        let b = client(1, "b");
        for shape in 0..4 {
            let bomb = a.submit(
                || DropBomb {
                    value: 4,
                    armed: true,
                },
                (),
            );
            let reader = delayed(|x: &DropBomb| x.value + 1)
                .named("reads_bomb")
                .call(bomb);
            let reader = match shape {
                0 => {
                    assert_eq!(reader.compute(), 5);
                    Some(reader)
                }
                1 => {
                    assert_eq!(b.compute(&reader).result().unwrap(), 5);
                    Some(reader)
                }
                // The compute holds the graph's last handle, and the value's with it.
                2 => {
                    assert_eq!(b.compute(reader).result().unwrap(), 5);
                    None
                }
                // The compute is cancelled before it starts, its graph let go then.
                _ => {
                    let (blocked, open) = gated(&b, 0);
                    let computed = b.compute(reader);
                    computed.cancel();
                    drop(open);
                    assert_eq!(blocked.result().unwrap(), 0);
                    assert!(computed.result().is_err());
                    None
                }
            };
            let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(reader)));
            if let Err(payload) = dropped {
                let text = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_default();
                assert!(text.contains("drop bomb"), "{text}");
            }
            assert_eq!(a.submit(inc, (1,)).result().unwrap(), 2);
            assert_eq!(b.submit(inc, (2,)).result().unwrap(), 3);
        }
    });
}

/// A future's value whose `Clone` panics, taken by value by a graph's task (the future
/// keeps its own, so it is cloned): that task fails naming itself, here and computed on
/// another client, and the future is untouched.
#[test]
fn a_future_value_whose_clone_panics_taken_by_a_graph() {
    #[derive(Debug)]
    struct NoClone(u64);
    impl Clone for NoClone {
        fn clone(&self) -> NoClone {
            panic!("clone of {} refused", self.0)
        }
    }
    within(LIMIT, "clone-panicking future value in a graph", || {
        let a = client(1, "a");
        let b = client(1, "b");
        let value = a.submit(|| NoClone(9), ());
        let taker = delayed(|x: NoClone| x.0).named("takes_it").call(&value);
        let lender = delayed(|x: &NoClone| x.0).named("lends_it").call(&value);
        let both = delayed(add).call(taker, &lender);
        let here = both.try_compute().unwrap_err().to_string();
        let there = b.compute(&both).result().unwrap_err().to_string();
        for error in [here, there] {
            assert!(error.contains("takes_it"), "{error}");
            assert!(error.contains("clone of 9 refused"), "{error}");
        }
        assert_eq!(value.result_shared().unwrap().0, 9);
        assert_eq!(b.compute(&lender).result().unwrap(), 9);
    });
}

#[repr(align(4096))]
#[derive(Clone, Debug, PartialEq)]
struct Page(u64);

#[derive(Clone, Debug, PartialEq)]
struct Nothing;

/// Page-aligned and zero-sized values through each hand-over: scattered, submitted,
/// read by a graph by value and by reference, computed on a client, persisted there.
#[test]
fn page_aligned_and_zero_sized_values_between_front_ends() {
    within(LIMIT, "odd values across", || {
        let a = client(2, "a");
        let b = client(1, "b");
        let page = a.scatter(Page(3));
        let nothing = a.scatter(Nothing);
        let paged = b.submit(
            |p: Page, _n: Nothing| {
                assert_eq!(core::ptr::addr_of!(p) as usize % 4096, 0);
                Page(p.0 * 2)
            },
            (&page, &nothing),
        );
        let read = delayed(|p: Page, q: &Page, _n: Nothing| {
            assert_eq!(core::ptr::addr_of!(p) as usize % 4096, 0);
            assert_eq!(q as *const Page as usize % 4096, 0);
            Page(p.0 + q.0)
        })
        .call(&paged, &page, &nothing);
        assert_eq!(read.compute(), Page(9));
        assert_eq!(b.compute(&read).result().unwrap(), Page(9));
        let kept = a.persist(&read);
        drop(a);
        assert_eq!(b.compute(&kept).result().unwrap(), Page(9));
        let units = b.compute((&delayed(|_n: Nothing| ()).call(&nothing), &kept));
        assert_eq!(units.result().unwrap(), ((), Page(9)));
    });
}

// ---- persisted, scattered, forgotten --------------------------------------------------

/// A scattered value of counted drops read at once by a `graph!` in a futures task, by
/// a `Delayed` graph (lent and cloned), by futures of two clients and by a compute;
/// then a graph persisted on a client that is dropped and the persisted value computed
/// on the other client: every value is dropped once, when the last reader goes.
#[test]
fn a_scattered_value_read_by_every_front_end_is_dropped_once() {
    within(LIMIT, "scatter read everywhere", || {
        let live = Arc::new(AtomicUsize::new(0));
        let a = client(2, "a");
        let b = client(1, "b");
        let shared = a.scatter(Counted::new(5, &live));
        let by_b = b.submit(|c: Counted| c.value + 1, (&shared,));
        let in_task = b.submit(
            |c: Arc<Counted>| graph!(|x: u64| -> u64 { add(inc(x), x) }).compute(c.value),
            (&shared,),
        );
        let lent = delayed(|c: &Counted| c.value).call(&shared);
        let cloned = delayed(|c: Counted| c.value * 2).call(&shared);
        let both = delayed(add).call(lent, cloned);
        let computed = b.compute(&both);
        let kept = a.persist(&both);
        assert_eq!(by_b.result().unwrap(), 6);
        assert_eq!(in_task.result().unwrap(), 11);
        assert_eq!(computed.result().unwrap(), 15);
        assert_eq!(both.compute(), 15);
        drop(a);
        assert_eq!(b.compute(&kept).result().unwrap(), 15);
        assert_eq!(kept.compute(), 15);
        assert_eq!(live.load(Ordering::SeqCst), 1);
        drop((shared, both, computed, kept, by_b, in_task));
        drop(b);
        assert_eq!(live.load(Ordering::SeqCst), 0);
    });
}

/// `fire_and_forget` of a pending future that a graph reads, every handle of it then
/// dropped but the graph's: the graph, computed here and on another client after the
/// forgetting client is dropped, reads its value.
#[test]
fn a_forgotten_future_read_by_a_graph_after_its_client_is_gone() {
    within(LIMIT, "forgotten future in a graph", || {
        let a = client(1, "a");
        let b = client(1, "b");
        let (blocked, open) = gated(&a, 1);
        let forgotten = a.submit(inc, (&blocked,));
        let reader = delayed(inc).call(&forgotten);
        let computed = b.compute(&reader);
        a.fire_and_forget(forgotten);
        drop(blocked);
        drop(open);
        assert_eq!(computed.result().unwrap(), 3);
        drop(a);
        assert_eq!(reader.compute(), 3);
        assert_eq!(b.compute(&reader).result().unwrap(), 3);
    });
}

// ---- cycles of waits through several clients and graphs --------------------------------

fn text(future: &Future<String>) -> String {
    match future.result() {
        Ok(text) => text,
        Err(error) => error.to_string(),
    }
}

#[delayed]
fn wait_in_graph(slot: Arc<OnceLock<Future<String>>>) -> String {
    text(slot.wait())
}

/// Task `a` of client A waits for task `b` of client B, which waits for `a` (the
/// futures handed over through slots), `b` in its own code (`shape` 0), in a `Delayed`
/// graph's task (1), or in a `graph!` nested in one (2); with client A's one thread
/// held, when `hold_a`, so that `a` is still queued when `b` waits for it. What `a` and
/// `b` return (the text of what each read).
fn cycle_through_two_clients(shape: u8, hold_a: bool) -> (String, String) {
    let a_client = client(1, "A");
    let b_client = client(1, "B");
    let held = hold_a.then(|| gated(&a_client, 0));
    let a_slot = Arc::new(OnceLock::<Future<String>>::new());
    let b_slot = Arc::new(OnceLock::<Future<String>>::new());
    let b_in = b_slot.clone();
    let a = a_client
        .task(move || text(b_in.wait()))
        .named("a")
        .submit(());
    assert!(a_slot.set(a.clone()).is_ok());
    let a_in = a_slot.clone();
    let b = b_client
        .task(move || match shape {
            0 => text(a_in.wait()),
            1 => {
                let a_in = a_in.clone();
                delayed(move |_: u64| text(a_in.wait()))
                    .call(0u64)
                    .compute()
            }
            _ => {
                let a_in = a_in.clone();
                let inner =
                    graph!(|s: Arc<OnceLock<Future<String>>>| -> String { wait_in_graph(s) });
                delayed(move |_: u64| inner.compute(a_in.clone()))
                    .call(0u64)
                    .compute()
            }
        })
        .named("b")
        .submit(());
    assert!(b_slot.set(b.clone()).is_ok());
    let texts = (a.result().unwrap(), b.result().unwrap());
    if let Some((held, open)) = held {
        drop(open);
        assert_eq!(held.result().unwrap(), 0);
    }
    texts
}

/// The cycle of [`cycle_through_two_clients`], whichever of `a` and `b` starts first:
/// one of the waits breaks it; and the same with `b`'s wait made by a task of a graph
/// `b` computes (a `Delayed` graph, then a `graph!` nested in it).
#[test]
fn a_cycle_of_waits_through_two_clients_and_graphs_is_broken() {
    within(LIMIT, "cycle through two clients", || {
        for shape in 0..3 {
            let (a, b) = cycle_through_two_clients(shape, false);
            assert!(
                a.contains("never end") || b.contains("never end"),
                "shape {shape}: {a} / {b}"
            );
        }
    });
}

/// As the test above, with `a` queued behind a task that holds client A's one worker:
/// `b`'s wait for `a` runs `a` on its own thread, above itself, and `a`'s wait for `b`
/// is then a wait for a task under it on its thread, which fails. It hung when `b`'s
/// wait was made by a `graph!` nested in a `Delayed` graph's task (shape 2; one run in
/// four of the test above hung so, in a release build, when `a` had not started yet):
/// the `graph!`'s root, on `b`'s thread, is marked a part of `b`'s run, and `b`, also
/// under `a` on that thread, was published twice for `a`'s wait, which the search
/// took as nothing to publish.
#[test]
fn a_cycle_of_waits_through_two_clients_and_graphs_is_broken_when_the_first_runs_inline() {
    within(LIMIT, "cycle through two clients, inline", || {
        for shape in 0..3 {
            let (a, b) = cycle_through_two_clients(shape, true);
            // `a`'s wait fails, and `b` reads that as `a`'s value.
            assert!(
                a.contains("task `a` at ")
                    && a.contains("waits for task `b` at ")
                    && a.contains("cannot end before `a` does: the wait would never end"),
                "shape {shape}: {a}"
            );
            assert_eq!(a, b, "shape {shape}");
        }
    });
}

/// A task of a graph that client B computes (`client.compute`) waits for task `a` of
/// client A, which waits for the compute's own future: the cycle goes through a
/// compute, and is broken.
#[test]
fn a_cycle_of_waits_through_a_compute_on_another_client_is_broken() {
    within(LIMIT, "cycle through a compute", || {
        let a_client = client(1, "A");
        let b_client = client(1, "B");
        let a_slot = Arc::new(OnceLock::<Future<String>>::new());
        let c_slot = Arc::new(OnceLock::<Future<String>>::new());
        let c_in = c_slot.clone();
        let a = a_client
            .task(move || text(c_in.wait()))
            .named("a")
            .submit(());
        assert!(a_slot.set(a.clone()).is_ok());
        let a_in = a_slot.clone();
        let waits = delayed(move |_: u64| text(a_in.wait()))
            .named("waits_for_a")
            .call(0u64);
        let c = b_client.compute(&waits);
        assert!(c_slot.set(c.clone()).is_ok());
        let (a, c) = (a.result().unwrap(), text(&c));
        assert!(
            a.contains("never end") || c.contains("never end"),
            "{a} / {c}"
        );
    });
}

/// A task of client A waits for a task of client B that needs it (A's future is an
/// argument of B's task, two links down): a wait that can never end, refused.
#[test]
fn a_wait_for_a_dependent_on_another_client_is_refused() {
    within(LIMIT, "waits for its dependent across clients", || {
        let a_client = client(1, "A");
        let b_client = client(1, "B");
        let me = Arc::new(OnceLock::<Future<u64>>::new());
        let slot = me.clone();
        let bc = b_client.clone();
        let t = a_client
            .task(move || {
                let mine = slot.wait();
                let first = bc.submit(inc, (mine,));
                let second = bc.compute(&delayed(inc).call(&first));
                match second.result() {
                    Ok(v) => v,
                    Err(e) => {
                        assert!(e.to_string().contains("never end"), "{e}");
                        77
                    }
                }
            })
            .named("t")
            .submit(());
        assert!(me.set(t.clone()).is_ok());
        assert_eq!(t.result().unwrap(), 77);
    });
}

// ---- a graph! on a pool of the caller's -----------------------------------------------

#[delayed]
fn submitted_inc(client: Client, x: u64) -> u64 {
    client.submit(inc, (x,)).result().unwrap()
}

/// A futures task of a one-thread client computes a `graph!` on a rayon pool of the
/// user's (`compute_on`), whose tasks submit to that client and wait: the task's wait
/// for the pool hands its place in the client's pool over, as `compute`'s does, so
/// the submitted tasks run.
#[test]
fn a_futures_task_computing_a_graph_on_its_own_pool_whose_tasks_wait_on_the_client() {
    within(LIMIT, "compute_on in a futures task", || {
        let client = client(1, "compute_on");
        let pool = Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap(),
        );
        let c = client.clone();
        let task = client.submit(
            move || {
                let g = graph!(|c: Client, x: u64| -> u64 {
                    add(submitted_inc(c, x), submitted_inc(c, x + 1))
                });
                g.compute_on(&pool, c.clone(), 1)
            },
            (),
        );
        assert_eq!(task.result().unwrap(), inc(1) + inc(2));
    });
}

/// Tasks of a `graph!` computed on a pool of the user's inside a futures task find the
/// task's client with `get_client`, as those of `compute` do.
#[test]
fn get_client_in_a_graph_computed_on_a_pool_of_the_users_inside_a_futures_task() {
    #[delayed]
    fn found(_x: u64) -> bool {
        taskweave::get_client().is_some()
    }
    within(LIMIT, "get_client under compute_on", || {
        let client = client(1, "found");
        let pool = Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap(),
        );
        let task = client.submit(
            move || {
                let g = graph!(|x: u64| -> (bool, bool) { (found(x), found(x + 1)) });
                (g.compute(1), g.compute_on(&pool, 1))
            },
            (),
        );
        assert_eq!(task.result().unwrap(), ((true, true), (true, true)));
    });
}

/// A futures task computes a `graph!` on a pool of the user's whose task waits for
/// that futures task's own future: the wait fails as one that could never end, as it
/// does under `compute`.
#[test]
fn a_graph_on_a_pool_of_the_users_waiting_for_the_task_that_computes_it() {
    within(LIMIT, "compute_on waits for its computer", || {
        let client = client(1, "self-waiting compute_on");
        let pool = Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap(),
        );
        let me = Arc::new(OnceLock::<Future<u64>>::new());
        let slot = me.clone();
        let task = client
            .task(move || {
                let g = graph!(|s: Arc<OnceLock<Future<u64>>>| -> u64 {
                    add(waits_for(s, 1), waits_for(s, 2))
                });
                g.compute_on(&pool, slot.clone())
            })
            .named("computes_on")
            .submit(());
        assert!(me.set(task.clone()).is_ok());
        assert_eq!(task.result().unwrap(), 2003);
    });
}

/// A futures task of a one-thread client computes a `graph!`, here and on a pool of
/// the user's, whose task submits to the client and waits for that task's word on a
/// channel (not a library wait, so inside `Client::secede`): the submitted task runs
/// on the place the wait gives over, wherever the graph's task runs.
#[test]
fn a_graph_on_a_pool_of_the_users_waiting_on_a_channel_for_a_task_of_the_client() {
    #[delayed]
    fn told_by_a_task(c: Client, x: u64) -> u64 {
        let (tell, told) = mpsc::channel();
        let tell = Mutex::new(tell);
        let _future = c.submit(
            move |x: u64| tell.lock().unwrap().send(x + 1).unwrap(),
            (x,),
        );
        c.secede(|| told.recv().unwrap())
    }
    within(LIMIT, "compute_on, channel wait", || {
        let client = client(1, "channel");
        let pool = Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap(),
        );
        let c = client.clone();
        let task = client.submit(
            move || {
                let g = graph!(|c: Client, x: u64| -> u64 { inc(told_by_a_task(c, x)) });
                (g.compute(c.clone(), 1), g.compute_on(&pool, c.clone(), 1))
            },
            (),
        );
        assert_eq!(task.result().unwrap(), (3, 3));
    });
}

// ---- a client's persist inside a futures task ------------------------------------------

/// A futures task persists, on its own client and on another (`client.persist`,
/// `try_persist`), a graph whose task waits for that futures task's own future: the
/// wait fails as one that could never end, as it does under `Delayed::persist`, and
/// the task ends.
#[test]
fn a_clients_persist_in_a_futures_task_of_a_graph_waiting_for_that_task() {
    within(LIMIT, "persist waits for its caller", || {
        for (other, try_it) in [(false, false), (false, true), (true, false), (true, true)] {
            let client = client(2, "persisting");
            let elsewhere = self::client(1, "elsewhere");
            let me = Arc::new(OnceLock::<Future<u64>>::new());
            let slot = me.clone();
            let task = client
                .task(move || {
                    let on = if other {
                        elsewhere.clone()
                    } else {
                        taskweave::get_client().unwrap()
                    };
                    let s = slot.clone();
                    let waits = delayed(move |i: u64| waits_for(s.clone(), i)).call(1u64);
                    let beside = delayed(|i: u64| i).call(2u64);
                    let both = delayed(add).call(waits, beside);
                    let kept = if try_it {
                        on.try_persist(&both).unwrap()
                    } else {
                        on.persist(&both)
                    };
                    kept.compute()
                })
                .named("persists")
                .submit(());
            assert!(me.set(task.clone()).is_ok());
            assert_eq!(task.result().unwrap(), 1003, "other {other}, try {try_it}");
        }
    });
}

/// A task of a graph that `client.compute` runs persists, on that client and on
/// another, a graph whose task waits for the compute's own future: the wait is the
/// compute's, and fails as one that could never end.
#[test]
fn a_clients_persist_in_a_computes_graph_task_waiting_for_that_compute() {
    within(LIMIT, "persist in a compute waits for it", || {
        for other in [false, true] {
            let client = client(2, "computing");
            let elsewhere = self::client(1, "elsewhere");
            let me = Arc::new(OnceLock::<Future<u64>>::new());
            let slot = me.clone();
            let persists = delayed(move |_: u64| {
                let on = if other {
                    elsewhere.clone()
                } else {
                    taskweave::get_client().unwrap()
                };
                let s = slot.clone();
                let waits = delayed(move |i: u64| waits_for(s.clone(), i)).call(1u64);
                on.persist(&waits).compute()
            })
            .named("persists")
            .call(0u64);
            let computed = client.compute(&persists);
            assert!(me.set(computed.clone()).is_ok());
            assert_eq!(computed.result().unwrap(), 1001, "other {other}");
        }
    });
}

// ---- computes nested in computes ----------------------------------------------------

/// A level of computes nested in computes: a graph (two tasks) that `client.compute`
/// runs, one task of which computes the level below on the client it finds with
/// `get_client` and waits for it; level `boom` panics.
fn compute_level(n: u64, boom: u64) -> u64 {
    if n == boom {
        panic!("boom at level {n}");
    }
    if n == 0 {
        return 0;
    }
    let client = taskweave::get_client().expect("a graph task of a compute");
    let down = delayed(move |n: u64| compute_level(n - 1, boom))
        .named("down")
        .call(n);
    let sum = delayed(add).call(down, n);
    match client.compute(&sum).result() {
        Ok(v) => v,
        Err(e) => reraise(e),
    }
}

/// Computes nested in computes, 300 deep, on a one-thread client, failing at the
/// bottom: the message stays the bottom's, and nothing hangs or overflows.
#[test]
fn computes_nested_300_deep_fail_at_the_bottom() {
    within(LIMIT, "computes in computes", || {
        let client = client(1, "nested computes");
        let top = |boom: u64| {
            let down = delayed(move |n: u64| compute_level(n, boom)).call(300u64);
            client.compute(&down).result()
        };
        assert_eq!(top(u64::MAX).unwrap(), 300 * 301 / 2);
        for boom in [0, 150] {
            let error = top(boom).unwrap_err().to_string();
            assert!(error.contains(&format!("boom at level {boom}")), "{error}");
            assert!(error.len() < 400, "{} bytes: {error}", error.len());
        }
    });
}

// ---- a graph! in a cancelled futures task --------------------------------------------

#[delayed]
fn step(x: u64, gate: Arc<(Mutex<Option<mpsc::Receiver<()>>>, AtomicUsize)>) -> u64 {
    gate.1.fetch_add(1, Ordering::SeqCst);
    let first = gate.0.lock().unwrap().take();
    if let Some(wait) = first {
        let _ = wait.recv();
    }
    x + 1
}

/// A futures task computes a long `graph!` chain following the task
/// (`stop_when(taskweave::cancelled)`), and is cancelled while a node waits: the node
/// finishes, no node starts after it, and the task ends cancelled.
#[test]
fn a_static_graph_following_its_cancelled_futures_task_stops() {
    within(LIMIT, "graph! in a cancelled task", || {
        let client = client(1, "cancel graph!");
        let (open, wait) = mpsc::channel::<()>();
        let (entered_tx, entered) = mpsc::channel::<()>();
        let entered_tx = Mutex::new(entered_tx);
        let gate = Arc::new((Mutex::new(Some(wait)), AtomicUsize::new(0)));
        let g = gate.clone();
        let task = client.submit(
            move || {
                let chain = graph!(
                    |g: Arc<(Mutex<Option<mpsc::Receiver<()>>>, AtomicUsize)>| -> u64 {
                        let mut x = step(0, g);
                        for _ in 0..40 {
                            x = step(x, g);
                        }
                        x
                    }
                );
                entered_tx.lock().unwrap().send(()).unwrap();
                chain
                    .try_compute_with(
                        taskweave::RunOptions::new().stop_when(taskweave::cancelled),
                        g.clone(),
                    )
                    .map_err(|e| e.to_string())
            },
            (),
        );
        entered.recv().unwrap();
        // The first node has started once it took the gate.
        while gate.0.lock().unwrap().is_some() {
            std::thread::yield_now();
        }
        task.cancel();
        drop(open);
        assert!(matches!(task.result(), Err(FutureError::Cancelled { .. })));
        drop(client);
        assert_eq!(gate.1.load(Ordering::SeqCst), 1);
    });
}

// ---- one observer on every front end ----------------------------------------------

/// Counts every event, and panics in `task_started` of a node named `watched_bad`
/// and in `future_started` of a task named `future_bad`.
#[derive(Default)]
struct Watcher {
    graphs: AtomicUsize,
    graphs_ended: AtomicUsize,
    tasks: AtomicUsize,
    tasks_ended: AtomicUsize,
    futures: AtomicUsize,
    futures_ended: AtomicUsize,
}

impl taskweave::Observer for Watcher {
    fn graph_started(&self, _nodes: &[taskweave::NodeInfo<'_>]) {
        self.graphs.fetch_add(1, Ordering::SeqCst);
    }
    fn graph_finished(&self, _result: Result<(), &taskweave::TaskError>) {
        self.graphs_ended.fetch_add(1, Ordering::SeqCst);
    }
    fn task_started(&self, _node: u32, info: &taskweave::NodeInfo<'_>) {
        self.tasks.fetch_add(1, Ordering::SeqCst);
        if info.name() == "watched_bad" {
            panic!("the observer refuses `watched_bad`");
        }
    }
    fn task_finished(
        &self,
        _node: u32,
        _info: &taskweave::NodeInfo<'_>,
        _: taskweave::TaskOutcome,
    ) {
        self.tasks_ended.fetch_add(1, Ordering::SeqCst);
    }
    fn future_started(&self, task: &taskweave::FutureEvent<'_>) {
        if task.name == "future_bad" {
            panic!("the observer refuses `future_bad`");
        }
    }
    fn future_finished(&self, task: &taskweave::FutureEvent<'_>, outcome: taskweave::TaskOutcome) {
        if task.started || outcome != taskweave::TaskOutcome::Retried {
            self.futures_ended.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn future_submitted(&self, _task: &taskweave::FutureEvent<'_>) {
        self.futures.fetch_add(1, Ordering::SeqCst);
    }
}

#[delayed]
fn watched_bad(x: u64) -> u64 {
    x
}

/// One observer, a client's, watching futures, the graphs the client computes (whose
/// tasks submit futures), and `graph!`s and `Delayed` graphs run with it inside
/// futures tasks, while it panics in a graph hook and in a future hook: each graph
/// the hook panicked in fails naming the hook; every other value is right; every
/// start it was told of has its end, and every submitted future its final end.
#[test]
fn one_observer_on_every_front_end_panicking_in_some_hooks() {
    within(LIMIT, "observer everywhere", || {
        let watcher = Arc::new(Watcher::default());
        let client = Client::builder()
            .threads(2)
            .name("watched")
            .observer(watcher.clone())
            .build()
            .unwrap();
        let bad_future = client.task(|x: u64| x + 1).named("future_bad").submit((1,));
        let submits = delayed(|x: u64| {
            let c = taskweave::get_client().unwrap();
            c.submit(inc, (x,)).result().unwrap()
        })
        .call(5u64);
        let good = client.compute(&delayed(add).call(submits.clone(), 1u64));
        let bad = client.compute(&delayed(watched_bad).call(submits));
        let w = watcher.clone();
        let inside = client.submit(
            move |x: u64| {
                let options = taskweave::RunOptions::new().observer(w.clone());
                let fine = graph!(|x: u64| -> u64 { add(inc(x), inc(x)) });
                let fails = graph!(|x: u64| -> u64 { add(watched_bad(x), inc(x)) });
                let dynamic = delayed(watched_bad).call(delayed(inc).call(x));
                (
                    fine.try_compute_with(options.clone(), x).unwrap(),
                    fails
                        .try_compute_with(options.clone(), x)
                        .unwrap_err()
                        .to_string(),
                    dynamic.try_compute_with(options).unwrap_err().to_string(),
                )
            },
            (2,),
        );
        assert_eq!(bad_future.result().unwrap(), 2);
        assert_eq!(good.result().unwrap(), 7);
        let bad = bad.result().unwrap_err().to_string();
        let (fine, fails, dynamic) = inside.result().unwrap();
        assert_eq!(fine, 6);
        for error in [bad, fails, dynamic] {
            assert!(error.contains("task_started"), "{error}");
            assert!(error.contains("refuses `watched_bad`"), "{error}");
        }
        drop(client);
        let count = |a: &AtomicUsize| a.load(Ordering::SeqCst);
        assert_eq!(count(&watcher.graphs), count(&watcher.graphs_ended));
        assert_eq!(count(&watcher.tasks), count(&watcher.tasks_ended));
        assert_eq!(count(&watcher.futures), count(&watcher.futures_ended));
        // Two computes and the futures: `future_bad`, `inside`, the two graph tasks'.
        assert_eq!(count(&watcher.futures), 6);
    });
}

// ---- large values between front ends ------------------------------------------------

const LARGE: usize = 256 << 10;

fn large(seed: u8) -> [u8; LARGE] {
    let mut a = [0u8; LARGE];
    for (i, v) in a.iter_mut().enumerate() {
        *v = seed.wrapping_add(i as u8);
    }
    a
}

fn large_total(a: [u8; LARGE]) -> u64 {
    a.iter().map(|&v| u64::from(v)).sum()
}

/// A future's value of 256 KiB read by value and lent by tasks of a `Delayed` graph
/// (on rayon's 2 MiB threads, on this 2 MiB thread in order, on a client's compute),
/// by a task of another client, and a graph's result of that size scattered to a
/// client and read back: each as plain code computes it, in a debug build too, where
/// every frame a value passes through keeps a copy.
#[test]
fn large_future_values_read_by_graphs_and_other_clients() {
    within(LIMIT, "large values across", || {
        let a = client(1, "a");
        let b = client(1, "b");
        let value = a.submit(large, (3,));
        let expected = large_total(large(3));
        let by_value = delayed(large_total).call(&value);
        let lent = delayed(|a: &[u8; LARGE]| large_total(*a)).call(&value);
        let both = delayed(add).call(by_value, lent);
        assert_eq!(both.compute(), 2 * expected);
        assert_eq!(
            both.try_compute_with(taskweave::Scheduler::Sync).unwrap(),
            2 * expected
        );
        assert_eq!(b.compute(&both).result().unwrap(), 2 * expected);
        assert_eq!(b.submit(large_total, (&value,)).result().unwrap(), expected);
        let made = delayed(large).call(4u8).compute();
        let scattered = b.scatter(made);
        assert_eq!(
            delayed(large_total).call(&scattered).compute(),
            large_total(large(4))
        );
    });
}

// ---- thread starts refused ------------------------------------------------------------

/// The recursion through futures tasks and graphs (both kinds) on a client whose thread
/// starts fail, as when the system is out of processes: every wait still ends.
#[test]
fn recursion_across_front_ends_when_the_system_refuses_threads() {
    within(LIMIT, "recursion across, thread starts refused", || {
        for level in [dynamic_level as fn(u64, u64) -> u64, static_level] {
            let client = Client::builder()
                .threads(2)
                .name("refused across")
                .__thread_start_limit(5)
                .build()
                .unwrap();
            let sum = client.submit(level, (60, u64::MAX));
            assert_eq!(sum.result().unwrap(), 60 * 61 / 2);
            let error = client
                .submit(level, (60, 0))
                .result()
                .unwrap_err()
                .to_string();
            assert!(error.contains("boom at level 0"), "{error}");
        }
    });
}

// ---- long chains across clients ---------------------------------------------------------

/// A chain of 10,000 computes alternating between two clients, each a graph reading
/// the future of the one before: it runs to the value plain code computes; its root
/// failing, the last link's error names the root once; its last handle dropped while
/// the root still runs, every link is cancelled in bounded stack.
#[test]
fn a_chain_of_computes_alternating_between_two_clients() {
    const LINKS: u64 = 10_000;
    within(CHAIN_LIMIT, "alternating chain of computes", || {
        let clients = [client(1, "even"), client(1, "odd")];
        let step = |x: u64| x.wrapping_mul(3).wrapping_add(1);
        let chain = |root: Future<u64>| {
            let mut link = root;
            for i in 0..LINKS {
                let next = delayed(step).named("link").call(&link);
                link = clients[(i % 2) as usize].compute(&next);
            }
            link
        };
        let (root, open) = gated(&clients[0], 7);
        let last = chain(root);
        drop(open);
        assert_eq!(last.result().unwrap(), (0..LINKS).fold(7, |x, _| step(x)));

        let failing = clients[1].submit(|| -> u64 { panic!("the root fails") }, ());
        let error = chain(failing).result().unwrap_err().to_string();
        assert!(error.starts_with("task `link`"), "{error}");
        assert!(error.ends_with("panicked: the root fails"), "{error}");
        assert_eq!(error.matches("has no result").count(), 1, "{error}");

        let (root, open) = gated(&clients[1], 7);
        let (told, ends) = mpsc::channel();
        root.add_done_callback(move |f| told.send(f.status()).unwrap());
        let mut link = root;
        for i in 0..LINKS {
            link = clients[(i % 2) as usize].compute(&delayed(step).call(link));
        }
        // Its picture walks the whole chain, through both clients.
        assert_eq!(link.info().len() as u64, LINKS + 1);
        drop(link);
        assert_eq!(ends.recv().unwrap(), Status::Cancelled);
        drop(open);
    });
}

/// A client's `gather` of futures of two clients, in a graph's task and from here,
/// while the other client is dropped with some of them pending: each ends with the
/// values, or with the cancel of one of the dropped client's futures, never hangs.
#[test]
fn gathers_over_two_clients_one_dropped_meanwhile() {
    within(LIMIT, "gather over two clients", || {
        let a = Client::builder()
            .threads(1)
            .name("a")
            .shutdown_timeout(Duration::from_millis(50))
            .build()
            .unwrap();
        let b = client(2, "b");
        let (blocked, open) = gated(&a, 1);
        let mine: Vec<Future<u64>> = (0..20u64).map(|i| b.submit(inc, (i,))).collect();
        let theirs: Vec<Future<u64>> = (0..20u64).map(|i| a.submit(add, (&blocked, i))).collect();
        let all: Vec<Future<u64>> = mine.iter().chain(&theirs).cloned().collect();
        let in_graph = {
            let all = all.clone();
            delayed(move |_: u64| {
                let client = taskweave::get_client().unwrap();
                client.gather(&all).map_or(0, |v| v.iter().sum::<u64>())
            })
            .call(0u64)
        };
        let from_graph = b.compute(&in_graph);
        let dropper = std::thread::spawn(move || drop(a));
        let here = b.gather(&all);
        drop(open);
        dropper.join().unwrap();
        let expected: u64 = (0..20u64).map(|i| i + 1).sum::<u64>() * 2;
        match here {
            Ok(values) => assert_eq!(values.iter().sum::<u64>(), expected),
            Err(e) => assert!(e.to_string().contains("cancelled"), "{e}"),
        }
        let got = from_graph.result().unwrap();
        assert!(got == expected || got == 0, "{got}");
        assert_eq!(b.gather(&mine).unwrap().iter().sum::<u64>(), expected / 2);
    });
}

// ---- futures released while graphs read them ----------------------------------------

/// A finished future of counted values read by a graph, cancelled (released) while the
/// graph runs, before its reader starts (the reader waits for a gated task), through
/// `Delayed::compute`, a prepared graph computed twice and `client.compute`: the
/// reader fails naming itself and the future (or the compute is cancelled with it),
/// and every value is dropped once.
#[test]
fn a_future_released_while_a_graph_that_reads_it_runs() {
    within(LIMIT, "future released mid-graph", || {
        let live = Arc::new(AtomicUsize::new(0));
        let client = client(2, "released");
        for shape in 0..3 {
            let l = live.clone();
            let value = client.submit(move || Counted::new(6, &l), ());
            value.result_shared().unwrap();
            let (open, gate) = mpsc::channel::<()>();
            let (entered, has_entered) = mpsc::channel::<()>();
            let (gate, entered) = (Mutex::new(gate), Mutex::new(entered));
            let gated = delayed(move |_: u64| {
                entered.lock().unwrap().send(()).unwrap();
                let _ = gate.lock().unwrap().recv();
                1u64
            })
            .call(0u64);
            let reader = delayed(|g: u64, c: &Counted| g + c.value)
                .named("reads_released")
                .call(gated, &value);
            let early = delayed(|c: Counted| c.value).call(&value);
            let both = delayed(|a: u64, b: u64| (a, b)).call(reader, early);
            let outcome: Result<(u64, u64), String> = match shape {
                0 => {
                    let handle = std::thread::spawn({
                        let both = both.clone();
                        move || both.try_compute().map_err(|e| e.to_string())
                    });
                    has_entered.recv().unwrap();
                    value.cancel();
                    drop(open);
                    handle.join().unwrap()
                }
                1 => {
                    let mut prepared = taskweave::prepare((&both,));
                    let handle = std::thread::spawn(move || {
                        let first = prepared.try_compute_with(Scheduler::Threads);
                        (first.map(|(v,)| v).map_err(|e| e.to_string()), prepared)
                    });
                    has_entered.recv().unwrap();
                    value.cancel();
                    drop(open);
                    let (first, mut prepared) = handle.join().unwrap();
                    // Again, the future released: a reader of it fails, naming it.
                    let again = prepared.try_compute_with(Scheduler::Threads).unwrap_err();
                    assert!(again.to_string().contains(&value.key()), "{again}");
                    drop(prepared);
                    first
                }
                _ => {
                    let computed = client.compute(&both);
                    has_entered.recv().unwrap();
                    value.cancel();
                    drop(open);
                    computed.result().map_err(|e| e.to_string())
                }
            };
            match outcome {
                Ok(values) => panic!("shape {shape}: read a released future: {values:?}"),
                Err(error) => assert!(
                    // Its reader, or the one that takes it by value if that one
                    // started after the release.
                    error.starts_with("task `") && error.contains(&value.key())
                        || shape == 2 && error.contains("cancelled"),
                    "shape {shape}: {error}"
                ),
            }
            assert_eq!(value.status(), Status::Cancelled);
            drop((value, both));
            assert_eq!(live.load(Ordering::SeqCst), 0, "shape {shape}");
        }
    });
}

/// The tasks of a client's `persist` (and of its `compute`) find that client with
/// `get_client`, called here, inside a task of the client, inside a task of another
/// client, and inside a graph task of another client's compute.
#[test]
fn get_client_in_a_persist_is_the_persisting_client_wherever_it_is_called() {
    fn here() -> String {
        format!("{:?}", taskweave::get_client())
    }
    fn persisted_here(client: &Client) -> (String, String) {
        let wide: Vec<Delayed<String>> = (0..4u64)
            .map(|i| delayed(move |_: u64| here()).call(i))
            .collect();
        let all = delayed(|v: Vec<String>| {
            assert!(v.windows(2).all(|w| w[0] == w[1]), "{v:?}");
            v[0].clone()
        })
        .call(wide);
        (
            client.persist(&all).compute(),
            client.compute(&all).result().unwrap(),
        )
    }
    within(LIMIT, "get_client in a persist", || {
        let a = client(2, "a");
        let b = client(2, "b");
        let mine = format!("{:?}", Some(b.clone()));
        let bb = b.clone();
        let in_a = a.submit(move || persisted_here(&bb), ());
        let bb = b.clone();
        let in_a_graph = a.compute(&delayed(move |_: u64| persisted_here(&bb)).call(0u64));
        let bb = b.clone();
        let in_b = b.submit(move || persisted_here(&bb), ());
        for (persisted, computed) in [
            persisted_here(&b),
            in_a.result().unwrap(),
            in_a_graph.result().unwrap(),
            in_b.result().unwrap(),
        ] {
            assert_eq!(persisted, mine);
            assert_eq!(computed, mine);
        }
    });
}

/// A pool of the user's with one thread, for `on_pool_level` and `mixed_down`.
static USER_POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();

#[delayed]
fn on_pool_down(n: u64, boom: u64) -> u64 {
    let client = taskweave::get_client().expect("a graph! task of a futures task");
    match client.submit(on_pool_level, (n - 1, boom)).result() {
        Ok(v) => v,
        Err(e) => reraise(e),
    }
}

/// As `static_level`, the `graph!` computed on a pool of the user's (`compute_on`)
/// with one thread, which every level's graph task holds while it waits for the level
/// below.
fn on_pool_level(n: u64, boom: u64) -> u64 {
    if n == boom {
        panic!("boom at level {n}");
    }
    if n == 0 {
        return 0;
    }
    let pool = USER_POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
    });
    let g = graph!(|n: u64, boom: u64| -> u64 { add(on_pool_down(n, boom), static_here(n)) });
    match g.try_compute_on(pool, n, boom) {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Futures tasks and `graph!`s computed on a one-thread pool of the user's nest 300
/// deep and fail at the bottom: once the pool's thread waits for a future, a graph
/// entered there runs on its caller's thread, as one entered in rayon's global pool
/// does when all of its workers wait. It was queued behind the waiting thread, and
/// three levels hung for ever.
#[test]
fn futures_and_graphs_on_a_pool_of_the_users_nest_300_deep() {
    within(
        LIMIT,
        "futures -> graph! on a user's pool -> futures",
        || recursion_across(on_pool_level, 300),
    );
}

#[delayed]
fn mixed_down(n: u64, boom: u64) -> u64 {
    // A task on rayon's global pool: the level's second graph on the user's pool.
    let pool = USER_POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
    });
    let g = graph!(|n: u64, boom: u64| -> u64 { add(mixed_submit(n, boom), static_here(0)) });
    match g.try_compute_on(pool, n, boom) {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

#[delayed]
fn mixed_submit(n: u64, boom: u64) -> u64 {
    let client = taskweave::get_client().expect("a graph! task of a futures task");
    match client.submit(mixed_level, (n - 1, boom)).result() {
        Ok(v) => v,
        Err(e) => reraise(e),
    }
}

/// A level of futures task -> `graph!` on rayon's global pool -> its task -> `graph!`
/// on the user's one-thread pool -> its task submits the level below and waits.
fn mixed_level(n: u64, boom: u64) -> u64 {
    if n == boom {
        panic!("boom at level {n}");
    }
    if n == 0 {
        return 0;
    }
    let g = graph!(|n: u64, boom: u64| -> u64 { add(mixed_down(n, boom), static_here(n)) });
    match g.try_compute(n, boom) {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The same through both pools at each level, the user's pool entered from a worker
/// of rayon's global pool: there too a graph entered while the user's pool's thread
/// waits for a future runs on its caller's thread. Queued behind it, four levels hung
/// for ever.
#[test]
fn futures_and_graphs_on_two_pools_nest_200_deep() {
    within(
        LIMIT,
        "futures -> graph! -> graph! on a user's pool -> futures",
        || recursion_across(mixed_level, 200),
    );
}

// ---- a client dropped under its computes -------------------------------------------------

/// Computes whose graph tasks submit to the client they find and wait, the client's
/// last handle dropped just after they are submitted, from another thread, many times:
/// each compute ends (its value, or cancelled), every task's wait ends, nothing hangs.
#[test]
fn a_client_dropped_while_its_computes_graph_tasks_submit() {
    within(LIMIT, "client dropped under computes", || {
        for round in 0..20u64 {
            let client = client(1 + (round % 2) as usize, "dropped under computes");
            let parts: Vec<Delayed<u64>> = (0..8u64)
                .map(|i| {
                    delayed(move |i: u64| match taskweave::get_client() {
                        Some(c) => c.submit(inc, (i,)).result().unwrap_or(0),
                        None => 0,
                    })
                    .call(i)
                })
                .collect();
            let total = delayed(|v: Vec<u64>| v.iter().sum::<u64>()).call(parts);
            let futures: Vec<Future<u64>> = (0..3).map(|_| client.compute(&total)).collect();
            std::thread::spawn(move || drop(client)).join().unwrap();
            for f in futures {
                match f.result() {
                    Ok(v) => assert!(v <= (1..=8u64).sum::<u64>(), "{v}"),
                    Err(FutureError::Cancelled { .. }) => {}
                    Err(e) => panic!("round {round}: {e}"),
                }
            }
        }
    });
}

/// `wait` for the first exception over futures of two clients and computes: the
/// failure of a compute on one client ends the wait while a future of the other is
/// still pending, and the pending one is in the second list.
#[test]
fn wait_for_the_first_exception_over_two_clients() {
    within(LIMIT, "first exception across clients", || {
        let a = client(1, "a");
        let b = client(1, "b");
        let (pending, open) = gated(&a, 1);
        let fails = b.compute(
            &delayed(|_: u64| -> u64 { panic!("the compute fails") })
                .named("fails")
                .call(0u64),
        );
        let fine = b.submit(inc, (1,));
        let all = [pending.clone(), fails.clone(), fine];
        let (done, not_done) = taskweave::wait(&all, taskweave::WaitMode::FirstException, None);
        assert!(done.iter().any(|f| f.key() == fails.key()));
        assert!(not_done.iter().any(|f| f.key() == pending.key()));
        assert!(fails
            .result()
            .unwrap_err()
            .to_string()
            .contains("the compute fails"));
        drop(open);
        assert_eq!(pending.result().unwrap(), 1);
    });
}
