//! Soak: random workloads (static graphs, dynamic graphs, futures, graphs inside
//! tasks), with panics, cancellations and dropped handles, for a fixed time; every
//! result is checked against the same functions called directly. Prints the tasks
//! run, the errors seen and the resident memory (VmRSS) at the start, after warm-up
//! and at the end, and fails (exit code 1) when memory grew by more than
//! `--max-growth` percent after warm-up, when a result was wrong, or when a value
//! was never dropped.
//!
//! Memory is read three ways: VmRSS after every round (kept as the highest and
//! lowest in each tenth of the run); twice a second, VmRSS after glibc's
//! `malloc_trim` has handed the allocator's free pages back ("settled"); and the heap
//! in use, counted by a wrapper around the system allocator. RSS after a round moves
//! with the size of that round and with what the allocator caches; the settled RSS
//! moves with fragmentation (a few MiB either way at this scale); the heap in use
//! moves only with what is allocated and not freed. The verdict compares the highest
//! settled RSS and heap of the warm-up (the first sixth of the run, at most 10 s,
//! which starts with every workload at its largest size) with their medians over the
//! last quarter of the run: a leak lifts the second above the first, the allocator's
//! ups and downs do not.
//!
//! ```sh
//! cargo run --release --example soak -- --seconds 60
//! cargo run --release --example soak -- --seconds 600 --threads 8 --seed 7 --max-growth 10
//! cargo run --release --example soak -- --seconds 60 --only futures   # one kind of workload
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use taskweave::prelude::*;

#[path = "../tests/support/random.rs"]
mod random;

use random::{mix, Rng};

// ---- counting -------------------------------------------------------------------------

/// Task bodies run, by every engine.
static TASKS: AtomicU64 = AtomicU64::new(0);
/// Values alive: made minus dropped.
static LIVE: AtomicI64 = AtomicI64::new(0);

fn tick() {
    TASKS.fetch_add(1, Ordering::Relaxed);
}

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

/// Bytes allocated and not yet freed, by everything in the process, in KiB.
fn heap_kib() -> u64 {
    counting_alloc::live_bytes() as u64 / 1024
}

/// A value that counts itself alive.
#[derive(Debug)]
struct Val(u64);

impl Val {
    fn new(v: u64) -> Val {
        LIVE.fetch_add(1, Ordering::Relaxed);
        Val(v)
    }
}

