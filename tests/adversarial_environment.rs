//! The environment around taskweave, adversarially, each shape that could hang under a
//! watchdog: its `TASKWEAVE_*` variables with values that are not UTF-8, hold control
//! characters or are 100,000 bytes long (each in a process of its own, since they are
//! read once per process), and an `on_warning` handler that computes graphs while told
//! of such a value (it hung: the handler's computes read the variable again, inside
//! the once-per-process read that was warning about it), or uses the client whose pool
//! asked first whether warnings are on (it hung: the pool asked under its lock, which
//! the handler's submit took again); pools of zero, one, 256, 2,000
//! refused half-way and `usize::MAX` threads, and a pool refused every thread past its
//! own while its tasks wait; `Duration::ZERO`, one nanosecond and `Duration::MAX` as
//! every timeout a client takes; clients made and dropped in loops on many threads, in
//! other clients' tasks, in dynamic and static graphs' tasks, in a `static` never
//! dropped, and in a thread local's destructor run after taskweave's own on that
//! thread; each front end run inside the user's rayon pools (one thread, 64 KiB
//! stacks, `install`, `par_iter`, `scope`, `compute_on`) and from threads of 64 to 256
//! KiB; `par_iter` items on the user's pools of 64 and 256 KiB stacks each waiting for
//! a future (the waiting worker runs other items meanwhile, each waiting in turn, up to
//! 32 deep: that overflowed a 256 KiB stack and aborted); a dynamic comb of 400 links
//! computed in such pools (the dispatcher's joins nest up to 128 deep: that overflowed
//! a 256 KiB stack and aborted), and static combs there, one on the dispatcher and one
//! a tree (its 23 nested joins of `u64`s overflowed a 64 KiB stack and aborted); long
//! dynamic chains and chains of futures dropped on a 64 KiB thread; a client's tasks using rayon while the user's own work holds rayon's global
//! pool; a client of 1,024 threads all busy at once; panics whose payload is no string
//! or whose `Drop` panics, under `catch_unwind`; a stop condition that panics; results
//! whose `Drop` panics outliving their client, or dropped by its only worker (a task
//! whose handle went while it ran, a `fire_and_forget` one); thread locals of a
//! client's workers whose destructors, run at its shutdown, use another client. And,
//! each in a process of its own: rayon's global pool built by the user with 128 KiB
//! stacks, graph tasks on it waiting for futures; `TASKWEAVE_SCHEDULER=sync` for every
//! front end at once; 1,000 clients made and dropped leaving no thread behind;
//! `RUST_BACKTRACE=1` with a panic hook of the user's in front of taskweave's.

#[path = "support/watchdog.rs"]
mod watchdog;

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

use taskweave::prelude::*;
use taskweave::{ClientError, RunOptions};
use watchdog::within;

const LIMIT: Duration = Duration::from_secs(60);

fn client(threads: usize) -> Client {
    Client::builder()
        .threads(threads)
        .name("adversarial-environment")
        .build()
        .unwrap()
}

/// A task that holds its client's thread until the sender is dropped or sends; returns
/// once it runs.
fn blocker(client: &Client) -> (Future<()>, mpsc::Sender<()>) {
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
    started_rx.recv().unwrap();
    (f, tx)
}

#[delayed]
fn add(a: u64, b: u64) -> u64 {
    a.wrapping_mul(31).wrapping_add(b)
}

#[delayed]
fn seed(i: u64) -> u64 {
    i * 7 + 1
}

/// A static graph of width two: it runs on the dispatcher, in rayon's pool.
fn diamond_plain(n: u64) -> u64 {
    add(add(seed(n), seed(n + 1)), add(seed(n + 2), seed(n + 3)))
}

fn diamond() -> impl Fn(u64) -> u64 {
    let g =
        graph!(|n: u64| -> u64 { add(add(seed(n), seed(n + 1)), add(seed(n + 2), seed(n + 3))) });
    move |n| g.compute(n)
}

/// A dynamic chain of `n` links over a fan-in of four.
fn dynamic_value(n: u64, scheduler: Scheduler) -> u64 {
    let parts: Vec<Delayed<u64>> = (0..4).map(|i| delayed(seed).call(i)).collect();
    let mut x = delayed(|v: Vec<u64>| v.iter().sum::<u64>()).call(parts);
    for i in 0..n {
        x = delayed(add).call(x, i);
    }
    x.try_compute_with(RunOptions::new().scheduler(scheduler))
        .unwrap()
}

fn dynamic_plain(n: u64) -> u64 {
    let mut x: u64 = (0..4).map(seed).sum();
    for i in 0..n {
        x = add(x, i);
    }
    x
}

// ---- thread-local destructors ------------------------------------------------------

/// Runs `body` in the destructor of a thread local that a fresh thread set up before
/// anything else, after `warm_up` used taskweave on that thread: destructors run in the
/// reverse order of their registration, so taskweave's own thread locals on that thread
/// are gone by the time `body` runs.
fn in_late_thread_local_destructor(
    warm_up: impl FnOnce() + Send + 'static,
    body: impl FnOnce() + Send + 'static,
) -> Result<(), String> {
    struct Late(
        Option<Box<dyn FnOnce() + Send>>,
        mpsc::Sender<Result<(), String>>,
    );
    impl Drop for Late {
        fn drop(&mut self) {
            let body = self.0.take().unwrap();
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).map_err(|payload| {
                    payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default()
                });
            let _ = self.1.send(outcome);
        }
    }
    thread_local! {
        static LATE: RefCell<Option<Late>> = const { RefCell::new(None) };
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        LATE.with(|late| *late.borrow_mut() = Some(Late(Some(Box::new(body)), tx)));
        warm_up();
    })
    .join()
    .unwrap();
    rx.recv().unwrap()
}

/// Uses a client from this thread, as a late destructor does after it: submits, reads
/// results, gathers a `map`, computes a graph over futures.
fn use_client_here(client: &Client) {
    let f = client.submit(|x: u64| x * 2, (21,));
    let g = client.submit(|x: u64| x * 3, (f.clone(),));
    assert_eq!(g.result().unwrap(), 126);
    let fs = client.map(|x: u64| x * x, 0..100u64);
    let total: u64 = client.gather(&fs).unwrap().into_iter().sum();
    assert_eq!(total, (0..100u64).map(|x| x * x).sum());
    let sum = delayed(add).call(f, 5);
    assert_eq!(client.compute(sum).result().unwrap(), add(42, 5));
    assert_eq!(
        wait(&[g], WaitMode::AllCompleted, Some(Duration::MAX))
            .1
            .len(),
        0
    );
}

