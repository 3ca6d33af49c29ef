//! Memory, counted by a global allocator. Dynamic graphs: once a graph is laid out, a
//! compute allocates the same small number of times whatever the number of nodes. A
//! chain of 8 MB values, as a dynamic graph and as futures, never holds more than a few
//! of them at once. The tasks of a builder whose function captures 1 MiB hold one copy
//! of it in all. A `wait` that times out leaves nothing behind on the future, nor a
//! burst of futures waiting for others on the client.
//! Persisted values keep nothing of the graphs they were computed from.
//!
//! A plain `main` (no test harness), so no other test allocates meanwhile.

use taskweave::prelude::*;

#[path = "../examples/support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

#[delayed]
fn leaf(i: u64) -> u64 {
    i.wrapping_mul(2654435761)
}

#[delayed]
fn combine(a: u64, b: &u64) -> u64 {
    a ^ b.rotate_left(3)
}

/// `leaves` leaves folded pairwise: about `2 * leaves` nodes.
fn tree(leaves: u64) -> (Delayed<u64>, u64) {
    let mut level: Vec<Delayed<u64>> = (0..leaves).map(|i| delay!(leaf(i))).collect();
    let mut direct: Vec<u64> = (0..leaves).map(leaf).collect();
    while level.len() > 1 {
        let mut next = Vec::new();
        let mut next_direct = Vec::new();
        for (pair, values) in level.chunks(2).zip(direct.chunks(2)) {
            match (pair, values) {
                ([a, b], [x, y]) => {
                    next.push(delay!(combine(a, b)));
                    next_direct.push(combine(*x, y));
                }
                _ => {
                    next.push(pair[0].clone());
                    next_direct.push(values[0]);
                }
            }
        }
        level = next;
        direct = next_direct;
    }
    (level.pop().unwrap(), direct[0])
}

/// Allocations of one compute of a prepared graph, run inside the pool.
fn allocations_per_compute(pool: &rayon::ThreadPool, leaves: u64) -> usize {
    let (root, expected) = tree(leaves);
    let mut prepared = taskweave::prepare((&root,));
    pool.install(|| {
        for _ in 0..3 {
            assert_eq!(prepared.compute(), (expected,));
        }
        let before = counting_alloc::allocations();
        for _ in 0..10 {
            assert_eq!(prepared.compute(), (expected,));
        }
        (counting_alloc::allocations() - before) / 10
    })
}

/// Bytes per node of a fan-in of `leaves` `u64` leaves summed pairwise (about
/// `2 * leaves` nodes), counted by the allocator: `(built, peak)`: what the built
/// graph holds, and the peak while it is built, laid out, computed and dropped.
fn bytes_per_node(leaves: u64) -> (f64, f64) {
    let base = counting_alloc::live_bytes();
    counting_alloc::reset_peak();
    let (root, expected) = tree(leaves);
    // `tree` keeps a plain `Vec<u64>` of each level beside the nodes: not the graph's.
    let nodes = 2 * leaves - 1;
    let built = counting_alloc::live_bytes() - base;
    assert_eq!(root.compute(), expected);
    drop(root);
    let peak = counting_alloc::peak_bytes() - base;
    (built as f64 / nodes as f64, peak as f64 / nodes as f64)
}

#[delayed]
fn fresh(previous: Vec<u8>) -> Vec<u8> {
    let mut next = vec![0u8; 8 << 20];
    next[0] = previous[0].wrapping_add(1);
    next
}

/// The peak of live bytes while `run` computes a 1,000-step chain of 8 MB values and
/// returns the last value's first byte, in values.
fn peak_values(what: &str, run: impl FnOnce() -> u8) -> f64 {
    let base = counting_alloc::live_bytes();
    counting_alloc::reset_peak();
    let last = run();
    let peak = counting_alloc::peak_bytes() - base;
    assert_eq!(last, (1_000 % 256) as u8, "{what}");
    let values = peak as f64 / (8u64 << 20) as f64;
    println!(
        "memory: {what}: 1,000-step chain of 8 MB values: peak {values:.2} values' worth of live bytes"
    );
    values
}

