//! Remote tasks (feature `hyperqueue`): `#[delayed(remote)]` functions run by worker
//! processes of this very test binary, started by the local runner as a cluster would
//! start them. A test binary of its own (`harness = false`): its `main` is the worker
//! when started as one.

use std::path::{Path, PathBuf};
use std::process::Command;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use taskweave::remote::{
    self, compute_on_with, ClusterOptions, GraphJob, Input, Job, LocalRunner, Partition, Payload,
    RemoteError,
};
use taskweave::{delay, delayed, graph, Delayed, Profiler, RunOptions, TaskOutcome};

#[path = "support/remote_tasks.rs"]
mod remote_tasks;
#[path = "support/watchdog.rs"]
mod watchdog;
use remote_tasks::{
    attempts_made, counter, each_node_once, flaky, processes_with, retries_as_here,
    saw_explode_fail_beside_square, Recording,
};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Point {
    x: i64,
    y: i64,
}

#[delayed(remote)]
fn square(x: u64) -> u64 {
    x * x
}

#[delayed(remote)]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[delayed(remote)]
fn describe(p: Point, label: String) -> String {
    format!("{label}: ({}, {})", p.x, p.y)
}

#[delayed(remote)]
fn explode(x: u64) -> u64 {
    if x > 1 {
        panic!("too big: {x}");
    }
    x
}

#[delayed(remote, pure)]
fn mirror(p: Point) -> Point {
    Point { x: p.y, y: p.x }
}

#[delayed(remote)]
fn chatty(lines: u64) -> u64 {
    for i in 0..lines {
        eprintln!("{i}: {}", "x".repeat(100));
    }
    lines
}

#[delayed(remote)]
fn crash(x: u64) -> u64 {
    if x > 0 {
        eprintln!("about to abort");
        std::process::abort();
    }
    x
}

/// Ends its worker process without a result (`exit(0)`) for a non-zero `x`.
#[delayed(remote)]
fn leave(x: u64) -> u64 {
    if x > 0 {
        std::process::exit(0);
    }
    x
}

/// A value whose `Serialize` panics.
#[derive(Debug, Clone, Deserialize)]
struct Unencodable(u64);

impl Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("no bytes for this one")
    }
}

#[delayed(remote)]
fn unencodable(x: u64) -> Unencodable {
    Unencodable(x)
}

#[delayed(remote)]
fn fuse(u: Unencodable) -> u64 {
    u.0
}

/// A value that encodes but never decodes.
#[derive(Debug, Clone, Serialize)]
struct OneWay(u64);

impl<'de> Deserialize<'de> for OneWay {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("one way only"))
    }
}

#[delayed(remote)]
fn one_way(x: u64) -> OneWay {
    OneWay(x)
}

#[delayed(remote)]
fn total(parts: Vec<u64>) -> u64 {
    parts.iter().sum()
}

#[delayed(remote)]
fn pair_sum(xs: [u64; 2]) -> u64 {
    xs[0] + xs[1]
}

#[delayed(remote)]
fn inc(x: u64) -> u64 {
    x + 1
}

#[delayed(remote)]
fn nap(seconds: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_secs(seconds));
    seconds
}

/// A runner whose runs go under one directory of this test process (each run's own
/// directory is removed after it; `main` removes this one).
#[delayed]
fn half(x: u64) -> u64 {
    x / 2
}

#[delayed]
fn triple(x: u64) -> u64 {
    3 * x
}

#[delayed]
fn plus(a: u64, b: u64) -> u64 {
    a + b
}

/// A static `graph!` on a cluster: a remote task whose body computes the graph, so a
/// worker runs all of its nodes (on its own rayon pool), and the dynamic graph around
/// it spreads such tasks over the cluster.
#[delayed(remote)]
fn pipeline(x: u64) -> u64 {
    let steps = graph!(|x: u64| -> u64 {
        let a = half(x);
        let b = triple(x);
        plus(a, b)
    });
    steps.compute(x)
}

fn runner(name: &str) -> LocalRunner {
    LocalRunner::new(base().join(name)).parallel(2)
}

fn base() -> PathBuf {
    std::env::temp_dir().join(format!("taskweave-remote-{}", std::process::id()))
}

/// A diamond and a struct, checked against calling the functions here.
fn a_diamond_computes_what_the_functions_compute() {
    let mut job = Job::new();
    let a = job.task::<square>(vec![Input::value(&3u64).unwrap()]);
    let b = job.task::<square>(vec![Input::value(&4u64).unwrap()]);
    let total = job.task::<add>(vec![Input::output(a), Input::output(b)]);
    let p = Point { x: 1, y: -2 };
    let mirrored = job.task::<mirror>(vec![Input::value(&p).unwrap()]);
    let text = job.task::<describe>(vec![
        Input::output(mirrored),
        Input::value(&String::from("mirrored")).unwrap(),
    ]);
    let outputs = runner("diamond").run(&job).expect("the job runs");
    assert!(outputs.all_finished());
    assert_eq!(outputs.get::<square>(a).unwrap(), square(3));
    assert_eq!(
        outputs.get::<add>(total).unwrap(),
        add(square(3), square(4))
    );
    assert_eq!(outputs.get::<mirror>(mirrored).unwrap(), mirror(p.clone()));
    assert_eq!(
        outputs.get::<describe>(text).unwrap(),
        describe(mirror(p), "mirrored".into())
    );
    // The same functions still build local nodes.
    assert_eq!(delay!(add(delay!(square(3)), 16)).compute(), 25);
}