/// A client's futures submitted, waited for and gathered in a thread local's
/// destructor after taskweave's own thread locals on that thread were destroyed (the
/// same done first on that thread, so that they exist).
#[test]
fn a_client_is_used_in_a_late_thread_local_destructor() {
    within(LIMIT, "futures in a late thread-local destructor", || {
        let client = Arc::new(client(2));
        let (c1, c2) = (client.clone(), client.clone());
        let outcome = in_late_thread_local_destructor(
            move || use_client_here(&c1),
            move || use_client_here(&c2),
        );
        assert_eq!(outcome, Ok(()));
    });
}

/// A client made, used and dropped in a late thread local's destructor.
#[test]
fn a_client_lives_and_dies_in_a_late_thread_local_destructor() {
    within(LIMIT, "client in a late thread-local destructor", || {
        let outcome = in_late_thread_local_destructor(
            || {
                use_client_here(&client(1));
                assert_eq!(diamond()(3), diamond_plain(3));
                assert_eq!(dynamic_value(10, Scheduler::Threads), dynamic_plain(10));
            },
            || {
                use_client_here(&client(2));
                assert_eq!(diamond()(5), diamond_plain(5));
                assert_eq!(dynamic_value(10, Scheduler::Threads), dynamic_plain(10));
                assert_eq!(dynamic_value(10, Scheduler::Sync), dynamic_plain(10));
            },
        );
        assert_eq!(outcome, Ok(()));
    });
}

// ---- small stacks ------------------------------------------------------------------

/// Runs `body` on a thread of `stack` bytes.
fn on_stack<R: Send + 'static>(stack: usize, body: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(body)
        .unwrap()
        .join()
        .unwrap()
}

/// Each front end computed from threads of 64 to 256 KiB: what a plain call of the
/// same functions needs fits in far less.
#[test]
fn each_front_end_runs_from_a_thread_with_a_small_stack() {
    within(LIMIT, "front ends from small stacks", || {
        for stack in [64 << 10, 128 << 10, 256 << 10] {
            on_stack(stack, || {
                assert_eq!(diamond()(9), diamond_plain(9));
                for scheduler in [Scheduler::Sync, Scheduler::Threads] {
                    assert_eq!(dynamic_value(200, scheduler), dynamic_plain(200));
                }
                let c = client(2);
                let mut f = c.submit(|x: u64| x, (1,));
                for i in 0..200u64 {
                    f = c.submit(add, (f, i));
                }
                let mut x = 1;
                for i in 0..200u64 {
                    x = add(x, i);
                }
                assert_eq!(f.result().unwrap(), x);
            });
        }
    });
}

// ---- the user's own rayon ----------------------------------------------------------

/// Each front end computed where the user's rayon runs it: inside `install` of pools of
/// one and of four threads, with 64 KiB or default stacks, inside `par_iter` items and
/// `rayon::scope` spawns there, and in `compute_on` those pools.
#[test]
fn each_front_end_runs_inside_the_users_rayon_pools() {
    within(LIMIT, "front ends in the user's rayon pools", || {
        let c = Arc::new(client(2));
        for (threads, stack) in [
            (1, None),
            (1, Some(64 << 10)),
            (4, Some(64 << 10)),
            (4, None),
        ] {
            let mut builder = rayon::ThreadPoolBuilder::new().num_threads(threads);
            if let Some(stack) = stack {
                builder = builder.stack_size(stack);
            }
            let pool = builder.build().unwrap();
            let g = graph!(|n: u64| -> u64 {
                add(add(seed(n), seed(n + 1)), add(seed(n + 2), seed(n + 3)))
            });
            assert_eq!(g.compute_on(&pool, 4), diamond_plain(4));
            let every = |n: u64, c: &Client| {
                assert_eq!(diamond()(n), diamond_plain(n));
                for scheduler in [Scheduler::Sync, Scheduler::Threads] {
                    assert_eq!(dynamic_value(50, scheduler), dynamic_plain(50));
                }
                let mut f = c.submit(|x: u64| x, (n,));
                for i in 0..50u64 {
                    f = c.submit(add, (f, i));
                }
                let plain = (0..50u64).fold(n, add);
                assert_eq!(f.result().unwrap(), plain);
            };
            pool.install(|| every(1, &c));
            pool.install(|| {
                use rayon::prelude::*;
                (0..8u64).into_par_iter().for_each(|n| every(n, &c));
            });
            pool.install(|| {
                rayon::scope(|s| {
                    for n in 0..4u64 {
                        let c = &c;
                        s.spawn(move |_| every(n, c));
                    }
                })
            });
        }
    });
}

/// A client's tasks that use rayon themselves (`par_iter` in a task, `install` of a
/// pool of the task's own), with rayon's global pool also busy with the user's own
/// sleeping work meanwhile.
#[test]
fn a_clients_tasks_use_rayon_while_the_global_pool_is_busy() {
    within(LIMIT, "client tasks on rayon", || {
        use rayon::prelude::*;
        let c = client(2);
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let stop_rx = Mutex::new(stop_rx);
        // The user's own long work, on every thread of the global pool but one.
        let busy = rayon::current_num_threads().saturating_sub(1);
        let (started_tx, started_rx) = mpsc::channel();
        let hog = std::thread::spawn(move || {
            rayon::scope(|s| {
                for _ in 0..busy {
                    let (started_tx, stop_rx) = (started_tx.clone(), &stop_rx);
                    s.spawn(move |_| {
                        started_tx.send(()).unwrap();
                        let _ = stop_rx.lock().unwrap().recv_timeout(Duration::from_secs(5));
                    });
                }
            })
        });
        for _ in 0..busy {
            started_rx.recv().unwrap();
        }
        let fs = c.map(
            |n: u64| (0..n).into_par_iter().map(|i| i * i).sum::<u64>(),
            0..64u64,
        );
        let own = c.map(
            |n: u64| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(2)
                    .build()
                    .unwrap();
                pool.install(|| (0..n).into_par_iter().sum::<u64>())
            },
            0..8u64,
        );
        for (n, f) in fs.iter().enumerate() {
            let n = n as u64;
            assert_eq!(f.result().unwrap(), (0..n).map(|i| i * i).sum::<u64>());
        }
        for (n, f) in own.iter().enumerate() {
            assert_eq!(f.result().unwrap(), (0..n as u64).sum::<u64>());
        }
        assert_eq!(diamond()(7), diamond_plain(7));
        drop(stop_tx);
        hog.join().unwrap();
    });
}

