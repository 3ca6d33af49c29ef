//! The HyperQueue transports (feature `hyperqueue`): `Delayed` graphs computed on a
//! real HyperQueue `LocalCluster` through the Python API (`pip install
//! hyperqueue==0.27.0`), each job also run on the local runner and both compared with
//! computing the graph here; and the `hq` command-line transport against stand-ins
//! for the `hq` binary (none is installed here): its command lines, its job file run
//! by a small emulator, a missing binary and another version, and an `hq` that hangs
//! at each step (killed at its bound, under a watchdog).
//!
//! Without Python's `hyperqueue` the `LocalCluster` tests are skipped with a notice,
//! unless `TASKWEAVE_REQUIRE_HQ=1` (CI), which makes that an error. A test binary of its
//! own (`harness = false`): its `main` is the worker when HyperQueue starts it as one.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use std::sync::Arc;

use taskweave::remote::{
    self, compute_on_with, ClusterOptions, GraphJob, HyperQueueCli, HyperQueuePython, Input, Job,
    LocalRunner, Partition, RemoteError,
};
use taskweave::{delay, delayed, graph, Delayed, RunOptions, TaskOutcome};

#[path = "support/remote_tasks.rs"]
mod remote_tasks;
use remote_tasks::{
    each_node_once, processes_with, retries_as_here, saw_explode_fail_beside_square, Recording,
};
#[path = "support/watchdog.rs"]
mod watchdog;
use watchdog::within;

#[delayed(remote)]
fn square(x: u64) -> u64 {
    x * x
}

#[delayed(remote)]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[delayed(remote)]
fn total(parts: Vec<u64>) -> u64 {
    parts.iter().sum()
}

#[delayed(remote)]
fn explode(x: u64) -> u64 {
    if x > 1 {
        panic!("too big: {x}");
    }
    x
}

#[delayed(remote)]
fn crash(x: u64) -> u64 {
    if x > 0 {
        eprintln!("about to abort");
        std::process::abort();
    }
    x
}

#[delayed(remote)]
fn sleepy(seconds: u64) -> u64 {
    std::thread::sleep(Duration::from_secs(seconds));
    seconds
}

fn base() -> PathBuf {
    std::env::temp_dir().join(format!("taskweave-remote-hq-{}", std::process::id()))
}

fn local_runner(name: &str) -> LocalRunner {
    LocalRunner::new(base().join(name)).parallel(2)
}

/// The cluster's answer, the local runner's, and this process's, equal; and an
/// observer of the cluster's compute, fed by the workers' events, told every node
/// started and finished once, as it is told of the compute here.
fn same_everywhere<T>(cluster: &HyperQueuePython, value: &Delayed<T>, partition: Partition) -> T
where
    T: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug + Clone + Send + Sync + 'static,
{
    let recording = Arc::new(Recording::default());
    let options = ClusterOptions::new()
        .partition(partition)
        .observer(recording.clone());
    let start = Instant::now();
    let on_hq = compute_on_with(cluster, value, options).expect("the HyperQueue job");
    let hq_time = start.elapsed();
    let observed = each_node_once(&recording.take());
    value
        .try_compute_with(RunOptions::new().observer(recording.clone()))
        .unwrap();
    assert_eq!(observed.len(), value.info().len());
    assert!(observed.iter().all(|(_, o)| *o == TaskOutcome::Finished));
    assert_eq!(observed, each_node_once(&recording.take()));
    let start = Instant::now();
    let on_runner =
        compute_on_with(&local_runner("same"), value, partition).expect("the local runner");
    let runner_time = start.elapsed();
    let here = value.compute();
    assert_eq!(on_hq, here);
    assert_eq!(on_runner, here);
    println!(
        "    ({} nodes: HyperQueue {hq_time:.2?}, local runner {runner_time:.2?})",
        value.info().len()
    );
    on_hq
}

/// A diamond of `delay!` nodes (one cluster task per node: fewer than 16 nodes),
/// observed.
fn a_diamond_on_hyperqueue(cluster: &HyperQueuePython) {
    let a = delay!(square(3));
    let b = delay!(square(4));
    let c = delay!(add(a.clone(), b.clone()));
    let d = delay!(add(c, a));
    let e = delay!(total(vec![d, b.clone(), b]));
    assert_eq!(same_everywhere(cluster, &e, Partition::Auto), 66);
}

