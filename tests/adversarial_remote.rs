//! An adversarial look at remote tasks (feature `hyperqueue`): workers that die with
//! odd output, graphs whose shape strains the worker protocol, odd values, runs from
//! several threads. Each case that found a bug says what it was. A test binary of its
//! own (`harness = false`): its `main` is the worker when started as one.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use taskweave::remote::{
    self, compute_on_with, HyperQueuePython, Input, Job, LocalRunner, Partition, RemoteError,
};
use taskweave::{delay, delayed, Delayed};

#[path = "support/watchdog.rs"]
mod watchdog;

#[delayed(remote)]
fn square(x: u64) -> u64 {
    x * x
}

#[delayed(remote)]
fn total(parts: Vec<u64>) -> u64 {
    parts.iter().sum()
}

#[delayed(remote)]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

/// Prints bytes that are not UTF-8 to its error output, then a readable line, and
/// aborts: what a crash in a native library that logs binary garbage looks like.
#[delayed(remote)]
fn garbled_crash(x: u64) -> u64 {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(b"binary noise: \xff\xfe\x80 end of noise\n");
    let _ = err.write_all(b"first last word\nsecond last word\n");
    let _ = err.flush();
    if x > 0 {
        std::process::abort();
    }
    x
}

/// Ends its process with the exit status `code`, without a result or an error file.
#[delayed(remote)]
fn exit_with(code: u64) -> u64 {
    eprintln!("leaving with {code}");
    std::process::exit(code as i32);
}

/// No arguments.
#[delayed(remote)]
fn nothing() -> u64 {
    7
}

/// A result of no bytes at all (`()` encodes as nothing).
#[delayed(remote)]
fn unit(x: u64) {
    let _ = x;
}

/// An empty string in, its length out.
#[delayed(remote)]
fn length(text: String) -> u64 {
    text.len() as u64
}

/// Panics with a message that holds the characters the error file's format uses
/// (tabs and line breaks) and some that are not ASCII.
#[delayed(remote)]
fn odd_panic(x: u64) -> u64 {
    panic!("first\tsecond\nthird line: é ✓ {x}");
}

/// A value whose `Deserialize` panics when it reads a 13: user code that runs in the
/// worker before the task's body.
#[derive(Debug, Clone, serde::Serialize)]
struct Touchy(u64);

impl<'de> serde::Deserialize<'de> for Touchy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let x = u64::deserialize(d)?;
        assert_ne!(x, 13, "unlucky number");
        Ok(Touchy(x))
    }
}

#[delayed(remote)]
fn touchy(t: Touchy) -> u64 {
    t.0
}

fn base() -> PathBuf {
    std::env::temp_dir().join(format!(
        "taskweave-adversarial-remote-{}",
        std::process::id()
    ))
}

fn runner(name: &str) -> LocalRunner {
    LocalRunner::new(base().join(name)).parallel(2)
}

/// A worker that dies after printing bytes that are not UTF-8 to its error output
/// still has its last words in the error, in the order it printed them. Found: the
/// error output was read as one `String`, and a file that was not all UTF-8 gave no
/// last words at all ("its last words: "); and the lines came out last first.
fn a_dying_workers_last_words_survive_bytes_that_are_not_utf8() {
    let mut job = Job::new();
    let dead = job.task::<garbled_crash>(vec![Input::value(&1u64).unwrap()]);
    let outputs = runner("garbled").run(&job).expect("the job runs");
    let message = match outputs.get::<garbled_crash>(dead) {
        Err(RemoteError::Worker { message, .. }) => message,
        other => panic!("expected a failed worker, got {other:?}"),
    };
    assert!(
        message.contains("first last word | second last word"),
        "{message}"
    );
    assert!(message.contains("end of noise"), "{message}");
    // The same through a graph on the runner.
    let error = delay!(garbled_crash(1u64))
        .compute_on(&runner("garbled"))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("first last word | second last word"),
        "{error}"
    );
}

/// A worker that exits with its own status (not 0, 1 or a signal) is reported with
/// that status and what it printed, named after its task.
fn odd_exit_statuses_are_reported_with_the_task() {
    for code in [2u64, 3, 101, 255] {
        let error = delay!(exit_with(code))
            .compute_on(&runner("exits"))
            .unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains(&format!("exit status: {code}")),
            "{code}: {text}"
        );
        assert!(text.contains(&format!("leaving with {code}")), "{text}");
        assert!(text.contains("exit_with"), "{text}");
    }
}

