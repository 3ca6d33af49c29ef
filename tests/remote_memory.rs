//! Memory of a remote task's large argument and result (feature `hyperqueue`), counted
//! by a global allocator in this process and in its workers (this same binary, started
//! by the local runner): a value is encoded once, in a buffer of its size, and written
//! from that buffer; a file read keeps its bytes, and a node's result inside a cluster
//! task's output shares the output's; so a worker holds its input file's bytes and the
//! decoded value, no more copies. A plain `main` (no test harness), so no other test
//! allocates meanwhile.
//!
//! Before, a 32 MiB argument peaked at 3 arguments' worth here (encoded into a buffer
//! grown by doubling, copied behind a header to be written; a graph's value copied
//! into its sub-graph and encoded again with it) and at 5 in a grouped worker; a
//! grouped node's result at 5 here when read (copied out of its cluster task's output,
//! and again behind its header) and at 4 in a worker that reads it.

use std::time::Duration;

use taskweave::remote::{self, compute_on_with, Input, Job, LocalRunner, Partition};
use taskweave::{delay, delayed};

#[path = "../examples/support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

/// The value's size: large beside what a worker holds anyway (a few hundred KiB), and
/// a power of two, so that a `Vec` grown by doubling would end at it.
const SIZE: usize = 32 << 20;

/// Its argument's first byte, and the worker's peak of bytes in use so far (reading
/// its input, decoding it).
#[delayed(remote)]
fn first_and_peak(bytes: Vec<u8>) -> (u8, u64) {
    (bytes[0], counting_alloc::peak_bytes() as u64)
}

/// A large result.
#[delayed(remote)]
fn large(size: usize) -> Vec<u8> {
    vec![7u8; size]
}

/// One measured case: its name, and the peaks here and in the worker (arguments'
/// worth; `None` where a worker's is not measured).
type Peak = (String, f64, Option<f64>);

/// This process's peak of bytes in use while `run` runs, above what was in use
/// before, in arguments' worth, and what `run` returns.
fn peak_here<R>(run: impl FnOnce() -> R) -> (f64, R) {
    let base = counting_alloc::live_bytes();
    counting_alloc::reset_peak();
    let value = run();
    let here = (counting_alloc::peak_bytes() - base) as f64 / SIZE as f64;
    (here, value)
}

/// [`peak_here`] of a run of `first_and_peak`, with the worker's peak it returns.
fn peaks(what: &str, run: impl FnOnce() -> (u8, u64)) -> Peak {
    let (here, (first, worker)) = peak_here(run);
    assert_eq!(first, 7, "{what}");
    (what.to_owned(), here, Some(worker as f64 / SIZE as f64))
}

fn main() {
    remote::worker_main();
    let dir = std::env::temp_dir().join(format!("taskweave-remote-memory-{}", std::process::id()));
    // A worker that hangs ends the test instead of hanging it.
    let runner = LocalRunner::new(&dir).timeout(Duration::from_secs(120));
    let argument = vec![7u8; SIZE];
    let mut measured: Vec<Peak> = Vec::new();

    // A job's task: `Input::value` encodes the argument, the runner writes it.
    measured.push(peaks("Job, Input::value", || {
        let mut job = Job::new();
        let task = job.task::<first_and_peak>(vec![Input::value(&argument).unwrap()]);
        let outputs = runner.run(&job).unwrap();
        outputs.get::<first_and_peak>(task).unwrap()
    }));

    // A graph's node: its value is encoded when the node is built (beside the value,
    // moved into the node, which a compute here would use); then laid out into its
    // cluster task and written from that buffer.
    let (built, node) = peak_here(|| delay!(first_and_peak(argument.clone())));
    measured.push((String::from("a node built on the argument"), built, None));
    for partition in [Partition::PerNode, Partition::Tasks(1)] {
        measured.push(peaks(&format!("graph, {partition:?}"), || {
            compute_on_with(&runner, &node, partition).unwrap()
        }));
    }
    drop(node);

    // A grouped node's large result, read here from its cluster task's output ...
    let node = delay!(large(SIZE));
    let (here, value) = peak_here(|| compute_on_with(&runner, &node, Partition::Tasks(1)).unwrap());
    assert_eq!((value.len(), value[0]), (SIZE, 7));
    drop(value);
    measured.push((String::from("a result, read here"), here, None));
    // ... and by the worker of another cluster task.
    let node = delay!(first_and_peak(node));
    measured.push(peaks("a result, read by a worker", || {
        compute_on_with(&runner, &node, Partition::PerNode).unwrap()
    }));
    let _ = std::fs::remove_dir_all(&dir);

    for (what, here, worker) in &measured {
        let worker = worker.map_or(String::new(), |w| format!(", {w:.2} in the worker"));
        println!(
            "remote memory: {what}: {} MiB: peak {here:.2} values' worth here{worker}",
            SIZE >> 20
        );
    }
    // The bounds, with a tenth of a value to spare for what is not the value (the
    // sub-graph, headers, the runner's own, the worker's start):
    // - here, a job holds the argument's encoding (1); a graph's node already holds
    //   its encoding, which laying it out and writing it copy nowhere (0); a result
    //   read is the output file's bytes and the decoded value (2); a result that only
    //   a worker reads is read here too, as the runner reads every output (1);
    // - the node holds the value and its encoding (2);
    // - a worker holds its input file's bytes and the decoded value (2), and a worker
    //   that makes the result the value and its encoding (2).
    let bounds = [
        (1.1, Some(2.1)),
        (2.1, None),
        (0.1, Some(2.1)),
        (0.1, Some(2.1)),
        (2.1, None),
        (1.1, Some(2.1)),
    ];
    assert_eq!(measured.len(), bounds.len());
    for ((what, here, worker), (here_bound, worker_bound)) in measured.iter().zip(bounds) {
        assert!(
            *here < here_bound,
            "{what}: {here:.2} values' worth here, more than {here_bound}"
        );
        if let (Some(worker), Some(bound)) = (worker, worker_bound) {
            assert!(
                *worker < bound,
                "{what}: {worker:.2} values' worth in the worker, more than {bound}"
            );
        }
    }
    println!("test result: ok. 1 passed");
}
