//! Small runs through every path of the engine that `unsafe` code serves, sized for
//! Miri, which checks them for undefined behaviour (`.ci/miri`: a use after free, a
//! value dropped twice or never, a data race, a borrow the aliasing model forbids):
//! `graph!`'s slots (values moved, lent to several readers, cloned, left unread by a
//! `?` or a panic) and its trees (values handed over by return, large ones in stack
//! room); dynamic nodes (chains, shared parents, `split`, fan-ins spilling their
//! parent lists, persisted values, failures at the root); futures (submit, `map`,
//! `gather`, `cancel`, `as_completed`, `wait`, `fire_and_forget`, a task's own
//! graph). Every value counts its drops, and each test checks them against the values
//! made, and results against the same functions called directly. Run as ordinary
//! tests too, in a few milliseconds.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use taskweave::prelude::*;
use taskweave::{compute_with, Scheduler};

/// A value that counts its clones and drops in its own counters.
struct Counted {
    value: u64,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    made: AtomicUsize,
    dropped: AtomicUsize,
}

impl Counts {
    fn new() -> Arc<Counts> {
        Arc::default()
    }

    fn make(self: &Arc<Self>, value: u64) -> Counted {
        self.made.fetch_add(1, Ordering::SeqCst);
        Counted {
            value,
            counts: self.clone(),
        }
    }

