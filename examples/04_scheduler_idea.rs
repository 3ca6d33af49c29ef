//! Topic 4: the basic idea of a scheduler. Count, for every task, the inputs it still
//! waits for; put the tasks with none in a ready queue; let workers take tasks from
//! it; when a task ends, decrement its dependents' counts and queue those that reach
//! zero. This example writes that scheduler in 50 lines, runs a pipeline on it, and
//! runs the same pipeline on taskweave's dispatcher (the same idea, with atomic
//! counters and rayon's work stealing instead of one locked queue).
//!
//! Dask: the threaded scheduler (`dask.local.get_async`) keeps exactly these
//! structures (waiting counts, a ready stack, results) and hands ready tasks to a
//! `ThreadPoolExecutor`; its docs measure about 200 µs of overhead per task.
//!
//! Run: `cargo run --release --example 04_scheduler_idea`

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use taskweave::prelude::*;
use taskweave::{Profiler, RunOptions};

// ---- the toy scheduler ------------------------------------------------------------

/// What a task computes from its inputs' results.
type Work = Box<dyn Fn(&[u64]) -> u64 + Send + Sync>;

/// A task: its name, the tasks whose results it takes, and what it computes.
struct ToyTask {
    name: String,
    deps: Vec<usize>,
    run: Work,
}

/// When a task ran, and on which worker.
struct Event {
    task: usize,
    worker: usize,
    start: Duration,
    end: Duration,
}

/// What the workers share, behind one lock.
struct State {
    ready: VecDeque<usize>,
    waiting: Vec<usize>,
    results: Vec<Option<u64>>,
    left: usize,
}

/// Runs `tasks` on `workers` threads; returns every task's result and when it ran.
fn toy_schedule(tasks: &[ToyTask], workers: usize) -> (Vec<u64>, Vec<Event>) {
    let mut dependents = vec![Vec::new(); tasks.len()];
    for (i, task) in tasks.iter().enumerate() {
        for &d in &task.deps {
            dependents[d].push(i);
        }
    }
    let waiting: Vec<usize> = tasks.iter().map(|t| t.deps.len()).collect();
    let state = Mutex::new(State {
        ready: (0..tasks.len()).filter(|&i| waiting[i] == 0).collect(),
        waiting,
        results: vec![None; tasks.len()],
        left: tasks.len(),
    });
    let wake = Condvar::new();
    let log = Mutex::new(Vec::new());
    let epoch = Instant::now();
    std::thread::scope(|s| {
        for worker in 0..workers {
            let (state, wake, log, dependents) = (&state, &wake, &log, &dependents);
            s.spawn(move || loop {
                // Take a ready task and its inputs, or sleep until one is ready.
                let (task, inputs) = {
                    let mut st = state.lock().unwrap();
                    loop {
                        if st.left == 0 {
                            return;
                        }
                        if let Some(t) = st.ready.pop_front() {
                            let inputs: Vec<u64> = tasks[t]
                                .deps
                                .iter()
                                .map(|&d| st.results[d].expect("an input is ready"))
                                .collect();
                            break (t, inputs);
                        }
                        st = wake.wait(st).unwrap();
                    }
                };
                let start = epoch.elapsed();
                let value = (tasks[task].run)(&inputs);
                let end = epoch.elapsed();
                log.lock().unwrap().push(Event {
                    task,
                    worker,
                    start,
                    end,
                });
                // Publish the result; queue the dependents that have all their inputs.
                let mut st = state.lock().unwrap();
                st.results[task] = Some(value);
                st.left -= 1;
                for &next in &dependents[task] {
                    st.waiting[next] -= 1;
                    if st.waiting[next] == 0 {
                        st.ready.push_back(next);
                    }
                }
                wake.notify_all();
            });
        }
    });
    let results = state.into_inner().unwrap().results;
    let results = results
        .into_iter()
        .map(|r| r.expect("every task ran"))
        .collect();
    (results, log.into_inner().unwrap())
}

// ---- the pipeline -------------------------------------------------------------------

/// Every task waits 2 ms (reading a file, say) and combines its inputs.
fn step(seed: u64, inputs: &[u64]) -> u64 {
    std::thread::sleep(Duration::from_millis(2));
    inputs
        .iter()
        .fold(seed, |a, &b| a.wrapping_mul(31).wrapping_add(b))
}

/// 4 loads → 4 cleans → 2 merges → 1 total: 11 tasks of 2 ms, 4 on the longest path.
fn pipeline() -> Vec<ToyTask> {
    let mut tasks = Vec::new();
    let mut add = |name: String, deps: Vec<usize>, seed: u64| {
        tasks.push(ToyTask {
            name,
            deps,
            run: Box::new(move |inputs| step(seed, inputs)),
        });
        tasks.len() - 1
    };
    let cleans: Vec<usize> = (0..4)
        .map(|i| {
            let load = add(format!("load{i}"), vec![], i);
            add(format!("clean{i}"), vec![load], 10 + i)
        })
        .collect();
    let merge0 = add("merge0".into(), vec![cleans[0], cleans[1]], 20);
    let merge1 = add("merge1".into(), vec![cleans[2], cleans[3]], 21);
    add("total".into(), vec![merge0, merge1], 30);
    tasks
}