/// A `graph!` on HyperQueue: a diamond with a fan-in of twenty leaves (one HyperQueue
/// job, its 26 nodes grouped), observed: the same value as the graph's own compute and
/// the local runner's, each node told started and finished once, as here, with the
/// names of the graph's table.
fn a_static_graph_on_hyperqueue(cluster: &HyperQueuePython) {
    let g = graph!(|x: u64| -> u64 {
        let a = square(x);
        let b = square(4);
        let c = add(a, b);
        let leaves = total(vec![
            square(0),
            square(1),
            square(2),
            square(3),
            square(4),
            square(5),
            square(6),
            square(7),
            square(8),
            square(9),
            square(10),
            square(11),
            square(12),
            square(13),
            square(14),
            square(15),
            square(16),
            square(17),
            square(18),
            square(19),
        ]);
        total(vec![add(c, a), leaves, b])
    });
    let recording = Arc::new(Recording::default());
    let options = ClusterOptions::new().observer(recording.clone());
    let start = Instant::now();
    let on_hq = g
        .compute_on_cluster_with(cluster, options, 3)
        .expect("the HyperQueue job");
    let hq_time = start.elapsed();
    let observed = each_node_once(&recording.take());
    g.try_compute_with(RunOptions::new().observer(recording.clone()), 3)
        .unwrap();
    assert_eq!(observed.len(), g.len());
    assert!(observed.iter().all(|(_, o)| *o == TaskOutcome::Finished));
    assert_eq!(observed, each_node_once(&recording.take()));
    let start = Instant::now();
    let on_runner = g
        .compute_on_cluster(&local_runner("static"), 3)
        .expect("the local runner");
    println!(
        "    ({} nodes: HyperQueue {hq_time:.2?}, local runner {:.2?})",
        g.len(),
        start.elapsed()
    );
    let here = g.compute(3);
    assert_eq!(
        here,
        9 + 16 + 9 + (0..20u64).map(|i| i * i).sum::<u64>() + 16
    );
    assert_eq!((on_hq, on_runner), (here, here));
}

/// A fan-in of 1,000 leaves, summed by tens and then all (1,101 nodes), as at most 16
/// cluster tasks, observed.
fn a_large_fan_in_on_hyperqueue(cluster: &HyperQueuePython) {
    let leaves: Vec<Delayed<u64>> = (0..1000u64).map(|i| delay!(square(i))).collect();
    let tens: Vec<Delayed<u64>> = leaves.chunks(10).map(|ten| delay!(total(ten))).collect();
    let root = delay!(total(tens));
    let job = GraphJob::new(&root, Partition::Auto, remote::Cluster::workers(cluster)).unwrap();
    assert_eq!(job.nodes(), 1101);
    assert!(job.job().len() <= 16, "{} cluster tasks", job.job().len());
    let expected: u64 = (0..1000u64).map(|i| i * i).sum();
    assert_eq!(same_everywhere(cluster, &root, Partition::Auto), expected);
}

/// A panic in a remote task comes back as its error, with the `delay!` call site, and
/// a value that needs it fails with that error (as on one machine): within a cluster
/// task (grouped) and across HyperQueue tasks (one per node, where HyperQueue cancels
/// the dependents).
fn a_remote_panic_on_hyperqueue(cluster: &HyperQueuePython) {
    let bad = delay!(explode(7));
    let after = delay!(square(bad.clone()));
    let root = delay!(add(after, delay!(square(2))));
    let here = bad.try_compute().unwrap_err();
    match bad.compute_on(cluster) {
        Err(RemoteError::Task(error)) => {
            assert_eq!(error.task(), "explode");
            assert_eq!(error.message(), "too big: 7");
            assert_eq!(error.call_site(), here.call_site());
            assert!(error.call_site().starts_with("tests/remote_hq.rs:"));
        }
        other => panic!("expected the task's panic, got {other:?}"),
    }
    for partition in [Partition::Tasks(1), Partition::PerNode] {
        for on in [
            compute_on_with(cluster, &root, partition),
            compute_on_with(&local_runner("panic"), &root, partition),
        ] {
            match on {
                Err(RemoteError::Task(error)) => {
                    assert_eq!(error.task(), "explode");
                    assert_eq!(error.call_site(), here.call_site());
                }
                other => panic!("expected the needed task's panic ({partition:?}), got {other:?}"),
            }
        }
    }
}

/// Retries run inside the worker on HyperQueue too: within its retries a flaky task
/// succeeds (the attempts counted), past them, or without retries, it fails with the
/// same error as here (the last attempt's).
fn retries_on_hyperqueue(cluster: &HyperQueuePython) {
    // (Every graph's node runs in the sub-graph runner: grouped or not, the same code.)
    let compute = |value: &Delayed<u64>| compute_on_with(cluster, value, Partition::Tasks(1));
    retries_as_here(&base().join("attempts"), &compute, "HyperQueue");
}