/// A panic comes back as the task's error with its call site; what reads it never
/// runs; what does not still does.
fn a_panic_is_the_tasks_error_and_dependents_never_run() {
    let mut job = Job::new();
    let bad = job.task::<explode>(vec![Input::value(&7u64).unwrap()]);
    let after = job.task::<square>(vec![Input::output(bad)]);
    let later = job.task::<add>(vec![Input::output(after), Input::value(&1u64).unwrap()]);
    let fine = job.task::<explode>(vec![Input::value(&1u64).unwrap()]);
    let outputs = runner("panic").run(&job).expect("the job runs");
    match outputs.get::<explode>(bad) {
        Err(RemoteError::Task(error)) => {
            assert_eq!(error.task(), "explode");
            assert_eq!(error.message(), "too big: 7");
            assert!(
                error.call_site().starts_with("tests/remote.rs:"),
                "{}",
                error.call_site()
            );
        }
        other => panic!("expected the task's panic, got {other:?}"),
    }
    for (task, because) in [(after, "explode"), (later, "square")] {
        match outputs.get::<square>(task) {
            Err(RemoteError::NeverRan { because: b, .. }) => assert_eq!(b, because),
            other => panic!("expected never ran, got {other:?}"),
        }
    }
    assert_eq!(outputs.get::<explode>(fine).unwrap(), 1);
}

/// A wrong argument names the task and the argument; too few arguments say so.
fn wrong_arguments_are_named() {
    let mut job = Job::new();
    let wrong = job.task::<square>(vec![Input::value(&String::from("3")).unwrap()]);
    let short = job.task::<add>(vec![Input::value(&1u64).unwrap()]);
    let outputs = runner("arguments").run(&job).expect("the job runs");
    let error = outputs.get::<square>(wrong).unwrap_err().to_string();
    assert!(error.contains("argument 0 of task `square`"), "{error}");
    assert!(error.contains("expected a `u64`"), "{error}");
    assert!(error.contains("String"), "{error}");
    let error = outputs.get::<add>(short).unwrap_err().to_string();
    assert!(error.contains("takes 2 arguments"), "{error}");
    assert!(error.contains("gives it 1"), "{error}");
}

/// A job reading a task that is not before it is refused before anything runs.
fn a_job_reading_forward_is_refused() {
    let mut other = Job::new();
    for _ in 0..3 {
        other.task::<square>(vec![Input::value(&1u64).unwrap()]);
    }
    let third = other.task::<square>(vec![Input::value(&1u64).unwrap()]);
    let mut job = Job::new();
    job.task::<square>(vec![Input::output(third)]);
    match runner("forward").run(&job) {
        Err(RemoteError::BadJob(message)) => {
            assert!(message.contains("not before it"), "{message}")
        }
        other => panic!("expected a bad job, got {other:?}"),
    }
}

/// A worker that prints far more than a pipe holds does not block; one that dies
/// without an error file is reported with its exit status and last words.
fn chatty_and_crashing_workers() {
    let mut job = Job::new();
    let loud = job.task::<chatty>(vec![Input::value(&3000u64).unwrap()]);
    let dead = job.task::<crash>(vec![Input::value(&1u64).unwrap()]);
    let outputs = runner("workers").run(&job).expect("the job runs");
    assert_eq!(outputs.get::<chatty>(loud).unwrap(), 3000);
    match outputs.get::<crash>(dead) {
        Err(RemoteError::Worker { message, .. }) => {
            assert!(message.contains("exited with"), "{message}");
            assert!(message.contains("about to abort"), "{message}");
        }
        other => panic!("expected a failed worker, got {other:?}"),
    }
    // A second read gives the same error, not a vaguer one.
    assert_eq!(
        outputs.get::<crash>(dead).unwrap_err().to_string(),
        outputs.get::<crash>(dead).unwrap_err().to_string()
    );
    assert!(matches!(
        outputs.get::<crash>(dead),
        Err(RemoteError::Worker { .. })
    ));
}

/// Starts this binary as a worker by hand; its exit status and error file.
fn worker(dir: &Path, function: &str, inputs: &[PathBuf]) -> (bool, String) {
    std::fs::create_dir_all(dir).unwrap();
    let output = dir.join(format!("{}.out", function.replace("::", "_")));
    let status = Command::new(std::env::current_exe().unwrap())
        .arg(remote::WORKER_FLAG)
        .arg(function)
        .arg(&output)
        .args(inputs)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    let mut error = output.into_os_string();
    error.push(".error");
    (
        status.success(),
        std::fs::read_to_string(error).unwrap_or_default(),
    )
}

/// A value written by another build is refused with the reason; so is a name the
/// binary does not have, listing the ones it has.
fn stale_binaries_and_unknown_names_are_clear_errors() {
    let dir = base().join("worker");
    std::fs::create_dir_all(&dir).unwrap();
    let mut bytes = Payload::encode(&3u64).unwrap().to_bytes();
    bytes[4] ^= 0xff; // the build id
    let stale = dir.join("stale.in");
    std::fs::write(&stale, bytes).unwrap();
    let name = format!("{}::square", module_path!());
    let (ok, error) = worker(&dir, &name, &[stale]);
    assert!(!ok);
    assert!(error.contains("another build of this program"), "{error}");

    let (ok, error) = worker(&dir, "nowhere::nothing", &[]);
    assert!(!ok);
    assert!(
        error.contains("no `#[delayed(remote)]` function `nowhere::nothing`"),
        "{error}"
    );
    assert!(error.contains(&name), "lists what it has: {error}");

    let names: Vec<&str> = remote::registered().into_iter().map(|(n, _)| n).collect();
    for f in ["add", "describe", "explode", "mirror", "square"] {
        assert!(
            names.contains(&format!("{}::{f}", module_path!()).as_str()),
            "{names:?}"
        );
    }
}

/// A diamond of `delay!` nodes, computed on the local runner as one job: the same
/// values as computing it here, grouped or one process per node.
fn a_delayed_diamond_computes_on_the_runner_as_here() {
    let a = delay!(square(3));
    let b = delay!(square(4));
    let c = delay!(add(a.clone(), b.clone()));
    let d = delay!(add(c.clone(), a.clone()));
    let e = delay!(total(vec![d.clone(), b.clone(), b]));
    let p = Point { x: 1, y: -2 };
    let text = delay!(describe(mirror(p.clone()), String::from("mirrored")));
    for partition in [Partition::Auto, Partition::PerNode, Partition::Tasks(2)] {
        let runner = runner("delayed-diamond");
        assert_eq!(
            compute_on_with(&runner, &e, partition).unwrap(),
            e.compute()
        );
        assert_eq!(compute_on_with(&runner, &d, partition).unwrap(), 34);
        assert_eq!(
            compute_on_with(&runner, &text, partition).unwrap(),
            describe(mirror(p.clone()), "mirrored".into())
        );
    }
    // One process per node without grouping: 5 nodes (`a` and `b` are each one node,
    // read twice); `Auto` too keeps a graph smaller than 16 nodes one task per node.
    let local = runner("delayed-diamond");
    assert_eq!(compute_on_with(&local, &e, Partition::PerNode).unwrap(), 66);
    assert_eq!(local.workers_started(), 5);
    assert_eq!(e.compute_on(&local).unwrap(), 66);
    assert_eq!(local.workers_started(), 10);
}