    /// Every value made was dropped once (a drop of one never made would count past).
    /// Waited for, a little: a run that failed returns its failure at once, while the
    /// tasks beside the failed one still run, and drop what they hold, on the pool.
    fn all_dropped(&self) {
        let start = std::time::Instant::now();
        while self.dropped.load(Ordering::SeqCst) < self.made.load(Ordering::SeqCst)
            && start.elapsed() < std::time::Duration::from_secs(30)
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(
            self.dropped.load(Ordering::SeqCst),
            self.made.load(Ordering::SeqCst),
            "values dropped against values made"
        );
    }
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.counts.make(self.value)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.counts.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

const SCHEDULERS: [Scheduler; 2] = [Scheduler::Sync, Scheduler::Threads];

#[delayed]
fn make(counts: Arc<Counts>, value: u64) -> Counted {
    counts.make(value)
}

#[delayed]
fn bump(x: Counted) -> Counted {
    x.counts.make(x.value + 1)
}

#[delayed]
fn peek(x: &Counted) -> u64 {
    x.value
}

#[delayed]
fn join(a: Counted, b: &Counted) -> Counted {
    a.counts.make(a.value * 10 + b.value)
}

#[delayed]
fn check(x: &Counted, limit: u64) -> Result<u64, String> {
    if x.value > limit {
        Err(format!("{} is over {limit}", x.value))
    } else {
        Ok(x.value)
    }
}

#[delayed]
fn fail_on(x: &Counted, on: u64) -> u64 {
    assert!(x.value != on, "failed on {on}");
    x.value
}

#[delayed]
fn sum(parts: &[u64]) -> u64 {
    parts.iter().sum()
}

#[delayed]
fn big(seed: u8) -> [u8; 40_000] {
    [seed; 40_000]
}

#[delayed]
fn mix(a: [u8; 40_000], b: [u8; 40_000]) -> u64 {
    a.iter().zip(b.iter()).map(|(x, y)| u64::from(x ^ y)).sum()
}

/// A value read by several tasks: lent to some, cloned and moved to others, in the
/// dispatcher's slots; the result matches the same calls made directly.
#[test]
fn static_slots_lend_clone_and_move_values() {
    let g = graph!(|counts: Arc<Counts>| -> (u64, u64) {
        let a = make(counts, 1);
        let b = bump(a.clone());
        let c = join(b, &a);
        let d = peek(&a);
        let e = peek(&c);
        (sum([d, e]), peek(&bump(c)))
    });
    for scheduler in SCHEDULERS {
        let counts = Counts::new();
        let got = g.compute_with(scheduler, counts.clone());
        let a = make(counts.clone(), 1);
        let c = join(bump(a.clone()), &a);
        let expected = (sum(&[peek(&a), peek(&c)]), peek(&bump(c)));
        drop(a);
        assert_eq!(got, expected, "{scheduler:?}");
        counts.all_dropped();
    }
}

/// A `?` that stops the graph leaves values unread in slots; each is dropped once.
#[test]
fn static_early_exit_drops_what_it_leaves() {
    let g = graph!(|counts: Arc<Counts>, limit: u64| -> Result<u64, String> {
        let a = make(counts, 5);
        let b = bump(a.clone());
        let ok = check(&a, limit)?;
        let later = check(&b, limit)?;
        Ok(sum([ok, later, peek(&b)]))
    });
    for scheduler in SCHEDULERS {
        for limit in [4, 5, 6, 7] {
            let counts = Counts::new();
            let got = g.compute_with(scheduler, counts.clone(), limit);
            let direct = (|| {
                let a = make(counts.clone(), 5);
                let b = bump(a.clone());
                let ok = check(&a, limit)?;
                let later = check(&b, limit)?;
                Ok(sum(&[ok, later, peek(&b)]))
            })();
            assert_eq!(got, direct, "{scheduler:?}, limit {limit}");
            counts.all_dropped();
        }
    }
}

/// A panic in one task while values are in flight: the run fails naming the task,
/// and every value is dropped once.
#[test]
fn static_panic_drops_values_in_flight() {
    let g = graph!(|counts: Arc<Counts>, on: u64| -> u64 {
        let a = make(counts, 1);
        let b = bump(a.clone());
        let c = bump(b.clone());
        sum([fail_on(&a, on), fail_on(&b, on), fail_on(&c, on), peek(&c)])
    });
    for scheduler in SCHEDULERS {
        for on in [1, 2, 3, 9] {
            let counts = Counts::new();
            let got = g.try_compute_with(scheduler, counts.clone(), on);
            match got {
                Ok(total) => assert_eq!((on, total), (9, 1 + 2 + 3 + 3)),
                Err(error) => {
                    assert!(on <= 3, "{error}");
                    assert!(error.to_string().contains("fail_on"), "{error}");
                }
            }
            counts.all_dropped();
        }
    }
}

/// Every value read once: the graph runs as nested joins, values handed over by
/// return; large ones (40 KB) go through stack room.
#[test]
fn static_trees_hand_values_over_by_return() {
    let small = graph!(|counts: Arc<Counts>| -> u64 {
        let a = bump(make(counts.clone(), 1));
        let b = bump(make(counts, 2));
        peek(&join(a, &b))
    });
    let large = graph!(|x: u8, y: u8| -> u64 { mix(big(x), big(y)) });
    for scheduler in SCHEDULERS {
        let counts = Counts::new();
        let got = small.compute_with(scheduler, counts.clone());
        let direct = peek(&join(
            bump(make(counts.clone(), 1)),
            &bump(make(counts.clone(), 2)),
        ));
        assert_eq!(got, direct, "{scheduler:?}");
        counts.all_dropped();
        assert_eq!(
            large.compute_with(scheduler, 3, 5),
            mix(big(3), big(5)),
            "{scheduler:?}"
        );
    }
}

/// Dynamic nodes: a chain, a node read by several, `split`, a fan-in of more parents
/// than its list holds inline, and a persisted node computed again.
#[test]
fn dynamic_nodes_share_split_and_fan_in() {
    let counts = Counts::new();
    let root = delay!(make(counts.clone(), 1));
    let mut x = root.clone();
    for _ in 0..5 {
        x = delay!(bump(x));
    }
    let joined = delay!(join(x.clone(), &root));
    let values: Vec<Delayed<u64>> = (0..6).map(|_| delay!(peek(&joined))).collect();
    let total = delay!(sum(values));
    let pair = delayed(|v: &Counted| (v.value, v.value * 2))
        .call(&joined)
        .split();
    let (first, second) = pair;
    for scheduler in SCHEDULERS {
        let got = compute_with(scheduler, (&total, &first, &second)).unwrap();
        let mut direct = make(counts.clone(), 1);
        let root_value = direct.clone();
        for _ in 0..5 {
            direct = bump(direct);
        }
        let joined_value = join(direct, &root_value);
        let expected = (
            peek(&joined_value) * 6,
            joined_value.value,
            joined_value.value * 2,
        );
        assert_eq!(got, expected, "{scheduler:?}");
    }
    let persisted = joined.persist();
    assert_eq!(delay!(peek(&persisted)).compute(), 61);
    drop((root, x, joined, total, first, second, persisted));
    counts.all_dropped();
}

/// A node named from two threads at once: each name is added after the last one met
/// (`Rare::last`, a pointer into the node's chain of names), a name lent before stays
/// valid, and the chain is freed once with the node.
#[test]
fn dynamic_names_added_from_two_threads() {
    let a = delay!(peek(&delay!(make(Counts::new(), 3)))).named("first");
    let first: &str = a.name();
    let b = a.clone();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut b = b;
            for i in 0..20 {
                b = b.named(format!("b{i}"));
                assert!(b.name().starts_with(['a', 'b']), "{}", b.name());
            }
        });
        let mut a = a.clone();
        for i in 0..20 {
            a = a.named(format!("a{i}"));
            // The other thread's names come in at any time.
            assert!(a.key().starts_with(['a', 'b']), "{}", a.key());
        }
    });
    assert_eq!(first, "first");
    assert!(["a19", "b19"].contains(&a.name()), "{}", a.name());
    assert_eq!(a.compute(), 3);
}