/// An observer of a compute on HyperQueue with a panic (the diamond and the fan-in are
/// observed in `same_everywhere`): the node that panicked failed, the one after it
/// never started, the other finished.
fn an_observed_panic_on_hyperqueue(cluster: &HyperQueuePython) {
    let recording = Arc::new(Recording::default());
    let root = delay!(add(delay!(square(delay!(explode(7)))), delay!(square(2))));
    let options = ClusterOptions::new()
        .partition(Partition::PerNode)
        .observer(recording.clone());
    assert!(compute_on_with(cluster, &root, options).is_err());
    saw_explode_fail_beside_square(&recording.take(), "on HyperQueue");
}

/// A worker that dies (an abort: no error file) is the compute's error, with its last
/// words and what HyperQueue said of it.
fn a_dying_worker_on_hyperqueue(cluster: &HyperQueuePython) {
    let root = delay!(add(delay!(crash(1)), delay!(square(2))));
    match compute_on_with(cluster, &root, Partition::PerNode) {
        Err(RemoteError::Worker { message, .. }) => {
            assert!(message.contains("about to abort"), "{message}");
            assert!(message.contains("HyperQueue: "), "{message}");
        }
        other => panic!("expected the dead worker, got {other:?}"),
    }
}

/// A copy of this test binary at `to` as another build of it: its linker build id note
/// (`NT_GNU_BUILD_ID`, what tells builds apart where there is one) changed, and bytes
/// appended (what does where there is none).
fn another_build(to: &Path) {
    let mut bytes = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    // A note named GNU of type 3: name size 4, descriptor size, type, "GNU\0".
    let mut changed = 0;
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(16).position(|window| {
        window[..4] == 4u32.to_le_bytes() && window[8..] == [3, 0, 0, 0, b'G', b'N', b'U', 0]
    }) {
        let start = at + found;
        let size = u32::from_le_bytes(bytes[start + 4..start + 8].try_into().unwrap()) as usize;
        if (1..=64).contains(&size) && start + 16 + size <= bytes.len() {
            for byte in &mut bytes[start + 16..start + 16 + size] {
                *byte = !*byte;
            }
            changed += 1;
        }
        at = start + 16;
    }
    eprintln!("    (build id notes changed in the copy: {changed})");
    bytes.extend_from_slice(b"another build");
    std::fs::write(to, bytes).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Workers started from another build of the program (a copy of this binary with
/// another build id) refuse the job's values with the reason, on HyperQueue as on the
/// local runner.
fn a_stale_binary_on_hyperqueue(cluster_dir: &Path) {
    let stale = base().join("stale-binary");
    another_build(&stale);
    let value = delay!(add(delay!(square(3)), 1));
    let cluster = HyperQueuePython::local(cluster_dir)
        .cores(1)
        .timeout(Duration::from_secs(60))
        .program(&stale);
    for error in [
        value.compute_on(&cluster).unwrap_err(),
        value
            .compute_on(&local_runner("stale").program(&stale))
            .unwrap_err(),
    ] {
        let text = error.to_string();
        assert!(text.contains("another build of this program"), "{text}");
    }
}

/// A job that outlives the transport's timeout is given up: the driver is stopped,
/// with its `LocalCluster` and the task's process, and the next job starts a new one.
fn a_job_past_its_timeout_is_stopped(cluster_dir: &Path) {
    let cluster = HyperQueuePython::local(cluster_dir)
        .cores(1)
        .timeout(Duration::from_secs(3));
    let start = Instant::now();
    let error = delay!(sleepy(60))
        .compute_on(&cluster)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("did not answer (a job) within 3s"),
        "{error}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    // No worker of it is left sleeping.
    std::thread::sleep(Duration::from_millis(500));
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let left: Vec<String> = String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|l| {
            l.contains("--taskweave-worker") && l.contains(&cluster_dir.display().to_string())
        })
        .map(str::to_owned)
        .collect();
    assert!(left.is_empty(), "workers left running: {left:?}");
    assert_eq!(delay!(square(5)).compute_on(&cluster).unwrap(), 25);

    // Cancelled from another thread while it runs: the same, at once.
    let cluster = cluster.timeout(Duration::from_secs(60));
    let canceller = cluster.canceller();
    let start = Instant::now();
    let error = std::thread::scope(|scope| {
        let computing = scope.spawn(|| delay!(sleepy(60)).compute_on(&cluster));
        std::thread::sleep(Duration::from_millis(1500));
        canceller.cancel();
        computing.join().unwrap().unwrap_err().to_string()
    });
    assert!(error.contains("cancelled"), "{error}");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(delay!(square(6)).compute_on(&cluster).unwrap(), 36);
}

// ---- the `hq` command line, against stand-ins ------------------------------------------

/// Writes an executable `hq` stand-in into `dir`: a Python script that reports
/// `version`, logs its arguments, and for `job submit-file FILE` prints a job id and
/// keeps the file; for `job wait ID` it runs the file's tasks itself, in id order,
/// with their command, environment, directory and output files (what HyperQueue does
/// with them, minus the cluster), skipping the dependents of a failed task. When the
/// file `hang` in `dir` names its step (`version`, `submit`, `wait`, `cancel`), it
/// sleeps for an hour at that step instead, as an `hq` whose server cannot be reached.
fn fake_hq(dir: &Path, version: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let hq = dir.join("hq");
    let script = format!(
        r#"#!/usr/bin/env python3
import os, subprocess, sys
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "calls.log"), "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\n")
args = sys.argv[1:]
try:
    with open(os.path.join(here, "hang")) as f:
        hang = f.read().split()
except FileNotFoundError:
    hang = []
# `--version`, or the word before the last: `job submit-file FILE`, `job wait ID`.
step = "version" if args == ["--version"] else args[-2] if len(args) >= 2 else ""
step = "submit" if step == "submit-file" else step
if step in hang:
    import time
    time.sleep(3600)
if args == ["--version"]:
    print("hq {version}")
    sys.exit(0)
while args and args[0].startswith("--"):
    args = args[2:]
if args[:2] == ["job", "submit-file"]:
    with open(os.path.join(here, "submitted"), "w") as f:
        f.write(args[2])
    print(7)
elif args[:2] == ["job", "wait"]:
    import tomllib
    with open(os.path.join(here, "submitted")) as f:
        job = tomllib.load(open(f.read(), "rb"))
    failed = set()
    for task in job["task"]:
        if failed & set(task["deps"]):
            failed.add(task["id"])
            continue
        env = dict(os.environ, **task["env"])
        with open(task["stdout"], "w") as out, open(task["stderr"], "w") as err:
            code = subprocess.call(task["command"], env=env, cwd=task["cwd"], stdout=out, stderr=err)
        if code != 0:
            failed.add(task["id"])
    sys.exit(1 if failed else 0)
"#
    );
    std::fs::write(&hq, script).unwrap();
    std::fs::set_permissions(&hq, std::fs::Permissions::from_mode(0o755)).unwrap();
    hq
}

