//! Adversarial probes of the futures front end, on ground the other futures tests do
//! not cover: each shape that could hang or overflow runs under the watchdog.

#[path = "support/watchdog.rs"]
mod watchdog;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use taskweave::prelude::*;
use taskweave::{FutureEvent, Observer, TaskOutcome};

const LIMIT: Duration = Duration::from_secs(60);

fn client(threads: usize) -> Client {
    Client::builder()
        .threads(threads)
        .name("adversarial-futures")
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

/// A task that holds its thread until the sender is dropped or sends.
fn blocker(client: &Client) -> (Future<()>, mpsc::Sender<()>, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let rx = Mutex::new(rx);
    let started_tx = Mutex::new(started_tx);
    let f = client.submit(
        move || {
            started_tx.lock().unwrap().send(()).unwrap();
            let _ = rx.lock().unwrap().recv();
        },
        (),
    );
    (f, tx, started_rx)
}

/// A done callback of a future that fails waits for a dependent a thousand links down
/// the failure. It hung: the ends of the links between were queued on the thread that
/// ran the callback, to be told once it returned.
#[test]
fn a_done_callback_of_a_failing_future_waits_for_a_dependent_far_down() {
    watchdog::within(LIMIT, "callback waits far down a failure", || {
        let client = client(2);
        let (gate, release, started) = blocker(&client);
        started.recv().unwrap();
        let root = client.submit(|_: ()| -> i64 { panic!("root broke") }, (&gate,));
        let mut bottom = client.submit(inc, (&root,));
        for _ in 0..1_000 {
            bottom = client.submit(inc, (bottom,));
        }
        let (tell, told) = mpsc::channel();
        root.add_done_callback(move |_| {
            let _ = tell.send(bottom.result().map_err(|e| e.to_string()));
        });
        release.send(()).unwrap();
        let seen = told.recv().expect("the callback's wait returned");
        assert!(seen.unwrap_err().contains("root broke"));
    });
}

/// A done callback of a future cancelled from outside the pool waits for a dependent
/// two links down: it hung as the failure's did.
#[test]
fn a_done_callback_of_a_cancelled_future_waits_for_a_dependent_two_links_down() {
    watchdog::within(LIMIT, "callback waits two links down a cancel", || {
        let client = client(2);
        let (gate, release, started) = blocker(&client);
        started.recv().unwrap();
        let root = client.submit(|_: ()| 1i64, (&gate,));
        let middle = client.submit(inc, (&root,));
        let bottom = client.submit(inc, (&middle,));
        let (tell, told) = mpsc::channel();
        root.add_done_callback(move |_| {
            let _ = tell.send(bottom.result().map_err(|e| e.to_string()));
        });
        root.cancel();
        let seen = told.recv().expect("the callback's wait returned");
        assert!(seen.unwrap_err().contains("cancelled"));
        release.send(()).unwrap();
    });
}

/// Cancelling a finished root whose cancel reaches a pending dependent first, whose
/// done callback waits for a pending dependent of another finished dependent of the
/// root: the cancel goes on to that one only after the callback.
#[test]
fn a_done_callback_run_by_a_cancel_waits_for_a_dependent_the_cancel_reaches_later() {
    watchdog::within(LIMIT, "callback waits for a later cancel", || {
        let client = client(2);
        let (gate, release, started) = blocker(&client);
        started.recv().unwrap();
        let root = client.submit(|| 1i64, ());
        root.result().unwrap();
        let finished = client.submit(inc, (&root,));
        finished.result().unwrap();
        let far = client.submit(|x: i64, _: ()| x, (&finished, &gate));
        let near = client.submit(|x: i64, _: ()| x, (&root, &gate));
        let (tell, told) = mpsc::channel();
        near.add_done_callback(move |_| {
            let _ = tell.send(far.result().map_err(|e| e.to_string()));
        });
        root.cancel();
        let seen = told.recv().expect("the callback's wait returned");
        assert!(seen.unwrap_err().contains("cancelled"));
        assert!(near.cancelled() && finished.cancelled());
        release.send(()).unwrap();
    });
}

/// `client.cancel(&[a, b])`: `a`'s done callback waits for `b`, which the same call
/// cancels after `a`.
#[test]
fn a_done_callback_run_by_a_cancel_of_several_waits_for_a_later_one() {
    watchdog::within(
        LIMIT,
        "callback waits for a later future of the cancel",
        || {
            let client = client(2);
            let (gate, release, started) = blocker(&client);
            started.recv().unwrap();
            let a = client.submit(|_: ()| 1i64, (&gate,));
            let b = client.submit(|_: ()| 2i64, (&gate,));
            let (tell, told) = mpsc::channel();
            let waited = b.clone();
            a.add_done_callback(move |_| {
                let _ = tell.send(waited.result().map_err(|e| e.to_string()));
            });
            client.cancel(&[a, b]);
            let seen = told.recv().expect("the callback's wait returned");
            assert!(seen.unwrap_err().contains("cancelled"));
            release.send(()).unwrap();
        },
    );
}

/// Dropping the last client while a pending task's done callback waits for other
/// pending tasks, which the shutdown cancels after it (the running task that holds
/// them back is let go once every callback has returned).
#[test]
fn a_done_callback_run_by_a_shutdown_waits_for_tasks_it_cancels_later() {
    watchdog::within(
        LIMIT,
        "callback waits for a later task of the shutdown",
        || {
            let client = client(1);
            let (gate, release, started) = blocker(&client);
            started.recv().unwrap();
            let (tell, told) = mpsc::channel();
            let mut futures: Vec<_> = (0..8i64)
                .map(|i| client.submit(move |_: ()| i, (&gate,)))
                .collect();
            for (at, future) in futures.iter().enumerate() {
                let others: Vec<_> = futures.iter().skip(at + 1).cloned().collect();
                let tell = tell.clone();
                future.add_done_callback(move |_| {
                    for other in others {
                        let _ = tell.send(other.result().map_err(|e| e.to_string()));
                    }
                });
            }
            drop(tell);
            for future in futures.drain(..) {
                client.fire_and_forget(future);
            }
            let releaser = std::thread::spawn(move || {
                let seen: Vec<_> = told.iter().take(28).collect();
                release.send(()).unwrap();
                seen
            });
            drop(gate);
            drop(client);
            let seen = releaser.join().unwrap();
            assert_eq!(seen.len(), 28);
            assert!(seen
                .iter()
                .all(|r| r.as_ref().unwrap_err().contains("cancelled")));
        },
    );
}

/// Queued tasks run highest priority first, `i32::MIN` and `i32::MAX` included, equal
/// ones in the order they were submitted.
#[test]
fn priorities_order_queued_tasks_at_the_extremes() {
    watchdog::within(LIMIT, "priorities", || {
        let client = client(1);
        let (gate, release, started) = blocker(&client);
        started.recv().unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let prios = [0, i32::MIN, -1, i32::MAX, 1, i32::MIN + 1, i32::MAX - 1, 0];
        let futures: Vec<_> = prios
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let order = order.clone();
                client
                    .task(move || order.lock().unwrap().push((p, i)))
                    .priority(p)
                    .submit(())
            })
            .collect();
        release.send(()).unwrap();
        gate.result().unwrap();
        client.gather(&futures).unwrap();
        let got = order.lock().unwrap().clone();
        let mut want: Vec<_> = prios.iter().copied().zip(0..).collect();
        want.sort_by_key(|&(p, i)| (std::cmp::Reverse(p), i));
        assert_eq!(got, want);
    });
}

