//! Large values passed by value between tasks (arrays of 256 KiB, on 2 MiB worker
//! stacks) compute as plain code does, in debug builds too, where every frame a value
//! passes through keeps a copy of it (the run overflowed the worker's stack and aborted
//! the process): in a dynamic graph, in `graph!`'s two forms, a tree and the
//! dispatcher, and between a client's tasks; values of 2 MiB on a thread with `main`'s
//! stack, in each form of a graph and through a client (its reads and scatters).

#[path = "support/watchdog.rs"]
mod watchdog;

use std::time::Duration;

use taskweave::prelude::*;

const LIMIT: Duration = Duration::from_secs(120);

const N: usize = 256 << 10;

#[delayed]
fn make(seed: u8) -> [u8; N] {
    let mut a = [0u8; N];
    for (i, b) in a.iter_mut().enumerate() {
        *b = seed.wrapping_add(i as u8);
    }
    a
}

#[delayed]
fn total(a: [u8; N]) -> u64 {
    a.iter().map(|&b| u64::from(b)).sum()
}

#[delayed]
fn clean(mut a: [u8; N]) -> [u8; N] {
    a[0] = 0;
    a
}

#[delayed]
fn first(a: &[u8; N]) -> u64 {
    u64::from(a[1])
}

fn plain(seed: u8) -> u64 {
    total(make(seed)) + first(&make(seed))
}

#[test]
fn dynamic_graph_of_large_values() {
    let a = delay!(make(3));
    let b = delay!(total(&a));
    let c = delay!(first(&a));
    assert_eq!((&b + &c).compute(), plain(3));
    let explicit = delayed(|x: [u8; N]| total(x)).call(delayed(|| make(4)).call());
    assert_eq!(explicit.compute(), total(make(4)));
}

#[test]
fn tree_graph_of_large_values() {
    let g = graph!(|n: u8| -> u64 { total(make(n)) + total(clean(make(n + 1))) });
    assert!(g.__runs_as_tree());
    assert_eq!(g.compute(3), total(make(3)) + total(clean(make(4))));
}

#[test]
fn dispatched_graph_of_large_values() {
    // `a` is read twice: the dispatcher runs the graph.
    let g = graph!(|n: u8| -> u64 {
        let a = make(n);
        total(clean(a)) + first(&a)
    });
    assert!(!g.__runs_as_tree());
    assert_eq!(g.compute(3), total(clean(make(3))) + first(&make(3)));
}

/// A client's tasks pass large values as a graph's do: a task's result, a dependent
/// taking it by value (a clone, then the last handle's value itself), and a dynamic
/// graph computed by the client, each on one of the client's workers (2 MiB stacks),
/// which overflowed and aborted the process in an optimised build too.
#[test]
fn futures_of_large_values() {
    let client = Client::builder().threads(1).build().unwrap();
    let a = client.submit(make, (3,));
    let cloned = client.submit(total, (&a,));
    let moved = client.submit(|a: [u8; N]| total(clean(a)), (a,));
    let computed = client.compute(&delayed(total).call(delay!(make(5))));
    let results = [cloned, moved, computed].map(|f| f.result().unwrap());
    assert_eq!(results, [sum(3), total(clean(make(3))), sum(5)]);
}

fn sum(seed: u8) -> u64 {
    total(make(seed))
}

/// A large value as the result of a compute comes back to a caller on a 2 MiB thread,
/// as from a plain function: of a `graph!` (either form) and of a dynamic graph (alone
/// and with another value), which overflowed the caller's stack in the run's frames
/// above the task (the read of the output, the `Result`s of each layer), optimised too.
/// Each is read in a function of its own, as a debug build keeps every temporary of a
/// function in its frame.
#[test]
fn large_results_of_computes() {
    let sums = watchdog::within(LIMIT, "large results", || {
        [
            tree_result(3),
            dispatched_result(4),
            dynamic_result(5),
            dynamic_results(6),
        ]
    });
    assert_eq!(sums, [cleaned(3), cleaned(4), cleaned(5), sum(6)]);
}

fn tree_result(n: u8) -> u64 {
    let g = graph!(|n: u8| -> [u8; N] { clean(make(n)) });
    assert!(g.__runs_as_tree());
    total(g.compute(n))
}

fn dispatched_result(n: u8) -> u64 {
    let g = graph!(|n: u8| -> ([u8; N], u64) {
        let a = make(n);
        (clean(a), first(&a))
    });
    assert!(!g.__runs_as_tree());
    total(g.compute(n).0)
}

/// The same through `try_compute` (the whole `Result` read from the run's slot), and a
/// result of 16 KiB, whose slot the run keeps on this stack (a 2 MiB one holds it
/// beside the run's room; the 256 KiB ones are kept on the heap, the stack too short).
#[test]
fn large_results_of_fallible_and_middling_computes() {
    let sums = watchdog::within(LIMIT, "fallible and middling results", || {
        [
            tree_try_result(3),
            dispatched_try_result(4),
            middling_results(5),
        ]
    });
    assert_eq!(sums, [cleaned(3), cleaned(4), 4 * MIDDLING as u64 * 5]);
}

fn tree_try_result(n: u8) -> u64 {
    let g = graph!(|n: u8| -> [u8; N] { clean(make(n)) });
    total(g.try_compute(n).expect("no task fails"))
}

fn dispatched_try_result(n: u8) -> u64 {
    let g = graph!(|n: u8| -> ([u8; N], u64) {
        let a = make(n);
        (clean(a), first(&a))
    });
    total(g.try_compute(n).expect("no task fails").0)
}

const MIDDLING: usize = 16 << 10;

#[delayed]
fn middling(x: u8) -> [u8; MIDDLING] {
    [x; MIDDLING]
}

