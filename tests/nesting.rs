//! Computes nested inside tasks, 10,000 levels deep: a task that builds and computes a
//! graph whose task builds and computes a graph, and so on. The recursion is the
//! user's, but every level also costs the engine's frames (the compute, the run, the
//! dispatcher around the task), several KiB each; without the engine moving deep runs
//! onto a new stack segment (`stacker::maybe_grow` in the dispatcher's `watched`), this
//! overflowed the stack and aborted the process at about a thousand levels.
//!
//! Each case runs under a watchdog, on a thread with a 2 MiB stack, inside rayon pools
//! of one and of two threads whose workers have 2 MiB stacks too (and a chain of
//! one-node graphs on the watchdog's thread itself, outside any pool), and checks the
//! value against the same recursion called directly.

use std::time::Duration;

use taskweave::prelude::*;

#[path = "support/watchdog.rs"]
mod watchdog;

/// How many computes nest.
const DEPTH: u64 = 10_000;

/// What a level adds to the value of the level under it.
#[delayed]
fn leaf(x: u64) -> u64 {
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (x >> 7)
}

/// A level's value, from the one under it and its leaf.
#[delayed]
fn mix(inner: u64, leaf: u64) -> u64 {
    inner.rotate_left(5).wrapping_mul(31).wrapping_add(leaf)
}

/// The recursion every case computes, called directly (on a stack large enough for it).
fn sequential(depth: u64) -> u64 {
    fn level(depth: u64) -> u64 {
        if depth == 0 {
            return 1;
        }
        mix(level(depth - 1), leaf(depth))
    }
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || level(depth))
        .expect("a thread for the direct recursion")
        .join()
        .expect("the direct recursion")
}

/// A dynamic graph per level, of two independent nodes and their mix: the level under
/// it computed inside a task, beside the leaf (so the graph runs on the pool).
fn dynamic(depth: u64) -> u64 {
    if depth == 0 {
        return 1;
    }
    let inner = delayed(|d: u64| dynamic(d - 1)).call(depth);
    let leaf = delay!(leaf(depth));
    delay!(mix(inner, leaf)).compute()
}

/// A one-node dynamic graph per level (a chain: it runs on the calling thread).
fn dynamic_chain(depth: u64) -> u64 {
    if depth == 0 {
        return 1;
    }
    let inner = delayed(|d: u64| dynamic_chain(d - 1)).call(depth);
    delay!(mix(
        inner,
        depth.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (depth >> 7)
    ))
    .compute()
}

/// A `graph!` per level whose every value is read once: run as nested joins (a tree).
#[delayed]
fn nested_tree(depth: u64) -> u64 {
    if depth == 0 {
        return 1;
    }
    let g = graph!(|d: u64| -> u64 {
        let inner = nested_tree(d - 1);
        mix(inner, leaf(d))
    });
    g.compute(depth)
}

/// A `graph!` per level whose leaf is read twice: run by the dispatcher.
#[delayed]
fn dispatched(depth: u64) -> u64 {
    if depth == 0 {
        return 1;
    }
    let g = graph!(|d: u64| -> u64 {
        let inner = dispatched(d - 1);
        let l = leaf(d);
        let twice = mix(l, l);
        mix(inner, l ^ twice)
    });
    g.compute(depth)
}

/// The dispatched recursion, called directly.
fn dispatched_sequential(depth: u64) -> u64 {
    fn level(depth: u64) -> u64 {
        if depth == 0 {
            return 1;
        }
        let l = leaf(depth);
        mix(level(depth - 1), l ^ mix(l, l))
    }
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || level(depth))
        .expect("a thread for the direct recursion")
        .join()
        .expect("the direct recursion")
}

/// Runs `nest(DEPTH)` under the watchdog in a pool of `threads` threads with 2 MiB
/// stacks.
fn in_pool(what: &str, threads: usize, nest: fn(u64) -> u64) -> u64 {
    let what = format!("{what}, {threads} thread(s)");
    watchdog::within(Duration::from_secs(120), &what, move || {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .stack_size(2 << 20)
            .build()
            .expect("a pool");
        pool.install(|| nest(DEPTH))
    })
}

#[test]
fn dynamic_computes_nest_10_000_deep() {
    let expected = sequential(DEPTH);
    for threads in [1, 2] {
        assert_eq!(
            in_pool("nested dynamic computes", threads, dynamic),
            expected
        );
    }
}