/// A dependent kept by `fire_and_forget` runs, and so does the dependency whose only
/// handle went before it ran.
#[test]
fn fire_and_forget_of_a_dependent_runs_its_dropped_dependency() {
    watchdog::within(LIMIT, "fire and forget", || {
        let client = client(2);
        let (gate, release, started) = blocker(&client);
        started.recv().unwrap();
        let a = client.submit(|_: ()| 1i64, (&gate,));
        let (tell, told) = mpsc::channel();
        let tell = Mutex::new(tell);
        let b = client.submit(
            move |x: i64| {
                tell.lock().unwrap().send(x + 1).unwrap();
            },
            (&a,),
        );
        drop(a);
        client.fire_and_forget(b);
        release.send(()).unwrap();
        drop(gate);
        assert_eq!(told.recv().unwrap(), 2);
    });
}

/// One task reading 100,000 futures in a `Vec` sums them; a failing one fails it,
/// naming the failed task.
#[test]
fn a_fan_in_of_100_000_futures_in_one_vec() {
    watchdog::within(LIMIT, "fan in", || {
        let client = client(2);
        let n = 100_000i64;
        let leaves = client.map(inc, 0..n);
        let total = client.submit(|xs: Vec<i64>| xs.iter().sum::<i64>(), (leaves.clone(),));
        assert_eq!(total.result().unwrap(), (1..=n).sum::<i64>());
        drop(total);
        drop(leaves);
        // One failing leaf fails the fan-in, naming the leaf.
        let mut leaves = client.map(inc, 0..n);
        leaves[n as usize / 2] = client
            .task(|x: i64| -> i64 { panic!("leaf {x} broke") })
            .named("broken_leaf")
            .submit((7,));
        let total = client.submit(|xs: Vec<i64>| xs.iter().sum::<i64>(), (leaves,));
        let err = total.result().unwrap_err();
        assert!(err.to_string().contains("broken_leaf"), "{err}");
    });
}