/// Waits until the stand-in `hq` has logged `text` in its log `calls` (it was run so).
fn until_called(calls: &Path, text: &str) {
    while !std::fs::read_to_string(calls)
        .unwrap_or_default()
        .contains(text)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The `hq` transport: found on `PATH` and version-checked; its submit, wait and
/// cancel command lines; its job file, run by the stand-in, giving the graph's value
/// and a panic's error; a missing binary and another version named in the error.
fn the_hq_command_line(tomllib: bool) {
    let bin = base().join("bin");
    fake_hq(&bin, "0.27.0");
    let old_path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin.clone()];
    paths.extend(std::env::split_paths(&old_path));
    std::env::set_var("PATH", std::env::join_paths(paths).unwrap());
    let cli = HyperQueueCli::new(base().join("cli-runs"))
        .server_dir("/shared/hq-server")
        .keep_files(true);
    let (hq, version) = cli.check().unwrap();
    assert_eq!((hq, version.as_str()), (bin.join("hq"), "0.27.0"));
    let text = |args: Vec<std::ffi::OsString>| {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        text(cli.submit_args(Path::new("/shared/run/job.toml"))),
        "--server-dir /shared/hq-server --output-mode quiet job submit-file /shared/run/job.toml"
    );
    assert_eq!(
        text(cli.wait_args(7)),
        "--server-dir /shared/hq-server job wait 7"
    );
    assert_eq!(
        text(cli.cancel_args(7)),
        "--server-dir /shared/hq-server job cancel 7"
    );

    // The job file: per task its id, command, deps, environment, directory and files.
    let mut job = Job::new();
    let a = job.task::<square>(vec![Input::value(&3u64).unwrap()]);
    job.task::<add>(vec![Input::output(a), Input::output(a)]);
    let file = cli.job_file(&job, Path::new("/r"));
    let program = std::env::current_exe().unwrap().display().to_string();
    let square_name = format!("{}::square", module_path!());
    assert!(
        file.starts_with("name = \"taskweave r\"\n\n[[task]]\nid = 0\n"),
        "{file}"
    );
    assert!(
        file.contains(&format!("command = [\"{program}\", \"--taskweave-worker\", \"{square_name}\", \"/r/task-0.out\", \"/r/task-0.in-0\"]\ndeps = []\nenv = {{ \"TASKWEAVE_RUN\" = \"/r\", \"TASKWEAVE_TASK\" = \"0\" }}\ncwd = \"/r\"\nstdout = \"/r/task-0.stdout\"\nstderr = \"/r/task-0.stderr\"\n")),
        "{file}"
    );
    assert!(file.contains("id = 1\n"), "{file}");
    assert!(file.contains("deps = [0]\n"), "{file}");

    if tomllib {
        // Run by the stand-in: the value, and a panic's error and its dependents.
        let cli = HyperQueueCli::new(base().join("cli-runs"));
        let value = delay!(add(delay!(square(3)), delay!(square(4))));
        assert_eq!(value.compute_on(&cli).unwrap(), 25);
        // Observed: the workers' events read while `hq job wait` runs, each node told
        // once, as a compute here tells it.
        let recording = Arc::new(Recording::default());
        let options = ClusterOptions::new()
            .partition(Partition::PerNode)
            .observer(recording.clone());
        assert_eq!(value.compute_on_with(&cli, options).unwrap(), 25);
        let observed = each_node_once(&recording.take());
        value
            .try_compute_with(RunOptions::new().observer(recording.clone()))
            .unwrap();
        assert_eq!(observed.len(), 3);
        assert_eq!(observed, each_node_once(&recording.take()));
        // No timeout at all: `Duration::MAX` waits as long as the job takes.
        let forever = HyperQueueCli::new(base().join("cli-runs"))
            .timeout(Duration::MAX)
            .command_timeout(Duration::MAX);
        assert_eq!(value.compute_on(&forever).unwrap(), 25);
        let bad = delay!(explode(7));
        let here = bad.try_compute().unwrap_err();
        let root = delay!(add(delay!(square(bad.clone())), 1));
        match compute_on_with(&cli, &root, Partition::PerNode) {
            Err(RemoteError::Task(error)) => assert_eq!(error.call_site(), here.call_site()),
            other => panic!("expected the needed task's panic, got {other:?}"),
        }
        match compute_on_with(&cli, &bad, Partition::PerNode) {
            Err(RemoteError::Task(error)) => {
                assert_eq!(error.message(), "too big: 7");
                assert_eq!(error.call_site(), here.call_site());
            }
            other => panic!("expected the panic, got {other:?}"),
        }
        // Cancelled while `hq job wait` waits (once the stand-in says so): `hq job
        // cancel`, and an error saying so.
        let canceller = cli.canceller();
        std::fs::write(bin.join("calls.log"), "").unwrap();
        let error = std::thread::scope(|scope| {
            let computing = scope.spawn(|| delay!(sleepy(3)).compute_on(&cli));
            until_called(&bin.join("calls.log"), "job wait 7");
            canceller.cancel();
            computing.join().unwrap().unwrap_err().to_string()
        });
        assert_eq!(
            error,
            "HyperQueue job 7 was cancelled; `hq job cancel 7` cancelled it"
        );
        let calls = std::fs::read_to_string(bin.join("calls.log")).unwrap();
        assert!(
            calls.contains("--output-mode quiet job submit-file "),
            "{calls}"
        );
        assert!(calls.contains("job wait 7\n"), "{calls}");
        assert!(calls.contains("job cancel 7\n"), "{calls}");
    } else {
        println!("    (no Python tomllib: the stand-in `hq` does not run job files)");
    }

    // Another version, found on PATH: named, with the one expected.
    let old = base().join("old-bin");
    fake_hq(&old, "0.26.2");
    let error = HyperQueueCli::new(base().join("cli-runs"))
        .hq(old.join("hq"))
        .check()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("is HyperQueue 0.26.2, but 0.27.0 is expected"),
        "{error}"
    );
    let error = delay!(square(2))
        .compute_on(&HyperQueueCli::new(base().join("cli-runs")).expect_version("0.26.2"))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("is HyperQueue 0.27.0, but 0.26.2 is expected"),
        "{error}"
    );

    // No `hq` at all.
    std::env::set_var("PATH", base().join("nowhere"));
    let error = HyperQueueCli::new(base().join("cli-runs"))
        .check()
        .unwrap_err()
        .to_string();
    assert!(error.contains("no `hq` on PATH"), "{error}");
    assert!(error.contains("0.27.0"), "{error}");
    let error = HyperQueueCli::new(base().join("cli-runs"))
        .hq(base().join("nowhere/hq"))
        .check()
        .unwrap_err()
        .to_string();
    assert!(error.contains("no HyperQueue binary at"), "{error}");
    std::env::set_var("PATH", old_path);
}