fn middling_results(n: u8) -> u64 {
    let sum = |a: [u8; MIDDLING]| a.iter().map(|&v| u64::from(v)).sum::<u64>();
    let g = graph!(|x: u8| -> [u8; MIDDLING] { middling(x) });
    let d = delay!(middling(n));
    sum(g.compute(n))
        + sum(g.try_compute(n).expect("no task fails"))
        + sum(d.compute())
        + sum(taskweave::compute((&d,)).0)
}

fn dynamic_result(n: u8) -> u64 {
    total(delay!(clean(delay!(make(n)))).compute())
}

fn dynamic_results(n: u8) -> u64 {
    let a = delay!(make(n));
    total(taskweave::compute((&a, &delay!(first(&a)))).0)
}

fn cleaned(seed: u8) -> u64 {
    total(clean(make(seed)))
}

/// Values of 2 MiB, passed by value, on a thread with the 8 MiB stack of a program's
/// `main`: plain code runs there, and so does each form of a graph of them, in debug
/// builds too (each aborted the process with a stack overflow on the caller's thread).
const BIG: usize = 2 << 20;

/// The stack of a program's main thread (Linux's default `ulimit -s`).
const MAIN_STACK: usize = 8 << 20;

#[delayed]
fn big(x: u8) -> [u8; BIG] {
    [x; BIG]
}

#[delayed]
fn big_sum(a: [u8; BIG]) -> u64 {
    a.iter().map(|&v| u64::from(v)).sum()
}

/// Runs `f` on a thread of its own whose stack is that of a program's `main`.
fn on_main_stack(what: &'static str, f: impl FnOnce() -> u64 + Send + 'static) -> u64 {
    watchdog::within(LIMIT, what, move || {
        std::thread::Builder::new()
            .name(what.to_owned())
            .stack_size(MAIN_STACK)
            .spawn(f)
            .expect("the thread starts")
            .join()
            .unwrap_or_else(|payload| std::panic::resume_unwind(payload))
    })
}

#[test]
fn big_values_in_plain_code() {
    assert_eq!(on_main_stack("plain", || big_sum(big(1))), BIG as u64);
}

#[test]
fn big_values_in_a_dynamic_graph() {
    let sum = on_main_stack("dynamic", || delay!(big_sum(big(1))).compute());
    assert_eq!(sum, BIG as u64);
}

#[test]
fn big_values_in_the_explicit_form() {
    let sum = on_main_stack("explicit", || {
        delayed(|a: [u8; BIG]| big_sum(a))
            .call(delay!(big(1)))
            .compute()
    });
    assert_eq!(sum, BIG as u64);
}

#[test]
fn big_values_in_a_graph() {
    let sum = on_main_stack("graph", || {
        graph!(|x: u8| -> u64 { big_sum(big(x)) }).compute(1)
    });
    assert_eq!(sum, BIG as u64);
}

#[test]
fn big_result_of_a_graph() {
    let sum = on_main_stack("graph result", || {
        total_big(graph!(|x: u8| -> [u8; BIG] { big(x) }).compute(2))
    });
    assert_eq!(sum, 2 * BIG as u64);
}

#[delayed]
fn small_enough(x: u8) -> Result<u8, String> {
    if x < 10 {
        Ok(x)
    } else {
        Err(format!("{x} is too large"))
    }
}

/// A 2 MiB value a `?` leaves unread when it returns early is dropped where its slot
/// is, as the graph's other values are: not read out of it first, in frames of their
/// own, on the caller's 8 MiB stack.
#[test]
fn a_big_value_left_unread_by_an_early_exit() {
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        let exits = on_main_stack("early exit", move || {
            let g = graph!(|x: u8| -> Result<u64, String> {
                let b = big(x);
                let c = small_enough(x)?;
                Ok(big_sum(b) + c as u64)
            });
            let exit = g.compute_with(scheduler, 50).expect_err("50 is too large");
            assert_eq!(exit, "50 is too large");
            g.compute_with(scheduler, 1).expect("1 is small enough")
        });
        assert_eq!(exits, BIG as u64 + 1, "{scheduler:?}");
    }
}

fn total_big(a: [u8; BIG]) -> u64 {
    a.iter().map(|&v| u64::from(v)).sum()
}

/// How many of [`below`]'s frames (256 KiB of padding each) to run under: plain code of
/// 2 MiB values ran on an 8 MiB stack under up to 10 (22 optimised); a graph of them
/// overflowed under 8 (16 optimised), its tree's branch holding each node's value twice.
const DEEP: usize = if cfg!(debug_assertions) { 9 } else { 20 };

/// Runs `f` below `frames` frames of 256 KiB of padding each.
#[inline(never)]
fn below(frames: usize, f: fn() -> u64) -> u64 {
    if frames == 0 {
        return f();
    }
    let pad = std::hint::black_box([0u8; 256 << 10]);
    let out = below(frames - 1, f);
    std::hint::black_box(&pad);
    out
}

/// A graph of 2 MiB values computed deep in the stack of a program's `main`, as
/// plain code runs there (the probe's `main`, with 2 MiB temporaries of its own in its
/// frame, overflowed in the graph's run, optimised too).
#[test]
fn big_values_in_a_graph_deep_in_the_stack() {
    let plain = on_main_stack("plain, deep", || below(DEEP, || big_sum(big(1))));
    let graph = on_main_stack("graph, deep", || {
        below(DEEP, || {
            graph!(|x: u8| -> u64 { big_sum(big(x)) }).compute(1)
        })
    });
    assert_eq!([plain, graph], [BIG as u64; 2]);
}