fn main() {
    // First, before any graph is dropped: buffers kept from earlier graphs (see
    // `reuse.rs`) would be counted as already there.
    let (built, peak) = bytes_per_node(100_000);
    println!("memory: dynamic graph: bytes per node (fan-in of 10^5 u64 leaves): {built:.0} built, {peak:.0} at the peak of build + compute");
    // The budget, per node of this graph (a `u64` result, one or two parents), on a
    // 64-bit target: built, the node's common part (64 bytes: its reference count, its
    // body's functions, its `Meta` of 32 (interned label, optional custom names, key,
    // plan mark) and its parent list of 16 (two one-word handles inline)) and its
    // closure (8 for a leaf's `u64` argument, none for a combine): 68 on average. Laid
    // out and computed, the plan adds a pointer to the node (8), the number of its
    // body's function (1, so that running it reads nothing of the node), where its
    // inputs and successors start (8), its inputs and successors (~8 here, one edge per
    // node), the roots (2) and a pending counter (4); the arena the slot alone (24 for
    // a `u64`: no per-slot entry when every slot has one type): 55 more, with every
    // vector sized to the node count. Anything past these bounds is a regression (it
    // was 164 built and 347 at the peak before nodes shared their site and the plan its
    // table, 108 and 259 before table entries pointed to labels and `Meta` and the
    // arena's entries took one word each, 92 and 195 before the plan's table was made
    // in one walk and nodes were reached through one-word handles, 76 and 166 before
    // the plan kept no `NodeInfo`, no count of uses and no slot entries, sized its
    // vectors and a node's parents took two words).
    assert!(built <= 72.0, "{built:.0} bytes per node built");
    assert!(peak <= 126.0, "{peak:.0} bytes per node at the peak");

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let small = allocations_per_compute(&pool, 1_000);
    let large = allocations_per_compute(&pool, 10_000);
    println!("memory: dynamic graph: allocations per compute of a prepared graph: {small} (~2,000 nodes), {large} (~20,000 nodes)");
    assert_eq!(small, large, "allocations grow with the number of nodes");
    assert!(small <= 2, "{small} allocations per compute");

    // A 1,000-step chain whose every task returns a fresh 8 MB vector. A graph of its
    // size first: buffers kept from the large graphs above (see `reuse.rs`) would be
    // freed during the measure, and hide their size from its peak.
    let (small, expected) = tree(500);
    assert_eq!(small.compute(), expected);
    drop(small);
    let mut x = delay!(fresh(vec![0u8; 1]));
    for _ in 1..1_000 {
        x = delay!(fresh(x));
    }
    let dynamic = peak_values("dynamic graph", || x.compute()[0]);
    assert!(dynamic < 4.0, "{dynamic:.2} values");

    // The same chain as futures: each task takes the previous future by value, so the
    // value moves into the next task instead of being copied and kept by its future.
    let client = Client::builder().threads(2).build().unwrap();
    let futures = peak_values("futures", || {
        let mut x = client.submit(fresh, (vec![0u8; 1],));
        for _ in 1..1_000 {
            x = client.submit(fresh, (x,));
        }
        x.result_shared().unwrap()[0]
    });
    assert!(futures < 3.0, "{futures:.2} values");

    // A `wait` that times out takes its callbacks back: polling a pending future
    // 100,000 times leaves nothing on it (each poll used to leave ~94 bytes).
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = std::sync::Mutex::new(released);
    let pending = client.submit(move || released.lock().unwrap().recv().unwrap(), ());
    let poll = || {
        let (done, _) = taskweave::wait(
            std::slice::from_ref(&pending),
            WaitMode::FirstCompleted,
            Some(std::time::Duration::ZERO),
        );
        assert!(done.is_empty());
    };
    for _ in 0..100 {
        poll();
    }
    let base = counting_alloc::live_bytes();
    for _ in 0..100_000 {
        poll();
    }
    let left = counting_alloc::live_bytes().saturating_sub(base);
    release.send(()).unwrap();
    pending.result().unwrap();
    println!("memory: 100,000 timed-out waits on a pending future left {left} bytes");
    assert!(
        left < 64 << 10,
        "{left} bytes left by 100,000 timed-out waits"
    );

    // A burst of tasks that wait for others (a fan-in of 20,000 tasks) pins nothing
    // once its futures are dropped and the pool has run out of work: the client's list
    // of live tasks holds a weak entry per such task, which kept the task's allocation
    // (~460 bytes) until as many again were submitted (4.5 MB here).
    let burst = |leaves: u64| {
        let mut level: Vec<Future<u64>> = (0..leaves)
            .map(|i| client.submit(|i: u64| i.wrapping_mul(3), (i,)))
            .collect();
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|pair| match pair {
                    [a, b] => client.submit(|a: u64, b: u64| a.wrapping_add(b), (a, b)),
                    [a] => a.clone(),
                    _ => unreachable!(),
                })
                .collect();
        }
        level[0].result().unwrap()
    };
    // So does a burst of tasks reading one long-lived future, kept meanwhile, whose
    // list of finished dependents (kept for a cancel to reach them) held a weak entry
    // per task: a scattered value read by 20,000 tasks; a future still running when
    // 20,000 tasks that read it are submitted, which run once it ends; and one whose
    // 20,000 readers are dropped, and so cancelled, before it ends. What is left is
    // at most the last thousand or so tasks freed in each thread, not yet pruned (half
    // a MiB each); 9 MB and more before.
    let gated = || {
        let (open, gate) = std::sync::mpsc::channel::<()>();
        let gate = std::sync::Mutex::new(gate);
        let future = client.submit(move || gate.lock().unwrap().recv().map_or(0, |()| 1u64), ());
        (future, open)
    };
    let readers = |of: &Future<u64>| -> Vec<Future<u64>> {
        (0..20_000u64)
            .map(|i| client.submit(|x: u64, i: u64| x + i, (of, i)))
            .collect()
    };
    let sum_of = |futures: Vec<Future<u64>>| client.gather(&futures).unwrap().iter().sum::<u64>();
    let expected = 20_000 + 19_999 * 20_000 / 2;
    type Burst<'a> = &'a dyn Fn() -> (u64, Option<Future<u64>>);
    let bursts: [(&str, Burst); 4] = [
        ("futures waiting for others", &|| {
            (burst(20_000) - 3 * 19_999 * 20_000 / 2 + expected, None)
        }),
        ("readers of a scattered value", &|| {
            let data = client.scatter(1u64);
            (sum_of(readers(&data)), Some(data))
        }),
        ("readers of a future still running", &|| {
            let (future, open) = gated();
            let readers = readers(&future);
            open.send(()).unwrap();
            (sum_of(readers), Some(future))
        }),
        ("readers dropped before the future they read ended", &|| {
            let (future, open) = gated();
            drop(readers(&future));
            open.send(()).unwrap();
            assert_eq!(future.result().unwrap(), 1);
            (expected, Some(future))
        }),
    ];
    assert_eq!(burst(100), 3 * 99 * 100 / 2);
    for (what, run) in bursts {
        let base = counting_alloc::live_bytes();
        let (sum, kept) = run();
        assert_eq!(sum, expected, "{what}");
        let since = std::time::Instant::now();
        let left = loop {
            let left = counting_alloc::live_bytes().saturating_sub(base);
            if left < 2 << 20 || since.elapsed() > std::time::Duration::from_secs(10) {
                break left;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        println!("memory: a burst of 20,000 {what}, dropped: {left} bytes left");
        assert!(left < 2 << 20, "{left} bytes left after a burst of {what}");
        drop(kept);
    }

    // The tasks of a builder share its function, in one `Arc`: each holds that, not
    // room for the function too (64 tasks of a closure that captures 1 MiB held 65 MiB).
    let weight = [1u8; 1 << 20];
    let heavy = move |k: u64| k + u64::from(weight[k as usize % weight.len()]);
    let expected: u64 = (0..64).map(heavy).sum();
    let builder_map = |what: &str, map: &dyn Fn() -> Vec<Future<u64>>| {
        let base = counting_alloc::live_bytes();
        counting_alloc::reset_peak();
        let futures = map();
        assert_eq!(
            client.gather(&futures).unwrap().iter().sum::<u64>(),
            expected
        );
        let peak = counting_alloc::peak_bytes() - base;
        drop(futures);
        println!(
            "memory: {what} of 64 tasks of a closure that captures 1 MiB: peak {:.2} MiB",
            peak as f64 / (1 << 20) as f64
        );
        assert!(peak < 8 << 20, "{what}: {peak} bytes at the peak");
    };
    builder_map("client.task(f).map", &|| client.task(heavy).map(0..64));
    builder_map("client.task(f).pure().map", &|| {
        client.task(heavy).pure().map(0..64)
    });
    builder_map("client.map", &|| client.map(heavy, 0..64));
    builder_map("client.task(f).submit", &|| {
        let task = client.task(heavy);
        (0..64).map(|k| task.submit((k,))).collect()
    });

    // Persisted values outlive the graphs they come from: kept one per graph of 300
    // nodes, they hold their own small allocations, not the blocks their graphs' nodes
    // were carved from (16 KiB each; see `dynamic/blocks.rs`).
    let persisted = |i: u64| {
        let mut x = delay!(leaf(i));
        for _ in 1..300 {
            x = delay!(combine(i, &x));
        }
        x.persist()
    };
    // First some dropped at once: the buffers kept between computes (`reuse.rs`) are
    // then those of this graph's size, and do not change while the values are kept.
    for i in 0..20 {
        drop(persisted(i));
    }
    let base = counting_alloc::live_bytes();
    let kept: Vec<Delayed<u64>> = (0..1_000u64).map(persisted).collect();
    let per_kept = counting_alloc::live_bytes().saturating_sub(base) / kept.len();
    println!("memory: 1,000 persisted values, each from a graph of 300 nodes: {per_kept} bytes live per value");
    // A `Held<u64>` node (72 bytes) and its handle in `kept` (8), with the blocks kept
    // for later nodes (a few, shared by all) spread over the 1,000.
    assert!(per_kept <= 256, "{per_kept} bytes per persisted value");
    let direct: Vec<u64> = (0..1_000u64)
        .map(|i| (1..300).fold(leaf(i), |x, _| combine(i, &x)))
        .collect();
    assert_eq!(taskweave::compute(kept.as_slice()), direct);

    println!("test result: ok. 7 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
}
