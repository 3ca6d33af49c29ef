//! What remote tasks cost on the local runner (feature `hyperqueue`): the time per
//! task of a job of independent tasks (a process started per task, its input and
//! output files), and a fan-in of 10^4 nodes computed on the runner grouped into at
//! most 16 cluster tasks against one cluster task per node, beside computing it here.
//! The binary is its own worker. Medians of alternated rounds; wall time, noisy on a
//! shared machine.
//!
//! With `--hq`, the same on a real HyperQueue `LocalCluster` (Python `hyperqueue`,
//! `HyperQueuePython`, 2 cores): the wall time of jobs of 1, 100 and 1,000
//! independent tasks (the slope is the cost per cluster task, the first the cost of a
//! job), a chain of 20 cluster tasks (the cost per dependency step), and the fan-in of
//! 10^4 nodes grouped and one cluster task per node.
//!
//! The grouped fan-in is also computed observed (`ClusterOptions::observer` with a
//! hidden `Progress`, which only counts): what the workers' event files and reading
//! them cost, alternated with the same compute unobserved.
//!
//! `cargo run --release -p taskweave-benches --features hyperqueue --example remote_overhead [ROUNDS] [PER_NODE_NODES] [--hq]`

use std::time::{Duration, Instant};

use std::sync::Arc;

use taskweave::remote::{
    compute_on_with, ClusterOptions, HyperQueuePython, Input, Job, LocalRunner, Partition,
};
use taskweave::{delay, delayed, Delayed, Progress};

#[delayed(remote)]
fn leaf(i: u64) -> u64 {
    i * i
}

#[delayed(remote)]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