/// A graph's 2 MiB result returned deep in the stack of a program's `main`, as plain
/// code returns it there: of `graph!` (either form) and of a dynamic graph (`compute`
/// and `taskweave::compute`). Outside the run's stack room the result is held once,
/// where the caller keeps it: the run's `Result` and the room's slot were two more
/// copies, which overflowed under 3 of [`below`]'s frames in a debug build where plain
/// code runs under 10, and the graphs now too (optimised: under 16 for `graph!`, 8 for
/// a dynamic graph, where plain code that keeps its result runs under 23). Each
/// result is read in a function of its own, as plain code's is.
#[test]
fn big_results_deep_in_the_stack() {
    let sums = [
        on_main_stack("plain result, deep", || below(DEEP, plain_big_result)),
        on_main_stack("tree result, deep", || below(DEEP, tree_big_result)),
        on_main_stack("dispatched result, deep", || {
            below(DEEP, dispatched_big_result)
        }),
        on_main_stack("dynamic result, deep", || below(DEEP, dynamic_big_result)),
        on_main_stack("computed result, deep", || below(DEEP, computed_big_result)),
    ];
    assert_eq!(sums, [7; 5]);
}

fn plain_big_result() -> u64 {
    u64::from(big(std::hint::black_box(7))[BIG - 1])
}

fn tree_big_result() -> u64 {
    let g = graph!(|x: u8| -> [u8; BIG] { big(x) });
    assert!(g.__runs_as_tree());
    u64::from(g.compute(7)[BIG - 1])
}

fn dispatched_big_result() -> u64 {
    // `a` is read twice: the dispatcher runs the graph.
    let g = graph!(|x: u8| -> ([u8; BIG], u64) {
        let a = big(x);
        (a, big_sum(a))
    });
    assert!(!g.__runs_as_tree());
    u64::from(g.compute(7).0[BIG - 1])
}

fn dynamic_big_result() -> u64 {
    u64::from(delay!(big(7)).compute()[BIG - 1])
}

fn computed_big_result() -> u64 {
    u64::from(taskweave::compute((&delay!(big(7)),)).0[BIG - 1])
}

/// A `graph!`'s 2 MiB result computed on a pool of the caller's (`compute_on`,
/// `try_compute_on`, each pool thread's stack Rust's default 2 MiB) comes back as
/// `compute`'s does: deep in the stack of a program's `main` for `compute_on`, on it
/// for `try_compute_on` (whose caller holds the `Result` too, as plain code with one
/// does). Each aborted the process with a stack overflow, debug and optimised: the
/// result came back through rayon's `install` by value, a copy in each of its frames
/// on the pool's thread, which holds none of 2 MiB beside its own.
#[test]
fn big_results_on_a_pool() {
    let sums = [
        on_main_stack("compute_on result, deep", || below(DEEP, pool_big_result)),
        on_main_stack("try_compute_on result", pool_big_try_result),
    ];
    assert_eq!(sums, [7; 2]);
}

fn pool_big_result() -> u64 {
    let g = graph!(|x: u8| -> [u8; BIG] { big(x) });
    u64::from(g.compute_on(&pool(), 7)[BIG - 1])
}

fn pool_big_try_result() -> u64 {
    let g = graph!(|x: u8| -> [u8; BIG] { big(x) });
    u64::from(g.try_compute_on(&pool(), 7).expect("no task fails")[BIG - 1])
}

/// A graph whose result is 2 MiB and which has a `?`, its nodes run by rayon's global
/// pool (threads of Rust's default 2 MiB stack): the `?`'s node holds the graph's early
/// exit (its whole result type) in its frames, and has stack room for it, whichever
/// way the `?` goes. (It overflowed the pool's thread in a debug build, the `?` met or
/// not; the caller's run has room for the result, its pool's threads had not.)
#[test]
fn a_big_result_of_a_graph_with_an_early_exit_on_a_pool_thread() {
    for x in [1, 50] {
        let last = on_main_stack("early exit on a pool", move || {
            let g = graph!(|x: u8| -> Result<[u8; BIG], String> {
                let b = big(x);
                let c = small_enough(x)?;
                Ok(plus_one(b, c))
            });
            match g
                .try_compute_with(Scheduler::Threads, x)
                .expect("no task fails")
            {
                Ok(b) => u64::from(b[BIG - 1]),
                Err(exit) => {
                    assert_eq!(exit, "50 is too large");
                    0
                }
            }
        });
        assert_eq!(last, if x == 1 { 2 } else { 0 });
    }
}

#[delayed]
fn plus_one(mut a: [u8; BIG], by: u8) -> [u8; BIG] {
    a[BIG - 1] += by;
    a
}

/// 64 KiB: a value many of whose copies fit no stack, a few of which do.
const WIDE: usize = 64 << 10;

#[delayed]
fn wide(x: u8) -> [u8; WIDE] {
    [x; WIDE]
}

#[delayed]
fn wide_step(mut a: [u8; WIDE]) -> [u8; WIDE] {
    a[0] = a[0].wrapping_add(1);
    a
}

#[delayed]
fn wide_first(a: [u8; WIDE]) -> u64 {
    u64::from(a[0])
}

#[delayed]
fn add_u64(a: u64, b: u64) -> u64 {
    a + b
}

/// A graph on the dispatcher whose unrolled loops make 122 values of 64 KiB (7.6 MiB
/// of slots, all alive across the run), computed on the 8 MiB stack of a program's
/// `main`, where plain code looping over one variable runs: its slots are made in a
/// stack room of their own. (The body's frame held every slot, in a debug build each
/// in a place of its own, and overflowed the caller's stack on either scheduler.)
#[test]
fn many_large_values_of_an_unrolled_loop() {
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        let sum = on_main_stack("unrolled loop", move || {
            let g = graph!(|x: u8| -> u64 {
                let mut a = wide(x);
                for _ in 0..60 {
                    a = wide_step(a);
                }
                let mut b = wide(x);
                for _ in 0..60 {
                    b = wide_step(b);
                }
                let f = wide_first(a);
                add_u64(add_u64(f, wide_first(b)), f)
            });
            assert!(!g.__runs_as_tree());
            g.compute_with(scheduler, 1)
        });
        assert_eq!(sum, 3 * 61, "{scheduler:?}");
    }
}