/// Static graphs inside remote tasks: twenty `pipeline` calls (each a three-node
/// `graph!` run by a worker) summed, one process per node and grouped, equal to plain
/// sequential evaluation.
fn a_static_graph_runs_inside_a_remote_task() {
    let parts: Vec<Delayed<u64>> = (0..20).map(|i| delay!(pipeline(i))).collect();
    let sum = delay!(total(parts));
    let sequential: u64 = (0..20u64).map(|x| x / 2 + 3 * x).sum();
    for partition in [Partition::PerNode, Partition::Tasks(3)] {
        let local = runner("static-inside");
        assert_eq!(
            compute_on_with(&local, &sum, partition).unwrap(),
            sequential
        );
        assert!(local.workers_started() >= 3, "{partition:?}");
    }
    assert_eq!(sum.compute(), sequential);
}

/// A fan-in of 1,000 leaves (sums of ten in `Vec`s, then a tree of adds: 1,199 nodes)
/// grouped into at most 16 cluster tasks, and a chain of 100,000 nodes (deep enough to
/// overflow a recursive walk), both equal to computing them here.
fn a_large_fan_in_is_grouped_into_few_processes() {
    let leaves: Vec<Delayed<u64>> = (0..1000u64).map(|i| delay!(square(i))).collect();
    let mut level: Vec<Delayed<u64>> = leaves.chunks(10).map(|ten| delay!(total(ten))).collect();
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
    let root = level.pop().unwrap();
    let expected: u64 = (0..1000u64).map(|i| i * i).sum();
    let job = GraphJob::new(&root, Partition::Auto, 2).unwrap();
    assert_eq!(job.nodes(), 1199);
    assert!(job.job().len() <= 16, "{} cluster tasks", job.job().len());
    let local = runner("fan-in");
    assert_eq!(root.compute_on(&local).unwrap(), expected);
    assert_eq!(root.compute(), expected);
    assert!(local.workers_started() <= 16, "{}", local.workers_started());
    assert_eq!(local.workers_started(), job.job().len());
    let four = runner("fan-in");
    assert_eq!(
        compute_on_with(&four, &root, Partition::Tasks(4)).unwrap(),
        expected
    );
    assert_eq!(four.workers_started(), 4);

    let mut chain = delay!(inc(0));
    for _ in 1..100_000 {
        chain = delay!(inc(chain));
    }
    let local = runner("chain");
    assert_eq!(
        compute_on_with(&local, &chain, Partition::Tasks(4)).unwrap(),
        100_000
    );
    assert_eq!(local.workers_started(), 4);
}

/// A panic in a remote node comes back as the task's error, named and located as on
/// one machine, and a value that needs it, however far from it, fails with that same
/// error (as `try_compute` here), whether they share a cluster task or not.
fn a_remote_panic_names_the_node_and_what_needs_it_fails_with_it() {
    let bad = delay!(explode(7));
    let after = delay!(square(bad.clone()));
    let root = delay!(add(after.clone(), delay!(square(2))));
    let here = bad.try_compute().unwrap_err();
    for partition in [Partition::Auto, Partition::PerNode] {
        let runner = runner("remote-panic");
        match compute_on_with(&runner, &bad, partition) {
            Err(RemoteError::Task(error)) => {
                assert_eq!(error.task(), "explode");
                assert_eq!(error.message(), "too big: 7");
                assert_eq!(error.call_site(), here.call_site());
                assert!(error.call_site().starts_with("tests/remote.rs:"));
            }
            other => panic!("expected the task's panic, got {other:?}"),
        }
        // What needs the panic fails with it, as here, however far from it.
        for value in [&after, &root] {
            match compute_on_with(&runner, value, partition) {
                Err(RemoteError::Task(error)) => {
                    assert_eq!(error.task(), "explode");
                    assert_eq!(error.message(), "too big: 7");
                    assert_eq!(error.call_site(), here.call_site());
                    assert_eq!(
                        value.try_compute().unwrap_err().call_site(),
                        here.call_site()
                    );
                }
                other => panic!("expected the needed task's panic, got {other:?}"),
            }
        }
    }
}

/// A `#[delayed(remote, retries = n)]` task that panics runs again inside its worker
/// process, as it does here: it succeeds within its retries (one worker process, the
/// attempts counted), and otherwise fails with the last attempt's error, the same as
/// here; a task without retries fails at its first panic with the same error as here.
fn retries_run_inside_the_worker() {
    let dir = base().join("attempts");
    for partition in [Partition::Tasks(1), Partition::PerNode] {
        // Within its retries: the third attempt succeeds, in the one worker.
        let runner = runner("retries");
        let c = counter(&dir, "one-worker");
        let value = delay!(flaky(c.clone(), 3));
        assert_eq!(compute_on_with(&runner, &value, partition).unwrap(), 3);
        assert_eq!(attempts_made(&c), 3);
        assert_eq!(runner.workers_started(), 1);
        let compute = |value: &Delayed<u64>| compute_on_with(&runner, value, partition);
        retries_as_here(&dir, &compute, &format!("{partition:?}"));
    }
}