impl Clone for Val {
    fn clone(&self) -> Self {
        Val::new(self.0)
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Tally {
    static_runs: u64,
    dynamic_runs: u64,
    future_rounds: u64,
    nested_runs: u64,
    errors: u64,
    cancelled: u64,
    wrong: u64,
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Hands the allocator's free pages back to the kernel (glibc's `malloc_trim`), so
/// that RSS measures what the process holds rather than what the allocator keeps
/// cached for later.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: `malloc_trim` takes no pointer and only returns unused heap pages to the
    // kernel; glibc allows it from any thread at any time.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

/// RSS after [`release_free_memory`].
fn settled_rss_kib() -> u64 {
    release_free_memory();
    rss_kib()
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

// ---- static graphs -------------------------------------------------------------------

/// The input that makes `leaf` panic.
const POISON: u64 = 0xdead;

#[delayed]
fn leaf(x: u64, k: u64) -> Val {
    tick();
    if x == POISON && k == 17 {
        panic!("injected in leaf {k}");
    }
    Val::new(x.wrapping_mul(0x9e37_79b9).wrapping_add(k))
}

#[delayed]
fn join(a: Val, b: &Val) -> Val {
    tick();
    Val::new(a.0.rotate_left(5) ^ b.0)
}

#[delayed]
fn peek(v: &Val) -> u64 {
    tick();
    v.0
}

fn static_direct(x: u64) -> (u64, u64) {
    let mut acc = Val::new(x.wrapping_mul(0x9e37_79b9).wrapping_add(1));
    let mut side = Val::new(x.wrapping_mul(0x9e37_79b9).wrapping_add(2));
    for k in 3..40 {
        let l = Val::new(x.wrapping_mul(0x9e37_79b9).wrapping_add(k));
        acc = Val::new(acc.0.rotate_left(5) ^ l.0);
        side = Val::new(side.0.rotate_left(5) ^ acc.0);
    }
    (acc.0, side.0)
}

fn static_round(rng: &mut Rng, pool: &rayon::ThreadPool, tally: &mut Tally) {
    let g = graph!(|x: u64| -> (u64, u64) {
        let mut acc = leaf(x, 1);
        let mut side = leaf(x, 2);
        for k in 3..40 {
            acc = join(acc, &leaf(x, k));
            side = join(side, &acc);
        }
        (peek(&acc), peek(&side))
    });
    for _ in 0..20 {
        let x = if rng.below(10) == 0 {
            POISON
        } else {
            rng.next() % 1000
        };
        let result = match rng.below(3) {
            0 => g.try_compute_with(Scheduler::Sync, x),
            1 => g.try_compute(x),
            _ => g.try_compute_on(pool, x),
        };
        tally.static_runs += 1;
        match result {
            Ok(v) if x != POISON && v == static_direct(x) => {}
            Err(e) if x == POISON && e.task() == "leaf" => tally.errors += 1,
            _ => tally.wrong += 1,
        }
    }
}

// ---- dynamic graphs ------------------------------------------------------------------

fn dynamic_round(rng: &mut Rng, pool: &rayon::ThreadPool, n: usize, tally: &mut Tally) {
    let boom = (rng.below(5) == 0).then(|| rng.below(n));
    let mut nodes: Vec<Delayed<Val>> = Vec::with_capacity(n);
    let mut values: Vec<u64> = Vec::with_capacity(n);
    let mut consumed = vec![false; n];
    for i in 0..n {
        let k = if i == 0 { 0 } else { rng.below(4) };
        let deps: Vec<usize> = (0..k).map(|_| i - 1 - rng.below(i.min(64))).collect();
        for &d in &deps {
            consumed[d] = true;
        }
        values.push(mix(i as u64, deps.iter().map(|&d| values[d])));
        let inputs: Vec<Delayed<Val>> = deps.iter().map(|&d| nodes[d].clone()).collect();
        let node = delayed(move |inputs: Vec<Val>| {
            tick();
            if boom == Some(i) {
                panic!("injected at node {i}");
            }
            Val::new(mix(i as u64, inputs.iter().map(|v| v.0)))
        })
        .call(inputs);
        nodes.push(if boom == Some(i) {
            node.named("boom")
        } else {
            node
        });
    }
    let sinks: Vec<Delayed<Val>> = (0..n)
        .filter(|&i| !consumed[i])
        .map(|i| nodes[i].clone())
        .collect();
    let expected = (0..n)
        .filter(|&i| !consumed[i])
        .fold(0u64, |acc, i| acc.wrapping_add(values[i]));
    drop(nodes);
    let total = tree_reduce(sinks, |a: Val, b: Val| {
        tick();
        Val::new(a.0.wrapping_add(b.0))
    });
    let result = if rng.below(2) == 0 {
        pool.install(|| total.try_compute())
    } else {
        total.try_compute()
    };
    tally.dynamic_runs += 1;
    match (result, boom) {
        (Ok(v), None) if v.0 == expected => {}
        (Err(e), Some(_)) if e.task() == "boom" => tally.errors += 1,
        _ => tally.wrong += 1,
    }
}

// ---- futures ------------------------------------------------------------------------

fn futures_round(rng: &mut Rng, client: &Client, n: usize, tally: &mut Tally) {
    let mut futures: Vec<Option<Future<Val>>> = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut deps_of = Vec::with_capacity(n);
    for i in 0..n {
        // 0 ok, 1 panics, 2 cancelled, 3 handle dropped.
        let kind = match rng.below(100) {
            0..=1 => 1,
            2..=4 => 2,
            5..=7 => 3,
            _ => 0,
        };
        let candidates: Vec<usize> = (i.saturating_sub(100)..i)
            .filter(|&d| futures[d].is_some())
            .collect();
        let deps: Vec<usize> = if candidates.is_empty() {
            Vec::new()
        } else {
            (0..rng.below(3))
                .map(|_| candidates[rng.below(candidates.len())])
                .collect()
        };
        let inputs: Vec<Future<Val>> = deps
            .iter()
            .map(|&d| futures[d].clone().expect("kept"))
            .collect();
        let future = client.submit(
            move |inputs: Vec<Val>| {
                tick();
                if kind == 1 {
                    panic!("injected in future {i}");
                }
                Val::new(mix(i as u64, inputs.iter().map(|v| v.0)))
            },
            (inputs,),
        );
        if kind == 2 {
            future.cancel();
        }
        if kind == 0 && rng.below(50) == 0 {
            let _ = future.result_timeout(Duration::from_micros(10));
        }
        futures.push((kind != 3).then_some(future));
        kinds.push(kind);
        deps_of.push(deps);
    }
    let kept: Vec<Future<Val>> = futures.iter().flatten().cloned().collect();
    let (_, not_done) = wait(&kept, WaitMode::AllCompleted, Some(Duration::from_secs(60)));
    if !not_done.is_empty() {
        tally.wrong += not_done.len() as u64;
    }
    drop(kept);
    let mut values: Vec<Option<u64>> = vec![None; n];
    for i in 0..n {
        let Some(f) = &futures[i] else { continue };
        let deps_ok = deps_of[i].iter().all(|&d| values[d].is_some());
        match f.status() {
            Status::Finished => {
                let want = mix(i as u64, deps_of[i].iter().map(|&d| values[d].unwrap_or(0)));
                match f.result_shared() {
                    Ok(v) if v.0 == want && deps_ok && kinds[i] != 1 => values[i] = Some(v.0),
                    _ => tally.wrong += 1,
                }
            }
            Status::Error => tally.errors += 1,
            Status::Cancelled => tally.cancelled += 1,
            _ => tally.wrong += 1,
        }
        if kinds[i] == 0 && deps_ok && values[i].is_none() {
            tally.wrong += 1;
        }
    }
    tally.future_rounds += 1;
}

// ---- nested -------------------------------------------------------------------------

fn nested_round(rng: &mut Rng, client: &Client, tally: &mut Tally) {
    let xs: Vec<u64> = (0..8).map(|_| rng.next() % 1000).collect();
    // Futures whose tasks compute static graphs inside dynamic graphs.
    let futures = client.map(
        |x: u64| {
            tick();
            let parts: Vec<Delayed<u64>> = (0..4)
                .map(|k| {
                    delayed(move |x: u64| {
                        tick();
                        let g = graph!(|x: u64| -> u64 {
                            let a = leaf(x, 1);
                            let b = leaf(x, 2);
                            peek(&join(a, &b))
                        });
                        g.compute(x)
                    })
                    .call(x + k)
                })
                .collect();
            tree_reduce(parts, |a: u64, b: u64| a ^ b).compute()
        },
        xs.clone(),
    );
    let direct = |x: u64| {
        (0..4)
            .map(|k| {
                let v = |k2: u64| (x + k).wrapping_mul(0x9e37_79b9).wrapping_add(k2);
                v(1).rotate_left(5) ^ v(2)
            })
            .fold(0, |a, b| a ^ b)
    };
    match client.gather(&futures) {
        Ok(got) if got == xs.iter().map(|&x| direct(x)).collect::<Vec<_>>() => {}
        _ => tally.wrong += 1,
    }
    tally.nested_runs += 1;
}

// ---- main ---------------------------------------------------------------------------

struct Args {
    seconds: u64,
    threads: usize,
    seed: u64,
    max_growth: f64,
    /// A new pool and client every this many rounds (0: never).
    recreate: u64,
    /// Only one kind of workload (`static`, `dynamic`, `futures`, `nested`), to find
    /// which one holds memory.
    only: Option<usize>,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        seconds: 60,
        threads: std::thread::available_parallelism().map_or(4, |n| n.get()),
        seed: 1,
        max_growth: 10.0,
        only: None,
        recreate: 1000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = format!("bad value for {flag}: {value}");
        match flag.as_str() {
            "--seconds" => args.seconds = value.parse().map_err(|_| bad)?,
            "--threads" => args.threads = value.parse().map_err(|_| bad)?,
            "--seed" => args.seed = value.parse().map_err(|_| bad)?,
            "--max-growth" => args.max_growth = value.parse().map_err(|_| bad)?,
            "--recreate-every" => args.recreate = value.parse().map_err(|_| bad)?,
            "--only" => {
                let kinds = ["static", "dynamic", "futures", "nested"];
                args.only = Some(kinds.iter().position(|k| *k == value).ok_or(bad)?);
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    // Random workloads of tiny tasks, on purpose.
    taskweave::set_warnings(false);
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "{e}\nusage: soak [--seconds N] [--threads N] [--seed N] [--max-growth PERCENT] [--only static|dynamic|futures|nested] [--recreate-every ROUNDS]"
            );
            return ExitCode::from(2);
        }
    };
    // The injected panics are expected: keep them off stderr.
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

    let start_rss = rss_kib();
    let start = Instant::now();
    let total = Duration::from_secs(args.seconds);
    // Warm-up: the first sixth of the run (at most 10 s), which runs every workload
    // at its largest size first.
    let warmup = (total / 6).min(Duration::from_secs(10));
    println!(
        "soak: {} s, {} threads, seed {}, warm-up {:?}; RSS at start {}",
        args.seconds,
        args.threads,
        args.seed,
        warmup,
        mib(start_rss)
    );

    let mut rng = Rng(args.seed);
    let mut tally = Tally::default();
    let mut pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .expect("a pool");
    let mut client = Client::builder()
        .threads(args.threads)
        .build()
        .expect("a client");
    // RSS after every round, as the highest and lowest in each tenth of the run (kept
    // in place: a list of every round would itself grow); and twice a second, RSS
    // with the allocator's free pages handed back, and the heap in use.
    let mut peaks = [0u64; 10];
    let mut lows = [u64::MAX; 10];
    let (mut peak_warmup, mut peak_last) = (0u64, 0u64);
    let mut settled: Vec<(Duration, u64)> = Vec::new();
    let mut heap: Vec<(Duration, u64)> = Vec::new();
    let mut next_settled = Duration::ZERO;
    let mut iteration = 0u64;
    // The warm-up starts with every workload at its largest size.
    dynamic_round(&mut rng, &pool, 20_000, &mut tally);
    futures_round(&mut rng, &client, 2_000, &mut tally);
    static_round(&mut rng, &pool, &mut tally);
    nested_round(&mut rng, &client, &mut tally);
    while start.elapsed() < total {
        match args.only.map_or(iteration % 4, |k| k as u64) {
            0 => static_round(&mut rng, &pool, &mut tally),
            1 => {
                let n = 100 + rng.below(20_000);
                dynamic_round(&mut rng, &pool, n, &mut tally);
            }
            2 => {
                let n = 50 + rng.below(2_000);
                futures_round(&mut rng, &client, n, &mut tally);
            }
            _ => nested_round(&mut rng, &client, &mut tally),
        }
        iteration += 1;
        // Now and then a new pool and a new client of another size; the old ones end.
        // Often during the warm-up: every new thread gets one of glibc's malloc arenas
        // (up to 8 per core), each holding a little memory, and exited threads leave
        // their stacks in glibc's cache; both reach their steady state in the warm-up.
        let every = if start.elapsed() < warmup {
            args.recreate.min(10)
        } else {
            args.recreate
        };
        if every > 0 && iteration.is_multiple_of(every) {
            let threads = 1 + rng.below(args.threads.max(2));
            pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a pool");
            client = Client::builder()
                .threads(threads)
                .build()
                .expect("a client");
        }
        let now = start.elapsed();
        let rss = rss_kib();
        let tenth = ((now.as_secs_f64() / total.as_secs_f64() * 10.0) as usize).min(9);
        peaks[tenth] = peaks[tenth].max(rss);
        lows[tenth] = lows[tenth].min(rss);
        if now <= warmup {
            peak_warmup = peak_warmup.max(rss);
        }
        if now >= total * 3 / 4 {
            peak_last = peak_last.max(rss);
        }
        if now >= next_settled {
            settled.push((now, settled_rss_kib()));
            heap.push((now, heap_kib()));
            next_settled = now + Duration::from_millis(500);
        }
    }
    let end_rss = rss_kib();
    let elapsed = start.elapsed();
    drop(client);
    drop(pool);
    let end_settled = settled_rss_kib();
    let live = LIVE.load(Ordering::SeqCst);
    let tasks = TASKS.load(Ordering::SeqCst);
    let window = |list: &[(Duration, u64)], from: Duration, to: Duration| -> Vec<u64> {
        let mut v: Vec<u64> = list
            .iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .map(|(_, r)| *r)
            .collect();
        v.sort_unstable();
        v
    };
    let median = |v: &[u64]| v.get(v.len() / 2).copied().unwrap_or(0);
    let by_tenth = |list: &[(Duration, u64)], scale: f64| {
        (0..10)
            .map(|k| {
                let v = window(list, elapsed * k / 10, elapsed * (k + 1) / 10);
                format!("{:.0}", median(&v) as f64 / scale)
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mib_list = |v: [u64; 10]| v.map(|k| format!("{:.0}", k as f64 / 1024.0)).join(" ");
    println!(
        "ran {iteration} rounds in {:.1} s: {} static graph runs, {} dynamic graphs, {} rounds of \
         futures, {} nested runs",
        elapsed.as_secs_f64(),
        tally.static_runs,
        tally.dynamic_runs,
        tally.future_rounds,
        tally.nested_runs
    );
    println!(
        "tasks run: {tasks} ({:.0} per second); errors seen: {} (injected panics and their \
         dependents); cancelled: {}; wrong results: {}; values alive at the end: {live}",
        tasks as f64 / elapsed.as_secs_f64(),
        tally.errors,
        tally.cancelled,
        tally.wrong
    );
    println!("by tenth of the run:");
    println!(
        "  RSS after a round, highest, MiB:         [{}]",
        mib_list(peaks)
    );
    println!(
        "  RSS after a round, lowest, MiB:          [{}]",
        mib_list(lows.map(|l| l.min(peaks[0])))
    );
    println!(
        "  RSS settled (free pages returned), MiB:  [{}]",
        by_tenth(&settled, 1024.0)
    );
    println!(
        "  heap in use (allocated, not freed), KiB: [{}]",
        by_tenth(&heap, 1.0)
    );
    // What is held: the highest of the warm-up against the typical of the last quarter.
    // A leak lifts the second above the first; the allocator's ups and downs do not.
    let rss_warmup = window(&settled, Duration::ZERO, warmup)
        .last()
        .copied()
        .unwrap_or(0);
    let rss_last = median(&window(&settled, elapsed * 3 / 4, elapsed));
    let heap_warmup = window(&heap, Duration::ZERO, warmup)
        .last()
        .copied()
        .unwrap_or(0);
    let heap_last = median(&window(&heap, elapsed * 3 / 4, elapsed));
    let percent = |a: u64, b: u64| (b as f64 - a as f64) / a.max(1) as f64 * 100.0;
    let (rss_growth, heap_growth) = (
        percent(rss_warmup, rss_last),
        percent(heap_warmup, heap_last),
    );
    println!(
        "VmRSS: start {}, end {}; settled: highest of the warm-up {}, last quarter {} \
         ({rss_growth:+.1}%), after the pool and client are dropped {}; highest after a round: \
         warm-up {}, last quarter {}",
        mib(start_rss),
        mib(end_rss),
        mib(rss_warmup),
        mib(rss_last),
        mib(end_settled),
        mib(peak_warmup),
        mib(peak_last),
    );
    println!(
        "heap in use: highest of the warm-up {heap_warmup} KiB, last quarter {heap_last} KiB \
         ({heap_growth:+.1}%)"
    );
    let mut failed = Vec::new();
    if rss_growth > args.max_growth {
        failed.push(format!(
            "resident memory grew by {rss_growth:.1}% after warm-up (limit {}%)",
            args.max_growth
        ));
    }
    // The heap in use is a few hundred KiB that moves with what is in flight: growth
    // counts beyond the limit and beyond 1 MiB.
    if heap_growth > args.max_growth && heap_last > heap_warmup + 1024 {
        failed.push(format!(
            "the heap in use grew by {heap_growth:.1}% after warm-up"
        ));
    }
    if tally.wrong > 0 {
        failed.push(format!("{} wrong results", tally.wrong));
    }
    if live != 0 {
        failed.push(format!("{live} values never dropped"));
    }
    if failed.is_empty() {
        println!("verdict: PASS (memory did not grow after warm-up; every result right; every value dropped once)");
        ExitCode::SUCCESS
    } else {
        println!("verdict: FAIL ({})", failed.join("; "));
        ExitCode::FAILURE
    }
}