/// A graph run as nested joins whose two branches are unrolled loops of 60 values of
/// 64 KiB, on rayon's pool (threads of 2 MiB): each branch's locals are made in a
/// stack room of their own. (A branch's frame held all of its nodes' values, in a debug
/// build each in a place of its own, and overflowed the pool's thread.)
#[test]
fn many_large_values_of_unrolled_loops_in_a_tree() {
    let g = graph!(|x: u8| -> u64 {
        let mut a = wide(x);
        for _ in 0..60 {
            a = wide_step(a);
        }
        let mut b = wide(x);
        for _ in 0..60 {
            b = wide_step(b);
        }
        add_u64(wide_first(a), wide_first(b))
    });
    assert!(g.__runs_as_tree());
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        assert_eq!(g.compute_with(scheduler, 1), 2 * 61, "{scheduler:?}");
    }
}

/// A pool of one thread, with Rust's default stack.
fn pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
}

/// A client's values of 2 MiB handed over on a thread with the stack of a program's
/// `main`, where plain code holding them runs: each read of a result (`result`,
/// `result_timeout`, `result_shared`, `gather`, `gather_skip`, `as_completed`'s
/// results, a computed graph's) and each scatter of one. Each aborted the process with
/// a stack overflow on the caller's thread (the reads in a debug build; `gather` and
/// `scatter` optimised too), the value passing by value through the frames that read
/// or store it. Each runs in a function of its own, as a debug build keeps every
/// temporary of a function in its frame.
#[test]
fn big_values_through_a_client() {
    let sums = [
        on_main_stack("result", big_result),
        on_main_stack("result_timeout", big_result_timeout),
        on_main_stack("result_shared", big_result_shared),
        on_main_stack("gather", big_gather),
        on_main_stack("gather_skip", big_gather_skip),
        on_main_stack("with_results", big_with_results),
        on_main_stack("compute", big_compute),
        on_main_stack("scatter", big_scatter),
        on_main_stack("scatter_pure", big_scatter_pure),
        on_main_stack("scatter_each", big_scatter_each),
    ];
    assert_eq!(sums, [BIG as u64; 10]);
}

fn big_result() -> u64 {
    let client = Client::builder().threads(1).build().unwrap();
    big_sum(client.submit(big, (1,)).result().unwrap())
}

fn big_result_timeout() -> u64 {
    let client = Client::builder().threads(1).build().unwrap();
    let future = client.submit(big, (1,));
    big_sum(future.result_timeout(LIMIT).unwrap())
}

fn big_result_shared() -> u64 {
    let client = Client::builder().threads(1).build().unwrap();
    let shared = client.submit(big, (1,)).result_shared().unwrap();
    shared.iter().map(|&v| u64::from(v)).sum()
}

fn big_gather() -> u64 {
    let client = Client::builder().threads(1).build().unwrap();
    let values = client.gather(&[client.submit(big, (1,))]).unwrap();
    values.iter().flatten().map(|&v| u64::from(v)).sum()
}

fn big_gather_skip() -> u64 {
    let client = Client::builder().threads(1).build().unwrap();
    let values = client.gather_skip(&[client.submit(big, (1,))]).unwrap();
    values.iter().flatten().map(|&v| u64::from(v)).sum()
}

fn big_with_results() -> u64 {
    let client = Client::builder().threads(1).build().unwrap();
    let futures = as_completed([client.submit(big, (1,))]);
    let (_, value) = futures.with_results().next().unwrap();
    value.unwrap().iter().map(|&v| u64::from(v)).sum()
}

fn big_compute() -> u64 {
    let client = Client::builder().threads(1).build().unwrap();
    big_sum(client.compute(&delay!(big(1))).result().unwrap())
}

fn big_scatter() -> u64 {
    let client = Client::builder().threads(1).build().unwrap();
    let scattered = client.scatter(big(1));
    client.submit(big_sum, (&scattered,)).result().unwrap()
}

fn big_scatter_pure() -> u64 {
    let client = Client::builder().threads(1).build().unwrap();
    let scattered = client.scatter_pure(big(1));
    client.submit(big_sum, (&scattered,)).result().unwrap()
}

fn big_scatter_each() -> u64 {
    let client = Client::builder().threads(1).build().unwrap();
    let scattered = client.scatter_each((1..2).map(big));
    client.submit(big_sum, (&scattered[0],)).result().unwrap()
}

/// Values of 2 MiB persisted on a thread with `main`'s stack (`persist`,
/// `taskweave::persist`, `client.persist`), each then read by a graph. Each aborted
/// the process with a stack overflow on the caller's thread in a debug build, the
/// value passing by value through the frames above the run and those that make the
/// node, then through the node's run.
#[test]
fn big_persisted_values() {
    let sums = [
        on_main_stack("persist", big_persisted),
        on_main_stack("taskweave::persist", big_persisted_together),
        on_main_stack("client.persist", big_persisted_by_a_client),
    ];
    assert_eq!(sums, [BIG as u64; 3]);
}

fn big_persisted() -> u64 {
    let held = delay!(big(1)).persist();
    delay!(big_sum(&held)).compute()
}

fn big_persisted_together() -> u64 {
    let held = taskweave::persist(&delay!(big(1)));
    delay!(big_sum(&held)).compute()
}

fn big_persisted_by_a_client() -> u64 {
    let client = Client::builder().threads(1).build().unwrap();
    let held = client.persist(&delay!(big(1)));
    delay!(big_sum(&held)).compute()
}

/// How many of [`below`]'s frames to make a node of a 2 MiB value under: plain code
/// holding the value in a local and passing it on runs under 6 in a debug build (its
/// frame keeps a copy besides the call's), plain code passing it straight on under 22
/// optimised.
const HELD_DEEP: usize = if cfg!(debug_assertions) { 5 } else { DEEP };

