//! From one machine to a cluster: the per-file aggregation of the course (topic 11)
//! computed in this process, then as one job of worker processes — this very binary,
//! started by the local runner the way HyperQueue starts a job's tasks — first grouped
//! into a few cluster tasks (the default), then one process per node, watched by a
//! `Profiler` as a compute here would be; and a `graph!` of four files' total, built at
//! compile time, computed on the same workers (`compute_on_cluster`).
//!
//! ```text
//! cargo run --release --example cluster --features hyperqueue
//! cargo run --release --example cluster --features hyperqueue -- --hq-python
//! ```
//!
//! With `--hq-python` the same graph then runs on a real HyperQueue cluster: a
//! `LocalCluster` (server and one worker) started through HyperQueue's Python API
//! (`pip install hyperqueue==0.27.0`), the job submitted as one HyperQueue job whose
//! tasks are this binary. On a cluster, `HyperQueuePython::connect(dir, server_dir)`
//! submits to a running server instead, and `HyperQueueCli` drives the `hq` binary.
//!
//! `taskweave::remote::worker_main()` comes first in `main`: started as a worker
//! (`cluster --taskweave-worker FUNCTION OUTPUT INPUT…`), the program runs that one
//! registered function and exits; started by you, it returns at once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use taskweave::remote::{ClusterOptions, HyperQueuePython, LocalRunner, Partition};
use taskweave::{delay, delayed, graph, remote, Delayed, Profiler};

/// The sum of the numbers in one file, one per line (blank lines skipped).
#[delayed(remote)]
fn sum_file(path: String) -> u64 {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            line.trim()
                .parse::<u64>()
                .unwrap_or_else(|e| panic!("{path}: {line:?}: {e}"))
        })
        .sum()
}

/// The total of the files' sums.
#[delayed(remote)]
fn total(sums: Vec<u64>) -> u64 {
    sums.iter().sum()
}

/// Writes `files` files of 1,000 numbers each into a fresh folder; their paths.
fn write_files(dir: &PathBuf, files: u64) -> Vec<String> {
    std::fs::create_dir_all(dir).expect("a folder for the data");
    (0..files)
        .map(|f| {
            let path = dir.join(format!("part-{f:03}.txt"));
            let lines: Vec<String> = (0..1_000).map(|i| (f * 1_000 + i).to_string()).collect();
            std::fs::write(&path, lines.join("\n")).expect("a data file");
            path.display().to_string()
        })
        .collect()
}

fn main() {
    remote::worker_main();

    let base = std::env::temp_dir().join(format!("taskweave-cluster-{}", std::process::id()));
    let paths = write_files(&base.join("data"), 40);
    let sums: Vec<Delayed<u64>> = paths.iter().map(|p| delay!(sum_file(p.clone()))).collect();
    let grand = delay!(total(sums));
    println!(
        "cluster: {} files, a graph of {} nodes",
        paths.len(),
        grand.info().len()
    );

    // On this machine, in this process (rayon), as always.
    let start = Instant::now();
    let here = grand.compute();
    println!("1. here: {here} in {:.1?}", start.elapsed());

    // The same graph as one job of worker processes, two at a time. The folder is the
    // run's: on a cluster, a shared filesystem every worker sees.
    let runner = LocalRunner::new(base.join("runs")).parallel(2);
    let start = Instant::now();
    let grouped = grand.compute_on(&runner).expect("the cluster job");
    println!(
        "2. on the local runner, grouped (Partition::Auto): {grouped} in {:.1?}, {} worker processes",
        start.elapsed(),
        runner.workers_started()
    );
    assert_eq!(grouped, here);

    // One process per node, watched by a profiler as a compute here is: the workers
    // write each node's start and end, which this process reads while it waits.
    let per_node = LocalRunner::new(base.join("runs-per-node")).parallel(2);
    let profiler = Arc::new(Profiler::new());
    let options = ClusterOptions::new()
        .partition(Partition::PerNode)
        .observer(profiler.clone());
    let start = Instant::now();
    let each = grand
        .compute_on_with(&per_node, options)
        .expect("the cluster job");
    let summary = profiler.summary();
    let count = |name: &str| summary.row(name).map_or(0, |row| row.count);
    println!(
        "3. one process per node (Partition::PerNode): {each} in {:.1?}, {} worker processes; \
         the profiler saw {} sum_file and {} total",
        start.elapsed(),
        per_node.workers_started(),
        count("sum_file"),
        count("total"),
    );
    assert_eq!(each, here);

    // A graph of a known shape, written with `graph!` (built at compile time): the
    // first four files' total, computed here and as one job of the same workers.
    let four = graph!(|a: String, b: String, c: String, d: String| -> u64 {
        total(vec![sum_file(a), sum_file(b), sum_file(c), sum_file(d)])
    });
    let [a, b, c, d] = [0, 1, 2, 3].map(|i| paths[i].clone());
    let four_here = four.compute(a.clone(), b.clone(), c.clone(), d.clone());
    let start = Instant::now();
    let four_there = four
        .compute_on_cluster(&runner, a, b, c, d)
        .expect("the cluster job");
    println!(
        "4. a graph! of the first four files on the local runner: {four_there} in {:.1?}",
        start.elapsed()
    );
    assert_eq!(four_there, four_here);

    // A worker's panic comes back as the task's error: its name, where it was built.
    let bad = delay!(sum_file(base.join("missing.txt").display().to_string()));
    match bad.compute_on(&runner) {
        Err(error) => println!("5. a missing file: {error}"),
        Ok(value) => panic!("a missing file summed to {value}"),
    }

    if std::env::args().any(|arg| arg == "--hq-python") {
        // A HyperQueue LocalCluster of 2 cores, started through Python (a second or
        // so per job: the Python API polls for the job's end once a second).
        let cluster = HyperQueuePython::local(base.join("hq")).cores(2);
        let start = Instant::now();
        match cluster.start() {
            Ok(version) => println!(
                "6. HyperQueue {version}: a LocalCluster started in {:.1?}",
                start.elapsed()
            ),
            Err(error) => {
                println!("6. no HyperQueue here: {error}");
                std::fs::remove_dir_all(&base).ok();
                return;
            }
        }
        let start = Instant::now();
        let on_hq = grand.compute_on(&cluster).expect("the HyperQueue job");
        println!(
            "7. on HyperQueue, grouped (Partition::Auto): {on_hq} in {:.1?}",
            start.elapsed()
        );
        assert_eq!(on_hq, here);
        match bad.compute_on(&cluster) {
            Err(error) => println!("8. a missing file, on HyperQueue: {error}"),
            Ok(value) => panic!("a missing file summed to {value}"),
        }
    }

    std::fs::remove_dir_all(&base).ok();
}
