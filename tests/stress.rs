//! Stress: large dynamic graphs with a panic injected at a random node, on pools of 1
//! to 8 threads; static graphs failing on every pool size; graphs computed inside
//! tasks (nested parallelism) without deadlock; futures with random dependencies,
//! cancellations, timeouts, dropped handles and panics over rotating seeds.
//!
//! Every value is counted when made and when dropped (with a bitmap of dropped
//! serial numbers): after each run nothing is left alive and nothing was dropped twice.
//! After each failure the same pool or client computes a clean graph correctly.
//!
//! The default sizes keep each test to a few seconds in a debug build on 2 cores
//! (10^5 tasks per dynamic graph). The full sizes (10^6 tasks per dynamic graph, pools
//! of 1, 2, 4 and 8 threads; 200 rounds of futures) are `#[ignore]`d:
//!
//! ```sh
//! cargo test --release --test stress -- --ignored --nocapture
//! ```

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use taskweave::prelude::*;

#[path = "support/random.rs"]
mod random;
#[path = "support/watchdog.rs"]
mod watchdog;

use random::{mix, Rng};
use watchdog::within;

// ---- counted values ---------------------------------------------------------------

/// What was made and dropped in one run.
struct Book {
    next: AtomicU64,
    created: AtomicU64,
    dropped: AtomicU64,
    /// Drops of a serial number already dropped.
    twice: AtomicU64,
    /// One bit per serial number: dropped.
    bits: Vec<AtomicU64>,
}

impl Book {
    fn new(capacity: usize) -> Arc<Book> {
        Arc::new(Book {
            next: AtomicU64::new(0),
            created: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            twice: AtomicU64::new(0),
            bits: (0..capacity.div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
        })
    }

    fn live(&self) -> i64 {
        self.created.load(Ordering::SeqCst) as i64 - self.dropped.load(Ordering::SeqCst) as i64
    }

    /// Nothing alive, nothing dropped twice.
    fn assert_balanced(&self, what: &str) {
        assert_eq!(
            self.twice.load(Ordering::SeqCst),
            0,
            "{what}: values dropped twice"
        );
        assert_eq!(
            self.live(),
            0,
            "{what}: values made but never dropped (lost), of {} made",
            self.created.load(Ordering::SeqCst)
        );
    }
}

/// A value that counts itself; a clone is a new value.
struct Tracked {
    serial: u64,
    value: u64,
    book: Arc<Book>,
}

impl Tracked {
    fn new(value: u64, book: &Arc<Book>) -> Tracked {
        let serial = book.next.fetch_add(1, Ordering::Relaxed);
        assert!(
            (serial as usize) < book.bits.len() * 64,
            "more values than the book has room for"
        );
        book.created.fetch_add(1, Ordering::Relaxed);
        Tracked {
            serial,
            value,
            book: book.clone(),
        }
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        Tracked::new(self.value, &self.book)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let (word, bit) = ((self.serial / 64) as usize, 1u64 << (self.serial % 64));
        if self.book.bits[word].fetch_or(bit, Ordering::Relaxed) & bit != 0 {
            self.book.twice.fetch_add(1, Ordering::Relaxed);
        }
        self.book.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

// ---- helpers ----------------------------------------------------------------------

/// Keeps the injected panics off the test output; other panics print as usual.
fn quiet_injected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !payload.starts_with("injected") {
                default_hook(info);
            }
        }));
    });
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(move |i| format!("stress-{threads}-{i}"))
        .build()
        .expect("a pool")
}

// ---- dynamic graphs with injected panics ---------------------------------------------

/// A random DAG of `n` tasks, each reading up to 3 of the 64 before it, whose sinks
/// are summed by a tree reduction.
struct Dag {
    deps: Vec<Vec<u32>>,
    /// `values[i]`: what node `i` computes, called directly.
    values: Vec<u64>,
    sinks: Vec<usize>,
}