/// Values of 2 MiB made into nodes on a thread with `main`'s stack, deep in it as
/// plain code holding them runs, then read by a graph: `Delayed::value`, and a value
/// passed to `delayed(f).call(…)` (alone, beside another argument, and to a pure
/// function, whose key is hashed from it). Each aborted
/// the process with a stack overflow on the caller's thread in a debug build, the
/// value passing by value through the frames that make the node (its body, the
/// closure that wrote it, each function's argument): 5 copies, and 10 for a call's
/// argument (its kept tuple and the task's closure). Optimised, `Delayed::value` ran
/// under 15 frames and a call under 7.
#[test]
fn big_values_made_into_nodes() {
    let sums = [
        on_main_stack("plain, deep", || below(HELD_DEEP, || big_sum(big(1)))),
        on_main_stack("Delayed::value", || below(HELD_DEEP, big_value_node)),
        on_main_stack("call", || below(HELD_DEEP, big_call_argument)),
        on_main_stack("call of two", || below(HELD_DEEP, big_call_arguments)),
        on_main_stack("pure call", || below(HELD_DEEP, big_pure_call_argument)),
    ];
    let one = BIG as u64;
    assert_eq!(sums, [one, one, one, 3 * one, one]);
}

fn big_value_node() -> u64 {
    let value = Delayed::value(big(std::hint::black_box(1)));
    delay!(big_sum(&value)).compute()
}

fn big_call_argument() -> u64 {
    delayed(|a: [u8; BIG]| big_sum(a))
        .call(big(std::hint::black_box(1)))
        .compute()
}

fn big_call_arguments() -> u64 {
    delayed(|a: [u8; BIG], times: u64| big_sum(a) * times)
        .call(big(std::hint::black_box(1)), 3)
        .compute()
}

fn big_pure_call_argument() -> u64 {
    delayed(|a: [u8; BIG]| big_sum(a))
        .pure()
        .call(big(std::hint::black_box(1)))
        .compute()
}

/// Values of 2 MiB passed to a client's tasks by value on a thread with `main`'s
/// stack, deep in it where plain code holding them runs (see [`HELD_DEEP`]): `submit`,
/// a builder's `submit`, and a pure builder's, which hashes its key from them. Each
/// aborted the process with a stack overflow on the caller's thread in a debug build
/// (the arguments passed by value through the frames that keep them, before the job's
/// stack room), and the pure one optimised too (its frames kept the arguments across
/// the key's hashing and the lookup of an equal task). Then each ran under 2 of
/// [`below`]'s frames in a debug build, not 5: the entry point's `Option` of the
/// arguments was one copy more than plain code makes.
#[test]
fn big_arguments_through_a_client() {
    let submits: [(&str, Case); 3] = [
        ("submit of a value", big_submitted),
        ("a builder's submit", big_built),
        ("a pure builder's submit", big_built_pure),
    ];
    let sums = submits.map(|(what, submit)| on_main_stack(what, move || below(HELD_DEEP, submit)));
    assert_eq!(sums, [BIG as u64; 3]);
}

/// A 2 MiB argument beside one with drop glue (a `String`) passed to a client's tasks
/// as [`big_arguments_through_a_client`]'s are, deep in the stack as plain code
/// holding them runs (see [`KEPT_DEEP`]: 2 padding frames in a debug build). The entry
/// point reads them in place and forgets its parameter, a copy in a debug build, as
/// an `Option` of them was. Reading the other arguments in place once made this case
/// overflow with no padding at all: a function that both borrowed and moved the
/// parameter copied it to a temporary first.
#[test]
fn big_arguments_with_drop_glue_through_a_client() {
    let submits: [(&str, Case); 5] = [
        ("plain, held", big_held_with_a_string),
        ("submit of a value", big_submitted_with_a_string),
        ("a builder's submit", big_built_with_a_string),
        ("a pure builder's submit", big_built_pure_with_a_string),
        (
            "submit of a closure and a value",
            half_captured_and_submitted,
        ),
    ];
    let sums = submits.map(|(what, submit)| on_main_stack(what, move || below(KEPT_DEEP, submit)));
    assert_eq!(sums, [BIG as u64 + 1; 5]);
}

/// A closure that captures 1 MiB submitted with a 1 MiB argument: the closure from an
/// `Option`, the argument read in place (it overflowed with no padding when the
/// argument went into an `Option` too, in a function that also borrowed it).
fn half_captured_and_submitted() -> u64 {
    const HALF: usize = BIG / 2;
    let client = one_thread();
    let bytes = [1u8; HALF];
    let value = [1u8; HALF];
    let sum = move |a: [u8; HALF]| a.iter().chain(&bytes).map(|&v| u64::from(v)).sum::<u64>();
    client.submit(sum, (value,)).result().unwrap() + 1
}

fn big_sum_with(a: [u8; BIG], s: String) -> u64 {
    big_sum(a) + s.len() as u64
}

fn big_held_with_a_string() -> u64 {
    let value = big(std::hint::black_box(1));
    big_sum_with(value, "x".to_string())
}

fn big_submitted_with_a_string() -> u64 {
    let client = one_thread();
    let value = big(std::hint::black_box(1));
    let future = client.submit(big_sum_with, (value, "x".to_string()));
    future.result().unwrap()
}

fn big_built_with_a_string() -> u64 {
    let client = one_thread();
    let value = big(std::hint::black_box(1));
    let future = client.task(big_sum_with).submit((value, "x".to_string()));
    future.result().unwrap()
}

fn big_built_pure_with_a_string() -> u64 {
    let client = one_thread();
    let value = big(std::hint::black_box(1));
    let future = client
        .task(big_sum_with)
        .pure()
        .submit((value, "x".to_string()));
    future.result().unwrap()
}

/// A case run on a thread of its own (see [`on_main_stack`]).
type Case = fn() -> u64;

fn big_submitted() -> u64 {
    let client = Client::builder().threads(1).build().unwrap();
    let value = big(std::hint::black_box(1));
    client.submit(big_sum, (value,)).result().unwrap()
}