// ---- many clients --------------------------------------------------------------

/// Clients made and dropped in loops on eight threads at once, each running a task;
/// then clients made and dropped inside other clients' tasks, inside dynamic and
/// static graphs' tasks.
#[test]
fn clients_are_made_and_dropped_everywhere() {
    within(LIMIT, "clients made and dropped", || {
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..25u64 {
                        let c = Client::builder()
                            .threads(1 + (i % 3) as usize)
                            .build()
                            .unwrap();
                        assert_eq!(c.submit(add, (t, i)).result().unwrap(), add(t, i));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let outer = client(2);
        let fs = outer.map(
            |i: u64| {
                let inner = client(1);
                let f = inner.submit(add, (i, 1));
                let value = f.result().unwrap();
                // Dropped inside a task (which does not wait for the pool's threads),
                // its future still holds the result.
                drop(inner);
                assert_eq!(f.result().unwrap(), value);
                value
            },
            0..16u64,
        );
        for (i, f) in fs.iter().enumerate() {
            assert_eq!(f.result().unwrap(), add(i as u64, 1));
        }
        let parts: Vec<Delayed<u64>> = (0..16u64)
            .map(|i| {
                delayed(|i: u64| {
                    let inner = client(1);
                    inner.submit(add, (i, 2)).result().unwrap()
                })
                .call(i)
            })
            .collect();
        let total = delayed(|v: Vec<u64>| v.iter().sum::<u64>()).call(parts);
        assert_eq!(total.compute(), (0..16u64).map(|i| add(i, 2)).sum::<u64>());
        let g = graph!(|n: u64| -> u64 { add(in_a_client(n), in_a_client(n + 1)) });
        assert_eq!(g.compute(3), add(add(3, 9), add(4, 9)));
    });
}

#[delayed]
fn in_a_client(n: u64) -> u64 {
    let inner = client(1);
    inner.submit(add, (n, 9)).result().unwrap()
}

/// A client in a `static` that is never dropped, used from several threads and from
/// its own tasks; the process ends with it alive (the test binary's exit).
#[test]
fn a_client_in_a_static_is_never_dropped() {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    within(LIMIT, "a client in a static", || {
        let c = CLIENT.get_or_init(|| client(2));
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                std::thread::spawn(move || {
                    let c = CLIENT.get().unwrap();
                    let f = c.submit(
                        |t: u64| {
                            let c = CLIENT.get().unwrap();
                            c.submit(add, (t, 5)).result().unwrap()
                        },
                        (t,),
                    );
                    f.result().unwrap()
                })
            })
            .collect();
        for (t, thread) in threads.into_iter().enumerate() {
            assert_eq!(thread.join().unwrap(), add(t as u64, 5));
        }
        // Work still queued when the test returns, and a task never waited for.
        let _left = c.map(|x: u64| x + 1, 0..1000u64);
    });
}

// ---- the pool's size -----------------------------------------------------------

/// Zero threads, too many, a name with a NUL byte: errors, not panics. One thread
/// and 256 work; a pool the system refuses half-way (a limit on thread starts) is an
/// error, and the threads it did start end.
#[test]
fn odd_pool_sizes_are_errors_or_work() {
    within(LIMIT, "odd pool sizes", || {
        assert_eq!(
            Client::builder().threads(0).build().unwrap_err(),
            ClientError::ZeroThreads
        );
        assert_eq!(
            Client::builder()
                .threads(Client::MAX_THREADS + 1)
                .build()
                .unwrap_err(),
            ClientError::TooManyThreads(Client::MAX_THREADS + 1)
        );
        assert_eq!(
            Client::builder().threads(usize::MAX).build().unwrap_err(),
            ClientError::TooManyThreads(usize::MAX)
        );
        assert!(matches!(
            Client::builder().name("a\0b").build().unwrap_err(),
            ClientError::InvalidName(_)
        ));
        for threads in [1, 256] {
            let c = Client::builder()
                .threads(threads)
                .max_threads(usize::MAX)
                .build()
                .unwrap();
            assert_eq!(c.threads(), threads);
            let fs = c.map(|x: u64| x * 3, 0..1000u64);
            assert_eq!(
                c.gather(&fs).unwrap(),
                (0..1000u64).map(|x| x * 3).collect::<Vec<_>>()
            );
        }
        let refused = Client::builder()
            .threads(2000)
            .__thread_start_limit(100)
            .build()
            .unwrap_err();
        assert!(matches!(refused, ClientError::Spawn(_)), "{refused:?}");
        assert!(refused.to_string().contains("thread"), "{refused}");
        // Refused past its own threads, while its tasks wait: they run the queued ones.
        let c = Client::builder()
            .threads(1)
            .max_threads(1)
            .__thread_start_limit(1)
            .build()
            .unwrap();
        let f = c.submit(
            |n: u64| {
                let c = taskweave::get_client().unwrap();
                let fs = c.map(|x: u64| x + 1, 0..n);
                c.gather(&fs).unwrap().into_iter().sum::<u64>()
            },
            (100,),
        );
        assert_eq!(f.result().unwrap(), (1..=100u64).sum());
    });
}

// ---- timeouts at their extremes ------------------------------------------------