/// Edge values cross the wire: no argument, a result of no bytes, an empty string, an
/// empty `Vec` of nodes.
fn empty_values_and_no_arguments_compute_as_here() {
    let runner = runner("empty");
    assert_eq!(delay!(nothing()).compute_on(&runner).unwrap(), 7);
    delay!(unit(3u64)).compute_on(&runner).unwrap();
    assert_eq!(
        delay!(length(String::new())).compute_on(&runner).unwrap(),
        0
    );
    let none: Vec<Delayed<u64>> = Vec::new();
    let sum = delay!(total(none));
    assert_eq!(sum.compute_on(&runner).unwrap(), sum.compute());
    let mut job = Job::new();
    let seven = job.task::<nothing>(Vec::new());
    let outputs = runner.run(&job).unwrap();
    assert_eq!(outputs.get::<nothing>(seven).unwrap(), 7);
}

/// A panic message with tabs, line breaks and characters that are not ASCII comes back
/// whole, with the task's name and call site, alone or grouped, through a job or a
/// graph.
fn a_panic_message_with_odd_characters_comes_back_whole() {
    let mut job = Job::new();
    let failed = job.task::<odd_panic>(vec![Input::value(&5u64).unwrap()]);
    let outputs = runner("odd-panic").run(&job).unwrap();
    let expected = "first\tsecond\nthird line: é ✓ 5";
    match outputs.get::<odd_panic>(failed) {
        Err(RemoteError::Task(error)) => {
            assert_eq!(error.message(), expected);
            assert_eq!(error.task(), "odd_panic");
            assert!(error.call_site().contains("adversarial_remote.rs"));
        }
        other => panic!("{other:?}"),
    }
    for partition in [Partition::PerNode, Partition::Tasks(1)] {
        let graph = delay!(add(delay!(odd_panic(5u64)), delay!(square(2u64))));
        match compute_on_with(&runner("odd-panic"), &graph, partition) {
            Err(RemoteError::Task(error)) => {
                assert_eq!(error.message(), expected);
                assert_eq!(error.task(), "odd_panic");
                assert!(error.call_site().contains("adversarial_remote.rs"));
            }
            other => panic!("{other:?}"),
        }
    }
}

/// Several threads computing on one runner (and its clones) at once each get their own
/// result: the runs' directories, files and workers do not mix.
fn concurrent_computes_on_one_runner_each_get_their_result() {
    let runner = runner("threads");
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4u64)
            .map(|t| {
                let runner = runner.clone();
                scope.spawn(move || {
                    let parts: Vec<Delayed<u64>> =
                        (0..8u64).map(|i| delay!(square(i + t))).collect();
                    let sum = delay!(total(parts));
                    (
                        t,
                        compute_on_with(&runner, &sum, Partition::Tasks(2)).unwrap(),
                    )
                })
            })
            .collect();
        for handle in handles {
            let (t, got) = handle.join().unwrap();
            let expected: u64 = (0..8u64).map(|i| (i + t) * (i + t)).sum();
            assert_eq!(got, expected, "thread {t}");
        }
    });
}

/// A graph of many calls given values, grouped into one cluster task: its worker is
/// given every value. Found: each value was a file named on the worker's command
/// line, so past the system's limit on a command's length (2 MiB of arguments on
/// Linux) the worker could not be started at all, and the error blamed the program
/// ("cannot start it as a worker: Argument list too long"). About 100,000 calls
/// under the default grouping, fewer with longer run directories.
fn a_cluster_task_of_many_values_starts() {
    // Long directory names make each file's path long (about 1 KiB): the limit comes
    // sooner.
    let long: PathBuf = (0..4).map(|_| "d".repeat(250)).collect();
    let runner = LocalRunner::new(base().join(long)).parallel(2);
    let n = 2_500u64;
    let parts: Vec<Delayed<u64>> = (0..n).map(|i| delay!(square(i))).collect();
    let sum = delay!(total(parts));
    let got = watchdog::within(Duration::from_secs(120), "many values", move || {
        compute_on_with(&runner, &sum, Partition::Tasks(1))
    });
    let expected: u64 = (0..n).map(|i| i * i).sum();
    assert_eq!(got.unwrap(), expected);
}

/// On a HyperQueue `LocalCluster`: a cluster task of more inputs than its command line
/// takes inline reads them from its list (the job file HyperQueue gets names it), and
/// a worker that dies after printing bytes that are not UTF-8 still has its last words,
/// with what HyperQueue said.
fn many_values_and_garbled_last_words_on_hyperqueue(cluster: &HyperQueuePython) {
    let n = 300u64;
    let parts: Vec<Delayed<u64>> = (0..n).map(|i| delay!(square(i))).collect();
    let sum = delay!(total(parts));
    assert_eq!(
        compute_on_with(cluster, &sum, Partition::Tasks(1)).unwrap(),
        (0..n).map(|i| i * i).sum::<u64>()
    );
    match delay!(garbled_crash(1u64)).compute_on(cluster) {
        Err(RemoteError::Worker { message, .. }) => {
            assert!(
                message.contains("first last word | second last word"),
                "{message}"
            );
            assert!(message.contains("HyperQueue: "), "{message}");
        }
        other => panic!("expected the dead worker, got {other:?}"),
    }
}