/// Dropping a pending fan-in of 100,000 futures that only it held cancels them all,
/// on a small stack, and none runs.
#[test]
fn a_pending_fan_in_of_100_000_dropped_on_a_small_stack() {
    watchdog::within(LIMIT, "fan in dropped", || {
        let client = client(1);
        let (gate, release, started) = blocker(&client);
        started.recv().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let leaves: Vec<_> = (0..100_000i64)
            .map(|i| {
                let r = r.clone();
                client.submit(
                    move |_: ()| {
                        r.fetch_add(1, Ordering::SeqCst);
                        i
                    },
                    (&gate,),
                )
            })
            .collect();
        let total = client.submit(|xs: Vec<i64>| xs.len(), (leaves,));
        on_small_stack(move || drop(total));
        release.send(()).unwrap();
        gate.result().unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    });
}

/// `info()` and `to_dot()` of a pending chain of 20,000 futures on a small stack.
#[test]
fn info_of_a_long_pending_chain_on_a_small_stack() {
    watchdog::within(LIMIT, "info chain", || {
        let client = client(1);
        let (gate, release, started) = blocker(&client);
        started.recv().unwrap();
        let mut x = client.submit(|_: ()| 0i64, (&gate,));
        for _ in 0..20_000 {
            x = client.submit(inc, (x,));
        }
        let (info, x) = on_small_stack(move || (x.info(), x));
        assert_eq!(info.nodes().len(), 20_002);
        let dot = on_small_stack(move || info.to_dot());
        assert!(dot.len() > 20_000);
        release.send(()).unwrap();
        assert_eq!(x.result().unwrap(), 20_000);
    });
}

/// A retried task that holds the last handle of its argument gets the value on every
/// attempt, not only the first.
#[test]
fn a_retried_task_gets_its_moved_argument_again() {
    watchdog::within(LIMIT, "retried moved arg", || {
        let client = client(2);
        let attempts = Arc::new(AtomicUsize::new(0));
        let a = client.submit(|| vec![1i64, 2, 3], ());
        let c = attempts.clone();
        let b = client
            .task(move |v: Vec<i64>| {
                if c.fetch_add(1, Ordering::SeqCst) < 2 {
                    panic!("flaky");
                }
                v.iter().sum::<i64>()
            })
            .retries(2)
            .submit((a,));
        assert_eq!(b.result().unwrap(), 6);
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
    });
}

/// A task that panics with a payload that is not a string, every retry, fails naming
/// itself and its call site.
#[test]
fn a_retried_task_with_a_non_string_panic_names_itself() {
    watchdog::within(LIMIT, "panic_any", || {
        let client = client(2);
        let f = client
            .task(|| -> i64 { std::panic::panic_any(42u32) })
            .retries(2)
            .named("numbers")
            .submit(());
        let err = f.result().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("numbers"), "{text}");
        assert!(text.contains("adversarial_futures.rs"), "{text}");
    });
}