/// `Duration::ZERO`, one nanosecond and `Duration::MAX` everywhere a timeout is taken,
/// on a future not done yet and on one done.
#[test]
fn timeouts_at_their_extremes() {
    within(LIMIT, "timeouts at their extremes", || {
        for shutdown in [Duration::ZERO, Duration::from_nanos(1), Duration::MAX] {
            let c = Client::builder()
                .threads(1)
                .shutdown_timeout(shutdown)
                .build()
                .unwrap();
            let (held, release) = blocker(&c);
            let pending = c.submit(|x: u64| x + 1, (1,));
            for t in [Duration::ZERO, Duration::from_nanos(1)] {
                assert!(matches!(
                    pending.result_timeout(t),
                    Err(FutureError::Timeout { .. })
                ));
                let (done, not_done) = wait(
                    std::slice::from_ref(&pending),
                    WaitMode::AllCompleted,
                    Some(t),
                );
                assert_eq!((done.len(), not_done.len()), (0, 1));
                let mut it = as_completed([pending.clone()]).timeout(t);
                assert!(it.next().unwrap().is_err());
            }
            release.send(()).unwrap();
            held.result().unwrap();
            assert_eq!(pending.result_timeout(Duration::MAX).unwrap(), 2);
            let (done, _) = wait(
                std::slice::from_ref(&pending),
                WaitMode::FirstCompleted,
                Some(Duration::MAX),
            );
            assert_eq!(done.len(), 1);
            let got: Vec<_> = as_completed([pending.clone()])
                .timeout(Duration::MAX)
                .map(|f| f.unwrap().result().unwrap())
                .collect();
            assert_eq!(got, [2]);
            for t in [Duration::ZERO, Duration::from_nanos(1), Duration::MAX] {
                assert_eq!(pending.result_timeout(t).unwrap(), 2);
            }
            // Dropped with a task still running: a short timeout leaves it to finish
            // on its own; no timeout (`Duration::MAX`) waits for it.
            let (held, release) = blocker(&c);
            if shutdown == Duration::MAX {
                drop(release);
                drop(c);
            } else {
                drop(c);
                drop(release);
            }
            held.result().unwrap();
        }
    });
}

// ---- panics with odd payloads ----------------------------------------------------

/// A payload whose `Drop` panics.
struct Grenade;

impl Drop for Grenade {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("a panic payload's drop panicked");
        }
    }
}

/// Tasks of each front end panicking with a payload that is no string (an integer, a
/// payload whose `Drop` panics): an error naming the task, not an abort; and the same
/// inside `catch_unwind` around the compute.
#[test]
fn panics_with_odd_payloads_are_errors_naming_the_task() {
    within(LIMIT, "odd panic payloads", || {
        let c = client(2);
        let f = c.submit(|_: u64| -> u64 { std::panic::panic_any(42u32) }, (1,));
        let e = f.result().unwrap_err().to_string();
        assert!(e.contains("adversarial_environment.rs"), "{e}");
        let f = c.submit(|_: u64| -> u64 { std::panic::panic_any(Grenade) }, (1,));
        assert!(f.result().is_err());
        drop(f);
        let d = delayed(|_: u64| -> u64 { std::panic::panic_any(Grenade) }).call(1);
        let e = d.try_compute().unwrap_err().to_string();
        assert!(e.contains("adversarial_environment.rs"), "{e}");
        let caught = std::panic::catch_unwind(|| {
            delayed(|_: u64| -> u64 { std::panic::panic_any(7u8) })
                .call(1)
                .compute()
        });
        assert!(caught.is_err());
        let caught = std::panic::catch_unwind(|| boom_graph()(1));
        assert!(caught.is_err());
        // Everything still works afterwards.
        assert_eq!(diamond()(2), diamond_plain(2));
        assert_eq!(c.submit(add, (1, 2)).result().unwrap(), add(1, 2));
    });
}

#[delayed]
fn grenade(x: u64) -> u64 {
    if x > 0 {
        std::panic::panic_any(Grenade);
    }
    x
}

fn boom_graph() -> impl Fn(u64) -> u64 {
    let g = graph!(|n: u64| -> u64 { add(grenade(n), seed(n)) });
    move |n| g.compute(n)
}

/// Results whose `Drop` panics, left in futures when the last handle of their client
/// and then the futures are dropped.
#[test]
fn results_whose_drop_panics_outlive_their_client() {
    within(LIMIT, "results whose drop panics", || {
        struct Loud(u64);
        impl Drop for Loud {
            fn drop(&mut self) {
                if self.0 % 2 == 1 && !std::thread::panicking() {
                    panic!("a result's drop panicked");
                }
            }
        }
        let c = client(2);
        let fs = c.map(|x: u64| Loud(x), 0..20u64);
        let (_, not_done) = wait(&fs, WaitMode::AllCompleted, None);
        assert!(not_done.is_empty());
        drop(c);
        for (i, f) in fs.into_iter().enumerate() {
            let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(f)));
            assert_eq!(dropped.is_err(), i % 2 == 1);
        }
    });
}

// ---- the environment -------------------------------------------------------------

/// Set in the environment of this binary run again by one of its tests.
const CHILD: &str = "TASKWEAVE_ENVIRONMENT_CHILD";