impl Dag {
    fn random(n: usize, seed: u64) -> Dag {
        let mut rng = Rng(seed);
        let mut deps = Vec::with_capacity(n);
        let mut values = Vec::with_capacity(n);
        let mut consumed = vec![false; n];
        for i in 0..n {
            let k = if i == 0 { 0 } else { rng.below(4) };
            let window = i.min(64);
            let ds: Vec<u32> = (0..k).map(|_| (i - 1 - rng.below(window)) as u32).collect();
            for &d in &ds {
                consumed[d as usize] = true;
            }
            values.push(mix(i as u64, ds.iter().map(|&d| values[d as usize])));
            deps.push(ds);
        }
        let sinks = (0..n).filter(|&i| !consumed[i]).collect();
        Dag {
            deps,
            values,
            sinks,
        }
    }

    fn expected(&self) -> u64 {
        self.sinks
            .iter()
            .fold(0u64, |acc, &s| acc.wrapping_add(self.values[s]))
    }

    /// Node `boom` and every node that reads it, directly or not.
    fn downstream_of(&self, boom: usize) -> Vec<bool> {
        let mut down = vec![false; self.deps.len()];
        down[boom] = true;
        for i in boom + 1..self.deps.len() {
            down[i] = self.deps[i].iter().any(|&d| down[d as usize]);
        }
        down
    }

    /// The graph; `boom` panics. `ran[i]` is set when node `i` starts.
    fn build(
        &self,
        book: &Arc<Book>,
        ran: &Arc<Vec<AtomicBool>>,
        boom: Option<usize>,
    ) -> Delayed<Tracked> {
        let mut nodes: Vec<Delayed<Tracked>> = Vec::with_capacity(self.deps.len());
        for (i, ds) in self.deps.iter().enumerate() {
            let inputs: Vec<Delayed<Tracked>> =
                ds.iter().map(|&d| nodes[d as usize].clone()).collect();
            let (book, ran) = (book.clone(), ran.clone());
            let node = delayed(move |inputs: Vec<Tracked>| {
                ran[i].store(true, Ordering::Relaxed);
                if boom == Some(i) {
                    panic!("injected at node {i}");
                }
                Tracked::new(mix(i as u64, inputs.iter().map(|t| t.value)), &book)
            })
            .call(inputs);
            nodes.push(if boom == Some(i) {
                node.named(format!("boom-{i}"))
            } else {
                node
            });
        }
        let sinks: Vec<Delayed<Tracked>> = self.sinks.iter().map(|&s| nodes[s].clone()).collect();
        drop(nodes);
        let book = book.clone();
        tree_reduce(sinks, move |a: Tracked, b: Tracked| {
            Tracked::new(a.value.wrapping_add(b.value), &book)
        })
    }
}

/// One failing run and one clean run of a random DAG of `n` tasks on `pool`.
fn dynamic_round(n: usize, seed: u64, pool: &rayon::ThreadPool) -> (Duration, Duration) {
    quiet_injected_panics();
    let dag = Dag::random(n, seed);
    let boom = Rng(seed ^ 0xb00b).below(n);
    let ran: Arc<Vec<AtomicBool>> = Arc::new((0..n).map(|_| AtomicBool::new(false)).collect());
    // Room for every node's value and one clone per edge, and the reduction.
    let capacity = 6 * n + 64;

    let book = Book::new(capacity);
    let graph = dag.build(&book, &ran, Some(boom));
    let start = Instant::now();
    let error = pool
        .install(|| graph.try_compute())
        .err()
        .unwrap_or_else(|| panic!("seed {seed:#x}: node {boom} panics, the run must fail"));
    let failing = start.elapsed();
    assert_eq!(error.task(), format!("boom-{boom}"), "seed {seed:#x}");
    assert_eq!(
        error.message(),
        format!("injected at node {boom}"),
        "seed {seed:#x}"
    );
    assert!(
        error.call_site().starts_with("tests/stress.rs:"),
        "{}",
        error.call_site()
    );
    let down = dag.downstream_of(boom);
    let wrongly_ran: Vec<usize> = (0..n)
        .filter(|&i| i != boom && down[i] && ran[i].load(Ordering::SeqCst))
        .take(5)
        .collect();
    assert!(
        wrongly_ran.is_empty(),
        "seed {seed:#x}: nodes {wrongly_ran:?} read the failed node {boom} and ran"
    );
    drop(graph);
    book.assert_balanced(&format!("seed {seed:#x}, failed run of {n} tasks"));

    // The pool is usable: a clean run of the same shape gives the direct result.
    let book = Book::new(capacity);
    let graph = dag.build(&book, &ran, None);
    let start = Instant::now();
    let total = pool.install(|| graph.compute());
    let clean = start.elapsed();
    assert_eq!(total.value, dag.expected(), "seed {seed:#x}: clean run");
    drop((graph, total));
    book.assert_balanced(&format!("seed {seed:#x}, clean run of {n} tasks"));
    (failing, clean)
}