/// `FirstException` stops at a dependent failed by its dependency; a cancelled future
/// is no exception, and the wait goes on to the end of the others.
#[test]
fn first_exception_counts_a_dependent_failed_by_its_dependency() {
    watchdog::within(LIMIT, "first exception dep", || {
        let client = client(2);
        let (gate, release, started) = blocker(&client);
        started.recv().unwrap();
        let bad = client.submit(|| -> i64 { panic!("root broke") }, ());
        let dependent = client.submit(inc, (&bad,));
        let slow = client.submit(|_: ()| 1i64, (&gate,));
        let (done, pending) = wait(
            &[dependent.clone(), slow.clone()],
            WaitMode::FirstException,
            None,
        );
        assert_eq!(done, std::slice::from_ref(&dependent));
        assert_eq!(pending, std::slice::from_ref(&slow));
        // A cancel is no exception: the wait goes on to the end of the others.
        let cancelled = client.submit(|_: ()| 2i64, (&gate,));
        cancelled.cancel();
        let waiter = {
            let futures = [cancelled.clone(), slow.clone()];
            std::thread::spawn(move || wait(&futures, WaitMode::FirstException, None))
        };
        release.send(()).unwrap();
        let (done, pending) = waiter.join().unwrap();
        assert_eq!(done, [cancelled, slow]);
        assert!(pending.is_empty());
        drop(gate);
    });
}

/// `Duration::MAX` is no deadline: a task waiting so for its own future gets the error
/// that says so (or fails), in `result_timeout`, `next_timeout` and `wait`.
#[test]
fn waits_with_duration_max_in_a_task_on_its_own_future_end() {
    watchdog::within(LIMIT, "max timeout self wait", || {
        let client = client(2);
        let (tx, rx) = mpsc::channel::<Future<i64>>();
        let rx = Mutex::new(rx);
        let f = client.submit(
            move || {
                let me = rx.lock().unwrap().recv().unwrap();
                match me.result_timeout(Duration::MAX) {
                    Err(FutureError::WaitsForItself { .. }) => 1,
                    other => panic!("unexpected {:?}", other.map(|_| ())),
                }
            },
            (),
        );
        tx.send(f.clone()).unwrap();
        assert_eq!(f.result().unwrap(), 1);

        let (tx, rx) = mpsc::channel::<Future<i64>>();
        let rx = Mutex::new(rx);
        let g = client.submit(
            move || {
                let me = rx.lock().unwrap().recv().unwrap();
                let mut it = as_completed([me]);
                match it.next_timeout(Duration::MAX) {
                    Err(FutureError::WaitsForItself { .. }) => 2,
                    other => panic!("unexpected {:?}", other.map(|_| ())),
                }
            },
            (),
        );
        tx.send(g.clone()).unwrap();
        assert_eq!(g.result().unwrap(), 2);

        let (tx, rx) = mpsc::channel::<Future<i64>>();
        let rx = Mutex::new(rx);
        let h = client.submit(
            move || {
                let me = rx.lock().unwrap().recv().unwrap();
                let _ = wait(&[me], WaitMode::AllCompleted, Some(Duration::MAX));
                3
            },
            (),
        );
        tx.send(h.clone()).unwrap();
        assert!(h.result().is_err());
    });
}

/// A done callback that adds a callback to its ended future runs it at once; one of a
/// cancelled future reads `Cancelled`.
#[test]
fn done_callbacks_that_add_callbacks_and_read_their_future() {
    watchdog::within(LIMIT, "callback adds callback", || {
        let client = client(2);
        let f = client.submit(|| 5i64, ());
        f.result().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        f.add_done_callback(move |g: &Future<i64>| {
            s.lock().unwrap().push(g.result().unwrap());
            let s2 = s.clone();
            g.add_done_callback(move |h: &Future<i64>| {
                s2.lock().unwrap().push(h.result().unwrap() * 10)
            });
        });
        assert_eq!(*seen.lock().unwrap(), [5, 50]);
        // On a cancelled one, the callback reads `Cancelled`.
        let (gate, release, started) = blocker(&client);
        started.recv().unwrap();
        let p = client.submit(|_: ()| 1i64, (&gate,));
        let s = seen.clone();
        p.add_done_callback(move |g: &Future<i64>| {
            assert!(matches!(g.result(), Err(FutureError::Cancelled { .. })));
            s.lock().unwrap().push(-1);
        });
        p.cancel();
        release.send(()).unwrap();
        gate.result().unwrap();
        assert_eq!(*seen.lock().unwrap(), [5, 50, -1]);
    });
}