/// Runs the test `name` of this binary again in a process of its own with `env` set
/// (taskweave reads its variables once per process), and fails if it fails, if no test
/// of that name ran, or if it is still running after [`LIMIT`]. Returns its stderr.
fn in_a_process_of_its_own(name: &str, env: &[(&str, &std::ffi::OsStr)]) -> String {
    // Into files, not pipes: a child whose output filled a pipe nobody reads yet
    // would block.
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let base = std::env::temp_dir().join(format!(
        "taskweave-environment-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    let (out_path, err_path) = (base.with_extension("out"), base.with_extension("err"));
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .envs(env.iter().copied())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let stdout = String::from_utf8_lossy(&std::fs::read(&out_path).unwrap()).into_owned();
            let stderr = String::from_utf8_lossy(&std::fs::read(&err_path).unwrap()).into_owned();
            let _ = (
                std::fs::remove_file(&out_path),
                std::fs::remove_file(&err_path),
            );
            assert!(
                status.success(),
                "{name}, run alone: {status}\n{stdout}\n{stderr}"
            );
            assert!(
                stdout.contains("1 passed"),
                "{name} did not run alone: {stdout}"
            );
            return stderr;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            let _ = (
                std::fs::remove_file(&out_path),
                std::fs::remove_file(&err_path),
            );
            panic!("{name}, run alone with {env:?}: still running after {LIMIT:?}, a hang");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Run by [`a_warning_handler_computes_while_a_variable_is_read`] in a child process:
/// the handler computes graphs itself, which read the variable being warned about.
#[test]
fn warning_handler_computes_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let heard = Arc::new(Mutex::new(Vec::<String>::new()));
    let h = heard.clone();
    taskweave::on_warning(move |message| {
        h.lock().unwrap().push(message.to_owned());
        // A handler that logs through code of its own that uses taskweave.
        assert_eq!(dynamic_value(3, Scheduler::Threads), dynamic_plain(3));
        assert_eq!(diamond()(1), diamond_plain(1));
    });
    assert_eq!(dynamic_value(20, Scheduler::Threads), dynamic_plain(20));
    assert_eq!(diamond()(6), diamond_plain(6));
    let heard = heard.lock().unwrap();
    for var in [
        "TASKWEAVE_SCHEDULER",
        "TASKWEAVE_PROGRESS",
        "TASKWEAVE_WARNINGS",
    ] {
        if std::env::var_os(var).is_some() {
            assert_eq!(
                heard.iter().filter(|m| m.contains(var)).count(),
                1,
                "{heard:?}"
            );
        }
    }
}

/// A warning handler that computes graphs, told of an unknown value in each variable:
/// the handler's computes read the very variable it is being told about.
#[test]
fn a_warning_handler_computes_while_a_variable_is_read() {
    for var in [
        "TASKWEAVE_SCHEDULER",
        "TASKWEAVE_PROGRESS",
        "TASKWEAVE_WARNINGS",
    ] {
        in_a_process_of_its_own(
            "warning_handler_computes_child",
            &[(var, std::ffi::OsStr::new("bogus"))],
        );
    }
}

/// Run by [`odd_variable_values_are_ignored`] in a child process: every front end
/// works, with the default scheduler.
#[test]
fn odd_values_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    assert_eq!(RunOptions::new().effective_scheduler(), Scheduler::Threads);
    assert_eq!(dynamic_value(20, Scheduler::Threads), dynamic_plain(20));
    assert_eq!(diamond()(6), diamond_plain(6));
    let c = client(2);
    assert_eq!(c.submit(add, (1, 2)).result().unwrap(), add(1, 2));
}

/// Values that are not UTF-8, control characters, very long: ignored with a warning
/// that names the variable.
#[test]
fn odd_variable_values_are_ignored() {
    use std::os::unix::ffi::OsStrExt;
    let long = "s".repeat(100_000);
    let odd: [&std::ffi::OsStr; 4] = [
        std::ffi::OsStr::from_bytes(b"sy\xffnc"),
        std::ffi::OsStr::new("\u{1b}[2Jsync"),
        std::ffi::OsStr::new("sync\u{200b}"),
        std::ffi::OsStr::new(&long),
    ];
    for value in odd {
        let stderr = in_a_process_of_its_own(
            "odd_values_child",
            &[
                ("TASKWEAVE_SCHEDULER", value),
                ("TASKWEAVE_PROGRESS", value),
                ("TASKWEAVE_WARNINGS", value),
            ],
        );
        for var in [
            "TASKWEAVE_SCHEDULER",
            "TASKWEAVE_PROGRESS",
            "TASKWEAVE_WARNINGS",
        ] {
            assert_eq!(stderr.matches(&format!("{var}=")).count(), 1, "{stderr}");
        }
    }
}

/// Run by [`a_warning_handler_uses_the_client_whose_pool_warns_first`] in a child
/// process, before anything else reads `TASKWEAVE_WARNINGS`: a client of one thread at
/// most, whose task waits for a child, goes past its bound (and, with a limit on its
/// thread starts, is refused one) while its pool is locked; the handler told of the
/// variable's unknown value then uses that client.
#[test]
fn warning_handler_uses_the_pool_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    static CLIENT: OnceLock<Client> = OnceLock::new();
    let heard = Arc::new(Mutex::new(Vec::<String>::new()));
    let h = heard.clone();
    taskweave::on_warning(move |message| {
        h.lock().unwrap().push(message.to_owned());
        if let Some(c) = CLIENT.get() {
            let f = c.submit(|x: u64| x + 1, (1,));
            let _ = f.result_timeout(Duration::from_millis(1));
        }
    });
    let limit = std::env::var("TASKWEAVE_ENVIRONMENT_START_LIMIT")
        .map_or(usize::MAX, |l| l.parse().unwrap());
    let c = CLIENT.get_or_init(|| {
        Client::builder()
            .threads(1)
            .max_threads(1)
            .__thread_start_limit(limit)
            .build()
            .unwrap()
    });
    let f = c.submit(
        |n: u64| {
            let c = taskweave::get_client().unwrap();
            let child = c.submit(|n: u64| n * 2, (n,));
            // With a timeout, the waiter does not run the child itself: it sleeps,
            // and the pool, all its threads blocked, needs another.
            child.result_timeout(Duration::from_secs(50)).unwrap()
        },
        (21,),
    );
    assert_eq!(f.result().unwrap(), 42);
    let heard = heard.lock().unwrap();
    assert!(
        heard.iter().any(|m| m.contains("TASKWEAVE_WARNINGS")),
        "{heard:?}"
    );
}

/// The handler of the warning about `TASKWEAVE_WARNINGS`, first read while a
/// client's pool is locked (it is asked whether to warn that the pool grew past its
/// bound, or could not start a thread), submits to that client.
#[test]
fn a_warning_handler_uses_the_client_whose_pool_warns_first() {
    for limit in ["18446744073709551615", "1"] {
        in_a_process_of_its_own(
            "warning_handler_uses_the_pool_child",
            &[
                ("TASKWEAVE_WARNINGS", std::ffi::OsStr::new("bogus")),
                (
                    "TASKWEAVE_ENVIRONMENT_START_LIMIT",
                    std::ffi::OsStr::new(limit),
                ),
            ],
        );
    }
}

/// `par_iter` items on the user's rayon pools of small stacks (64 and 128 KiB, one and
/// two threads) each wait for a future not done yet: a waiting rayon worker runs its
/// own pending items meanwhile, each of which waits in turn, nested on its stack.
#[test]
fn rayon_workers_with_small_stacks_wait_for_futures_in_par_iter() {
    within(LIMIT, "par_iter waits on small stacks", || {
        use rayon::prelude::*;
        let c = client(2);
        for (threads, stack) in [(1, 64 << 10), (2, 64 << 10), (1, 256 << 10)] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .stack_size(stack)
                .build()
                .unwrap();
            let got: Vec<u64> = pool.install(|| {
                (0..256u64)
                    .into_par_iter()
                    .map(|i| {
                        let f = c.submit(
                            |i: u64| {
                                std::thread::sleep(Duration::from_millis(1));
                                add(i, 3)
                            },
                            (i,),
                        );
                        f.result().unwrap()
                    })
                    .collect()
            });
            assert_eq!(got, (0..256u64).map(|i| add(i, 3)).collect::<Vec<_>>());
        }
    });
}