#[test]
fn dynamic_graph_of_100k_tasks_with_an_injected_panic() {
    let pool = pool(2);
    for seed in [1, 2] {
        dynamic_round(100_000, seed, &pool);
    }
}

#[test]
fn dynamic_graphs_with_injected_panics_on_pools_of_1_to_8_threads() {
    for threads in 1..=8 {
        let pool = pool(threads);
        for round in 0..2 {
            dynamic_round(10_000, 0x5eed + (threads * 10 + round) as u64, &pool);
        }
    }
}

/// The full size: 10^6 tasks per graph on pools of 1, 2, 4 and 8 threads.
/// `cargo test --release --test stress -- --ignored --nocapture`
#[test]
#[ignore = "10^6 tasks per graph: run with --release -- --ignored"]
fn million_task_dynamic_graphs_with_injected_panics() {
    for threads in [1, 2, 4, 8] {
        let pool = pool(threads);
        let start = Instant::now();
        let (failing, clean) = dynamic_round(1_000_000, 0x1e6 + threads as u64, &pool);
        println!(
            "{threads} threads: 10^6 tasks, failing run {failing:?}, clean run {clean:?}, \
             round with building and checks {:?}",
            start.elapsed()
        );
    }
}

// ---- static graphs ----------------------------------------------------------------

#[delayed]
fn seed_value(x: u64, book: Arc<Book>) -> Tracked {
    Tracked::new(x, &book)
}

#[delayed]
fn step(t: Tracked, k: u64) -> Tracked {
    if t.value == u64::MAX - k {
        panic!("injected at step {k}");
    }
    Tracked::new(t.value.wrapping_mul(31).wrapping_add(k), &t.book)
}

#[delayed]
fn peek(t: &Tracked) -> u64 {
    t.value
}

#[delayed]
fn join2(a: Tracked, b: Tracked) -> Tracked {
    Tracked::new(a.value ^ b.value.rotate_left(3), &a.book)
}

#[test]
fn static_graph_fails_and_recovers_on_pools_of_1_to_8_threads() {
    quiet_injected_panics();
    let g = graph!(|x: u64, book: Arc<Book>| -> (u64, u64) {
        let root = seed_value(x, book);
        let mut left = step(root, 1);
        let mut right = step(root, 2);
        for k in 3..40 {
            left = step(left, k);
            right = step(right, k * 2);
        }
        let both = join2(left, right);
        (peek(&both), peek(&left))
    });
    let direct = |x: u64| {
        let book = Book::new(1 << 10);
        let root = Tracked::new(x, &book);
        let mut left = step(root.clone(), 1);
        let mut right = step(root, 2);
        for k in 3..40 {
            left = step(left, k);
            right = step(right, k * 2);
        }
        let both = join2(left.clone(), right);
        (peek(&both), peek(&left))
    };
    for threads in 1..=8 {
        let pool = pool(threads);
        for x in 0..200u64 {
            let book = Book::new(1 << 10);
            assert_eq!(g.compute_on(&pool, x, book.clone()), direct(x));
            book.assert_balanced("a clean static run");
        }
        // `step(root, 2)` panics when the root is `u64::MAX - 2`.
        let book = Book::new(1 << 10);
        let error = g
            .try_compute_on(&pool, u64::MAX - 2, book.clone())
            .unwrap_err();
        assert_eq!(error.task(), "step");
        assert_eq!(error.message(), "injected at step 2");
        assert!(error.call_site().starts_with("tests/stress.rs:"));
        book.assert_balanced("a failed static run");
        // Usable afterwards.
        let book = Book::new(1 << 10);
        assert_eq!(g.compute_on(&pool, 7, book.clone()), direct(7));
        book.assert_balanced("a static run after a failure");
    }
}