#[test]
fn static_trees_nest_10_000_deep() {
    // The same graph as a level's: a tree.
    let level = graph!(|d: u64| -> u64 {
        let inner = nested_tree(d - 1);
        mix(inner, leaf(d))
    });
    assert!(level.__runs_as_tree(), "every value is read once");
    let expected = sequential(DEPTH);
    for threads in [1, 2] {
        assert_eq!(
            in_pool("nested graph! trees", threads, nested_tree),
            expected
        );
    }
}

#[test]
fn static_dispatched_graphs_nest_10_000_deep() {
    // The same graph as a level's: not a tree, so the dispatcher runs it.
    let level = graph!(|d: u64| -> u64 {
        let inner = dispatched(d - 1);
        let l = leaf(d);
        let twice = mix(l, l);
        mix(inner, l ^ twice)
    });
    assert!(!level.__runs_as_tree(), "the leaf is read twice");
    let expected = dispatched_sequential(DEPTH);
    for threads in [1, 2] {
        assert_eq!(
            in_pool("nested dispatched graph!s", threads, dispatched),
            expected
        );
    }
}

#[test]
fn chains_nest_10_000_deep_outside_the_pool() {
    let expected = sequential(DEPTH);
    let got = watchdog::within(
        Duration::from_secs(120),
        "nested one-node computes on a 2 MiB thread",
        || dynamic_chain(DEPTH),
    );
    assert_eq!(got, expected);
}

// ---- failures at the bottom ----------------------------------------------------------

/// What the bottom of [`failing`] panics with: the panic hook's messages that hold it
/// are counted, not printed, by [`hook_bytes_while`].
const BOTTOM: &str = "the bottom of the nested computes fails";

/// A `graph!` per level, as [`nested_tree`], whose bottom panics: each level's
/// `compute` resumes the failure of the level under it, inside its own task.
#[delayed]
fn failing(depth: u64) -> u64 {
    if depth == 0 {
        panic!("{BOTTOM}");
    }
    let g = graph!(|d: u64| -> u64 {
        let inner = failing(d - 1);
        mix(inner, leaf(d))
    });
    g.compute(depth)
}

/// As [`failing`], a dynamic graph per level.
fn failing_dynamic(depth: u64) -> u64 {
    if depth == 0 {
        panic!("{BOTTOM}");
    }
    let inner = delayed(|d: u64| failing_dynamic(d - 1))
        .named("failing_dynamic")
        .call(depth);
    let leaf = delay!(leaf(depth));
    delay!(mix(inner, leaf)).compute()
}

/// Runs `body` with the panic hook replaced by one that counts the bytes of the
/// messages that hold [`BOTTOM`] (each level's panic, as the default hook would print
/// it) and passes the others on; returns `body`'s value and the count.
fn hook_bytes_while<R>(body: impl FnOnce() -> R) -> (R, usize) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    // A first run installs the engine's own hook, if the environment asks for
    // backtraces, before this one is put in its place (and taken out).
    assert_eq!(delay!(leaf(0)).compute(), 0);
    let bytes = Arc::new(AtomicUsize::new(0));
    let counted = bytes.clone();
    let previous: Arc<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync> =
        Arc::from(std::panic::take_hook());
    let passed = previous.clone();
    std::panic::set_hook(Box::new(move |info| {
        let text = info.to_string();
        if text.contains(BOTTOM) {
            counted.fetch_add(text.len(), Ordering::Relaxed);
        } else {
            passed(info);
        }
    }));
    let value = body();
    let _ = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| previous(info)));
    (value, bytes.load(Ordering::Relaxed))
}