fn big_built() -> u64 {
    let client = Client::builder().threads(1).build().unwrap();
    let value = big(std::hint::black_box(1));
    client.task(big_sum).submit((value,)).result().unwrap()
}

fn big_built_pure() -> u64 {
    let client = Client::builder().threads(1).build().unwrap();
    let value = big(std::hint::black_box(1));
    client
        .task(big_sum)
        .pure()
        .submit((value,))
        .result()
        .unwrap()
}

#[delayed(pure)]
fn big_pure_sum(a: [u8; BIG]) -> u64 {
    a.iter().map(|&v| u64::from(v)).sum()
}

#[delayed]
fn big_times(a: [u8; BIG], times: u64) -> u64 {
    big_sum(a) * times
}

/// A 2 MiB constant argument of `delay!` (a value, not a node) deep in the stack of a
/// program's `main`, where plain code passing it on runs: alone, beside another
/// argument, and to a pure function (its key hashed from it). Each aborted the process
/// with a stack overflow on the caller's thread in a debug build, at once: `delay!`'s
/// expansion held the value by value in the caller's frame, five copies of it (the
/// argument's variable, `Wrap`, the converted argument, the task's closure, its call's
/// argument). The pure one ran under 15 frames optimised.
#[test]
fn big_constants_of_delay() {
    let sums = [
        on_main_stack("plain constant, deep", || below(DEEP, plain_big_constant)),
        on_main_stack("delay! of a constant", || below(DEEP, big_constant)),
        on_main_stack("delay! of two", || below(DEEP, big_constant_and_another)),
        on_main_stack("pure delay!", || below(DEEP, big_pure_constant)),
    ];
    let one = BIG as u64;
    assert_eq!(sums, [one, one, 3 * one, one]);
}

fn plain_big_constant() -> u64 {
    big_sum([std::hint::black_box(1); BIG])
}

fn big_constant() -> u64 {
    delay!(big_sum([std::hint::black_box(1); BIG])).compute()
}

fn big_constant_and_another() -> u64 {
    delay!(big_times([std::hint::black_box(1); BIG], 3)).compute()
}

fn big_pure_constant() -> u64 {
    delay!(big_pure_sum([std::hint::black_box(1); BIG])).compute()
}

/// How many of [`below`]'s frames to keep a closure that captures a 2 MiB value under:
/// plain code keeping one (in a `Box`) runs under 2 in a debug build.
const KEPT_DEEP: usize = if cfg!(debug_assertions) { 2 } else { DEEP };

/// A closure that captures a 2 MiB value made into a node on a thread with `main`'s
/// stack, deep in it where plain code keeping such a closure runs: `Delayed::map`'s,
/// and a function of the explicit form (`delayed(f)`). Each aborted the process with a
/// stack overflow on the caller's thread in a debug build, at once: the closure passed
/// by value through the frames that make the node (or the function's `Arc`).
#[test]
fn big_captures_made_into_nodes() {
    let sums = [
        on_main_stack("plain closure, kept", || {
            below(KEPT_DEEP, plain_kept_capture)
        }),
        on_main_stack("Delayed::map", || below(KEPT_DEEP, big_map_capture)),
        on_main_stack("delayed(f)", || below(KEPT_DEEP, big_delayed_capture)),
    ];
    assert_eq!(sums, [BIG as u64; 3]);
}

#[inline(never)]
fn kept(f: impl Fn(u64) -> u64 + 'static) -> Box<dyn Fn(u64) -> u64> {
    Box::new(f)
}

fn plain_kept_capture() -> u64 {
    let bytes = big(std::hint::black_box(1));
    kept(move |k| u64::from(bytes[0]) * k * BIG as u64)(1)
}

fn big_map_capture() -> u64 {
    let bytes = big(std::hint::black_box(1));
    Delayed::value(1u64)
        .map(move |&k| u64::from(bytes[0]) * k * BIG as u64)
        .compute()
}

fn big_delayed_capture() -> u64 {
    let bytes = big(std::hint::black_box(1));
    delayed(move |k: u64| u64::from(bytes[0]) * k * BIG as u64)
        .call(1)
        .compute()
}

/// A graph of a 2 MiB input.
macro_rules! input_graph {
    () => {
        graph!(|a: [u8; BIG]| -> u64 { big_sum(a) })
    };
}

/// How many of [`below`]'s frames to pass a graph a 2 MiB input under: plain code
/// holding the value runs under 6 in a debug build, and so do the graphs' entry
/// points; optimised, plain code runs under 23, and so do `try_compute` and
/// `compute_on`, but `compute` and `compute_with` only under 15 (their frame keeps the
/// input's `Option`, one copy more).
const INPUT_DEEP: usize = if cfg!(debug_assertions) {
    HELD_DEEP
} else {
    12
};

/// A graph's 2 MiB input passed by value on a thread with `main`'s stack, deep in it
/// (see [`INPUT_DEEP`]): to `compute`, `try_compute`, `compute_with`,
/// `try_compute_with`, `compute_on` and `try_compute_on`. Each aborted the process with
/// a stack overflow on the caller's thread in a debug build (`compute_on`'s under 3
/// frames): `compute` passed its inputs on by value, and each made them a tuple, then
/// an `Option` of it, in its frame. Optimised, `compute` ran under 7 frames.
#[test]
fn big_inputs_of_a_graph() {
    let inputs: [(&str, Case); 7] = [
        ("plain, deep", || big_sum(big(std::hint::black_box(1)))),
        ("compute", || input_graph!().compute(big(1))),
        ("try_compute", || {
            input_graph!().try_compute(big(1)).unwrap()
        }),
        ("compute_with", || {
            input_graph!().compute_with(Scheduler::Sync, big(1))
        }),
        ("try_compute_with", || {
            input_graph!()
                .try_compute_with(Scheduler::Sync, big(1))
                .unwrap()
        }),
        ("compute_on", || input_graph!().compute_on(&pool(), big(1))),
        ("try_compute_on", || {
            input_graph!().try_compute_on(&pool(), big(1)).unwrap()
        }),
    ];
    let sums = inputs.map(|(what, input)| on_main_stack(what, move || below(INPUT_DEEP, input)));
    assert_eq!(sums, [BIG as u64; 7]);
}