// ---- nested parallelism -------------------------------------------------------------

#[delayed]
fn leaf(i: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9).rotate_left(5)
}

#[delayed]
fn fold2(a: u64, b: u64) -> u64 {
    a.rotate_left(1) ^ b
}

/// An inner static graph, computed from inside a task.
fn inner_static(x: u64) -> u64 {
    let g = graph!(|x: u64| -> u64 {
        let a = leaf(x);
        let b = leaf(x + 1);
        let c = leaf(x + 2);
        let d = leaf(x + 3);
        fold2(fold2(a, b), fold2(c, d))
    });
    g.compute(x)
}

fn inner_static_direct(x: u64) -> u64 {
    fold2(fold2(leaf(x), leaf(x + 1)), fold2(leaf(x + 2), leaf(x + 3)))
}

/// An inner dynamic graph of `width` leaves, each computing a static graph.
fn inner_dynamic(x: u64, width: u64) -> u64 {
    let parts: Vec<Delayed<u64>> = (0..width)
        .map(|i| delayed(inner_static).call(x * 1000 + i))
        .collect();
    tree_reduce(parts, fold2).compute()
}

fn inner_dynamic_direct(x: u64, width: u64) -> u64 {
    let mut level: Vec<u64> = (0..width)
        .map(|i| inner_static_direct(x * 1000 + i))
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|c| {
                if c.len() == 2 {
                    fold2(c[0], c[1])
                } else {
                    c[0]
                }
            })
            .collect();
    }
    level[0]
}

#[test]
fn graphs_computed_inside_tasks_do_not_deadlock() {
    for threads in [1, 2, 4, 8] {
        within(
            Duration::from_secs(120),
            &format!("{threads} threads"),
            move || {
                let pool = pool(threads);
                // Three levels: a dynamic graph whose tasks compute dynamic graphs whose
                // tasks compute static graphs; 64 outer tasks at once.
                let outer: Vec<Delayed<u64>> = (0..64)
                    .map(|x| delayed(|x: u64| inner_dynamic(x, 24)).call(x))
                    .collect();
                let got = pool.install(|| taskweave::compute(outer.as_slice()));
                let want: Vec<u64> = (0..64).map(|x| inner_dynamic_direct(x, 24)).collect();
                assert_eq!(got, want, "{threads} threads");
                // A static graph whose tasks compute dynamic graphs.
                #[delayed]
                fn nested(x: u64) -> u64 {
                    inner_dynamic(x, 8)
                }
                let g = graph!(|x: u64| -> u64 {
                    let a = nested(x);
                    let b = nested(x + 1);
                    let c = nested(x + 2);
                    fold2(fold2(a, b), c)
                });
                let want = fold2(
                    fold2(inner_dynamic_direct(5, 8), inner_dynamic_direct(6, 8)),
                    inner_dynamic_direct(7, 8),
                );
                assert_eq!(g.compute_on(&pool, 5), want, "{threads} threads");
            },
        );
    }
}

