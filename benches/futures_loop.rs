//! The futures front end's cost per task in a plain loop, for `perf` and for comparing
//! two builds run alternately (criterion's harness would sit in the profile and take
//! minutes per comparison):
//!
//! ```sh
//! cargo build --release -p taskweave-benches --example futures_loop
//! target/release/examples/futures_loop map 100        # client.map + gather, 100 runs
//! target/release/examples/futures_loop all 100        # every shape below, in turn
//! perf record -g target/release/examples/futures_loop map 300
//! ```
//!
//! Shapes, on a 2-thread client and trivial tasks (`x + 1`), 10^4 tasks per run
//! (`round_trip`: 10^3): `map` (`client.map` then `gather`), `chain` (each `submit`
//! takes the previous future), `fan_in` (5,000 leaves then a pairwise tree) and
//! `round_trip` (`submit` then `result`, one task at a time); and `submit_10us`, the
//! submission alone: how long `client.map` of 10^4 tasks of 10 µs each takes to
//! return (the workers run them meanwhile; `gather` is not timed), as tasks per
//! second; and `fan_in_10us` (not in `all`), 1,000 leaves of 10 µs then a pairwise
//! tree, the shape `bench_report --scaling` times; and `chain_cpu` (not in `all`), the
//! submitting thread's CPU time per task of `chain`'s submissions (Unix), which a
//! loaded machine disturbs far less than the wall time; and `fan_in_10us_cpu` (not in
//! `all`), the submitting thread's CPU time per task of `fan_in_10us`, submissions and
//! wait together: what it takes from the workers' cores; and `fan_in_submit` (not in
//! `all`), the submitting thread's CPU time per task of `fan_in`'s submission of 1,000
//! leaves and their tree alone, every worker held meanwhile (so no worker touches the
//! queue or the tasks): the submission's own cost; and `fan_in_10us_held` (not in
//! `all`), `fan_in_10us` submitted the same way, every worker held, then timed from
//! the workers' release to the root's end: the run without the submission, whose
//! speed-up from `THREADS=1` to `THREADS=2` is the engine's own (the submitting
//! thread no longer takes a core from the workers). `THREADS=N` sets the client's threads
//! (default 2), so that `THREADS=1` against `THREADS=2` gives a speed-up. Each prints
//! the median, lowest and highest ns per task over its runs. And `floor` (in `all`):
//! no client at all, two plain threads passing a counter back and forth through one
//! atomic, 10^3 round trips per run: the machine's own cost of a hand-off to another
//! core and back, the least a `round_trip` can cost. It depends on where the host
//! puts the two cores (on one 2-core VM it read 44 ns, then 362 ns an hour later,
//! and `round_trip` 350 ns, then 1.3 µs), so a sitting quotes it beside the
//! round trip.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use taskweave::prelude::*;

const TASKS: u64 = 10_000;

fn inc(x: u64) -> u64 {
    x + 1
}

fn add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}

/// Busy work of about 10 µs.
fn inc_10us(x: u64) -> u64 {
    let start = Instant::now();
    while start.elapsed() < Duration::from_micros(10) {
        std::hint::spin_loop();
    }
    x + 1
}

/// The calling thread's CPU time so far (`CLOCK_THREAD_CPUTIME_ID`; zero off Unix).
fn thread_cpu() -> Duration {
    #[cfg(unix)]
    {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid, writable timespec for the call's duration.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0 {
            return Duration::new(t.tv_sec as u64, t.tv_nsec as u32);
        }
    }
    Duration::ZERO
}

/// A chain of `TASKS` futures: the last one's value, and the submitting thread's CPU
/// time spent submitting them.
fn chain(client: &Client) -> (u64, Duration) {
    let cpu = thread_cpu();
    let mut x = client.submit(inc, (0u64,));
    for _ in 1..TASKS {
        x = client.submit(inc, (x,));
    }
    let submitting = thread_cpu() - cpu;
    (x.result().expect("no task fails"), submitting)
}

/// `leaves` tasks `leaf(i)`, then a pairwise tree of `add`s: its root's value.
fn fan_in(client: &Client, leaves: u64, leaf: fn(u64) -> u64) -> u64 {
    submit_fan_in(client, leaves, leaf)
        .result()
        .expect("no task fails")
}

/// Submits `fan_in`'s tasks: the root's future.
fn submit_fan_in(client: &Client, leaves: u64, leaf: fn(u64) -> u64) -> Future<u64> {
    let mut level: Vec<Future<u64>> = (0..leaves).map(|i| client.submit(leaf, (i,))).collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [a, b] => client.submit(add, (a, b)),
                [a] => a.clone(),
                _ => unreachable!(),
            })
            .collect();
    }
    level.pop().expect("one root")
}

/// `fan_in`'s 1,000 leaves of `leaf` and their tree, submitted while every worker is
/// held by a task waiting at a gate (so no worker touches the queue or the tasks
/// meanwhile), then run once the gate opens: the root's value, the submitting
/// thread's CPU time for the submission, and the wall time of the run alone, from the
/// gate's opening to the root's end.
fn fan_in_held(client: &Client, leaf: fn(u64) -> u64) -> (u64, Duration, Duration) {
    static OPEN: AtomicBool = AtomicBool::new(false);
    static HOLDING: AtomicUsize = AtomicUsize::new(0);
    OPEN.store(false, Ordering::SeqCst);
    HOLDING.store(0, Ordering::SeqCst);
    // Yielding, not sleeping: the workers start the moment the gate opens (a sleep's
    // wake-up would be timed with the run), and give their cores to the submitting
    // thread meanwhile.
    let hold = || {
        HOLDING.fetch_add(1, Ordering::SeqCst);
        while !OPEN.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
    };
    let held: Vec<Future<()>> = (0..client.threads())
        .map(|_| client.submit(hold, ()))
        .collect();
    while HOLDING.load(Ordering::SeqCst) < held.len() {
        std::thread::yield_now();
    }
    let cpu = thread_cpu();
    let root = submit_fan_in(client, 1_000, leaf);
    let submitting = thread_cpu() - cpu;
    let start = Instant::now();
    OPEN.store(true, Ordering::SeqCst);
    let value = root.result().expect("no task fails");
    let running = start.elapsed();
    client.gather(&held).expect("no task fails");
    (value, submitting, running)
}