/// A dynamic graph failing at its root: the failure reaches the output through the
/// chain, and every value made is dropped once.
#[test]
fn dynamic_failure_at_the_root_drops_every_value() {
    for scheduler in SCHEDULERS {
        let counts = Counts::new();
        let root = delay!(make(counts.clone(), 1));
        let failed = delay!(fail_on(&root, 1));
        let mut x = delay!(bump(root));
        for _ in 0..4 {
            x = delay!(join(x, &delay!(make(counts.clone(), failed.clone()))));
        }
        let error = match x.try_compute_with(scheduler) {
            Ok(_) => panic!("{scheduler:?}: the root failed, the run did not"),
            Err(error) => error,
        };
        assert!(error.to_string().contains("fail_on"), "{error}");
        drop((x, failed));
        counts.all_dropped();
    }
}

/// Futures: submit, `map`, `gather`, `cancel`, `as_completed`, `wait` and
/// `fire_and_forget` on two threads, with values that count their drops.
#[test]
fn futures_submit_gather_cancel_and_forget() {
    let counts = Counts::new();
    {
        let client = Client::builder().threads(2).build().unwrap();
        let made = client.submit(make, (counts.clone(), 4));
        let bumped = client.submit(bump, (&made,));
        let many = client.map(|i: u64| i * 3, 0..8);
        assert_eq!(
            client.gather(&many).unwrap(),
            (0..8).map(|i| i * 3).collect::<Vec<_>>()
        );
        assert_eq!(bumped.result_shared().unwrap().value, 5);
        let cancelled = client.submit(bump, (&bumped,));
        cancelled.cancel();
        assert!(cancelled.result_shared().is_err());
        let seen: u64 = as_completed(many.clone())
            .map(|f| f.result().unwrap())
            .sum();
        assert_eq!(seen, (0..8_u64).map(|i| i * 3).sum::<u64>());
        let (done, _) = wait(&many, WaitMode::AllCompleted, None);
        assert_eq!(done.len(), 8);
        let forgotten = client.submit(make, (counts.clone(), 9));
        client.fire_and_forget(vec![forgotten.clone()]);
        drop(forgotten);
        // A task that computes a graph of its own, on the rayon pool.
        let nested = client.submit(
            |counts: Arc<Counts>| {
                let x = delay!(bump(delay!(make(counts, 1))));
                delay!(peek(&x)).compute()
            },
            (counts.clone(),),
        );
        assert_eq!(nested.result().unwrap(), 2);
    }
    counts.all_dropped();
}

