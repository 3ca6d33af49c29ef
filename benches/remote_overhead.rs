//! What remote tasks cost on the local runner (feature `hyperqueue`): the time per
//! task of a job of independent tasks (a process started per task, its input and
//! output files), and a fan-in of 10^4 nodes computed on the runner grouped into at
//! most 16 cluster tasks against one cluster task per node, beside computing it here.
//! The binary is its own worker. Medians of alternated rounds; wall time, noisy on a
//! shared machine.
//!
//! `cargo run --release -p taskweave-benches --features hyperqueue --example remote_overhead [ROUNDS] [PER_NODE_NODES]`

use std::time::{Duration, Instant};

use taskweave::remote::{compute_on_with, Input, Job, LocalRunner, Partition};
use taskweave::{delay, delayed, Delayed};

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
    let mut args = std::env::args().skip(1);
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
    for round in 0..rounds {
        let start = Instant::now();
        assert_eq!(
            compute_on_with(&runner, &root, Partition::Auto).expect("runs"),
            expected
        );
        grouped.push(start.elapsed());
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
        "fan-in of {per_node_nodes} nodes, one cluster task per node: {:.1} ms ({} worker processes started in all)",
        median(per_node).as_secs_f64() * 1e3,
        started,
    );
    let _ = std::fs::remove_dir_all(&dir);
}