/// `n` hand-offs to another thread and back through one atomic (odd: the other
/// thread's turn; even: this one's), both threads polling: the time they took.
fn floor(n: u64) -> Duration {
    let turn = std::sync::Arc::new(AtomicU64::new(0));
    let other = {
        let turn = turn.clone();
        std::thread::spawn(move || loop {
            let seen = turn.load(Ordering::Acquire);
            if seen == u64::MAX {
                return;
            }
            if seen % 2 == 1 {
                turn.store(seen + 1, Ordering::Release);
            } else {
                std::hint::spin_loop();
            }
        })
    };
    // One hand-off first: the other thread is running, not starting.
    turn.store(1, Ordering::Release);
    while turn.load(Ordering::Acquire) != 2 {
        std::hint::spin_loop();
    }
    let start = Instant::now();
    for i in 1..=n {
        turn.store(2 * i + 1, Ordering::Release);
        while turn.load(Ordering::Acquire) != 2 * i + 2 {
            std::hint::spin_loop();
        }
    }
    let took = start.elapsed();
    turn.store(u64::MAX, Ordering::Release);
    other.join().expect("the other thread ends");
    took
}

/// One run of `shape`: the tasks it ran, its check value and the time it took (of its
/// submission only, for `submit_10us`; the submitting thread's CPU time, for
/// `chain_cpu`).
fn run(client: &Client, shape: &str) -> (u64, u64, Duration) {
    let start = Instant::now();
    let (tasks, value) = match shape {
        "map" => {
            let futures = client.map(inc, 0..TASKS);
            let total = client
                .gather(&futures)
                .expect("no task fails")
                .into_iter()
                .sum();
            (TASKS, total)
        }
        "chain" => (TASKS, chain(client).0),
        "chain_cpu" => {
            let (value, submitting) = chain(client);
            return (TASKS, value, submitting);
        }
        "fan_in" => (TASKS - 1, fan_in(client, TASKS / 2, inc)),
        // bench_report's scaling shape: 1,000 leaves of 10 µs, trivial combines.
        "fan_in_10us" => (1_999, fan_in(client, 1_000, inc_10us)),
        "fan_in_10us_cpu" => {
            let cpu = thread_cpu();
            let value = fan_in(client, 1_000, inc_10us);
            return (1_999, value, thread_cpu() - cpu);
        }
        "fan_in_submit" => {
            let (value, submitting, _) = fan_in_held(client, inc);
            return (1_999, value, submitting);
        }
        "fan_in_10us_held" => {
            let (value, _, running) = fan_in_held(client, inc_10us);
            return (1_999, value, running);
        }
        "round_trip" => {
            let n = TASKS / 10;
            let total = (0..n)
                .map(|i| client.submit(inc, (i,)).result().expect("no task fails"))
                .sum();
            (n, total)
        }
        "floor" => {
            let n = TASKS / 10;
            let took = floor(n);
            return (n, n, took);
        }
        "submit_10us" => {
            let futures = client.map(inc_10us, 0..TASKS);
            let submitted = start.elapsed();
            let total = client
                .gather(&futures)
                .expect("no task fails")
                .into_iter()
                .sum();
            return (TASKS, total, submitted);
        }
        other => {
            panic!(
                "unknown shape `{other}`: map, chain, fan_in, round_trip, submit_10us, \
                 floor, fan_in_10us, fan_in_10us_cpu, fan_in_10us_held, fan_in_submit, chain_cpu \
                 or all"
            )
        }
    };
    (tasks, value, start.elapsed())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let shape = args.next().unwrap_or_else(|| "all".to_owned());
    let runs: usize = args
        .next()
        .map(|n| n.parse().expect("the number of runs"))
        .unwrap_or(100);
    let shapes: Vec<&str> = match shape.as_str() {
        "all" => vec![
            "map",
            "chain",
            "fan_in",
            "round_trip",
            "submit_10us",
            "floor",
        ],
        one => vec![one],
    };
    let threads = std::env::var("THREADS")
        .ok()
        .map_or(2, |t| t.parse().expect("THREADS: a number"));
    let client = Client::builder()
        .threads(threads)
        .name("loop")
        .build()
        .expect("a client");
    for shape in shapes {
        let check = run(&client, shape).1;
        let mut times: Vec<f64> = (0..runs)
            .map(|_| {
                let (tasks, value, took) = run(&client, shape);
                assert_eq!(value, check, "{shape}: a run computed another value");
                took.as_nanos() as f64 / tasks as f64
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        println!(
            "{shape:>11}: median {median:.0} ns/task (lowest {:.0}, highest {:.0}, {runs} runs){}",
            times[0],
            times[times.len() - 1],
            if shape == "submit_10us" {
                format!(": {:.2} M tasks/s submitted", 1e3 / median)
            } else {
                String::new()
            }
        );
    }
}