/// Whether `python3` can import `module`.
fn python_has(module: &str) -> bool {
    std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A panic in an argument's `Deserialize` (the user's code, run by the worker before
/// the task's body) is the task's error, named and located as a panic in the body is,
/// alone or grouped with other nodes. Found: decoding ran outside the worker's
/// `catch_unwind`, so the panic ended the worker process: a bare "exited with exit
/// status: 101" `RemoteError::Worker`, and in a cluster task of several nodes every
/// other node's result was lost with it.
fn a_panic_decoding_an_argument_is_the_tasks_error() {
    let mut job = Job::new();
    let failed = job.task::<touchy>(vec![Input::value(&Touchy(13)).unwrap()]);
    let fine = job.task::<touchy>(vec![Input::value(&Touchy(2)).unwrap()]);
    let outputs = runner("touchy").run(&job).unwrap();
    assert_eq!(outputs.get::<touchy>(fine).unwrap(), 2);
    match outputs.get::<touchy>(failed) {
        Err(RemoteError::Task(error)) => {
            assert_eq!(error.task(), "touchy");
            assert!(error.message().contains("unlucky number"), "{error}");
            assert!(error.call_site().contains("adversarial_remote.rs"));
        }
        other => panic!("expected the task's panic, got {other:?}"),
    }
    for partition in [Partition::PerNode, Partition::Tasks(1)] {
        let graph = delay!(add(delay!(touchy(Touchy(13))), delay!(square(2u64))));
        match compute_on_with(&runner("touchy"), &graph, partition) {
            Err(RemoteError::Task(error)) => {
                assert_eq!(error.task(), "touchy", "{partition:?}");
                assert!(error.message().contains("unlucky number"), "{error}");
                assert!(error.call_site().contains("adversarial_remote.rs"));
            }
            other => panic!("{partition:?}: expected the task's panic, got {other:?}"),
        }
    }
}

fn main() {
    // A worker when started as one: runs its task and exits.
    remote::worker_main();
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(180));
        eprintln!("tests/adversarial_remote.rs: still running after 180 s: a hang");
        std::process::exit(1);
    });
    let tests: [(&str, fn()); 7] = [
        (
            "a_dying_workers_last_words_survive_bytes_that_are_not_utf8",
            a_dying_workers_last_words_survive_bytes_that_are_not_utf8,
        ),
        (
            "odd_exit_statuses_are_reported_with_the_task",
            odd_exit_statuses_are_reported_with_the_task,
        ),
        (
            "empty_values_and_no_arguments_compute_as_here",
            empty_values_and_no_arguments_compute_as_here,
        ),
        (
            "a_panic_message_with_odd_characters_comes_back_whole",
            a_panic_message_with_odd_characters_comes_back_whole,
        ),
        (
            "concurrent_computes_on_one_runner_each_get_their_result",
            concurrent_computes_on_one_runner_each_get_their_result,
        ),
        (
            "a_cluster_task_of_many_values_starts",
            a_cluster_task_of_many_values_starts,
        ),
        (
            "a_panic_decoding_an_argument_is_the_tasks_error",
            a_panic_decoding_an_argument_is_the_tasks_error,
        ),
    ];
    let filter: Option<String> = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let mut ran = 0;
    let mut failed = Vec::new();
    for (name, test) in tests {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        ran += 1;
        match std::panic::catch_unwind(test) {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(name);
            }
        }
    }
    // On HyperQueue, as `tests/remote_hq.rs` does: skipped without Python's
    // `hyperqueue`, unless `TASKWEAVE_REQUIRE_HQ=1`.
    let hq = "many_values_and_garbled_last_words_on_hyperqueue";
    if filter.as_deref().is_none_or(|f| hq.contains(f)) {
        if python_has("hyperqueue") {
            ran += 1;
            let result = std::panic::catch_unwind(|| {
                let cluster = HyperQueuePython::local(base().join("hq"))
                    .cores(2)
                    .timeout(Duration::from_secs(60));
                many_values_and_garbled_last_words_on_hyperqueue(&cluster);
            });
            match result {
                Ok(()) => println!("test {hq} ... ok"),
                Err(_) => {
                    println!("test {hq} ... FAILED");
                    failed.push(hq);
                }
            }
        } else if std::env::var_os("TASKWEAVE_REQUIRE_HQ").is_some_and(|v| v == "1") {
            println!("test {hq} ... FAILED: TASKWEAVE_REQUIRE_HQ=1 but no Python `hyperqueue`");
            failed.push(hq);
        } else {
            println!("note: {hq} is skipped: `python3 -c 'import hyperqueue'` fails");
        }
    }
    let _ = std::fs::remove_dir_all(base());
    if !failed.is_empty() {
        println!("test result: FAILED. {} failed: {failed:?}", failed.len());
        std::process::exit(101);
    }
    println!("test result: ok. {ran} passed");
}