/// A `max_threads` below `threads` builds a client that runs, or is refused.
#[test]
fn max_threads_below_threads() {
    watchdog::within(LIMIT, "max threads", || {
        let built = Client::builder().threads(4).max_threads(1).build();
        if let Ok(client) = built {
            let f = client.map(inc, 0..100);
            assert_eq!(client.gather(&f).unwrap().len(), 100);
        }
    });
}

/// A chain of 20,000 links alternating between two clients runs, and one pending at
/// its root is dropped on a small stack.
#[test]
fn a_chain_alternating_between_two_clients() {
    watchdog::within(LIMIT, "two client chain", || {
        let a = client(1);
        let b = client(1);
        let mut x = a.submit(|| 0i64, ());
        for i in 0..20_000 {
            x = if i % 2 == 0 {
                b.submit(inc, (x,))
            } else {
                a.submit(inc, (x,))
            };
        }
        assert_eq!(x.result().unwrap(), 20_000);
        let mut x = a.submit(|| 0i64, ());
        let (gate, release, started) = blocker(&a);
        started.recv().unwrap();
        x = a.submit(|x: i64, _: ()| x, (x, &gate));
        for i in 0..20_000 {
            x = if i % 2 == 0 {
                b.submit(inc, (x,))
            } else {
                a.submit(inc, (x,))
            };
        }
        on_small_stack(move || drop(x));
        release.send(()).unwrap();
        gate.result().unwrap();
    });
}

/// `scatter_pure` keys by type and by a float's bits: `1u8` and `1i8`, `0.0` and `-0.0`
/// are different futures, two NaNs of the same bits one.
#[test]
fn scatter_pure_keys_differ_by_type_and_float_bits() {
    let client = client(1);
    let a = client.scatter_pure(1u8);
    let b = client.scatter_pure(1i8);
    assert_ne!(a.key(), b.key());
    let z = client.scatter_pure(0.0f64);
    let nz = client.scatter_pure(-0.0f64);
    assert_ne!(z.key(), nz.key());
    assert_eq!(nz.result().unwrap().to_bits(), (-0.0f64).to_bits());
    let n1 = client.scatter_pure(f64::NAN);
    let n2 = client.scatter_pure(f64::NAN);
    assert_eq!(n1.key(), n2.key());
    let s1 = client.scatter_pure(String::from("x"));
    let s2 = client.scatter_pure("x");
    assert_eq!(s1.result().unwrap(), "x");
    assert_eq!(s2.result().unwrap(), "x");
}

/// A gather of 100,000 futures whose last fails returns its error, naming it;
/// `gather_skip` leaves it out.
#[test]
fn gather_of_100_000_with_the_last_failing() {
    watchdog::within(LIMIT, "gather last fails", || {
        let client = client(2);
        let mut fs = client.map(inc, 0..100_000);
        fs.push(
            client
                .task(|| -> i64 { panic!("last") })
                .named("the_last")
                .submit(()),
        );
        let err = client.gather(&fs).unwrap_err();
        assert!(err.to_string().contains("the_last"), "{err}");
        let ok = client.gather_skip(&fs).unwrap();
        assert_eq!(ok.len(), 100_000);
    });
}