/// The observers of a compute here watch a compute on the runner: every node of a
/// diamond and of a grouped fan-in told started and finished once, as here (the same
/// nodes, names and outcomes), a profiler's records one per node; with a panic, the
/// node that panicked failed, those after it never started, the others finished.
fn observers_see_each_node_the_workers_run() {
    let a = delay!(square(3));
    let b = delay!(square(4));
    let diamond = delay!(total(vec![delay!(add(a.clone(), b.clone())), a, b]));
    let leaves: Vec<Delayed<u64>> = (0..1000u64).map(|i| delay!(square(i))).collect();
    let tens: Vec<Delayed<u64>> = leaves.chunks(10).map(|ten| delay!(total(ten))).collect();
    let fan_in = delay!(total(tens));
    let recording = Arc::new(Recording::default());
    for (graph, partition) in [
        (&diamond, Partition::Auto),
        (&diamond, Partition::Tasks(1)),
        (&fan_in, Partition::Auto),
    ] {
        let options = ClusterOptions::new()
            .partition(partition)
            .observer(recording.clone());
        assert_eq!(
            graph.compute_on_with(&runner("observed"), options).unwrap(),
            graph.compute()
        );
        let remote = each_node_once(&recording.take());
        graph
            .try_compute_with(RunOptions::new().observer(recording.clone()))
            .unwrap();
        let here = each_node_once(&recording.take());
        assert_eq!(remote.len(), graph.info().len());
        assert!(remote.iter().all(|(_, o)| *o == TaskOutcome::Finished));
        assert_eq!(remote, here, "{partition:?}");
    }
    // The observers that come with taskweave: a profile of the fan-in's nodes.
    let profiler = Arc::new(Profiler::new());
    fan_in
        .compute_on_with(
            &runner("profiled"),
            ClusterOptions::new().observer(profiler.clone()),
        )
        .unwrap();
    assert_eq!(profiler.records().len(), 1101);
    assert_eq!(profiler.summary().row("square").unwrap().count, 1000);

    let bad = delay!(explode(7));
    let root = delay!(add(delay!(square(bad)), delay!(square(2))));
    for partition in [Partition::Tasks(1), Partition::PerNode] {
        let options = ClusterOptions::new()
            .partition(partition)
            .observer(recording.clone());
        let error = compute_on_with(&runner("observed-panic"), &root, options).unwrap_err();
        assert!(
            matches!(&error, RemoteError::Task(e) if e.task() == "explode"),
            "{error:?}"
        );
        saw_explode_fail_beside_square(&recording.take(), &format!("{partition:?}"));
    }
}