/// A fan-in of about `nodes` nodes: `nodes / 2` leaves summed by a tree of adds.
fn fan_in(nodes: u64) -> (Delayed<u64>, u64) {
    let leaves = (nodes / 2).max(1);
    let mut level: Vec<Delayed<u64>> = (0..leaves).map(|i| delay!(leaf(i))).collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [a, b] => delay!(add(a, b)),
                [a] => a.clone(),
                _ => unreachable!(),
            })
            .collect();
    }
    let expected = (0..leaves).map(|i| i * i).sum();
    (level.pop().expect("one root"), expected)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    taskweave::remote::worker_main();
    let hq = std::env::args().any(|a| a == "--hq");
    let mut args = std::env::args().skip(1).filter(|a| a != "--hq");
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let per_node_nodes: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let dir = std::env::temp_dir().join(format!("taskweave-remote-bench-{}", std::process::id()));

    // 1. Per task: 200 independent tasks, one worker at a time and two.
    let tasks: u64 = 200;
    let mut job = Job::new();
    let ids: Vec<_> = (0..tasks)
        .map(|i| job.task::<leaf>(vec![Input::value(&i).expect("encodes")]))
        .collect();
    let mut serial = Vec::new();
    let mut parallel = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        let outputs = LocalRunner::new(&dir).parallel(1).run(&job).expect("runs");
        serial.push(start.elapsed());
        assert_eq!(outputs.get::<leaf>(ids[7]).expect("runs"), 49);
        assert!(outputs.all_finished());
        let start = Instant::now();
        let outputs = LocalRunner::new(&dir).parallel(2).run(&job).expect("runs");
        parallel.push(start.elapsed());
        assert!(outputs.all_finished());
    }
    let (serial, parallel) = (median(serial), median(parallel));
    println!(
        "local runner, {tasks} independent tasks: {:.3} ms per task one at a time, {:.3} ms per task two at a time (wall {:.1} ms / {:.1} ms)",
        serial.as_secs_f64() * 1e3 / tasks as f64,
        parallel.as_secs_f64() * 1e3 / tasks as f64,
        serial.as_secs_f64() * 1e3,
        parallel.as_secs_f64() * 1e3,
    );

    // 2. A fan-in of 10^4 nodes: grouped (Auto: at most 16 cluster tasks) against one
    // cluster task per node, and computed here.
    let (root, expected) = fan_in(10_000);
    let (small, small_expected) = fan_in(per_node_nodes);
    let runner = LocalRunner::new(&dir).parallel(2);
    let (mut grouped, mut per_node, mut here) = (Vec::new(), Vec::new(), Vec::new());
    let mut observed = Vec::new();
    for round in 0..rounds {
        let start = Instant::now();
        assert_eq!(
            compute_on_with(&runner, &root, Partition::Auto).expect("runs"),
            expected
        );
        grouped.push(start.elapsed());
        let progress = Arc::new(Progress::hidden());
        let start = Instant::now();
        assert_eq!(
            compute_on_with(
                &runner,
                &root,
                ClusterOptions::new().observer(progress.clone())
            )
            .expect("runs"),
            expected
        );
        observed.push(start.elapsed());
        assert_eq!(progress.done(), progress.total());
        // One cluster task per node is slow: fewer rounds.
        if round < rounds.min(3) {
            let start = Instant::now();
            assert_eq!(
                compute_on_with(&runner, &small, Partition::PerNode).expect("runs"),
                small_expected
            );
            per_node.push(start.elapsed());
        }
        let start = Instant::now();
        assert_eq!(root.compute(), expected);
        here.push(start.elapsed());
    }
    let started = runner.workers_started();
    println!(
        "fan-in of 10^4 nodes (5,000 leaves, 4,999 adds), 2 workers at once: grouped into at most 16 cluster tasks {:.1} ms; computed here {:.3} ms",
        median(grouped).as_secs_f64() * 1e3,
        median(here).as_secs_f64() * 1e3,
    );
    println!(
        "the same grouped fan-in observed (a counting Progress fed by the workers' events): {:.1} ms",
        median(observed).as_secs_f64() * 1e3,
    );
    println!(
        "fan-in of {per_node_nodes} nodes, one cluster task per node: {:.1} ms ({} worker processes started in all)",
        median(per_node).as_secs_f64() * 1e3,
        started,
    );
    if hq {
        on_hyperqueue(&dir, rounds, per_node_nodes);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The HyperQueue measurements (see the file's docs).
fn on_hyperqueue(dir: &std::path::Path, rounds: usize, per_node_nodes: u64) {
    let cluster = HyperQueuePython::local(dir.join("hq")).cores(2);
    let start = Instant::now();
    let version = cluster.start().expect("a HyperQueue LocalCluster");
    println!(
        "HyperQueue {version}: LocalCluster (1 worker, 2 cores) started in {:.0} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    let mut sizes = Vec::new();
    for tasks in [1u64, 100, 1000] {
        let mut job = Job::new();
        for i in 0..tasks {
            job.task::<leaf>(vec![Input::value(&i).expect("encodes")]);
        }
        let times: Vec<Duration> = (0..rounds)
            .map(|_| {
                let start = Instant::now();
                let outputs = cluster.run(&job).expect("runs");
                assert!(outputs.all_finished());
                start.elapsed()
            })
            .collect();
        let time = median(times);
        println!(
            "HyperQueue, a job of {tasks} independent tasks: {:.0} ms",
            time.as_secs_f64() * 1e3
        );
        sizes.push((tasks, time));
    }
    let (first, last) = (sizes[0], sizes[sizes.len() - 1]);
    println!(
        "HyperQueue: {:.2} ms per cluster task (slope 1 -> {} tasks, 2 cores), {:.0} ms per job",
        (last.1.as_secs_f64() - first.1.as_secs_f64()) * 1e3 / (last.0 - first.0) as f64,
        last.0,
        first.1.as_secs_f64() * 1e3,
    );
    let mut chain = delay!(add(0, 1));
    for _ in 1..20 {
        chain = delay!(add(chain, 1));
    }
    let times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            assert_eq!(
                compute_on_with(&cluster, &chain, Partition::PerNode).expect("runs"),
                20
            );
            start.elapsed()
        })
        .collect();
    let time = median(times);
    println!(
        "HyperQueue, a chain of 20 cluster tasks: {:.0} ms, {:.1} ms per step",
        time.as_secs_f64() * 1e3,
        time.as_secs_f64() * 1e3 / 20.0
    );
    let (root, expected) = fan_in(10_000);
    let times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            assert_eq!(
                compute_on_with(&cluster, &root, Partition::Auto).expect("runs"),
                expected
            );
            start.elapsed()
        })
        .collect();
    println!(
        "HyperQueue, fan-in of 10^4 nodes grouped (Auto: 16 cluster tasks): {:.0} ms",
        median(times).as_secs_f64() * 1e3
    );
    let (small, small_expected) = fan_in(per_node_nodes);
    let start = Instant::now();
    assert_eq!(
        compute_on_with(&cluster, &small, Partition::PerNode).expect("runs"),
        small_expected
    );
    println!(
        "HyperQueue, fan-in of {per_node_nodes} nodes, one cluster task per node: {:.0} ms (one run)",
        start.elapsed().as_secs_f64() * 1e3
    );
}