/// `input` below [`HELD_DEEP`] of [`below`]'s frames.
fn held_deep(input: Case) -> impl FnOnce() -> u64 + Send + 'static {
    move || below(HELD_DEEP, input)
}

/// How many of [`below`]'s frames to give `client.map` an array of a 2 MiB item under:
/// plain code keeping a closure of one (see [`KEPT_DEEP`]) runs under 2 in a debug
/// build; optimised, `client.map` runs under 15 (its frame keeps the array's
/// `Option`), where plain code passing it on runs under 23.
const GIVEN_DEEP: usize = if cfg!(debug_assertions) {
    KEPT_DEEP
} else {
    12
};

/// 2 MiB items of `client.map` on a thread with `main`'s stack, deep in it where plain
/// code holding them runs: made by an iterator, in a `Vec`, through a builder's `map`
/// (pure too), and in an array given by value (see [`GIVEN_DEEP`]). Each aborted the
/// process with a stack overflow on the caller's thread in a debug build, at once: the
/// items passed by value through the frames that submit them, outside any stack room.
/// Optimised, the first ran under 15 frames, the pure builder's and the array's under
/// 7.
#[test]
fn big_items_of_a_client_map() {
    let maps: [(&str, Case); 5] = [
        ("plain item, deep", || {
            let item = big(std::hint::black_box(1));
            big_sum(item)
        }),
        ("client.map", || mapped(|c| c.map(big_sum, (1..2).map(big)))),
        ("client.map of a Vec", || {
            mapped(|c| c.map(big_sum, vec![big(std::hint::black_box(1))]))
        }),
        ("a builder's map", || {
            mapped(|c| c.task(big_sum).map((1..2).map(big)))
        }),
        ("a pure builder's map", || {
            mapped(|c| c.task(big_sum).pure().map((1..2).map(big)))
        }),
    ];
    let sums = maps.map(|(what, map)| on_main_stack(what, held_deep(map)));
    let array = on_main_stack("client.map of an array", || {
        below(GIVEN_DEEP, || {
            mapped(|c| c.map(big_sum, [big(std::hint::black_box(1))]))
        })
    });
    assert_eq!(sums, [BIG as u64; 5]);
    assert_eq!(array, BIG as u64);
}

/// The sum of the results of the futures `map` makes on a client of one thread.
fn mapped(map: impl FnOnce(&Client) -> Vec<Future<u64>>) -> u64 {
    let client = Client::builder().threads(1).build().unwrap();
    map(&client).iter().map(|f| f.result().unwrap()).sum()
}

/// How often a [`Counted`] was dropped.
static COUNTED_DROPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A 2 MiB value with drop glue, counted; its `Hash` panics when `panics`.
#[derive(Clone)]
struct Counted {
    bytes: [u8; BIG],
    panics: bool,
}

impl Counted {
    fn new(panics: bool) -> Self {
        Counted {
            bytes: [std::hint::black_box(1); BIG],
            panics,
        }
    }
}