/// A job whose worker does not end has a way out: past the runner's timeout, or
/// cancelled from another thread, its workers are killed and the compute is an error
/// saying so; a zero timeout gives up at once; the runner then runs the next job.
fn a_worker_that_does_not_end_is_killed() {
    let dir = base().join("stuck");
    let slow = delay!(add(delay!(nap(600)), delay!(square(2))));
    let limited = LocalRunner::new(&dir)
        .parallel(2)
        .timeout(std::time::Duration::from_millis(500));
    let error = {
        let (runner, slow) = (limited.clone(), slow.clone());
        watchdog::within(std::time::Duration::from_secs(60), "a timeout", move || {
            compute_on_with(&runner, &slow, Partition::PerNode).unwrap_err()
        })
    };
    // The killed task named after its node (it was the sub-graph runner's `subgraph`).
    let text = error.to_string();
    assert!(
        text.starts_with(
            "the local runner's job did not end within 500ms (LocalRunner::timeout): its \
             running workers were killed (tasks 0 (`nap at tests/remote.rs:"
        ),
        "{text}"
    );
    assert_eq!(
        processes_with(&dir.display().to_string()),
        Vec::<String>::new()
    );
    assert_eq!(
        delay!(square(3)).compute_on(&limited).unwrap(),
        9,
        "the next job runs"
    );

    // Cancelled once its worker runs.
    let runner = LocalRunner::new(&dir).parallel(2);
    let canceller = runner.canceller();
    let error = watchdog::within(std::time::Duration::from_secs(60), "a cancel", move || {
        std::thread::scope(|scope| {
            let computing = scope.spawn(|| slow.compute_on(&runner));
            while processes_with(&dir.display().to_string()).is_empty() {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            canceller.cancel();
            computing.join().unwrap().unwrap_err().to_string()
        })
    });
    assert!(
        error.starts_with("the local runner's job was cancelled: its running workers were killed"),
        "{error}"
    );
    assert_eq!(
        processes_with(&base().join("stuck").display().to_string()),
        Vec::<String>::new()
    );

    let zero = LocalRunner::new(base().join("zero")).timeout(std::time::Duration::ZERO);
    // Before any worker starts: a worker that ended before the runner's first look
    // at the deadline made the job succeed (seen in CI once workers started fast).
    for _ in 0..20 {
        let error = delay!(square(3)).compute_on(&zero).unwrap_err().to_string();
        assert!(error.contains("did not end within 0ns"), "{error}");
        assert!(error.ends_with("no worker was running"), "{error}");
    }
}

/// A run's directory is a new one: one of the same name left by an earlier process
/// of the same id (a container restarted, another machine on a shared filesystem, a
/// run that crashed) was taken as it was, and its files read as this run's results.
/// Here a worker that writes nothing (`/bin/true`) in such a directory returned the
/// stale output, 999, instead of its error. (Runs first in `main`, so that this
/// process's run numbers are still among the stale directories made.)
fn a_run_never_reads_files_an_earlier_process_left() {
    let dir = base().join("stale-runs");
    let stale = Payload::encode(&999u64).unwrap().to_bytes();
    for n in 0..200 {
        let run = dir.join(format!("run-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("task-0.out"), &stale).unwrap();
    }
    let mut job = Job::new();
    let task = job.task::<square>(vec![Input::value(&3u64).unwrap()]);
    let runner = LocalRunner::new(&dir).program("/bin/true");
    let outputs = runner.run(&job).unwrap();
    let error = outputs.get::<square>(task).unwrap_err().to_string();
    assert!(
        error.contains("without writing its result"),
        "a stale result was read: {error}"
    );
    // And a real worker's result, in a directory of its own.
    let runner = LocalRunner::new(&dir);
    assert_eq!(runner.run(&job).unwrap().get::<square>(task).unwrap(), 9);
}

/// A runner (or cluster) of any number of workers takes a graph: the default
/// grouping (`Partition::Auto`, four groups per worker) overflowed past
/// `usize::MAX / 4` workers, a panic in a debug build.
fn a_runner_of_any_number_of_workers_computes() {
    let runner = LocalRunner::new(base().join("many-workers")).parallel(usize::MAX);
    let sum = delay!(add(delay!(square(2)), delay!(square(3))));
    assert_eq!(sum.compute_on(&runner).unwrap(), 13);
}

/// A worker program that cannot be started is named as such: the bare error of the
/// start ("/tmp: Permission denied") did not say what the path was.
fn a_program_that_cannot_start_is_named_as_the_worker() {
    let sum = delay!(add(delay!(square(2)), delay!(square(3))));
    for program in ["/nonexistent/worker", "/tmp"] {
        let runner = LocalRunner::new(base().join("no-program")).program(program);
        let error = sum.compute_on(&runner).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!(
                "{program}: cannot start it as a worker (LocalRunner::program): "
            )),
            "{error}"
        );
    }
}

/// A cancel reaches the job running when it is made, even where another job starts
/// on the same runner right after it (from another thread): that job's start took the
/// cancel back, and the job it was meant for ran to its end. The later job runs.
fn a_cancel_is_not_lost_to_a_job_started_after_it() {
    let dir = base().join("cancel-race");
    let runner = LocalRunner::new(&dir)
        .parallel(2)
        .timeout(std::time::Duration::from_secs(30));
    // Each round, without the fix, lost the cancel nearly always (the running job
    // looks at it every 20 ms, the later job's start came within a millisecond).
    for round in 0..3 {
        let (runner, dir) = (runner.clone(), dir.clone());
        let (first, later) = watchdog::within(
            std::time::Duration::from_secs(60),
            "a cancel beside a later job",
            move || {
                std::thread::scope(|scope| {
                    let computing = scope.spawn(|| delay!(nap(600)).compute_on(&runner));
                    while processes_with(&dir.display().to_string()).is_empty() {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    runner.canceller().cancel();
                    let later = delay!(square(3)).compute_on(&runner);
                    (computing.join().unwrap(), later)
                })
            },
        );
        let error = first.unwrap_err().to_string();
        assert!(
            error.starts_with("the local runner's job was cancelled"),
            "round {round}: {error}"
        );
        assert_eq!(later.unwrap(), 9, "round {round}: the later job runs");
    }
    assert_eq!(
        processes_with(&dir.display().to_string()),
        Vec::<String>::new()
    );
}

/// A worker that dies in a graph's cluster task (an abort, no error file) is the
/// error of the compute, whether the result is in that cluster task or after it,
/// named after the node it ran (not the worker's internal function); one that ends
/// its process itself (`exit(0)`, no result written) says so, named too; and a
/// result whose `Serialize` panics is its task's error, as a panic of the task.
fn a_worker_dying_in_a_graph_is_the_computes_error() {
    let dead = delay!(crash(1));
    let root = delay!(add(dead, delay!(square(2))));
    for partition in [Partition::Auto, Partition::PerNode] {
        match compute_on_with(&runner("graph-crash"), &root, partition) {
            Err(RemoteError::Worker { task, message }) => {
                assert!(message.contains("about to abort"), "{message}");
                assert!(!task.contains("taskweave::remote"), "{task}");
                if partition == Partition::PerNode {
                    assert!(task.starts_with("crash at tests/remote.rs:"), "{task}");
                }
            }
            other => panic!("expected the failed worker, got {other:?}"),
        }
    }
    let gone = delay!(add(delay!(leave(1)), delay!(square(2))));
    match compute_on_with(&runner("graph-exit"), &gone, Partition::PerNode) {
        Err(RemoteError::Worker { task, message }) => {
            assert!(message.contains("without writing its result"), "{message}");
            assert!(task.starts_with("leave at tests/remote.rs:"), "{task}");
        }
        other => panic!("expected the worker that left, got {other:?}"),
    }
    let here = delay!(unencodable(1));
    for partition in [Partition::Auto, Partition::PerNode] {
        match compute_on_with(
            &runner("graph-encode"),
            &delay!(fuse(here.clone())),
            partition,
        ) {
            Err(RemoteError::Task(error)) => {
                assert_eq!(error.task(), "unencodable");
                assert_eq!(error.message(), "no bytes for this one");
            }
            other => panic!("expected the encoding's panic ({partition:?}), got {other:?}"),
        }
    }
    // A result that does not decode here names its node (the type alone before).
    let result = delay!(one_way(delay!(square(2))));
    match result.compute_on(&runner("graph-decode")) {
        Err(RemoteError::Decode { type_name, message }) => {
            assert!(type_name.contains("OneWay"), "{type_name}");
            assert!(
                message.contains("(the result of one_way at tests/remote.rs:"),
                "{message}"
            );
        }
        other => panic!("expected the result's decoding error, got {other:?}"),
    }
}

/// A worker of a cluster task of several nodes that dies (an abort, an `exit(0)`) is
/// blamed on the node it was running, not the first of its group, with which of its
/// nodes had finished: with and without an observer (the worker writes its nodes'
/// events either way).
fn a_grouped_worker_that_dies_names_the_node_it_ran() {
    let first = delay!(square(2));
    let dies = delay!(crash(first));
    let root = delay!(add(dies, delay!(square(3))));
    let left = delay!(add(delay!(leave(delay!(square(2)))), delay!(square(3))));
    for (graph, why, dir, options) in [
        (
            &root,
            "about to abort",
            "grouped-crash",
            ClusterOptions::new(),
        ),
        (
            &root,
            "about to abort",
            "grouped-crash-observed",
            ClusterOptions::new().observer(Arc::new(Profiler::new())),
        ),
        (
            &left,
            "without writing its result",
            "grouped-exit",
            ClusterOptions::new(),
        ),
    ] {
        let options = options.partition(Partition::Tasks(1));
        match compute_on_with(&runner(dir), graph, options) {
            Err(RemoteError::Worker { task, message }) => {
                assert!(message.contains(why), "{message}");
                assert!(
                    task.starts_with("crash at tests/remote.rs:")
                        || task.starts_with("leave at tests/remote.rs:"),
                    "{task}: {message}"
                );
                assert!(!task.contains("nodes after it"), "{task}");
                assert!(
                    message.contains("of the 4 nodes of its cluster task it was running"),
                    "{message}"
                );
                assert!(
                    message.contains("; square at tests/remote.rs:"),
                    "{message}"
                );
                // The sibling `square(3)` may have run, or not yet, beside it.
                assert!(message.contains("had not started"), "{message}");
            }
            other => panic!("expected the failed worker ({dir}), got {other:?}"),
        }
    }
}

/// A node a worker cannot run (an operator, a closure) is refused before anything
/// starts, with its name and where it was built.
fn a_local_node_is_refused_with_its_name_and_call_site() {
    let sum = delay!(square(3)) + delay!(square(4));
    let line = line!() - 1;
    let root = delay!(square(sum));
    let runner = runner("local-node");
    match root.compute_on(&runner) {
        Err(RemoteError::NotRemote {
            task, call_site, ..
        }) => {
            assert_eq!(task, "add");
            assert_eq!(call_site, format!("tests/remote.rs:{line}:15"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let closure = delayed(|x: u64| x + 1).call(delay!(square(2)));
    let line = line!() - 1;
    let error = delay!(add(closure, 1)).compute_on(&runner).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("`closure`"), "{text}");
    assert!(text.contains(&format!("tests/remote.rs:{line}:")), "{text}");
    assert!(text.contains("#[delayed(remote)]"), "{text}");
    assert_eq!(runner.workers_started(), 0);
}

/// A `graph!` diamond computed on the local runner as one job (each node a cluster
/// task, or grouped): the same value as the graph's own `compute`, for several inputs,
/// with a value argument typed by its call (the literal `4` is a `u64`), a `vec!` of
/// nodes, a struct and a string as values; observed, each node told once as here.
fn a_static_graph_computes_on_the_runner_as_here() {
    let diamond = graph!(|x: u64| -> u64 {
        let a = square(x);
        let b = square(4);
        let c = add(a, b);
        let d = add(c, a);
        total(vec![d, b, b])
    });
    let text = graph!(|p: Point, label: String| -> String { describe(mirror(p), label) });
    // A `vec!` of nodes bound to a name is a node too: a worker assembles it.
    let collected = graph!(|x: u64| -> u64 {
        let parts = vec![square(x), square(x + 1), inc(x)];
        total(parts)
    });
    // Arguments that call something are read here, before the graph, and sent as
    // values (`u64::from(…)`, a method call).
    let words = ["a", "bb", "ccc"];
    let read_here = graph!(|x: u64| -> u64 { add(square(u64::from(x as u8)), words.len() as u64) });
    for partition in [Partition::Auto, Partition::PerNode, Partition::Tasks(2)] {
        let runner = runner("static-diamond");
        for x in [0, 3, 10] {
            assert_eq!(
                diamond
                    .compute_on_cluster_with(&runner, partition, x)
                    .unwrap(),
                diamond.compute(x),
                "{partition:?}, x = {x}"
            );
        }
        let p = Point { x: 1, y: -2 };
        assert_eq!(
            text.compute_on_cluster_with(&runner, partition, p.clone(), "mirrored".into())
                .unwrap(),
            text.compute(p, "mirrored".into())
        );
        assert_eq!(
            collected
                .compute_on_cluster_with(&runner, partition, 5)
                .unwrap(),
            collected.compute(5)
        );
        assert_eq!(
            read_here
                .compute_on_cluster_with(&runner, partition, 4)
                .unwrap(),
            16 + 3
        );
    }
    // One process per node: the diamond's five nodes.
    let local = runner("static-diamond");
    assert_eq!(
        diamond
            .compute_on_cluster_with(&local, Partition::PerNode, 3)
            .unwrap(),
        66
    );
    assert_eq!(local.workers_started(), 5);
    assert_eq!(diamond.compute_on_cluster(&local, 3).unwrap(), 66);
    // Observed in two cluster tasks: each node told once, as the graph's own compute
    // tells it (the same numbers and names).
    let recording = Arc::new(Recording::default());
    let options = ClusterOptions::new()
        .partition(Partition::Tasks(2))
        .observer(recording.clone());
    assert_eq!(
        diamond.compute_on_cluster_with(&local, options, 3).unwrap(),
        66
    );
    let observed = each_node_once(&recording.take());
    diamond
        .try_compute_with(RunOptions::new().observer(recording.clone()), 3)
        .unwrap();
    assert_eq!(observed.len(), diamond.len());
    assert_eq!(observed, each_node_once(&recording.take()));
}

/// A panic in a remote node of a `graph!` comes back as the task's error, named and
/// located as the graph's own compute names it, for the graph's result that needs it
/// too.
fn a_static_graph_panic_names_the_node_and_what_needs_it_fails_with_it() {
    let bad = graph!(|x: u64| -> u64 { explode(x) });
    let chain = graph!(|x: u64| -> u64 {
        let bad = explode(x);
        let after = square(bad);
        add(after, square(2))
    });
    let here = bad.try_compute(7).unwrap_err();
    let here_in_chain = chain.try_compute(7).unwrap_err();
    assert_eq!(here_in_chain.task(), "explode");
    for partition in [Partition::Auto, Partition::PerNode] {
        let runner = runner("static-panic");
        match bad.compute_on_cluster_with(&runner, partition, 7) {
            Err(RemoteError::Task(error)) => {
                assert_eq!(error.task(), here.task());
                assert_eq!(error.message(), "too big: 7");
                assert_eq!(error.call_site(), here.call_site());
                assert!(error.call_site().starts_with("tests/remote.rs:"));
            }
            other => panic!("expected the task's panic, got {other:?}"),
        }
        match chain.compute_on_cluster_with(&runner, partition, 7) {
            Err(RemoteError::Task(error)) => {
                assert_eq!(error.task(), here.task());
                assert_eq!(error.message(), "too big: 7");
                assert_eq!(
                    error.call_site(),
                    chain.try_compute(7).unwrap_err().call_site()
                );
            }
            other => panic!("expected the needed task's panic, got {other:?}"),
        }
        // Below the panic's threshold the same graph computes, as here.
        assert_eq!(
            chain
                .compute_on_cluster_with(&runner, partition, 1)
                .unwrap(),
            chain.compute(1)
        );
    }
}

/// A node of a `graph!` that a worker cannot run (a call of a function not marked
/// `remote`, an operator, a node whose result the graph does not use, nodes given as
/// an array rather than a `Vec`) is refused
/// before anything starts, with its name and call site; the graph still computes here.
fn a_static_graph_with_a_local_node_is_refused_with_its_name_and_call_site() {
    let runner = runner("static-local");
    // The refused node's name, its call site (on `line`) and the reason.
    let refusal = |result: Result<u64, RemoteError>, line: u32| match result {
        Err(RemoteError::NotRemote {
            task,
            call_site,
            reason,
        }) => {
            let at = format!("tests/remote.rs:{line}:");
            assert!(call_site.starts_with(&at), "{call_site}, not at {at}");
            (task, call_site, reason)
        }
        other => panic!("expected a refusal, got {other:?}"),
    };
    let local_call = graph!(|x: u64| -> u64 {
        let a = square(x);
        let b = half(a);
        add(a, b)
    });
    let line = line!() - 3;
    let (task, call_site, reason) = refusal(local_call.compute_on_cluster(&runner, 6), line);
    assert_eq!(task, "half");
    assert_eq!(call_site, format!("tests/remote.rs:{line}:17"));
    assert!(reason.contains("#[delayed(remote)]"), "{reason}");
    assert_eq!(local_call.compute(6), 36 + 18);

    let operator = graph!(|x: u64| -> u64 {
        let s = square(x) + square(2);
        square(s)
    });
    let line = line!() - 3;
    let (task, call_site, reason) = refusal(operator.compute_on_cluster(&runner, 1), line);
    let info = operator.info();
    let node = info.nodes().iter().find(|n| n.kind == "operator").unwrap();
    assert_eq!(
        (task, call_site),
        (node.name.clone(), node.call_site.clone())
    );
    assert!(reason.contains("operator node"), "{reason}");
    assert_eq!(operator.compute(1), 25);

    let unused = graph!(|x: u64| -> u64 {
        let _ = square(x);
        inc(x)
    });
    let line = line!() - 3;
    let (task, _, reason) = refusal(unused.compute_on_cluster(&runner, 1), line);
    assert_eq!(task, "square");
    assert!(
        reason.contains("does not lead to the graph's result"),
        "{reason}"
    );

    let array = graph!(|x: u64| -> u64 { pair_sum([square(x), square(2)]) });
    let line = line!() - 1;
    let (task, _, reason) = refusal(array.compute_on_cluster(&runner, 1), line);
    assert_eq!(task, "pair_sum");
    assert!(reason.contains("as a `Vec`"), "{reason}");
    assert_eq!(array.compute(1), 5);

    let bound_array = graph!(|x: u64| -> u64 {
        let parts = [square(x), inc(x)];
        pair_sum(parts)
    });
    let line = line!() - 3;
    let (_, _, reason) = refusal(bound_array.compute_on_cluster(&runner, 2), line);
    assert!(reason.contains("write `vec![a, b]`"), "{reason}");
    assert_eq!(bound_array.compute(2), 7);
    assert_eq!(runner.workers_started(), 0);
}

#[delayed]
fn cell_of(x: u64) -> std::cell::Cell<u64> {
    std::cell::Cell::new(x)
}

#[delayed]
fn cell_value(c: &std::cell::Cell<u64>) -> u64 {
    c.get()
}

#[delayed]
fn first_of(v: &[u64]) -> u64 {
    v[0]
}

#[delayed]
fn twice<T: Clone + Send>(v: T) -> Vec<T> {
    vec![v.clone(), v]
}

/// A `graph!` in a generic function, on an input of a generic type.
fn twice_in_a_graph<T: Clone + Send + Sync + 'static>(v: T) -> Vec<T> {
    graph!(|v: T| -> Vec<T> { twice(v) }).compute(v)
}

/// Graphs that no cluster could take still compile with the `hyperqueue` feature (the
/// description of their nodes adds no bound to the graph: a result that is `Send` but
/// not `Sync`, a captured borrow, a generic type) and compute here as before; on a
/// cluster they are refused at their first node a worker cannot run.
fn graphs_a_cluster_cannot_take_still_compile_and_compute_here() {
    let data = vec![7u64, 8];
    let borrowed = &data;
    let g = graph!(|x: u64| -> u64 {
        let c = cell_of(x);
        add(cell_value(c), first_of(borrowed))
    });
    assert_eq!(g.compute(3), 10);
    match g.compute_on_cluster(&runner("static-bounds"), 3) {
        Err(RemoteError::NotRemote { task, .. }) => assert_eq!(task, "cell_of"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(twice_in_a_graph(String::from("a")), ["a", "a"]);
}

/// A job as a HyperQueue job file: one `[[task]]` per task with its id, command and
/// deps; its commands, run by hand in order as HyperQueue would, give the result.
fn a_job_renders_as_a_hyperqueue_job_file() {
    let mut job = Job::new();
    let a = job.task::<square>(vec![Input::value(&3u64).unwrap()]);
    let b = job.task::<square>(vec![Input::value(&4u64).unwrap()]);
    let total = job.task::<add>(vec![Input::output(a), Input::output(b)]);
    let twice = job.task::<add>(vec![Input::output(total), Input::output(total)]);
    let text = job.to_hyperqueue_toml(Path::new("/opt/my prog"), Path::new("/shared/run \"1\""));
    let square_name = format!("{}::square", module_path!());
    let add_name = format!("{}::add", module_path!());
    let expected = format!(
        r#"[[task]]
id = 0
command = ["/opt/my prog", "--taskweave-worker", "{square_name}", "/shared/run \"1\"/task-0.out", "/shared/run \"1\"/task-0.in-0"]
deps = []

[[task]]
id = 1
command = ["/opt/my prog", "--taskweave-worker", "{square_name}", "/shared/run \"1\"/task-1.out", "/shared/run \"1\"/task-1.in-0"]
deps = []

[[task]]
id = 2
command = ["/opt/my prog", "--taskweave-worker", "{add_name}", "/shared/run \"1\"/task-2.out", "/shared/run \"1\"/task-0.out", "/shared/run \"1\"/task-1.out"]
deps = [0, 1]

[[task]]
id = 3
command = ["/opt/my prog", "--taskweave-worker", "{add_name}", "/shared/run \"1\"/task-3.out", "/shared/run \"1\"/task-2.out", "/shared/run \"1\"/task-2.out"]
deps = [2]
"#
    );
    assert_eq!(text, expected);
    assert_eq!(job.deps(twice), vec![total]);

    // The same description, run by hand: values written, commands in id order.
    let run = base().join("by-hand");
    std::fs::create_dir_all(&run).unwrap();
    job.write_values(&run).unwrap();
    let program = std::env::current_exe().unwrap();
    for i in [a, b, total, twice] {
        let command = job.command(i, &program, &run);
        let status = Command::new(&command[0])
            .args(&command[1..])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "task {}", i.index());
    }
    let bytes = std::fs::read(run.join(format!("task-{}.out", twice.index()))).unwrap();
    assert_eq!(
        Payload::from_bytes(&bytes)
            .unwrap()
            .decode::<u64>()
            .unwrap(),
        50
    );

    // A graph's job is one such description too: one sub-graph task per group, its
    // inputs the sub-graph and then its nodes' values (3 and 4), a file each.
    let x = delay!(add(delay!(square(3)), delay!(square(4))));
    let graph = GraphJob::new(&x, Partition::Tasks(1), 2).unwrap();
    let text = graph
        .job()
        .to_hyperqueue_toml(Path::new("/p"), Path::new("/r"));
    assert_eq!(
        text,
        "[[task]]\nid = 0\ncommand = [\"/p\", \"--taskweave-worker\", \"taskweave::remote::subgraph\", \"/r/task-0.out\", \"/r/task-0.in-0\", \"/r/task-0.in-1\", \"/r/task-0.in-2\"]\ndeps = []\n"
    );
}

fn main() {
    // A worker when started as one: runs its task and exits.
    remote::worker_main();
    // Fails the run instead of hanging CI if a worker is waited for forever.
    std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_secs(180));
        eprintln!("tests/remote.rs: still running after 180 s: a worker or the runner hangs");
        std::process::exit(1);
    });
    let tests: [(&str, fn()); 25] = [
        (
            "a_run_never_reads_files_an_earlier_process_left",
            a_run_never_reads_files_an_earlier_process_left,
        ),
        (
            "a_grouped_worker_that_dies_names_the_node_it_ran",
            a_grouped_worker_that_dies_names_the_node_it_ran,
        ),
        (
            "graphs_a_cluster_cannot_take_still_compile_and_compute_here",
            graphs_a_cluster_cannot_take_still_compile_and_compute_here,
        ),
        (
            "a_static_graph_computes_on_the_runner_as_here",
            a_static_graph_computes_on_the_runner_as_here,
        ),
        (
            "a_static_graph_panic_names_the_node_and_what_needs_it_fails_with_it",
            a_static_graph_panic_names_the_node_and_what_needs_it_fails_with_it,
        ),
        (
            "a_static_graph_with_a_local_node_is_refused_with_its_name_and_call_site",
            a_static_graph_with_a_local_node_is_refused_with_its_name_and_call_site,
        ),
        (
            "a_static_graph_runs_inside_a_remote_task",
            a_static_graph_runs_inside_a_remote_task,
        ),
        (
            "a_worker_that_does_not_end_is_killed",
            a_worker_that_does_not_end_is_killed,
        ),
        (
            "a_runner_of_any_number_of_workers_computes",
            a_runner_of_any_number_of_workers_computes,
        ),
        (
            "a_program_that_cannot_start_is_named_as_the_worker",
            a_program_that_cannot_start_is_named_as_the_worker,
        ),
        (
            "a_cancel_is_not_lost_to_a_job_started_after_it",
            a_cancel_is_not_lost_to_a_job_started_after_it,
        ),
        (
            "observers_see_each_node_the_workers_run",
            observers_see_each_node_the_workers_run,
        ),
        (
            "retries_run_inside_the_worker",
            retries_run_inside_the_worker,
        ),
        (
            "a_worker_dying_in_a_graph_is_the_computes_error",
            a_worker_dying_in_a_graph_is_the_computes_error,
        ),
        (
            "a_job_renders_as_a_hyperqueue_job_file",
            a_job_renders_as_a_hyperqueue_job_file,
        ),
        (
            "a_delayed_diamond_computes_on_the_runner_as_here",
            a_delayed_diamond_computes_on_the_runner_as_here,
        ),
        (
            "a_large_fan_in_is_grouped_into_few_processes",
            a_large_fan_in_is_grouped_into_few_processes,
        ),
        (
            "a_remote_panic_names_the_node_and_what_needs_it_fails_with_it",
            a_remote_panic_names_the_node_and_what_needs_it_fails_with_it,
        ),
        (
            "a_local_node_is_refused_with_its_name_and_call_site",
            a_local_node_is_refused_with_its_name_and_call_site,
        ),
        ("chatty_and_crashing_workers", chatty_and_crashing_workers),
        (
            "a_diamond_computes_what_the_functions_compute",
            a_diamond_computes_what_the_functions_compute,
        ),
        (
            "a_panic_is_the_tasks_error_and_dependents_never_run",
            a_panic_is_the_tasks_error_and_dependents_never_run,
        ),
        ("wrong_arguments_are_named", wrong_arguments_are_named),
        (
            "a_job_reading_forward_is_refused",
            a_job_reading_forward_is_refused,
        ),
        (
            "stale_binaries_and_unknown_names_are_clear_errors",
            stale_binaries_and_unknown_names_are_clear_errors,
        ),
    ];
    for (name, test) in tests {
        test();
        println!("test {name} ... ok");
    }
    let _ = std::fs::remove_dir_all(base());
    println!("test result: ok. {} passed", tests.len());
}