/// A dynamic comb (each link has two successors: a leaf of its own and the next link,
/// so each link is a split of the dispatcher's) of 400 links, computed inside the
/// user's rayon pools of one and two threads with 64 to 256 KiB stacks, and on the
/// calling thread of a 64 KiB `std::thread` (`Scheduler::Sync`).
#[test]
fn a_comb_runs_inside_rayon_pools_with_small_stacks() {
    fn comb(scheduler: Scheduler) -> u64 {
        let mut x = delayed(seed).call(0);
        let mut leaves = Vec::new();
        for i in 0..400u64 {
            leaves.push(delayed(add).call(x.clone(), i));
            x = delayed(add).call(x, i + 1);
        }
        leaves.push(x);
        let total = delayed(|v: Vec<u64>| v.iter().fold(0u64, |a, &b| a.wrapping_add(b)));
        total
            .call(leaves)
            .try_compute_with(RunOptions::new().scheduler(scheduler))
            .unwrap()
    }
    fn comb_plain() -> u64 {
        let mut x = seed(0);
        let mut leaves = Vec::new();
        for i in 0..400u64 {
            leaves.push(add(x, i));
            x = add(x, i + 1);
        }
        leaves.push(x);
        leaves.iter().fold(0u64, |a, &b| a.wrapping_add(b))
    }
    within(LIMIT, "a comb in small-stack pools", || {
        let plain = comb_plain();
        for (threads, stack) in [(1, 64 << 10), (2, 64 << 10), (1, 256 << 10)] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .stack_size(stack)
                .build()
                .unwrap();
            for scheduler in [Scheduler::Sync, Scheduler::Threads] {
                assert_eq!(pool.install(|| comb(scheduler)), plain);
            }
        }
        assert_eq!(on_stack(64 << 10, || comb(Scheduler::Sync)), plain);
        assert_eq!(on_stack(64 << 10, || comb(Scheduler::Threads)), plain);
    });
}

#[delayed]
fn mix(a: u64, b: u64) -> u64 {
    a.wrapping_mul(3).wrapping_add(b)
}

/// Static graphs in the user's rayon pools of small stacks: a comb whose spine values
/// are each read twice (the dispatcher) and one whose values are read once (a tree of
/// nested joins, 23 deep), and both from a 64 KiB `std::thread`.
#[test]
fn static_combs_run_inside_rayon_pools_with_small_stacks() {
    fn shared_plain() -> u64 {
        let mut x = seed(0);
        let mut acc = seed(1);
        for i in 0..24u64 {
            acc = mix(acc, add(x, i));
            x = add(x, i + 1);
        }
        mix(acc, x)
    }
    fn tree_plain() -> u64 {
        let mut x = seed(0);
        for i in 1..24u64 {
            x = mix(x, seed(i));
        }
        x
    }
    let shared = graph!(|| -> u64 {
        let mut x = seed(0);
        let mut acc = seed(1);
        for i in 0..24 {
            acc = mix(acc, add(x, i));
            x = add(x, i + 1);
        }
        mix(acc, x)
    });
    let tree = graph!(|| -> u64 {
        let mut x = seed(0);
        for i in 1..24 {
            x = mix(x, seed(i));
        }
        x
    });
    assert!(tree.__runs_as_tree() && !shared.__runs_as_tree());
    within(LIMIT, "static combs in small-stack pools", move || {
        let (a, b) = (shared_plain(), tree_plain());
        for (threads, stack) in [(1, 64 << 10), (2, 64 << 10), (1, 256 << 10)] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .stack_size(stack)
                .build()
                .unwrap();
            assert_eq!(shared.compute_on(&pool), a);
            assert_eq!(tree.compute_on(&pool), b);
            assert_eq!(pool.install(|| (shared.compute(), tree.compute())), (a, b));
        }
        assert_eq!(
            on_stack(64 << 10, move || (shared.compute(), tree.compute())),
            (a, b)
        );
    });
}

/// Long graphs dropped on a thread of 64 KiB: a dynamic chain of 100,000 links never
/// computed, one computed, and a chain of 10,000 futures, its last handle dropped
/// first and then all at once.
#[test]
fn long_graphs_are_dropped_on_a_small_stack() {
    within(LIMIT, "long graphs dropped on a small stack", || {
        let c = Arc::new(client(2));
        on_stack(64 << 10, move || {
            let chain = |n: u64| {
                let mut x = delayed(seed).call(0);
                for i in 0..n {
                    x = delayed(add).call(x, i);
                }
                x
            };
            drop(chain(100_000));
            let x = chain(20_000);
            assert_eq!(x.compute(), (0..20_000u64).fold(seed(0), add));
            drop(x);
            let mut f = c.submit(|x: u64| x, (0,));
            let mut all = Vec::new();
            for i in 0..10_000u64 {
                all.push(f.clone());
                f = c.submit(add, (f, i));
            }
            assert_eq!(f.result().unwrap(), (0..10_000u64).fold(0, add));
            drop(f);
            drop(all);
        });
    });
}

/// Counts the drops of [`Loud`]s.
static LOUD_DROPS: AtomicUsize = AtomicUsize::new(0);

/// A result whose `Drop` panics (when not already unwinding).
struct Loud(u64);

impl Drop for Loud {
    fn drop(&mut self) {
        LOUD_DROPS.fetch_add(1, Ordering::Relaxed);
        if !std::thread::panicking() {
            panic!("Loud({}) dropped", self.0);
        }
    }
}

/// Results whose `Drop` panics, dropped by the client's only thread itself: the task's
/// future let go before it ended (so the worker drops the result it makes), a
/// `fire_and_forget` task, a task cancelled while queued whose argument panics when
/// dropped. The thread goes on: later tasks run, and the client shuts down.
#[test]
fn results_whose_drop_panics_are_dropped_on_the_clients_own_thread() {
    within(LIMIT, "result drops panicking on a worker", || {
        let c = Client::builder()
            .threads(1)
            .max_threads(1)
            .shutdown_timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let before = LOUD_DROPS.load(Ordering::Relaxed);
        // Running when its only handle goes: the worker drops the result it makes.
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (started_tx, go_rx) = (Mutex::new(started_tx), Mutex::new(go_rx));
        let running = c.submit(
            move |x: u64| {
                started_tx.lock().unwrap().send(()).unwrap();
                let _ = go_rx.lock().unwrap().recv();
                Loud(x)
            },
            (1,),
        );
        started_rx.recv().unwrap();
        drop(running);
        drop(go_tx);
        let (held, release) = blocker(&c);
        let forgotten = c.submit(|x: u64| Loud(x), (2,));
        c.fire_and_forget(forgotten);
        let loud_arg = c.scatter(0u64);
        let cancelled = c.submit(|x: u64, _: u64| Loud(x), (3, loud_arg));
        c.cancel(std::slice::from_ref(&cancelled));
        drop(release);
        held.result().unwrap();
        // The one thread is still there to run these.
        for i in 0..20u64 {
            assert_eq!(c.submit(add, (i, 1)).result().unwrap(), add(i, 1));
        }
        let f = c.submit(|x: u64| Loud(x), (4,));
        let _ = f.result_shared().unwrap();
        let dropping = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(f)));
        assert!(dropping.is_err());
        drop(c);
        // Loud(1), Loud(2) and Loud(4) were made and dropped once each; Loud(3) never ran.
        assert_eq!(LOUD_DROPS.load(Ordering::Relaxed) - before, 3);
    });
}