#[test]
fn futures_and_graphs_nested_in_each_other_do_not_deadlock() {
    for threads in [1, 2, 4] {
        within(
            Duration::from_secs(120),
            &format!("{threads} threads"),
            move || {
                let client = Client::builder().threads(threads).build().unwrap();
                // Futures whose tasks compute dynamic graphs (with static graphs inside).
                let futures = client.map(|x: u64| inner_dynamic(x, 12), 0..48u64);
                let got = client.gather(&futures).unwrap();
                let want: Vec<u64> = (0..48).map(|x| inner_dynamic_direct(x, 12)).collect();
                assert_eq!(got, want, "{threads} threads");
                // A graph whose tasks submit futures to the client and wait for them.
                let inner = client.clone();
                let parts: Vec<Delayed<u64>> = (0..8u64)
                    .map(|x| {
                        let client = inner.clone();
                        delayed(move |x: u64| {
                            let fs = client.map(leaf, x * 10..x * 10 + 10);
                            client.gather(&fs).unwrap().into_iter().fold(0, fold2)
                        })
                        .call(x)
                    })
                    .collect();
                let got = client.compute(&tree_reduce(parts, fold2)).result().unwrap();
                let mut level: Vec<u64> = (0..8u64)
                    .map(|x| (x * 10..x * 10 + 10).map(leaf).fold(0, fold2))
                    .collect();
                while level.len() > 1 {
                    level = level.chunks(2).map(|c| fold2(c[0], c[1])).collect();
                }
                assert_eq!(got, level[0], "{threads} threads");
            },
        );
    }
}

// ---- futures --------------------------------------------------------------------------

/// What a future's task does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Ok,
    Panic,
    /// Sleeps a little (for timeouts and cancellation while running).
    Slow,
    /// Cancelled right after it is submitted.
    Cancel,
    /// Its handle is dropped right after it is submitted (nothing depends on it).
    Dropped,
}