/// A xorshift generator: the same graphs on every run of a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Random graphs whose done callbacks wait for later futures, cancelled and failing
/// at random from two threads while a gate holds part of them back: every future
/// ends, and every one that finished holds its plain computation's value. Without the
/// two fixes of `tell` and of cancels it hung, both times it was run so.
#[test]
fn random_graphs_with_waiting_callbacks_cancels_and_failures() {
    watchdog::within(LIMIT, "random graphs with waiting callbacks", || {
        for seed in 1..=40u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let client = client(1 + (seed % 2) as usize);
            let (gate, release, started) = blocker(&client);
            started.recv().unwrap();
            let n = 120;
            let mut futures: Vec<Future<i64>> = Vec::with_capacity(n);
            let mut deps_of: Vec<Vec<usize>> = Vec::with_capacity(n);
            let mut fails = Vec::with_capacity(n);
            for i in 0..n {
                let deps: Vec<usize> = if i == 0 {
                    vec![]
                } else {
                    (0..rng.below(3)).map(|_| rng.below(i)).collect()
                };
                let fail = rng.below(20) == 0;
                let gated = rng.below(4) == 0;
                let inputs: Vec<Future<i64>> = deps.iter().map(|&d| futures[d].clone()).collect();
                let g = if gated {
                    gate.clone()
                } else {
                    client.submit(|| (), ())
                };
                let f = client.submit(
                    move |xs: Vec<i64>, _: ()| {
                        if fail {
                            panic!("random failure");
                        }
                        xs.iter().sum::<i64>() + 1
                    },
                    (inputs, g),
                );
                futures.push(f);
                deps_of.push(deps);
                fails.push(fail);
            }
            let releaser = {
                let delay = rng.below(3);
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(delay as u64));
                    let _ = release.send(());
                })
            };
            for _ in 0..n / 3 {
                let i = rng.below(n - 1);
                let j = i + 1 + rng.below(n - i - 1);
                let later = futures[j].clone();
                futures[i].add_done_callback(move |_| {
                    let _ = later.result();
                });
            }
            let other: Vec<Future<i64>> = (0..4).map(|_| futures[rng.below(n)].clone()).collect();
            let canceller = std::thread::spawn(move || {
                for f in other {
                    f.cancel();
                }
            });
            for _ in 0..3 {
                let picks: Vec<Future<i64>> =
                    (0..3).map(|_| futures[rng.below(n)].clone()).collect();
                client.cancel(&picks);
            }
            canceller.join().unwrap();
            releaser.join().unwrap();
            let (_, pending) = wait(&futures, WaitMode::AllCompleted, None);
            assert!(pending.is_empty());
            // Plain computation: a node's value when every node under it finished.
            let mut value: Vec<Option<i64>> = vec![None; n];
            for i in 0..n {
                if fails[i] {
                    continue;
                }
                let mut sum = 0;
                let mut ok = true;
                for &d in &deps_of[i] {
                    match value[d] {
                        Some(v) => sum += v,
                        None => ok = false,
                    }
                }
                if ok {
                    value[i] = Some(sum + 1);
                }
            }
            for (i, f) in futures.iter().enumerate() {
                match f.result() {
                    Ok(v) => assert_eq!(Some(v), value[i], "seed {seed} node {i}"),
                    Err(FutureError::Cancelled { .. }) => {}
                    Err(FutureError::Task(_)) => assert!(
                        value[i].is_none() || deps_of[i].is_empty() && fails[i],
                        "seed {seed} node {i} failed though it computes"
                    ),
                    Err(other) => panic!("seed {seed} node {i}: {other}"),
                }
            }
            drop(gate);
        }
    });
}