/// An `hq` that hangs (a server that cannot be reached) at each step — the version
/// check, the submit, the wait, the cancel after it — is killed at the transport's
/// bound and the compute is an error naming the command and the bound; a cancel ends
/// a hanging wait; a zero timeout gives up at once.
fn a_hanging_hq_is_killed_at_each_step() {
    let bin = base().join("bin-hang");
    let hq = fake_hq(&bin, "0.27.0");
    let hang = |steps: &str| std::fs::write(bin.join("hang"), steps).unwrap();
    let cli = HyperQueueCli::new(base().join("hang-runs"))
        .hq(&hq)
        .command_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(2));
    let value = delay!(add(delay!(square(3)), 1));
    let compute = |cli: &HyperQueueCli, what: &str| {
        let (cli, value) = (cli.clone(), value.clone());
        within(Duration::from_secs(60), what, move || {
            value.compute_on(&cli).unwrap_err().to_string()
        })
    };
    let quiet = format!(
        "`hq --output-mode quiet job submit-file {}",
        base().join("hang-runs").display()
    );
    let bounded = "did not end within 1s (HyperQueueCli::command_timeout; is the HyperQueue \
                   server reachable? `hq server info` says): killed";
    for (steps, expected) in [
        ("version", vec![format!("`hq --version` {bounded}")]),
        (
            "submit",
            vec![
                quiet.clone(),
                format!("{bounded}; the job may have been submitted (`hq job list` shows it)"),
            ],
        ),
        (
            "wait cancel",
            vec![
                String::from(
                    "HyperQueue job 7 did not end within the job's timeout of 2s \
                     (HyperQueueCli::timeout) (`hq job wait 7` was killed); `hq job cancel 7` \
                     did not end within 1s (HyperQueueCli::command_timeout",
                ),
                String::from("killed; the job may still run"),
            ],
        ),
    ] {
        hang(steps);
        let error = compute(&cli, &format!("a compute whose `hq` hangs at {steps}"));
        for part in expected {
            assert!(error.contains(&part), "hanging at {steps}: {error}");
        }
        // The hanging `hq` was killed, not left behind.
        assert_eq!(
            processes_with(&hq.display().to_string()),
            Vec::<String>::new()
        );
    }

    // A cancel while `hq job wait` hangs (once the stand-in says it waits).
    hang("wait");
    let calls = bin.join("calls.log");
    std::fs::write(&calls, "").unwrap();
    let cli = cli.timeout(Duration::MAX);
    let canceller = cli.canceller();
    let (watched, computed) = (cli.clone(), value.clone());
    let error = within(Duration::from_secs(60), "a cancelled compute", move || {
        std::thread::scope(|scope| {
            let computing = scope.spawn(|| computed.compute_on(&watched));
            until_called(&calls, "job wait 7");
            canceller.cancel();
            computing.join().unwrap().unwrap_err().to_string()
        })
    });
    assert_eq!(
        error,
        "HyperQueue job 7 was cancelled; `hq job cancel 7` cancelled it"
    );

    // A zero timeout gives up at the version check.
    hang("");
    let error = compute(&cli.clone().timeout(Duration::ZERO), "a zero timeout");
    assert!(
        error.starts_with(
            "`hq --version` did not end within the job's timeout of 0ns (HyperQueueCli::timeout): killed"
        ),
        "{error}"
    );
    assert_eq!(
        processes_with(&hq.display().to_string()),
        Vec::<String>::new()
    );
}