impl std::hash::Hash for Counted {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        assert!(!self.panics, "no key for this one");
        self.bytes.hash(state);
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        COUNTED_DROPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[delayed(pure)]
fn counted_sum(counted: &Counted) -> u64 {
    counted.bytes.iter().map(|&v| u64::from(v)).sum()
}

/// A 2 MiB constant argument of `delay!` with drop glue, on a thread with `main`'s
/// stack under [`KEPT_DEEP`] frames (plain code passing it on runs under 6 in a debug
/// build), dropped once: with its node, or by `delay!` when its pure key's hash panics.
/// It aborted the process with a stack overflow on the caller's thread in a debug
/// build, at once (moved into a `ManuallyDrop` before its stack room, a copy more).
#[test]
fn big_constants_with_drop_glue() {
    let sum = on_main_stack("delay! of a value with drop glue", || {
        below(KEPT_DEEP, || {
            delay!(counted_sum(Counted::new(false))).compute()
        })
    });
    let made = COUNTED_DROPS.load(std::sync::atomic::Ordering::SeqCst);
    let panicked = on_main_stack("delay! of a value whose key panics", || {
        let made = std::panic::catch_unwind(|| delay!(counted_sum(Counted::new(true))));
        u64::from(made.is_err())
    });
    let dropped = COUNTED_DROPS.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!([sum, panicked], [BIG as u64, 1]);
    assert_eq!([made, dropped], [1, 2]);
}

/// A closure that captures a 2 MiB value given to a client's tasks on a thread with
/// `main`'s stack, deep in it where plain code keeping such a closure runs (see
/// [`KEPT_DEEP`]): `submit`'s function, a builder's (its `submit`, a pure one's, its
/// `map`), `map`'s and `map2`'s. Each aborted the process with a stack overflow, at
/// once: in a debug build on the caller's thread, the closure passed by value through
/// the frames that make the job (or the builder's `Arc`, and a builder's job, then as
/// large as the function it holds the `Arc` of); optimised on the worker's 2 MiB
/// stack, the job's own function taken out for its run outside the run's stack room
/// (and a pure builder's on the caller's thread under 8 of [`below`]'s frames, the
/// maps under 17, where plain code runs under 23).
#[test]
fn big_captures_through_a_client() {
    let cases: [(&str, Case); 7] = [
        ("plain closure, kept", plain_kept_capture),
        ("client.submit of a closure", big_capture_submitted),
        ("a builder's submit of a closure", big_capture_built),
        (
            "a pure builder's submit of a closure",
            big_capture_built_pure,
        ),
        ("a builder's map of a closure", big_capture_built_map),
        ("client.map of a closure", big_capture_mapped),
        ("client.map2 of a closure", big_capture_mapped2),
    ];
    let sums = cases.map(|(what, case)| on_main_stack(what, move || below(KEPT_DEEP, case)));
    assert_eq!(sums, [BIG as u64; 7]);
}

/// A client of one thread.
fn one_thread() -> Client {
    Client::builder().threads(1).build().unwrap()
}

fn big_capture_submitted() -> u64 {
    let client = one_thread();
    let bytes = big(std::hint::black_box(1));
    client.submit(move || big_sum(bytes), ()).result().unwrap()
}

fn big_capture_built() -> u64 {
    let client = one_thread();
    let bytes = big(std::hint::black_box(1));
    let task = client.task(move || big_sum(bytes));
    task.submit(()).result().unwrap()
}

fn big_capture_built_pure() -> u64 {
    let client = one_thread();
    let bytes = big(std::hint::black_box(1));
    let task = client.task(move || big_sum(bytes)).pure();
    task.submit(()).result().unwrap()
}

fn big_capture_built_map() -> u64 {
    let client = one_thread();
    let bytes = big(std::hint::black_box(1));
    let futures = client.task(move |k: u64| big_sum(bytes) * k).map([1]);
    client.gather(&futures).unwrap().iter().sum()
}

fn big_capture_mapped() -> u64 {
    let client = one_thread();
    let bytes = big(std::hint::black_box(1));
    let futures = client.map(move |k: u64| big_sum(bytes) * k, [1]);
    client.gather(&futures).unwrap().iter().sum()
}

fn big_capture_mapped2() -> u64 {
    let client = one_thread();
    let bytes = big(std::hint::black_box(1));
    let futures = client.map2(move |k: u64, j: u64| big_sum(bytes) * k * j, [1], [1]);
    client.gather(&futures).unwrap().iter().sum()
}

/// A done callback that captures a 2 MiB value on a thread with `main`'s stack, deep in
/// it where plain code keeping such a closure runs (see [`KEPT_DEEP`]): kept by a
/// future that has not ended, then called on the worker that ends it, and added to a
/// future that has ended, called at once. Each aborted the process with a stack
/// overflow on the caller's thread, at once, debug and optimised: the callback passed
/// by value through the frames that keep or call it; kept, it was then moved out of
/// its box onto the stack of the thread that ends the task to be called.
#[test]
fn big_captures_of_done_callbacks() {
    let cases: [(&str, Case); 3] = [
        ("plain closure, kept", plain_kept_capture),
        ("a done callback, kept", big_capture_callback_kept),
        ("a done callback, called", big_capture_callback_called),
    ];
    let sums = cases.map(|(what, case)| on_main_stack(what, move || below(KEPT_DEEP, case)));
    assert_eq!(sums, [BIG as u64; 3]);
}

/// A callback kept by a future that has not ended (its task waits for `go`).
fn big_capture_callback_kept() -> u64 {
    let client = one_thread();
    let (go, gone) = std::sync::mpsc::channel::<()>();
    let gone = std::sync::Mutex::new(gone);
    let future = client.submit(move || gone.lock().unwrap().recv().map_or(0, |()| 1u64), ());
    let (tx, rx) = std::sync::mpsc::channel();
    let bytes = big(std::hint::black_box(1));
    future.add_done_callback(move |f| {
        tx.send(big_sum(bytes) * f.result().unwrap()).unwrap();
    });
    go.send(()).unwrap();
    rx.recv().unwrap()
}

/// A callback added to a future that has ended: called at once.
fn big_capture_callback_called() -> u64 {
    let client = one_thread();
    let future = client.submit(|| 1u64, ());
    future.result().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let bytes = big(std::hint::black_box(1));
    future.add_done_callback(move |f| {
        tx.send(big_sum(bytes) * f.result().unwrap()).unwrap();
    });
    rx.recv().unwrap()
}

/// A closure that captures a 2 MiB value run by `client.secede` and `secede` on a
/// thread with `main`'s stack, deep in it where plain code keeping such a closure runs
/// (see [`KEPT_DEEP`]). Each aborted the process with a stack overflow in a debug
/// build, at once: the closure passed by value through the frames that run it.
#[test]
fn big_captures_seceded() {
    let cases: [(&str, Case); 3] = [
        ("plain closure, kept", plain_kept_capture),
        ("client.secede of a closure", big_capture_seceded),
        ("secede of a closure", big_capture_seceded_alone),
    ];
    let sums = cases.map(|(what, case)| on_main_stack(what, move || below(KEPT_DEEP, case)));
    assert_eq!(sums, [BIG as u64; 3]);
}

fn big_capture_seceded() -> u64 {
    let client = one_thread();
    let bytes = big(std::hint::black_box(1));
    client.secede(move || big_sum(bytes))
}

fn big_capture_seceded_alone() -> u64 {
    let bytes = big(std::hint::black_box(1));
    taskweave::secede(move || big_sum(bytes))
}

/// A 2 MiB value scattered on a thread with `main`'s stack, deep in it where plain
/// code holding it runs (see [`HELD_DEEP`]): `scatter` and `scatter_pure`. Each aborted
/// the process with a stack overflow on the caller's thread in a debug build under 3
/// of [`below`]'s frames: the value, moved into its `Option` after a call, was copied
/// to a temporary first.
#[test]
fn big_scatters_deep_in_the_stack() {
    let cases: [(&str, Case); 3] = [
        ("plain, deep", || big_sum(big(std::hint::black_box(1)))),
        ("scatter, deep", big_scatter),
        ("scatter_pure, deep", big_scatter_pure),
    ];
    let sums = cases.map(|(what, case)| on_main_stack(what, held_deep(case)));
    assert_eq!(sums, [BIG as u64; 3]);
}