/// Computes nested 1,000 deep failing at the bottom: the error's message holds the
/// bottom's message once, the top task and the number of tasks between, and is as
/// long at any depth; the panic hook, told each level's panic as `compute` resumes
/// it, is told a message of that length per level. Each level's message held the
/// whole failure under it: 64 KB at the top, and 32 MB told to the hook in all.
#[test]
fn a_failure_1_000_deep_keeps_one_message_that_does_not_grow() {
    const DEEP: u64 = 1_000;
    let (errors, hooked) = hook_bytes_while(|| {
        watchdog::within(
            Duration::from_secs(120),
            "nested computes failing at the bottom",
            || {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(2)
                    .stack_size(2 << 20)
                    .build()
                    .expect("a pool");
                pool.install(|| {
                    let top = graph!(|d: u64| -> u64 { failing(d) });
                    let dynamic = delayed(failing_dynamic).named("failing_dynamic");
                    [
                        top.try_compute(DEEP).unwrap_err(),
                        dynamic.call(DEEP).try_compute().unwrap_err(),
                    ]
                })
            },
        )
    });
    for error in &errors {
        let message = error.to_string();
        assert!(message.len() < 400, "{} bytes: {message}", message.len());
        assert_eq!(message.matches(BOTTOM).count(), 1, "{message}");
        assert!(message.starts_with("task `failing"), "{message}");
        assert!(
            message.ends_with(&format!("panicked: {BOTTOM} (through 999 enclosing tasks)")),
            "{message}"
        );
        assert_eq!(error.enclosing(), 999);
        assert!(error.innermost().message() == BOTTOM, "{error}");
    }
    // Two runs of 1,001 panics each (the bottom's, and each level's `compute`), each
    // told in a few hundred bytes.
    assert!(
        hooked < 2 * 1_001 * 400,
        "{hooked} bytes told to the panic hook"
    );
}

/// The bottom of [`top`]'s nested computes.
#[delayed]
fn bottom(x: u64) -> u64 {
    panic!("bottom fails at {x}")
}

/// Computes a graph of [`bottom`].
#[delayed]
fn middle(x: u64) -> u64 {
    graph!(|x: u64| -> u64 { bottom(x) + leaf(x) }).compute(x)
}

/// Computes a graph of [`middle`].
#[delayed]
fn top(x: u64) -> u64 {
    graph!(|x: u64| -> u64 { middle(x) + leaf(x) }).compute(x)
}

/// A failure two and three levels deep names the failing task and its call site, and
/// the task of the graph computed (the outermost), with its own; three deep, it says
/// how many tasks it went through between them, and the failing task's error is the
/// source.
#[test]
fn a_nested_failure_names_the_failing_task_and_the_outer_one() {
    use std::error::Error as _;
    let two = graph!(|x: u64| -> u64 { middle(x) })
        .try_compute(1)
        .unwrap_err();
    let three = graph!(|x: u64| -> u64 { top(x) })
        .try_compute(1)
        .unwrap_err();
    let inner = two.innermost();
    assert_eq!(inner.task(), "bottom");
    assert!(
        inner.call_site().starts_with("tests/nesting.rs:"),
        "{inner}"
    );
    assert_eq!(inner.message(), "bottom fails at 1");
    let bottom = format!(
        "task `bottom` at {} panicked: bottom fails at 1",
        inner.call_site()
    );
    assert_eq!(two.task(), "middle");
    assert!(two.call_site().starts_with("tests/nesting.rs:"), "{two}");
    assert_ne!(two.call_site(), inner.call_site());
    assert_eq!(
        two.to_string(),
        format!("task `middle` at {} panicked: {bottom}", two.call_site())
    );
    assert_eq!(two.enclosing(), 0);
    assert_eq!(three.task(), "top");
    assert_eq!(
        three.to_string(),
        format!(
            "task `top` at {} panicked: {bottom} (through 1 enclosing task)",
            three.call_site()
        )
    );
    assert_eq!(three.enclosing(), 1);
    assert_eq!(three.innermost().to_string(), bottom);
    let source = three.source().expect("the failing task's error");
    assert_eq!(source.to_string(), bottom);
}

// ---- runs following their tasks ------------------------------------------------------

/// A dynamic graph per level, the level below computed inside a task beside a leaf,
/// each run following its task (`stop_when(taskweave::cancelled)`), the bottom asking
/// `cancelled()`: the sum of the levels, plus 1 for "not cancelled".
fn following(depth: u64) -> u64 {
    if depth == 0 {
        return u64::from(!taskweave::cancelled());
    }
    let inner = delayed(|d: u64| following(d - 1)).call(depth);
    let leaf = delayed(|d: u64| d).call(depth);
    let sum = delayed(|a: u64, b: u64| a + b).call(inner, leaf);
    let options = taskweave::RunOptions::new().stop_when(taskweave::cancelled);
    sum.try_compute_with(options).expect("no task fails")
}

