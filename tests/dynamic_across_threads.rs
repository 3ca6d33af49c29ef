//! Dynamic graphs whose nodes are built on one thread and run, dropped or freed on
//! others: nodes of many sizes and alignments (closures capturing small and large
//! arrays, over-aligned values), graphs sent to other threads to compute and drop,
//! threads that end while holding graphs in thread locals. Every node checks its own
//! captured bytes when it runs, every result is checked against plain sequential
//! evaluation, and every captured value is dropped exactly once: a node's memory freed
//! early, freed twice or laid out wrongly, or a plan's kept buffers (`reuse.rs`) shared
//! between threads, shows as a wrong byte, a wrong sum, a wrong count or an abort.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use taskweave::prelude::*;

#[path = "support/watchdog.rs"]
mod watchdog;

/// Counts its drops, in the counter of the test that made it.
struct Counted(&'static AtomicUsize);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A value aligned beyond a machine word (its node cannot share blocks with others).
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Wide([u64; 8]);

/// The pattern a payload of `seed` holds at `i`.
fn byte(seed: u64, i: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(i as u32 % 64)
        ^ i as u64
}

fn payload<const K: usize>(seed: u64) -> [u64; K] {
    std::array::from_fn(|i| byte(seed, i))
}

/// Checks a payload's pattern and folds it into one number.
fn check<const K: usize>(seed: u64, p: &[u64; K]) -> u64 {
    for (i, &b) in p.iter().enumerate() {
        assert_eq!(b, byte(seed, i), "a node's captured bytes changed");
    }
    p.iter().fold(seed, |acc, &b| acc.wrapping_add(b))
}

/// A leaf of payload size `K` (words) for `seed`: the node, and its value computed
/// sequentially.
fn leaf<const K: usize>(seed: u64, drops: &'static AtomicUsize) -> (Delayed<u64>, u64) {
    let p: [u64; K] = payload(seed);
    let counted = Counted(drops);
    let expected = check(seed, &p);
    let node = Delayed::value(seed).map(move |&s| {
        let _ = &counted;
        check(s, &p)
    });
    (node, expected)
}

/// A graph of leaves of every size (and an over-aligned one) combined pairwise by
/// nodes that capture payloads of their own: the graph and its expected value.
fn graph(seed: u64, drops: &'static AtomicUsize) -> (Delayed<u64>, u64) {
    let mut level: Vec<(Delayed<u64>, u64)> = vec![
        leaf::<0>(seed, drops),
        leaf::<1>(seed + 1, drops),
        leaf::<3>(seed + 2, drops),
        leaf::<8>(seed + 3, drops),
        leaf::<20>(seed + 4, drops),
        leaf::<40>(seed + 5, drops),
        {
            let wide = Wide(payload(seed + 6));
            let counted = Counted(drops);
            let expected = check(seed + 6, &wide.0);
            let node = Delayed::value(seed + 6).map(move |&s| {
                let _ = &counted;
                assert_eq!(
                    &wide as *const Wide as usize % 64,
                    0,
                    "over-aligned capture"
                );
                check(s, &wide.0)
            });
            (node, expected)
        },
    ];
    let mut k = 0;
    while level.len() > 1 {
        let mut next = Vec::new();
        for pair in level.chunks(2) {
            match pair {
                [(a, ea), (b, eb)] => {
                    k += 1;
                    let s = seed.wrapping_mul(31).wrapping_add(k);
                    let p: [u64; 5] = payload(s);
                    let counted = Counted(drops);
                    let expected = ea.wrapping_add(*eb).wrapping_add(check(s, &p));
                    let node = delayed(move |x: u64, y: u64| {
                        let _ = &counted;
                        x.wrapping_add(y).wrapping_add(check(s, &p))
                    })
                    .call(a.clone(), b.clone());
                    next.push((node, expected));
                }
                [one] => next.push(one.clone()),
                _ => unreachable!(),
            }
        }
        level = next;
    }
    level.pop().expect("a root")
}

/// Captured values a graph of [`graph`] holds.
const COUNTED_PER_GRAPH: usize = 7 + 6;

#[test]
fn graphs_built_computed_and_dropped_on_different_threads() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    const THREADS: u64 = 4;
    const ROUNDS: u64 = 30;
    const PER_ROUND: u64 = 20;
    watchdog::within(Duration::from_secs(120), "graphs across threads", || {
        // Each thread sends every other graph it builds to the next thread, which
        // computes it and drops it there (its nodes freed on a thread that did not
        // build them); the rest it computes and drops itself.
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS)
            .map(|_| mpsc::channel::<(Delayed<u64>, u64)>())
            .unzip();
        let handles: Vec<_> = receivers
            .into_iter()
            .enumerate()
            .map(|(t, inbox)| {
                let next = senders[(t + 1) % THREADS as usize].clone();
                std::thread::spawn(move || {
                    let mut computed = 0;
                    for round in 0..ROUNDS {
                        for i in 0..PER_ROUND {
                            let seed = (t as u64) << 40 | round << 20 | i << 4;
                            let (g, expected) = graph(seed, &DROPS);
                            if i % 2 == 0 {
                                next.send((g, expected)).expect("the next thread listens");
                            } else {
                                assert_eq!(g.compute(), expected);
                                computed += 1;
                            }
                        }
                        while let Ok((g, expected)) = inbox.try_recv() {
                            assert_eq!(g.compute(), expected);
                            computed += 1;
                        }
                    }
                    drop(next);
                    // Graphs sent after this thread's last look are computed by the
                    // joining thread, a third thread for their nodes.
                    (computed, inbox)
                })
            })
            .collect();
        drop(senders);
        let mut computed = 0;
        let mut inboxes = Vec::new();
        for h in handles {
            let (n, inbox) = h.join().expect("no thread panics");
            computed += n;
            inboxes.push(inbox);
        }
        // What was sent after a thread's last look: computed here, on this thread.
        for inbox in inboxes {
            for (g, expected) in inbox.try_iter() {
                assert_eq!(g.compute(), expected);
                computed += 1;
            }
        }
        let graphs = THREADS * ROUNDS * PER_ROUND;
        assert_eq!(computed, graphs, "every graph computed once");
        assert_eq!(
            DROPS.load(Ordering::Relaxed),
            graphs as usize * COUNTED_PER_GRAPH,
            "every captured value dropped exactly once"
        );
    });
}

#[test]
fn graphs_dropped_as_their_thread_ends_and_built_again_on_a_new_one() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    watchdog::within(
        Duration::from_secs(120),
        "graphs dropped at thread end",
        || {
            let mut made = 0;
            for round in 0..20u64 {
                // A thread builds graphs, computes some, and ends with the rest still alive
                // in a thread local (dropped during its teardown, when its locals, kept
                // node memory included, may already be gone).
                std::thread::spawn(move || {
                    thread_local! {
                        static KEPT: std::cell::RefCell<Vec<Delayed<u64>>> =
                            const { std::cell::RefCell::new(Vec::new()) };
                    }
                    for i in 0..10u64 {
                        let (g, expected) = graph(round << 8 | i, &DROPS);
                        assert_eq!(g.compute(), expected);
                        KEPT.with(|k| k.borrow_mut().push(g));
                    }
                })
                .join()
                .expect("no thread panics");
                made += 10;
                assert_eq!(
                    DROPS.load(Ordering::Relaxed),
                    made * COUNTED_PER_GRAPH,
                    "a thread's graphs are dropped when it ends"
                );
            }
        },
    );
}