/// Processes a test started, killed when it ends however it ends.
struct Started(Vec<std::process::Child>);

impl Drop for Started {
    fn drop(&mut self) {
        for child in self.0.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// With a real `hq` binary (`TASKWEAVE_HQ=/path/to/hq`: none is installed here), the
/// `hq` transport end to end: a server and a worker of its own, a diamond computed and
/// compared, a panic with its call site and its dependents never run.
fn the_hq_binary_end_to_end(hq: &Path) {
    let version =
        String::from_utf8(Command::new(hq).arg("--version").output().unwrap().stdout).unwrap();
    let version = version.split_whitespace().nth(1).unwrap().to_owned();
    let server_dir = base().join("hq-server");
    std::fs::create_dir_all(&server_dir).unwrap();
    let quiet = || std::process::Stdio::null();
    let mut started = Started(Vec::new());
    started.0.push(
        Command::new(hq)
            .arg("--server-dir")
            .arg(&server_dir)
            .args(["server", "start"])
            .stdout(quiet())
            .stderr(quiet())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !Command::new(hq)
        .arg("--server-dir")
        .arg(&server_dir)
        .args(["server", "info"])
        .stdout(quiet())
        .stderr(quiet())
        .status()
        .unwrap()
        .success()
    {
        assert!(Instant::now() < deadline, "the hq server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    started.0.push(
        Command::new(hq)
            .arg("--server-dir")
            .arg(&server_dir)
            .args(["worker", "start", "--cpus", "2"])
            .stdout(quiet())
            .stderr(quiet())
            .spawn()
            .unwrap(),
    );
    let cli = HyperQueueCli::new(base().join("hq-cli-runs"))
        .hq(hq)
        .server_dir(&server_dir)
        .expect_version(&version)
        .workers(2)
        .timeout(Duration::from_secs(60));
    let a = delay!(square(3));
    let b = delay!(square(4));
    let e = delay!(total(vec![delay!(add(a.clone(), b.clone())), a, b]));
    for partition in [Partition::Auto, Partition::Tasks(1)] {
        assert_eq!(compute_on_with(&cli, &e, partition).unwrap(), e.compute());
    }
    let bad = delay!(explode(7));
    let here = bad.try_compute().unwrap_err();
    match bad.compute_on(&cli) {
        Err(RemoteError::Task(error)) => assert_eq!(error.call_site(), here.call_site()),
        other => panic!("expected the panic, got {other:?}"),
    }
    match compute_on_with(
        &cli,
        &delay!(add(delay!(square(bad)), 1)),
        Partition::PerNode,
    ) {
        Err(RemoteError::Task(error)) => assert_eq!(error.call_site(), here.call_site()),
        other => panic!("expected the needed task's panic, got {other:?}"),
    }
    let _ = Command::new(hq)
        .arg("--server-dir")
        .arg(&server_dir)
        .args(["server", "stop"])
        .stdout(quiet())
        .stderr(quiet())
        .status();
    println!("    (hq {version} at {})", hq.display());
}

/// The error of computing a small graph on `cluster`, which must fail.
fn error_of(cluster: &HyperQueuePython) -> String {
    delay!(square(2))
        .compute_on(cluster)
        .unwrap_err()
        .to_string()
}

/// A shell script `name` that runs python3 (with its arguments) after `prefix`.
fn python_wrapper(name: &str, prefix: &str) -> PathBuf {
    let wrapper = base().join(name);
    std::fs::write(&wrapper, format!("#!/bin/sh\n{prefix} \"$@\"\n")).unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

/// A Python without `hyperqueue` (or none): a clear error, not a hang.
fn a_python_without_hyperqueue_is_a_clear_error() {
    let cluster = HyperQueuePython::local(base().join("no-python"))
        .python(base().join("no-such-python"))
        .timeout(Duration::from_secs(30));
    let error = error_of(&cluster);
    assert!(
        error.contains("cannot start the HyperQueue driver"),
        "{error}"
    );
    assert!(error.contains("pip install hyperqueue==0.27.0"), "{error}");
    // A Python that cannot import `hyperqueue` (`-S`: without its site-packages).
    if python_has("json") {
        let wrapper = python_wrapper("python-without-site", "exec python3 -S");
        let cluster = HyperQueuePython::local(base().join("no-hq"))
            .python(&wrapper)
            .timeout(Duration::from_secs(30));
        let error = cluster.start().unwrap_err().to_string();
        assert!(
            error.contains("the HyperQueue driver could not start: cannot import hyperqueue"),
            "{error}"
        );
    }
}

/// A server directory that is not one is an error of a line or two, whatever the
/// environment: with `RUST_BACKTRACE=1` (which the driver inherits) HyperQueue's error
/// carried its core's backtrace, some 20 KB of frames, escaped into one line.
fn an_unreachable_server_is_a_short_error() {
    let wrapper = python_wrapper(
        "python-with-backtraces",
        "RUST_BACKTRACE=1 RUST_LIB_BACKTRACE=1 exec python3",
    );
    let not_a_directory = base().join("not-a-server-dir");
    std::fs::write(&not_a_directory, "a file").unwrap();
    let cluster = HyperQueuePython::connect(base().join("unreachable"), &not_a_directory)
        .python(&wrapper)
        .timeout(Duration::from_secs(30));
    let error = error_of(&cluster);
    assert!(
        error.starts_with(
            "the HyperQueue driver could not start: cannot start or reach the HyperQueue \
             server: RuntimeError: Invalid server directory"
        ),
        "{error}"
    );
    assert!(error.contains("is not a directory"), "{error}");
    assert!(
        !error.contains("Stack backtrace") && error.len() < 1000,
        "{} bytes: {error}",
        error.len()
    );
}

/// A cancel made while no job runs stops nothing later: not the next job, and not
/// the start of the cluster (which it stopped, as `cancelled`, when no job had
/// cleared it since).
fn a_cancel_made_before_a_start_does_not_stop_it() {
    let cluster = HyperQueuePython::local(base().join("hq-cancel-before"))
        .cores(1)
        .timeout(Duration::from_secs(60));
    cluster.canceller().cancel();
    cluster.start().expect("a start after an earlier cancel");
    assert_eq!(delay!(square(3)).compute_on(&cluster).unwrap(), 9);
}

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn main() {
    // A worker when started as one: runs its task and exits.
    remote::worker_main();
    // Fails the run instead of hanging CI if a job or a worker is waited for forever.
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(240));
        eprintln!("tests/remote_hq.rs: still running after 240 s: a job or a worker hangs");
        std::process::exit(1);
    });
    std::fs::create_dir_all(base()).unwrap();
    let mut passed = 0;
    let mut run = |name: &str, test: &dyn Fn()| {
        let start = Instant::now();
        test();
        println!("test {name} ... ok ({:.2?})", start.elapsed());
        passed += 1;
    };
    run("the_hq_command_line", &|| {
        the_hq_command_line(python_has("tomllib"))
    });
    run(
        "a_hanging_hq_is_killed_at_each_step",
        &a_hanging_hq_is_killed_at_each_step,
    );
    run(
        "a_python_without_hyperqueue_is_a_clear_error",
        &a_python_without_hyperqueue_is_a_clear_error,
    );

    match std::env::var_os("TASKWEAVE_HQ") {
        Some(hq) => run("the_hq_binary_end_to_end", &|| {
            the_hq_binary_end_to_end(Path::new(&hq))
        }),
        None => println!(
            "note: the `hq` binary end-to-end test is skipped: set TASKWEAVE_HQ=/path/to/hq"
        ),
    }

    if python_has("hyperqueue") {
        let cluster = HyperQueuePython::local(base().join("hq"))
            .cores(2)
            .timeout(Duration::from_secs(60));
        let start = Instant::now();
        let version = cluster.start().expect("a HyperQueue LocalCluster");
        println!(
            "HyperQueue {version}: a LocalCluster started in {:.2?}",
            start.elapsed()
        );
        run("a_diamond_on_hyperqueue", &|| {
            a_diamond_on_hyperqueue(&cluster)
        });
        run("a_static_graph_on_hyperqueue", &|| {
            a_static_graph_on_hyperqueue(&cluster)
        });
        run("a_large_fan_in_on_hyperqueue", &|| {
            a_large_fan_in_on_hyperqueue(&cluster)
        });
        run("a_remote_panic_on_hyperqueue", &|| {
            a_remote_panic_on_hyperqueue(&cluster)
        });
        run("retries_on_hyperqueue", &|| retries_on_hyperqueue(&cluster));
        run("an_observed_panic_on_hyperqueue", &|| {
            an_observed_panic_on_hyperqueue(&cluster)
        });
        run("a_dying_worker_on_hyperqueue", &|| {
            a_dying_worker_on_hyperqueue(&cluster)
        });
        run("a_stale_binary_on_hyperqueue", &|| {
            a_stale_binary_on_hyperqueue(&base().join("hq-stale"))
        });
        run(
            "an_unreachable_server_is_a_short_error",
            &an_unreachable_server_is_a_short_error,
        );
        run(
            "a_cancel_made_before_a_start_does_not_stop_it",
            &a_cancel_made_before_a_start_does_not_stop_it,
        );
        drop(cluster);
        run("a_job_past_its_timeout_is_stopped", &|| {
            a_job_past_its_timeout_is_stopped(&base().join("hq-timeout"))
        });
    } else if std::env::var_os("TASKWEAVE_REQUIRE_HQ").is_some_and(|v| v == "1") {
        eprintln!(
            "tests/remote_hq.rs: TASKWEAVE_REQUIRE_HQ=1 but `python3 -c 'import hyperqueue'` \
             fails: pip install hyperqueue==0.27.0"
        );
        std::process::exit(1);
    } else {
        println!(
            "note: the HyperQueue LocalCluster tests are skipped: `python3 -c 'import \
             hyperqueue'` fails (pip install hyperqueue==0.27.0; TASKWEAVE_REQUIRE_HQ=1 makes \
             this an error)"
        );
    }
    let _ = std::fs::remove_dir_all(base());
    println!("test result: ok. {passed} passed");
}