/// Dynamic graphs nested four deep in tasks, each run following its task
/// (`stop_when(taskweave::cancelled)`): the bottom reads the runs above it through
/// their stops (pointers into each run's context, read from other threads), and sees
/// the failure of a task two levels up, which comes once the bottom has asked; each
/// level's `compute` resumes the failure under it, whose error keeps the innermost one
/// (a list shared by threads).
#[test]
fn runs_following_their_tasks_see_a_failure_above() {
    use std::sync::atomic::AtomicBool;
    const LEVELS: u64 = 4;
    const GIVE_UP: std::time::Duration = std::time::Duration::from_secs(30);
    /// Whether the bottom asked, and whether it saw the stop.
    static ASKED: AtomicBool = AtomicBool::new(false);
    static SEEN: AtomicBool = AtomicBool::new(false);

    fn level(depth: u64) -> u64 {
        if depth == 0 {
            ASKED.store(true, Ordering::SeqCst);
            // Bounded, so that a stop never seen ends the test rather than hang it
            // (in time: the failure is kept only once the panic hook has printed it,
            // a backtrace included with `RUST_BACKTRACE=1`).
            let start = std::time::Instant::now();
            while start.elapsed() < GIVE_UP {
                if taskweave::cancelled() {
                    SEEN.store(true, Ordering::SeqCst);
                    return 0;
                }
                std::thread::yield_now();
            }
            return 0;
        }
        let inner = delayed(level).call(depth - 1);
        let side = delayed(|d: u64| {
            if d == LEVELS - 2 {
                let start = std::time::Instant::now();
                while !ASKED.load(Ordering::SeqCst) && start.elapsed() < GIVE_UP {
                    std::thread::yield_now();
                }
                panic!("level {d} fails");
            }
            d
        })
        .call(depth);
        let sum = delayed(|a: u64, b: u64| a + b).call(inner, side);
        let options = taskweave::RunOptions::new().stop_when(taskweave::cancelled);
        match sum.try_compute_with(options) {
            Ok(value) => value,
            Err(error) => error.resume(),
        }
    }

    // Two threads, whatever the machine (Miri's has one): the failing task waits on
    // one for the bottom, which runs on the other.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a pool");
    let error = pool
        .install(|| delayed(level).named("top").call(LEVELS).try_compute())
        .unwrap_err();
    assert!(SEEN.load(Ordering::SeqCst), "the bottom saw the stop");
    assert_eq!(error.task(), "top");
    assert_eq!(error.innermost().message(), "level 2 fails");
    // Between `top` and the failing task: the tasks of levels 3 and 2.
    assert_eq!(error.enclosing(), 2, "{error}");
}

/// Runs taken back onto their caller (every rayon worker waits for a future of
/// another client) offer their joins to the pool, and the workers come back midway:
/// the caller's frames are read by the workers that take an offer. A static tree of
/// counted values while they all wait, then a dynamic graph that opens the gate;
/// results and drops checked.
#[test]
fn runs_taken_back_offer_their_joins_as_the_workers_come_back() {
    use std::sync::{mpsc, Mutex};
    let counts = Counts::new();
    let gates = Client::builder().threads(1).build().unwrap();
    let (open, opened) = mpsc::channel::<()>();
    let opened = Mutex::new(opened);
    let gate = gates.submit(move || opened.lock().unwrap().recv().is_ok(), ());
    let workers = rayon::current_num_threads();
    let (waiting, workers_wait) = mpsc::channel();
    for _ in 0..workers {
        let (waiting, gate) = (waiting.clone(), gate.clone());
        rayon::spawn(move || {
            waiting.send(()).unwrap();
            let _ = gate.result();
        });
    }
    for _ in 0..workers {
        workers_wait.recv().unwrap();
    }
    // Their waits have begun by now (a worker waiting runs only its own work).
    std::thread::sleep(std::time::Duration::from_millis(20));
    // While they all wait: the offers are taken back.
    let tree = graph!(|counts: Arc<Counts>| -> u64 {
        let a = bump(make(counts.clone(), 1));
        let b = bump(make(counts, 2));
        peek(&join(a, &b))
    });
    assert_eq!(tree.compute(counts.clone()), 23);
    // The gate opens once the first leaf has run.
    let open = Arc::new(Mutex::new(Some(open)));
    let leaf = {
        let (counts, open) = (counts.clone(), open.clone());
        delayed(move |i: u64| {
            if let Some(open) = open.lock().unwrap().take() {
                let _ = open.send(());
            }
            counts.make(i)
        })
    };
    let leaves: Vec<Delayed<Counted>> = (0..6).map(|i| leaf.call(i)).collect();
    let total = delayed(|xs: &[Counted]| xs.iter().map(|x| x.value).sum::<u64>()).call(leaves);
    assert_eq!(total.compute(), 15);
    drop((total, leaf));
    drop(open.lock().unwrap().take());
    drop(gates);
    counts.all_dropped();
}