/// The same pipeline as `Delayed` nodes.
fn pipeline_delayed() -> Delayed<u64> {
    let node = |name: &'static str, seed: u64, inputs: Vec<Delayed<u64>>| {
        delayed(move |inputs: Vec<u64>| step(seed, &inputs))
            .named(name)
            .call(inputs)
    };
    let cleans: Vec<Delayed<u64>> = (0..4)
        .map(|i| node("clean", 10 + i, vec![node("load", i, vec![])]))
        .collect();
    let merge0 = node("merge", 20, vec![cleans[0].clone(), cleans[1].clone()]);
    let merge1 = node("merge", 21, vec![cleans[2].clone(), cleans[3].clone()]);
    node("total", 30, vec![merge0, merge1])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let tasks = pipeline();
    let workers = 4;

    let start = Instant::now();
    let (results, mut log) = toy_schedule(&tasks, workers);
    let toy_time = start.elapsed();
    let toy_total = *results.last().expect("a total");
    log.sort_by_key(|e| e.start);
    println!(
        "toy scheduler, {workers} workers, {} tasks of 2 ms:",
        tasks.len()
    );
    for e in &log {
        println!(
            "  {:<7} worker {}  {:>5.1} – {:>5.1} ms",
            tasks[e.task].name,
            e.worker,
            ms(e.start),
            ms(e.end)
        );
    }
    println!(
        "toy scheduler result: {toy_total} in {:.1} ms (one after the other: {} ms; longest path: 8 ms)",
        ms(toy_time),
        2 * tasks.len()
    );

    // The same graph on taskweave, on a pool of as many threads, with a profiler
    // recording which thread ran each task and when.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .expect("a pool");
    let total = pipeline_delayed();
    let profiler = Arc::new(Profiler::new());
    let start = Instant::now();
    let value = pool
        .install(|| total.try_compute_with(RunOptions::new().observer(profiler.clone())))
        .expect("no task fails");
    let taskweave_time = start.elapsed();
    let mut records = profiler.records();
    records.sort_by_key(|r| r.start);
    let first = records.first().map_or(Duration::ZERO, |r| r.start);
    println!("taskweave, {workers} threads:");
    for r in &records {
        println!(
            "  {:<7} worker {}  {:>5.1} – {:>5.1} ms",
            r.name,
            r.worker.unwrap_or(0),
            ms(r.start - first),
            ms(r.end - first)
        );
    }
    println!("taskweave result: {value} in {:.1} ms", ms(taskweave_time));
    assert_eq!(value, toy_total, "both schedulers compute the same");

    // What the bookkeeping costs, with trivial tasks (built and run, best of 3; the
    // first round also starts the global pool's threads): 5,000 independent tasks
    // summed in 100 groups of 50, then a chain of 5,000 tasks each waiting for the one
    // before.
    let n = 5_000u64;
    let fan_in = |toy: bool| {
        if toy {
            let mut tasks: Vec<ToyTask> = (0..n)
                .map(|i| ToyTask {
                    name: String::new(),
                    deps: vec![],
                    run: Box::new(move |_| i),
                })
                .collect();
            let groups: Vec<usize> = (0..n as usize / 50)
                .map(|g| {
                    tasks.push(ToyTask {
                        name: "group".into(),
                        deps: (g * 50..(g + 1) * 50).collect(),
                        run: Box::new(|inputs| inputs.iter().sum()),
                    });
                    tasks.len() - 1
                })
                .collect();
            tasks.push(ToyTask {
                name: "sum".into(),
                deps: groups,
                run: Box::new(|inputs| inputs.iter().sum()),
            });
            *toy_schedule(&tasks, 2).0.last().expect("a sum")
        } else {
            let id = delayed(|x: u64| x);
            let sum = delayed(|v: Vec<u64>| v.iter().sum::<u64>());
            let leaves: Vec<Delayed<u64>> = (0..n).map(|i| id.call(i)).collect();
            let groups: Vec<Delayed<u64>> =
                leaves.chunks(50).map(|g| sum.call(g.to_vec())).collect();
            sum.call(groups).compute()
        }
    };
    let chain = |toy: bool| {
        if toy {
            let tasks: Vec<ToyTask> = (0..n as usize)
                .map(|i| ToyTask {
                    name: String::new(),
                    deps: if i == 0 { vec![] } else { vec![i - 1] },
                    run: Box::new(|inputs| inputs.first().map_or(0, |x| x + 1)),
                })
                .collect();
            toy_schedule(&tasks, 2).0[n as usize - 1]
        } else {
            let inc = delayed(|x: u64| x + 1);
            let mut x = inc.call(0u64);
            for _ in 1..n {
                x = inc.call(x);
            }
            x.compute() - 1
        }
    };
    let best = |f: &dyn Fn(bool) -> u64, toy: bool, expected: u64, tasks: u64| {
        let fastest = (0..3)
            .map(|_| {
                let start = Instant::now();
                assert_eq!(f(toy), expected);
                start.elapsed()
            })
            .min()
            .expect("three rounds");
        fastest.as_secs_f64() * 1e9 / tasks as f64
    };
    println!("overhead per trivial task, 2 threads, build + run:");
    println!(
        "  {n} independent, summed: toy scheduler {:>6.0} ns, taskweave {:>6.0} ns",
        best(&fan_in, true, n * (n - 1) / 2, n + n / 50 + 1),
        best(&fan_in, false, n * (n - 1) / 2, n + n / 50 + 1)
    );
    println!(
        "  chain of {n}:            toy scheduler {:>6.0} ns, taskweave {:>6.0} ns",
        best(&chain, true, n - 1, n),
        best(&chain, false, n - 1, n)
    );
}