/// One round: `n` futures on a client of `threads` threads, checked, then the client
/// is dropped and every value must have been dropped once.
fn futures_round(n: usize, threads: usize, seed: u64) {
    quiet_injected_panics();
    let mut rng = Rng(seed);
    let book = Book::new(8 * n + 64);
    let client = Client::builder().threads(threads).build().unwrap();
    let mut futures: Vec<Option<Future<Tracked>>> = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut deps_of: Vec<Vec<usize>> = Vec::with_capacity(n);
    for i in 0..n {
        let kind = match rng.below(100) {
            0..=2 => Kind::Panic,
            3..=7 => Kind::Slow,
            8..=10 => Kind::Cancel,
            11..=13 => Kind::Dropped,
            _ => Kind::Ok,
        };
        let candidates: Vec<usize> = (i.saturating_sub(200)..i)
            .filter(|&d| futures[d].is_some())
            .collect();
        let deps: Vec<usize> = if candidates.is_empty() {
            Vec::new()
        } else {
            (0..rng.below(4))
                .map(|_| candidates[rng.below(candidates.len())])
                .collect()
        };
        let inputs: Vec<Future<Tracked>> = deps
            .iter()
            .map(|&d| futures[d].clone().expect("a kept future"))
            .collect();
        let book = book.clone();
        let future = client
            .task(move |inputs: Vec<Tracked>| {
                match kind {
                    Kind::Panic => panic!("injected in future {i}"),
                    Kind::Slow => std::thread::sleep(Duration::from_micros(300)),
                    _ => {}
                }
                Tracked::new(mix(i as u64, inputs.iter().map(|t| t.value)), &book)
            })
            .named(format!("f-{i}"))
            .submit((inputs,));
        match kind {
            Kind::Cancel => future.cancel(),
            Kind::Slow if rng.below(3) == 0 => {
                // Gives up waiting; the task goes on.
                match future.result_timeout(Duration::from_micros(20)) {
                    Ok(_) | Err(FutureError::Timeout { .. }) => {}
                    // A dependency may have failed or been cancelled already.
                    Err(_) => {}
                }
            }
            _ => {}
        }
        futures.push((kind != Kind::Dropped).then_some(future));
        kinds.push(kind);
        deps_of.push(deps);
    }
    // Every future ends.
    let kept: Vec<Future<Tracked>> = futures.iter().flatten().cloned().collect();
    let (done, not_done) = wait(
        &kept,
        WaitMode::AllCompleted,
        Some(Duration::from_secs(120)),
    );
    assert!(
        not_done.is_empty(),
        "seed {seed:#x}: {} futures never ended",
        not_done.len()
    );
    drop((done, kept));
    // Each in a state its kind and its dependencies allow, with the right value.
    let mut values: Vec<Option<u64>> = vec![None; n];
    let panicked: HashSet<String> = (0..n)
        .filter(|&i| kinds[i] == Kind::Panic)
        .map(|i| format!("f-{i}"))
        .collect();
    for i in 0..n {
        let Some(future) = &futures[i] else { continue };
        let deps_finished = deps_of[i].iter().all(|&d| values[d].is_some());
        match future.status() {
            Status::Finished => {
                assert!(
                    kinds[i] != Kind::Panic && deps_finished,
                    "seed {seed:#x}: future {i} ({:?}) finished",
                    kinds[i]
                );
                let want = mix(
                    i as u64,
                    deps_of[i].iter().map(|&d| values[d].expect("finished")),
                );
                let got = future.result_shared().expect("finished").value;
                assert_eq!(got, want, "seed {seed:#x}: future {i}");
                values[i] = Some(got);
            }
            Status::Error => {
                let error = future.exception().expect("an error");
                assert!(
                    panicked.contains(error.task()),
                    "seed {seed:#x}: future {i} failed with `{}`, not an injected panic",
                    error.task()
                );
                assert!(matches!(future.result(), Err(FutureError::Task(_))));
            }
            Status::Cancelled => {
                assert!(
                    kinds[i] == Kind::Cancel || !deps_finished,
                    "seed {seed:#x}: future {i} ({:?}) cancelled, its dependencies finished",
                    kinds[i]
                );
                assert!(matches!(
                    future.result(),
                    Err(FutureError::Cancelled { .. })
                ));
            }
            other => panic!("seed {seed:#x}: future {i} ended as {other:?}"),
        }
        if kinds[i] == Kind::Ok || kinds[i] == Kind::Slow {
            assert_eq!(
                values[i].is_some(),
                deps_finished,
                "seed {seed:#x}: future {i} ({:?}) with finished dependencies ends finished",
                kinds[i]
            );
        }
    }
    // The client is usable after all that.
    let after = client.submit(|a: u64, b: u64| a + b, (20, 22));
    assert_eq!(after.result().unwrap(), 42);
    let mut completed = 0;
    for f in as_completed(client.map(leaf, 0..50u64)) {
        assert!(f.result().is_ok());
        completed += 1;
    }
    assert_eq!(completed, 50);
    drop(futures);
    drop(client);
    book.assert_balanced(&format!("seed {seed:#x}: {n} futures on {threads} threads"));
}

#[test]
fn futures_with_random_dependencies_cancels_timeouts_and_panics() {
    // A fixed budget of rounds, rotating seeds and pool sizes.
    for round in 0..40u64 {
        let threads = 1 + (round as usize % 8);
        futures_round(2_000, threads, 0xf00d_0000 + round);
    }
}

/// 200 rounds of 5,000 futures: `cargo test --release --test stress -- --ignored`.
#[test]
#[ignore = "200 rounds of 5,000 futures: run with --release -- --ignored"]
fn futures_soak_200_rounds() {
    let start = Instant::now();
    for round in 0..200u64 {
        let threads = 1 + (round as usize % 8);
        futures_round(5_000, threads, 0xfeed_0000 + round);
    }
    println!("200 rounds of 5,000 futures in {:?}", start.elapsed());
}