/// Held by the tests of this file that nest following runs: the looks counted are the
/// process's, and one test's would count in the other's.
static FOLLOWING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs nested 1,000 deep, each following its task: every question whether a run must
/// stop (the dispatcher's before each task, the bottom's `cancelled()`) looks at a few
/// runs above it at most, not at every one up to the top. Each asked its run's
/// condition as the task the run was started in, which asked its own run's, and so on:
/// about 1.5 million looks for 1,000 levels (0.8 s in a debug build; 10,000 levels
/// took 90 s). Counted, not timed.
#[test]
fn questions_of_runs_following_their_tasks_do_not_walk_up_every_level() {
    const LEVELS: u64 = 1_000;
    let _alone = FOLLOWING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for threads in [1, 2] {
        let before = taskweave::__private::levels_looked_through();
        let got = watchdog::within(
            Duration::from_secs(120),
            "nested runs following their tasks",
            move || {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .stack_size(2 << 20)
                    .build()
                    .expect("a pool");
                pool.install(|| following(LEVELS))
            },
        );
        let looks = taskweave::__private::levels_looked_through() - before;
        assert_eq!(got, LEVELS * (LEVELS + 1) / 2 + 1, "{threads} thread(s)");
        // Three tasks and a `cancelled()` per level, each a look or two.
        assert!(
            looks < 10 * LEVELS,
            "{looks} looks at runs above, {LEVELS} levels, {threads} thread(s)"
        );
    }
}

/// Runs following their tasks 200 deep, where level `fails_at` (0: the outermost
/// following run) fails
/// once the bottom asks `cancelled()`, or, with `fails_at` `None`, the top's own stop
/// condition turns true then: the bottom sees `cancelled()` turn true, whatever level
/// stopped. Every wait gives up after a while (then the bottom returns 0, and the
/// test fails on it).
#[test]
fn a_stop_at_any_level_reaches_the_bottom_of_runs_following_their_tasks() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Instant;
    const LEVELS: u64 = 200;
    const GIVE_UP: Duration = Duration::from_secs(30);

    /// What every level shares: whether the bottom asks, and whether it saw the stop.
    #[derive(Default)]
    struct Shared {
        asking: AtomicBool,
        seen: AtomicBool,
    }

    fn level(depth: u64, fails_at: Option<u64>, shared: Arc<Shared>) -> u64 {
        if depth == 0 {
            shared.asking.store(true, Ordering::SeqCst);
            let start = Instant::now();
            while start.elapsed() < GIVE_UP {
                if taskweave::cancelled() {
                    shared.seen.store(true, Ordering::SeqCst);
                    return 1;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            return 0;
        }
        let below = shared.clone();
        let inner = delayed(move |d: u64| level(d - 1, fails_at, below.clone())).call(depth);
        let fails = fails_at == Some(LEVELS - depth);
        let gate = shared.clone();
        let side = delayed(move |d: u64| {
            if fails {
                let start = Instant::now();
                while !gate.asking.load(Ordering::SeqCst) && start.elapsed() < GIVE_UP {
                    std::thread::sleep(Duration::from_millis(1));
                }
                panic!("level {d} fails");
            }
            d
        })
        .call(depth);
        let sum = delayed(|a: u64, b: u64| a + b).call(inner, side);
        let options = taskweave::RunOptions::new().stop_when(taskweave::cancelled);
        match sum.try_compute_with(options) {
            Ok(v) => v,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    let _alone = FOLLOWING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for fails_at in [None, Some(0), Some(LEVELS / 2), Some(LEVELS - 1)] {
        let shared = Arc::new(Shared::default());
        let top = shared.clone();
        let ran = watchdog::within(
            Duration::from_secs(120),
            "a stop reaching down",
            move || {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(2)
                    .stack_size(2 << 20)
                    .build()
                    .expect("a pool");
                pool.install(move || {
                    let told = top.clone();
                    let options = taskweave::RunOptions::new().stop_when(move || {
                        fails_at.is_none() && told.asking.load(Ordering::SeqCst)
                    });
                    let inner = top.clone();
                    delayed(move |d: u64| level(d, fails_at, inner.clone()))
                        .call(LEVELS)
                        .try_compute_with(options)
                })
            },
        );
        assert!(
            shared.seen.load(Ordering::SeqCst),
            "the bottom never saw the stop of {fails_at:?}"
        );
        assert!(ran.is_err(), "{fails_at:?}: {ran:?}");
    }
}
