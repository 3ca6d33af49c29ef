//! Runs taken back onto their callers: a test run again in a child process of its own
//! (rayon's global pool is made once per process, so the child picks its size), and
//! every rayon worker of a pool made to wait for a gate's future, so that a graph
//! computed from outside the pool meanwhile is taken back onto its caller
//! (`engine::sync::run_taken_back`). Shared by `tests/robustness.rs` and
//! `tests/adversarial_taken_back.rs`.

#![allow(dead_code)]

use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use taskweave::prelude::*;

/// How long a child process may run before it counts as hung.
pub(crate) const CHILD_LIMIT: Duration = Duration::from_secs(120);

/// Runs the test `name` again in a process of its own, with `env` set and `child`
/// set to `1` (the test's way of knowing it is the child), and fails if it fails, if
/// no test of that name ran, or if it is still running after [`CHILD_LIMIT`].
pub(crate) fn in_a_process_of_its_own(child: &str, name: &str, env: &[(&str, &str)]) {
    use std::io::Read;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(child, "1")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stdout = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut stdout)
                .unwrap();
            assert!(status.success(), "{name}, run alone: {status}\n{stdout}");
            assert!(
                stdout.contains("1 passed"),
                "{name} did not run alone: {stdout}"
            );
            return;
        }
        if start.elapsed() > CHILD_LIMIT {
            let _ = child.kill();
            panic!("{name}, run alone: still running after {CHILD_LIMIT:?}, a hang");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A future of another client that ends when `open` is sent a value: pending, holding
/// no thread of the client under test, and never runnable by its waiters.
pub(crate) fn gate(gates: &Client) -> (Future<u64>, mpsc::Sender<u64>) {
    let (open, opened) = mpsc::channel();
    let opened = Mutex::new(opened);
    let future = gates.submit(move || opened.lock().unwrap().recv().unwrap(), ());
    (future, open)
}

/// Makes every worker of `pool` (or of rayon's global pool) wait for a gate's future,
/// and returns once their waits have begun; a thread opens the gate when `open`
/// returns (joined through the handle).
pub(crate) fn the_worker_waits_until(
    pool: Option<&rayon::ThreadPool>,
    open: impl FnOnce() + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let gates = Client::builder().threads(1).name("gates").build().unwrap();
    let (future, gate_open) = gate(&gates);
    let (waiting, workers_wait) = mpsc::channel();
    // What the waits ended with, checked by the thread that opens the gate: a panic in
    // a job of `rayon::spawn` aborts the process, its message lost in a test.
    let (ended, waits_ended) = mpsc::channel();
    let workers = pool.map_or_else(rayon::current_num_threads, |p| p.current_num_threads());
    for _ in 0..workers {
        let (waiting, ended, future) = (waiting.clone(), ended.clone(), future.clone());
        // A waiting worker runs only its own pending work: the next wait goes to
        // another worker.
        let wait = move || {
            waiting.send(()).unwrap();
            let _ = ended.send(future.result().map_err(|e| e.to_string()));
        };
        match pool {
            Some(pool) => pool.spawn(wait),
            None => rayon::spawn(wait),
        }
    }
    for _ in 0..workers {
        workers_wait.recv().unwrap();
    }
    // Their waits have begun by now.
    std::thread::sleep(Duration::from_millis(100));
    std::thread::spawn(move || {
        open();
        let status = future.status();
        gate_open.send(1).unwrap();
        drop(gates);
        for _ in 0..workers {
            if let Err(error) = waits_ended.recv().unwrap() {
                panic!("a worker's wait for the gate failed: {error} (the gate was {status} when opened)");
            }
        }
    })
}