/// Random graphs whose tasks also wait, inside their body, for earlier futures (so no
/// wait can be a cycle), on one or two threads, with cancels and failures: every
/// future ends, no wait is refused, and every finished one holds its value.
#[test]
fn random_graphs_of_tasks_that_wait_for_earlier_futures() {
    watchdog::within(LIMIT, "random graphs of waiting tasks", || {
        for seed in 1..=30u64 {
            let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
            let client = client(1 + (seed % 2) as usize);
            let (gate, release, started) = blocker(&client);
            started.recv().unwrap();
            let releaser = {
                let delay = rng.below(3) as u64;
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(delay));
                    let _ = release.send(());
                })
            };
            let n = 80;
            let mut futures: Vec<Future<i64>> = Vec::with_capacity(n);
            let mut model: Vec<Option<i64>> = Vec::with_capacity(n);
            for i in 0..n {
                let pick = |rng: &mut Rng, k: usize| -> Vec<usize> {
                    if i == 0 {
                        vec![]
                    } else {
                        (0..rng.below(k)).map(|_| rng.below(i)).collect()
                    }
                };
                let args = pick(&mut rng, 3);
                let waited = pick(&mut rng, 3);
                let fail = rng.below(25) == 0;
                let gated = rng.below(5) == 0;
                let inputs: Vec<Future<i64>> = args.iter().map(|&d| futures[d].clone()).collect();
                let held: Vec<Future<i64>> = waited.iter().map(|&d| futures[d].clone()).collect();
                let g = if gated {
                    gate.clone()
                } else {
                    client.submit(|| (), ())
                };
                let how = rng.below(3);
                let f = client.submit(
                    move |xs: Vec<i64>, _: ()| {
                        if fail {
                            panic!("random failure");
                        }
                        let waited: i64 = match how {
                            0 => held.iter().map(|f| f.result().unwrap()).sum(),
                            1 => taskweave::get_client()
                                .unwrap()
                                .gather(&held)
                                .unwrap()
                                .iter()
                                .sum(),
                            _ => as_completed(held.clone())
                                .map(|f| f.result().unwrap())
                                .sum(),
                        };
                        xs.iter().sum::<i64>() + waited + 1
                    },
                    (inputs, g),
                );
                futures.push(f);
                let value = (!fail)
                    .then(|| {
                        let a: Option<i64> = args.iter().map(|&d| model[d]).sum();
                        let w: Option<i64> = waited.iter().map(|&d| model[d]).sum();
                        Some(a? + w? + 1)
                    })
                    .flatten();
                model.push(value);
            }
            let other: Vec<Future<i64>> = (0..3).map(|_| futures[rng.below(n)].clone()).collect();
            let canceller = std::thread::spawn(move || {
                for f in other {
                    f.cancel();
                }
            });
            canceller.join().unwrap();
            releaser.join().unwrap();
            let (_, pending) = wait(&futures, WaitMode::AllCompleted, None);
            assert!(pending.is_empty());
            for (i, f) in futures.iter().enumerate() {
                match f.result() {
                    Ok(v) => assert_eq!(Some(v), model[i], "seed {seed} node {i}"),
                    Err(FutureError::Cancelled { .. }) => {}
                    Err(FutureError::Task(error)) => {
                        let text = error.to_string();
                        assert!(
                            !text.contains("itself") && !text.contains("cycle"),
                            "seed {seed} node {i}: {text}"
                        );
                    }
                    Err(other) => panic!("seed {seed} node {i}: {other}"),
                }
            }
            drop(gate);
        }
    });
}

/// A chain of 100,000 pending futures, each with a done callback, cancelled at its
/// root on a small stack: every callback runs once, after every link has ended. The
/// same chain failing at its root on a worker.
#[test]
fn a_long_chain_with_a_callback_on_every_link_cancelled_or_failing_at_its_root() {
    watchdog::within(LIMIT, "long chain of callbacks cancelled", || {
        let client = client(1);
        let (gate, release, started) = blocker(&client);
        started.recv().unwrap();
        let n = 100_000;
        let calls = Arc::new(AtomicUsize::new(0));
        let root = client.submit(|_: ()| 0i64, (&gate,));
        let mut links = Vec::with_capacity(n);
        let mut last = root.clone();
        for _ in 0..n {
            last = client.submit(inc, (last,));
            links.push(last.clone());
        }
        let last_link = last.clone();
        for link in &links {
            let calls = calls.clone();
            let last_link = last_link.clone();
            link.add_done_callback(move |f| {
                // The whole chain has ended by the time any callback runs.
                assert!(f.cancelled() && last_link.cancelled());
                calls.fetch_add(1, Ordering::SeqCst);
            });
        }
        drop((last, last_link));
        on_small_stack(move || root.cancel());
        assert_eq!(calls.load(Ordering::SeqCst), n);
        release.send(()).unwrap();
        gate.result().unwrap();

        let (gate, release, started) = blocker(&client);
        started.recv().unwrap();
        let root = client.submit(|_: ()| -> i64 { panic!("the root fails") }, (&gate,));
        let mut links = Vec::with_capacity(n);
        let mut last = root;
        for _ in 0..n {
            last = client.submit(inc, (last,));
            links.push(last.clone());
        }
        let (tell, told) = mpsc::channel();
        for link in &links {
            let tell = tell.clone();
            let last = last.clone();
            link.add_done_callback(move |f| {
                let both = f.exception().ok().flatten().is_some() && last.done();
                let _ = tell.send(both);
            });
        }
        drop((tell, last));
        release.send(()).unwrap();
        let seen: Vec<bool> = told.iter().take(n).collect();
        assert_eq!(seen.len(), n);
        assert!(seen.iter().all(|&both| both));
    });
}

