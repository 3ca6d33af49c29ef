//! Remote tasks (feature `hyperqueue`): `#[delayed(remote)]` functions run by worker
//! processes of this very test binary, started by the local runner as a cluster would
//! start them. A test binary of its own (`harness = false`): its `main` is the worker
//! when started as one.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use taskweave::remote::{self, Input, Job, LocalRunner, Payload, RemoteError};
use taskweave::{delay, delayed};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// A runner whose runs go under one directory of this test process (each run's own
/// directory is removed after it; `main` removes this one).
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

fn main() {
    // A worker when started as one: runs its task and exits.
    remote::worker_main();
    // Fails the run instead of hanging CI if a worker is waited for forever.
    std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_secs(180));
        eprintln!("tests/remote.rs: still running after 180 s: a worker or the runner hangs");
        std::process::exit(1);
    });
    let tests: [(&str, fn()); 6] = [
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