/// A stop condition that panics, on each scheduler and in a pool of the user's: the
/// compute fails with the panic (or stops), never aborts or hangs, and the next runs.
#[test]
fn a_stop_condition_that_panics() {
    within(LIMIT, "a stop condition that panics", || {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            let run = || {
                let mut x = delayed(seed).call(0);
                for i in 0..50u64 {
                    x = delayed(add).call(x, i);
                }
                let asked = AtomicUsize::new(0);
                let options = RunOptions::new().scheduler(scheduler).stop_when(move || {
                    if asked.fetch_add(1, Ordering::Relaxed) == 10 {
                        panic!("the stop condition panicked");
                    }
                    false
                });
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    x.try_compute_with(options)
                }))
            };
            for outcome in [run(), pool.install(run)] {
                match outcome {
                    Err(_) | Ok(Err(_)) => {}
                    Ok(Ok(v)) => panic!("a run whose stop condition panicked gave {v}"),
                }
            }
            assert_eq!(dynamic_value(20, scheduler), dynamic_plain(20));
        }
    });
}

/// A client of 1,024 threads (each started for real), its tasks all waiting at once on
/// a barrier, which they pass only if all of them run at the same time.
#[test]
fn a_client_of_a_thousand_threads() {
    within(LIMIT, "a client of 1,024 threads", || {
        let n = 1024;
        let c = Client::builder().threads(n).build().unwrap();
        let barrier = Arc::new(std::sync::Barrier::new(n));
        let fs = c.map(
            move |i: u64| {
                barrier.wait();
                i
            },
            0..n as u64,
        );
        assert_eq!(c.gather(&fs).unwrap(), (0..n as u64).collect::<Vec<_>>());
    });
}

/// Thread locals that a client's tasks leave on its worker threads, whose destructors
/// (run as each thread ends, at the client's shutdown) ask for the client of the thread
/// (none: no task runs) and submit to another client and wait for the result.
#[test]
fn worker_thread_local_destructors_use_clients_at_shutdown() {
    struct AtExit(Arc<Client>, mpsc::Sender<(bool, u64)>);
    impl Drop for AtExit {
        fn drop(&mut self) {
            let own = taskweave::get_client().is_some();
            let other = self.0.submit(add, (3, 4)).result().unwrap();
            let _ = self.1.send((own, other));
        }
    }
    thread_local! {
        static AT_EXIT: RefCell<Option<AtExit>> = const { RefCell::new(None) };
    }
    within(LIMIT, "worker thread-local destructors at shutdown", || {
        let other = Arc::new(client(1));
        let (tx, rx) = mpsc::channel();
        let c = Client::builder()
            .threads(2)
            .shutdown_timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let fs: Vec<_> = (0..8u64)
            .map(|i| {
                let (other, tx) = (other.clone(), Mutex::new(tx.clone()));
                c.submit(
                    move |i: u64| {
                        AT_EXIT.with(|a| {
                            a.borrow_mut().get_or_insert_with(|| {
                                AtExit(other.clone(), tx.lock().unwrap().clone())
                            });
                        });
                        i
                    },
                    (i,),
                )
            })
            .collect();
        drop(tx);
        for (i, f) in fs.iter().enumerate() {
            assert_eq!(f.result().unwrap(), i as u64);
        }
        drop(fs);
        drop(c);
        let ends: Vec<(bool, u64)> = rx.iter().collect();
        assert!(!ends.is_empty() && ends.len() <= 2, "{ends:?}");
        assert!(
            ends.iter().all(|&end| end == (false, add(3, 4))),
            "{ends:?}"
        );
    });
}

/// Run by [`rayons_global_pool_with_small_stacks`] in a child process: the user builds
/// rayon's global pool with 128 KiB stacks before anything else, then uses every front
/// end, graph tasks waiting for futures included.
#[test]
fn small_global_pool_child() {
    use rayon::prelude::*;
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .stack_size(128 << 10)
        .build_global()
        .unwrap();
    let c = Arc::new(client(2));
    // Graph tasks, on the global pool, each waiting for a future.
    let c2 = c.clone();
    let parts: Vec<Delayed<u64>> = (0..64u64)
        .map(|i| {
            let c = c2.clone();
            delayed(move |i: u64| {
                c.submit(
                    |i: u64| {
                        std::thread::sleep(Duration::from_micros(200));
                        add(i, 1)
                    },
                    (i,),
                )
                .result()
                .unwrap()
            })
            .call(i)
        })
        .collect();
    let total = delayed(|v: Vec<u64>| v.iter().sum::<u64>()).call(parts);
    assert_eq!(total.compute(), (0..64u64).map(|i| add(i, 1)).sum::<u64>());
    let got: Vec<u64> = (0..128u64)
        .into_par_iter()
        .map(|i| c.submit(add, (i, 2)).result().unwrap())
        .collect();
    assert_eq!(got, (0..128u64).map(|i| add(i, 2)).collect::<Vec<_>>());
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        assert_eq!(dynamic_value(300, scheduler), dynamic_plain(300));
    }
    assert_eq!(diamond()(8), diamond_plain(8));
    let fs = c.map(|n: u64| (0..n).into_par_iter().sum::<u64>(), 0..32u64);
    for (n, f) in fs.iter().enumerate() {
        assert_eq!(f.result().unwrap(), (0..n as u64).sum::<u64>());
    }
}

/// Rayon's global pool built by the user with small stacks.
#[test]
fn rayons_global_pool_with_small_stacks() {
    in_a_process_of_its_own("small_global_pool_child", &[]);
}