/// A value whose `Drop` waits for the future in its slot.
struct WaitsWhenDropped(Arc<Mutex<Option<Future<i64>>>>, mpsc::Sender<String>);

impl Drop for WaitsWhenDropped {
    fn drop(&mut self) {
        if let Some(future) = self.0.lock().unwrap().take() {
            let seen = match future.result() {
                Ok(v) => v.to_string(),
                Err(e) => e.to_string(),
            };
            let _ = self.1.send(seen);
        }
    }
}

/// A cancel releases a finished value whose `Drop` waits for a dependent of a task the
/// same cancel ended just before: that end is told before the value is dropped.
#[test]
fn a_value_released_by_a_cancel_waits_for_a_dependent_of_a_task_the_cancel_ended() {
    watchdog::within(LIMIT, "drop waits for an end of the same cancel", || {
        let client = client(2);
        let (gate, release, started) = blocker(&client);
        started.recv().unwrap();
        let root = client.submit(|| 1i64, ());
        root.result().unwrap();
        let slot = Arc::new(Mutex::new(None));
        let (tell, told) = mpsc::channel();
        let tell = Mutex::new(tell);
        let kept = slot.clone();
        let holder = client.submit(
            move |_: i64| Arc::new(WaitsWhenDropped(kept.clone(), tell.lock().unwrap().clone())),
            (&root,),
        );
        holder.result().unwrap();
        // Reached by the cancel before `holder` (the last of the root's dependents).
        let pending = client.submit(|r: i64, _: ()| r, (&root, &gate));
        let below = client.submit(inc, (&pending,));
        *slot.lock().unwrap() = Some(below);
        drop(pending);
        root.cancel();
        assert!(told.recv().unwrap().contains("cancelled"));
        release.send(()).unwrap();
    });
}

/// An observer that, told a task named `watched` finished, waits for the future it
/// was given (the task's own, or a dependent's), and keeps what the wait gave.
#[derive(Default)]
struct WaitsWhenTold {
    target: Mutex<Option<Future<i64>>>,
    got: Mutex<Option<Result<i64, String>>>,
}

impl Observer for WaitsWhenTold {
    fn future_finished(&self, task: &FutureEvent<'_>, outcome: TaskOutcome) {
        if task.name != "watched" || outcome == TaskOutcome::Retried {
            return;
        }
        let target = self.target.lock().unwrap().take();
        if let Some(target) = target {
            let got = target.result().map_err(|e| e.to_string());
            *self.got.lock().unwrap() = Some(got);
        }
    }
}

/// An observer's `future_finished` of a task is told before the task's end, on the
/// task's thread: a wait there for the task's own future, or for one that needs it,
/// could never end. It fails as the task's own wait would (`WaitsForItself`), and the
/// task ends as usual. Both hung for ever.
#[test]
fn an_observer_waiting_in_future_finished_for_what_needs_the_task_is_refused() {
    for dependent in [false, true] {
        watchdog::within(LIMIT, "an observer waits for its task", move || {
            let observer = Arc::new(WaitsWhenTold::default());
            let client = Client::builder()
                .threads(2)
                .name("observer-waits")
                .observer(observer.clone())
                .build()
                .unwrap();
            let (gate, release, started) = blocker(&client);
            started.recv().unwrap();
            let watched = client.task(|_: ()| 41i64).named("watched").submit((&gate,));
            let after = client.submit(inc, (&watched,));
            let target = if dependent { &after } else { &watched };
            *observer.target.lock().unwrap() = Some(target.clone());
            release.send(()).unwrap();
            assert_eq!(watched.result().unwrap(), 41);
            assert_eq!(after.result().unwrap(), 42);
            let got = observer
                .got
                .lock()
                .unwrap()
                .take()
                .expect("the hook waited");
            let error = got.expect_err("a wait that could never end fails");
            assert!(error.contains("`watched`"), "{error}");
            assert!(error.contains("never end"), "{error}");
            assert_eq!(error.contains("`inc`"), dependent, "{error}");
        });
    }
}