/// Run by [`everything_under_the_sync_scheduler_from_the_environment`] with
/// `TASKWEAVE_SCHEDULER=sync`: every front end, graphs computed by a client and inside
/// its tasks, graph tasks waiting for futures, graphs nested in graph tasks.
#[test]
fn sync_everywhere_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    assert_eq!(RunOptions::new().effective_scheduler(), Scheduler::Sync);
    let c = Arc::new(client(2));
    let x = delayed(add).call(delayed(seed).call(1), 2);
    assert_eq!(c.compute(x).result().unwrap(), add(seed(1), 2));
    let inner = c.submit(|n: u64| dynamic_value(n, Scheduler::Threads), (30,));
    assert_eq!(inner.result().unwrap(), dynamic_plain(30));
    let c2 = c.clone();
    let waits = delayed(move |i: u64| c2.submit(add, (i, 5)).result().unwrap()).call(3);
    let nested = delayed(|n: u64| diamond()(n) + dynamic_value(n, Scheduler::Threads)).call(4);
    let both = delayed(add).call(waits, nested);
    assert_eq!(
        both.compute(),
        add(add(3, 5), diamond_plain(4) + dynamic_plain(4))
    );
    assert_eq!(diamond()(8), diamond_plain(8));
}

/// `TASKWEAVE_SCHEDULER=sync` for a whole process.
#[test]
fn everything_under_the_sync_scheduler_from_the_environment() {
    in_a_process_of_its_own(
        "sync_everywhere_child",
        &[("TASKWEAVE_SCHEDULER", std::ffi::OsStr::new("SYNC"))],
    );
}

/// The number of threads of this process.
fn threads_now() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Run by [`a_thousand_clients_leave_no_thread_behind`] in a process of its own, where
/// no other test's threads come and go: 1,000 clients made, used and dropped in turn,
/// half of them from four threads at once, some with tasks still queued; then the
/// process has no more threads than before, but those still ending.
#[test]
fn many_clients_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let before = threads_now();
    let make_and_drop = |t: u64, n: u64| {
        for i in 0..n {
            let c = Client::builder()
                .threads(1 + (i % 2) as usize)
                .build()
                .unwrap();
            assert_eq!(c.submit(add, (t, i)).result().unwrap(), add(t, i));
            let _queued = c.map(|x: u64| x + 1, 0..(i % 5));
        }
    };
    make_and_drop(0, 500);
    let threads: Vec<_> = (1..=4u64)
        .map(|t| std::thread::spawn(move || make_and_drop(t, 125)))
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // (For the failure's message; a thread may end while it is listed.)
    let names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .collect();
    // A dropped client's last threads may still be ending (its drop waits for them
    // to stop running, not for the system to reap them): at most the two threads of
    // each of the last five clients (one per thread that made them), where a leak
    // would leave hundreds.
    assert!(threads_now() <= before + 10, "{before} before: {names:?}");
}

/// Clients made and dropped in loops leave no thread behind.
#[test]
fn a_thousand_clients_leave_no_thread_behind() {
    in_a_process_of_its_own("many_clients_child", &[]);
}

/// Run by [`panics_with_backtraces_from_the_environment`] with `RUST_BACKTRACE=1`
/// (taskweave then keeps each task panic's backtrace through a panic hook of its own
/// in front of the one in place) and a hook of the user's set after it: panics with odd
/// payloads in each front end are errors naming the task, with their backtrace.
#[test]
fn backtraces_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let c = client(2);
    // taskweave's hook is in place once a client exists; the user's goes in front.
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        s.fetch_add(1, Ordering::Relaxed);
        previous(info);
    }));
    let f = c.submit(|_: u64| -> u64 { std::panic::panic_any(9u16) }, (1,));
    let e = f.result().unwrap_err().to_string();
    assert!(e.contains("adversarial_environment.rs"), "{e}");
    assert!(f.traceback().unwrap().is_some());
    let d = delayed(|_: u64| -> u64 { std::panic::panic_any(Grenade) }).call(1);
    assert!(d.try_compute().is_err());
    let caught = std::panic::catch_unwind(|| boom_graph()(1));
    assert!(caught.is_err());
    assert!(seen.load(Ordering::Relaxed) >= 3);
    assert_eq!(c.submit(add, (1, 2)).result().unwrap(), add(1, 2));
}

/// `RUST_BACKTRACE=1` for a whole process, with a panic hook of the user's.
#[test]
fn panics_with_backtraces_from_the_environment() {
    in_a_process_of_its_own(
        "backtraces_child",
        &[("RUST_BACKTRACE", std::ffi::OsStr::new("1"))],
    );
}

/// Rayon's workers each wait for a future (`par_iter` items that submit and wait),
/// and the futures' tasks use rayon themselves (a `par_iter` on the same pool, from
/// the client's thread): their work is queued on the pool, whose every worker is
/// asleep in a wait for those very tasks. It hung for ever. Now a worker waiting for
/// a future looks again every few milliseconds while every worker of its pool waits
/// so, and runs work queued on the pool meanwhile: the tasks' `par_iter`s end, and so
/// do the waits. On the user's pool of two workers and of one (`install`), and on
/// rayon's global pool.
#[test]
fn rayon_workers_all_waiting_for_tasks_that_use_rayon_run_that_work() {
    within(LIMIT, "rayon workers wait for tasks using rayon", || {
        use rayon::prelude::*;
        let c = client(2);
        let expected: Vec<u64> = (0..16u64).map(|i| 100 * i + 4950).collect();
        for threads in [1, 2] {
            let pool = Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap(),
            );
            let got: Vec<u64> = pool.install(|| {
                (0..16u64)
                    .into_par_iter()
                    .map(|i| {
                        let pool = pool.clone();
                        let task = move |i: u64| {
                            pool.install(|| (0..100u64).into_par_iter().map(|x| x + i).sum::<u64>())
                        };
                        c.submit(task, (i,)).result().unwrap()
                    })
                    .collect()
            });
            assert_eq!(got, expected, "{threads} threads");
        }
        let got: Vec<u64> = (0..16u64)
            .into_par_iter()
            .map(|i| {
                let task = move |i: u64| (0..100u64).into_par_iter().map(|x| x + i).sum::<u64>();
                c.submit(task, (i,)).result().unwrap()
            })
            .collect();
        assert_eq!(got, expected, "the global pool");
    });
}
